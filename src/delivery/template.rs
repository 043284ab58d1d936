//! `{{name}}` templates over a stored event, for e-mail subjects and bodies.
//!
//! Pure functions only: [`Fields::of`] reads what an event offers, [`render`] fills a template
//! from any lookup, [`default_body`] writes the summary used when no `body` template is set.
//!
//! What a placeholder names:
//! - `{{id}}`, `{{source}}`, `{{received_at}}` (RFC 3339, UTC, milliseconds): the event's own;
//! - `{{NAME}}`: the top-level field `NAME` of the payload, which is a JSON object or an
//!   `application/x-www-form-urlencoded` form (Particle sends `event`, `data`, `coreid`,
//!   `published_at` as either). The event's own three names win over payload fields of the same
//!   name; `{{payload.NAME}}` always means the payload's field (a Stripe `id`, say).
//!
//! Strings and numbers are written as they are (no quotes), `null` and unknown names as nothing,
//! arrays and objects as compact JSON. Whitespace inside the braces is ignored (`{{ event }}`);
//! a `{{` without a closing `}}` is kept as text.

use std::borrow::Cow;
use std::fmt::Write as _;

use serde_json::Value;

use crate::store::StoredEvent;

/// The most a rendered body or the default summary may hold; the rest is cut with a note.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// The most characters a rendered subject may hold. A payload field can be megabytes, and a
/// header that size is refused by mail servers long before anyone reads it.
pub const MAX_SUBJECT_CHARS: usize = 200;

/// What a template can name, read once from one event.
#[derive(Debug, Clone, PartialEq)]
pub struct Fields {
    pub id: String,
    pub source: String,
    pub received_at: String,
    pub payload: BodyView,
}

/// The event's body as the templates see it.
#[derive(Debug, Clone, PartialEq)]
pub enum BodyView {
    /// Any JSON document; only an object has fields.
    Json(Value),
    /// `application/x-www-form-urlencoded`, in order; the first of repeated keys is used.
    Form(Vec<(String, String)>),
    /// UTF-8 that is neither (NDJSON, CSV, plain text).
    Text(String),
    /// Not UTF-8: only its size is shown.
    Binary(usize),
    /// Purged after `storage.retention`.
    Purged,
}

impl Fields {
    pub fn of(event: &StoredEvent) -> Fields {
        Fields {
            id: event.id.clone(),
            source: event.source.clone(),
            received_at: rfc3339(event.received_at_ms),
            payload: match &event.body {
                None => BodyView::Purged,
                Some(body) => BodyView::parse(event.content_type.as_deref(), body),
            },
        }
    }

    /// The value a placeholder names, if any.
    pub fn get(&self, name: &str) -> Option<Cow<'_, str>> {
        match name {
            "id" => Some(Cow::Borrowed(&self.id)),
            "source" => Some(Cow::Borrowed(&self.source)),
            "received_at" => Some(Cow::Borrowed(&self.received_at)),
            _ => self
                .payload
                .field(name.strip_prefix("payload.").unwrap_or(name)),
        }
    }
}

impl BodyView {
    pub fn parse(content_type: Option<&str>, body: &[u8]) -> BodyView {
        let essence = content_type
            .and_then(|ct| ct.split(';').next())
            .map(|ct| ct.trim().to_ascii_lowercase());
        if essence.as_deref() == Some("application/x-www-form-urlencoded")
            && let Ok(pairs) = serde_urlencoded::from_bytes::<Vec<(String, String)>>(body)
        {
            return BodyView::Form(pairs);
        }
        if let Ok(value) = serde_json::from_slice::<Value>(body) {
            return BodyView::Json(value);
        }
        match std::str::from_utf8(body) {
            Ok(text) => BodyView::Text(text.to_owned()),
            Err(_) => BodyView::Binary(body.len()),
        }
    }

    fn field(&self, name: &str) -> Option<Cow<'_, str>> {
        match self {
            BodyView::Json(Value::Object(map)) => map.get(name).and_then(scalar),
            BodyView::Form(pairs) => pairs
                .iter()
                .find(|(key, _)| key == name)
                .map(|(_, value)| Cow::Borrowed(value.as_str())),
            _ => None,
        }
    }
}

/// A JSON value as a template writes it.
fn scalar(value: &Value) -> Option<Cow<'_, str>> {
    match value {
        Value::Null => None,
        Value::String(s) => Some(Cow::Borrowed(s)),
        Value::Bool(b) => Some(Cow::Owned(b.to_string())),
        Value::Number(n) => Some(Cow::Owned(n.to_string())),
        nested => Some(Cow::Owned(nested.to_string())),
    }
}

/// Fills every `{{name}}` in `template` with `lookup(name)`, or nothing when it gives `None`.
pub fn render<'a>(template: &str, lookup: impl Fn(&str) -> Option<Cow<'a, str>>) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(open) = rest.find("{{") {
        let Some(close) = rest[open + 2..].find("}}") else {
            break;
        };
        out.push_str(&rest[..open]);
        let name = rest[open + 2..open + 2 + close].trim();
        if let Some(value) = lookup(name) {
            out.push_str(&value);
        }
        rest = &rest[open + 2 + close + 2..];
    }
    out.push_str(rest);
    out
}

