//! The audit trail over the admin API (SPEC section 12): `GET /admin/audit`, newest first and
//! cursor-paginated, and the one way the other admin modules make a record ([`record`]).
//!
//! What is recorded, and when (docs/security.md, "The audit trail"): every admin call that
//! changes something, in the store's transaction of its change; a reload and an export, which
//! change nothing in the store, by a record of their own. A call that reached its handler and
//! was refused without changing anything (a replay of an unknown or purged event: 404, 409) is
//! not recorded; a reload refused for an invalid file is, with its error count. 401 and 403
//! never reach a handler and are not actions.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::auth::Actor;
use super::error::AdminError;
use crate::live::Live;
use crate::store::{AuditAction, AuditRecord, NewAudit};

const DEFAULT_LIMIT: u32 = 50;
const MAX_LIMIT: u32 = 1000;

/// The record of `actor` doing `action` to `target`, with `outcome`.
pub fn record(actor: &Actor, action: AuditAction, target: &str, outcome: &str) -> NewAudit {
    NewAudit::new(&actor.name, action, target, outcome, actor.client_ip)
}

#[derive(Debug, Default, Deserialize)]
pub struct Params {
    limit: Option<u32>,
    cursor: Option<String>,
}

/// A record as the API shows it: the stored fields, the time also as RFC 3339.
fn shown(record: &AuditRecord) -> Value {
    json!({
        "id": record.id,
        // RFC 3339 with the milliseconds, as the other admin times (`events::rfc3339`).
        "time": jiff::Timestamp::from_millisecond(record.time_ms)
            .map_or_else(|_| record.time_ms.to_string(), |t| t.to_string()),
        "time_ms": record.time_ms,
        "actor": record.actor,
        "action": record.action,
        "target": record.target,
        "outcome": record.outcome,
        "client_ip": record.client_ip,
        "prev_hash": record.prev_hash,
        "hash": record.hash,
    })
}

/// `GET /admin/audit?limit=&cursor=`
pub async fn list(
    State(live): State<Arc<Live>>,
    Query(params): Query<Params>,
) -> Result<Response, AdminError> {
    let limit = params.limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT);
    let cursor = match params.cursor.as_deref().filter(|c| !c.is_empty()) {
        None => None,
        Some(cursor) => match cursor.parse::<i64>() {
            Ok(id) => Some(id.to_string()),
            Err(_) => {
                return Err(AdminError::bad_request(
                    "cursor is not one this API gave out",
                ));
            }
        },
    };
    let page = live.store().audit_page(limit, cursor.as_deref()).await?;
    Ok(axum::Json(json!({
        "records": page.records.iter().map(shown).collect::<Vec<_>>(),
        "next_cursor": page.next,
    }))
    .into_response())
}
