//! Logs through `tracing`: readable on a terminal, JSON with `HOOKWALL_LOG_FORMAT=json`; the
//! level from `HOOKWALL_LOG`, else `RUST_LOG`, else `info`.

pub mod metrics;
pub mod report;
pub mod sample;

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

pub fn init_logging() {
    let filter = std::env::var("HOOKWALL_LOG")
        .ok()
        .or_else(|| std::env::var("RUST_LOG").ok())
        .and_then(|spec| EnvFilter::try_new(spec).ok())
        .unwrap_or_else(|| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colour only on a terminal: escape codes in a log file or a collector are noise.
        .with_ansi(std::io::stderr().is_terminal());
    let json = std::env::var("HOOKWALL_LOG_FORMAT").is_ok_and(|v| v.eq_ignore_ascii_case("json"));
    // `try_init` fails only when a subscriber is already set (tests); that one is kept.
    let _ = if json {
        builder.json().with_current_span(true).try_init()
    } else {
        builder.try_init()
    };
}
