//! `hookwall receive`: a development receiver for hookwall's own deliveries.
//!
//! The quick start points its destinations here, so a new user sees the whole path work in a
//! second terminal: the provider's request, the gateway's 202, and the delivery arriving. Each
//! delivery is checked as a real handler should check it: hookwall re-signs every delivery with
//! Standard Webhooks (`webhook-id`, `webhook-timestamp`, `webhook-signature`, see
//! `delivery/http.rs`), verified here through the same preset code the gateway uses. A bad
//! signature is answered 401 (hookwall retries it, then dead-letters it); a good one 200.
//!
//! One line per delivery on standard output: time, verdict, event id, source, size. Never a
//! secret, never the body; every header value printed is cut short and its control characters
//! escaped, so a delivery cannot write to the terminal. The body is bounded by `--max-body`, its
//! read by a timeout, and the request head in size and time.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use clap::Args;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use secrecy::SecretString;
use tower::ServiceExt;

use crate::clock::unix_now;
use crate::providers::{Inbound, Overrides, Preset};

#[derive(Debug, Args)]
pub struct ReceiveArgs {
    /// Where to listen (`host:port`); the quick start's destinations post here.
    #[arg(long, default_value = "127.0.0.1:8000")]
    pub listen: String,
    /// The destinations' `signing_secret` (`whsec_…`). Without it deliveries are printed as
    /// `unverified` and accepted.
    #[arg(long, env = "HOOKWALL_RECEIVE_SECRET", hide_env_values = true)]
    pub signing_secret: Option<String>,
    /// The largest body accepted, e.g. `1MiB`, `64MiB` (larger ones are answered 413).
    #[arg(long, default_value = "64MiB")]
    pub max_body: String,
}

/// Longest header value printed (an id or a source name is far shorter).
const SHOWN_MAX: usize = 80;
/// How long a delivery's body may take to arrive.
const BODY_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a request head may take to arrive.
const HEAD_TIMEOUT: Duration = Duration::from_secs(10);

struct Receiver {
    verifier: Option<Preset>,
    max_body: usize,
}

pub async fn receive(args: &ReceiveArgs) -> ExitCode {
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("hookwall receive: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: &ReceiveArgs) -> Result<(), String> {
    let max_body = crate::config::units::parse_size(&args.max_body)
        .ok()
        .and_then(|n| usize::try_from(n).ok())
        .ok_or_else(|| format!("--max-body {:?} is not a size such as 1MiB", args.max_body))?;
    let verifier = match args.signing_secret.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(secret) => Some(
            Preset::build(
                "standard-webhooks",
                &[SecretString::from(secret)],
                &[],
                &Overrides::default(),
            )
            // The error names the key's form, never its value.
            .map_err(|err| format!("--signing-secret: {err}"))?,
        ),
    };
    let verifying = verifier.is_some();
    let state = Arc::new(Receiver { verifier, max_body });
    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .map_err(|err| format!("cannot listen on {}: {err}", args.listen))?;
    let addr: SocketAddr = listener
        .local_addr()
        .map_err(|err| format!("cannot listen on {}: {err}", args.listen))?;
    let mode = if verifying {
        "verifying Standard Webhooks signatures"
    } else {
        "NOT verifying signatures: pass --signing-secret"
    };
    println!("hookwall receive: listening on http://{addr} ({mode}); Ctrl-C stops");
    let app = axum::Router::new().fallback(handle).with_state(state);
    serve(listener, app).await;
    Ok(())
}

/// Serves HTTP/1 until Ctrl-C or SIGTERM, with the request head bounded in time and size (as
/// the gateway's listeners are), so an idle or slow client holds nothing for long.
async fn serve(listener: tokio::net::TcpListener, app: axum::Router) {
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(HEAD_TIMEOUT)
        .max_headers(100)
        .max_buf_size(64 * 1024);
    let stop = crate::app::shutdown_signal();
    tokio::pin!(stop);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(err) => {
                    // EMFILE and friends: back off instead of spinning.
                    eprintln!("hookwall receive: accept failed: {err}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut stop => return,
        };
        let app = app.clone();
        let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
            app.clone().oneshot(request.map(Body::new))
        });
        let connection = http.serve_connection(TokioIo::new(stream), service);
        tokio::spawn(async move {
            // A client that goes away mid-request is its own business.
            let _ = connection.await;
        });
    }
}

