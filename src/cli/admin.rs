//! `hookwall events …` and `hookwall dlq …`: the admin API from a terminal.
//!
//! The token comes from `HOOKWALL_ADMIN_TOKEN` only (a flag would show it in `ps`). Long work
//! (a bulk replay, an export) draws a progress bar on standard error when it is a terminal,
//! and nothing otherwise.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use clap::{Args, Subcommand};
use futures_util::StreamExt;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::Value;

#[derive(Debug, Args)]
pub struct AdminArgs {
    /// Base URL of the admin listener.
    #[arg(
        long,
        env = "HOOKWALL_ADMIN_URL",
        default_value = "http://127.0.0.1:9091",
        global = true
    )]
    pub admin_url: String,
}

#[derive(Debug, Args, Default)]
pub struct Filters {
    #[arg(long)]
    pub source: Option<String>,
    /// Only events of this type, exactly (`push`, `payment_intent.succeeded`).
    #[arg(long)]
    pub event_type: Option<String>,
    /// RFC 3339 or unix seconds.
    #[arg(long)]
    pub since: Option<String>,
    /// RFC 3339 or unix seconds (exclusive).
    #[arg(long)]
    pub until: Option<String>,
}

/// One page of a listing.
#[derive(Debug, Args)]
pub struct PageArgs {
    #[arg(long, default_value_t = 50)]
    pub limit: u32,
    /// The `next` cursor a previous page printed.
    #[arg(long)]
    pub cursor: Option<String>,
    /// Print the API's JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum EventsCommand {
    /// Newest first, a page at a time.
    List {
        #[command(flatten)]
        filters: Filters,
        /// pending, delivered, failed, dead or ignored (stored, with no destination to go to).
        #[arg(long)]
        status: Option<String>,
        #[command(flatten)]
        page: PageArgs,
    },
    /// One event with its headers and body, as JSON.
    Show { id: String },
    /// Deliver these events again.
    Replay {
        #[arg(required = true)]
        ids: Vec<String>,
    },
    /// Every matching event, streamed as NDJSON or CSV.
    Export {
        #[command(flatten)]
        filters: Filters,
        #[arg(long)]
        status: Option<String>,
        #[arg(long, default_value = "ndjson", value_parser = ["ndjson", "csv"])]
        format: String,
        /// Include bodies (NDJSON only).
        #[arg(long)]
        bodies: bool,
        /// Write here instead of standard output.
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub enum DlqCommand {
    /// Dead events, newest first.
    List {
        #[command(flatten)]
        filters: Filters,
        #[command(flatten)]
        page: PageArgs,
    },
    /// Deliver dead events again: the ones named, or every one matching the filters.
    Replay {
        #[command(flatten)]
        filters: Filters,
        ids: Vec<String>,
    },
}

/// A client of the admin API with the operator's token.
pub(super) struct Admin {
    base: String,
    token: String,
    client: reqwest::Client,
    /// Set on a 401 or 403, so a loop over many calls stops at the first.
    token_refused: AtomicBool,
}

pub(super) type Failure = String;

impl Admin {
    pub(super) fn new(args: &AdminArgs) -> Result<Admin, Failure> {
        let token = std::env::var("HOOKWALL_ADMIN_TOKEN").map_err(|_| {
            "set HOOKWALL_ADMIN_TOKEN to an admin token of the server (admin_token or one of \
             admin_tokens)"
                .to_owned()
        })?;
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .build()
            .map_err(|err| err.to_string())?;
        Ok(Admin {
            base: args.admin_url.trim_end_matches('/').to_owned(),
            token,
            client,
            token_refused: AtomicBool::new(false),
        })
    }

    pub(super) fn url(
        &self,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<reqwest::Url, Failure> {
        reqwest::Url::parse_with_params(&format!("{}{path}", self.base), query)
            .map_err(|err| format!("--admin-url {}: {err}", self.base))
    }

    pub(super) async fn call(
        &self,
        method: reqwest::Method,
        url: reqwest::Url,
    ) -> Result<reqwest::Response, Failure> {
        self.call_answering(method, url, &[]).await
    }

    /// Like [`Admin::call`], but an answer with one of the `expected` statuses is handed back
    /// like a success (the caller reads its body: a 409's report, say).
    pub(super) async fn call_answering(
        &self,
        method: reqwest::Method,
        url: reqwest::Url,
        expected: &[reqwest::StatusCode],
    ) -> Result<reqwest::Response, Failure> {
        let response = self
            .client
            .request(method.clone(), url.clone())
            .bearer_auth(&self.token)
            .timeout(Duration::from_secs(60))
            .send()
            .await
            .map_err(|err| super::net::describe(&err, url.as_str()))?;
        if response.status().is_success() || expected.contains(&response.status()) {
            return Ok(response);
        }
        let status = response.status();
        let problem = response.json::<Value>().await.unwrap_or(Value::Null);
        let detail = shown(problem["detail"].as_str().unwrap_or_default());
        match status {
            reqwest::StatusCode::UNAUTHORIZED => {
                self.token_refused.store(true, Ordering::Relaxed);
                Err(format!(
                    "HOOKWALL_ADMIN_TOKEN is not a token this server knows ({} answered 401: \
                     {detail})",
                    url.path()
                ))
            }
            reqwest::StatusCode::FORBIDDEN => {
                self.token_refused.store(true, Ordering::Relaxed);
                Err(format!(
                    "{} ({} answered 403)",
                    forbidden_in_words(&problem, &method, url.path()),
                    url.path()
                ))
            }
            _ => Err(format!("{} answered {status}: {detail}", url.path())),
        }
    }

    /// Whether the server refused the token (401 or 403): every further call would be too.
    pub(super) fn token_refused(&self) -> bool {
        self.token_refused.load(Ordering::Relaxed)
    }

    pub(super) async fn get_json(
        &self,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<Value, Failure> {
        let response = self
            .call(reqwest::Method::GET, self.url(path, query)?)
            .await?;
        response.json().await.map_err(|err| err.to_string())
    }

    async fn replay(&self, id: &str) -> Result<(), Failure> {
        let path = format!("/admin/events/{id}/replay");
        self.call(reqwest::Method::POST, self.url(&path, &[])?)
            .await
            .map(drop)
    }
}

/// A 403 in words: who the token is, what its role is, what the refused call needed.
fn forbidden_in_words(problem: &Value, method: &reqwest::Method, path: &str) -> String {
    let field = |key: &str| shown(problem[key].as_str().unwrap_or("?"));
    let needed = field("required_role");
    format!(
        "the token `{}` has role {}; {} needs {needed} — ask an admin for {} {needed} token",
        field("token_name"),
        field("token_role"),
        action_of(method, path),
        if needed.starts_with(['a', 'e', 'i', 'o', 'u']) {
            "an"
        } else {
            "a"
        },
    )
}

/// What a call to the admin API does, for a person.
fn action_of(method: &reqwest::Method, path: &str) -> &'static str {
    let post = method == reqwest::Method::POST;
    match path {
        "/admin/reload" if post => "reloading the configuration",
        "/admin/events/replay" if post => "a bulk replay",
        "/admin/events/export" => "exporting events",
        _ if post && path.ends_with("/replay") => "replaying",
        _ if post && path.ends_with("/pause") => "pausing a destination",
        _ if post && path.ends_with("/resume") => "resuming a destination",
        _ if post && path.ends_with("/test") => "the security test",
        _ if post && path.ends_with("/retest") => "retesting a refusal",
        _ => "this request",
    }
}

fn query(filters: &Filters, status: Option<&str>) -> Vec<(&'static str, String)> {
    let mut query = Vec::new();
    if let Some(source) = &filters.source {
        query.push(("source", source.clone()));
    }
    if let Some(event_type) = &filters.event_type {
        query.push(("event_type", event_type.clone()));
    }
    if let Some(since) = &filters.since {
        query.push(("since", since.clone()));
    }
    if let Some(until) = &filters.until {
        query.push(("until", until.clone()));
    }
    if let Some(status) = status {
        query.push(("status", status.to_owned()));
    }
    query
}

pub(super) fn finish(result: Result<(), Failure>, command: &str) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("hookwall {command}: {err}");
            ExitCode::FAILURE
        }
    }
}

