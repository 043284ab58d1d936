//! JSON parsed into a [`serde_json::Value`], refusing an object that names one key twice.
//!
//! RFC 8259 leaves the meaning of a repeated key to each parser: `serde_json` keeps the last
//! value, many handlers (and JavaScript's `JSON.parse` with a reviver, Go's first-match decoders,
//! streaming parsers) act on the first. A body that says `{"amount": 1, "amount": 1000}` would
//! then pass the schema with one value and reach the handler with the other, so hookwall refuses
//! it: what the schema checks and what is delivered can only be the same object. The error
//! names the position, never the key (payload data stays out of logs).

use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

/// A JSON value without repeated keys in any of its objects.
struct Strict(Value);

/// Parses `text` as JSON, refusing repeated object keys (and everything `serde_json` refuses).
pub fn from_slice(text: &[u8]) -> Result<Value, serde_json::Error> {
    serde_json::from_slice::<Strict>(text).map(|Strict(value)| value)
}

/// [`from_slice`] on text already known to be UTF-8: the strings are not checked again.
pub fn from_str(text: &str) -> Result<Value, serde_json::Error> {
    serde_json::from_str::<Strict>(text).map(|Strict(value)| value)
}

impl<'de> Deserialize<'de> for Strict {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Strict, D::Error> {
        deserializer.deserialize_any(StrictVisitor).map(Strict)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, value: bool) -> Result<Value, E> {
        Ok(Value::Bool(value))
    }

    fn visit_i64<E>(self, value: i64) -> Result<Value, E> {
        Ok(Value::Number(value.into()))
    }

    fn visit_u64<E>(self, value: u64) -> Result<Value, E> {
        Ok(Value::Number(value.into()))
    }

    fn visit_f64<E: de::Error>(self, value: f64) -> Result<Value, E> {
        // JSON text has no NaN or infinity; serde_json refuses numbers that overflow to them.
        Number::from_f64(value)
            .map(Value::Number)
            .ok_or_else(|| E::custom("a number out of range"))
    }

    fn visit_str<E>(self, value: &str) -> Result<Value, E> {
        Ok(Value::String(value.to_owned()))
    }

    fn visit_string<E>(self, value: String) -> Result<Value, E> {
        Ok(Value::String(value))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
        while let Some(Strict(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let Strict(value) = map.next_value()?;
            if object.insert(key, value).is_some() {
                return Err(de::Error::custom("an object names the same key twice"));
            }
        }
        Ok(Value::Object(object))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn parses_what_serde_json_parses_into_the_same_value() {
        let text = br#"{"a":[1,-2,3.5,true,null,"x\u00e9"],"b":{"c":{}},"d":18446744073709551615}"#;
        let strict = from_slice(text).expect("valid JSON");
        let plain: Value = serde_json::from_slice(text).expect("valid JSON");
        assert_eq!(strict, plain);
        assert_eq!(from_slice(b"12").expect("a number"), json!(12));
    }

    #[test]
    fn refuses_a_key_named_twice_in_any_object_without_naming_it() {
        for text in [
            &br#"{"amount":1,"amount":1000}"#[..],
            br#"{"outer":{"k":1,"k":1}}"#,
            br#"[{"a":1},{"b":2,"b":3}]"#,
        ] {
            let err = from_slice(text).expect_err("a repeated key");
            let message = err.to_string();
            assert!(message.contains("same key twice"), "{message}");
            assert!(!message.contains("amount"), "{message}");
        }
        // The same key in two different objects is fine.
        assert!(from_slice(br#"[{"a":1},{"a":2}]"#).is_ok());
    }

    #[test]
    fn refuses_what_serde_json_refuses() {
        for text in [&b""[..], b"{", b"[1,]", b"{\"a\":1}x", b"NaN", b"1e999"] {
            assert!(
                from_slice(text).is_err(),
                "{:?}",
                String::from_utf8_lossy(text)
            );
        }
    }
}
