//! `/ui/events` (the list: filters, search by id or dedup key, newest first, cursor paging) and
//! `/ui/events/{id}` (headers, body, deliveries and attempts, the Replay button).
//!
//! Reads go through the same store calls as `GET /admin/events`; the replay is
//! [`crate::admin::events::replay_event`], the admin API's own.

use std::str::FromStr;
use std::sync::Arc;

use axum::Extension;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use http::StatusCode;
use maud::{Markup, html};
use serde::Deserialize;
use uuid::Uuid;

use super::session::Session;
use super::state::Console;
use super::{body, guard, layout};
use crate::admin::AdminError;
use crate::admin::events::{parse_time, replay_event};
use crate::store::{DeliveryRecord, EventFilter, EventStatus, StoredEvent};

const PAGE_SIZE: u32 = 50;
const STATUSES: [&str; 5] = ["pending", "delivered", "failed", "dead", "ignored"];

/// The list's query: the admin API's filters, a search box and the cursor.
#[derive(Debug, Default, Deserialize)]
pub(super) struct ListParams {
    #[serde(default)]
    source: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    event_type: String,
    #[serde(default)]
    since: String,
    #[serde(default)]
    until: String,
    /// An event id, or a dedup key (exactly as stored, e.g. `id:…`).
    #[serde(default)]
    q: String,
    #[serde(default)]
    cursor: String,
}

impl ListParams {
    fn filter(&self) -> Result<EventFilter, AdminError> {
        let status = non_empty(&self.status);
        if let Some(status) = &status
            && !STATUSES.contains(&status.as_str())
        {
            return Err(AdminError::bad_request("unknown status"));
        }
        Ok(EventFilter {
            source: non_empty(&self.source),
            status,
            event_type: non_empty(&self.event_type),
            since_ms: time_field("since", &self.since)?,
            until_ms: time_field("until", &self.until)?,
        })
    }

    /// The query string of the same filters at `cursor`.
    fn with_cursor(&self, cursor: &str) -> String {
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        for (name, value) in [
            ("source", &self.source),
            ("status", &self.status),
            ("event_type", &self.event_type),
            ("since", &self.since),
            ("until", &self.until),
        ] {
            if !value.is_empty() {
                query.append_pair(name, value);
            }
        }
        query.append_pair("cursor", cursor);
        query.finish()
    }
}

fn non_empty(text: &str) -> Option<String> {
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_owned())
}

/// RFC 3339, unix seconds, or `2026-11-23T10:00` (read as UTC) to unix milliseconds.
fn time_field(key: &str, text: &str) -> Result<Option<i64>, AdminError> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    if let Ok(civil) = jiff::civil::DateTime::from_str(text)
        && let Ok(zoned) = civil.to_zoned(jiff::tz::TimeZone::UTC)
    {
        return Ok(Some(zoned.timestamp().as_millisecond()));
    }
    parse_time(key, text).map(Some)
}

/// `GET /ui/events`
pub(super) async fn list(
    State(console): State<Arc<Console>>,
    Extension(session): Extension<Session>,
    Query(params): Query<ListParams>,
) -> Response {
    let live = &console.live;
    let filter = match params.filter() {
        Ok(filter) => filter,
        Err(error) => return layout::admin_error(error),
    };
    let search = params.q.trim();
    let (events, next) = if search.is_empty() {
        let cursor = non_empty(&params.cursor).and_then(|c| Uuid::from_str(&c).ok());
        match live
            .store()
            .list(&filter, PAGE_SIZE, cursor.map(|c| c.to_string()).as_deref())
            .await
        {
            Ok(page) => (page.events, page.next),
            Err(error) => return layout::admin_error(error.into()),
        }
    } else if let Ok(id) = Uuid::from_str(search) {
        return layout::see_other_to(format!("/ui/events/{id}"));
    } else {
        match by_dedup_key(&console, filter.source.as_deref(), search).await {
            Ok(events) => (events, None),
            Err(error) => return layout::admin_error(error),
        }
    };
    let sources: Vec<String> = live
        .snapshot()
        .config
        .sources
        .iter()
        .map(|s| s.name.clone())
        .collect();
    let content = html! {
        h1 { "Events" }
        form.filters method="get" action="/ui/events" {
            label { "Source"
                select name="source" {
                    option value="" { "any" }
                    @for name in &sources {
                        option value=(name) selected[*name == params.source] { (name) }
                    }
                }
            }
            label { "Status"
                select name="status" {
                    option value="" { "any" }
                    @for status in STATUSES {
                        option value=(status) selected[status == params.status] { (status) }
                    }
                }
            }
            label { "Event type" input type="text" name="event_type" value=(params.event_type); }
            label { "Since (UTC)" input type="text" name="since" value=(params.since) placeholder="2026-11-23T10:00:00Z"; }
            label { "Until (UTC)" input type="text" name="until" value=(params.until) placeholder="2026-11-23T11:00:00Z"; }
            label { "Event id or dedup key" input type="search" name="q" value=(params.q); }
            button type="submit" { "Filter" }
            a href="/ui/events" { "Clear" }
        }
        @if events.is_empty() {
            p.muted { "No event matches." }
        } @else {
            div.scroll { (table(&events)) }
        }
        @if let Some(next) = &next {
            p.pager { a href={ "/ui/events?" (params.with_cursor(next)) } { "Older events →" } }
        }
    };
    layout::page(&session, "Events", "/ui/events", content)
}

