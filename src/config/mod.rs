//! The configuration: one TOML file read into typed values (SPEC section 4).
//!
//! Everything the gateway needs is parsed and checked here, once, so the rest of the crate never
//! re-validates a string (the typed values: `model.rs`). [`Config::load`] reads the file and the
//! process environment; [`Config::from_str_with_env`] is the pure core the tests (and
//! `hookwall check`) use.
//!
//! Loading never stops at the first mistake: every error found in one pass is returned in
//! [`ConfigErrors`], each naming the key's place (`sources.github.rate_limit.per_secnd`), its line
//! and the fix. No error and no warning ever contains a secret value.
//!
//! The rooms, from the bottom up (each imports only those above it in this list):
//! - `units.rs`, `frontdoor.rs`: durations and sizes; client blocks. `error.rs`: the errors and
//!   the rules' findings. `model.rs`: the typed values. `env.rs`: `${VAR}` interpolation.
//! - `forms.rs`: the form of one value (names, paths, URLs, header names, addresses).
//! - `reader.rs` (+ `reader/typed.rs`): the spanned-TOML walk, places, lines, did-you-mean and
//!   the typed value readers.
//! - `rules/`: pure functions from typed values to findings (fail closed, proxy mode, unique
//!   names and routes, each source's preset, warnings).
//! - `schema/`: each section's keys, defaults and readers (`server`, `storage`, `sources` with
//!   `[defaults]`, `destinations` with `retry`).
//! - `load.rs`: composes them: syntax, the sections, the rules over the whole file.
//! - `files.rs`: what the file names on disk (schema files, the SQLite path).
//!
//! Choices made where the SPEC is silent, for the whole file (each section's own are in its
//! `schema/` file, the rules' in `rules/`):
//! - **Interpolation** runs on string *values* after TOML parsing (see `env.rs`). Numbers and
//!   booleans may also be written as strings (`max_in_flight = "${MAX:-4096}"`).
//! - **Secret-bearing keys** (`secrets`, `public_keys`, `admin_token`, `signing_secret`,
//!   `verify_token`, and `smtp_url` / `storage.url` when they carry a password) that fall back to
//!   a non-empty `:-default` add a warning naming the key and the variable to set, never the
//!   value.
//! - **Paths.** One rule: a relative `schema` and a relative `sqlite://` path are resolved
//!   against the directory of the config file (never the working directory), so a config finds
//!   the same files wherever the process starts; `sqlite:///abs/path` is absolute. [`Config::load`]
//!   reads and compiles each schema file so a bad one is reported with the other errors;
//!   [`Config::from_str_with_env`] stays pure.
//! - **Presets** are built while loading (pure), so a preset's own errors come with the others,
//!   and a timestamp the signature does not cover is refused (see `rules/preset.rs`).
//! - **Limits.** Durations are at most 100 years; every count has a range, so no value can make a
//!   semaphore panic.
//! - **Messages** quote a value only when it was written in the file (cut to 40 characters); a
//!   value built from `${VAR}` is referred to by its variables' names, since an environment value
//!   may be a secret put under the wrong key. TOML syntax errors give line and column, never the
//!   line's text.
//! - `Debug` of the model shows secrets as `[REDACTED]` and URLs with their password, and query
//!   values whose name looks like a credential, replaced by `***`.

mod env;
mod error;
mod files;
mod forms;
pub mod frontdoor;
#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzz;
pub mod json_schema;
mod load;
mod model;
mod reader;
mod rules;
mod schema;
pub mod units;

pub use error::{ConfigError, ConfigErrorKind, ConfigErrors};
pub use model::EventTypeFrom;
pub use model::{
    AdminToken, AmqpDestination, Circuit, Config, DedupMode, Destination, DestinationKind,
    EmailDestination, Filter, HttpDestination, Mode, NatsDestination, Quarantine, RateLimit,
    RedisDestination, Retry, Role, Server, Source, Storage, StoreUrl, redact_url,
};

pub use crate::providers::Overrides;

#[cfg(test)]
mod tests;
