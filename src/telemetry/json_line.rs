//! The JSON log line, in tracing-subscriber's JSON format (the same keys, order and values),
//! written straight into the line instead of through serde's map and string adapters.
//!
//! tracing-subscriber's formatter took about 24,000 instructions per request line, mostly in
//! escaping each field through `fmt` adapters one fragment at a time and in re-parsing the span's
//! stored fields; this one writes runs of plain text at once and splices the span's fields,
//! which the `JsonFields` formatter already stored as a JSON object (docs/benchmarks.md).

use std::fmt::{self, Write};

use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::{FormatTime, SystemTime};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields};
use tracing_subscriber::registry::{LookupSpan, SpanRef};

/// `{"timestamp","level","fields","target","span","spans"}`, one line per event.
pub struct JsonLine;

impl<S, N> FormatEvent<S, N> for JsonLine
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let meta = event.metadata();
        writer.write_str("{\"timestamp\":\"")?;
        SystemTime.format_time(&mut writer)?;
        write!(writer, "\",\"level\":\"{}\",\"fields\":{{", meta.level())?;
        let mut fields = Fields {
            out: &mut writer,
            first: true,
            result: Ok(()),
        };
        event.record(&mut fields);
        fields.result?;
        writer.write_str("},\"target\":")?;
        string(&mut writer, meta.target())?;
        let leaf = event
            .parent()
            .and_then(|id| ctx.span(id))
            .or_else(|| ctx.lookup_current());
        if let Some(leaf) = leaf {
            writer.write_str(",\"span\":")?;
            span::<S, N>(&mut writer, &leaf)?;
            writer.write_str(",\"spans\":[")?;
            for (i, each) in leaf.scope().from_root().enumerate() {
                if i > 0 {
                    writer.write_char(',')?;
                }
                span::<S, N>(&mut writer, &each)?;
            }
            writer.write_char(']')?;
        }
        writer.write_str("}\n")
    }
}

/// A span as `{its fields…,"name":…}`. Its fields were stored as a JSON object by the layer's
/// `JsonFields` when the span opened (or was recorded to); they are spliced in, not re-parsed.
fn span<S, N>(out: &mut Writer<'_>, span: &SpanRef<'_, S>) -> fmt::Result
where
    S: for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    let extensions = span.extensions();
    let stored = extensions
        .get::<FormattedFields<N>>()
        .map(|fields| fields.fields.trim())
        .and_then(|fields| fields.strip_prefix('{')?.strip_suffix('}'))
        .map(str::trim)
        .unwrap_or_default();
    out.write_char('{')?;
    if !stored.is_empty() {
        out.write_str(stored)?;
        out.write_char(',')?;
    }
    out.write_str("\"name\":")?;
    string(out, span.name())?;
    out.write_char('}')
}

/// The event's fields as `"name":value` pairs, in the order they were given.
struct Fields<'a, 'w> {
    out: &'a mut Writer<'w>,
    first: bool,
    result: fmt::Result,
}

impl Fields<'_, '_> {
    fn key(&mut self, field: &Field) -> fmt::Result {
        if !std::mem::take(&mut self.first) {
            self.out.write_char(',')?;
        }
        // Raw identifiers (`r#type`) are logged without their prefix, as tracing-subscriber does.
        let name = field.name();
        string(self.out, name.strip_prefix("r#").unwrap_or(name))?;
        self.out.write_char(':')
    }

    fn entry(&mut self, field: &Field, value: impl FnOnce(&mut Writer<'_>) -> fmt::Result) {
        if self.result.is_ok() {
            self.result = self.key(field).and_then(|()| value(self.out));
        }
    }
}

impl Visit for Fields<'_, '_> {
    fn record_f64(&mut self, field: &Field, value: f64) {
        // JSON has no NaN or infinity; serde_json writes them as null too.
        self.entry(field, |out| match value.is_finite() {
            true => write!(out, "{value}"),
            false => out.write_str("null"),
        });
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.entry(field, |out| write!(out, "{value}"));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.entry(field, |out| write!(out, "{value}"));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.entry(field, |out| write!(out, "{value}"));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.entry(field, |out| string(out, value));
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.entry(field, |out| {
            out.write_char('"')?;
            write!(Escaped(out), "{value}")?;
            out.write_char('"')
        });
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.entry(field, |out| {
            out.write_char('"')?;
            write!(Escaped(out), "{value:?}")?;
            out.write_char('"')
        });
    }
}

fn string(out: &mut impl Write, text: &str) -> fmt::Result {
    out.write_char('"')?;
    Escaped(out).write_str(text)?;
    out.write_char('"')
}

/// The bytes [`Escaped`] looks at twice: `"`, `\\`, the C0 controls, DEL, and the lead bytes of
/// the C1 controls (`0xc2`) and of U+2028/U+2029 (`0xe2`).
const LOOK_AGAIN: [bool; 256] = {
    let mut table = [false; 256];
    let mut byte = 0;
    while byte < 0x20 {
        table[byte] = true;
        byte += 1;
    }
    table[b'"' as usize] = true;
    table[b'\\' as usize] = true;
    table[0x7f] = true;
    table[0xc2] = true;
    table[0xe2] = true;
    table
};

/// Writes what is formatted into it as the inside of a JSON string: runs of characters that
/// need no escape are written whole.
struct Escaped<'a, W: Write>(&'a mut W);

