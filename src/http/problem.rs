//! RFC 9457 `application/problem+json` answers, and the one rejection type of the pipeline.
//!
//! Every refusal the gateway makes is a [`Rejection`]. Its public face (status, title, a detail
//! that names only the category) goes to the client; its private detail (which check, why) goes
//! into the response's extensions, where the request log and the security test endpoint read it.
//! The client never learns which secret, CIDR or schema rule failed (SPEC section 1).

use std::time::Duration;

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use serde::Serialize;

/// Why a request was refused: the category is public, `detail` is for logs only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub kind: RejectionKind,
    /// Operator-facing reason ("no active secret matches (2 tried)"). Never sent to the client,
    /// never contains a secret.
    pub detail: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RejectionKind {
    NotFound,
    Overloaded {
        retry_after: Duration,
    },
    HttpsRequired,
    IpDenied,
    RateLimited {
        retry_after: Duration,
    },
    MethodNotAllowed,
    UnsupportedMediaType,
    TooLarge,
    BadEncoding,
    RequestTimeout,
    BadSignature,
    StaleTimestamp,
    BadPayload,
    SchemaInvalid,
    StoreUnavailable,
    /// A proxy source's destination gave no usable answer.
    DestinationFailed,
}

impl RejectionKind {
    pub fn status(self) -> StatusCode {
        use RejectionKind::*;
        match self {
            NotFound => StatusCode::NOT_FOUND,
            Overloaded { .. } | StoreUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            HttpsRequired | IpDenied => StatusCode::FORBIDDEN,
            RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            BadEncoding | BadPayload => StatusCode::BAD_REQUEST,
            RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            BadSignature | StaleTimestamp => StatusCode::UNAUTHORIZED,
            SchemaInvalid => StatusCode::UNPROCESSABLE_ENTITY,
            DestinationFailed => StatusCode::BAD_GATEWAY,
        }
    }

    /// Whether the refusal is made before the request body has been read (or read whole).
    /// Such answers close the connection: the unread rest of the body must not be taken for
    /// the next request on a kept-alive connection, and a proxy must not reuse a connection
    /// the gateway is about to drop.
    pub fn leaves_body_unread(self) -> bool {
        use RejectionKind::*;
        matches!(
            self,
            NotFound
                | Overloaded { .. }
                | HttpsRequired
                | IpDenied
                | RateLimited { .. }
                | MethodNotAllowed
                | UnsupportedMediaType
                | TooLarge
                | RequestTimeout
        )
    }

    /// The `reason` label of `hookwall_rejections_total` (SPEC section 7).
    pub fn reason(self) -> &'static str {
        use RejectionKind::*;
        match self {
            NotFound => "not_found",
            Overloaded { .. } => "overloaded",
            HttpsRequired => "https_required",
            IpDenied => "ip_denied",
            RateLimited { .. } => "rate_limited",
            MethodNotAllowed | UnsupportedMediaType | BadEncoding | BadPayload => "bad_payload",
            TooLarge => "too_large",
            RequestTimeout => "timeout",
            BadSignature => "bad_signature",
            StaleTimestamp => "stale_timestamp",
            SchemaInvalid => "schema_invalid",
            StoreUnavailable => "store_unavailable",
            DestinationFailed => "destination_failed",
        }
    }

    /// `(title, public detail)`: the category only.
    fn public_text(self) -> (&'static str, &'static str) {
        use RejectionKind::*;
        match self {
            NotFound => ("Not Found", "no such route"),
            Overloaded { .. } => (
                "Service Unavailable",
                "the gateway is overloaded; retry later",
            ),
            HttpsRequired => ("Forbidden", "https is required"),
            IpDenied => ("Forbidden", "client address not allowed"),
            RateLimited { .. } => ("Too Many Requests", "rate limit exceeded; retry later"),
            MethodNotAllowed => ("Method Not Allowed", "webhooks are sent with POST"),
            UnsupportedMediaType => ("Unsupported Media Type", "unsupported content type"),
            TooLarge => ("Payload Too Large", "request body too large"),
            BadEncoding => ("Bad Request", "invalid content encoding"),
            RequestTimeout => ("Request Timeout", "the request was not received in time"),
            BadSignature => ("Unauthorized", "invalid signature"),
            StaleTimestamp => ("Unauthorized", "invalid signature"),
            BadPayload => ("Bad Request", "invalid payload"),
            SchemaInvalid => ("Unprocessable Content", "payload does not match the schema"),
            StoreUnavailable => (
                "Service Unavailable",
                "event store unavailable; retry later",
            ),
            DestinationFailed => ("Bad Gateway", "the handler did not answer; retry later"),
        }
    }

    fn retry_after(self) -> Option<Duration> {
        match self {
            RejectionKind::Overloaded { retry_after }
            | RejectionKind::RateLimited { retry_after } => Some(retry_after),
            RejectionKind::StoreUnavailable => Some(Duration::from_secs(5)),
            _ => None,
        }
    }
}

impl Rejection {
    pub fn new(kind: RejectionKind, detail: impl Into<String>) -> Self {
        Self {
            kind,
            detail: detail.into(),
        }
    }
}

