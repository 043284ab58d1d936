//! Request framing as it was on the wire, for what hyper tidies away before the service sees
//! the request.
//!
//! A request with both `Content-Length` and `Transfer-Encoding` is a request-smuggling signal
//! (RFC 9112 section 6.1: a proxy in front may have framed it by the other header). hyper reads
//! such a body by `Transfer-Encoding`, drops `Content-Length` from the parsed head and closes
//! the connection after answering, so the service cannot tell it from a clean chunked request.
//! [`Watched`] wraps the connection and reads every request head as it passes (with `httparse`,
//! hyper's own head parser), following the body framing from one head to the next exactly as
//! hyper does (length, or chunked with trailers), and queues one [`Framing`] per head; the
//! connection's service takes them in order (HTTP/1 answers requests one at a time, in order),
//! and [`Guard`] refuses a conflicting one with 400 before anything else runs.
//!
//! When the scanner cannot follow the stream (a head hyper would refuse anyway, an upgrade),
//! it stops, and every later request on the connection is refused as unverifiable: it never
//! guesses.

use std::collections::VecDeque;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use axum::body::Body;
use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use http::HeaderValue;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tower_http::validate_request::ValidateRequest;

use crate::http::problem::{Rejection, RejectionKind};

/// The same limits as hyper's (see `app.rs`): beyond them hyper refuses the head itself.
const MAX_HEAD_BYTES: usize = 64 * 1024;
const MAX_HEADERS: usize = 100;
/// A chunk-size line (size and extensions) or a trailer line longer than this is not followed.
const MAX_LINE: usize = 16 * 1024;

/// What the wire said about one request's framing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    Clean,
    /// `Content-Length` and `Transfer-Encoding` together.
    LengthAndChunked,
    /// The scanner lost the stream before this request: its framing cannot be vouched for.
    Unknown,
}

/// One [`Framing`] per request head, in order, shared by a connection and its service.
#[derive(Debug, Clone, Default)]
pub struct Verdicts(Arc<Mutex<Verdicts_>>);

#[derive(Debug, Default)]
struct Verdicts_ {
    queue: VecDeque<Framing>,
    lost: bool,
}

impl Verdicts {
    /// The framing of the next request the service is given.
    pub fn next(&self) -> Framing {
        let mut v = self.lock();
        match v.queue.pop_front() {
            Some(framing) => framing,
            None if v.lost => Framing::Unknown,
            // hyper parsed a head the scanner has not finished: cannot happen while both read
            // the same bytes; refuse rather than pass.
            None => Framing::Unknown,
        }
    }

    /// Every verdict not yet taken, and whether the scanner lost the stream (for the fuzz
    /// target's oracle, which compares two scans).
    pub fn pending(&self) -> (Vec<Framing>, bool) {
        let v = self.lock();
        (v.queue.iter().copied().collect(), v.lost)
    }

    fn push(&self, framing: Framing) {
        self.lock().queue.push_back(framing);
    }

