//! Verification presets: the registry of providers, one file each.
//!
//! Each provider file (`github.rs`, `stripe.rs`, …) holds everything hookwall knows about that
//! provider as one description value (`pub const PROVIDER: Provider`, see [`Provider`]): keys,
//! bodies, id rule, event type rule, gzip sniffing, handshake, how to build its verifier and signer, fuzz
//! families. [`REGISTRY`] lists them; every other list of providers ([`KNOWN`], which sources
//! take public keys, the fuzz families) is derived from it. Adding a provider is one file, one
//! line in [`REGISTRY`], its vectors and its docs.
//!
//! Imports point one way, down: this registry and [`Preset`] → provider files → `schemes/`
//! (HMAC, Stripe-like, Standard Webhooks, token, public keys) → `primitives.rs` → `contract.rs`.
//! Nothing here does I/O or reads the clock: the caller passes `now`, so every scheme is tested
//! against the SDK-made vectors in `../shared/vectors/` and can be fuzzed without a server.
//! Nothing here imports from the pipeline, delivery, admin or the CLI.

mod contract;
mod description;
mod preset;
mod primitives;
pub mod schemes;

pub mod bitbucket;
pub mod brightdata;
pub mod discord;
pub mod fingerprint;
#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzz;
pub mod github;
pub mod gitlab;
pub mod hmac;
pub mod intercom;
pub mod linear;
pub mod mailgun;
pub mod none;
pub mod paddle;
pub mod particle;
pub mod sendgrid;
pub mod shopify;
pub mod slack;
pub mod square;
pub mod standard_webhooks;
pub mod stripe;
pub mod svix;
pub mod token;
pub mod twilio;
pub mod typeform;
pub mod zoom;

#[cfg(test)]
mod conformance;
#[cfg(test)]
mod testing;
#[cfg(test)]
pub(crate) mod vectors;

use secrecy::SecretString;

pub use contract::{
    Algorithm, Inbound, MAX_SIGNATURES, Outbound, Overrides, PresetError, Scheme, SignError,
    VerifyError,
};
pub use description::{
    Bodies, BodyKind, Build, DerivedId, EventTypeRule, Family, Handshake, IdRule, Keys, Provider,
};
pub use preset::{EventId, Preset, Verified};
pub use primitives::credential_eq;

/// Every provider, in the order [`KNOWN`] lists them (the order error messages show).
pub const REGISTRY: &[&Provider] = &[
    &standard_webhooks::PROVIDER,
    &svix::PROVIDER,
    &github::PROVIDER,
    &stripe::PROVIDER,
    &slack::PROVIDER,
    &shopify::PROVIDER,
    &particle::PROVIDER,
    &brightdata::PROVIDER,
    &bitbucket::PROVIDER,
    &gitlab::PROVIDER,
    &intercom::PROVIDER,
    &linear::PROVIDER,
    &mailgun::PROVIDER,
    &paddle::PROVIDER,
    &typeform::PROVIDER,
    &square::PROVIDER,
    &twilio::PROVIDER,
    &zoom::PROVIDER,
    &discord::PROVIDER,
    &sendgrid::PROVIDER,
    &hmac::PROVIDER,
    &token::PROVIDER,
    &none::PROVIDER,
];

/// Every provider name [`Preset::build`] accepts: the names of [`REGISTRY`], in its order.
pub const KNOWN: &[&str] = &NAMES;

const NAMES: [&str; REGISTRY.len()] = {
    let mut names = [""; REGISTRY.len()];
    let mut i = 0;
    while i < REGISTRY.len() {
        names[i] = REGISTRY[i].name;
        i += 1;
    }
    names
};

/// The providers of each fuzz family, as the `&[&str]` lists the fuzz targets pick from (in
/// registry order; the same as [`family`]).
pub const SIGNATURE_LIST_PROVIDERS: &[&str] =
    &family_names::<{ family_size(Family::SignatureList) }>(Family::SignatureList);
pub const HMAC_HEADER_PROVIDERS: &[&str] =
    &family_names::<{ family_size(Family::HmacHeader) }>(Family::HmacHeader);
pub const URL_AND_BODY_PROVIDERS: &[&str] =
    &family_names::<{ family_size(Family::UrlAndBody) }>(Family::UrlAndBody);
pub const PUBLIC_KEY_PROVIDERS: &[&str] =
    &family_names::<{ family_size(Family::PublicKey) }>(Family::PublicKey);
pub const CREDENTIAL_PROVIDERS: &[&str] =
    &family_names::<{ family_size(Family::Credential) }>(Family::Credential);

const fn in_family(provider: &Provider, family: Family) -> bool {
    let mut i = 0;
    while i < provider.families.len() {
        if provider.families[i] as u8 == family as u8 {
            return true;
        }
        i += 1;
    }
    false
}

const fn family_size(family: Family) -> usize {
    let (mut size, mut i) = (0, 0);
    while i < REGISTRY.len() {
        if in_family(REGISTRY[i], family) {
            size += 1;
        }
        i += 1;
    }
    size
}

const fn family_names<const N: usize>(family: Family) -> [&'static str; N] {
    let mut names = [""; N];
    let (mut n, mut i) = (0, 0);
    while i < REGISTRY.len() {
        if in_family(REGISTRY[i], family) {
            names[n] = REGISTRY[i].name;
            n += 1;
        }
        i += 1;
    }
    names
}

/// Every provider description.
pub fn all() -> impl Iterator<Item = &'static Provider> {
    REGISTRY.iter().copied()
}

/// The description of the provider named `name` (a source's `provider = "…"`).
pub fn find(name: &str) -> Option<&'static Provider> {
    all().find(|provider| provider.name == name)
}

/// The names of the providers the fuzz target of `family` exercises, in registry order.
pub fn family(family: Family) -> Vec<&'static str> {
    all()
        .filter(|provider| provider.in_family(family))
        .map(|provider| provider.name)
        .collect()
}

impl Preset {
    /// The preset of the provider named `provider` for a source's keys and overrides.
    pub fn build(
        provider: &str,
        secrets: &[SecretString],
        public_keys: &[String],
        o: &Overrides,
    ) -> Result<Preset, PresetError> {
        let description = find(provider).ok_or_else(|| PresetError::UnknownProvider {
            name: provider.to_owned(),
            known: KNOWN,
        })?;
        Preset::from_description(description, secrets, public_keys, o)
    }
}

#[cfg(test)]
mod tests;
