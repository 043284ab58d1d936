//! The gate in front of every console page but the login: a live session whose token is still
//! configured (acting with the role that token has now), or a 303 to `/ui/login`; on a POST,
//! a same-origin request ([`cross_site`]) with the session's CSRF token in the form's `csrf`
//! field, or 403. The check is here, once, so no handler can forget it; handlers that act also
//! check the role ([`refused_unless_operator`], [`refused_unless_admin`]).

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use http::{HeaderMap, HeaderValue, Method, StatusCode, header};

use super::layout;
use super::session::{self, Session};
use super::state::{Console, peer};

/// The largest form the console takes (the security test's body is the large one).
pub const MAX_FORM_BYTES: usize = 2 * 1024 * 1024;

pub(super) async fn require_session(
    State(console): State<Arc<Console>>,
    request: Request,
    next: Next,
) -> Response {
    let Some(found) =
        session::cookie_value(request.headers()).and_then(|id| console.sessions.get(id))
    else {
        return layout::see_other("/ui/login");
    };
    // A reload may have removed the session's token, or changed its role.
    let current = found
        .clone()
        .current(console.live.snapshot().admin_tokens());
    let Some(mut session) = current else {
        console.sessions.remove(&found.id);
        tracing::info!(actor = %found.actor.name, "console session ended: its token is no longer configured");
        return layout::see_other("/ui/login");
    };
    session.actor.client_ip = console.client_ip(peer(request.extensions()), request.headers());
    let mut request = request;
    if request.method() == Method::POST {
        if cross_site(request.headers()) {
            return cross_site_refused(request.uri().path());
        }
        let (parts, body) = request.into_parts();
        let Ok(bytes) = axum::body::to_bytes(body, MAX_FORM_BYTES).await else {
            return layout::error_page(
                StatusCode::PAYLOAD_TOO_LARGE,
                "The form is larger than the console accepts (2 MiB).",
            );
        };
        let presented = url::form_urlencoded::parse(&bytes)
            .find(|(name, _)| name == "csrf")
            .map(|(_, value)| value.into_owned());
        if !presented.is_some_and(|token| session.csrf_matches(&token)) {
            tracing::warn!(
                actor = %session.actor.name,
                client_ip = session.actor.client_ip.map(tracing::field::display),
                path = %parts.uri.path(),
                "console POST refused: missing or wrong CSRF token"
            );
            return layout::error_page(
                StatusCode::FORBIDDEN,
                "This form is out of date or did not come from the console. Reload the page and try again.",
            );
        }
        request = Request::from_parts(parts, Body::from(bytes));
    }
    request.extensions_mut().insert(session.actor.clone());
    request.extensions_mut().insert(session);
    next.run(request).await
}

/// The 403 page when the session's role may not act (only operators and admins may).
pub(super) fn refused_unless_operator(session: &Session) -> Option<Response> {
    if session.may_operate() {
        None
    } else {
        tracing::warn!(actor = %session.actor.name, role = session.actor.role.name(), "console action refused: role may only read");
        Some(layout::error_page(
            StatusCode::FORBIDDEN,
            "Your token's role may read the console but not act: replay, pause, resume and the security test need an operator or admin token.",
        ))
    }
}

/// The 403 page when the session's role is not `admin` (reloading the configuration needs it).
pub(super) fn refused_unless_admin(session: &Session) -> Option<Response> {
    if session.may_administer() {
        None
    } else {
        tracing::warn!(actor = %session.actor.name, role = session.actor.role.name(), "console reload refused: role is not admin");
        Some(layout::error_page(
            StatusCode::FORBIDDEN,
            "Reloading the configuration needs an admin token.",
        ))
    }
}

/// Whether a request came from another site's page, by what the browser says (the method of
/// Go's `net/http.CrossOriginProtection`): `Sec-Fetch-Site` when the browser sends it (every
/// current one does), else `Origin` against `Host`. A request with neither (a script, an old
/// browser) is not refused here: the CSRF token and the `SameSite=Strict` cookie still stand.
/// The console's own pages send no referrer, so their `Origin` may be `null`; browsers that
/// send `Sec-Fetch-Site` are judged by it alone.
pub(super) fn cross_site(headers: &HeaderMap) -> bool {
    if let Some(site) = headers.get("sec-fetch-site") {
        return !matches!(site.as_bytes(), b"same-origin" | b"none");
    }
    let Some(origin) = headers.get(header::ORIGIN) else {
        return false;
    };
    let host = headers.get(header::HOST).map(HeaderValue::as_bytes);
    let origin_host = origin
        .to_str()
        .ok()
        .and_then(|origin| origin.split_once("://"))
        .map(|(_, authority)| authority.as_bytes());
    origin_host.is_none() || origin_host != host
}

/// The 403 of a POST from another site's page.
pub(super) fn cross_site_refused(path: &str) -> Response {
    tracing::warn!(path, "console POST refused: it came from another site");
    layout::error_page(
        StatusCode::FORBIDDEN,
        "This form was sent from another site. Open the console yourself and try again.",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(name, value)| {
                (
                    http::HeaderName::from_static(name),
                    HeaderValue::from_static(value),
                )
            })
            .collect()
    }

    #[test]
    fn a_browser_saying_same_origin_passes_and_one_saying_cross_site_does_not() {
        assert!(!cross_site(&headers(&[("sec-fetch-site", "same-origin")])));
        assert!(!cross_site(&headers(&[("sec-fetch-site", "none")])));
        // The console sends no referrer, so its own forms may carry `Origin: null`.
        assert!(!cross_site(&headers(&[
            ("sec-fetch-site", "same-origin"),
            ("origin", "null")
        ])));
        assert!(cross_site(&headers(&[("sec-fetch-site", "cross-site")])));
        assert!(cross_site(&headers(&[("sec-fetch-site", "same-site")])));
    }

    #[test]
    fn without_sec_fetch_site_the_origin_must_be_the_host() {
        assert!(!cross_site(&headers(&[])));
        assert!(!cross_site(&headers(&[
            ("origin", "http://127.0.0.1:9091"),
            ("host", "127.0.0.1:9091")
        ])));
        assert!(cross_site(&headers(&[
            ("origin", "https://evil.example"),
            ("host", "127.0.0.1:9091")
        ])));
        assert!(cross_site(&headers(&[
            ("origin", "null"),
            ("host", "127.0.0.1:9091")
        ])));
    }
}
