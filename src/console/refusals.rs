//! `/ui/refusals`: the refusal quarantine (SPEC sections 11 and 13). The list (newest first,
//! filtered by source and reason, cursor paging), one record (why it was refused, its headers
//! with credentials redacted, the kept sample as text), and for operators the two actions of
//! `POST /admin/refusals/{id}/retest`: Retest (the security test's report on the kept request,
//! run now) and Admit (store it as an event, audited) — both through
//! [`crate::admin::refusals::retest_kept`], the admin API's own.
//!
//! A record is what an attacker sent: every value is interpolated by `maud`, which escapes it,
//! and the sample is shown as text ([`super::body::shown`]).

use std::str::FromStr;
use std::sync::Arc;

use axum::Extension;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use http::StatusCode;
use maud::{Markup, html};
use serde::Deserialize;
use uuid::Uuid;

use super::security_test::report_card;
use super::session::Session;
use super::state::Console;
use super::{body, guard, layout};
use crate::admin::dry_run::Report;
use crate::admin::refusals::{Admission, Retested, refused_admission, retest_kept};
use crate::store::{RefusalFilter, StoredRefusal};
use crate::telemetry::activity::OUTCOMES;

const PAGE_SIZE: u32 = 50;

/// The reasons a refusal can be filed under: every outcome of the activity counters but the
/// ones that are no refusal.
fn reasons() -> impl Iterator<Item = &'static str> {
    OUTCOMES
        .iter()
        .copied()
        .filter(|outcome| !matches!(*outcome, "accepted" | "duplicate" | "other"))
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct ListParams {
    #[serde(default)]
    source: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    cursor: String,
}