/// The request id of the request being answered, placed in extensions by the request-id layer
/// and copied into the problem body so a provider's support ticket can be matched to our logs.
#[derive(Debug, Clone)]
pub struct RequestId(pub HeaderValue);

#[derive(Serialize)]
struct Problem<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    title: &'a str,
    status: u16,
    detail: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    request_id: Option<&'a str>,
    /// Extension members (RFC 9457 section 3.2), such as a refused reload's `errors`.
    #[serde(flatten)]
    extensions: Option<&'a serde_json::Map<String, serde_json::Value>>,
}

/// Builds the problem+json response. `request_id` is filled in by [`fill_request_id`] at the top
/// of the stack, because the layer that refuses often does not know it.
impl IntoResponse for Rejection {
    fn into_response(self) -> Response {
        let status = self.kind.status();
        let mut response = problem_response(status, self.kind.public_text(), None);
        if let Some(wait) = self.kind.retry_after() {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, retry_after_value(wait));
        }
        response.extensions_mut().insert(self);
        response
    }
}

fn problem_response(status: StatusCode, text: (&str, &str), request_id: Option<&str>) -> Response {
    write_problem(status, text, request_id, None)
}

/// A problem+json answer whose `detail` is the real reason: for the admin API, whose callers
/// hold the token. `extensions` are added as members of their own (RFC 9457 section 3.2).
pub fn operator_problem(
    status: StatusCode,
    title: &str,
    detail: &str,
    extensions: Option<&serde_json::Map<String, serde_json::Value>>,
) -> Response {
    write_problem(status, (title, detail), None, extensions)
}

/// The one writer of `application/problem+json` bodies.
fn write_problem(
    status: StatusCode,
    (title, detail): (&str, &str),
    request_id: Option<&str>,
    extensions: Option<&serde_json::Map<String, serde_json::Value>>,
) -> Response {
    let problem = Problem {
        kind: "about:blank",
        title,
        status: status.as_u16(),
        detail,
        request_id,
        extensions,
    };
    // Serialising a struct of strings and a u16 cannot fail.
    let body = serde_json::to_vec(&problem).unwrap_or_default();
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    response
}

/// Re-renders a rejection's body with the request id once it is known.
pub fn fill_request_id(mut response: Response, request_id: &str) -> Response {
    let Some(rejection) = response.extensions().get::<Rejection>().cloned() else {
        return response;
    };
    let status = response.status();
    let mut filled = problem_response(status, rejection.kind.public_text(), Some(request_id));
    std::mem::swap(response.body_mut(), filled.body_mut());
    response
}

/// `Retry-After` in whole seconds, rounded up and never 0: a client told "0" retries at once.
pub fn retry_after_value(wait: Duration) -> HeaderValue {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    HeaderValue::from(secs.max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_rounds_up_and_is_never_zero() {
        assert_eq!(retry_after_value(Duration::ZERO), "1");
        assert_eq!(retry_after_value(Duration::from_millis(200)), "1");
        assert_eq!(retry_after_value(Duration::from_millis(1200)), "2");
        assert_eq!(retry_after_value(Duration::from_secs(3)), "3");
    }

    #[test]
    fn a_signature_failure_and_a_stale_timestamp_look_the_same_to_the_client() {
        assert_eq!(
            RejectionKind::BadSignature.public_text(),
            RejectionKind::StaleTimestamp.public_text()
        );
        assert_ne!(
            RejectionKind::BadSignature.reason(),
            RejectionKind::StaleTimestamp.reason()
        );
    }

    /// The body of a problem+json answer, parsed and as text, once its content type is checked.
    async fn problem_body(response: Response) -> (serde_json::Value, String) {
        assert_eq!(
            response.headers()[header::CONTENT_TYPE],
            "application/problem+json"
        );
        let bytes = axum::body::to_bytes(response.into_body(), 4096)
            .await
            .expect("small body");
        let body = serde_json::from_slice(&bytes).expect("json");
        (body, String::from_utf8_lossy(&bytes).into_owned())
    }

    #[tokio::test]
    async fn an_operator_problem_carries_its_detail_and_extension_members() {
        let mut extensions = serde_json::Map::new();
        extensions.insert("errors".into(), serde_json::json!(["sources.x: no secret"]));
        let response = operator_problem(
            StatusCode::UNPROCESSABLE_ENTITY,
            "configuration refused",
            "the new configuration is invalid; the running one stays",
            Some(&extensions),
        );
        let (body, _) = problem_body(response).await;
        assert_eq!(body["type"], "about:blank");
        assert_eq!(body["status"], 422);
        assert_eq!(body["title"], "configuration refused");
        assert_eq!(body["errors"][0], "sources.x: no secret");
        assert!(body.get("request_id").is_none());
    }

    #[tokio::test]
    async fn problem_body_carries_the_category_but_not_the_private_detail() {
        let rejection = Rejection::new(
            RejectionKind::BadSignature,
            "no active secret matches (2 tried)",
        );
        let response = fill_request_id(rejection.into_response(), "req-1");
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        let (body, text) = problem_body(response).await;
        assert_eq!(body["status"], 401);
        assert_eq!(body["detail"], "invalid signature");
        assert_eq!(body["request_id"], "req-1");
        assert!(!text.contains("tried"));
    }
}
