//! Sentry (SPEC section 7): on when `SENTRY_DSN` is set, off otherwise.
//!
//! What is reported: panics (the `panic` integration), 5xx answers, store commit failures and
//! deliveries that go dead, each tagged with the source, destination, request id or event id
//! that applies. What is never reported: bodies, headers, secrets. Events are built here from
//! those tags and a fixed message, with no request data attached: sentry-tower's HTTP layer is
//! not used because its header filter knows `Authorization` and cookies but not the signature
//! and token headers of each provider. Only the per-request hub layer is.

use sentry::protocol::Level;

/// Starts Sentry when `SENTRY_DSN` is set; keep the guard alive for the process's life (its
/// drop flushes pending events). An invalid DSN is reported on stderr and leaves Sentry off
/// (the SDK would otherwise ignore it silently).
pub fn init() -> Option<sentry::ClientInitGuard> {
    let dsn = std::env::var("SENTRY_DSN")
        .ok()
        .filter(|d| !d.trim().is_empty())?;
    let parsed = match dsn.trim().parse::<sentry::types::Dsn>() {
        Ok(parsed) => parsed,
        Err(err) => {
            eprintln!("hookwall: SENTRY_DSN is not a valid DSN ({err}); Sentry reporting is off");
            return None;
        }
    };
    let mut options = sentry::ClientOptions::new()
        .release(concat!("hookwall@", env!("CARGO_PKG_VERSION")))
        .send_default_pii(false);
    options.dsn = Some(parsed);
    if let Ok(environment) = std::env::var("SENTRY_ENVIRONMENT") {
        options = options.environment(environment);
    }
    Some(sentry::init(options))
}

/// Sends `message` with `tags` (a no-op when Sentry is off). Tags must be bounded, non-secret
/// values: names, ids, statuses, reasons.
pub fn capture(message: &str, level: Level, tags: &[(&str, &str)]) {
    sentry::with_scope(
        |scope| {
            for (key, value) in tags {
                scope.set_tag(key, value);
            }
        },
        || sentry::capture_message(message, level),
    );
}
