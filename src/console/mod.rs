//! The operator console (SPEC section 11): server-rendered pages under `/ui/` on the admin
//! listener, for a person in a browser. It reads and acts through the same store calls and the
//! same functions as the admin API ([`crate::admin`]), and adds only what a browser needs:
//! sessions ([`session`]), a login ([`login`]), CSRF tokens on every form ([`guard`]), HTML.
//!
//! Every byte a provider sent may be hostile, so every page is built with `maud`, which escapes
//! whatever it interpolates; nothing from a request or the store is ever wrapped in
//! `PreEscaped`. Every answer carries the CSP of SPEC section 11 (no inline script, no inline
//! style, no plugin, no framing), `nosniff` and `no-referrer`; pages are `no-store`.
//!
//! | route | module |
//! |---|---|
//! | `GET/POST /ui/login`, `POST /ui/logout` | [`login`] |
//! | `GET /ui/` | [`overview`] |
//! | `GET /ui/events`, `/ui/events/{id}`, `POST /ui/events/{id}/replay` | [`events`] |
//! | `GET /ui/dead`, `POST /ui/dead/replay` | [`dead`] |
//! | `GET /ui/destinations`, `POST /ui/destinations/{name}/pause`, `/resume` | [`destinations`] |
//! | `GET /ui/refusals`, `/ui/refusals/{id}`, `POST …/{id}/retest`, `…/{id}/admit` | [`refusals`] |
//! | `GET/POST /ui/test` | [`security_test`] |
//! | `GET /ui/audit` | [`audit`] |
//! | `POST /ui/reload` | [`reload`] |
//! | `GET /ui/assets/{file}` | [`assets`] |

mod assets;
mod audit;
mod body;
mod dead;
mod destinations;
mod events;
mod guard;
mod layout;
mod limit;
mod login;
mod overview;
mod refusals;
mod reload;
mod security_test;
pub mod session;
mod state;

use std::sync::Arc;

use axum::Router;
use axum::middleware::{from_fn_with_state, map_response};
use axum::response::Response;
use axum::routing::{any, get, post};
use http::{HeaderValue, header};

use crate::live::Live;

pub use session::authenticate;
pub use state::Console;

/// The console's routes, all under `/ui/`, for the admin listener.
pub fn router(live: Arc<Live>) -> Router {
    let console = Arc::new(Console::new(live));
    let pages = Router::new()
        .route("/ui/", get(overview::page))
        .route("/ui/events", get(events::list))
        .route("/ui/events/{id}", get(events::show))
        .route("/ui/events/{id}/replay", post(events::replay))
        .route("/ui/dead", get(dead::page))
        .route("/ui/dead/replay", post(dead::replay))
        .route("/ui/destinations", get(destinations::page))
        .route("/ui/destinations/{name}/pause", post(destinations::pause))
        .route("/ui/destinations/{name}/resume", post(destinations::resume))
        .route("/ui/refusals", get(refusals::list))
        .route("/ui/refusals/{id}", get(refusals::show))
        .route("/ui/refusals/{id}/retest", post(refusals::retest))
        .route("/ui/refusals/{id}/admit", post(refusals::admit))
        .route("/ui/audit", get(audit::page))
        .route("/ui/reload", post(reload::reload))
        .route(
            "/ui/test",
            get(security_test::form).post(security_test::run),
        )
        .route("/ui/logout", post(login::logout))
        // Not a fallback: the console is merged into the admin router, whose fallback stays
        // its own.
        .route("/ui/{*rest}", any(layout::not_found))
        // Every route above needs a session, and every POST its CSRF token.
        .layer(from_fn_with_state(console.clone(), guard::require_session));
    Router::new()
        .route("/ui", get(|| async { layout::see_other("/ui/") }))
        .route("/ui/login", get(login::form).post(login::submit))
        .route("/ui/assets/{file}", get(assets::serve))
        .with_state(console.clone())
        .merge(pages.with_state(console))
        .layer(map_response(security_headers))
}

/// SPEC section 11's headers on every console answer (redirects and errors included).
async fn security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; script-src 'self'; object-src 'none'; frame-ancestors 'none'",
        ),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}
