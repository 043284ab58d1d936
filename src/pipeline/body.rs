//! Step 8: read the body with a hard cap while it streams, then undo gzip with the same cap.
//!
//! The cap applies to what the gateway will hold in memory: the bytes on the wire and, for gzip,
//! the inflated bytes. A chunked body that passes the cap is refused (413), never truncated, and
//! a 10 KiB gzip bomb that would inflate past the cap is refused the same way. BrightData sends
//! gzip without saying so, so a provider may ask for `1f 8b` sniffing.

use bytes::Bytes;
use http::HeaderMap;
use http_body_util::BodyExt;

#[cfg(feature = "server")]
use {
    super::CompiledSource,
    super::client_ip::ClientIp,
    super::credential::CredentialChecked,
    super::inflate::Budget,
    super::quarantine::{BodySeen, RawBody, Tap},
    axum::extract::{Request, State},
    axum::middleware::Next,
    axum::response::{IntoResponse, Response},
    std::sync::Arc,
};

use super::inflate::Reservation;
use crate::http::problem::{Rejection, RejectionKind};

/// The body as the provider meant it (gzip undone), exactly the bytes verified and stored.
#[derive(Debug, Clone)]
pub struct Received(pub Bytes);

/// The layer: reads and decodes the body, then passes the request on with the bytes in
/// [`Received`] (and as the body, for any layer that reads it the usual way). What it refuses
/// is captured by the quarantine's `tap` (when on) with the bytes read so far.
#[cfg(feature = "server")]
pub async fn layer(
    State((source, tap)): State<(Arc<CompiledSource>, Option<Arc<Tap>>)>,
    request: Request,
    next: Next,
) -> Response {
    let (mut parts, body) = request.into_parts();
    let limit = source.max_body_bytes;
    // A request whose header credential was checked inflates outside the budget; any other
    // has proved nothing yet, and reserves what it inflates against its client's share.
    let reservation = match (
        parts.extensions.get::<CredentialChecked>(),
        parts.extensions.get::<ClientIp>(),
    ) {
        (Some(_), _) => Reservation::unbudgeted(),
        (None, Some(ClientIp(ip))) => Budget::global().reserve(source.client_block(*ip), limit),
        (None, None) => Budget::global().reserve(std::net::IpAddr::from([0, 0, 0, 0]), limit),
    };
    let keep = tap.as_ref().map_or(0, |tap| tap.sample_bytes());
    let read = read_capped_keeping(body, &parts.headers, limit, keep).await;
    // Read (or refused): no longer a slow request that load shedding may end.
    if let Some(body_read) = parts.extensions.get::<BodyRead>() {
        body_read.mark();
    }
    let raw = match read {
        Ok(raw) => raw,
        Err((rejection, partial)) => {
            if let Some(tap) = &tap {
                let seen = BodySeen::Partial {
                    kept: &partial.kept,
                    read: partial.read,
                };
                tap.capture(&source, &rejection, &parts.headers, client(&parts), seen);
            }
            return rejection.into_response();
        }
    };
    // One more reference (not a copy) to the bytes as received, for a refusal's sample.
    let received = tap.as_ref().map(|_| raw.clone());
    let decoded = decode(
        raw,
        &parts.headers,
        source.preset.sniffs_gzip(),
        limit,
        reservation,
    )
    .await;
    match decoded {
        Ok((bytes, reservation)) => {
            // Kept apart only when gzip made the two differ.
            if let Some(raw) = received.filter(|raw| raw.as_ptr() != bytes.as_ptr()) {
                parts.extensions.insert(RawBody(raw));
            }
            parts.extensions.insert(Received(bytes.clone()));
            let response = next
                .run(Request::from_parts(parts, axum::body::Body::from(bytes)))
                .await;
            // The inflated bytes were held until the answer: so was their reservation.
            drop(reservation);
            response
        }
        Err(rejection) => {
            if let (Some(tap), Some(raw)) = (&tap, &received) {
                let seen = BodySeen::Whole(raw);
                tap.capture(&source, &rejection, &parts.headers, client(&parts), seen);
            }
            rejection.into_response()
        }
    }
}

#[cfg(feature = "server")]
fn client(parts: &http::request::Parts) -> Option<std::net::IpAddr> {
    parts.extensions.get::<ClientIp>().map(|ClientIp(ip)| *ip)
}

/// Set once the body has been read (or refused): from then on the request is not one that
/// load shedding ([`super::admission`]) may end for being slow, whatever its age.
#[derive(Debug, Clone)]
pub struct BodyRead(std::sync::Arc<std::sync::atomic::AtomicBool>);

impl BodyRead {
    pub fn new(flag: std::sync::Arc<std::sync::atomic::AtomicBool>) -> BodyRead {
        BodyRead(flag)
    }