pub async fn events(args: &AdminArgs, command: EventsCommand) -> ExitCode {
    let result = async {
        let admin = Admin::new(args)?;
        match command {
            EventsCommand::List {
                filters,
                status,
                page,
            } => list(&admin, &filters, status.as_deref(), page).await,
            EventsCommand::Show { id } => {
                let event = admin.get_json(&format!("/admin/events/{id}"), &[]).await?;
                println!(
                    "{}",
                    serde_json::to_string_pretty(&event).unwrap_or_default()
                );
                Ok(())
            }
            EventsCommand::Replay { ids } => replay_each(&admin, &ids).await,
            EventsCommand::Export {
                filters,
                status,
                format,
                bodies,
                output,
            } => export(&admin, &filters, status.as_deref(), &format, bodies, output).await,
        }
    }
    .await;
    finish(result, "events")
}

pub async fn dlq(args: &AdminArgs, command: DlqCommand) -> ExitCode {
    let result = async {
        let admin = Admin::new(args)?;
        match command {
            DlqCommand::List { filters, page } => list(&admin, &filters, Some("dead"), page).await,
            DlqCommand::Replay { filters, ids } if ids.is_empty() => {
                let ids = dead_ids(&admin, &filters).await?;
                replay_each(&admin, &ids).await
            }
            DlqCommand::Replay { ids, .. } => replay_each(&admin, &ids).await,
        }
    }
    .await;
    finish(result, "dlq")
}

