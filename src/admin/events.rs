//! Events: list (cursor-paginated, newest first), show, streamed export, replay.
//!
//! Filters (all optional): `source`, `status` (`pending`, `delivered`, `failed`, `dead`,
//! `ignored`), `event_type` (exactly; SPEC section 10),
//! `since` and `until` (RFC 3339, or unix seconds; `until` is exclusive). Bulk replay takes the
//! same filters and replays `status=dead` when no status is given: replaying delivered events
//! is something an operator asks for by name. A CSV export neutralises cells a spreadsheet would
//! run as formulas.

use std::str::FromStr;
use std::sync::Arc;

use axum::Extension;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use http::{StatusCode, header};
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use super::audit::record;
use super::auth::Actor;
use super::error::AdminError;
use crate::live::Live;
use crate::store::{AuditAction, DeliveryRecord, EventFilter, EventStatus, Store, StoredEvent};

const STATUSES: [&str; 5] = ["pending", "delivered", "failed", "dead", "ignored"];
const DEFAULT_LIMIT: u32 = 50;
const MAX_LIMIT: u32 = 1000;
/// Page size of an export: bounded memory whatever the number of events.
const EXPORT_PAGE: u32 = 500;

#[derive(Debug, Default, Deserialize)]
pub struct Params {
    source: Option<String>,
    status: Option<String>,
    event_type: Option<String>,
    since: Option<String>,
    until: Option<String>,
    limit: Option<u32>,
    cursor: Option<String>,
    format: Option<String>,
    /// Export only: include each event's body.
    body: Option<bool>,
}

impl Params {
    fn filter(&self) -> Result<EventFilter, AdminError> {
        if let Some(status) = &self.status
            && !STATUSES.contains(&status.as_str())
        {
            return Err(AdminError::bad_request(format!(
                "status must be one of {}",
                STATUSES.join(", ")
            )));
        }
        Ok(EventFilter {
            source: self.source.clone().filter(|s| !s.is_empty()),
            status: self.status.clone(),
            event_type: self.event_type.clone().filter(|t| !t.is_empty()),
            since_ms: self
                .since
                .as_deref()
                .map(|t| parse_time("since", t))
                .transpose()?,
            until_ms: self
                .until
                .as_deref()
                .map(|t| parse_time("until", t))
                .transpose()?,
        })
    }

    fn cursor(&self) -> Result<Option<String>, AdminError> {
        match self.cursor.as_deref().filter(|c| !c.is_empty()) {
            None => Ok(None),
            Some(cursor) => Uuid::from_str(cursor)
                .map(|id| Some(id.to_string()))
                .map_err(|_| AdminError::bad_request("cursor is not one this API gave out")),
        }
    }
}

/// RFC 3339 (`2026-11-23T10:00:00Z`) or unix seconds, to unix milliseconds.
pub(crate) fn parse_time(key: &str, text: &str) -> Result<i64, AdminError> {
    if let Ok(seconds) = text.parse::<i64>() {
        return seconds
            .checked_mul(1000)
            .ok_or_else(|| AdminError::bad_request(format!("{key} is out of range")));
    }
    jiff::Timestamp::from_str(text)
        .map(|t| t.as_millisecond())
        .map_err(|_| {
            AdminError::bad_request(format!(
                "{key} must be RFC 3339 (2026-11-23T10:00:00Z) or unix seconds"
            ))
        })
}

/// A filter as an audit record's target: its conditions as `key=value` pairs in a fixed order,
/// times in RFC 3339; `all` when it selects everything.
fn filter_target(filter: &EventFilter) -> String {
    let EventFilter {
        source,
        status,
        event_type,
        since_ms,
        until_ms,
    } = filter;
    let pairs: Vec<String> = [
        source.as_ref().map(|s| format!("source={s}")),
        status.as_ref().map(|s| format!("status={s}")),
        event_type.as_ref().map(|t| format!("event_type={t}")),
        since_ms.map(|ms| format!("since={}", rfc3339(ms))),
        until_ms.map(|ms| format!("until={}", rfc3339(ms))),
    ]
    .into_iter()
    .flatten()
    .collect();
    if pairs.is_empty() {
        "all".to_owned()
    } else {
        pairs.join(" ")
    }
}

pub(crate) fn rfc3339(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms).map_or_else(|_| ms.to_string(), |t| t.to_string())
}

