//! Property tests of the pure parsers (proptest): what `hookwall send` signs, the gateway
//! accepts; a single changed byte of a signed body or of its signature is refused; and no input
//! makes a parser panic. The `hookwall::fuzzing` entry points, which the cargo-fuzz targets
//! drive, run here too, on arbitrary bytes, so their assertions hold in every `cargo test`.
//!
//! Verification goes through `Verify::check`, the function the pipeline calls, so `public_url`
//! and the request's query are joined exactly as in production.

use std::net::IpAddr;

use base64::Engine;
use hookwall::config::units::{MAX_DURATION, parse_duration, parse_size};
use hookwall::fuzzing;
use hookwall::pipeline::CompiledSource;
use hookwall::pipeline::client_ip::{canonical, forwarded_https, resolve};
use hookwall::pipeline::payload::depth_exceeding;
use hookwall::pipeline::verify::Verify;
use hookwall::providers::stripe::{STRIPE, parse_header};
use hookwall::providers::{Overrides, Preset};
use http::{HeaderMap, HeaderName, HeaderValue};
use ipnet::IpNet;
use proptest::prelude::*;
use proptest::sample::{Index, select};
use secrecy::SecretString;

/// Every preset that can sign a request (`Preset::sign_request`), and the header that carries
/// its signature or credential. Discord and SendGrid hold only public keys; `none` signs nothing.
const SIGNERS: &[(&str, &str)] = &[
    ("standard-webhooks", "webhook-signature"),
    ("svix", "svix-signature"),
    ("github", "x-hub-signature-256"),
    ("stripe", "stripe-signature"),
    ("slack", "x-slack-signature"),
    ("shopify", "x-shopify-hmac-sha256"),
    ("particle", "authorization"),
    ("brightdata", "authorization"),
    ("bitbucket", "x-hub-signature"),
    ("gitlab", "webhook-signature"),
    ("intercom", "x-hub-signature"),
    ("linear", "linear-signature"),
    ("mailgun", ""),
    ("paddle", "paddle-signature"),
    ("typeform", "typeform-signature"),
    ("square", "x-square-hmacsha256-signature"),
    ("twilio", "x-twilio-signature"),
    ("zoom", "x-zm-signature"),
    ("hmac", "x-signature"),
    ("token", "authorization"),
];

/// SendGrid's verification key of the provider vectors (base64 DER), for a SendGrid preset.
const SENDGRID_KEY: &str = "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE5Sx7NyKEEQwU2CGG5GE3GgK18MY56qFnqhQDOEBDx/Wsr7dLqpu/QFAHU8lE4R6c9la0/FMJkKP6rFXWePIx6w==";

/// Presets whose signature does not cover the body: a changed body still verifies, by design.
/// Mailgun signs only `timestamp + token` (docs/security.md, known limits); the credential
/// presets (and GitLab without a signing token) compare a header and sign nothing.
const BODY_UNSIGNED: &[&str] = &["mailgun", "particle", "brightdata", "token"];

/// One signing setup: a preset with its key material and overrides, and a body it may send.
#[derive(Debug, Clone)]
struct Setup {
    provider: &'static str,
    signature_header: &'static str,
    secret: String,
    overrides: OverridesSpec,
    body: Vec<u8>,
    now: i64,
    id: String,
}

/// The overrides of the generic `hmac` preset (and `public_url` for Twilio and Square).
#[derive(Debug, Clone, Default)]
struct OverridesSpec {
    algorithm: Option<&'static str>,
    encoding: Option<&'static str>,
    prefix: Option<String>,
    signed_payload: Option<&'static str>,
    public_url: Option<String>,
}

impl Setup {
    fn signs_body(&self) -> bool {
        !BODY_UNSIGNED.contains(&self.provider) && self.signature_header != "x-gitlab-token"
    }

    fn preset(&self) -> (Preset, Option<String>) {
        let o = &self.overrides;
        let generic = self.provider == "hmac";
        let overrides = Overrides {
            signature_header: generic.then(|| "X-Signature".to_owned()),
            algorithm: o.algorithm.map(str::to_owned),
            encoding: o.encoding.map(str::to_owned),
            prefix: o.prefix.clone(),
            signed_payload: o.signed_payload.map(str::to_owned),
            timestamp_header: (generic
                && o.signed_payload.is_some_and(|t| t.contains("{timestamp}")))
            .then(|| "X-Timestamp".to_owned()),
            id_header: (generic && o.signed_payload.is_some_and(|t| t.contains("{id}")))
                .then(|| "X-Id".to_owned()),
            public_url: o.public_url.clone(),
            ..Overrides::default()
        };
        let secrets = [SecretString::from(self.secret.clone())];
        let preset = Preset::build(self.provider, &secrets, &[], &overrides)
            .unwrap_or_else(|err| panic!("{}: {err}", self.provider));
        (preset, overrides.public_url)
    }

