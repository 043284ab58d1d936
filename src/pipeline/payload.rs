//! Step 11: the payload as JSON, with a nesting limit, checked against the source's JSON Schema.
//!
//! The schema sees the body as JSON whatever it arrived as: a JSON body as is, a form body as an
//! object of string fields, NDJSON line by line. Other bodies (CSV) are stored unchecked. The
//! nesting limit is enforced by a byte scan before parsing, so a 100,000-level `[[[[…` costs one
//! pass and no recursion. An object that names a key twice is refused ([`super::strict_json`]),
//! so the schema and the handler can never read two different values; a repeated form field
//! keeps its last value, for the schema and in what is stored alike (the raw form is delivered
//! as received). An NDJSON body needs at least one line.

use std::sync::Arc;

use serde_json::{Map, Value};

use crate::config::json_schema;
use crate::http::problem::{Rejection, RejectionKind};
use crate::providers::BodyKind;

/// The parsed body, kept beside the raw bytes (which are what is stored and delivered).
#[derive(Debug, Clone, PartialEq)]
pub enum Payload {
    Json(Value),
    /// A form body as an object of string fields (a repeated field keeps its last value).
    Form(Value),
    NdJson(Vec<Value>),
    Opaque,
}

impl Payload {
    /// The object providers take event ids from: a JSON or form body.
    pub fn object(&self) -> Option<&Value> {
        match self {
            Payload::Json(value) | Payload::Form(value) => Some(value),
            Payload::NdJson(_) | Payload::Opaque => None,
        }
    }
}

pub fn parse(kind: BodyKind, body: &[u8], max_depth: usize) -> Result<Payload, Rejection> {
    match kind {
        BodyKind::Json => parse_json(body, max_depth).map(Payload::Json),
        BodyKind::Form => parse_form(body).map(Payload::Form),
        BodyKind::NdJson => {
            let lines = body
                .split(|b| *b == b'\n')
                .map(|line| line.strip_suffix(b"\r").unwrap_or(line))
                .filter(|line| !line.iter().all(u8::is_ascii_whitespace))
                .map(|line| parse_json(line, max_depth))
                .collect::<Result<Vec<_>, _>>()?;
            // No line would pass any schema vacuously (its `required` fields never checked).
            if lines.is_empty() {
                return Err(bad_payload("an NDJSON body without a line".to_owned()));
            }
            Ok(Payload::NdJson(lines))
        }
        BodyKind::Opaque => Ok(Payload::Opaque),
    }
}

fn parse_json(body: &[u8], max_depth: usize) -> Result<Value, Rejection> {
    if let Some(depth) = depth_exceeding(body, max_depth) {
        return Err(bad_payload(format!(
            "JSON nesting deeper than {max_depth} (reached {depth})"
        )));
    }
    // The whole body's UTF-8 is checked once: parsed from bytes, serde_json checks each string
    // on its own, a call per string (docs/benchmarks.md). A body that is not UTF-8 is refused
    // either way, as a string that is not or as a byte outside any string, which JSON forbids.
    let text = std::str::from_utf8(body)
        .map_err(|err| bad_payload(format!("invalid JSON: not UTF-8 ({err})")))?;
    super::strict_json::from_str(text).map_err(|err| bad_payload(format!("invalid JSON: {err}")))
}

fn parse_form(body: &[u8]) -> Result<Value, Rejection> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body)
        .map_err(|err| bad_payload(format!("invalid form body: {err}")))?;
    let object: Map<String, Value> = pairs
        .into_iter()
        .map(|(k, v)| (k, Value::String(v)))
        .collect();
    Ok(Value::Object(object))
}

