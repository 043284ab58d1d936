//! hookwall: an inbound webhook gateway.
//!
//! How a webhook flows through the crate:
//!
//! 1. [`app`] binds the public listener and serves each connection with hyper (header timeout,
//!    header count and size limits) into the router of [`pipeline::stack`].
//! 2. [`pipeline::stack`] runs the checks of SPEC section 1 in order: request id and log, load
//!    shedding, client IP ([`pipeline::client_ip`]), HTTPS, allowlist, rate limit, method and
//!    content type ([`pipeline::guards`], [`pipeline::rate_limit`]), body cap and gzip
//!    ([`pipeline::body`]), signature and timestamp ([`pipeline::verify`], which calls the pure
//!    presets in [`providers`]), payload depth and schema ([`pipeline::payload`]).
//! 3. [`pipeline::accept`] de-duplicates and stores the event in one atomic insert through the
//!    [`store::Store`] trait ([`store::SqliteStore`] group-commits with `synchronous=FULL`), and
//!    only then answers the provider `202`.
//!
//! 4. [`delivery`] workers claim due deliveries with a lease, POST (or mail) each event to its
//!    destinations, and record the outcome under the retry policy; dead deliveries wait for a
//!    replay.
//!
//! [`config`] turns the TOML file into typed settings (and refuses anything unsafe) before any
//! of this starts; [`cli`] is the `hookwall` command.

#![forbid(unsafe_code)]

pub mod admin;
pub mod app;
pub mod cli;
pub mod config;
pub mod delivery;
pub mod http;
pub mod live;
pub mod pipeline;
pub mod providers;
pub mod store;
pub mod telemetry;
