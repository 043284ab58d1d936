//! An accepted request's `event_type` (SPEC section 10): what the provider itself names the
//! event, read where the source's [`EventTypeFrom`] says (a header, or JSON Pointers into the
//! parsed body), after verification, so only authenticated bytes are read.
//!
//! The value is stored as the provider sent it, bounded: at most [`MAX_EVENT_TYPE_BYTES`] bytes
//! (cut at a character boundary), an empty value is no type, and a NUL becomes U+FFFD because
//! PostgreSQL text cannot hold one. Other control characters are kept (the admin API's JSON and
//! the CLI escape them when they show the type). A pointer that names a string gives that
//! string; a number or a boolean gives its JSON text (`2`, `true`), as destination filters
//! compare them; an object, array or null names no type, and the next pointer is tried. An
//! NDJSON or opaque body has no fields to point into.

use http::HeaderMap;
use serde_json::Value;

use super::payload::Payload;
use crate::config::EventTypeFrom;

/// The longest event type stored, in bytes: provider types are short (`payment_intent.succeeded`)
/// and the column is filtered on and shown in every listing, so a sender does not choose its size.
pub const MAX_EVENT_TYPE_BYTES: usize = 256;

/// The type of the event a request carries, or `None` when the source's rule finds none.
pub fn event_type(from: &EventTypeFrom, headers: &HeaderMap, payload: &Payload) -> Option<String> {
    let found = match from {
        EventTypeFrom::Nothing => return None,
        EventTypeFrom::Header(name) => {
            let bytes = headers.get(name)?.as_bytes();
            // Enough bytes for the longest type whatever their encoding, and no more copied.
            let head = &bytes[..bytes.len().min(4 * MAX_EVENT_TYPE_BYTES)];
            String::from_utf8_lossy(head).into_owned()
        }
        EventTypeFrom::Pointers(pointers) => {
            let object = payload.object()?;
            pointers
                .iter()
                .find_map(|pointer| scalar_text(object.pointer(pointer)?))?
        }
    };
    bounded(found)
}

/// A string as it is; a number or a boolean as its JSON text; nothing else names a type.
fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(text) if !text.is_empty() => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        Value::Bool(flag) => Some(flag.to_string()),
        _ => None,
    }
}

fn bounded(mut text: String) -> Option<String> {
    if text.is_empty() {
        return None;
    }
    if text.contains('\0') {
        text = text.replace('\0', "\u{fffd}");
    }
    let cut = text.floor_char_boundary(MAX_EVENT_TYPE_BYTES);
    text.truncate(cut);
    Some(text)
}

#[cfg(test)]
mod tests;
