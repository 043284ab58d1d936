//! `/ui/dead`: dead letters by source, with a bulk replay per source (operator and admin)
//! through [`crate::admin::events::replay_filtered`], the admin API's own.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::response::Response;
use axum::{Extension, Form};
use maud::html;
use serde::Deserialize;

use super::session::Session;
use super::state::Console;
use super::{guard, layout};
use crate::admin::events::replay_filtered;
use crate::store::EventFilter;

#[derive(Debug, Default, Deserialize)]
pub(super) struct PageParams {
    #[serde(default)]
    replayed: Option<u64>,
}

/// `GET /ui/dead`
pub(super) async fn page(
    State(console): State<Arc<Console>>,
    Extension(session): Extension<Session>,
    Query(params): Query<PageParams>,
) -> Response {
    let depths = match console.live.store().depths().await {
        Ok(depths) => depths,
        Err(error) => return layout::admin_error(error.into()),
    };
    let dead: Vec<_> = depths.into_iter().filter(|d| d.dead > 0).collect();
    let notice = params
        .replayed
        .map(|n| format!("Replay queued for {n} dead event(s)."));
    let content = html! {
        h1 { "Dead letters" }
        (layout::notice(notice.as_deref()))
        p.muted { "Events whose delivery gave up (retries exhausted, or a destination refused them for good). A replay makes them due again for every destination." }
        @if dead.is_empty() {
            p { "No dead letters." }
        } @else {
            div.scroll {
                table id="dead" {
                    thead { tr { th { "Source" } th.num { "Dead" } th.num { "Queued" } th { "" } } }
                    tbody {
                        @for depth in &dead {
                            tr {
                                td { a href={ "/ui/events?status=dead&source=" (depth.source) } { (depth.source) } }
                                td.num { (depth.dead) }
                                td.num { (depth.queued) }
                                td {
                                    @if session.may_operate() {
                                        form.inline method="post" action="/ui/dead/replay" {
                                            (layout::csrf_field(&session))
                                            input type="hidden" name="source" value=(depth.source);
                                            button type="submit" { "Replay all " (depth.dead) }
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
    layout::page(&session, "Dead letters", "/ui/dead", content)
}

#[derive(Debug, Deserialize)]
pub(super) struct ReplayForm {
    source: String,
}

/// `POST /ui/dead/replay`: every dead event of one source.
pub(super) async fn replay(
    State(console): State<Arc<Console>>,
    Extension(session): Extension<Session>,
    Form(form): Form<ReplayForm>,
) -> Response {
    if let Some(refused) = guard::refused_unless_operator(&session) {
        return refused;
    }
    let filter = EventFilter {
        source: Some(form.source),
        status: Some("dead".to_owned()),
        ..EventFilter::default()
    };
    match replay_filtered(&console.live, &session.actor, filter).await {
        Ok(replayed) => layout::see_other_to(format!("/ui/dead?replayed={replayed}")),
        Err(error) => layout::admin_error(error),
    }
}
