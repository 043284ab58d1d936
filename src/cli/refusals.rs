//! `hookwall refusals list|show|retest`: the refusal quarantine (SPEC section 13) from a
//! terminal, through the admin API like `hookwall events` (`GET /admin/refusals[/{id}]`,
//! `POST /admin/refusals/{id}/retest[?admit=true]`).
//!
//! Nearly everything a record holds was chosen by whoever sent the refused request (headers,
//! the sample, the reason quoting them), so every such value goes through [`shown`] before it
//! reaches the terminal: an escape sequence in a forged webhook is printed, not obeyed.

use std::io::Write;
use std::process::ExitCode;

use base64::Engine;
use clap::Subcommand;
use serde_json::Value;

use super::admin::{Admin, AdminArgs, Failure, PageArgs, finish, shown};

#[derive(Debug, Subcommand)]
pub enum RefusalsCommand {
    /// Kept refusals, newest first, one line each: time, id, source, status, client IP, body
    /// length and the reason.
    List {
        #[arg(long)]
        source: Option<String>,
        /// Only this reason's category, exactly (`bad_signature`, `schema_invalid`, …).
        #[arg(long)]
        reason: Option<String>,
        /// RFC 3339 or unix seconds.
        #[arg(long)]
        since: Option<String>,
        #[command(flatten)]
        page: PageArgs,
    },
    /// One kept refusal: its headers (credentials redacted), the body's SHA-256 and the sample.
    Show {
        id: String,
        /// Print the API's JSON instead.
        #[arg(long)]
        json: bool,
    },
    /// Run the kept request through today's checks of its source and print each check's
    /// result. Exit 1 when the verdict is reject.
    Retest {
        id: String,
        /// Store it as an event when every check now passes (operator). Exit 1 when the admit
        /// is refused.
        #[arg(long)]
        admit: bool,
    },
}

pub async fn run(args: &AdminArgs, command: RefusalsCommand) -> ExitCode {
    let result = async {
        let admin = Admin::new(args)?;
        match command {
            RefusalsCommand::List {
                source,
                reason,
                since,
                page,
            } => {
                let filters = [("source", source), ("reason", reason), ("since", since)];
                list(&admin, &filters, page).await
            }
            RefusalsCommand::Show { id, json } => show(&admin, &id, json).await,
            RefusalsCommand::Retest { id, admit } => retest(&admin, &id, admit).await,
        }
    }
    .await;
    finish(result, "refusals")
}

/// The URL of a record (and of what follows it): the id is one path segment, escaped, never a
/// path of its own.
fn record_url(
    admin: &Admin,
    id: &str,
    then: &[&str],
    query: &[(&str, String)],
) -> Result<reqwest::Url, Failure> {
    let mut url = admin.url("/admin/refusals", query)?;
    url.path_segments_mut()
        .map_err(|()| "the admin URL cannot take a path".to_owned())?
        .push(id)
        .extend(then);
    Ok(url)
}

/// A text field of a record, escaped for the terminal; `-` when it is absent.
fn field(record: &Value, key: &str) -> String {
    text(&record[key])
}

/// A value escaped for the terminal; `-` for null.
fn text(value: &Value) -> String {
    match value {
        Value::String(text) => shown(text),
        Value::Null => "-".to_owned(),
        other => shown(&other.to_string()),
    }
}