/// Returns the first depth past `max` that the JSON text reaches, if any. Brackets inside strings
/// do not count; the scan does not validate, the parser after it does.
pub fn depth_exceeding(text: &[u8], max: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut at = 0;
    while let Some(&byte) = text.get(at) {
        at += 1;
        match byte {
            // Inside a string only `"` and `\` matter: skip to them (most of a typical
            // payload's bytes are string contents).
            b'"' => loop {
                // An unterminated string is left to the parser.
                let rest = text.get(at..).unwrap_or_default();
                let found = memchr::memchr2(b'"', b'\\', rest)?;
                at += found + 1;
                // `found` indexes `rest`: memchr returns positions inside what it searched.
                if rest[found] == b'"' {
                    break;
                }
                // An escape: the next byte is taken whatever it is.
                at += 1;
            },
            b'[' | b'{' => {
                depth += 1;
                if depth > max {
                    return Some(depth);
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    None
}

fn bad_payload(detail: String) -> Rejection {
    Rejection::new(RejectionKind::BadPayload, detail)
}

/// A source's JSON Schema, compiled once when the config loads.
#[derive(Clone)]
pub struct Schema {
    validator: Arc<jsonschema::Validator>,
}

impl std::fmt::Debug for Schema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Schema")
    }
}

impl Schema {
    /// Compiles a schema document ([`crate::config::json_schema`]).
    pub fn compile(document: &Value) -> Result<Schema, String> {
        json_schema::compile(document).map(Schema::new)
    }

    /// Reads and compiles a schema file ([`crate::config::json_schema`]).
    pub fn read(path: &std::path::Path) -> Result<Schema, String> {
        json_schema::read(path).map(Schema::new)
    }

    fn new(validator: jsonschema::Validator) -> Schema {
        Schema {
            validator: Arc::new(validator),
        }
    }

    /// Validates the payload. The detail names where and which rule failed, not the offending
    /// value (payload data stays out of logs).
    pub fn check(&self, payload: &Payload) -> Result<(), Rejection> {
        let instances: Vec<&Value> = match payload {
            Payload::Json(value) | Payload::Form(value) => vec![value],
            Payload::NdJson(lines) => lines.iter().collect(),
            Payload::Opaque => return Ok(()),
        };
        for (line, instance) in instances.into_iter().enumerate() {
            if let Some(err) = self.validator.iter_errors(instance).next() {
                let at = match payload {
                    Payload::NdJson(_) => format!("line {} ", line + 1),
                    _ => String::new(),
                };
                return Err(Rejection::new(
                    RejectionKind::SchemaInvalid,
                    format!(
                        "schema violation at {at}instance {} (rule {})",
                        display_path(err.instance_path().as_str()),
                        err.schema_path().as_str()
                    ),
                ));
            }
        }
        Ok(())
    }
}

fn display_path(path: &str) -> &str {
    if path.is_empty() { "/" } else { path }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn depth_counts_brackets_outside_strings_only() {
        assert_eq!(depth_exceeding(br#"{"a":[1,{"b":"[[[[[[[["}]}"#, 3), None);
        assert_eq!(depth_exceeding(br#"{"a":[1,{"b":[[]]}]}"#, 3), Some(4));
        assert_eq!(depth_exceeding(br#"{"a":"\"[[[["}"#, 1), None);
        // An escaped backslash ends before the closing quote; brackets after it count.
        assert_eq!(depth_exceeding(br#"["\\", [[1]]]"#, 2), Some(3));
        // A string cut off after an escape is left to the parser (and does not panic).
        assert_eq!(depth_exceeding(b"[\"\\", 1), None);
        assert_eq!(depth_exceeding(b"[\"abc", 1), None);
    }

    #[test]
    fn a_hundred_thousand_levels_of_nesting_is_a_bad_payload() {
        let deep = "[".repeat(100_000) + &"]".repeat(100_000);
        let err = parse(BodyKind::Json, deep.as_bytes(), 64).expect_err("too deep");
        assert_eq!(err.kind, RejectionKind::BadPayload);
    }

    #[test]
    fn invalid_utf8_is_a_bad_payload() {
        let err = parse(BodyKind::Json, b"{\"a\":\"\xff\xfe\"}", 64).expect_err("invalid utf-8");
        assert_eq!(err.kind, RejectionKind::BadPayload);
    }

    #[test]
    fn a_form_body_becomes_an_object_of_strings() {
        let payload = parse(BodyKind::Form, b"event=temp&data=21.5&coreid=abc", 64).expect("form");
        assert_eq!(
            payload,
            Payload::Form(json!({"event": "temp", "data": "21.5", "coreid": "abc"}))
        );
    }

    #[test]
    fn ndjson_is_parsed_line_by_line_and_blank_lines_are_skipped() {
        let payload = parse(BodyKind::NdJson, b"{\"a\":1}\r\n\n{\"a\":2}\n", 64).expect("ndjson");
        assert_eq!(
            payload,
            Payload::NdJson(vec![json!({"a": 1}), json!({"a": 2})])
        );
        assert!(parse(BodyKind::NdJson, b"{\"a\":1}\nnot json\n", 64).is_err());
    }

    #[test]
    fn an_ndjson_body_without_a_line_is_a_bad_payload() {
        for body in [&b""[..], b"\n", b" \r\n\t\n"] {
            let err = parse(BodyKind::NdJson, body, 64).expect_err("no line");
            assert_eq!(err.kind, RejectionKind::BadPayload);
        }
    }

    #[test]
    fn a_json_object_naming_a_key_twice_is_a_bad_payload() {
        for kind in [BodyKind::Json, BodyKind::NdJson] {
            let err = parse(kind, br#"{"amount":1,"amount":1000}"#, 64).expect_err("dup");
            assert_eq!(err.kind, RejectionKind::BadPayload, "{kind:?}");
        }
    }

    #[test]
    fn schema_violations_name_the_place_but_not_the_value() {
        let schema = Schema::compile(&json!({
            "type": "object", "required": ["event"],
            "properties": {"event": {"type": "string"}}
        }))
        .expect("compiles");
        assert!(schema.check(&Payload::Json(json!({"event": "x"}))).is_ok());
        let err = schema
            .check(&Payload::Json(json!({"event": 12345678})))
            .expect_err("invalid");
        assert_eq!(err.kind, RejectionKind::SchemaInvalid);
        assert!(err.detail.contains("/event"), "{}", err.detail);
        assert!(!err.detail.contains("12345678"), "{}", err.detail);
    }

    #[test]
    fn every_ndjson_line_is_schema_checked() {
        let schema =
            Schema::compile(&json!({"type": "object", "required": ["url"]})).expect("compiles");
        let payload =
            parse(BodyKind::NdJson, b"{\"url\":\"a\"}\n{\"nope\":1}\n", 64).expect("ndjson");
        let err = schema.check(&payload).expect_err("second line invalid");
        assert!(err.detail.contains("line 2"), "{}", err.detail);
    }
}
