//! The refusal quarantine's admin routes (SPEC section 13): list and show what was kept of
//! refused requests, retest one against today's checks of its source, and admit it as an event
//! when it now passes.
//!
//! | route | what |
//! |---|---|
//! | `GET /admin/refusals?source=&reason=&since=&limit=&cursor=` | newest first; `reason` is the category (`bad_signature`, `schema_invalid`, …) |
//! | `GET /admin/refusals/{id}` | one record, exactly SPEC section 13's fields |
//! | `POST /admin/refusals/{id}/retest[?admit=true]` | the security test endpoint's report ([`super::dry_run`]) on the kept request; with `admit=true`, the event id |
//!
//! A retest is the dry run itself, not a second implementation: the kept headers, sample and
//! client address become a [`RecordedRequest`]. An admit stores the event with its `admit`
//! audit record in one transaction (`Store::insert_audited`; de-duplication holds as for any
//! insert), in one place, [`store_admitted`].

use std::net::IpAddr;
use std::str::FromStr;
use std::sync::Arc;

use axum::Extension;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use http::{StatusCode, header};
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use super::auth::Actor;
use super::dry_run::{self, CREDENTIAL_NOT_KEPT, RecordedRequest, Report};
use super::error::AdminError;
use super::events::{parse_time, rfc3339};
use crate::clock::unix_now;
use crate::event::Authenticated;
use crate::live::Live;
use crate::pipeline::CompiledSource;
use crate::pipeline::accept::{PayloadCheck, dedup_key};
use crate::pipeline::inflate::Reservation;
use crate::pipeline::route::Seen;
use crate::pipeline::verify::Verify;
use crate::store::{
    AuditAction, Inserted, NewAudit, NewEvent, RefusalFilter, Store, StoredRefusal,
};

const DEFAULT_LIMIT: u32 = 50;
const MAX_LIMIT: u32 = 1000;

#[derive(Debug, Default, Deserialize)]
pub struct Params {
    source: Option<String>,
    reason: Option<String>,
    since: Option<String>,
    limit: Option<u32>,
    cursor: Option<String>,
}

/// `GET /admin/refusals`.
pub async fn list(
    State(live): State<Arc<Live>>,
    Query(params): Query<Params>,
) -> Result<Response, AdminError> {
    let filter = RefusalFilter {
        source: params.source.filter(|s| !s.is_empty()),
        reason: params.reason.filter(|r| !r.is_empty()),
        since_ms: params
            .since
            .as_deref()
            .map(|t| parse_time("since", t))
            .transpose()?,
    };
    let cursor = match params.cursor.as_deref().filter(|c| !c.is_empty()) {
        None => None,
        Some(cursor) => Some(
            Uuid::from_str(cursor)
                .map_err(|_| AdminError::bad_request("cursor is not one this API gave out"))?
                .to_string(),
        ),
    };
    let limit = params.limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT);
    let page = live
        .store()
        .refusals(&filter, limit, cursor.as_deref())
        .await?;
    let refusals: Vec<Value> = page.refusals.iter().map(record).collect();
    Ok(axum::Json(json!({"refusals": refusals, "next_cursor": page.next})).into_response())
}

/// `GET /admin/refusals/{id}`.
pub async fn show(
    State(live): State<Arc<Live>>,
    Path(id): Path<String>,
) -> Result<Response, AdminError> {
    let kept = find(live.store().as_ref(), &id).await?;
    Ok(axum::Json(record(&kept)).into_response())
}

/// A record as SPEC section 13 gives it: the sample as text when it is UTF-8, else base64.
fn record(kept: &StoredRefusal) -> Value {
    let mut record = json!({
        "id": kept.id,
        "source": kept.source,
        "received_at": rfc3339(kept.received_at_ms),
        "client_ip": kept.client_ip,
        "status": kept.status,
        "reason": kept.reason,
        "headers": kept.headers,
        "body_sha256": kept.body_sha256,
        "body_length": kept.body_length,
        "sample_is_whole_body": kept.sample_is_whole_body,
    });
    if let Some(fields) = record.as_object_mut() {
        match std::str::from_utf8(&kept.sample) {
            Ok(text) => fields.insert("sample".to_owned(), json!(text)),
            Err(_) => fields.insert(
                "sample_base64".to_owned(),
                json!(base64::engine::general_purpose::STANDARD.encode(&kept.sample)),
            ),
        };
    }
    record
}