/// The subject: `template` rendered with every control character of the values (CR and LF
/// above all: header injection) turned into a space, cut to [`MAX_SUBJECT_CHARS`].
pub fn subject(template: &str, fields: &Fields) -> String {
    let rendered = render(template, |name| {
        fields.get(name).map(|value| {
            if value.chars().any(char::is_control) {
                Cow::Owned(value.replace(char::is_control, " "))
            } else {
                value
            }
        })
    });
    match rendered.char_indices().nth(MAX_SUBJECT_CHARS) {
        Some((cut, _)) => format!("{}…", &rendered[..cut]),
        None => rendered,
    }
}

/// The body: `template` rendered as is, cut to [`MAX_BODY_BYTES`].
pub fn body(template: &str, fields: &Fields) -> String {
    truncate(render(template, |name| fields.get(name)), MAX_BODY_BYTES)
}

/// The summary sent when the destination has no `body` template.
pub fn default_body(fields: &Fields) -> String {
    let mut out = format!(
        "hookwall received an event.\n\nSource:      {}\nEvent id:    {}\nReceived at: {}\n\n",
        fields.source, fields.id, fields.received_at
    );
    match &fields.payload {
        BodyView::Json(value) => {
            out.push_str("BodyView (JSON):\n");
            // Serialising a parsed `Value` cannot fail; fall back to compact just in case.
            out.push_str(
                &serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string()),
            );
        }
        BodyView::Form(pairs) => {
            out.push_str("BodyView (form):\n");
            for (key, value) in pairs {
                let _ = writeln!(out, "{key}: {value}");
            }
        }
        BodyView::Text(text) => {
            out.push_str("BodyView:\n");
            out.push_str(text);
        }
        BodyView::Binary(len) => {
            let _ = write!(out, "BodyView: {len} bytes, not text (not shown).");
        }
        BodyView::Purged => out.push_str("BodyView: purged after the retention period."),
    }
    out.push('\n');
    truncate(out, MAX_BODY_BYTES)
}

/// `text` cut to at most `max` bytes (on a character boundary), with a note saying so.
fn truncate(mut text: String, max: usize) -> String {
    if text.len() <= max {
        return text;
    }
    let total = text.len();
    let mut cut = max;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    text.truncate(cut);
    let _ = write!(text, "\n[… cut at {max} of {total} bytes]\n");
    text
}

