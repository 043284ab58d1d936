//! The index of the fuzz entry points, so each target in `fuzz/fuzz_targets/` is one line
//! (`hookwall::fuzzing::body(data)`) and the property tests reach them all in one place. Each
//! entry point lives next to the parser it fuzzes; this module only re-exports them, and is
//! compiled only with the `fuzzing` feature (fuzz/ and the tests turn it on).

pub use crate::pipeline::fuzz::{
    body, check_request, client_ip, config, credentials, framing, hmac_headers, public_keys,
    received_query, signature_lists, source, urls_and_bodies,
};
pub use crate::providers::fuzz::{
    CREDENTIALS, FAMILIES, HMAC_HEADERS, PUBLIC_KEYS, SIGNATURE_LISTS, URLS_AND_BODIES,
};
