//! The admin listener (SPEC section 5): operators' routes, on their own address, behind a
//! bearer token.
//!
//! | route | module |
//! |---|---|
//! | `GET /admin/sources` | [`sources`] |
//! | `GET /admin/events`, `/admin/events/{id}`, `/admin/events/export` | [`events`] |
//! | `POST /admin/events/{id}/replay`, `/admin/events/replay` | [`events`] |
//! | `POST /admin/sources/{source}/test` | [`dry_run`] |
//! | `POST /admin/reload` | here |
//!
//! Without `server.admin_token` every `/admin/*` route answers 401: the admin API is never open
//! by omission. The token is compared in constant time and reloads with the config.

pub mod dry_run;
pub mod events;
pub mod sources;

use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use http::{StatusCode, header};
use secrecy::ExposeSecret;
use serde_json::json;

use crate::live::Live;
use crate::providers::credential_eq;
use crate::store::StoreError;

/// The admin listener's router.
pub fn router(live: Arc<Live>) -> Router {
    let admin = Router::new()
        .route("/admin/sources", get(sources::list))
        .route("/admin/sources/{source}/test", post(dry_run::handler))
        .route("/admin/events", get(events::list))
        .route("/admin/events/export", get(events::export))
        .route("/admin/events/replay", post(events::replay_matching))
        .route("/admin/events/{id}", get(events::show))
        .route("/admin/events/{id}/replay", post(events::replay_one))
        .route("/admin/reload", post(reload))
        .layer(from_fn_with_state(live.clone(), require_token))
        .with_state(live.clone());
    Router::new()
        .route("/metrics", get(metrics))
        .with_state(live)
        .merge(admin)
        .fallback(|| async { AdminError::new(StatusCode::NOT_FOUND, "no such admin route") })
}

/// `Authorization: Bearer <admin_token>`, compared in constant time.
async fn require_token(State(live): State<Arc<Live>>, request: Request, next: Next) -> Response {
    let snapshot = live.snapshot();
    let Some(expected) = snapshot.admin_token() else {
        return unauthorized("the admin API is disabled: set server.admin_token");
    };
    let given = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .map(str::trim);
    match given {
        Some(given) if credential_eq(expected.expose_secret().as_bytes(), given.as_bytes()) => {
            drop(snapshot);
            next.run(request).await
        }
        Some(_) => unauthorized("wrong admin token"),
        None => unauthorized("missing Authorization: Bearer <admin_token>"),
    }
}

fn unauthorized(detail: &str) -> Response {
    let mut response = AdminError::new(StatusCode::UNAUTHORIZED, detail).into_response();
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        http::HeaderValue::from_static("Bearer realm=\"hookwall-admin\""),
    );
    response
}

/// `GET /metrics`: the Prometheus text format. Not behind the token (Prometheus scrapes it);
/// the admin listener belongs on loopback or a private network. The store gauges are read now.
async fn metrics(State(live): State<Arc<Live>>) -> Response {
    let m = crate::telemetry::metrics::metrics();
    match tokio::time::timeout(std::time::Duration::from_secs(2), live.store().depths()).await {
        Ok(Ok(depths)) => {
            // Sources with nothing waiting are absent from `depths`: they read 0. Only after a
            // successful read: a store that cannot answer must not look like an empty queue
            // (the gauges keep their last values, and the log says why).
            for source in &live.snapshot().sources {
                m.queue_depth.with_label_values(&[&*source.name]).set(0);
                m.dead_letter_events
                    .with_label_values(&[&*source.name])
                    .set(0);
            }
            for depth in depths {
                m.queue_depth
                    .with_label_values(&[&depth.source])
                    .set(depth.queued);
                m.dead_letter_events
                    .with_label_values(&[&depth.source])
                    .set(depth.dead);
            }
        }
        Ok(Err(err)) => tracing::warn!(error = %err, "metrics: cannot read queue depths"),
        Err(_) => tracing::warn!("metrics: reading queue depths timed out"),
    }
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        m.encode(),
    )
        .into_response()
}

/// `POST /admin/reload`: as SIGHUP, but the caller sees the outcome.
async fn reload(State(live): State<Arc<Live>>) -> Response {
    match live.reload_logged().await {
        Ok(reloaded) => axum::Json(json!({
            "status": "reloaded",
            "sources": reloaded.sources,
            "warnings": reloaded.warnings,
            "restart_needed": reloaded.restart_needed,
        }))
        .into_response(),
        Err(errors) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            [(header::CONTENT_TYPE, "application/problem+json")],
            axum::Json(json!({
                "type": "about:blank",
                "title": "configuration refused",
                "status": 422,
                "detail": "the new configuration is invalid; the running one stays",
                "errors": errors,
            })),
        )
            .into_response(),
    }
}

/// An admin answer that is not a success. Operators are trusted: the detail is shown.
#[derive(Debug)]
pub struct AdminError {
    status: StatusCode,
    detail: String,
}

impl AdminError {
    pub fn new(status: StatusCode, detail: impl Into<String>) -> AdminError {
        AdminError {
            status,
            detail: detail.into(),
        }
    }

    pub fn bad_request(detail: impl Into<String>) -> AdminError {
        AdminError::new(StatusCode::BAD_REQUEST, detail)
    }

    pub fn not_found(detail: impl Into<String>) -> AdminError {
        AdminError::new(StatusCode::NOT_FOUND, detail)
    }
}

impl From<StoreError> for AdminError {
    fn from(error: StoreError) -> AdminError {
        tracing::error!(error = %error, "admin request: store failed");
        AdminError::new(StatusCode::SERVICE_UNAVAILABLE, error.to_string())
    }
}

impl IntoResponse for AdminError {
    fn into_response(self) -> Response {
        let title = self.status.canonical_reason().unwrap_or("error");
        (
            self.status,
            [(header::CONTENT_TYPE, "application/problem+json")],
            axum::Json(json!({
                "type": "about:blank",
                "title": title,
                "status": self.status.as_u16(),
                "detail": self.detail,
            })),
        )
            .into_response()
    }
}
