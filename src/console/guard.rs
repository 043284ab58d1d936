//! The gate in front of every console page but the login: a live session, or a 303 to
//! `/ui/login`; on a POST, the session's CSRF token in the form's `csrf` field, or 403. The
//! check is here, once, so no handler can forget it; handlers that act also check the role
//! ([`refused_unless_operator`]).

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use http::{Method, StatusCode};

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
    let Some(mut session) =
        session::cookie_value(request.headers()).and_then(|id| console.sessions.get(id))
    else {
        return layout::see_other("/ui/login");
    };
    session.actor.client_ip = console.client_ip(peer(request.extensions()), request.headers());
    let mut request = request;
    if request.method() == Method::POST {
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