impl<W: Write> Write for Escaped<'_, W> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        let mut run = 0;
        for (at, &byte) in text.as_bytes().iter().enumerate() {
            // Most bytes need nothing: one table lookup passes them.
            if !LOOK_AGAIN[usize::from(byte)] {
                continue;
            }
            let short = match byte {
                b'"' => Some("\\\""),
                b'\\' => Some("\\\\"),
                b'\n' => Some("\\n"),
                b'\r' => Some("\\r"),
                b'\t' => Some("\\t"),
                _ => None,
            };
            // The other C0 controls and DEL, and, found from their lead bytes, the C1 controls
            // and U+2028/U+2029, which JSON allows raw but a terminal or a line-based viewer
            // acts on (`printable`). `at` is then at a char boundary.
            let unicode = match byte {
                0..0x20 | 0x7f | 0xc2 | 0xe2 if short.is_none() => text[at..]
                    .chars()
                    .next()
                    .filter(|c| super::printable::needs_escape(*c)),
                _ => None,
            };
            if short.is_none() && unicode.is_none() {
                continue;
            }
            self.0.write_str(&text[run..at])?;
            match (short, unicode) {
                (Some(short), _) => self.0.write_str(short)?,
                (None, Some(c)) => write!(self.0, "\\u{:04x}", u32::from(c))?,
                (None, None) => {}
            }
            run = at + unicode.map_or(1, char::len_utf8);
        }
        self.0.write_str(&text[run..])
    }
}

#[cfg(test)]
pub(super) mod tests {
    use std::io;
    use std::sync::{Arc, Mutex};

    use serde_json::Value;
    use tracing_subscriber::fmt::MakeWriter;
    use tracing_subscriber::layer::SubscriberExt;

    use super::*;

    /// What a test's log layer writes, kept for the test to read.
    #[derive(Clone, Default)]
    pub(in crate::telemetry) struct Captured(pub(in crate::telemetry) Arc<Mutex<Vec<u8>>>);

    impl io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().expect("not poisoned").extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Captured {
        type Writer = Captured;
        fn make_writer(&'a self) -> Captured {
            self.clone()
        }
    }

    /// Logs the same events with `subscriber` and returns the lines, parsed.
    fn lines_of(ours: bool) -> Vec<Value> {
        let captured = Captured::default();
        let layer = tracing_subscriber::fmt::layer()
            .json()
            .with_current_span(true)
            .with_writer(captured.clone());
        let log = || {
            tracing::info!(
                request_id = "r-1",
                status = 202u16,
                latency_ms = 1.25,
                negative = -3i64,
                flag = true,
                r#type = "raw",
                quoted = %"say \"hi\"\n\t\\ \u{1} é",
                "request handled"
            );
            let span = tracing::info_span!("request", request_id = %"r-2", method = "POST");
            let _in = span.enter();
            let inner = tracing::info_span!("inner", step = 2u64);
            let _inner = inner.enter();
            let err = std::io::Error::other("disk \"full\"");
            tracing::warn!(error = &err as &dyn std::error::Error, "store failed");
            tracing::info!(nan = f64::NAN, "odd number");
        };
        if ours {
            let subscriber = tracing_subscriber::registry().with(layer.event_format(JsonLine));
            tracing::subscriber::with_default(subscriber, log);
        } else {
            let subscriber = tracing_subscriber::registry().with(layer);
            tracing::subscriber::with_default(subscriber, log);
        }
        let text =
            String::from_utf8(captured.0.lock().expect("not poisoned").clone()).expect("utf-8");
        text.lines()
            .map(|line| serde_json::from_str(line).expect("each line is one JSON object"))
            .collect()
    }

    #[test]
    fn lines_match_tracing_subscribers_json_format_but_the_time() {
        let (mut ours, mut theirs) = (lines_of(true), lines_of(false));
        assert_eq!(ours.len(), 3);
        for line in ours.iter_mut().chain(theirs.iter_mut()) {
            let time = line
                .as_object_mut()
                .and_then(|o| o.remove("timestamp"))
                .expect("a timestamp");
            assert!(time.as_str().is_some_and(|t| t.ends_with('Z')), "{time}");
        }
        assert_eq!(ours, theirs);
        assert_eq!(ours[0]["fields"]["quoted"], "say \"hi\"\n\t\\ \u{1} é");
        assert_eq!(ours[1]["span"]["name"], "inner");
        assert_eq!(ours[1]["spans"][0]["request_id"], "r-2");
    }

    #[test]
    fn del_c1_controls_and_line_separators_are_escaped_and_other_text_kept() {
        let text = "a\u{7f}\u{85}\u{9b}[2J\u{2028}\u{2029}é\u{a0}€\u{1b}";
        let mut out = String::new();
        string(&mut out, text).expect("writes");
        assert_eq!(
            out,
            "\"a\\u007f\\u0085\\u009b[2J\\u2028\\u2029é\u{a0}€\\u001b\""
        );
        assert_eq!(serde_json::from_str::<String>(&out).expect("JSON"), text);
    }

    #[test]
    fn the_key_order_is_tracing_subscribers() {
        let captured = Captured::default();
        let subscriber = tracing_subscriber::registry().with(
            tracing_subscriber::fmt::layer()
                .json()
                .with_writer(captured.clone())
                .event_format(JsonLine),
        );
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!("request", request_id = "r-3");
            let _in = span.enter();
            tracing::info!(a = 1u64, "m");
        });
        let text =
            String::from_utf8(captured.0.lock().expect("not poisoned").clone()).expect("utf-8");
        let line = text.trim_end();
        let keys: Vec<usize> = [
            "\"timestamp\"",
            "\"level\"",
            "\"fields\"",
            "\"target\"",
            "\"span\"",
            "\"spans\"",
        ]
        .iter()
        .map(|key| line.find(key).unwrap_or(usize::MAX))
        .collect();
        assert!(keys.windows(2).all(|w| w[0] < w[1]), "{line}");
        assert!(
            line.contains(r#""span":{"request_id":"r-3","name":"request"}"#),
            "{line}"
        );
        assert!(line.contains(r#""fields":{"message":"m","a":1}"#), "{line}");
    }
}
