//! The conformance every provider with SDK-made vectors passes, as one table: each vector gives
//! the SDK's verdict, and for each valid one the derived negatives fail: the wrong key is a
//! mismatch, a rotation (another key listed first) still passes, a flipped body byte is a
//! mismatch where the body is signed, and a request without headers misses one where the proof
//! travels in headers. A provider's own quirks are tested in its file.

use http::HeaderMap;

use super::testing::{preset_with, public_key_preset};
use super::vectors::{Vector, load};
use super::{Inbound, Overrides, Preset, VerifyError, all};

/// Another key of the kind a provider takes, for the wrong-key and rotation checks.
#[derive(Clone, Copy)]
enum OtherKey {
    Secret(&'static str),
    /// A hex Ed25519 public key (Discord).
    Ed25519,
    /// A base64 DER P-256 public key (SendGrid).
    P256,
}

struct Case {
    provider: &'static str,
    other: OtherKey,
    /// A flipped body byte must fail: the signature covers the body.
    body_signed: bool,
    /// The bit flips tried at every byte of a signed body.
    flips: &'static [u8],
    /// A request without headers must miss one: the proof travels in headers.
    proof_in_headers: bool,
}

const fn signed(provider: &'static str) -> Case {
    Case {
        provider,
        other: OtherKey::Secret("not-the-secret"),
        body_signed: true,
        flips: &[0x01, 0x20],
        proof_in_headers: true,
    }
}

const STANDARD_WEBHOOKS_KEY: &str = "whsec_b3RoZXItc2VjcmV0LWtleQ==";

const CASES: &[Case] = &[
    Case {
        other: OtherKey::Secret(STANDARD_WEBHOOKS_KEY),
        ..signed("standard-webhooks")
    },
    Case {
        other: OtherKey::Secret(STANDARD_WEBHOOKS_KEY),
        ..signed("svix")
    },
    Case {
        other: OtherKey::Secret("wrong"),
        ..signed("github")
    },
    // Not `whsec_other`: the roll vector is signed with it too.
    signed("stripe"),
    Case {
        other: OtherKey::Secret("other"),
        ..signed("slack")
    },
    Case {
        other: OtherKey::Secret("shpss_other"),
        ..signed("shopify")
    },
    Case {
        other: OtherKey::Secret("USERNAME:other"),
        body_signed: false,
        ..signed("particle")
    },
    Case {
        other: OtherKey::Secret("Bearer other"),
        body_signed: false,
        ..signed("brightdata")
    },
    signed("bitbucket"),
    signed("gitlab"),
    signed("intercom"),
    signed("linear"),
    Case {
        // Mailgun signs a timestamp and token inside the body, not the body.
        other: OtherKey::Secret("other-key"),
        body_signed: false,
        proof_in_headers: false,
        ..signed("mailgun")
    },
    signed("paddle"),
    signed("typeform"),
    signed("square"),
    Case {
        // Twilio signs the decoded form parameters: `%2B` and `%2b` are one value.
        flips: &[0x01],
        ..signed("twilio")
    },
    Case {
        other: OtherKey::Ed25519,
        ..signed("discord")
    },
    Case {
        other: OtherKey::P256,
        ..signed("sendgrid")
    },
];

/// Providers without SDK-made vectors: the generic presets, and Zoom (whose file computes its
/// requests by the documented recipe).
const WITHOUT_VECTORS: &[&str] = &["zoom", "hmac", "token", "none"];

impl Case {
    /// The preset with `keys` in the kind this provider takes, and the vector's URL.
    fn preset(&self, v: &Vector, keys: &[&str]) -> Preset {
        match self.other {
            OtherKey::Secret(_) => {
                let o = Overrides {
                    public_url: v.url.clone(),
                    ..Overrides::default()
                };
                preset_with(self.provider, keys, &o)
            }
            OtherKey::Ed25519 | OtherKey::P256 => public_key_preset(self.provider, keys),
        }
    }

    fn vector_key(&self, v: &Vector) -> String {
        match self.other {
            OtherKey::Secret(_) => v.secret.clone(),
            OtherKey::Ed25519 | OtherKey::P256 => v.public_key.clone().expect("a public key"),
        }
    }

    fn other_key(&self) -> String {
        match self.other {
            OtherKey::Secret(secret) => secret.to_owned(),
            OtherKey::Ed25519 => {
                let signer = ed25519_dalek::SigningKey::from_bytes(&[9; 32]);
                hex::encode(signer.verifying_key().as_bytes())
            }
            OtherKey::P256 => {
                "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEAtWVjHpq0UoEG2qlSRzP8z3jtfPDrS3D\
                               ikRYRqEmEVlsb+yqY4bQIiImd2CGXixzDE/q3ElmRZVcBNnfJKvqhg=="
                    .to_owned()
            }
        }
    }

    fn run(&self) {
        let provider = self.provider;
        for v in load(provider) {
            let check = |preset: &Preset, headers: &HeaderMap, body: &[u8]| {
                preset.verify(&Inbound {
                    headers,
                    body,
                    url: v.url.as_deref(),
                    now: v.verify_at,
                })
            };
            let key = self.vector_key(&v);
            let good = self.preset(&v, &[&key]);
            let result = check(&good, &v.headers, &v.body);
            match v.expect.as_str() {
                "valid" => assert_eq!(result, Ok(()), "{provider} {}", v.name),
                "stale" => assert!(
                    matches!(result, Err(VerifyError::Stale { .. })),
                    "{provider} {}: {result:?}",
                    v.name
                ),
                _ => assert!(result.is_err(), "{provider} {}: expected a refusal", v.name),
            }
            if !v.valid {
                continue;
            }
            let other = self.other_key();
            assert_eq!(
                check(&self.preset(&v, &[&other, &key]), &v.headers, &v.body),
                Ok(()),
                "{provider} {}: rotation",
                v.name
            );
            assert!(
                matches!(
                    check(&self.preset(&v, &[&other]), &v.headers, &v.body),
                    Err(VerifyError::Mismatch { .. })
                ),
                "{provider} {}: wrong key",
                v.name
            );
            if self.body_signed {
                for index in 0..v.body.len() {
                    for mask in self.flips {
                        let mut flipped = v.body.clone();
                        flipped[index] ^= *mask;
                        assert_eq!(
                            check(&good, &v.headers, &flipped),
                            Err(VerifyError::Mismatch { tried: 1 }),
                            "{provider} {}: byte {index} ^ {mask:#x}",
                            v.name
                        );
                    }
                }
            }
            if self.proof_in_headers {
                assert!(
                    matches!(
                        check(&good, &HeaderMap::new(), &v.body),
                        Err(VerifyError::Missing(_))
                    ),
                    "{provider} {}: no headers",
                    v.name
                );
            }
        }
    }
}

#[test]
fn every_provider_with_vectors_gives_the_sdks_verdicts_and_refuses_the_derived_negatives() {
    for case in CASES {
        case.run();
    }
}

#[test]
fn the_table_covers_every_registered_provider() {
    for provider in all() {
        let in_table = CASES.iter().any(|case| case.provider == provider.name);
        assert!(
            in_table != WITHOUT_VECTORS.contains(&provider.name),
            "{}: add it to the conformance table",
            provider.name
        );
    }
}