    /// The request the preset signs, as the gateway receives it when the provider calls
    /// `public_url`: headers, query, body.
    fn signed(&self, source: &CompiledSource) -> (HeaderMap, Option<String>, Vec<u8>) {
        let out = source
            .preset
            .sign_request(self.body.clone(), self.now, &self.id)
            .unwrap_or_else(|err| panic!("{}: {err}", self.provider));
        let mut headers = HeaderMap::new();
        for (name, value) in out.headers {
            headers.insert(
                name,
                HeaderValue::from_str(&value).expect("a signed header is a valid header value"),
            );
        }
        let query = fuzzing::received_query(source.public_url.as_deref(), out.query.as_deref());
        (headers, query, out.body)
    }
}

fn check(
    source: &CompiledSource,
    headers: &HeaderMap,
    query: Option<&str>,
    body: &[u8],
    now: i64,
) -> Result<(), String> {
    Verify::check(source, headers, query, body, now).map_err(|r| r.detail)
}

/// What Twilio signs of a form post besides the URL: the parameters decoded, sorted by name and
/// value, and concatenated with no separators. `None` for a JSON post, whose signed URL binds
/// the body's bytes through `bodySHA256`, and for a body that is not a form.
fn twilio_form_signs(query: Option<&str>, body: &[u8]) -> Option<String> {
    if query.is_some_and(|q| q.contains("bodySHA256=")) {
        return None;
    }
    let mut params: Vec<(String, String)> = serde_urlencoded::from_bytes(body).ok()?;
    params.sort();
    Some(params.into_iter().map(|(k, v)| k + &v).collect())
}

fn source(setup: &Setup) -> CompiledSource {
    let (preset, public_url) = setup.preset();
    fuzzing::source(preset, public_url)
}

/// Linear's freshness comes from `webhookTimestamp` (ms) in the body it signs.
fn linear_body(now: i64) -> impl Strategy<Value = Vec<u8>> {
    json_object().prop_map(move |mut object| {
        object.insert("webhookTimestamp".into(), (now * 1000).into());
        serde_json::Value::Object(object).to_string().into_bytes()
    })
}

fn json_object() -> impl Strategy<Value = serde_json::Map<String, serde_json::Value>> {
    prop::collection::btree_map(
        "[a-zA-Z_]{1,12}",
        prop_oneof![
            any::<i64>().prop_map(serde_json::Value::from),
            "\\PC{0,24}".prop_map(serde_json::Value::from),
            any::<bool>().prop_map(serde_json::Value::from),
        ],
        0..6,
    )
    .prop_map(|map| map.into_iter().collect())
}

fn json_body() -> impl Strategy<Value = Vec<u8>> {
    json_object().prop_map(|o| serde_json::Value::Object(o).to_string().into_bytes())
}

fn form_body() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(("[a-zA-Z]{1,8}", "\\PC{0,16}"), 0..6).prop_map(|pairs| {
        serde_urlencoded::to_string(pairs)
            .expect("pairs encode")
            .into_bytes()
    })
}

/// A secret as an operator pastes it: visible ASCII, no surrounding whitespace (which the
/// config warns about).
fn plain_secret() -> impl Strategy<Value = String> {
    "[!-~]{1,48}"
}

/// A Standard Webhooks secret: `whsec_` and the base64 of 1–64 random bytes.
fn whsec() -> impl Strategy<Value = String> {
    prop::collection::vec(any::<u8>(), 1..64).prop_map(|key| {
        format!(
            "whsec_{}",
            base64::engine::general_purpose::STANDARD.encode(key)
        )
    })
}