/// Unix milliseconds as RFC 3339 in UTC, e.g. `2023-11-14T22:13:20.000Z`.
pub fn rfc3339(unix_ms: i64) -> String {
    match jiff::Timestamp::from_millisecond(unix_ms) {
        Ok(at) => at.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
        // Outside jiff's range (±9999 years): the number is still the truth.
        Err(_) => unix_ms.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(content_type: &str, body: &str) -> Fields {
        Fields {
            id: "0190-event".into(),
            source: "particle".into(),
            received_at: "2026-11-23T09:00:00.000Z".into(),
            payload: BodyView::parse(Some(content_type), body.as_bytes()),
        }
    }

    fn json(body: &str) -> Fields {
        fields("application/json", body)
    }

    fn render_over(template: &str, fields: &Fields) -> String {
        render(template, |name| fields.get(name))
    }

    #[test]
    fn placeholders_name_payload_fields_of_a_json_object() {
        let f = json(r#"{"event":"temp","data":"21.5","coreid":"abc123"}"#);
        assert_eq!(
            render_over("Particle {{event}} from {{coreid}}: {{data}}", &f),
            "Particle temp from abc123: 21.5"
        );
    }

    #[test]
    fn placeholders_name_fields_of_a_form_body() {
        let f = fields(
            "application/x-www-form-urlencoded; charset=utf-8",
            "event=temp&data=21.5%20C&coreid=abc123&event=second",
        );
        assert_eq!(
            render_over("{{event}} {{data}} {{coreid}}", &f),
            "temp 21.5 C abc123",
            "percent-decoded, first of repeated keys"
        );
    }

    #[test]
    fn the_events_own_fields_are_named_and_win_over_the_payload() {
        let f = json(r#"{"id":"evt_stripe","source":"payload-source"}"#);
        assert_eq!(
            render_over("{{id}} {{source}} {{received_at}}", &f),
            "0190-event particle 2026-11-23T09:00:00.000Z"
        );
        assert_eq!(
            render_over("{{payload.id}} {{payload.source}}", &f),
            "evt_stripe payload-source"
        );
    }

    #[test]
    fn scalars_lose_their_quotes_nested_values_are_compact_json_and_null_is_empty() {
        let f =
            json(r#"{"s":"text","n":1.5,"i":-3,"t":true,"z":null,"a":[1,"x"],"o":{"k":{"v":1}}}"#);
        assert_eq!(
            render_over("{{s}}|{{n}}|{{i}}|{{t}}|{{z}}|{{a}}|{{o}}", &f),
            r#"text|1.5|-3|true||[1,"x"]|{"k":{"v":1}}"#
        );
    }

    #[test]
    fn unknown_names_render_as_nothing() {
        let f = json(r#"{"event":"temp"}"#);
        assert_eq!(render_over("[{{nope}}][{{payload.nope}}]", &f), "[][]");
        let not_an_object = json("[1,2]");
        assert_eq!(render_over("[{{0}}]", &not_an_object), "[]");
        let text = fields("text/plain", "event=temp");
        assert_eq!(render_over("[{{event}}]", &text), "[]", "not a form");
    }

    #[test]
    fn braces_are_trimmed_and_unclosed_ones_are_text() {
        let f = json(r#"{"event":"temp"}"#);
        assert_eq!(render_over("{{ event }}", &f), "temp");
        assert_eq!(render_over("a {{event", &f), "a {{event");
        assert_eq!(render_over("{{event}} }} {", &f), "temp }} {");
        assert_eq!(render_over("{{{event}}}", &f), "}", "`{{event` is unknown");
        assert_eq!(render_over("", &f), "");
        assert_eq!(render_over("no placeholders", &f), "no placeholders");
    }

    #[test]
    fn a_value_cannot_inject_a_header_through_the_subject() {
        let f = json(r#"{"event":"temp\r\nBcc: victim@example.com","data":"a\tb\u0000c"}"#);
        let rendered = subject("{{event}} {{data}}", &f);
        assert!(!rendered.contains(['\r', '\n', '\0']), "{rendered:?}");
        assert_eq!(rendered, "temp  Bcc: victim@example.com a b c");
    }

    #[test]
    fn a_long_subject_is_cut() {
        let f = json(&format!(r#"{{"data":"{}"}}"#, "é".repeat(500)));
        let rendered = subject("{{data}}", &f);
        assert_eq!(rendered.chars().count(), MAX_SUBJECT_CHARS + 1);
        assert!(rendered.ends_with('…'));
    }

    #[test]
    fn a_body_template_keeps_line_breaks_and_is_cut_at_the_limit() {
        let f = json(r#"{"data":"line one\nline two"}"#);
        assert_eq!(body("Data:\n{{data}}", &f), "Data:\nline one\nline two");
        let big = json(&format!(r#"{{"data":"{}"}}"#, "é".repeat(MAX_BODY_BYTES)));
        let rendered = body("{{data}}", &big);
        assert!(rendered.len() < MAX_BODY_BYTES + 100, "{}", rendered.len());
        assert!(rendered.contains("cut at 65536 of 131072 bytes"));
    }

    #[test]
    fn the_default_body_summarises_the_event_and_pretty_prints_json() {
        let text = default_body(&json(r#"{"data":"21.5","event":"temp"}"#));
        assert!(text.contains("Source:      particle"), "{text}");
        assert!(text.contains("Event id:    0190-event"), "{text}");
        assert!(
            text.contains("Received at: 2026-11-23T09:00:00.000Z"),
            "{text}"
        );
        assert!(
            text.contains("{\n  \"data\": \"21.5\",\n  \"event\": \"temp\"\n}"),
            "{text}"
        );
    }

    #[test]
    fn the_default_body_lists_form_fields_and_shows_text_but_not_binary() {
        let form = default_body(&fields(
            "application/x-www-form-urlencoded",
            "event=temp&data=21.5",
        ));
        assert!(form.contains("event: temp\ndata: 21.5\n"), "{form}");
        let text = default_body(&fields("text/csv", "a,b\n1,2\n"));
        assert!(text.contains("a,b\n1,2\n"), "{text}");
        let mut binary = json("{}");
        binary.payload = BodyView::parse(None, &[0xff, 0xfe, 0x00]);
        let text = default_body(&binary);
        assert!(text.contains("3 bytes, not text"), "{text}");
    }

    #[test]
    fn fields_are_read_from_a_stored_event() {
        let event = StoredEvent {
            id: "0190-x".into(),
            source: "particle".into(),
            dedup_key: "body:00".into(),
            received_at_ms: 1_700_000_000_123,
            client_ip: "127.0.0.1".into(),
            request_id: None,
            content_type: Some("application/json".into()),
            event_type: None,
            trace_context: None,
            headers: vec![],
            body: Some(br#"{"event":"temp"}"#.to_vec()),
            status: crate::store::EventStatus::Pending,
            attempts: 0,
            next_attempt_at_ms: 0,
            last_error: None,
        };
        let f = Fields::of(&event);
        assert_eq!(f.received_at, "2023-11-14T22:13:20.123Z");
        assert_eq!(f.get("event").as_deref(), Some("temp"));
        let purged = Fields::of(&StoredEvent {
            body: None,
            ..event
        });
        assert_eq!(purged.payload, BodyView::Purged);
    }

    #[test]
    fn rfc3339_handles_the_epoch_leap_days_and_times_before_1970() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(1_709_208_000_000), "2024-02-29T12:00:00.000Z");
        assert_eq!(rfc3339(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(rfc3339(4_102_444_799_999), "2099-12-31T23:59:59.999Z");
        assert_eq!(rfc3339(-1), "1969-12-31T23:59:59.999Z");
    }
}