/// An event as the admin API shows it (no headers, no body).
fn summary(event: &StoredEvent) -> Value {
    json!({
        "id": event.id,
        "source": event.source,
        "event_type": event.event_type,
        "status": event.status,
        "received_at": rfc3339(event.received_at_ms),
        "attempts": event.attempts,
        "last_error": event.last_error,
        "next_attempt_at": matches!(event.status, EventStatus::Pending | EventStatus::Failed)
            .then(|| rfc3339(event.next_attempt_at_ms)),
        "client_ip": event.client_ip,
        "request_id": event.request_id,
        "dedup_key": event.dedup_key,
        "content_type": event.content_type,
    })
}

/// One delivery with its attempts, times in RFC 3339 (SPEC section 10).
fn delivery(delivery: &DeliveryRecord) -> Value {
    json!({
        "destination": delivery.destination,
        "status": delivery.status,
        "attempts": delivery.attempts,
        "last_error": delivery.last_error,
        "delivered_at": delivery.delivered_at_ms.map(rfc3339),
        "history": delivery.history.iter().map(|attempt| json!({
            "at": rfc3339(attempt.at_ms),
            "outcome": attempt.outcome,
            "duration_ms": attempt.duration_ms,
            "error": attempt.error,
        })).collect::<Vec<_>>(),
    })
}

/// The summary plus headers, body and deliveries: the body as text when it is UTF-8, else
/// base64.
fn detail(event: &StoredEvent, deliveries: &[DeliveryRecord]) -> Value {
    let mut value = summary(event);
    if let Some(object) = value.as_object_mut() {
        object.insert(
            "deliveries".into(),
            deliveries.iter().map(delivery).collect(),
        );
        let headers: serde_json::Map<String, Value> = event
            .headers
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect();
        object.insert("headers".into(), Value::Object(headers));
        // The request span that stored it, when that request was traced (SPEC section 14).
        if let Some(context) = &event.trace_context {
            object.insert("trace_context".into(), Value::String(context.clone()));
        }
        match &event.body {
            None => {
                object.insert("body".into(), Value::Null);
                object.insert("body_purged".into(), Value::Bool(true));
            }
            Some(bytes) => match std::str::from_utf8(bytes) {
                Ok(text) => {
                    object.insert("body".into(), Value::String(text.to_owned()));
                }
                Err(_) => {
                    object.insert(
                        "body_base64".into(),
                        Value::String(base64::engine::general_purpose::STANDARD.encode(bytes)),
                    );
                }
            },
        }
    }
    value
}

fn event_id(text: &str) -> Result<Uuid, AdminError> {
    Uuid::from_str(text).map_err(|_| AdminError::not_found("no event with this id"))
}

/// `GET /admin/events`
pub async fn list(
    State(live): State<Arc<Live>>,
    Query(params): Query<Params>,
) -> Result<Response, AdminError> {
    let filter = params.filter()?;
    let limit = params.limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT);
    let page = live
        .store()
        .list(&filter, limit, params.cursor()?.as_deref())
        .await?;
    Ok(axum::Json(json!({
        "events": page.events.iter().map(summary).collect::<Vec<_>>(),
        "next_cursor": page.next,
    }))
    .into_response())
}

/// `GET /admin/events/{id}`
pub async fn show(
    State(live): State<Arc<Live>>,
    Path(id): Path<String>,
) -> Result<Response, AdminError> {
    let id = event_id(&id)?;
    match live.store().get(id).await? {
        Some(event) => {
            let deliveries = live.store().deliveries(id).await?;
            Ok(axum::Json(detail(&event, &deliveries)).into_response())
        }
        None => Err(AdminError::not_found("no event with this id")),
    }
}

/// `POST /admin/events/{id}/replay`: audited with the replay; a 404 or 409 changed nothing
/// and is not recorded.
pub async fn replay_one(
    State(live): State<Arc<Live>>,
    Extension(actor): Extension<Actor>,
    Path(id): Path<String>,
) -> Result<Response, AdminError> {
    let id = event_id(&id)?;
    replay_event(&live, &actor, id).await?;
    Ok((
        StatusCode::ACCEPTED,
        axum::Json(json!({"id": id.to_string(), "status": "pending"})),
    )
        .into_response())
}

/// Makes event `id` due again for every destination, audited as `actor`'s `replay` in the same
/// transaction: what the API's and the console's replay both do. 409 for an ignored or purged
/// event, 404 for an unknown one (neither is recorded: nothing changed).
pub async fn replay_event(live: &Live, actor: &Actor, id: Uuid) -> Result<(), AdminError> {
    let audit = record(actor, AuditAction::Replay, &id.to_string(), "ok");
    if live.store().replay(id, &audit).await? {
        tracing::info!(actor = %actor.name, event_id = %id, "event replayed by an operator");
        Ok(())
    } else if let Some(event) = live.store().get(id).await? {
        if event.status == EventStatus::Ignored {
            return Err(AdminError::new(
                StatusCode::CONFLICT,
                "the event is ignored: no destination took it, so there is nothing to deliver",
            ));
        }
        Err(AdminError::new(
            StatusCode::CONFLICT,
            "the event's body was purged after storage.retention; it cannot be delivered again",
        ))
    } else {
        Err(AdminError::not_found("no event with this id"))
    }
}