async fn handle(State(receiver): State<Arc<Receiver>>, request: Request) -> (StatusCode, String) {
    let (parts, body) = request.into_parts();
    let read = tokio::time::timeout(
        BODY_TIMEOUT,
        axum::body::to_bytes(Body::new(body), receiver.max_body),
    )
    .await;
    let (status, verdict, size) = match read {
        Err(_) => (
            StatusCode::REQUEST_TIMEOUT,
            "refused: body timed out".to_owned(),
            None,
        ),
        Ok(Err(_)) => (
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("refused: body over {} bytes", receiver.max_body),
            None,
        ),
        Ok(Ok(body)) => {
            let (status, verdict) = judge(&receiver, &parts.headers, &body);
            (status, verdict, Some(body.len()))
        }
    };
    println!("{}", line(&parts.headers, &verdict, size));
    let answer = if status.is_success() {
        "ok\n"
    } else {
        "refused\n"
    };
    (status, answer.to_owned())
}

fn judge(receiver: &Receiver, headers: &HeaderMap, body: &[u8]) -> (StatusCode, String) {
    let Some(verifier) = &receiver.verifier else {
        return (StatusCode::OK, "unverified".to_owned());
    };
    let inbound = Inbound {
        headers,
        body,
        url: None,
        now: unix_now(),
    };
    match verifier.verify(&inbound) {
        Ok(()) => (StatusCode::OK, "verified".to_owned()),
        // The reason names a header or a count, never a value or a secret.
        Err(err) => (StatusCode::UNAUTHORIZED, format!("refused ({err})")),
    }
}

/// `2026-12-03T18:50:00Z verified id=… source=… bytes=…`.
fn line(headers: &HeaderMap, verdict: &str, size: Option<usize>) -> String {
    let now = jiff::Timestamp::now()
        .round(jiff::Unit::Second)
        .unwrap_or(jiff::Timestamp::now());
    let shown = |name: &str| {
        headers.get(name).map_or_else(
            || "-".to_owned(),
            |v| printable(&String::from_utf8_lossy(v.as_bytes())),
        )
    };
    let size = size.map_or_else(|| "-".to_owned(), |n| n.to_string());
    format!(
        "{now} {verdict} id={} source={} bytes={size}",
        shown("webhook-id"),
        shown("x-hookwall-source"),
    )
}

/// `text` cut to [`SHOWN_MAX`] characters, anything but visible ASCII escaped as `\u{…}`.
fn printable(text: &str) -> String {
    let mut out = String::new();
    for (i, c) in text.chars().enumerate() {
        if i == SHOWN_MAX {
            out.push('…');
            break;
        }
        // Visible ASCII only: a space would split the line's fields, and non-ASCII includes
        // bidirectional overrides that reorder what the terminal shows.
        match c {
            '\\' => out.push_str("\\\\"),
            ' ' => out.push_str("\\u{20}"),
            c if c.is_ascii_graphic() => out.push(c),
            c => out.extend(c.escape_default()),
        }
    }
    if out.is_empty() {
        "\"\"".to_owned()
    } else {
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printed_values_cannot_write_control_characters_to_the_terminal() {
        assert_eq!(printable("evt_1"), "evt_1");
        assert_eq!(printable("a\u{1b}[2Jb"), "a\\u{1b}[2Jb");
        assert_eq!(printable("x y\n"), "x\\u{20}y\\n");
        assert_eq!(printable(""), "\"\"");
        assert_eq!(printable("\u{202e}ab"), "\\u{202e}ab");
        assert_eq!(printable(&"z".repeat(500)).chars().count(), SHOWN_MAX + 1);
    }
}