    pub fn mark(&self) {
        self.0.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Bodies that may inflate to more than this are inflated on the blocking pool, so one large
/// BrightData batch (or a bomb) does not stall the request threads.
const INLINE_INFLATE_LIMIT: u64 = 64 * 1024;

/// Reads the whole body, refusing it as soon as it passes `limit` bytes.
pub async fn read_capped(
    body: axum::body::Body,
    headers: &HeaderMap,
    limit: u64,
) -> Result<Bytes, Rejection> {
    read_capped_keeping(body, headers, limit, 0)
        .await
        .map_err(|(rejection, _)| rejection)
}

/// What a refused read had read: its first bytes (at most the `keep` asked for) and how many.
#[derive(Debug, Default)]
pub struct Partial {
    pub kept: Bytes,
    pub read: u64,
}

/// [`read_capped`], and on a refusal the first `keep` bytes read until then (the quarantine's
/// sample of a 413). The frames are gathered as they come and joined once at the end, as
/// `collect` does: a body of one frame is passed on without a copy.
pub async fn read_capped_keeping(
    mut body: axum::body::Body,
    headers: &HeaderMap,
    limit: u64,
    keep: usize,
) -> Result<Bytes, (Rejection, Partial)> {
    if let Some(length) = declared_length(headers)
        && length > limit
    {
        return Err((
            too_large(format!("content-length {length} exceeds {limit} bytes")),
            Partial::default(),
        ));
    }
    let mut frames: Vec<Bytes> = Vec::new();
    let mut read: u64 = 0;
    while let Some(frame) = body.frame().await {
        let data = match frame {
            Ok(frame) => match frame.into_data() {
                Ok(data) => data,
                // Trailers carry no body bytes.
                Err(_) => continue,
            },
            // A client that hangs up or sends a broken chunked encoding.
            Err(err) => {
                let rejection = Rejection::new(
                    RejectionKind::BadEncoding,
                    format!("body read failed: {err}"),
                );
                return Err((rejection, partial(&frames, read, keep)));
            }
        };
        read = read.saturating_add(data.len() as u64);
        frames.push(data);
        if read > limit {
            let rejection = too_large(format!("body exceeds {limit} bytes"));
            return Err((rejection, partial(&frames, read, keep)));
        }
    }
    Ok(join(frames, read))
}

/// The first `keep` bytes of `frames`.
fn partial(frames: &[Bytes], read: u64, keep: usize) -> Partial {
    let mut kept = bytes::BytesMut::new();
    for frame in frames {
        let room = keep.saturating_sub(kept.len());
        if room == 0 {
            break;
        }
        kept.extend_from_slice(&frame[..frame.len().min(room)]);
    }
    Partial {
        kept: kept.freeze(),
        read,
    }
}

fn join(mut frames: Vec<Bytes>, length: u64) -> Bytes {
    match frames.len() {
        0 => Bytes::new(),
        1 => frames.pop().unwrap_or_default(),
        _ => {
            let mut joined = bytes::BytesMut::with_capacity(usize::try_from(length).unwrap_or(0));
            for frame in frames {
                joined.extend_from_slice(&frame);
            }
            joined.freeze()
        }
    }
}

fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(http::header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

/// What the `Content-Encoding` header (and, when asked, the first bytes) say about the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContentEncoding {
    Identity,
    Gzip,
}

pub fn encoding(
    headers: &HeaderMap,
    body: &[u8],
    sniff_gzip: bool,
) -> Result<ContentEncoding, Rejection> {
    let declared = match headers.get(http::header::CONTENT_ENCODING) {
        None => None,
        Some(value) => match value.to_str().map(|v| v.trim().to_ascii_lowercase()) {
            Ok(v) if v == "gzip" || v == "x-gzip" => Some(ContentEncoding::Gzip),
            Ok(v) if v.is_empty() || v == "identity" => Some(ContentEncoding::Identity),
            _ => {
                return Err(Rejection::new(
                    RejectionKind::UnsupportedMediaType,
                    "unsupported content-encoding (gzip and identity are accepted)",
                ));
            }
        },
    };
    Ok(match declared {
        Some(encoding) => encoding,
        None if sniff_gzip && body.starts_with(&GZIP_MAGIC) => ContentEncoding::Gzip,
        None => ContentEncoding::Identity,
    })
}

/// Inflates gzip outside any budget, refusing output beyond `limit` bytes (see
/// [`super::inflate::gunzip_capped`]).
pub fn gunzip_capped(compressed: &[u8], limit: u64) -> Result<Vec<u8>, Rejection> {
    super::inflate::gunzip_capped(compressed, limit, &mut Reservation::unbudgeted())
}

/// Decodes the body per [`encoding`]. Inflation runs off the request threads unless its cap
/// (what inflation can produce, not the compressed size) is small; every growth of the output
/// is reserved in `reservation` first.
pub async fn decode(
    raw: Bytes,
    headers: &HeaderMap,
    sniff_gzip: bool,
    limit: u64,
    mut reservation: Reservation,
) -> Result<(Bytes, Reservation), Rejection> {
    match encoding(headers, &raw, sniff_gzip)? {
        ContentEncoding::Identity => Ok((raw, reservation)),
        ContentEncoding::Gzip if limit <= INLINE_INFLATE_LIMIT => {
            let out = super::inflate::gunzip_capped(&raw, limit, &mut reservation)?;
            Ok((Bytes::from(out), reservation))
        }
        ContentEncoding::Gzip => tokio::task::spawn_blocking(move || {
            super::inflate::gunzip_capped(&raw, limit, &mut reservation)
                .map(|out| (Bytes::from(out), reservation))
        })
        .await
        .map_err(|err| {
            Rejection::new(
                RejectionKind::BadEncoding,
                format!("inflate task failed: {err}"),
            )
        })?,
    }
}

fn too_large(detail: String) -> Rejection {
    Rejection::new(RejectionKind::TooLarge, detail)
}

#[cfg(test)]
pub(super) mod tests {
    use std::io::Write;

    use flate2::Compression;
    use flate2::write::GzEncoder;

    use super::*;

    /// `data` gzipped (also for the tests of `inflate`).
    pub(in crate::pipeline) fn gzip(data: &[u8]) -> Vec<u8> {
        let mut encoder = GzEncoder::new(Vec::new(), Compression::best());
        encoder.write_all(data).expect("in-memory write");
        encoder.finish().expect("in-memory finish")
    }

    #[test]
    fn gzip_within_the_cap_inflates() {
        let body = gzip(b"{\"snapshot_id\":\"s_1\"}");
        assert_eq!(
            gunzip_capped(&body, 1024).expect("inflates"),
            b"{\"snapshot_id\":\"s_1\"}"
        );
    }

    #[test]
    fn a_gzip_bomb_is_refused_as_too_large_without_inflating_it_all() {
        let bomb = gzip(&vec![0u8; 50 * 1024 * 1024]);
        assert!(bomb.len() < 100 * 1024);
        let err = gunzip_capped(&bomb, 1024 * 1024).expect_err("bomb refused");
        assert_eq!(err.kind, RejectionKind::TooLarge);
    }

    #[test]
    fn corrupt_gzip_is_a_bad_encoding() {
        let mut body = gzip(b"hello world, hello world");
        let middle = body.len() / 2;
        body[middle] ^= 0xff;
        body.truncate(body.len() - 4);
        let err = gunzip_capped(&body, 1024).expect_err("corrupt refused");
        assert_eq!(err.kind, RejectionKind::BadEncoding);
    }

    #[test]
    fn gzip_is_sniffed_only_when_the_provider_asks() {
        let headers = HeaderMap::new();
        let body = gzip(b"{}");
        assert_eq!(
            encoding(&headers, &body, true).expect("ok"),
            ContentEncoding::Gzip
        );
        assert_eq!(
            encoding(&headers, &body, false).expect("ok"),
            ContentEncoding::Identity
        );
    }

    #[test]
    fn unknown_content_encodings_are_refused() {
        let mut headers = HeaderMap::new();
        headers.insert(
            http::header::CONTENT_ENCODING,
            "br".parse().expect("test header"),
        );
        let err = encoding(&headers, b"x", false).expect_err("br refused");
        assert_eq!(err.kind, RejectionKind::UnsupportedMediaType);
    }

    #[tokio::test]
    async fn a_declared_length_over_the_cap_is_refused_before_reading() {
        let mut headers = HeaderMap::new();
        headers.insert(
            http::header::CONTENT_LENGTH,
            "2048".parse().expect("test header"),
        );
        let err = read_capped(axum::body::Body::from("x"), &headers, 1024)
            .await
            .expect_err("refused");
        assert_eq!(err.kind, RejectionKind::TooLarge);
    }

    #[tokio::test]
    async fn a_streamed_body_over_the_cap_is_refused_not_truncated() {
        let chunks = futures_util::stream::iter(
            (0..10).map(|_| Ok::<_, std::io::Error>(Bytes::from(vec![b'a'; 200]))),
        );
        let body = axum::body::Body::from_stream(chunks);
        let err = read_capped(body, &HeaderMap::new(), 1024)
            .await
            .expect_err("refused");
        assert_eq!(err.kind, RejectionKind::TooLarge);
    }
}
