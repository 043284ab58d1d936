//! The entry points of the fuzz targets in `fuzz/fuzz_targets/`: one function per target, each
//! taking the fuzzer's bytes. The logic lives here so a target is three lines, and so it is
//! compiled, linted and run with the crate: the property tests in `tests/properties.rs` feed every
//! entry point arbitrary bytes, and `fuzz/` builds it without the `server` feature.
//!
//! Besides "no input panics", each entry point asserts what must hold for every input; a failed
//! assertion is a finding like a crash:
//! - a resolved client is the TCP peer, or one of the `X-Forwarded-For` hops when the peer is a
//!   trusted proxy, and never an IPv4-mapped IPv6 address;
//! - the nesting scan that runs before the JSON parser agrees with the parser about the depth
//!   of every document the parser accepts, and an accepted payload is within `max_json_depth`;
//! - an inflated gzip body never exceeds its cap; a parsed duration never exceeds 100 years;
//! - a request a preset signs itself (`hookwall send`) verifies through the same check the
//!   pipeline runs, when the body is one the provider could send.
//!
//! The signature targets read a small text format, so the provider vectors make readable seeds
//! (`fuzz/seeds.py` writes them):
//!
//! ```text
//! stripe                          the preset; any other first line picks one by its first byte
//! @secret: whsec_…                key material, repeatable: @secret, @key (public keys)
//! @url: https://example.com/h     the source's public_url; @query: the request's query string
//! @now: 1700000000                the verifier's clock (unix seconds); @id: the event id to sign
//! @prefix: sha256=                any preset override (signature_header, algorithm, encoding,
//!                                 prefix, signed_payload, timestamp_header, id_header, id_field,
//!                                 timestamp_tolerance)
//! Stripe-Signature: t=…,v1=…      the request's headers, as received
//!                                 an empty line, then the body, byte for byte
//! {"id":"evt_1"}
//! ```

use std::net::IpAddr;
use std::path::Path;
use std::sync::{Arc, OnceLock};

use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use ipnet::IpNet;
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;

use crate::config::units::{MAX_DURATION, parse_duration, parse_size};
use crate::config::{Config, DedupMode};
use crate::http::problem::Rejection;
use crate::pipeline::body::{Encoding, encoding, gunzip_capped};
use crate::pipeline::client_ip;
use crate::pipeline::payload::{self, Payload, Schema};
use crate::pipeline::verify::Verify;
use crate::pipeline::{Source, compile};
use crate::providers::{BodyKind, Overrides, Preset};

/// Timestamp-list schemes: a signed timestamp and several signatures in one header.
pub const SIGNATURE_LISTS: &[&str] = &["stripe", "paddle", "standard-webhooks", "svix"];
/// Schemes with one HMAC header (GitHub's family and the generic `hmac` with its overrides).
pub const HMAC_HEADERS: &[&str] = &[
    "github",
    "shopify",
    "slack",
    "bitbucket",
    "intercom",
    "typeform",
    "square",
    "zoom",
    "linear",
    "hmac",
];
/// Schemes that sign a URL and form parameters (Twilio) or carry the signature in the body
/// (Mailgun).
pub const URLS_AND_BODIES: &[&str] = &["twilio", "mailgun"];
/// Public-key schemes: Ed25519 (Discord, Standard Webhooks `v1a`) and ECDSA P-256 (SendGrid).
pub const PUBLIC_KEYS: &[&str] = &["discord", "sendgrid", "standard-webhooks"];
/// Credential comparisons: Basic/Bearer, a verbatim header, GitLab's token, no check at all.
pub const CREDENTIALS: &[&str] = &["particle", "brightdata", "token", "gitlab", "none"];

/// The `signature_lists` target.
pub fn signature_lists(data: &[u8]) {
    verify_request(SIGNATURE_LISTS, data);
}

/// The `hmac_headers` target.
pub fn hmac_headers(data: &[u8]) {
    verify_request(HMAC_HEADERS, data);
}

/// The `urls_and_bodies` target.
pub fn urls_and_bodies(data: &[u8]) {
    verify_request(URLS_AND_BODIES, data);
}

