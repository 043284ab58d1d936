//! The schema of the file, one section per file: the keys each table accepts, their defaults
//! and how each is read into the typed model. A key is added in one place: its section's file
//! (and docs/configuration.md, which a test holds to these lists).
//!
//! Section readers stand on the reader (`super::reader`) and the value forms
//! (`super::forms`); the per-source rules (`super::rules`) are called by the sources reader once
//! the values they judge are read. No section imports the loader; `sources` reads its `destinations`
//! with that section, and both read `rate_limit` (and destinations `filter`) with theirs.

pub(crate) mod admin_tokens;
pub(crate) mod destination_type;
pub(crate) mod destinations;
pub(crate) mod filter;
pub(crate) mod quarantine;
pub(crate) mod queues;
pub(crate) mod rate_limit;
pub(crate) mod server;
pub(crate) mod sources;
pub(crate) mod storage;

/// The tables of the file.
pub(crate) const TOP_KEYS: &[&str] = &["server", "storage", "quarantine", "defaults", "sources"];
