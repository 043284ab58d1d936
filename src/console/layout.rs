//! The page shell every console page shares (head, navigation, the logout form) and the small
//! pieces pages repeat: times, status badges, redirects, error pages.
//!
//! Everything is built with `maud`'s `html!`, which escapes every interpolated value; nothing
//! here uses `PreEscaped`. Styling is by class only (the CSP forbids inline styles).

use axum::response::{Html, IntoResponse, Response};
use http::{StatusCode, header};
use maud::{DOCTYPE, Markup, html};

use super::assets;
use super::session::Session;
use crate::admin::AdminError;
use crate::admin::events::rfc3339;

/// The pages of the navigation: (path, label).
const NAV: &[(&str, &str)] = &[
    ("/ui/", "Overview"),
    ("/ui/events", "Events"),
    ("/ui/dead", "Dead letters"),
    ("/ui/refusals", "Refusals"),
    ("/ui/destinations", "Destinations"),
    ("/ui/test", "Security test"),
    ("/ui/audit", "Audit"),
];

/// A whole page for a logged-in session; `active` is the navigation entry to mark.
pub fn page(session: &Session, title: &str, active: &str, content: Markup) -> Response {
    shell(session, title, active, None, content)
}

/// [`page`] whose `<main>` the script fetches again every `seconds`.
pub fn refreshing_page(
    session: &Session,
    title: &str,
    active: &str,
    seconds: u32,
    content: Markup,
) -> Response {
    shell(session, title, active, Some(seconds), content)
}

fn shell(
    session: &Session,
    title: &str,
    active: &str,
    refresh: Option<u32>,
    content: Markup,
) -> Response {
    let body = html! {
        header.top {
            a.brand href="/ui/" { "hookwall" }
            nav {
                @for (path, label) in NAV {
                    @if *path == active {
                        a.active href=(path) aria-current="page" { (label) }
                    } @else {
                        a href=(path) { (label) }
                    }
                }
            }
            form.logout method="post" action="/ui/logout" {
                span.who { (session.actor.name) " (" (session.actor.role.name()) ")" }
                (csrf_field(session))
                button type="submit" { "Log out" }
            }
        }
        main id="main" data-refresh=[refresh] { (content) }
    };
    document(title, body)
}

/// A page outside a session (login, errors).
pub fn bare_page(title: &str, content: Markup) -> Response {
    document(
        title,
        html! {
            header.top { a.brand href="/ui/" { "hookwall" } }
            main id="main" { (content) }
        },
    )
}

fn document(title: &str, body: Markup) -> Response {
    let markup = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · hookwall" }
                link rel="stylesheet" href=(assets::css_path());
                script src=(assets::js_path()) defer {}
            }
            body { (body) }
        }
    };
    Html(markup.into_string()).into_response()
}

/// The hidden CSRF field every form of a session carries.
pub fn csrf_field(session: &Session) -> Markup {
    html! { input type="hidden" name="csrf" value=(session.csrf); }
}

/// A time as UTC RFC 3339 in a `<time>` element; the script shows it in the viewer's zone.
pub fn time(ms: i64) -> Markup {
    let text = rfc3339(ms);
    html! { time datetime=(text) { (text) } }
}

/// A status as a badge whose class gives its colour (the class is chosen from a fixed list).
pub fn badge(status: &str) -> Markup {
    let class = match status {
        "delivered" | "closed" | "accepted" | "accept" | "pass" | "ok" => "badge ok",
        "pending" | "half-open" | "skip" | "duplicate" => "badge wait",
        "failed" | "open" | "paused" => "badge warn",
        "dead" | "fail" | "reject" => "badge bad",
        _ => "badge",
    };
    html! { span class=(class) { (status) } }
}

/// 303 See Other to `location` (a path of the console, never one a request supplied).
pub fn see_other(location: &'static str) -> Response {
    (StatusCode::SEE_OTHER, [(header::LOCATION, location)]).into_response()
}

/// 303 See Other to a path built by the console (ids it validated, fixed query values).
pub fn see_other_to(location: String) -> Response {
    match http::HeaderValue::try_from(location) {
        Ok(value) => (StatusCode::SEE_OTHER, [(header::LOCATION, value)]).into_response(),
        Err(_) => see_other("/ui/"),
    }
}

/// An error answer as a page (the message is the console's own text or an admin detail).
pub fn error_page(status: StatusCode, message: &str) -> Response {
    let title = status.canonical_reason().unwrap_or("Error");
    let mut response = bare_page(
        title,
        html! {
            h1 { (status.as_u16()) " " (title) }
            p.notice.bad { (message) }
            p { a href="/ui/" { "Back to the overview" } }
        },
    );
    *response.status_mut() = status;
    response
}

/// An admin function's error shown as a page with its status.
pub fn admin_error(error: AdminError) -> Response {
    let (status, detail) = error.parts();
    error_page(status, detail)
}

/// `/ui/…` that is no page.
pub async fn not_found() -> Response {
    error_page(StatusCode::NOT_FOUND, "There is no console page here.")
}

/// A one-line notice after an action (the console's own words; a value from a record in it is
/// escaped as every value is).
pub fn notice(text: Option<&str>) -> Markup {
    html! {
        @if let Some(text) = text {
            p.notice role="status" { (text) }
        }
    }
}