/// The `public_keys` target.
pub fn public_keys(data: &[u8]) {
    verify_request(PUBLIC_KEYS, data);
}

/// The `credentials` target.
pub fn credentials(data: &[u8]) {
    verify_request(CREDENTIALS, data);
}

/// One fuzz case in the text format of the module documentation.
struct Case<'a> {
    first_line: &'a [u8],
    /// `@name: value` lines, in order.
    pseudo: Vec<(String, String)>,
    headers: HeaderMap,
    body: &'a [u8],
}

/// More header lines than hyper lets through (100) are not worth reading.
const MAX_LINES: usize = 128;

impl<'a> Case<'a> {
    fn parse(data: &'a [u8]) -> Case<'a> {
        let (head, body) = match data.windows(2).position(|w| w == b"\n\n") {
            Some(end) => {
                let (head, rest) = data.split_at(end);
                (head, rest.get(2..).unwrap_or_default())
            }
            None => (data, &[][..]),
        };
        let mut lines = head.split(|b| *b == b'\n');
        let first_line = lines.next().unwrap_or_default();
        let mut pseudo = Vec::new();
        let mut headers = HeaderMap::new();
        for line in lines.take(MAX_LINES) {
            let Some(colon) = line.iter().position(|b| *b == b':') else {
                continue;
            };
            let (name, value) = line.split_at(colon);
            let value = value.get(1..).unwrap_or_default();
            // As an HTTP/1 parser does: the space after the colon is not part of the value.
            let value = value.strip_prefix(b" ").unwrap_or(value);
            if let Some(key) = name.strip_prefix(b"@") {
                pseudo.push((lossy(key), lossy(value)));
            } else if let (Ok(name), Ok(value)) =
                (HeaderName::from_bytes(name), HeaderValue::from_bytes(value))
            {
                // What hyper cannot deliver (a control byte in a value) is skipped here too.
                headers.append(name, value);
            }
        }
        Case {
            first_line,
            pseudo,
            headers,
            body,
        }
    }

    fn all(&self, key: &str) -> impl Iterator<Item = &str> {
        self.pseudo
            .iter()
            .filter(move |(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    fn one(&self, key: &str) -> Option<&str> {
        self.all(key).next()
    }
}

fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The preset named on the first line when it is one of `family`, else one chosen by the first
/// byte (so a mutated name still reaches a preset).
fn pick<'f>(family: &[&'f str], case: &Case<'_>) -> Option<&'f str> {
    let named = family
        .iter()
        .copied()
        .find(|p| p.as_bytes() == case.first_line);
    let by_byte = case
        .first_line
        .first()
        .map_or(0, |b| usize::from(*b))
        .checked_rem(family.len())
        .and_then(|i| family.get(i).copied());
    named.or(by_byte)
}

fn overrides(case: &Case<'_>) -> Overrides {
    let text = |key: &str| case.one(key).map(str::to_owned);
    Overrides {
        signature_header: text("signature_header"),
        algorithm: text("algorithm"),
        encoding: text("encoding"),
        prefix: text("prefix"),
        signed_payload: text("signed_payload"),
        timestamp_header: text("timestamp_header"),
        id_header: text("id_header"),
        id_field: text("id_field"),
        timestamp_tolerance: case
            .one("timestamp_tolerance")
            .and_then(|t| parse_duration(t).ok()),
        public_url: text("url"),
    }
}

/// A source as `pipeline::compile` makes it around `preset`, for [`Verify::check`] in the
/// targets and the property tests.
pub fn source(preset: Preset, public_url: Option<String>) -> Source {
    Source {
        name: Arc::from("fuzz"),
        path: "/hooks/fuzz".to_owned(),
        preset,
        allow_ips: Vec::new(),
        rate_limit: None,
        schema: None,
        accept_status: StatusCode::ACCEPTED,
        max_body_bytes: 1024 * 1024,
        max_json_depth: 64,
        dedup: DedupMode::Provider,
        public_url,
        require_https: false,
        destinations: Vec::new(),
        proxy: None,
        verify_token: None,
        client_prefix: crate::config::frontdoor::ClientPrefix::default(),
    }
}

/// Everything the pipeline does with a request's headers and body once they are read: the
/// content type (step 7), signature and freshness (steps 9–10, through the same
/// [`Verify::check`] as the pipeline, so `public_url` and the query are joined as in production),
/// the payload (step 11), the event id and handshakes.
fn verify_request(family: &[&str], data: &[u8]) {
    let _ = check_request(family, data);
}

/// [`verify_request`], returning the verdict of steps 9–10 (`None` when the case builds no
/// preset), so the tests can tell that the seeds reach past the signature check.
pub fn check_request(family: &[&str], data: &[u8]) -> Option<Result<(), Rejection>> {
    let case = Case::parse(data);
    let provider = pick(family, &case)?;
    let secrets: Vec<SecretString> = case
        .all("secret")
        .map(|s| SecretString::from(s.to_owned()))
        .collect();
    let keys: Vec<String> = case.all("key").map(str::to_owned).collect();
    let o = overrides(&case);
    let preset = Preset::build(provider, &secrets, &keys, &o).ok()?;
    let source = source(preset, o.public_url.clone());
    let now = case
        .one("now")
        .and_then(|n| n.trim().parse::<i64>().ok())
        .unwrap_or(1_700_000_000);
    let headers = &case.headers;
    let body = case.body;

    // Step 7 reads the content type as the guard does.
    let content_type = headers
        .get(http::header::CONTENT_TYPE)
        .map(|value| value.to_str().unwrap_or("\u{fffd}"));
    let kind = source.preset.body_kind(content_type);
    let verdict = Verify::check(&source, headers, case.one("query"), body, now);
    let parsed = kind.and_then(|kind| payload::parse(kind, body, source.max_json_depth).ok());
    let object = parsed.as_ref().and_then(Payload::object);
    let _ = source.preset.event_id(headers, object);
    let _ = source.preset.handshake(object);
    let _ = source.preset.timestamp_tolerance();
    let _ = source.preset.redacted_headers();

    let id = case.one("id").unwrap_or("evt_fuzz_1");
    signed_request_verifies(&source, &secrets, body, now, id);
    Some(verdict)
}

/// The oracle: what `hookwall send` signs, the gateway accepts. Checked only for requests a
/// provider could send: a body that is JSON or a form, a timestamp a provider could sign (0 to
/// 12 digits), header values in visible ASCII (a non-ASCII token in a header is refused as
/// malformed, which fails closed), no two signed headers under one name, secrets without
/// surrounding whitespace (a Bearer token is trimmed, so such a secret never matches: the config
/// warns about it), and a `public_url` a provider could be told to call (an http(s) URL with a
/// host, as the config requires, without a fragment, which is never sent, and without a
/// `bodySHA256` of its own).
fn signed_request_verifies(
    source: &Source,
    secrets: &[SecretString],
    body: &[u8],
    now: i64,
    id: &str,
) {
    let padded = secrets.iter().any(|s| {
        let s = s.expose_secret();
        s.trim() != s
    });
    let callable = source.public_url.as_deref().is_none_or(|url| {
        // As the config refuses (config::validate::http_url): the URL parser would drop them.
        let clean = url.trim() == url && !url.chars().any(char::is_control);
        clean
            && url::Url::parse(url).is_ok_and(|url| {
                matches!(url.scheme(), "http" | "https")
                    && url.host_str().is_some_and(|host| !host.is_empty())
                    && url.fragment().is_none()
                    && !url.query_pairs().any(|(name, _)| name == "bodySHA256")
            })
    });
    // Linear's freshness comes from the body's `webhookTimestamp` (ms), which its sender writes
    // when it signs (as `hookwall send` does): the request is signed at that time, so a
    // `timestamp_header` the source adds carries the same time as the body.
    let now = match source.preset.provider() {
        "linear" => match serde_json::from_slice::<Value>(body)
            .ok()
            .and_then(|b| b.get("webhookTimestamp")?.as_i64())
        {
            Some(ms) => ms.div_euclid(1000),
            None => return,
        },
        _ => now,
    };
    if padded
        || !callable
        || !(0..=999_999_999_999).contains(&now)
        || !sendable_body(source.preset.provider(), body)
    {
        return;
    }
    let Ok(signed) = source.preset.sign_request(body.to_vec(), now, id) else {
        return;
    };
    let mut headers = HeaderMap::new();
    for (name, value) in &signed.headers {
        let Ok(value) = HeaderValue::from_str(value) else {
            return;
        };
        if value.to_str().is_err() || headers.insert(name.clone(), value).is_some() {
            return;
        }
    }
    let query = received_query(source.public_url.as_deref(), signed.query.as_deref());
    if let Err(rejection) = Verify::check(source, &headers, query.as_deref(), &signed.body, now) {
        panic!(
            "{} refused a request it signed itself: {}",
            source.preset.provider(),
            rejection.detail
        );
    }
}

/// The query a provider's request arrives with when it calls `public_url`: that URL's own query,
/// then what the preset added to it (Twilio's `bodySHA256`), joined as the provider joins them.
pub fn received_query(public_url: Option<&str>, added: Option<&str>) -> Option<String> {
    // A `public_url` that ends in `?` has an empty query, and the provider still joins its
    // addition with `&` (`…?&bodySHA256=…`): it is kept, not dropped as no query.
    let configured = public_url
        .and_then(|url| url.split_once('?'))
        .map(|(_, query)| query);
    match (configured, added) {
        (Some(configured), Some(added)) => Some(format!("{configured}&{added}")),
        (Some(configured), None) => Some(configured.to_owned()),
        (None, added) => added.map(str::to_owned),
    }
}

fn sendable_body(provider: &str, body: &[u8]) -> bool {
    let json = serde_json::from_slice::<Value>(body).ok();
    let form = || serde_urlencoded::from_bytes::<Vec<(String, String)>>(body).ok();
    match provider {
        // Mailgun signs inside the body: a JSON object, or a form without the signature fields.
        "mailgun" => match json {
            Some(value) => value.is_object(),
            None => form().is_some_and(|pairs| {
                pairs
                    .iter()
                    .all(|(k, _)| !matches!(k.as_str(), "timestamp" | "token" | "signature"))
            }),
        },
        _ => json.is_some() || form().is_some(),
    }
}

/// The `framing` target: the bytes of one connection as the framing scanner reads them. The
/// first byte chooses how the stream is cut into reads (1 to 64 bytes each, or 1 byte at a
/// time); the oracle is that the verdicts and whether the stream was lost do not depend on the
/// cut: a request split across reads is judged as it would be in one read.
pub fn framing(data: &[u8]) {
    use crate::pipeline::framing::{Scanner, Verdicts};
    let [cut, stream @ ..] = data else {
        return;
    };
    let scan = |size: usize| {
        let verdicts = Verdicts::default();
        let mut scanner = Scanner::new(verdicts.clone());
        for piece in stream.chunks(size.max(1)) {
            scanner.feed(piece);
        }
        verdicts.pending()
    };
    let whole = scan(stream.len());
    let size = if cut & 0x80 != 0 {
        1
    } else {
        usize::from(cut % 64) + 1
    };
    assert_eq!(
        whole,
        scan(size),
        "the verdicts changed when the stream was read {size} bytes at a time"
    );
}

/// The `client_ip` target: `@peer: <ip>`, `@trusted: <cidr>` (repeatable), then headers
/// (`X-Forwarded-For`, `X-Forwarded-Proto`, …). Without `@peer`, the peer is a trusted proxy.
pub fn client_ip(data: &[u8]) {
    let case = Case::parse(data);
    let peer: IpAddr = case
        .one("peer")
        .and_then(|p| p.trim().parse().ok())
        .unwrap_or(IpAddr::from([10, 0, 0, 2]));
    let mut trusted: Vec<IpNet> = case
        .all("trusted")
        .filter_map(|t| t.trim().parse().ok())
        .collect();
    if trusted.is_empty() {
        trusted = ["10.0.0.0/8", "::1/128"]
            .iter()
            .filter_map(|net| net.parse().ok())
            .collect();
    }
    let headers = &case.headers;
    let client = client_ip::resolve(peer, headers, &trusted);
    let https = client_ip::forwarded_https(peer, headers, &trusted);

    let peer = client_ip::canonical(peer);
    assert_eq!(client_ip::canonical(client), client, "a mapped address");
    if !trusted.iter().any(|net| net.contains(&peer)) {
        assert_eq!(client, peer, "an untrusted peer named another client");
        assert_eq!(
            https, None,
            "an untrusted peer's X-Forwarded-Proto was believed"
        );
        return;
    }
    let hops: Vec<IpAddr> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|hop| {
            let hop = hop.trim();
            hop.parse::<IpAddr>()
                .ok()
                .or_else(|| hop.parse::<std::net::SocketAddr>().ok().map(|s| s.ip()))
        })
        .map(client_ip::canonical)
        .collect();
    assert!(
        client == peer || hops.contains(&client),
        "the client {client} is neither the peer nor a forwarded hop"
    );
}

/// The inflate cap of the `body` target: small, so a bomb is found cheaply.
const BODY_CAP: u64 = 256 * 1024;

/// The `body` target: byte 0 picks the body kind (bits 0–1), gzip sniffing (bit 2), the
/// `Content-Encoding` header (bits 3–4: none, gzip, identity, br) and the schema (bits 5–7);
/// byte 1 the depth limit; the rest is the body as received.
pub fn body(data: &[u8]) {
    let [flags, depth, raw @ ..] = data else {
        return;
    };
    let kind = match flags & 0b11 {
        0 => BodyKind::Json,
        1 => BodyKind::Form,
        2 => BodyKind::NdJson,
        _ => BodyKind::Opaque,
    };
    let sniff = flags & 0b100 != 0;
    let mut headers = HeaderMap::new();
    let declared = match (flags >> 3) & 0b11 {
        0 => None,
        1 => Some("gzip"),
        2 => Some("identity"),
        _ => Some("br"),
    };
    if let Some(declared) = declared {
        headers.insert(
            http::header::CONTENT_ENCODING,
            HeaderValue::from_static(declared),
        );
    }
    let max_depth = usize::from(*depth % 128) + 1;

    let decoded = match encoding(&headers, raw, sniff) {
        Ok(Encoding::Identity) => raw.to_vec(),
        Ok(Encoding::Gzip) => match gunzip_capped(raw, BODY_CAP) {
            Ok(inflated) => {
                assert!(inflated.len() as u64 <= BODY_CAP, "inflated past the cap");
                inflated
            }
            Err(_) => return,
        },
        Err(_) => return,
    };
    depth_scan_agrees_with_the_parser(&decoded);
    let Ok(payload) = payload::parse(kind, &decoded, max_depth) else {
        return;
    };
    match &payload {
        Payload::Json(value) => assert!(depth_of(value) <= max_depth, "accepted past the limit"),
        Payload::NdJson(lines) => assert!(lines.iter().all(|v| depth_of(v) <= max_depth)),
        Payload::Form(_) | Payload::Opaque => {}
    }
    let schemas = schemas();
    if let Some(schema) = schemas
        .len()
        .checked_sub(1)
        .and_then(|last| schemas.get(usize::from(flags >> 5).min(last)))
    {
        let _ = schema.check(&payload);
    }
}

/// Whenever the pipeline's parser accepts a document, the byte scan reports exactly its depth.
/// (serde_json alone keeps the last of two equal keys, whose value may be shallower than the
/// first; the pipeline refuses such a document.)
fn depth_scan_agrees_with_the_parser(text: &[u8]) {
    let Ok(value) = crate::pipeline::strict_json::from_slice(text) else {
        return;
    };
    let depth = depth_of(&value);
    assert_eq!(
        payload::depth_exceeding(text, depth),
        None,
        "the scan saw more than depth {depth}"
    );
    if let Some(below) = depth.checked_sub(1) {
        assert_eq!(
            payload::depth_exceeding(text, below),
            Some(depth),
            "the scan missed depth {depth}"
        );
    }
}

/// The nesting depth of a parsed document (serde_json stops at 128 levels, so the recursion is
/// bounded).
fn depth_of(value: &Value) -> usize {
    match value {
        Value::Array(items) => 1 + items.iter().map(depth_of).max().unwrap_or(0),
        Value::Object(map) => 1 + map.values().map(depth_of).max().unwrap_or(0),
        _ => 0,
    }
}

/// The bundled schemas and one that uses the keywords they do not, compiled once.
fn schemas() -> &'static [Schema] {
    static SCHEMAS: OnceLock<Vec<Schema>> = OnceLock::new();
    SCHEMAS.get_or_init(|| {
        let documents = [
            include_str!("../schemas/github.json"),
            include_str!("../schemas/github-push.json"),
            include_str!("../schemas/particle-event.json"),
            include_str!("../schemas/brightdata-delivery.json"),
            include_str!("../schemas/brightdata-notify.json"),
            r##"{"type": "object", "required": ["id"], "additionalProperties": false,
                "properties": {
                    "id": {"type": "string", "pattern": "^[a-z]+_[0-9A-Za-z]{1,32}$"},
                    "n": {"type": "integer", "minimum": 0, "multipleOf": 3},
                    "tags": {"type": "array", "uniqueItems": true, "maxItems": 8,
                             "items": {"enum": ["a", "b", "c"]}},
                    "at": {"type": "string", "format": "date-time"},
                    "any": {"anyOf": [{"type": "null"}, {"$ref": "#"}]}
                }}"##,
        ];
        documents
            .iter()
            .filter_map(|text| serde_json::from_str::<Value>(text).ok())
            .filter_map(|document| Schema::compile(&document).ok())
            .collect()
    })
}

