//! Svix: the Standard Webhooks scheme under `svix-id`, `svix-timestamp` and `svix-signature`
//! (the `webhook-` family is read too when the `svix-` one is absent). Its tests live with
//! [`super::standard_webhooks`], which covers both families.

use super::description::{Family, Provider};
use super::schemes::standard_webhooks::StandardWebhooks;

/// Standard Webhooks' description under another name and header family.
pub const PROVIDER: Provider = Provider {
    name: "svix",
    build: |secrets, public_keys, o| {
        Ok(Box::new(StandardWebhooks::build(
            "svix",
            secrets,
            public_keys,
            o,
        )?))
    },
    // The `public_keys` fuzz target reaches `v1a` through `standard-webhooks` alone.
    families: &[Family::SignatureList],
    ..super::standard_webhooks::PROVIDER
};
