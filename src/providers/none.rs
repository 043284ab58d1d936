//! `provider = "none"`: nothing is verified. The configuration insists on `allow_ips` for such a
//! source and warns loudly; the pipeline then stores whatever the allowed clients send.

use http::HeaderName;

use super::contract::{Inbound, Scheme, SignError, SignedHeaders, VerifyError};
use super::description::{Bodies, EventTypeRule, Family, IdRule, Keys, Provider};

pub const PROVIDER: Provider = Provider {
    name: "none",
    keys: Keys::Nothing,
    bodies: Bodies::JSON_FORM_OR_NDJSON,
    id: IdRule::NONE,
    event_type: EventTypeRule::None,
    sniffs_gzip: false,
    handshake: None,
    build: |_, _, _| Ok(Box::new(NoCheck)),
    families: &[Family::Credential],
};

/// Accepts every request; signs nothing.
#[derive(Debug)]
pub struct NoCheck;

impl Scheme for NoCheck {
    fn verify(&self, _: &Inbound<'_>) -> Result<(), VerifyError> {
        Ok(())
    }

    /// Like a credential, the absence of one covers every header alike.
    fn binds_id_header(&self, _: &HeaderName) -> bool {
        true
    }

    fn sign(&self, _: &[u8], _: i64, _: &str) -> Result<SignedHeaders, SignError> {
        Ok(Vec::new())
    }
}