async fn list(
    admin: &Admin,
    filters: &Filters,
    status: Option<&str>,
    PageArgs {
        limit,
        cursor,
        json,
    }: PageArgs,
) -> Result<(), Failure> {
    let mut query = query(filters, status);
    query.push(("limit", limit.to_string()));
    if let Some(cursor) = cursor {
        query.push(("cursor", cursor));
    }
    let page = admin.get_json("/admin/events", &query).await?;
    if json {
        println!("{page}");
        return Ok(());
    }
    let events = page["events"].as_array().cloned().unwrap_or_default();
    let mut out = std::io::stdout().lock();
    let _ = writeln!(
        out,
        "{:<36}  {:<16}  {:<24}  {:<9}  {:<24}  {:>8}  LAST ERROR",
        "ID", "SOURCE", "TYPE", "STATUS", "RECEIVED", "ATTEMPTS"
    );
    for event in &events {
        let _ = writeln!(
            out,
            "{:<36}  {:<16}  {:<24}  {:<9}  {:<24}  {:>8}  {}",
            event["id"].as_str().unwrap_or("-"),
            event["source"].as_str().unwrap_or("-"),
            shown(event["event_type"].as_str().unwrap_or("-")),
            event["status"].as_str().unwrap_or("-"),
            event["received_at"].as_str().unwrap_or("-"),
            event["attempts"].as_i64().unwrap_or(0),
            shown(event["last_error"].as_str().unwrap_or("")),
        );
    }
    if let Some(next) = page["next_cursor"].as_str() {
        let _ = writeln!(out, "more: --cursor {next}");
    }
    Ok(())
}

/// A value a sender (or a downstream, for an error) chose, for one cell of a table: control
/// characters (an escape sequence, a line break) are escaped, so the terminal shows them instead
/// of obeying them.
pub(super) fn shown(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

fn bar(len: u64, message: &'static str) -> ProgressBar {
    let bar = ProgressBar::new(len);
    // The template is a constant known to parse; fall back to the default style regardless.
    if let Ok(style) = ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} ({eta})") {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(message);
    bar
}

/// Every dead event matching the filters (ids only), paging through the list.
async fn dead_ids(admin: &Admin, filters: &Filters) -> Result<Vec<String>, Failure> {
    let spinner = ProgressBar::new_spinner();
    spinner.set_message("finding dead events");
    let mut ids = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut query = query(filters, Some("dead"));
        query.push(("limit", "1000".to_owned()));
        if let Some(cursor) = &cursor {
            query.push(("cursor", cursor.clone()));
        }
        let page = admin.get_json("/admin/events", &query).await?;
        for event in page["events"].as_array().into_iter().flatten() {
            if let Some(id) = event["id"].as_str() {
                ids.push(id.to_owned());
            }
        }
        spinner.set_message(format!("finding dead events: {}", ids.len()));
        spinner.tick();
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    spinner.finish_and_clear();
    Ok(ids)
}

async fn replay_each(admin: &Admin, ids: &[String]) -> Result<(), Failure> {
    let bar = bar(ids.len() as u64, "replaying");
    let mut failed = Vec::new();
    for id in ids {
        if let Err(err) = admin.replay(id).await {
            if admin.token_refused() {
                bar.finish_and_clear();
                return Err(err);
            }
            bar.suspend(|| eprintln!("{id}: {err}"));
            failed.push(id);
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    let replayed = ids.len() - failed.len();
    println!("replayed {replayed} of {} events", ids.len());
    if failed.is_empty() {
        Ok(())
    } else {
        Err(format!("{} events could not be replayed", failed.len()))
    }
}

async fn export(
    admin: &Admin,
    filters: &Filters,
    status: Option<&str>,
    format: &str,
    bodies: bool,
    output: Option<PathBuf>,
) -> Result<(), Failure> {
    let mut query = query(filters, status);
    query.push(("format", format.to_owned()));
    if bodies {
        query.push(("body", "true".to_owned()));
    }
    let url = admin.url("/admin/events/export", &query)?;
    let response = admin.call(reqwest::Method::GET, url).await?;
    let mut sink: Box<dyn Write> = match &output {
        Some(path) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(path).map_err(|err| format!("{}: {err}", path.display()))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    let spinner = ProgressBar::new_spinner();
    let mut lines: u64 = 0;
    let mut stream = response.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|err| format!("the export was cut: {err}"))?;
        lines += chunk.iter().filter(|b| **b == b'\n').count() as u64;
        sink.write_all(&chunk).map_err(|err| err.to_string())?;
        spinner.set_message(format!("exported {lines} lines"));
        spinner.tick();
    }
    sink.flush().map_err(|err| err.to_string())?;
    spinner.finish_and_clear();
    if output.is_some() {
        println!("exported {lines} lines");
    }
    Ok(())
}