    fn lose(&self) {
        self.lock().lost = true;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Verdicts_> {
        // Each update is one push or one flag: a poisoned lock is still consistent.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[derive(Debug)]
enum State {
    Head(Vec<u8>),
    Body(u64),
    ChunkData(u64),
    /// A line being collected: a chunk size, the CRLF after a chunk's data, or a trailer.
    Line(LineKind, Vec<u8>),
    Lost,
}

#[derive(Debug, Clone, Copy)]
enum LineKind {
    ChunkSize,
    ChunkEnd,
    Trailer,
}

/// Follows request heads and bodies through the bytes read from one connection.
#[derive(Debug)]
pub struct Scanner {
    state: State,
    verdicts: Verdicts,
}

impl Scanner {
    pub fn new(verdicts: Verdicts) -> Scanner {
        Scanner {
            state: State::Head(Vec::new()),
            verdicts,
        }
    }

    /// Feeds bytes as they are read, in order.
    pub fn feed(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            let state = std::mem::replace(&mut self.state, State::Lost);
            let (next, used) = self.step(state, bytes);
            self.state = next;
            if matches!(self.state, State::Lost) {
                self.verdicts.lose();
                return;
            }
            bytes = bytes.get(used..).unwrap_or_default();
        }
    }

    /// Advances by some of `bytes`: the new state and how many bytes it used.
    fn step(&mut self, state: State, bytes: &[u8]) -> (State, usize) {
        match state {
            State::Lost => (State::Lost, bytes.len()),
            State::Head(mut buf) => {
                let before = buf.len();
                let take = bytes
                    .len()
                    .min(MAX_HEAD_BYTES + 1 - before.min(MAX_HEAD_BYTES));
                buf.extend_from_slice(bytes.get(..take).unwrap_or_default());
                match self.head(&buf) {
                    Some(Some((head_len, next))) => (next, head_len.saturating_sub(before)),
                    Some(None) if buf.len() > MAX_HEAD_BYTES => (State::Lost, take),
                    Some(None) => (State::Head(buf), take),
                    None => (State::Lost, take),
                }
            }
            State::Body(left) => {
                let used = usize::try_from(left).unwrap_or(usize::MAX).min(bytes.len());
                let left = left - used as u64;
                let next = if left == 0 {
                    State::Head(Vec::new())
                } else {
                    State::Body(left)
                };
                (next, used)
            }
            State::ChunkData(left) => {
                let used = usize::try_from(left).unwrap_or(usize::MAX).min(bytes.len());
                let left = left - used as u64;
                let next = if left == 0 {
                    State::Line(LineKind::ChunkEnd, Vec::new())
                } else {
                    State::ChunkData(left)
                };
                (next, used)
            }
            State::Line(kind, mut buf) => match memchr::memchr(b'\n', bytes) {
                None if buf.len() + bytes.len() > MAX_LINE => (State::Lost, bytes.len()),
                None => {
                    buf.extend_from_slice(bytes);
                    (State::Line(kind, buf), bytes.len())
                }
                Some(at) => {
                    buf.extend_from_slice(bytes.get(..at).unwrap_or_default());
                    let text = buf.strip_suffix(b"\r").unwrap_or(&buf);
                    let next = match kind {
                        _ if buf.len() > MAX_LINE => State::Lost,
                        LineKind::ChunkSize => match chunk_size(text) {
                            Some(0) => State::Line(LineKind::Trailer, Vec::new()),
                            Some(size) => State::ChunkData(size),
                            None => State::Lost,
                        },
                        LineKind::ChunkEnd if text.is_empty() => {
                            State::Line(LineKind::ChunkSize, Vec::new())
                        }
                        LineKind::ChunkEnd => State::Lost,
                        LineKind::Trailer if text.is_empty() => State::Head(Vec::new()),
                        LineKind::Trailer => State::Line(LineKind::Trailer, Vec::new()),
                    };
                    (next, at + 1)
                }
            },
        }
    }

    /// Parses a head: `Some(Some((its length, the body state)))` when complete, `Some(None)`
    /// when more bytes are needed, `None` when hyper would refuse it or it leaves HTTP/1.
    fn head(&mut self, buf: &[u8]) -> Option<Option<(usize, State)>> {
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut request = httparse::Request::new(&mut headers);
        let head_len = match request.parse(buf).ok()? {
            httparse::Status::Partial => return Some(None),
            httparse::Status::Complete(n) => n,
        };
        if request.method == Some("CONNECT") {
            return None;
        }
        let mut lengths = Vec::new();
        let mut chunked = None;
        for header in request.headers.iter() {
            if header.name.eq_ignore_ascii_case("content-length") {
                lengths.push(header.value);
            } else if header.name.eq_ignore_ascii_case("transfer-encoding") {
                chunked = Some(last_coding_is_chunked(header.value));
            } else if header.name.eq_ignore_ascii_case("upgrade") {
                return None;
            }
        }
        let (framing, body) = match (chunked, lengths.first()) {
            (Some(true), None) => (Framing::Clean, State::Line(LineKind::ChunkSize, Vec::new())),
            (Some(true), Some(_)) => (
                Framing::LengthAndChunked,
                State::Line(LineKind::ChunkSize, Vec::new()),
            ),
            // hyper refuses a Transfer-Encoding that does not end in chunked.
            (Some(false), _) => return None,
            (None, Some(first)) => {
                let length = content_length(first)?;
                if lengths.iter().any(|v| content_length(v) != Some(length)) {
                    return None;
                }
                let body = if length == 0 {
                    State::Head(Vec::new())
                } else {
                    State::Body(length)
                };
                (Framing::Clean, body)
            }
            (None, None) => (Framing::Clean, State::Head(Vec::new())),
        };
        self.verdicts.push(framing);
        Some(Some((head_len, body)))
    }
}

/// A chunk size: hex digits, then optional whitespace and `;extensions` (ignored).
fn chunk_size(line: &[u8]) -> Option<u64> {
    let digits = line.iter().take_while(|b| b.is_ascii_hexdigit()).count();
    if digits == 0 || digits > 16 {
        return None;
    }
    let rest = line.get(digits..)?;
    let rest = rest.trim_ascii_start();
    if !(rest.is_empty() || rest.starts_with(b";")) {
        return None;
    }
    u64::from_str_radix(std::str::from_utf8(line.get(..digits)?).ok()?, 16).ok()
}

/// Whether the last coding of a `Transfer-Encoding` value is `chunked` (hyper's rule).
fn last_coding_is_chunked(value: &[u8]) -> bool {
    std::str::from_utf8(value)
        .ok()
        .and_then(|v| v.rsplit(',').next())
        .is_some_and(|last| last.trim().eq_ignore_ascii_case("chunked"))
}

fn content_length(value: &[u8]) -> Option<u64> {
    let text = std::str::from_utf8(value).ok()?.trim();
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// The connection as hyper reads it, with every byte read also given to a [`Scanner`].
pub struct Watched<S> {
    inner: S,
    scanner: Scanner,
}

impl<S> Watched<S> {
    pub fn new(inner: S, verdicts: Verdicts) -> Watched<S> {
        Watched {
            inner,
            scanner: Scanner::new(verdicts),
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Watched<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let this = &mut *self;
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = polled {
            this.scanner
                .feed(buf.filled().get(before..).unwrap_or_default());
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Watched<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// The first check of every request on the public listener: RFC 9112's rules on the head that
/// hyper does not enforce. 400 (and the connection closed) for `Content-Length` with
/// `Transfer-Encoding`, for an HTTP/1.1 request without `Host`, and for two `Host` headers.
/// A tower-http `ValidateRequest`: no future is boxed for it per request.
#[derive(Debug, Clone, Copy)]
pub struct Guard;

impl ValidateRequest<Body> for Guard {
    type ResponseBody = Body;
    fn validate(&mut self, request: &mut Request) -> Result<(), Response> {
        refusal(request).map_or(Ok(()), Err)
    }
}

/// The 400 for a head [`Guard`] refuses, or `None`.
fn refusal(request: &Request) -> Option<Response> {
    let framing = request.extensions().get::<Framing>().copied();
    let hosts = request.headers().get_all(http::header::HOST).iter().count();
    let refusal = match framing {
        Some(Framing::LengthAndChunked) => {
            Some("Content-Length with Transfer-Encoding (a request-smuggling signal)")
        }
        Some(Framing::Unknown) => Some("the request's framing could not be followed"),
        _ if hosts > 1 => Some("more than one Host header"),
        _ if hosts == 0 && request.version() == http::Version::HTTP_11 => {
            Some("an HTTP/1.1 request without Host")
        }
        _ => None,
    };
    let detail = refusal?;
    let mut response = Rejection::new(RejectionKind::BadEncoding, detail).into_response();
    response
        .headers_mut()
        .insert(http::header::CONNECTION, HeaderValue::from_static("close"));
    Some(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verdicts_of(chunks: &[&[u8]]) -> (Vec<Framing>, bool) {
        let verdicts = Verdicts::default();
        let mut scanner = Scanner::new(verdicts.clone());
        for chunk in chunks {
            scanner.feed(chunk);
        }
        let v = verdicts.lock();
        (v.queue.iter().copied().collect(), v.lost)
    }

    fn bytewise(wire: &[u8]) -> (Vec<Framing>, bool) {
        let chunks: Vec<&[u8]> = wire.chunks(1).collect();
        verdicts_of(&chunks)
    }

    #[test]
    fn heads_are_followed_across_length_and_chunked_bodies() {
        let wire = b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello\
POST /b HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1c;ext=1\r\nGET /x HTTP/1.1\r\nHost: y\r\n\r\n\r\n0\r\nX-Trailer: 1\r\n\r\n\
GET /c HTTP/1.1\r\nHost: x\r\n\r\n\
POST /d HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n";
        let expected = vec![
            Framing::Clean,
            Framing::Clean,
            Framing::Clean,
            Framing::LengthAndChunked,
        ];
        // A body that looks like a head is never read as one, whole or byte by byte.
        assert_eq!(verdicts_of(&[wire]), (expected.clone(), false));
        assert_eq!(bytewise(wire), (expected, false));
    }

    #[test]
    fn both_orders_of_the_two_headers_are_seen() {
        for wire in [
            &b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n0\r\n\r\n"[..],
            b"POST / HTTP/1.1\r\nHost: x\r\ncontent-length: 4\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n",
            b"POST / HTTP/1.1\nHost: x\nContent-Length: 4\nTransfer-Encoding: chunked\n\n0\r\n\r\n",
        ] {
            assert_eq!(bytewise(wire).0, vec![Framing::LengthAndChunked]);
        }
    }

    #[test]
    fn what_hyper_refuses_stops_the_scan() {
        for wire in [
            &b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n"[..],
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
            b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            b"\x00\x01 not http\r\n\r\n",
        ] {
            assert!(
                verdicts_of(&[wire]).1,
                "{:?}",
                String::from_utf8_lossy(wire)
            );
        }
        let verdicts = Verdicts::default();
        verdicts.lose();
        assert_eq!(verdicts.next(), Framing::Unknown);
    }

    #[test]
    fn chunk_sizes_parse_like_hyper() {
        assert_eq!(chunk_size(b"1a"), Some(26));
        assert_eq!(chunk_size(b"1A ; name=value"), Some(26));
        assert_eq!(chunk_size(b""), None);
        assert_eq!(chunk_size(b"x1"), None);
        assert_eq!(chunk_size(b"11111111111111111"), None);
    }
}
