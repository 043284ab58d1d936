//! Svix: the Standard Webhooks scheme under `svix-id`, `svix-timestamp` and `svix-signature`
//! (the `webhook-` family is read too when the `svix-` one is absent). Its tests live with
//! [`super::standard_webhooks`], which covers both families.

use super::description::{Bodies, Family, IdRule, Keys, Provider};
use super::schemes::standard_webhooks::StandardWebhooks;

pub const PROVIDER: Provider = Provider {
    name: "svix",
    keys: Keys::SecretsOrPublicKeys,
    bodies: Bodies::JSON,
    id: IdRule::NONE,
    sniffs_gzip: false,
    handshake: None,
    build: |secrets, public_keys, o| {
        Ok(Box::new(StandardWebhooks::build(
            "svix",
            secrets,
            public_keys,
            o,
        )?))
    },
    families: &[Family::SignatureList, Family::PublicKey],
};