/// `POST /admin/events/replay?source=&status=dead&event_type=&since=&until=`: audited with the
/// replay, the count in the record's outcome (`ok replayed=N`).
pub async fn replay_matching(
    State(live): State<Arc<Live>>,
    Extension(actor): Extension<Actor>,
    Query(params): Query<Params>,
) -> Result<Response, AdminError> {
    let replayed = replay_filtered(&live, &actor, params.filter()?).await?;
    Ok((
        StatusCode::ACCEPTED,
        axum::Json(json!({"replayed": replayed})),
    )
        .into_response())
}

/// Makes every event `filter` matches due again (dead ones when it names no status), audited
/// as `actor`'s `bulk_replay` with the count, in the same transaction: what the API's and the
/// console's bulk replay both do. Returns how many.
pub async fn replay_filtered(
    live: &Live,
    actor: &Actor,
    mut filter: EventFilter,
) -> Result<u64, AdminError> {
    filter.status.get_or_insert_with(|| "dead".to_owned());
    let audit = record(
        actor,
        AuditAction::BulkReplay,
        &filter_target(&filter),
        "ok",
    );
    let replayed = live.store().replay_matching(&filter, &audit).await?;
    tracing::info!(actor = %actor.name, replayed, ?filter, "bulk replay by an operator");
    Ok(replayed)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Format {
    NdJson,
    Csv,
}

/// `GET /admin/events/export?format=ndjson|csv&…`: every matching event, newest first,
/// streamed page by page so memory stays bounded. Recorded in the audit trail before the first
/// byte leaves (an export cut short is recorded too: what was sent has left); no record, no
/// export.
pub async fn export(
    State(live): State<Arc<Live>>,
    Extension(actor): Extension<Actor>,
    Query(params): Query<Params>,
) -> Result<Response, AdminError> {
    let filter = params.filter()?;
    let format = match params.format.as_deref().unwrap_or("ndjson") {
        "ndjson" => Format::NdJson,
        "csv" => Format::Csv,
        other => {
            return Err(AdminError::bad_request(format!(
                "format {other:?}: use ndjson or csv"
            )));
        }
    };
    let with_body = params.body.unwrap_or(false) && format == Format::NdJson;
    let target = format!(
        "{} format={}{}",
        filter_target(&filter),
        match format {
            Format::NdJson => "ndjson",
            Format::Csv => "csv",
        },
        if with_body { " body=true" } else { "" }
    );
    live.store()
        .append_audit(&record(&actor, AuditAction::Export, &target, "ok"))
        .await?;
    let store = live.store().clone();
    struct State {
        store: Arc<dyn Store>,
        filter: EventFilter,
        cursor: Option<String>,
        first: bool,
        done: bool,
    }
    let state = State {
        store,
        filter,
        cursor: None,
        first: true,
        done: false,
    };
    let stream = futures_util::stream::unfold(state, move |mut state| async move {
        if state.done {
            return None;
        }
        let page = match state
            .store
            .list(&state.filter, EXPORT_PAGE, state.cursor.as_deref())
            .await
        {
            Ok(page) => page,
            Err(err) => {
                tracing::error!(error = %err, "export: store failed; the stream is cut");
                state.done = true;
                return Some((Err(std::io::Error::other(err.to_string())), state));
            }
        };
        let mut out = Vec::new();
        if state.first && format == Format::Csv {
            out.extend_from_slice(CSV_HEADER.as_bytes());
        }
        state.first = false;
        for event in &page.events {
            match format {
                Format::Csv => csv_row(&mut out, event),
                Format::NdJson => {
                    let value = if with_body {
                        let id = event_id_of(event);
                        let full = state.store.get(id).await.ok().flatten();
                        let deliveries = state.store.deliveries(id).await.unwrap_or_default();
                        detail(full.as_ref().unwrap_or(event), &deliveries)
                    } else {
                        summary(event)
                    };
                    // Serializing a `Value` to a Vec cannot fail.
                    let _ = serde_json::to_writer(&mut out, &value);
                    out.push(b'\n');
                }
            }
        }
        state.cursor = page.next;
        state.done = state.cursor.is_none();
        Some((Ok::<_, std::io::Error>(Bytes::from(out)), state))
    });
    let content_type = match format {
        Format::NdJson => "application/x-ndjson",
        Format::Csv => "text/csv; charset=utf-8",
    };
    Ok((
        [(header::CONTENT_TYPE, content_type)],
        Body::from_stream(stream),
    )
        .into_response())
}

fn event_id_of(event: &StoredEvent) -> Uuid {
    Uuid::from_str(&event.id).unwrap_or(Uuid::nil())
}

/// `event_type` is the last column, so the columns that came before it keep their places.
const CSV_HEADER: &str =
    "id,source,status,received_at,attempts,last_error,client_ip,request_id,dedup_key,event_type\n";

fn csv_row(out: &mut Vec<u8>, event: &StoredEvent) {
    let mut writer = csv::WriterBuilder::new()
        .has_headers(false)
        .from_writer(Vec::new());
    let received = rfc3339(event.received_at_ms);
    let attempts = event.attempts.to_string();
    let record = [
        event.id.as_str(),
        event.source.as_str(),
        event.status.as_str(),
        received.as_str(),
        attempts.as_str(),
        event.last_error.as_deref().unwrap_or(""),
        event.client_ip.as_str(),
        event.request_id.as_deref().unwrap_or(""),
        event.dedup_key.as_str(),
        event.event_type.as_deref().unwrap_or(""),
    ];
    let record = record.map(neutralize_formula);
    // Writing to a Vec cannot fail.
    if writer
        .write_record(record.iter().map(|cell| cell.as_bytes()))
        .is_ok()
        && let Ok(bytes) = writer.into_inner()
    {
        out.extend_from_slice(&bytes);
    }
}

/// A cell a spreadsheet would run as a formula (OWASP's CSV injection list: a leading `=`, `+`,
/// `-`, `@`, tab or carriage return) gets a `'` in front, so it is shown as text. Every column
/// can carry a client's bytes (`x-request-id`, a destination's error text, a dedup key).
fn neutralize_formula(cell: &str) -> std::borrow::Cow<'_, str> {
    match cell.as_bytes().first() {
        Some(b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r') => format!("'{cell}").into(),
        _ => cell.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_cells_that_a_spreadsheet_would_run_start_with_a_quote() {
        for (cell, shown) in [
            ("=HYPERLINK(\"http://x\")", "'=HYPERLINK(\"http://x\")"),
            ("+1", "'+1"),
            ("-2+3", "'-2+3"),
            ("@SUM(A1)", "'@SUM(A1)"),
            ("\t=1", "'\t=1"),
            ("\r=1", "'\r=1"),
            ("req-1", "req-1"),
            ("", ""),
        ] {
            assert_eq!(neutralize_formula(cell), shown);
        }
    }

    #[test]
    fn a_filter_reads_as_key_value_pairs_in_an_audit_target() {
        assert_eq!(filter_target(&EventFilter::default()), "all");
        let filter = EventFilter {
            source: Some("github".into()),
            status: Some("dead".into()),
            since_ms: Some(1_795_428_000_000),
            ..EventFilter::default()
        };
        assert_eq!(
            filter_target(&filter),
            "source=github status=dead since=2026-11-23T10:00:00Z"
        );
    }

    #[test]
    fn times_are_rfc3339_or_unix_seconds() {
        assert_eq!(parse_time("since", "0").ok(), Some(0));
        assert_eq!(
            parse_time("since", "2026-11-23T10:00:00Z").ok(),
            Some(1_795_428_000_000)
        );
        assert!(parse_time("since", "yesterday").is_err());
        assert!(parse_time("since", &i64::MAX.to_string()).is_err());
    }

    #[test]
    fn csv_quotes_what_needs_quoting() {
        let event = StoredEvent {
            id: "0".into(),
            source: "s".into(),
            dedup_key: "id:1".into(),
            received_at_ms: 0,
            client_ip: "127.0.0.1".into(),
            request_id: None,
            content_type: None,
            event_type: Some("=cmd".into()),
            trace_context: None,
            headers: vec![],
            body: None,
            status: EventStatus::Dead,
            attempts: 1,
            next_attempt_at_ms: 0,
            last_error: Some("HTTP 400, \"bad\"\nline".into()),
        };
        let mut out = Vec::new();
        csv_row(&mut out, &event);
        let text = String::from_utf8(out).expect("utf-8");
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .from_reader(text.as_bytes());
        let record = reader
            .records()
            .next()
            .expect("one record")
            .expect("parses");
        assert_eq!(&record[5], "HTTP 400, \"bad\"\nline");
        assert_eq!(
            &record[9], "'=cmd",
            "a sender chooses the type: neutralised too"
        );
        assert_eq!(record.len(), CSV_HEADER.trim_end().split(',').count());
    }
}
