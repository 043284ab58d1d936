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
use serde_json::{Value, json};

use super::audit::record;
use super::auth::Actor;
use super::error::AdminError;
use super::events::rfc3339;
use crate::delivery::circuit;
use crate::live::Live;
use crate::store::{AuditAction, DestinationState};

/// `GET /admin/destinations`: every configured destination, in config order.
pub async fn list(State(live): State<Arc<Live>>) -> Result<Response, AdminError> {
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
    let destinations: Vec<Value> = snapshot
        .config
        .sources
        .iter()
        .flat_map(|source| source.destinations.iter().map(move |d| (source, d)))
        .map(|(source, destination)| {
            let name = &destination.name;
            let state = states
                .remove(name)
                .unwrap_or_else(|| DestinationState::new(name));
            json!({
                "name": name,
                "source": source.name,
                "type": destination.kind.type_name(),
                "state": circuit::shown(&state),
                "queue_depth": depths.get(name).copied().unwrap_or(0),
                "consecutive_failures": state.consecutive_failures,
                "opened_at": state.opened_at_ms.map(rfc3339),
                "next_probe_at": state.next_probe_at_ms.map(rfc3339),
            })
        })
        .collect();
    Ok(axum::Json(destinations).into_response())
}

/// `POST /admin/destinations/{name}/pause`: its deliveries keep queueing and none is attempted.
/// Audited with the saved state (`ok`), or on its own (`ok unchanged`) when already paused.
pub async fn pause(
    State(live): State<Arc<Live>>,
    Extension(actor): Extension<Actor>,
    Path(name): Path<String>,
) -> Result<Response, AdminError> {
    configured(&live, &name)?;
    live.control
        .pause(&name, &record(&actor, AuditAction::Pause, &name, "ok"))
        .await?;
    tracing::warn!(actor = %actor.name, destination = %name, action = "pause", "destination paused by an operator");
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `POST /admin/destinations/{name}/resume`: deliveries resume, the circuit closed. Audited as
/// a pause is.
pub async fn resume(
    State(live): State<Arc<Live>>,
    Extension(actor): Extension<Actor>,
    Path(name): Path<String>,
) -> Result<Response, AdminError> {
    configured(&live, &name)?;
    live.control
        .resume(&name, &record(&actor, AuditAction::Resume, &name, "ok"))
        .await?;
    tracing::info!(actor = %actor.name, destination = %name, action = "resume", "destination resumed by an operator");
    Ok(StatusCode::NO_CONTENT.into_response())
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
