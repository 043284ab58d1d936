//! `/ui/login` and `/ui/logout`: a token typed into a form becomes a session cookie.
//!
//! Every login attempt from one client address takes a token from a small bucket
//! ([`super::limit`]: 5 a minute, a burst of 5); beyond it the answer is 429 before the
//! token is even compared, so guessing is as slow for a right guess as for a wrong one. A login
//! from another site's page is refused ([`super::guard::cross_site`]). Logins and failed logins
//! are audited (SPEC section 12; failed ones up to [`super::limit::FailureRecords`]' pace) and
//! logged with the client address, never with what was typed; a login whose record cannot be
//! written is refused, so nobody is in the console unrecorded.

use std::net::IpAddr;
use std::sync::Arc;

use axum::Extension;
use axum::Form;
use axum::extract::{FromRequest, Request, State};
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use maud::html;
use serde::Deserialize;

use super::session::{self, Session};
use super::state::{Console, request_origin};
use super::{guard, layout};
use crate::admin::Actor;
use crate::store::{AuditAction, NewAudit};

/// The audit record's target of a console login.
const TARGET: &str = "console";

fn login_page(status: StatusCode, message: Option<&str>) -> Response {
    let mut response = layout::bare_page(
        "Log in",
        html! {
            div.card {
                h1 { "Log in to the console" }
                @if let Some(message) = message {
                    p.notice.bad role="alert" { (message) }
                }
                form.stack method="post" action="/ui/login" {
                    label {
                        "Admin token"
                        input type="password" name="token" autocomplete="current-password" required autofocus;
                    }
                    button type="submit" { "Log in" }
                }
                p.muted { "The token is checked once and never stored in the browser: the console keeps a session for it, which ends at logout or after server.console_session_ttl." }
            }
        },
    );
    *response.status_mut() = status;
    response
}

/// `GET /ui/login`: the form (or the overview, for a browser that has a session).
pub(super) async fn form(State(console): State<Arc<Console>>, request: Request) -> Response {
    if session::cookie_value(request.headers()).is_some_and(|id| console.sessions.get(id).is_some())
    {
        return layout::see_other("/ui/");
    }
    login_page(StatusCode::OK, None)
}

#[derive(Deserialize)]
pub(super) struct LoginForm {
    #[serde(default)]
    token: String,
}

/// `POST /ui/login`: a session for a right token, the form again for a wrong one.
pub(super) async fn submit(State(console): State<Arc<Console>>, request: Request) -> Response {
    let (peer, headers) = request_origin(&request);
    let client_ip = console.client_ip(peer, headers);
    let secure = console.cookie_secure(peer, headers);
    // Without a peer address (never the case on the listener) every such request shares one
    // bucket: the unspecified address.
    if guard::cross_site(headers) {
        return guard::cross_site_refused("/ui/login");
    }
    let bucket = client_ip.unwrap_or(IpAddr::from([0, 0, 0, 0]));
    if !console.logins.allow(bucket) {
        tracing::warn!(client_ip = %bucket, "console login refused: too many attempts");
        let mut response = login_page(
            StatusCode::TOO_MANY_REQUESTS,
            Some("Too many login attempts from this address. Wait a minute and try again."),
        );
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("60"));
        return response;
    }
    let Ok(Form(form)) = Form::<LoginForm>::from_request(request, &()).await else {
        return login_page(StatusCode::BAD_REQUEST, Some("The form could not be read."));
    };
    let snapshot = console.live.snapshot();
    let Some((name, role, token)) = session::authenticate(&snapshot, &form.token) else {
        drop(snapshot);
        tracing::warn!(
            client_ip = client_ip.map(tracing::field::display),
            "console login failed: unknown token"
        );
        record_failure(&console, client_ip).await;
        return login_page(
            StatusCode::UNAUTHORIZED,
            Some("That token is not one this gateway knows."),
        );
    };
    drop(snapshot);
    let actor = Actor {
        name,
        role,
        client_ip,
    };
    let audit = NewAudit::new(&actor.name, AuditAction::Login, TARGET, "ok", client_ip);
    if let Err(err) = console.live.store().append_audit(&audit).await {
        tracing::error!(error = %err, actor = %actor.name, "console login refused: the audit trail cannot be written");
        return layout::error_page(
            StatusCode::SERVICE_UNAVAILABLE,
            "The login could not be recorded in the audit trail (the store is unavailable), so it was refused. Try again shortly.",
        );
    }
    let ttl = console.session_ttl();
    let session = match console.sessions.create(actor, token, ttl) {
        Ok(session) => session,
        Err(err) => {
            tracing::error!(error = %err, "console login: no session could be made");
            return layout::error_page(
                StatusCode::SERVICE_UNAVAILABLE,
                "No session could be made (the system's random generator failed).",
            );
        }
    };
    tracing::info!(actor = %session.actor.name, role = session.actor.role.name(), client_ip = client_ip.map(tracing::field::display), "console login");
    let cookie = session::set_cookie(&session, ttl, secure);
    let mut response = layout::see_other("/ui/");
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

/// The `login_failed` record of a wrong token, when [`super::limit::FailureRecords`] lets it
/// be written (its outcome counts the ones left out before it); a store error is logged, the
/// answer stays the 401.
async fn record_failure(console: &Console, client_ip: Option<IpAddr>) {
    let Some(left_out) = console.failures.record() else {
        return;
    };
    let outcome = if left_out == 0 {
        "unknown token".to_owned()
    } else {
        format!("unknown token; {left_out} failed login(s) before this one not recorded")
    };
    let audit = NewAudit::new(
        "unknown",
        AuditAction::LoginFailed,
        TARGET,
        &outcome,
        client_ip,
    );
    if let Err(err) = console.live.store().append_audit(&audit).await {
        tracing::error!(error = %err, "console: a failed login could not be recorded in the audit trail");
    }
}

/// `POST /ui/logout` (the guard has checked the CSRF token): the session is forgotten.
pub(super) async fn logout(
    State(console): State<Arc<Console>>,
    Extension(session): Extension<Session>,
    request: Request,
) -> Response {
    let (peer, headers) = request_origin(&request);
    let secure = console.cookie_secure(peer, headers);
    console.sessions.remove(&session.id);
    tracing::info!(actor = %session.actor.name, "console logout");
    let mut response = layout::see_other("/ui/login");
    if let Ok(value) = HeaderValue::from_str(&session::clear_cookie(secure)) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response.into_response()
}