/// The `config` target: the bytes as a config file (TOML, `${VAR}` interpolation, validation,
/// every source's preset built as `hookwall check` does), and each line as a duration and a size.
///
/// `${VAR}`: names starting with `UNSET` are unset, `EMPTY…` are empty, names containing `SECRET`
/// hold a Standard Webhooks secret, every other name holds `value`.
pub fn config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let env = |name: &str| {
        if name.starts_with("UNSET") {
            None
        } else if name.starts_with("EMPTY") {
            Some(String::new())
        } else if name.contains("SECRET") {
            Some("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".to_owned())
        } else {
            Some("value".to_owned())
        }
    };
    match Config::from_str_with_env(text, Path::new("/nonexistent/hookwall.toml"), &env) {
        Ok(mut config) => {
            // Schema files are read from disk when compiled: not part of the config text.
            for source in &mut config.sources {
                source.schema = None;
            }
            if let Err(errors) = compile(&config) {
                let _ = errors.join("\n");
            }
        }
        Err(errors) => {
            let _ = errors.to_string();
        }
    }
    for line in text.lines().take(MAX_LINES) {
        if let Ok(duration) = parse_duration(line) {
            assert!(duration <= MAX_DURATION, "{duration:?} is over 100 years");
        }
        let _ = parse_size(line);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::vectors::load;

    /// A provider vector in the signature targets' text format, as `fuzz/seeds.py` writes it.
    fn seed(provider: &str, v: &crate::providers::vectors::Vector) -> Vec<u8> {
        let mut text = format!("{provider}\n@now: {}\n", v.verify_at);
        if !v.secret.is_empty() {
            text.push_str(&format!("@secret: {}\n", v.secret));
        }
        if let Some(key) = &v.public_key {
            text.push_str(&format!("@key: {key}\n"));
        }
        if let Some(url) = &v.url {
            let (base, query) = url.split_once('?').unwrap_or((url, ""));
            text.push_str(&format!("@url: {base}\n"));
            if !query.is_empty() {
                text.push_str(&format!("@query: {query}\n"));
            }
        }
        let mut bytes = text.into_bytes();
        for (name, value) in &v.headers {
            bytes.extend_from_slice(name.as_str().as_bytes());
            bytes.extend_from_slice(b": ");
            bytes.extend_from_slice(value.as_bytes());
            bytes.push(b'\n');
        }
        bytes.push(b'\n');
        bytes.extend_from_slice(&v.body);
        bytes
    }

    #[test]
    fn every_valid_provider_vector_written_as_a_seed_passes_the_signature_check() {
        let families = [
            SIGNATURE_LISTS,
            HMAC_HEADERS,
            URLS_AND_BODIES,
            PUBLIC_KEYS,
            CREDENTIALS,
        ];
        let mut checked = 0;
        for family in families {
            // The generic presets and Zoom have no SDK-made vectors.
            let with_vectors = family
                .iter()
                .filter(|p| !matches!(**p, "hmac" | "token" | "none" | "zoom"));
            for provider in with_vectors {
                for v in load(provider).into_iter().filter(|v| v.valid) {
                    let verdict = check_request(family, &seed(provider, &v));
                    assert!(
                        matches!(verdict, Some(Ok(()))),
                        "{provider} {}: {verdict:?}",
                        v.name
                    );
                    checked += 1;
                }
            }
        }
        assert!(checked >= 25, "only {checked} vectors checked");
    }

    #[test]
    fn a_mutated_preset_name_still_reaches_a_preset_of_the_family() {
        for name in ["strIpe", "", "\u{0}", "zzzzzzzzzzzz"] {
            let case = format!("{name}\n@secret: whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\n\n{{}}");
            assert!(
                check_request(SIGNATURE_LISTS, case.as_bytes()).is_some(),
                "{name:?}"
            );
        }
    }

    #[test]
    fn a_linear_source_with_an_added_timestamp_header_verifies_what_it_signs() {
        // Found by the hmac_headers target in CI: the oracle signed at `@now` but checked at
        // the body's time, and the added header's tolerance was the preset's unused zero.
        let case = include_bytes!("../fuzz/seeds/hmac_headers/regression-linear-timestamp-header");
        assert!(check_request(HMAC_HEADERS, case).is_some());
    }

    #[test]
    fn a_twilio_public_url_ending_in_a_question_mark_verifies_what_it_signs() {
        // Found by the urls_and_bodies target in an independent run (shared/findings): Twilio
        // joins `bodySHA256` to a URL that has a `?` with `&`, so the request it sends to
        // `…/mt: 1234?` carries the query `&bodySHA256=…`; the oracle had dropped the empty
        // query and sent `bodySHA256=…`, which is not what was signed. A harness error: the
        // gateway verifies the request Twilio sends.
        let case = include_bytes!(
            "../fuzz/seeds/urls_and_bodies/regression-twilio-url-ending-in-question-mark"
        );
        assert!(check_request(URLS_AND_BODIES, case).is_some());
        let url = "https://example.com/hook?".to_owned();
        let secrets = [SecretString::from("secret".to_owned())];
        let overrides = Overrides {
            public_url: Some(url.clone()),
            ..Overrides::default()
        };
        let preset = Preset::build("twilio", &secrets, &[], &overrides).expect("builds");
        signed_request_verifies(&source(preset, Some(url)), &secrets, b"{}", 0, "evt");
    }

    #[test]
    fn every_framing_seed_is_judged_alike_whatever_the_reads() {
        for name in [
            "two-pipelined-with-length",
            "chunked-with-trailer-then-next",
            "length-and-chunked",
            "chunked-then-length",
            "bare-lf-head",
        ] {
            let path = format!("{}/fuzz/seeds/framing/{name}", env!("CARGO_MANIFEST_DIR"));
            let seed = std::fs::read(&path).expect("a seed");
            for cut in 0..=255u8 {
                let mut case = seed.clone();
                case[0] = cut;
                framing(&case);
            }
        }
    }

    #[test]
    fn a_document_whose_repeated_key_hid_a_deeper_value_is_judged_by_the_pipelines_parser() {
        // Found by the body target (600 s run, 2026-12-03): serde_json keeps the last of two
        // equal keys, so its value's depth missed a deeper first value that the byte scan
        // counted. The pipeline's parser refuses a repeated key, and the oracle now uses it.
        let case = include_bytes!("../fuzz/seeds/body/regression-repeated-key-hides-depth");
        body(case);
    }

    #[test]
    fn the_scan_and_the_parser_agree_on_depth() {
        depth_scan_agrees_with_the_parser(br#"{"a":[1,{"b":"[[["}],"c":{}}"#);
        depth_scan_agrees_with_the_parser(b"[[[[[[[[[[]]]]]]]]]]");
        depth_scan_agrees_with_the_parser(br#""\\\"[""#);
    }
}
