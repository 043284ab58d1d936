//! Step 8: read the body with a hard cap while it streams, then undo gzip with the same cap.
//!
//! The cap applies to what the gateway will hold in memory: the bytes on the wire and, for gzip,
//! the inflated bytes. A chunked body that passes the cap is refused (413), never truncated, and
//! a 10 KiB gzip bomb that would inflate past the cap is refused the same way. BrightData sends
//! gzip without saying so, so a provider may ask for `1f 8b` sniffing.

use bytes::Bytes;
use http::HeaderMap;
use http_body_util::{BodyExt, Limited};

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::CompiledSource;
use super::client_ip::ClientIp;
use super::credential::CredentialChecked;
use super::inflate::{Budget, Reservation};
use crate::http::problem::{Rejection, RejectionKind};

/// The body as the provider meant it (gzip undone), exactly the bytes verified and stored.
#[derive(Debug, Clone)]
pub struct Received(pub Bytes);

/// The layer: reads and decodes the body, then passes the request on with the bytes in
/// [`Received`] (and as the body, for any layer that reads it the usual way).
pub async fn layer(
    State(source): State<Arc<CompiledSource>>,
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
    let read = read_capped(body, &parts.headers, limit).await;
    // Read (or refused): no longer a slow request that load shedding may end.
    if let Some(body_read) = parts.extensions.get::<BodyRead>() {
        body_read.mark();
    }
    let decoded = match read {
        Ok(raw) => {
            decode(
                raw,
                &parts.headers,
                source.preset.sniffs_gzip(),
                limit,
                reservation,
            )
            .await
        }
        Err(rejection) => Err(rejection),
    };
    match decoded {
        Ok((bytes, reservation)) => {
            parts.extensions.insert(Received(bytes.clone()));
            let response = next
                .run(Request::from_parts(parts, axum::body::Body::from(bytes)))
                .await;
            // The inflated bytes were held until the answer: so was their reservation.
            drop(reservation);
            response
        }
        Err(rejection) => rejection.into_response(),
    }
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
    if let Some(length) = declared_length(headers)
        && length > limit
    {
        return Err(too_large(format!(
            "content-length {length} exceeds {limit} bytes"
        )));
    }
    let limit_usize = usize::try_from(limit).unwrap_or(usize::MAX);
    match Limited::new(body, limit_usize).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(err) if err.is::<http_body_util::LengthLimitError>() => {
            Err(too_large(format!("body exceeds {limit} bytes")))
        }
        // A client that hangs up or sends a broken chunked encoding.
        Err(err) => Err(Rejection::new(
            RejectionKind::BadEncoding,
            format!("body read failed: {err}"),
        )),
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
