//! The fuzz entry points of the pipeline's parsers of untrusted input: one function per target
//! of `fuzz/fuzz_targets/`, each taking the fuzzer's bytes (`crate::fuzzing` lists them all).
//! Compiled only for the fuzz targets and the tests (`feature = "fuzzing"`, which fuzz/ and the
//! property tests turn on, or `cfg(test)`); the property tests in `tests/properties.rs` feed
//! every entry point arbitrary bytes, so their assertions hold in every `cargo test`.
//!
//! Besides "no input panics", each entry point asserts what must hold for every input; a failed
//! assertion is a finding like a crash:
//! - a resolved client is the TCP peer, or one of the `X-Forwarded-For` hops when the peer is a
//!   trusted proxy, and never an IPv4-mapped IPv6 address;
//! - the nesting scan that runs before the JSON parser agrees with the parser about the depth
//!   of every document the parser accepts, and an accepted payload is within `max_json_depth`;
//! - an inflated gzip body never exceeds its cap; a parsed duration never exceeds 100 years;
//! - a request a preset signs itself (`hookwall send`) verifies through the same check the
//!   pipeline runs, when the body is one the provider could send;
//! - the framing scanner's verdicts do not depend on how the stream is cut into reads.
//!
//! The signature targets run the steps of `pipeline::stack::STEPS` that judge a request once
//! its body is read, in that order: `MethodAndType` (the body kind), `Signature`, `Payload`,
//! and the event id and handshakes the last steps read. Which presets each target drives is
//! `providers::fuzz`.
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
use std::sync::{Arc, OnceLock};

use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use ipnet::IpNet;
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;

use super::body::{ContentEncoding, encoding, gunzip_capped};
use super::client_ip;
use super::payload::{self, Payload, Schema};
use super::verify::Verify;
use super::{CompiledSource, compile};
use crate::config::DedupMode;
use crate::config::units::parse_duration;
use crate::http::problem::Rejection;
use crate::http::traceparent::TraceParent;
use crate::providers::fuzz::{
    CREDENTIALS, HMAC_HEADERS, PUBLIC_KEYS, SIGNATURE_LISTS, URLS_AND_BODIES, sendable_body,
    signing_time,
};
use crate::providers::{BodyKind, Overrides, Preset};

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
pub fn source(preset: Preset, public_url: Option<String>) -> CompiledSource {
    let event_type = crate::config::EventTypeFrom::of_provider(preset.description().event_type);
    CompiledSource {
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
        routes: super::route::Routes::default(),
        proxy: None,
        verify_token: None,
        client_prefix: crate::config::frontdoor::ClientPrefix::default(),
        event_type,
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
    if let Some(parsed) = &parsed
        && let Some(event_type) = super::event_type::event_type(&source.event_type, headers, parsed)
    {
        assert!(event_type.len() <= super::event_type::MAX_EVENT_TYPE_BYTES);
        assert!(!event_type.is_empty() && !event_type.contains('\0'));
    }
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
    source: &CompiledSource,
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
    // The request is signed when its provider signs it (Linear: the body's time), so a
    // `timestamp_header` the source adds carries that time too.
    let Some(now) = signing_time(source.preset.provider(), body, now) else {
        return;
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

/// The `framing` target: the bytes of one connection as the framing scanner reads them. The
/// first byte chooses how the stream is cut into reads (1 to 64 bytes each, or 1 byte at a
/// time); the oracle is that the verdicts and whether the stream was lost do not depend on the
/// cut: a request split across reads is judged as it would be in one read.
pub fn framing(data: &[u8]) {
    use super::framing::{Scanner, Verdicts};
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
/// (`X-Forwarded-For`, `X-Forwarded-Proto`, `traceparent`, …). Without `@peer`, the peer is a
/// trusted proxy.
pub fn client_ip(data: &[u8]) {
    let case = Case::parse(data);
    // What a trusted proxy forwards for tracing (SPEC section 14): parsed strictly, and what is
    // parsed writes back to a value that parses the same (a version-00 value, to itself).
    for value in case.headers.get_all("traceparent") {
        if let Some(parent) = TraceParent::parse(value.as_bytes()) {
            let written = parent.to_string();
            assert_eq!(TraceParent::parse(written.as_bytes()), Some(parent));
            if value.as_bytes().starts_with(b"00-") {
                assert_eq!(
                    written.as_bytes(),
                    value.as_bytes(),
                    "a traceparent changed"
                );
            }
        }
    }
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
        Ok(ContentEncoding::Identity) => raw.to_vec(),
        Ok(ContentEncoding::Gzip) => match gunzip_capped(raw, BODY_CAP) {
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
    let Ok(value) = super::strict_json::from_slice(text) else {
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
            include_str!("../../schemas/github.json"),
            include_str!("../../schemas/github-push.json"),
            include_str!("../../schemas/particle-event.json"),
            include_str!("../../schemas/brightdata-delivery.json"),
            include_str!("../../schemas/brightdata-notify.json"),
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

/// The `config` target: the bytes as a config file ([`crate::config::fuzz::read`]), then every
/// source's preset built as `hookwall check` does.
pub fn config(data: &[u8]) {
    if let Some(config) = crate::config::fuzz::read(data)
        && let Err(errors) = compile(&config)
    {
        let _ = errors.join("\n");
    }
}

#[cfg(test)]
mod tests;
