//! `type = "http"` destinations: POST the original body to the internal handler.
//!
//! The request carries the configured `forward_headers` and what every message carries
//! (`super::envelope`): the original `content-type`, `x-hookwall-source`,
//! `x-hookwall-event-type`, and Standard Webhooks headers (`webhook-id` = the event id,
//! `webhook-timestamp`, `webhook-signature`) made with the destination's `signing_secret`, so
//! every internal handler verifies one scheme whatever the provider, and de-duplicates on
//! `webhook-id`; with traces on, a `traceparent` whose parent is the attempt's span. Redirects are not followed (a handler that moved is a configuration error,
//! and following them would let a compromised handler point hookwall anywhere).

use std::time::{Duration, SystemTime};

use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};

use super::super::destination::{Attempt, Destination, Outcome, Reply};
use super::envelope::Envelope;
use crate::config::HttpDestination as Config;
use crate::http::traceparent::TraceParent;
use crate::providers::PresetError;
use crate::store::StoredEvent;

pub struct HttpSender {
    name: String,
    url: url::Url,
    envelope: Envelope,
    forward: Vec<HeaderName>,
    retry_4xx: bool,
    client: reqwest::Client,
}

impl HttpSender {
    pub fn new(
        name: &str,
        source: &str,
        config: &Config,
        client: reqwest::Client,
    ) -> Result<HttpSender, PresetError> {
        Ok(HttpSender {
            name: name.to_owned(),
            url: config.url.clone(),
            envelope: Envelope::new(source, config.signing_secret.as_ref())?,
            forward: config
                .forward_headers
                .iter()
                .filter_map(|h| HeaderName::from_bytes(h.as_bytes()).ok())
                .collect(),
            retry_4xx: config.retry_4xx,
            client,
        })
    }

    /// The headers of one attempt, signed at `now` (unix seconds).
    pub fn headers(
        &self,
        event: &StoredEvent,
        body: &[u8],
        now: i64,
        trace: Option<TraceParent>,
    ) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in &event.headers {
            let Ok(name) = HeaderName::from_bytes(name.as_bytes()) else {
                continue;
            };
            if self.forward.contains(&name)
                && let Ok(value) = HeaderValue::from_str(value)
            {
                headers.append(name, value);
            }
        }
        // A value HTTP cannot carry (an event type outside ASCII) is left out.
        for (name, value) in self.envelope.headers(event, body, now, trace) {
            if let Ok(value) = HeaderValue::from_str(&value) {
                headers.insert(name, value);
            }
        }
        headers
    }
}

/// Maps a downstream answer to an outcome (SPEC section 3).
pub fn classify(status: StatusCode, retry_after: Option<Duration>, retry_4xx: bool) -> Outcome {
    let error = format!("HTTP {}", status.as_u16());
    match status.as_u16() {
        200..=299 => Outcome::Delivered,
        408 | 409 | 425 | 429 | 500..=599 => Outcome::Retry { error, retry_after },
        400..=499 if retry_4xx => Outcome::Retry { error, retry_after },
        300..=399 => Outcome::Dead {
            error: format!("{error}: redirects are not followed"),
        },
        _ => Outcome::Dead { error },
    }
}

/// `Retry-After` as delay-seconds or an HTTP date, relative to `now`.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    httpdate::parse_http_date(value)
        .ok()?
        .duration_since(now)
        .ok()
}

#[async_trait::async_trait]
impl Destination for HttpSender {
    fn name(&self) -> &str {
        &self.name
    }

    async fn deliver(&self, event: &StoredEvent, attempt: &Attempt) -> Outcome {
        match self.send(event, attempt).await {
            Ok(response) => {
                let outcome = self.classify_response(&response);
                drain(response, MAX_DRAIN_BYTES).await;
                outcome
            }
            Err(outcome) => outcome,
        }
    }

    async fn exchange(
        &self,
        event: &StoredEvent,
        attempt: &Attempt,
    ) -> Option<Result<Reply, String>> {
        let response = match self.send(event, attempt).await {
            Ok(response) => response,
            Err(Outcome::Retry { error, .. } | Outcome::Dead { error }) => return Some(Err(error)),
            Err(Outcome::Delivered) => return Some(Err("no answer".into())),
        };
        let outcome = self.classify_response(&response);
        let status = response.status();
        let content_type = response.headers().get(http::header::CONTENT_TYPE).cloned();
        let body = match read_capped(response, MAX_REPLY_BYTES).await {
            Ok(body) => body,
            Err(error) => return Some(Err(error)),
        };
        Some(Ok(Reply {
            status,
            content_type,
            body,
            outcome,
        }))
    }
}

