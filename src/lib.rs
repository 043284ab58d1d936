//! hookwall: an inbound webhook gateway.
//!
//! How a webhook flows through the crate:
//!
//! 1. [`app`] binds the public listener and serves each connection with hyper (header timeout,
//!    header count and size limits) into the router of [`pipeline::stack`].
//! 2. [`pipeline::stack`] runs the checks of SPEC section 1 in the order it gives once,
//!    [`pipeline::stack::STEPS`], each check in a module of [`pipeline`] of its own (signature
//!    and timestamp in [`pipeline::verify`], which calls the pure presets in [`providers`]);
//!    [`pipeline::observe`] logs, counts and reports every request.
//! 3. [`pipeline::accept`] builds the [`event::NewEvent`] (only possible from the
//!    [`event::Authenticated`] proof the verify step leaves), de-duplicates and stores it in one
//!    atomic insert through the [`store::Store`] trait ([`store::SqliteStore`] group-commits with `synchronous=FULL`), and
//!    only then answers the provider `202`; a `mode = "proxy"` source's event is stored and
//!    forwarded at once by [`delivery::proxy`].
//! 4. [`delivery`] workers claim due deliveries with a lease, POST (or mail) each event to its
//!    destinations, and record the outcome under the retry policy ([`delivery::record`], shared
//!    with proxy mode); dead deliveries wait for a replay.
//!
//! With traces on (`OTEL_EXPORTER_OTLP_ENDPOINT`), [`pipeline::trail`] makes a span per request
//! and per step it reached, the event keeps the request span's `traceparent`
//! ([`http::traceparent`]), and [`delivery::trace`] makes each attempt's span, linked to it;
//! [`telemetry::traces`] exports them over OTLP/HTTP without ever holding a request.
//!
//! [`config`] turns the TOML file into typed settings (and refuses anything unsafe) before any
//! of this starts; [`cli`] is the `hookwall` command; [`clock`] is the one reading of the wall
//! clock.
//!
//! The parsers of untrusted input ([`providers`], [`pipeline::client_ip`], [`pipeline::body`],
//! [`pipeline::payload`], [`config`]) build without the `server` feature, which brings the
//! listeners, store, delivery, telemetry and CLI: `fuzz/` links only them. Their fuzz entry
//! points sit next to them (`pipeline::fuzz`, `providers::fuzz`, `config::fuzz`), compiled only
//! with the `fuzzing` feature (fuzz/ and the tests turn it on); `fuzzing` lists them.

// `deny`, not `forbid`: one module (`store::nodelay`) allows it, for two `fcntl` calls.
#![deny(unsafe_code)]

#[cfg(feature = "server")]
pub mod admin;
#[cfg(feature = "server")]
pub mod app;
#[cfg(feature = "server")]
pub mod cli;
pub mod clock;
pub mod config;
#[cfg(feature = "server")]
pub mod console;
#[cfg(feature = "server")]
pub mod delivery;
pub mod event;
#[cfg(any(test, feature = "fuzzing"))]
#[doc(hidden)]
pub mod fuzzing;
pub mod http;
#[cfg(feature = "server")]
pub mod live;
pub mod pipeline;
pub mod providers;
#[cfg(feature = "server")]
pub mod quarantine;
#[cfg(feature = "server")]
pub mod store;
#[cfg(feature = "server")]
pub mod telemetry;
