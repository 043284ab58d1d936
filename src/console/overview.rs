//! `/ui/`: the overview. Per source, what came in over the last hour and 24 hours (received,
//! accepted, duplicates, refused by reason) and a per-minute chart of the last hour, from this
//! process's in-memory counters ([`crate::telemetry::activity`]: this instance, since it
//! started); the queue and dead letters from the store; each destination's state. The script
//! refreshes it every 10 seconds.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Extension;
use axum::extract::{Query, State};
use axum::response::Response;
use maud::{Markup, html};
use serde::Deserialize;

use super::layout;
use super::session::Session;
use super::state::Console;
use crate::admin::destinations::views;
use crate::clock::now_ms;
use crate::telemetry::activity::{ACTIVITY, Summary};

/// Seconds between refreshes of the overview.
const REFRESH_SECONDS: u32 = 10;

#[derive(Debug, Default, Deserialize)]
pub(super) struct Params {
    #[serde(default)]
    reloaded: Option<u8>,
}

/// `GET /ui/`
pub(super) async fn page(
    State(console): State<Arc<Console>>,
    Extension(session): Extension<Session>,
    Query(params): Query<Params>,
) -> Response {
    let live = &console.live;
    let depths: HashMap<String, (i64, i64)> = match live.store().depths().await {
        Ok(depths) => depths
            .into_iter()
            .map(|d| (d.source, (d.queued, d.dead)))
            .collect(),
        Err(error) => return layout::admin_error(error.into()),
    };
    let destinations = match views(live).await {
        Ok(views) => views,
        Err(error) => return layout::admin_error(error),
    };
    let now = now_ms();
    let sources: Vec<(String, Summary)> = live
        .snapshot()
        .config
        .sources
        .iter()
        .map(|s| (s.name.clone(), ACTIVITY.summary(&s.name, now)))
        .collect();
    let content = html! {
        h1 { "Overview" }
        (layout::notice(params.reloaded.map(|_| "Configuration reloaded.")))
        p.muted {
            "Counts are this instance's since it started (in memory, per minute for the last hour, per quarter hour for the last day); queues and destinations are read from the store. Updated "
            (layout::time(now)) "."
        }
        div.grid {
            @for (name, summary) in &sources {
                @let (queued, dead) = depths.get(name).copied().unwrap_or((0, 0));
                div.card.source {
                    h2 { a href={ "/ui/events?source=" (name) } { (name) } }
                    (chart(&summary.per_minute))
                    table {
                        thead { tr { th { "" } th.num { "1 h" } th.num { "24 h" } } }
                        tbody {
                            tr { td { "Received" } td.num { (summary.last_hour.received()) } td.num { (summary.last_day.received()) } }
                            tr { td { "Accepted" } td.num { (summary.last_hour.of("accepted")) } td.num { (summary.last_day.of("accepted")) } }
                            tr { td { "Duplicates" } td.num { (summary.last_hour.of("duplicate")) } td.num { (summary.last_day.of("duplicate")) } }
                            tr { td { "Refused" } td.num { (summary.last_hour.refused()) } td.num { (summary.last_day.refused()) } }
                            @for (reason, day) in summary.last_day.refusals() {
                                tr.muted { td { "  " (reason) } td.num { (summary.last_hour.of(reason)) } td.num { (day) } }
                            }
                        }
                    }
                    p {
                        "Queued " strong { (queued) } " · "
                        a href={ "/ui/events?status=dead&source=" (name) } { "dead " strong { (dead) } }
                    }
                }
            }
        }
        h2 { "Destinations" }
        @if destinations.is_empty() {
            p.muted { "No destination is configured." }
        } @else {
            div.scroll {
                table {
                    thead { tr { th { "Name" } th { "Source" } th { "State" } th.num { "Queued" } } }
                    tbody {
                        @for d in &destinations {
                            tr { td.mono { (d.name) } td { (d.source) } td { (layout::badge(d.state)) } td.num { (d.queue_depth) } }
                        }
                    }
                }
            }
        }
        @if session.may_administer() {
            h2 { "Configuration" }
            form.inline method="post" action="/ui/reload" {
                (layout::csrf_field(&session))
                button type="submit" id="reload" { "Reload the configuration file" }
                " "
                span.muted { "as SIGHUP does: after you edit a secret or a schema in the file." }
            }
        }
    };
    layout::refreshing_page(&session, "Overview", "/ui/", REFRESH_SECONDS, content)
}

/// The last hour per minute as bars, rendered here (no script, no inline style: attributes).
fn chart(per_minute: &[u64]) -> Markup {
    const HEIGHT: u64 = 60;
    let max = per_minute.iter().copied().max().unwrap_or(0).max(1);
    let total: u64 = per_minute.iter().sum();
    html! {
        svg.chart viewBox="0 0 600 64" preserveAspectRatio="none" role="img" xmlns="http://www.w3.org/2000/svg" {
            title { "Requests per minute over the last hour: " (total) " in all, at most " (max) " in a minute" }
            rect.base x="0" y="63" width="600" height="1" {}
            @for (i, n) in per_minute.iter().enumerate() {
                @let height = n * HEIGHT / max;
                @if height > 0 {
                    rect.bar x=(i * 10) y=(63 - height) width="8" height=(height) {}
                }
            }
        }
    }
}
