//! Field values of text-format log lines, with every control character escaped.
//!
//! A log field can carry what a request sent: a JSON pointer into its payload in a 422's detail,
//! a destination's error text, a client's header. Written raw, a newline in it forges a second
//! log line, and an ESC or a C1 control (U+0080–U+009F) drives the terminal of whoever reads the
//! log. tracing-subscriber's own text format escapes ESC, BEL, BS, FF, DEL and C1 in messages,
//! but writes `%`-fields and other values as they are, newlines included; this formatter writes
//! each field as `name=value` with C0, DEL, C1, U+2028 and U+2029 escaped (`\n`, `\u{1b}`, …), so
//! a log line is always one line of visible text. JSON lines escape the same characters
//! ([`super::json_line`]).

use std::fmt::{self, Write};

use tracing::field::Field;
use tracing_subscriber::field::{MakeVisitor, VisitFmt, VisitOutput};
use tracing_subscriber::fmt::format::{DefaultVisitor, Writer};

/// Whether a character is escaped: C0 controls, DEL, C1 controls and the two Unicode line
/// separators that some viewers break lines at.
pub fn needs_escape(c: char) -> bool {
    c.is_control() || c == '\u{2028}' || c == '\u{2029}'
}

/// A `fmt::Write` that escapes what [`needs_escape`] names and writes the rest as it is.
pub struct Printable<'a, W: Write + ?Sized>(pub &'a mut W);

impl<W: Write + ?Sized> Write for Printable<'_, W> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        let mut run = 0;
        for (at, c) in text.char_indices() {
            if !needs_escape(c) {
                continue;
            }
            self.0.write_str(&text[run..at])?;
            match c {
                '\n' => self.0.write_str("\\n")?,
                '\r' => self.0.write_str("\\r")?,
                '\t' => self.0.write_str("\\t")?,
                c => write!(self.0, "\\u{{{:x}}}", u32::from(c))?,
            }
            run = at + c.len_utf8();
        }
        self.0.write_str(&text[run..])
    }
}

/// The text format's field formatter: `.fmt_fields(PrintableFields)`.
#[derive(Debug, Clone, Copy, Default)]
pub struct PrintableFields;

impl<'a> MakeVisitor<Writer<'a>> for PrintableFields {
    type Visitor = PrintableVisitor<'a>;

    fn make_visitor(&self, target: Writer<'a>) -> Self::Visitor {
        PrintableVisitor {
            inner: DefaultVisitor::new(target, true),
        }
    }
}

/// tracing-subscriber's own visitor (its layout, spacing and `message` handling), given every
/// value already escaped.
pub struct PrintableVisitor<'a> {
    inner: DefaultVisitor<'a>,
}

impl PrintableVisitor<'_> {
    fn escaped(&mut self, field: &Field, value: fmt::Arguments<'_>) {
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = Printable(&mut text).write_fmt(value);
        tracing::field::Visit::record_debug(&mut self.inner, field, &format_args!("{text}"));
    }
}

impl tracing::field::Visit for PrintableVisitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.escaped(field, format_args!("{value}"));
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.escaped(field, format_args!("{value}"));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.escaped(field, format_args!("{value:?}"));
    }
}

impl VisitOutput<fmt::Result> for PrintableVisitor<'_> {
    fn finish(self) -> fmt::Result {
        self.inner.finish()
    }
}

impl VisitFmt for PrintableVisitor<'_> {
    fn writer(&mut self) -> &mut dyn Write {
        self.inner.writer()
    }
}

#[cfg(test)]
mod tests {
    use tracing_subscriber::layer::SubscriberExt;

    use super::*;
    use crate::telemetry::json_line::tests::Captured;

    #[test]
    fn control_characters_and_line_separators_are_escaped_and_the_rest_kept() {
        let mut out = String::new();
        Printable(&mut out)
            .write_str("a\nb\r\u{1b}[31m\u{7f}\u{85}\u{2028}\u{2029}\té ok")
            .expect("writes");
        assert_eq!(
            out,
            "a\\nb\\r\\u{1b}[31m\\u{7f}\\u{85}\\u{2028}\\u{2029}\\té ok"
        );
    }

    #[test]
    fn a_text_log_line_stays_one_line_whatever_its_fields_carry() {
        let captured = Captured::default();
        let subscriber = tracing_subscriber::registry().with(
            tracing_subscriber::fmt::layer()
                .with_ansi(false)
                .fmt_fields(PrintableFields)
                .with_writer(captured.clone()),
        );
        tracing::subscriber::with_default(subscriber, || {
            let forged = "/a\n2026-01-01T00:00:00Z  INFO forged: admin logged in\u{1b}[2J";
            let span = tracing::info_span!("request", id = %forged);
            let _entered = span.enter();
            tracing::info!(detail = %forged, debug = ?forged, "refused {}", forged);
        });
        let text =
            String::from_utf8(captured.0.lock().expect("not poisoned").clone()).expect("utf-8");
        assert_eq!(text.matches('\n').count(), 1, "{text}");
        assert!(text.ends_with('\n'));
        assert!(!text.contains('\u{1b}'), "{text}");
        assert!(text.contains("detail=/a\\n2026"), "{text}");
    }
}