/// The events whose dedup key is exactly `key`, in `source` or in any configured source.
async fn by_dedup_key(
    console: &Console,
    source: Option<&str>,
    key: &str,
) -> Result<Vec<StoredEvent>, AdminError> {
    let sources: Vec<String> = match source {
        Some(source) => vec![source.to_owned()],
        None => console
            .live
            .snapshot()
            .config
            .sources
            .iter()
            .map(|s| s.name.clone())
            .collect(),
    };
    let store = console.live.store();
    let mut ids = Vec::new();
    for source in sources {
        if let Some(id) = store.find(&source, key).await? {
            ids.push(id);
        }
    }
    let mut events = store.get_many(&ids).await?;
    events.sort_by(|a, b| b.id.cmp(&a.id));
    Ok(events)
}

fn table(events: &[StoredEvent]) -> Markup {
    html! {
        table {
            thead { tr {
                th { "Received" } th { "Source" } th { "Type" } th { "Status" }
                th.num { "Attempts" } th { "Dedup key" } th { "Last error" }
            } }
            tbody {
                @for event in events {
                    tr {
                        td { a href={ "/ui/events/" (event.id) } { (layout::time(event.received_at_ms)) } }
                        td { (event.source) }
                        td.wrap { (event.event_type.as_deref().unwrap_or("—")) }
                        td { (layout::badge(event.status.as_str())) }
                        td.num { (event.attempts) }
                        td.wrap.mono { (event.dedup_key) }
                        td.wrap { (event.last_error.as_deref().unwrap_or("")) }
                    }
                }
            }
        }
    }
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct ShowParams {
    #[serde(default)]
    replayed: Option<u8>,
    /// `stored` or `duplicate`, after an admit from the refusal quarantine.
    #[serde(default)]
    admitted: Option<String>,
}

/// `GET /ui/events/{id}`
pub(super) async fn show(
    State(console): State<Arc<Console>>,
    Extension(session): Extension<Session>,
    Path(id): Path<String>,
    Query(params): Query<ShowParams>,
) -> Response {
    let Ok(id) = Uuid::from_str(&id) else {
        return layout::error_page(StatusCode::NOT_FOUND, "There is no event with this id.");
    };
    let store = console.live.store();
    let event = match store.get(id).await {
        Ok(Some(event)) => event,
        Ok(None) => {
            return layout::error_page(StatusCode::NOT_FOUND, "There is no event with this id.");
        }
        Err(error) => return layout::admin_error(error.into()),
    };
    let deliveries = match store.deliveries(id).await {
        Ok(deliveries) => deliveries,
        Err(error) => return layout::admin_error(error.into()),
    };
    let notice = match (params.replayed, params.admitted.as_deref()) {
        (Some(_), _) => Some("Replay queued: every destination will get this event again."),
        (None, Some("stored")) => {
            Some("Admitted from the refusal quarantine: stored, and queued for its destinations.")
        }
        (None, Some("duplicate")) => Some(
            "Not admitted again: an event with the same dedup key was already stored (this one).",
        ),
        _ => None,
    };
    layout::page(
        &session,
        "Event",
        "/ui/events",
        detail(&session, &event, &deliveries, notice),
    )
}

fn detail(
    session: &Session,
    event: &StoredEvent,
    deliveries: &[DeliveryRecord],
    notice: Option<&str>,
) -> Markup {
    let waiting = matches!(event.status, EventStatus::Pending | EventStatus::Failed);
    html! {
        h1 { "Event " span.mono.wrap { (event.id) } }
        (layout::notice(notice))
        div.card {
            dl.facts {
                dt { "Source" } dd { a href={ "/ui/events?source=" (event.source) } { (event.source) } }
                dt { "Event type" } dd id="event-type" { (event.event_type.as_deref().unwrap_or("—")) }
                dt { "Status" } dd { (layout::badge(event.status.as_str())) }
                dt { "Received" } dd { (layout::time(event.received_at_ms)) }
                dt { "Attempts" } dd { (event.attempts) }
                @if waiting { dt { "Next attempt" } dd { (layout::time(event.next_attempt_at_ms)) } }
                @if let Some(error) = &event.last_error { dt { "Last error" } dd { (error) } }
                dt { "Dedup key" } dd.mono id="dedup-key" { (event.dedup_key) }
                dt { "Client IP" } dd.mono { (event.client_ip) }
                dt { "Request id" } dd.mono { (event.request_id.as_deref().unwrap_or("—")) }
                dt { "Content type" } dd.mono { (event.content_type.as_deref().unwrap_or("—")) }
            }
            @if session.may_operate() && event.status != EventStatus::Ignored {
                form.inline method="post" action={ "/ui/events/" (event.id) "/replay" } {
                    (layout::csrf_field(session))
                    p { button type="submit" id="replay" { "Replay" } }
                }
            }
        }
        h2 { "Headers" }
        div.scroll {
            table id="headers" {
                tbody {
                    @for (name, value) in &event.headers {
                        tr { th.mono { (name) } td.mono.wrap { (value) } }
                    }
                }
            }
        }
        h2 { "Body" }
        @match &event.body {
            None => p.muted { "The body was purged after storage.retention." },
            Some(bytes) => {
                @let (text, json) = body::shown(bytes);
                @if json { p.muted { "JSON, re-indented (tokens as received)." } }
                pre.body id="body" { (text) }
            }
        }
        h2 { "Deliveries" }
        @if deliveries.is_empty() {
            p.muted { "No destination took this event." }
        }
        @for delivery in deliveries {
            div.card {
                p {
                    strong { (delivery.destination) } " "
                    (layout::badge(delivery.status.as_str()))
                    " · " (delivery.attempts) " attempt(s)"
                    @if let Some(at) = delivery.delivered_at_ms { " · delivered " (layout::time(at)) }
                }
                @if let Some(error) = &delivery.last_error { p.wrap { "Last error: " (error) } }
                @if !delivery.history.is_empty() {
                    div.scroll {
                        table {
                            thead { tr { th { "Time" } th { "Outcome" } th.num { "Duration" } th { "Error" } } }
                            tbody {
                                @for attempt in &delivery.history {
                                    tr {
                                        td { (layout::time(attempt.at_ms)) }
                                        td { (layout::badge(&attempt.outcome)) }
                                        td.num { (attempt.duration_ms) " ms" }
                                        td.wrap { (attempt.error.as_deref().unwrap_or("")) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// `POST /ui/events/{id}/replay` (operator and admin).
pub(super) async fn replay(
    State(console): State<Arc<Console>>,
    Extension(session): Extension<Session>,
    Path(id): Path<String>,
) -> Response {
    if let Some(refused) = guard::refused_unless_operator(&session) {
        return refused;
    }
    let Ok(id) = Uuid::from_str(&id) else {
        return layout::error_page(StatusCode::NOT_FOUND, "There is no event with this id.");
    };
    match replay_event(&console.live, &session.actor, id).await {
        Ok(()) => layout::see_other_to(format!("/ui/events/{id}?replayed=1")),
        Err(error) => layout::admin_error(error),
    }
}
