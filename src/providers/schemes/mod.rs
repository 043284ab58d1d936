//! The signature schemes several providers share, parameterised by what each provider file
//! hands them (header names, punctuation, algorithm). A scheme knows no provider by name beyond
//! the parameters it is given, and imports nothing from provider files or the registry: only
//! [`super::contract`] and [`super::primitives`].
//!
//! - [`hmac`]: one HMAC header over a template (GitHub's family, Slack, Zoom, Linear, `hmac`);
//! - [`stripe_like`]: a timestamp and a list of signatures in one header (Stripe, Paddle);
//! - [`standard_webhooks`]: `webhook-*`/`svix-*` headers, HMAC or Ed25519 (also GitLab and the
//!   HTTP destinations' signatures);
//! - [`token`]: a credential compared as sent (`token`, Bright Data, GitLab, Particle);
//! - [`public_key`] with [`ed25519`] (Discord) and [`ecdsa`] (SendGrid).

pub mod ecdsa;
pub mod ed25519;
pub mod hmac;
pub mod public_key;
pub mod standard_webhooks;
pub mod stripe_like;
pub mod token;