impl ListParams {
    fn with_cursor(&self, cursor: &str) -> String {
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        for (name, value) in [("source", &self.source), ("reason", &self.reason)] {
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

/// `GET /ui/refusals`
pub(super) async fn list(
    State(console): State<Arc<Console>>,
    Extension(session): Extension<Session>,
    Query(params): Query<ListParams>,
) -> Response {
    let filter = RefusalFilter {
        source: non_empty(&params.source),
        reason: non_empty(&params.reason),
        since_ms: None,
    };
    // A cursor is a record id; anything else starts from the newest.
    let cursor = Uuid::from_str(params.cursor.trim())
        .ok()
        .map(|id| id.to_string());
    let page = match console
        .live
        .store()
        .refusals(&filter, PAGE_SIZE, cursor.as_deref())
        .await
    {
        Ok(page) => page,
        Err(error) => return layout::admin_error(error.into()),
    };
    let snapshot = console.live.snapshot();
    let sources: Vec<&str> = snapshot
        .config
        .sources
        .iter()
        .map(|s| s.name.as_str())
        .collect();
    let enabled = snapshot.config.quarantine.enabled;
    let content = html! {
        h1 { "Refusals" }
        p.muted { "Requests this gateway refused (a bad signature, a stale timestamp, a payload its schema refuses, …), kept so you can see why, fix the cause, retest and admit them. Credentials in headers are redacted." }
        @if !enabled {
            p.notice { "The quarantine is off (quarantine.enabled = false): new refusals are not kept." }
        }
        form.filters method="get" action="/ui/refusals" {
            label { "Source"
                select name="source" {
                    option value="" { "any" }
                    @for name in &sources {
                        option value=(name) selected[*name == params.source] { (name) }
                    }
                }
            }
            label { "Reason"
                select name="reason" {
                    option value="" { "any" }
                    @for reason in reasons() {
                        option value=(reason) selected[reason == params.reason] { (reason) }
                    }
                }
            }
            button type="submit" { "Filter" }
            a href="/ui/refusals" { "Clear" }
        }
        @if page.refusals.is_empty() {
            p.muted { "No refusal is kept that matches." }
        } @else {
            div.scroll { (table(&page.refusals)) }
        }
        @if let Some(next) = &page.next {
            p.pager { a href={ "/ui/refusals?" (params.with_cursor(next)) } { "Older refusals →" } }
        }
    };
    drop(snapshot);
    layout::page(&session, "Refusals", "/ui/refusals", content)
}

fn table(refusals: &[StoredRefusal]) -> Markup {
    html! {
        table id="refusals" {
            thead { tr {
                th { "Received" } th { "Source" } th.num { "Status" } th { "Reason" }
                th { "Client IP" } th { "Why" }
            } }
            tbody {
                @for refusal in refusals {
                    tr {
                        td { a href={ "/ui/refusals/" (refusal.id) } { (layout::time(refusal.received_at_ms)) } }
                        td { (refusal.source) }
                        td.num { (refusal.status) }
                        td { (layout::badge(&refusal.category)) }
                        td.mono { (refusal.client_ip) }
                        td.wrap { (refusal.reason) }
                    }
                }
            }
        }
    }
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct ShowParams {
    #[serde(default)]
    reloaded: Option<u8>,
}

/// `GET /ui/refusals/{id}`
pub(super) async fn show(
    State(console): State<Arc<Console>>,
    Extension(session): Extension<Session>,
    Path(id): Path<String>,
    Query(params): Query<ShowParams>,
) -> Response {
    let notice = params
        .reloaded
        .map(|_| "Configuration reloaded: retest to run today's checks.");
    match kept(&console, &id).await {
        Ok(kept) => page(&session, &kept, None, notice, StatusCode::OK),
        Err(response) => response,
    }
}

/// `POST /ui/refusals/{id}/retest` (operator and admin): the record with today's report.
pub(super) async fn retest(
    State(console): State<Arc<Console>>,
    Extension(session): Extension<Session>,
    Path(id): Path<String>,
) -> Response {
    if let Some(refused) = guard::refused_unless_operator(&session) {
        return refused;
    }
    match retest_kept(&console.live, &session.actor, &id, false).await {
        Ok(Retested { kept, report, .. }) => {
            page(&session, &kept, Some(&report), None, StatusCode::OK)
        }
        Err(error) => layout::admin_error(error),
    }
}

/// `POST /ui/refusals/{id}/admit` (operator and admin): stored as an event and shown, or the
/// record again with why it may not be admitted (409).
pub(super) async fn admit(
    State(console): State<Arc<Console>>,
    Extension(session): Extension<Session>,
    Path(id): Path<String>,
) -> Response {
    if let Some(refused) = guard::refused_unless_operator(&session) {
        return refused;
    }
    let retested = match retest_kept(&console.live, &session.actor, &id, true).await {
        Ok(retested) => retested,
        Err(error) => return layout::admin_error(error),
    };
    match retested.admission {
        Some(Admission::Stored(event)) => {
            layout::see_other_to(format!("/ui/events/{event}?admitted=stored"))
        }
        Some(Admission::Duplicate(event)) => {
            layout::see_other_to(format!("/ui/events/{event}?admitted=duplicate"))
        }
        Some(Admission::Refused(why)) => page(
            &session,
            &retested.kept,
            Some(&retested.report),
            Some(&format!("Not admitted: {why}")),
            StatusCode::CONFLICT,
        ),
        // An admit always has an admission; shown as the retest it also is.
        None => page(
            &session,
            &retested.kept,
            Some(&retested.report),
            None,
            StatusCode::OK,
        ),
    }
}

async fn kept(console: &Console, id: &str) -> Result<StoredRefusal, Response> {
    let not_found =
        || layout::error_page(StatusCode::NOT_FOUND, "No refusal with this id is kept.");
    let id = Uuid::from_str(id).map_err(|_| not_found())?;
    match console.live.store().refusal(id).await {
        Ok(Some(kept)) => Ok(kept),
        Ok(None) => Err(not_found()),
        Err(error) => Err(layout::admin_error(error.into())),
    }
}

/// The record, with the report of a retest and a notice (fixed texts, or an admission's refusal
/// built from the record's own values, escaped as any).
fn page(
    session: &Session,
    kept: &StoredRefusal,
    report: Option<&Report>,
    notice: Option<&str>,
    status: StatusCode,
) -> Response {
    let (sample, json) = body::shown(&kept.sample);
    let content = html! {
        h1 { "Refusal " span.mono.wrap { (kept.id) } }
        (layout::notice(notice))
        div.card {
            dl.facts {
                dt { "Source" } dd { a href={ "/ui/refusals?source=" (kept.source) } { (kept.source) } }
                dt { "Received" } dd { (layout::time(kept.received_at_ms)) }
                dt { "Answered" } dd { "HTTP " (kept.status) }
                dt { "Reason" } dd { (layout::badge(&kept.category)) }
                dt { "Why" } dd.wrap id="why" { (kept.reason) }
                dt { "Client IP" } dd.mono { (kept.client_ip) }
                dt { "Body" } dd {
                    (kept.body_length.map_or_else(|| "length unknown".to_owned(), |n| format!("{n} bytes")))
                    @if let Some(sha) = &kept.body_sha256 { ", SHA-256 " span.mono.wrap { (sha) } }
                }
            }
            @if session.may_operate() {
                form.inline method="post" action={ "/ui/refusals/" (kept.id) "/retest" } {
                    (layout::csrf_field(session))
                    button type="submit" id="retest" { "Retest against today's checks" }
                }
                @if report.is_some_and(|report| refused_admission(kept, report).is_none()) {
                    form.inline method="post" action={ "/ui/refusals/" (kept.id) "/admit" } {
                        (layout::csrf_field(session))
                        button type="submit" id="admit" { "Admit as an event" }
                    }
                }
            }
        }
        @if let Some(report) = report {
            h2 { "Retest, now" }
            (report_card(report))
            @if let Some(why) = refused_admission(kept, report) {
                p.muted id="not-admissible" { "Not admissible: " (why) ". Fix the cause (a secret, a schema) in the configuration file, reload it, and retest." }
                @if session.may_administer() {
                    form.inline method="post" action="/ui/reload" {
                        (layout::csrf_field(session))
                        input type="hidden" name="back" value=(kept.id);
                        button type="submit" id="reload" { "Reload the configuration file" }
                    }
                }
            }
        }
        h2 { "Headers" }
        p.muted { "As received; credentials are redacted, or kept only as a keyed fingerprint." }
        div.scroll {
            table id="headers" {
                tbody {
                    @for (name, value) in &kept.headers {
                        tr { th.mono { (name) } td.mono.wrap { (value) } }
                    }
                }
            }
        }
        h2 { "Body sample" }
        p.muted {
            @if kept.sample_is_whole_body { "The whole body, as received." }
            @else { "The first " (kept.sample.len()) " bytes, as received." }
            @if json { " JSON, re-indented (tokens as received)." }
        }
        pre.body id="sample" { (sample) }
    };
    let mut response = layout::page(session, "Refusal", "/ui/refusals", content);
    *response.status_mut() = status;
    response
}