async fn find(store: &dyn Store, id: &str) -> Result<StoredRefusal, AdminError> {
    let not_found = || AdminError::not_found(format!("no refusal {id:?} is kept"));
    let id = Uuid::from_str(id).map_err(|_| not_found())?;
    store.refusal(id).await?.ok_or_else(not_found)
}

#[derive(Debug, Default, Deserialize)]
pub struct RetestParams {
    admit: Option<bool>,
}

/// `POST /admin/refusals/{id}/retest[?admit=true]`.
pub async fn retest(
    State(live): State<Arc<Live>>,
    Extension(actor): Extension<Actor>,
    Path(id): Path<String>,
    Query(params): Query<RetestParams>,
) -> Result<Response, AdminError> {
    let admit = params.admit == Some(true);
    let Retested {
        kept,
        report,
        admission,
    } = retest_kept(&live, &actor, &id, admit).await?;
    Ok(match admission {
        None => axum::Json(report).into_response(),
        Some(Admission::Refused(why)) => conflict(&why, &report),
        Some(Admission::Stored(event)) => (
            StatusCode::CREATED,
            axum::Json(json!({"id": event.to_string(), "status": "accepted", "refusal": kept.id})),
        )
            .into_response(),
        Some(Admission::Duplicate(event)) => {
            axum::Json(json!({"id": event.to_string(), "status": "duplicate", "refusal": kept.id}))
                .into_response()
        }
    })
}

/// What a retest found, and what became of an admit when one was asked for.
pub struct Retested {
    pub kept: StoredRefusal,
    /// The security test endpoint's report on the kept request, run now.
    pub report: Report,
    /// `None` when no admit was asked for.
    pub admission: Option<Admission>,
}

/// The outcome of an admit.
pub enum Admission {
    /// Stored as a new event (with its `admit` audit record).
    Stored(Uuid),
    /// An event with its dedup key was already stored: nothing changed, nothing recorded.
    Duplicate(Uuid),
    /// Why it may not be admitted (a 409): the credential was not kept, the sample is not the
    /// whole body, or a check still fails.
    Refused(String),
}

/// Retests the kept refusal `id` against today's checks of its source and, when `admit` is
/// set and the record may be admitted, stores it as an event on behalf of `actor`: the one
/// implementation behind the admin route and the console's buttons.
pub async fn retest_kept(
    live: &Live,
    actor: &Actor,
    id: &str,
    admit: bool,
) -> Result<Retested, AdminError> {
    let store = live.store().clone();
    let kept = find(store.as_ref(), id).await?;
    let source = live
        .snapshot()
        .source(&kept.source)
        .cloned()
        .ok_or_else(|| {
            AdminError::new(
                StatusCode::CONFLICT,
                format!("source {:?} is no longer configured", kept.source),
            )
        })?;
    let now = unix_now();
    let recorded = RecordedRequest::kept(&kept.headers, &kept.sample, &kept.client_ip);
    let report = dry_run::run(&source, store.as_ref(), recorded, now).await?;
    if !admit {
        return Ok(Retested {
            kept,
            report,
            admission: None,
        });
    }
    let admission = match refused_admission(&kept, &report) {
        Some(why) => Admission::Refused(why),
        None => {
            let audit = NewAudit::new(
                &actor.name,
                AuditAction::Admit,
                &format!("refusal={} source={}", kept.id, kept.source),
                "ok",
                actor.client_ip,
            );
            match admit_kept(&source, store.as_ref(), &kept, now, &audit).await? {
                Admitted::Event(Inserted::Stored(event)) => Admission::Stored(event),
                Admitted::Event(Inserted::Duplicate(event)) => Admission::Duplicate(event),
                Admitted::StillFailing(why) => Admission::Refused(format!("still failing: {why}")),
            }
        }
    };
    Ok(Retested {
        kept,
        report,
        admission: Some(admission),
    })
}