/// A proxied answer larger than this is refused (502): the gateway holds it in memory.
const MAX_REPLY_BYTES: usize = 1024 * 1024;

/// A delivery's answer is read and dropped up to this size, so the connection goes back to the
/// pool; a larger answer costs its connection instead (nothing in it is used).
const MAX_DRAIN_BYTES: usize = 64 * 1024;

/// Reads the rest of an answer whose content does not matter. An answer left unread closes its
/// connection (hyper cannot reuse it mid-body), so every delivery would open a new one. Bounded
/// in size here and in time by the client's timeout; a failure only costs the connection.
async fn drain(mut response: reqwest::Response, limit: usize) {
    let mut read = 0;
    while read <= limit {
        match response.chunk().await {
            Ok(Some(chunk)) => read += chunk.len(),
            Ok(None) | Err(_) => return,
        }
    }
}

async fn read_capped(
    mut response: reqwest::Response,
    limit: usize,
) -> Result<bytes::Bytes, String> {
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|err| format!("reading the answer failed: {}", without_url(&err)))?
    {
        if body.len() + chunk.len() > limit {
            return Err(format!("the answer exceeds {limit} bytes"));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(bytes::Bytes::from(body))
}

impl HttpSender {
    /// Sends one attempt; a failure to get any answer is the outcome itself.
    async fn send(
        &self,
        event: &StoredEvent,
        attempt: &Attempt,
    ) -> Result<reqwest::Response, Outcome> {
        let Some(body) = event.body.as_deref() else {
            return Err(Outcome::Dead {
                error: "event body was purged".into(),
            });
        };
        let now = crate::clock::unix_now();
        self.client
            .post(self.url.clone())
            .headers(self.headers(event, body, now, attempt.trace))
            .body(body.to_vec())
            .send()
            .await
            .map_err(|err| {
                if err.is_timeout() {
                    Outcome::Retry {
                        error: "timed out".into(),
                        retry_after: None,
                    }
                } else {
                    Outcome::Retry {
                        error: format!("request failed: {}", without_url(&err)),
                        retry_after: None,
                    }
                }
            })
    }

    fn classify_response(&self, response: &reqwest::Response) -> Outcome {
        let retry_after = response
            .headers()
            .get(http::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, SystemTime::now()));
        classify(response.status(), retry_after, self.retry_4xx)
    }
}

/// reqwest errors print the URL, which may carry credentials in its query; keep the kind only.
fn without_url(err: &reqwest::Error) -> String {
    let mut text = err.to_string();
    if let Some(url) = err.url() {
        text = text.replace(url.as_str(), "<destination>");
    }
    text
}

/// The shared client: per-attempt timeouts, no redirects, no proxy from the environment.
pub fn client(timeout: Duration) -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(10)))
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .user_agent(concat!("hookwall/", env!("CARGO_PKG_VERSION")))
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_classes_map_to_the_spec_rules() {
        assert_eq!(classify(StatusCode::OK, None, false), Outcome::Delivered);
        assert_eq!(
            classify(StatusCode::NO_CONTENT, None, false),
            Outcome::Delivered
        );
        for retried in [408, 409, 425, 429, 500, 502, 503, 504] {
            let status = StatusCode::from_u16(retried).expect("valid");
            assert!(
                matches!(classify(status, None, false), Outcome::Retry { .. }),
                "{retried}"
            );
        }
        for dead in [400, 401, 403, 404, 410, 422, 301, 302] {
            let status = StatusCode::from_u16(dead).expect("valid");
            assert!(
                matches!(classify(status, None, false), Outcome::Dead { .. }),
                "{dead}"
            );
        }
        assert!(matches!(
            classify(StatusCode::BAD_REQUEST, None, true),
            Outcome::Retry { .. }
        ));
    }

    #[test]
    fn retry_after_is_read_as_seconds_or_a_date() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(
            parse_retry_after("120", now),
            Some(Duration::from_secs(120))
        );
        let later = httpdate::fmt_http_date(now + Duration::from_secs(30));
        assert_eq!(
            parse_retry_after(&later, now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-5", now), None);
    }
}
