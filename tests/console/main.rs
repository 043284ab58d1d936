//! The operator console (SPEC section 11), black-box: a real server on real ports with a real
//! SQLite file. `http`, `access` and `refusals` drive it with plain HTTP (headers, redirects,
//! cookies, CSRF, roles, the audit trail, the quarantine), so those run everywhere; `browser`
//! drives a real headless Chromium through chromedriver and is skipped, saying so, where they
//! are not installed.

mod access;
mod browser;
#[path = "../support/downstream.rs"]
mod downstream;
#[path = "../api/helpers.rs"]
#[allow(dead_code)]
mod helpers;
mod http;
mod refusals;
mod session;
#[path = "../support/vectors.rs"]
mod vectors;
