//! The admin listener (SPEC section 5): operators' routes, on their own address, behind a
//! bearer token.
//!
//! | route | module |
//! |---|---|
//! | `GET /admin/sources` | [`sources`] |
//! | `GET /admin/events`, `/admin/events/{id}`, `/admin/events/export` | [`events`] |
//! | `POST /admin/events/{id}/replay`, `/admin/events/replay` | [`events`] |
//! | `POST /admin/sources/{source}/test` | [`dry_run`] |
//! | `GET /admin/destinations`, `POST /admin/destinations/{name}/pause`, `/resume` | [`destinations`] |
//! | `POST /admin/reload`, `GET /metrics` | here |
//!
//! Who may call them is [`auth`]'s concern; the error answer is [`error`]'s.

mod auth;
pub mod destinations;
pub mod dry_run;
mod error;
pub mod events;
pub mod sources;

pub use auth::Actor;
pub use error::AdminError;

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::middleware::from_fn_with_state;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use http::{StatusCode, header};
use serde_json::json;

use crate::http::problem::operator_problem;
use crate::live::Live;

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
        .route("/admin/destinations", get(destinations::list))
        .route(
            "/admin/destinations/{name}/pause",
            post(destinations::pause),
        )
        .route(
            "/admin/destinations/{name}/resume",
            post(destinations::resume),
        )
        .route("/admin/reload", post(reload))
        .layer(from_fn_with_state(live.clone(), auth::require_token))
        .with_state(live.clone());
    Router::new()
        .route("/metrics", get(metrics))
        .with_state(live)
        .merge(admin)
        .fallback(|| async { AdminError::new(StatusCode::NOT_FOUND, "no such admin route") })
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
        Err(errors) => {
            let mut extensions = serde_json::Map::new();
            extensions.insert("errors".to_owned(), json!(errors));
            operator_problem(
                StatusCode::UNPROCESSABLE_ENTITY,
                "configuration refused",
                "the new configuration is invalid; the running one stays",
                Some(&extensions),
            )
        }
    }
}
