//! Destinations: their state (closed, open, half-open, paused) and queue, and the manual pause
//! and resume (SPEC section 10).
//!
//! The state is read from the store, where every instance of one store keeps it, so any
//! instance's admin API shows the same; a pause or resume is saved there and holds on every
//! instance (this one at once, the others within `delivery::control::REFRESH`). Names are the
//! configured ones: a name not in the running config is 404.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Extension;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use serde::Serialize;

use super::audit::record;
use super::auth::Actor;
use super::error::AdminError;
use super::events::rfc3339;
use crate::delivery::circuit;
use crate::live::Live;
use crate::store::{AuditAction, DestinationState};

/// One configured destination as an operator sees it (the API's JSON, the console's row).
#[derive(Debug, Clone, Serialize)]
pub struct DestinationView {
    pub name: String,
    pub source: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub state: &'static str,
    pub queue_depth: i64,
    pub consecutive_failures: u32,
    pub opened_at: Option<String>,
    pub next_probe_at: Option<String>,
}

/// `GET /admin/destinations`: every configured destination, in config order.
pub async fn list(State(live): State<Arc<Live>>) -> Result<Response, AdminError> {
    Ok(axum::Json(views(&live).await?).into_response())
}

/// Every configured destination with its state and queue, in config order.
pub async fn views(live: &Live) -> Result<Vec<DestinationView>, AdminError> {
    let snapshot = live.snapshot();
    let mut states: HashMap<String, DestinationState> = live
        .store()
        .destination_states()
        .await?
        .into_iter()
        .map(|state| (state.name.clone(), state))
        .collect();
    let depths: HashMap<String, i64> = live
        .store()
        .destination_depths()
        .await?
        .into_iter()
        .collect();
    Ok(snapshot
        .config
        .sources
        .iter()
        .flat_map(|source| source.destinations.iter().map(move |d| (source, d)))
        .map(|(source, destination)| {
            let name = &destination.name;
            let state = states
                .remove(name)
                .unwrap_or_else(|| DestinationState::new(name));
            DestinationView {
                name: name.clone(),
                source: source.name.clone(),
                kind: destination.kind.type_name(),
                state: circuit::shown(&state),
                queue_depth: depths.get(name).copied().unwrap_or(0),
                consecutive_failures: state.consecutive_failures,
                opened_at: state.opened_at_ms.map(rfc3339),
                next_probe_at: state.next_probe_at_ms.map(rfc3339),
            }
        })
        .collect())
}

/// `POST /admin/destinations/{name}/pause`: its deliveries keep queueing and none is attempted.
/// Audited with the saved state (`ok`), or on its own (`ok unchanged`) when already paused.
pub async fn pause(
    State(live): State<Arc<Live>>,
    Extension(actor): Extension<Actor>,
    Path(name): Path<String>,
) -> Result<Response, AdminError> {
    pause_destination(&live, &actor, &name).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Pauses destination `name` for `actor`, audited with the saved state: what the API's and the
/// console's pause both do.
pub async fn pause_destination(live: &Live, actor: &Actor, name: &str) -> Result<(), AdminError> {
    configured(live, name)?;
    live.control
        .pause(name, &record(actor, AuditAction::Pause, name, "ok"))
        .await?;
    tracing::warn!(actor = %actor.name, destination = %name, action = "pause", "destination paused by an operator");
    Ok(())
}

/// `POST /admin/destinations/{name}/resume`: deliveries resume, the circuit closed. Audited as
/// a pause is.
pub async fn resume(
    State(live): State<Arc<Live>>,
    Extension(actor): Extension<Actor>,
    Path(name): Path<String>,
) -> Result<Response, AdminError> {
    resume_destination(&live, &actor, &name).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Resumes destination `name` for `actor`, audited as a pause is: what the API's and the
/// console's resume both do.
pub async fn resume_destination(live: &Live, actor: &Actor, name: &str) -> Result<(), AdminError> {
    configured(live, name)?;
    live.control
        .resume(name, &record(actor, AuditAction::Resume, name, "ok"))
        .await?;
    tracing::info!(actor = %actor.name, destination = %name, action = "resume", "destination resumed by an operator");
    Ok(())
}

/// 404 unless `name` is a destination of the running config.
fn configured(live: &Live, name: &str) -> Result<(), AdminError> {
    let known = live
        .snapshot()
        .config
        .sources
        .iter()
        .flat_map(|source| &source.destinations)
        .any(|destination| destination.name == name);
    if known {
        Ok(())
    } else {
        Err(AdminError::not_found(format!(
            "no destination named {name:?} in the running config"
        )))
    }
}
