//! Black-box tests: a real server on a real port with a real SQLite file, driven over HTTP.
//! One test binary (modules below) so the suite links once.

mod access_cli;
mod admin;
mod audit;
mod delivery;
#[path = "../support/downstream.rs"]
mod downstream;
mod email;
mod event_types;
#[path = "../support/events.rs"]
mod events;
mod handshakes;
mod hardening;
mod helpers;
mod metrics;
mod pipeline;
#[path = "../support/process.rs"]
mod process;
mod providers;
mod proxy;
mod quarantine;
mod quarantine_flood;
mod refusals_cli;
mod roles;
mod routing;
mod store;
#[path = "../support/vectors.rs"]
mod vectors;
