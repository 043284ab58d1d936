//! `/ui/destinations`: every configured destination's state and queue, with pause and resume
//! (operator and admin) through the admin API's own functions.

use std::sync::Arc;

use axum::Extension;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use maud::html;
use serde::Deserialize;

use super::session::Session;
use super::state::Console;
use super::{guard, layout};
use crate::admin::destinations::{pause_destination, resume_destination, views};

#[derive(Debug, Default, Deserialize)]
pub(super) struct PageParams {
    #[serde(default)]
    done: Option<String>,
}

/// `GET /ui/destinations`
pub(super) async fn page(
    State(console): State<Arc<Console>>,
    Extension(session): Extension<Session>,
    Query(params): Query<PageParams>,
) -> Response {
    let destinations = match views(&console.live).await {
        Ok(views) => views,
        Err(error) => return layout::admin_error(error),
    };
    let notice = match params.done.as_deref() {
        Some("paused") => Some("Paused: its deliveries wait until it is resumed."),
        Some("resumed") => Some("Resumed: deliveries start again, circuit closed."),
        _ => None,
    };
    let content = html! {
        h1 { "Destinations" }
        (layout::notice(notice))
        @if destinations.is_empty() {
            p { "No destination is configured." }
        } @else {
            div.scroll {
                table id="destinations" {
                    thead { tr {
                        th { "Name" } th { "Source" } th { "Type" } th { "State" }
                        th.num { "Queued" } th.num { "Failures in a row" } th { "Next probe" } th { "" }
                    } }
                    tbody {
                        @for d in &destinations {
                            tr {
                                td.mono { (d.name) }
                                td { (d.source) }
                                td { (d.kind) }
                                td { (layout::badge(d.state)) }
                                td.num { (d.queue_depth) }
                                td.num { (d.consecutive_failures) }
                                td { (d.next_probe_at.as_deref().unwrap_or("—")) }
                                td {
                                    @if session.may_operate() {
                                        @let action = if d.state == "paused" { "resume" } else { "pause" };
                                        form.inline method="post" action={ "/ui/destinations/" (d.name) "/" (action) } {
                                            (layout::csrf_field(&session))
                                            button.secondary type="submit" { @if action == "pause" { "Pause" } @else { "Resume" } }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    layout::page(&session, "Destinations", "/ui/destinations", content)
}

/// `POST /ui/destinations/{name}/pause`
pub(super) async fn pause(
    State(console): State<Arc<Console>>,
    Extension(session): Extension<Session>,
    Path(name): Path<String>,
) -> Response {
    if let Some(refused) = guard::refused_unless_operator(&session) {
        return refused;
    }
    match pause_destination(&console.live, &session.actor, &name).await {
        Ok(()) => layout::see_other("/ui/destinations?done=paused"),
        Err(error) => layout::admin_error(error),
    }
}

/// `POST /ui/destinations/{name}/resume`
pub(super) async fn resume(
    State(console): State<Arc<Console>>,
    Extension(session): Extension<Session>,
    Path(name): Path<String>,
) -> Response {
    if let Some(refused) = guard::refused_unless_operator(&session) {
        return refused;
    }
    match resume_destination(&console.live, &session.actor, &name).await {
        Ok(()) => layout::see_other("/ui/destinations?done=resumed"),
        Err(error) => layout::admin_error(error),
    }
}
