//! `/ui/audit`: the audit trail (SPEC sections 11 and 12), newest first with cursor paging, as
//! `GET /admin/audit` lists it, and a check of the hash chain on request (`?verify=1`), walked
//! with [`ChainCheck`], the same walk as `hookwall audit verify`.

use std::sync::Arc;

use axum::Extension;
use axum::extract::{Query, State};
use axum::response::Response;
use maud::{Markup, html};
use serde::Deserialize;

use super::layout;
use super::session::Session;
use super::state::Console;
use crate::store::audit::{ChainCheck, MAX_AUDIT_PAGE};
use crate::store::{AuditRecord, Store, StoreError};

const PAGE_SIZE: u32 = 50;

#[derive(Debug, Default, Deserialize)]
pub(super) struct Params {
    #[serde(default)]
    cursor: String,
    #[serde(default)]
    verify: Option<u8>,
}

/// `GET /ui/audit[?cursor=…][&verify=1]`
pub(super) async fn page(
    State(console): State<Arc<Console>>,
    Extension(session): Extension<Session>,
    Query(params): Query<Params>,
) -> Response {
    let store = console.live.store();
    // A cursor is a record id; anything else starts from the newest.
    let cursor = params
        .cursor
        .trim()
        .parse::<i64>()
        .ok()
        .map(|id| id.to_string());
    let page = match store.audit_page(PAGE_SIZE, cursor.as_deref()).await {
        Ok(page) => page,
        Err(error) => return layout::admin_error(error.into()),
    };
    let verdict = match params.verify {
        Some(_) => match verify(store.as_ref()).await {
            Ok(verdict) => Some(verdict),
            Err(error) => return layout::admin_error(error.into()),
        },
        None => None,
    };
    let content = html! {
        h1 { "Audit trail" }
        p.muted { "Every state-changing action (replay, bulk replay, pause, resume, reload, export, admit, console logins), written with its effect. Each record holds the hash of the one before it, so a changed or deleted record breaks the chain." }
        @match &verdict {
            None => p { a href="/ui/audit?verify=1" id="verify" { "Check the chain" } },
            Some(Verdict::Holds { records }) => p.notice role="status" id="chain" { "The chain holds: " (records) " record(s) checked." },
            Some(Verdict::Broken { id, why }) => p.notice.bad role="alert" id="chain" { "The chain is broken at record " (id) ": " (why) "." },
        }
        @if page.records.is_empty() {
            p.muted { "Nothing has been recorded yet." }
        } @else {
            div.scroll { (table(&page.records)) }
        }
        @if let Some(next) = &page.next {
            p.pager { a href={ "/ui/audit?cursor=" (next) } { "Older records →" } }
        }
    };
    layout::page(&session, "Audit trail", "/ui/audit", content)
}

fn table(records: &[AuditRecord]) -> Markup {
    html! {
        table id="audit" {
            thead { tr {
                th.num { "#" } th { "Time" } th { "Actor" } th { "Action" } th { "Target" }
                th { "Outcome" } th { "Client IP" } th { "Hash" }
            } }
            tbody {
                @for record in records {
                    tr {
                        td.num { (record.id) }
                        td { (layout::time(record.time_ms)) }
                        td { (record.actor) }
                        td.mono { (record.action) }
                        td.wrap.mono { (record.target) }
                        td.wrap { (record.outcome) }
                        td.mono { (record.client_ip.as_deref().unwrap_or("—")) }
                        td.mono title=(record.hash) { (record.hash.get(..12).unwrap_or(&record.hash)) "…" }
                    }
                }
            }
        }
    }
}

enum Verdict {
    Holds { records: u64 },
    Broken { id: i64, why: String },
}

/// Walks the whole chain from its first record.
async fn verify(store: &dyn Store) -> Result<Verdict, StoreError> {
    let mut check = ChainCheck::default();
    loop {
        let batch = store.audit_chain(check.last_id(), MAX_AUDIT_PAGE).await?;
        if batch.is_empty() {
            return Ok(Verdict::Holds {
                records: check.checked(),
            });
        }
        for record in &batch {
            if let Err(broken) = check.check(record) {
                return Ok(Verdict::Broken {
                    id: record.id,
                    why: broken.to_string(),
                });
            }
        }
    }
}