fn setup() -> impl Strategy<Value = Setup> {
    (
        select(SIGNERS),
        1_000_000_000i64..4_000_000_000,
        "[A-Za-z0-9_.-]{1,40}",
    )
        .prop_flat_map(|((provider, signature_header), now, id)| {
            let secret = match provider {
                "standard-webhooks" | "svix" => whsec().boxed(),
                "gitlab" => prop_oneof![whsec(), plain_secret()].boxed(),
                _ => plain_secret().boxed(),
            };
            let body = match provider {
                "linear" => linear_body(now).boxed(),
                "mailgun" => prop_oneof![json_body(), form_body()].boxed(),
                "twilio" => prop_oneof![json_body(), form_body()].boxed(),
                _ => prop::collection::vec(any::<u8>(), 0..512).boxed(),
            };
            let overrides = match provider {
                "hmac" => (
                    select(&["sha1", "sha256", "sha512"][..]),
                    select(&["hex", "base64"][..]),
                    "[a-z0-9]{0,6}=?",
                    select(
                        &[
                            "{body}",
                            "{timestamp}.{body}",
                            "v0:{timestamp}:{id}:{body}",
                            "{url}{body}",
                        ][..],
                    ),
                )
                    .prop_map(|(algorithm, encoding, prefix, template)| OverridesSpec {
                        algorithm: Some(algorithm),
                        encoding: Some(encoding),
                        prefix: Some(prefix),
                        signed_payload: Some(template),
                        public_url: template
                            .contains("{url}")
                            .then(|| "https://example.com/hooks/generic".to_owned()),
                    })
                    .boxed(),
                "twilio" | "square" => "/[a-z]{1,12}(\\?[a-z]{1,5}=[a-z0-9]{1,5})?"
                    .prop_map(|path| OverridesSpec {
                        public_url: Some(format!("https://example.com{path}")),
                        ..OverridesSpec::default()
                    })
                    .boxed(),
                _ => Just(OverridesSpec::default()).boxed(),
            };
            (secret, body, overrides).prop_map(move |(secret, body, overrides)| Setup {
                provider,
                // GitLab without a `whsec_` signing token compares `X-Gitlab-Token`.
                signature_header: if provider == "gitlab" && !secret.starts_with("whsec_") {
                    "x-gitlab-token"
                } else {
                    signature_header
                },
                secret,
                overrides,
                body,
                now,
                id: id.clone(),
            })
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn a_request_a_preset_signs_is_accepted(setup in setup()) {
        let source = source(&setup);
        let (headers, query, body) = setup.signed(&source);
        prop_assert_eq!(check(&source, &headers, query.as_deref(), &body, setup.now), Ok(()));
    }

    #[test]
    fn a_signed_body_with_one_byte_changed_is_refused(
        setup in setup().prop_filter("the body is signed", Setup::signs_body),
        at in any::<Index>(),
        flip in 1u8..=255,
    ) {
        let source = source(&setup);
        let (headers, query, mut body) = setup.signed(&source);
        prop_assume!(!body.is_empty());
        let at = at.index(body.len());
        let original = body.clone();
        body[at] ^= flip;
        // Twilio signs a form post's parameters decoded, not its bytes: a change that decodes
        // to the same (`%3C` for `%3c`) is the same signed request, for Twilio as for hookwall.
        if setup.provider == "twilio" {
            let signed = twilio_form_signs(query.as_deref(), &original);
            prop_assume!(signed.is_none() || signed != twilio_form_signs(query.as_deref(), &body));
        }
        prop_assert!(check(&source, &headers, query.as_deref(), &body, setup.now).is_err());
    }

    #[test]
    fn a_signature_with_one_byte_changed_is_refused(
        setup in setup().prop_filter("the signature is in a header", |s| !s.signature_header.is_empty()),
        at in any::<Index>(),
        replacement in any::<u8>(),
    ) {
        let source = source(&setup);
        let (mut headers, query, body) = setup.signed(&source);
        let name = HeaderName::from_static(setup.signature_header);
        let mut value = headers.get(&name).expect("the signature header is sent").as_bytes().to_vec();
        let at = at.index(value.len());
        prop_assume!(value[at] != replacement);
        let original = value.clone();
        value[at] = replacement;
        // Hex digits and scheme names (`Bearer`, `sha256=`) are case-insensitive: a case change
        // is the same signature, not a different one.
        prop_assume!(!value.eq_ignore_ascii_case(&original));
        // What hyper would refuse (a control byte) never reaches a preset.
        let Ok(changed) = HeaderValue::from_bytes(&value) else { return Ok(()) };
        headers.insert(name, changed);
        prop_assert!(check(&source, &headers, query.as_deref(), &body, setup.now).is_err());
    }

    #[test]
    fn a_mailgun_signature_in_the_body_with_one_byte_changed_is_refused(
        setup in setup().prop_filter("mailgun", |s| s.provider == "mailgun"),
        at in any::<Index>(),
        replacement in any::<u8>(),
    ) {
        // Mailgun's signature is the hex `signature` field of the body (the only run of 64 hex
        // digits in it: the generated fields are shorter): change a byte of it.
        let source = source(&setup);
        let (headers, query, body) = setup.signed(&source);
        let text = String::from_utf8(body.clone()).expect("signed bodies are text");
        let signature = text
            .split(|c: char| !c.is_ascii_hexdigit())
            .find(|run| run.len() == 64)
            .expect("a 64-digit hex signature in the body");
        let start = text.find(signature).expect("found above");
        let at = start + at.index(signature.len());
        let mut changed = body.clone();
        prop_assume!(changed[at] != replacement && !changed[at].eq_ignore_ascii_case(&replacement));
        changed[at] = replacement;
        prop_assert!(check(&source, &headers, query.as_deref(), &changed, setup.now).is_err());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn no_stripe_or_paddle_signature_header_panics_the_parser(value in "\\PC{0,200}") {
        let _ = parse_header(&STRIPE, &value);
        let _ = parse_header(&hookwall::providers::paddle::PADDLE, &value);
    }

    #[test]
    fn no_header_value_panics_any_preset(
        provider in select(hookwall::providers::KNOWN),
        values in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..120), 1..4),
        body in prop::collection::vec(any::<u8>(), 0..256),
        now in any::<i64>(),
    ) {
        // Every header any preset reads, set to arbitrary bytes (as hyper delivers obs-text).
        let names = [
            "webhook-signature", "webhook-timestamp", "webhook-id", "svix-signature",
            "svix-timestamp", "svix-id", "stripe-signature", "paddle-signature",
            "x-hub-signature-256", "x-hub-signature", "x-slack-signature",
            "x-slack-request-timestamp", "x-shopify-hmac-sha256", "authorization",
            "linear-signature", "typeform-signature", "x-square-hmacsha256-signature",
            "x-twilio-signature", "x-twilio-webhooks-signature-settings", "x-zm-signature",
            "x-zm-request-timestamp", "x-signature-ed25519", "x-signature-timestamp",
            "x-twilio-email-event-webhook-signature", "x-twilio-email-event-webhook-timestamp",
            "x-gitlab-token", "x-signature", "content-type",
        ];
        let mut headers = HeaderMap::new();
        for (i, name) in names.iter().enumerate() {
            let value = &values[i % values.len()];
            if let Ok(value) = HeaderValue::from_bytes(value) {
                headers.append(*name, value);
            }
        }
        let overrides = Overrides {
            signature_header: matches!(provider, "hmac").then(|| "X-Signature".to_owned()),
            public_url: Some("https://example.com/hooks/x".to_owned()),
            ..Overrides::default()
        };
        let secrets = [SecretString::from("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".to_owned())];
        let keys = match provider {
            "discord" => vec!["ea4a6c63e29c520abef5507b132ec5f9954776aebebe7b92421eea691446d22c".to_owned()],
            "sendgrid" => vec![SENDGRID_KEY.to_owned()],
            _ => Vec::new(),
        };
        let preset = Preset::build(provider, &secrets, &keys, &overrides)
            .unwrap_or_else(|err| panic!("{provider}: {err}"));
        let source = fuzzing::source(preset, overrides.public_url.clone());
        let _ = Verify::check(&source, &headers, Some("bodySHA256=00"), &body, now);
        let _ = source.preset.event_id(&headers, None);
    }

    #[test]
    fn client_ip_resolution_never_panics_and_never_leaves_the_request(
        peer in any::<IpAddr>(),
        trusted in prop::collection::vec((any::<IpAddr>(), 0u8..=128), 0..4),
        forwarded in prop::collection::vec(prop_oneof![
            "[0-9a-fA-F:.\\[\\], ]{0,80}",
            prop::collection::vec(any::<u8>(), 0..80).prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
        ], 0..4),
        proto in prop::collection::vec(any::<u8>(), 0..20),
    ) {
        let trusted: Vec<IpNet> = trusted
            .into_iter()
            .filter_map(|(ip, len)| IpNet::new(ip, if ip.is_ipv4() { len.min(32) } else { len }).ok())
            .collect();
        let mut headers = HeaderMap::new();
        for value in &forwarded {
            if let Ok(value) = HeaderValue::from_str(value) {
                headers.append("x-forwarded-for", value);
            }
        }
        if let Ok(proto) = HeaderValue::from_bytes(&proto) {
            headers.insert("x-forwarded-proto", proto);
        }
        let client = resolve(peer, &headers, &trusted);
        let https = forwarded_https(peer, &headers, &trusted);
        let peer = canonical(peer);
        if !trusted.iter().any(|net| net.contains(&peer)) {
            prop_assert_eq!(client, peer);
            prop_assert_eq!(https, None);
        }
        prop_assert_eq!(canonical(client), client);
    }

    #[test]
    fn no_text_panics_the_duration_and_size_parsers(text in "\\PC{0,40}|[0-9]{1,40}[a-zA-Z ]{0,4}") {
        if let Ok(duration) = parse_duration(&text) {
            prop_assert!(duration <= MAX_DURATION);
        }
        let _ = parse_size(&text);
    }

    #[test]
    fn durations_written_the_documented_way_read_back(
        d in 0u64..36_000, h in 0u64..24, m in 0u64..60, s in 0u64..60, ms in 0u64..1000,
    ) {
        let text = format!("{d}d{h}h{m}m{s}s{ms}ms");
        let expected = (((d * 24 + h) * 60 + m) * 60 + s) * 1000 + ms;
        prop_assert_eq!(parse_duration(&text).map(|d| d.as_millis()), Ok(u128::from(expected)));
    }

    #[test]
    fn the_depth_scan_never_panics_and_agrees_with_serde_json(
        text in prop::collection::vec(select(&[b'[', b']', b'{', b'}', b'"', b'\\', b':', b',', b'1', b' ', b'a'][..]), 0..300),
        max in 0usize..200,
    ) {
        let reported = depth_exceeding(&text, max);
        if let Some(depth) = reported {
            prop_assert!(depth > max);
        }
        if let Ok(value) = serde_json::from_slice::<serde_json::Value>(&text) {
            fn depth(v: &serde_json::Value) -> usize {
                match v {
                    serde_json::Value::Array(a) => 1 + a.iter().map(depth).max().unwrap_or(0),
                    serde_json::Value::Object(o) => 1 + o.values().map(depth).max().unwrap_or(0),
                    _ => 0,
                }
            }
            prop_assert_eq!(reported.is_some(), depth(&value) > max);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// The fuzz targets' entry points, with their own assertions, on arbitrary bytes.
    #[test]
    fn no_bytes_panic_any_fuzz_target(data in prop::collection::vec(any::<u8>(), 0..600)) {
        fuzzing::signature_lists(&data);
        fuzzing::hmac_headers(&data);
        fuzzing::urls_and_bodies(&data);
        fuzzing::public_keys(&data);
        fuzzing::credentials(&data);
        fuzzing::client_ip(&data);
        fuzzing::body(&data);
        fuzzing::config(&data);
    }

    /// The same, with inputs shaped like the targets' text format, which random bytes rarely hit.
    #[test]
    fn no_shaped_case_panics_a_signature_target(
        first in select(&["stripe", "paddle", "standard-webhooks", "svix", "github", "slack",
                          "hmac", "twilio", "mailgun", "discord", "sendgrid", "particle",
                          "gitlab", "token", "linear", "square", "zoom"][..]),
        lines in prop::collection::vec((
            select(&["@secret", "@key", "@url", "@query", "@now", "@prefix", "@signed_payload",
                     "@signature_header", "@timestamp_header", "@id_header", "@encoding",
                     "@algorithm", "@timestamp_tolerance", "stripe-signature", "webhook-id",
                     "webhook-timestamp", "webhook-signature", "x-slack-request-timestamp",
                     "x-slack-signature", "x-twilio-signature", "authorization", "x-signature",
                     "x-signature-ed25519", "x-signature-timestamp", "content-type"][..]),
            "\\PC{0,60}",
        ), 0..12),
        body in "\\PC{0,200}",
    ) {
        let mut case = format!("{first}\n");
        for (name, value) in lines {
            case.push_str(&format!("{name}: {value}\n"));
        }
        case.push('\n');
        case.push_str(&body);
        let targets: [fn(&[u8]); 5] = [fuzzing::signature_lists, fuzzing::hmac_headers,
            fuzzing::urls_and_bodies, fuzzing::public_keys, fuzzing::credentials];
        for target in targets {
            target(case.as_bytes());
        }
    }
}