/// Why a record cannot be admitted after `report`, or `None` when it can.
pub fn refused_admission(kept: &StoredRefusal, report: &Report) -> Option<String> {
    let not_kept = report
        .checks
        .iter()
        .any(|check| check.reason.as_deref() == Some(CREDENTIAL_NOT_KEPT));
    if not_kept {
        return Some(format!(
            "{CREDENTIAL_NOT_KEPT}: the source's credential is a header, of which only a fingerprint is kept"
        ));
    }
    if !kept.sample_is_whole_body {
        return Some(format!(
            "not the whole body: the sample holds {} of {} bytes",
            kept.sample.len(),
            kept.body_length
                .map_or_else(|| "unknown".to_owned(), |n| n.to_string())
        ));
    }
    if report.verdict != "accept" {
        let failed = report
            .checks
            .iter()
            .find(|check| matches!(check.result, dry_run::Result::Fail))
            .map_or_else(String::new, |check| {
                format!(
                    ": {} ({})",
                    check.name,
                    check.reason.as_deref().unwrap_or("failed")
                )
            });
        return Some(format!("still failing{failed}"));
    }
    None
}

fn conflict(why: &str, report: &Report) -> Response {
    let mut response = (
        StatusCode::CONFLICT,
        axum::Json(json!({
            "title": "Conflict",
            "status": 409,
            "detail": why,
            "report": report,
        })),
    )
        .into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/problem+json"),
    );
    response
}

enum Admitted {
    Event(Inserted),
    /// The report said accept, but the event could not be made (a race with a reload).
    StillFailing(String),
}

/// Makes the event the pipeline would have made of the kept request, now, and stores it.
async fn admit_kept(
    source: &CompiledSource,
    store: &dyn Store,
    kept: &StoredRefusal,
    now: i64,
    audit: &NewAudit,
) -> Result<Admitted, AdminError> {
    let recorded = dry_run::header_values(&kept.headers);
    let headers = dry_run::header_map(&recorded)?;
    let client_ip = IpAddr::from_str(&kept.client_ip).unwrap_or(IpAddr::from([0, 0, 0, 0]));
    let raw = bytes::Bytes::from(kept.sample.clone());
    let body = match crate::pipeline::body::decode(
        raw,
        &headers,
        source.preset.sniffs_gzip(),
        source.max_body_bytes,
        Reservation::unbudgeted(),
    )
    .await
    {
        Ok((body, _)) => body,
        Err(rejection) => return Ok(Admitted::StillFailing(rejection.detail)),
    };
    let verified = match Verify::authenticate(source, &headers, None, &body, now) {
        Ok(verified) => verified,
        Err(rejection) => return Ok(Admitted::StillFailing(rejection.detail)),
    };
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let Some(kind) = source.preset.body_kind(content_type.as_deref()) else {
        return Ok(Admitted::StillFailing(
            "unsupported content type".to_owned(),
        ));
    };
    let payload = match PayloadCheck::check(source, kind, &body) {
        Ok(payload) => payload,
        Err(rejection) => return Ok(Admitted::StillFailing(rejection.detail)),
    };
    let key = dedup_key(source, &headers, &payload, &body);
    let event_type =
        crate::pipeline::event_type::event_type(&source.event_type, &headers, &payload);
    let destinations = source.routes.select(&Seen {
        event_type: event_type.as_deref(),
        body: payload.object(),
        headers: &headers,
    });
    let proof = Authenticated::new(source.name.clone(), client_ip, verified);
    let event = NewEvent::new(
        &proof,
        key,
        None,
        content_type,
        kept.headers.clone(),
        body,
        destinations,
    )
    .with_event_type(event_type);
    Ok(Admitted::Event(store_admitted(store, event, audit).await?))
}

/// The one store call of an admit: the event and its `admit` audit record in one transaction
/// (SPEC section 12). A duplicate writes neither: nothing changed, so nothing is recorded.
async fn store_admitted(
    store: &dyn Store,
    event: NewEvent,
    audit: &NewAudit,
) -> Result<Inserted, AdminError> {
    let source = event.source().to_owned();
    let inserted = store.insert_audited(event, audit).await?;
    crate::delivery::record::count_inserted(&source, &inserted);
    Ok(inserted)
}
