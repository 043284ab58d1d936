//! The admin listener (SPEC sections 5 and 12): operators' routes, on their own address, behind
//! a bearer token whose role must reach the route's.
//!
//! | route | role | module |
//! |---|---|---|
//! | `GET /admin/sources` | viewer | [`sources`] |
//! | `GET /admin/events`, `GET /admin/events/{id}` | viewer | [`events`] |
//! | `GET /admin/destinations` | viewer | [`destinations`] |
//! | `GET /admin/audit` | viewer | [`audit`] |
//! | `GET /admin/refusals`, `GET /admin/refusals/{id}` | viewer | [`refusals`] |
//! | `POST /admin/sources/{source}/test` | operator | [`dry_run`] |
//! | `POST /admin/events/{id}/replay`, `POST /admin/events/replay` | operator | [`events`] |
//! | `POST /admin/destinations/{name}/pause`, `/resume` | operator | [`destinations`] |
//! | `POST /admin/refusals/{id}/retest` | operator | [`refusals`] |
//! | `POST /admin/reload` | admin | here |
//! | `GET /admin/events/export` | admin | [`events`] |
//! | `GET /metrics` | none, or any with `server.metrics_require_token` | here |
//!
//! A role may do everything the roles below it may. Who is calling and whether the role reaches
//! the route's is [`auth`]'s concern ([`router`] puts each route in its role's group); the error
//! answer is [`error`]'s.

pub mod audit;
mod auth;
pub mod destinations;
pub mod dry_run;
mod error;
pub mod events;
pub mod refusals;
pub mod sources;

pub use auth::{Actor, matching as matching_token};
pub use error::AdminError;

use std::sync::Arc;

use axum::extract::State;
use axum::middleware::from_fn_with_state;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
use http::{StatusCode, header};
use serde_json::json;

use crate::config::Role;
use crate::http::problem::operator_problem;
use crate::live::Live;

/// The admin listener's router. The role of every `/admin/*` route is the group it is in
/// (SPEC section 12); each group's `route_layer` checks it, under one layer that authenticates.
pub fn router(live: Arc<Live>) -> Router {
    let viewer = Router::new()
        .route("/admin/sources", get(sources::list))
        .route("/admin/events", get(events::list))
        .route("/admin/events/{id}", get(events::show))
        .route("/admin/destinations", get(destinations::list))
        .route("/admin/audit", get(audit::list))
        .route("/admin/refusals", get(refusals::list))
        .route("/admin/refusals/{id}", get(refusals::show))
        .route_layer(from_fn_with_state(Role::Viewer, auth::require_role));
    let operator = Router::new()
        .route("/admin/sources/{source}/test", post(dry_run::handler))
        .route("/admin/events/{id}/replay", post(events::replay_one))
        .route("/admin/events/replay", post(events::replay_matching))
        .route("/admin/refusals/{id}/retest", post(refusals::retest))
        .route(
            "/admin/destinations/{name}/pause",
            post(destinations::pause),
        )
        .route(
            "/admin/destinations/{name}/resume",
            post(destinations::resume),
        )
        .route_layer(from_fn_with_state(Role::Operator, auth::require_role));
    let admin = Router::new()
        .route("/admin/reload", post(reload))
        .route("/admin/events/export", get(events::export))
        .route_layer(from_fn_with_state(Role::Admin, auth::require_role));
    let authenticated = viewer
        .merge(operator)
        .merge(admin)
        .layer(from_fn_with_state(live.clone(), auth::require_token))
        .with_state(live.clone());
    Router::new()
        .route("/metrics", get(metrics))
        .route_layer(from_fn_with_state(live.clone(), auth::metrics_gate))
        .with_state(live)
        .merge(authenticated)
        .fallback(|| async { AdminError::new(StatusCode::NOT_FOUND, "no such admin route") })
}

/// `GET /metrics`: the Prometheus text format. Open by default (Prometheus scrapes it; the admin
/// listener belongs on loopback or a private network); with `server.metrics_require_token` it
/// needs a token of any role. The store gauges are read now.
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
    quarantine_records(&live).await;
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        m.encode(),
    )
        .into_response()
}

/// `hookwall_quarantine_records{source}`, read now; a source with none reads 0. Labelled by
/// configured sources only, so a source removed by a reload stops being updated.
async fn quarantine_records(live: &Live) {
    let records = &crate::telemetry::metrics::metrics().quarantine.records;
    match tokio::time::timeout(
        std::time::Duration::from_secs(2),
        live.store().refusal_counts(),
    )
    .await
    {
        Ok(Ok(counts)) => {
            for source in &live.snapshot().sources {
                let kept = counts
                    .iter()
                    .find(|(name, _)| name.as_str() == &*source.name)
                    .map_or(0, |(_, n)| *n);
                records.with_label_values(&[&*source.name]).set(kept);
            }
        }
        Ok(Err(err)) => tracing::warn!(error = %err, "metrics: cannot count quarantine records"),
        Err(_) => tracing::warn!("metrics: counting quarantine records timed out"),
    }
}

/// `POST /admin/reload`: as SIGHUP, but the caller sees the outcome. Audited either way.
async fn reload(State(live): State<Arc<Live>>, Extension(actor): Extension<Actor>) -> Response {
    match live.reload_audited(&actor.name, actor.client_ip).await {
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
