//! Logs through `tracing`: readable on a terminal, JSON with `HOOKWALL_LOG_FORMAT=json`; the
//! level from `HOOKWALL_LOG`, else `RUST_LOG`, else `info`. Lines go to stderr: at once on a
//! terminal, through a buffer otherwise ([`log_writer`]: `WARN` and `ERROR` at once, the rest
//! within 0.1 s). In both formats a field's control characters are escaped, so a value a request
//! sent can never start a forged line or reach a terminal raw ([`printable`]).

pub mod activity;
pub mod json_line;
pub mod log_writer;
pub mod metrics;
pub mod printable;
pub mod report;
pub mod sample;
pub mod traces;

use std::io::IsTerminal;

use tracing::Subscriber;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, Registry};

use self::log_writer::{BufferedStderr, FlushGuard};

/// Starts logging; the guard writes out buffered lines when dropped (hold it until exit).
/// Later calls (tests start many servers in one process) change nothing and return `None`.
pub fn init_logging() -> Option<FlushGuard> {
    static STARTED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if STARTED.swap(true, std::sync::atomic::Ordering::SeqCst) {
        return None;
    }
    let spec = std::env::var("HOOKWALL_LOG")
        .ok()
        .or_else(|| std::env::var("RUST_LOG").ok())
        .unwrap_or_else(|| "info".to_owned());
    let json = std::env::var("HOOKWALL_LOG_FORMAT").is_ok_and(|v| v.eq_ignore_ascii_case("json"));
    let terminal = std::io::stderr().is_terminal();
    // A terminal gets every line at once; a file or a collector gets them buffered.
    let (writer, guard) = BufferedStderr::start(!terminal);
    let format: Box<dyn Layer<Registry> + Send + Sync> = if json {
        Box::new(
            tracing_subscriber::fmt::layer()
                .json()
                .with_current_span(true)
                .event_format(json_line::JsonLine)
                .with_writer(writer),
        )
    } else {
        // Colour only on a terminal: escape codes in a log file or a collector are noise.
        Box::new(
            tracing_subscriber::fmt::layer()
                .with_ansi(terminal)
                .fmt_fields(printable::PrintableFields)
                .with_writer(writer),
        )
    };
    // `try_init` fails only when another subscriber is already set; that one is kept.
    let _ = tracing_subscriber::registry()
        .with(format)
        .with(filter(&spec))
        .with(never_logged())
        .try_init();
    Some(guard)
}

/// Lines of other crates that carry request data, off whatever level is asked: lapin logs a
/// message the broker returned (an unroutable AMQP delivery) at `WARN` with its headers and
/// body. hookwall reports the failure itself, without the payload.
fn never_logged() -> Targets {
    Targets::new()
        .with_default(tracing::level_filters::LevelFilter::TRACE)
        .with_target(
            "lapin::returned_messages",
            tracing::level_filters::LevelFilter::OFF,
        )
}

/// The filter of `spec`: plain `target=level` lists as static `Targets`, which cost nothing
/// per span; specs with span or field directives need an `EnvFilter`, which takes a lock at
/// every span enter and exit. An invalid spec logs at `info`.
fn filter<S>(spec: &str) -> Box<dyn Layer<S> + Send + Sync>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    if let Ok(targets) = spec.parse::<Targets>() {
        return Box::new(targets);
    }
    Box::new(EnvFilter::try_new(spec).unwrap_or_else(|_| EnvFilter::new("info")))
}

#[cfg(test)]
mod tests {
    use tracing::Level;
    use tracing_subscriber::layer::SubscriberExt;

    use super::filter;

    fn enabled(spec: &str, level: Level) -> (bool, bool) {
        let subscriber = tracing_subscriber::registry().with(filter(spec));
        tracing::subscriber::with_default(subscriber, || {
            // `enabled!` needs a constant level: one callsite per level asked about.
            let (ours, theirs) = match level {
                Level::DEBUG => (
                    tracing::enabled!(target: "hookwall::x", Level::DEBUG),
                    tracing::enabled!(target: "hyper::x", Level::DEBUG),
                ),
                _ => (
                    tracing::enabled!(target: "hookwall::x", Level::INFO),
                    tracing::enabled!(target: "hyper::x", Level::INFO),
                ),
            };
            (ours, theirs)
        })
    }

    #[test]
    fn level_and_target_specs_filter_as_documented() {
        assert_eq!(enabled("info", Level::INFO), (true, true));
        assert_eq!(enabled("info", Level::DEBUG), (false, false));
        assert_eq!(enabled("hookwall=debug,info", Level::DEBUG), (true, false));
        assert_eq!(enabled("hookwall=debug,info", Level::INFO), (true, true));
        assert_eq!(enabled("warn", Level::INFO), (false, false));
    }

    #[test]
    fn a_returned_amqp_message_is_never_logged_with_its_payload() {
        let subscriber = tracing_subscriber::registry()
            .with(filter("trace"))
            .with(super::never_logged());
        tracing::subscriber::with_default(subscriber, || {
            assert!(!tracing::enabled!(target: "lapin::returned_messages", Level::WARN));
            assert!(tracing::enabled!(target: "lapin::io_loop", Level::WARN));
        });
    }

    #[test]
    fn a_span_directive_is_taken_and_an_invalid_spec_logs_at_info() {
        // Not a target list: an EnvFilter (the span directive applies inside that span only).
        assert_eq!(enabled("[request]=debug,warn", Level::INFO), (false, false));
        assert_eq!(enabled("=== nonsense", Level::INFO), (true, true));
        assert_eq!(enabled("=== nonsense", Level::DEBUG), (false, false));
    }
}
