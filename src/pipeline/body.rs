//! Step 8: read the body with a hard cap while it streams, then undo gzip with the same cap.
//!
//! The cap applies to what the gateway will hold in memory: the bytes on the wire and, for gzip,
//! the inflated bytes. A chunked body that passes the cap is refused (413), never truncated, and
//! a 10 KiB gzip bomb that would inflate past the cap is refused the same way. BrightData sends
//! gzip without saying so, so a provider may ask for `1f 8b` sniffing.

use std::io::Read;

use bytes::Bytes;
use flate2::read::MultiGzDecoder;
use http::HeaderMap;
use http_body_util::{BodyExt, Limited};

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::Source;
use crate::http::problem::{Rejection, RejectionKind};

/// The body as the provider meant it (gzip undone), exactly the bytes verified and stored.
#[derive(Debug, Clone)]
pub struct Received(pub Bytes);

/// The layer: reads and decodes the body, then passes the request on with the bytes in
/// [`Received`] (and as the body, for any layer that reads it the usual way).
pub async fn layer(State(source): State<Arc<Source>>, request: Request, next: Next) -> Response {
    let (mut parts, body) = request.into_parts();
    let limit = source.max_body_bytes;
    let decoded = match read_capped(body, &parts.headers, limit).await {
        Ok(raw) => decode(raw, &parts.headers, source.preset.sniffs_gzip(), limit).await,
        Err(rejection) => Err(rejection),
    };
    match decoded {
        Ok(bytes) => {
            parts.extensions.insert(Received(bytes.clone()));
            next.run(Request::from_parts(parts, axum::body::Body::from(bytes)))
                .await
        }
        Err(rejection) => rejection.into_response(),
    }
}

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Bodies larger than this are inflated on the blocking pool, so one large BrightData batch
/// does not stall the request threads.
const INLINE_INFLATE_LIMIT: usize = 64 * 1024;

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
pub enum Encoding {
    Identity,
    Gzip,
}

pub fn encoding(headers: &HeaderMap, body: &[u8], sniff_gzip: bool) -> Result<Encoding, Rejection> {
    let declared = match headers.get(http::header::CONTENT_ENCODING) {
        None => None,
        Some(value) => match value.to_str().map(|v| v.trim().to_ascii_lowercase()) {
            Ok(v) if v == "gzip" || v == "x-gzip" => Some(Encoding::Gzip),
            Ok(v) if v.is_empty() || v == "identity" => Some(Encoding::Identity),
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
        None if sniff_gzip && body.starts_with(&GZIP_MAGIC) => Encoding::Gzip,
        None => Encoding::Identity,
    })
}

/// Inflates gzip (several members allowed), refusing output beyond `limit` bytes.
pub fn gunzip_capped(compressed: &[u8], limit: u64) -> Result<Vec<u8>, Rejection> {
    let mut out = Vec::with_capacity(compressed.len().saturating_mul(4).min(1 << 20));
    // Read one byte past the cap: reaching it proves the body is too large without inflating more.
    let mut reader = MultiGzDecoder::new(compressed).take(limit.saturating_add(1));
    reader.read_to_end(&mut out).map_err(|err| {
        Rejection::new(
            RejectionKind::BadEncoding,
            format!("invalid gzip body: {err}"),
        )
    })?;
    if out.len() as u64 > limit {
        return Err(too_large(format!("gzip body inflates past {limit} bytes")));
    }
    Ok(out)
}

/// Decodes the body per [`encoding`], off the request threads when it is large.
pub async fn decode(
    raw: Bytes,
    headers: &HeaderMap,
    sniff_gzip: bool,
    limit: u64,
) -> Result<Bytes, Rejection> {
    match encoding(headers, &raw, sniff_gzip)? {
        Encoding::Identity => Ok(raw),
        Encoding::Gzip if raw.len() <= INLINE_INFLATE_LIMIT => {
            gunzip_capped(&raw, limit).map(Bytes::from)
        }
        Encoding::Gzip => tokio::task::spawn_blocking(move || gunzip_capped(&raw, limit))
            .await
            .map_err(|err| {
                Rejection::new(
                    RejectionKind::BadEncoding,
                    format!("inflate task failed: {err}"),
                )
            })?
            .map(Bytes::from),
    }
}

fn too_large(detail: String) -> Rejection {
    Rejection::new(RejectionKind::TooLarge, detail)
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use flate2::Compression;
    use flate2::write::GzEncoder;

    use super::*;

    fn gzip(data: &[u8]) -> Vec<u8> {
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
        assert_eq!(encoding(&headers, &body, true).expect("ok"), Encoding::Gzip);
        assert_eq!(
            encoding(&headers, &body, false).expect("ok"),
            Encoding::Identity
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