async fn list(
    admin: &Admin,
    filters: &[(&'static str, Option<String>)],
    PageArgs {
        limit,
        cursor,
        json,
    }: PageArgs,
) -> Result<(), Failure> {
    let mut query: Vec<(&str, String)> = filters
        .iter()
        .filter_map(|(key, value)| value.clone().map(|value| (*key, value)))
        .collect();
    query.push(("limit", limit.to_string()));
    if let Some(cursor) = cursor {
        query.push(("cursor", cursor));
    }
    let page = admin.get_json("/admin/refusals", &query).await?;
    if json {
        println!("{page}");
        return Ok(());
    }
    let mut out = std::io::stdout().lock();
    // The reason last: it is the one long, unbounded column.
    let _ = writeln!(
        out,
        "{:<24}  {:<36}  {:<16}  {:>6}  {:<15}  {:>9}  REASON",
        "TIME", "ID", "SOURCE", "STATUS", "CLIENT IP", "BODY"
    );
    for record in page["refusals"].as_array().into_iter().flatten() {
        let _ = writeln!(
            out,
            "{:<24}  {:<36}  {:<16}  {:>6}  {:<15}  {:>9}  {}",
            field(record, "received_at"),
            field(record, "id"),
            field(record, "source"),
            field(record, "status"),
            field(record, "client_ip"),
            field(record, "body_length"),
            field(record, "reason"),
        );
    }
    if let Some(next) = page["next_cursor"].as_str() {
        let _ = writeln!(out, "more: --cursor {}", shown(next));
    }
    Ok(())
}

async fn show(admin: &Admin, id: &str, json: bool) -> Result<(), Failure> {
    let url = record_url(admin, id, &[], &[])?;
    let record: Value = admin
        .call(reqwest::Method::GET, url)
        .await?
        .json()
        .await
        .map_err(|err| err.to_string())?;
    if json {
        println!("{record}");
        return Ok(());
    }
    let mut out = std::io::stdout().lock();
    for (label, key) in [
        ("id", "id"),
        ("source", "source"),
        ("received", "received_at"),
        ("client ip", "client_ip"),
        ("status", "status"),
        ("reason", "reason"),
        ("body sha256", "body_sha256"),
        ("body length", "body_length"),
    ] {
        let _ = writeln!(out, "{label:<12} {}", field(&record, key));
    }
    let sample = sample_of(&record);
    let whole = if record["sample_is_whole_body"] == Value::Bool(true) {
        "yes: the sample is the whole body".to_owned()
    } else {
        format!("no: the sample holds the first {} bytes", sample.len())
    };
    let _ = writeln!(out, "{:<12} {whole}", "whole body");
    let _ = writeln!(out, "headers:");
    for pair in record["headers"].as_array().into_iter().flatten() {
        let _ = writeln!(out, "  {}: {}", text(&pair[0]), text(&pair[1]));
    }
    match std::str::from_utf8(&sample) {
        Ok(text) => {
            let _ = writeln!(
                out,
                "sample ({} bytes, text):\n  {}",
                sample.len(),
                shown(text)
            );
        }
        Err(_) => {
            let _ = writeln!(
                out,
                "sample ({} bytes, not UTF-8, base64):\n  {}",
                sample.len(),
                base64::engine::general_purpose::STANDARD.encode(&sample)
            );
        }
    }
    Ok(())
}

/// The sample's bytes, from `sample` (UTF-8 text) or `sample_base64`.
fn sample_of(record: &Value) -> Vec<u8> {
    if let Some(text) = record["sample"].as_str() {
        return text.as_bytes().to_vec();
    }
    record["sample_base64"]
        .as_str()
        .and_then(|encoded| {
            base64::engine::general_purpose::STANDARD
                .decode(encoded)
                .ok()
        })
        .unwrap_or_default()
}

async fn retest(admin: &Admin, id: &str, admit: bool) -> Result<(), Failure> {
    let query = if admit {
        vec![("admit", "true".to_owned())]
    } else {
        Vec::new()
    };
    let url = record_url(admin, id, &["retest"], &query)?;
    let response = admin
        .call_answering(reqwest::Method::POST, url, &[reqwest::StatusCode::CONFLICT])
        .await?;
    let refused = response.status() == reqwest::StatusCode::CONFLICT;
    let answer: Value = response.json().await.map_err(|err| err.to_string())?;
    let mut out = std::io::stdout().lock();
    if admit && !refused {
        // 201 for a new event, 200 when it was already stored (de-duplicated).
        let _ = writeln!(
            out,
            "admitted: event {} ({})",
            field(&answer, "id"),
            field(&answer, "status")
        );
        return Ok(());
    }
    // A plain retest answers the report itself; a refused admit carries it beside its detail.
    let report = if refused { &answer["report"] } else { &answer };
    print_report(&mut out, report);
    let verdict = report["verdict"].as_str().unwrap_or("?");
    if refused {
        let detail = field(&answer, "detail");
        let _ = writeln!(out, "not admitted: {detail}");
        return Err(format!("refusal {} not admitted: {detail}", shown(id)));
    }
    if verdict == "accept" {
        Ok(())
    } else {
        Err(format!(
            "refusal {} would still be refused today (verdict {})",
            shown(id),
            shown(verdict)
        ))
    }
}

fn print_report(out: &mut impl Write, report: &Value) {
    let _ = writeln!(out, "{:<16}  {:<6}  REASON", "CHECK", "RESULT");
    for check in report["checks"].as_array().into_iter().flatten() {
        let reason = check["reason"].as_str().map_or_else(String::new, shown);
        let _ = writeln!(
            out,
            "{:<16}  {:<6}  {reason}",
            field(check, "name"),
            field(check, "result"),
        );
    }
    let _ = writeln!(
        out,
        "verdict: {} (a real request would get {})",
        field(report, "verdict"),
        field(report, "status")
    );
}
