//! `/ui/test`: the security test endpoint as a form (SPEC sections 5 and 11). A person pastes a
//! provider's request (headers as `Name: value` lines, the body, the client address) and sees
//! every check of the source's pipeline, run in dry-run by
//! [`crate::admin::dry_run::test_source`], the admin API's own. Operator and admin only.

use std::sync::Arc;

use axum::extract::State;
use axum::response::Response;
use axum::{Extension, Form};
use maud::{Markup, html};
use serde::Deserialize;

use super::session::Session;
use super::state::Console;
use super::{guard, layout};
use crate::admin::dry_run::{self, RecordedRequest, Report};

#[derive(Debug, Default, Deserialize)]
pub(super) struct TestForm {
    #[serde(default)]
    source: String,
    #[serde(default)]
    headers: String,
    #[serde(default)]
    body: String,
    #[serde(default)]
    client_ip: String,
}

/// `Name: value` lines; blank lines are skipped, a line without a colon is an error.
fn header_lines(text: &str) -> Result<Vec<(String, String)>, String> {
    text.lines()
        .map(str::trim_end)
        .filter(|line| !line.trim().is_empty())
        .map(|line| match line.split_once(':') {
            Some((name, value)) if !name.trim().is_empty() => {
                Ok((name.trim().to_owned(), value.trim().to_owned()))
            }
            _ => Err(format!(
                "This header line has no \"Name: value\" form: {line}"
            )),
        })
        .collect()
}

/// `GET /ui/test`
pub(super) async fn form(
    State(console): State<Arc<Console>>,
    Extension(session): Extension<Session>,
) -> Response {
    let content = page(&console, &session, &TestForm::default(), None, None);
    layout::page(&session, "Security test", "/ui/test", content)
}

/// `POST /ui/test`: runs the checks and shows the form again with the report.
pub(super) async fn run(
    State(console): State<Arc<Console>>,
    Extension(session): Extension<Session>,
    Form(form): Form<TestForm>,
) -> Response {
    if let Some(refused) = guard::refused_unless_operator(&session) {
        return refused;
    }
    let outcome = match header_lines(&form.headers) {
        Err(message) => Err(message),
        Ok(headers) => {
            let client_ip = Some(form.client_ip.trim().to_owned()).filter(|ip| !ip.is_empty());
            let recorded = RecordedRequest::from_parts(headers, form.body.clone(), client_ip);
            dry_run::test_source(&console.live, form.source.trim(), recorded)
                .await
                .map_err(|error| error.parts().1.to_owned())
        }
    };
    let (report, error) = match outcome {
        Ok(report) => (Some(report), None),
        Err(message) => (None, Some(message)),
    };
    let content = page(&console, &session, &form, report.as_ref(), error.as_deref());
    layout::page(&session, "Security test", "/ui/test", content)
}

fn page(
    console: &Console,
    session: &Session,
    form: &TestForm,
    report: Option<&Report>,
    error: Option<&str>,
) -> Markup {
    let sources: Vec<String> = console
        .live
        .snapshot()
        .config
        .sources
        .iter()
        .map(|s| s.name.clone())
        .collect();
    html! {
        h1 { "Security test" }
        p.muted { "Runs every check of a source's pipeline on a request you paste, as if it arrived now: nothing is stored, nothing delivered, no rate limit consumed." }
        @if let Some(error) = error { p.notice.bad role="alert" { (error) } }
        @if let Some(report) = report { (report_card(report)) }
        @if session.may_operate() {
            form.stack method="post" action="/ui/test" {
                (layout::csrf_field(session))
                label { "Source"
                    select name="source" required {
                        @for name in &sources {
                            option value=(name) selected[*name == form.source] { (name) }
                        }
                    }
                }
                label { "Headers (one \"Name: value\" per line)"
                    textarea name="headers" rows="8" spellcheck="false" { (form.headers) }
                }
                label { "Body"
                    textarea name="body" rows="10" spellcheck="false" { (form.body) }
                }
                label { "Client IP (as the gateway resolves it)"
                    input type="text" name="client_ip" value=(form.client_ip) placeholder="203.0.113.7";
                }
                button type="submit" { "Run the checks" }
            }
        } @else {
            p.notice { "Your token's role may read the console but not run the security test." }
        }
    }
}

pub(super) fn report_card(report: &Report) -> Markup {
    html! {
        div.card id="report" {
            p {
                "Verdict: " (layout::badge(report.verdict))
                " · a real request would get HTTP " strong { (report.status) }
            }
            table {
                thead { tr { th { "Check" } th { "Result" } th { "Why" } } }
                tbody {
                    @for check in &report.checks {
                        tr {
                            td.mono { (check.name) }
                            td { (layout::badge(check.result.as_str())) }
                            td.wrap { (check.reason.as_deref().unwrap_or("")) }
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_lines_are_name_colon_value_and_anything_else_is_named() {
        assert_eq!(
            header_lines("X-Hub-Signature-256: sha256=ab:cd\r\n\nContent-Type:application/json"),
            Ok(vec![
                ("X-Hub-Signature-256".to_owned(), "sha256=ab:cd".to_owned()),
                ("Content-Type".to_owned(), "application/json".to_owned()),
            ])
        );
        assert!(header_lines("no colon here").is_err_and(|e| e.contains("no colon here")));
    }
}
