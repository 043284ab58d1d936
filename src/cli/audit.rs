//! `hookwall audit verify` and `hookwall audit list`: the audit trail (SPEC section 12).
//!
//! `verify` reads the configured store's database directly, read-only (not through the admin
//! API, so that it answers for the database itself, whatever a gateway says), walks the hash
//! chain from the first record and exits 0 with its length and head hash, or 1 with the id of
//! the first record that does not fit. `list` pages through `GET /admin/audit` like
//! `hookwall events list`.

use std::io::Write;
use std::process::ExitCode;

use clap::Subcommand;

use super::admin::{Admin, AdminArgs, Failure, PageArgs, finish, shown};
use super::config_file::ConfigFile;
use crate::store::{ChainReader, Verdict};

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check the hash chain in the configured store (read-only; safe beside a running gateway).
    /// Exit 0 when it holds, 1 with the first record that does not fit.
    Verify(ConfigFile),
    /// The trail newest first, through the admin API (token from HOOKWALL_ADMIN_TOKEN).
    List {
        #[command(flatten)]
        admin: AdminArgs,
        #[command(flatten)]
        page: PageArgs,
    },
}

pub async fn run(command: AuditCommand) -> ExitCode {
    match command {
        AuditCommand::Verify(ConfigFile { config }) => verify(&config).await,
        AuditCommand::List { admin, page } => {
            let result = async { list(&Admin::new(&admin)?, page).await }.await;
            finish(result, "audit list")
        }
    }
}

async fn verify(path: &std::path::Path) -> ExitCode {
    let config = match crate::config::Config::load(path) {
        Ok(config) => config,
        Err(errors) => {
            eprintln!(
                "hookwall: invalid configuration in {}:\n{errors}",
                path.display()
            );
            return ExitCode::FAILURE;
        }
    };
    // The URL may hold a password: errors name the key, never the value.
    let reader = match ChainReader::open(&config.storage.url).await {
        Ok(reader) => reader,
        Err(err) => {
            eprintln!("hookwall audit verify: storage.url: cannot open the store: {err}");
            return ExitCode::FAILURE;
        }
    };
    let verdict = reader.verify().await;
    reader.close().await;
    match verdict {
        Ok(Verdict::Holds { records, head }) => {
            println!("audit chain holds: {records} records, head {head}");
            ExitCode::SUCCESS
        }
        Ok(Verdict::Broken { id, why }) => {
            println!("audit chain broken at record {id}: {why}");
            ExitCode::FAILURE
        }
        Err(err) => {
            eprintln!("hookwall audit verify: cannot read the audit trail: {err}");
            ExitCode::FAILURE
        }
    }
}

async fn list(
    admin: &Admin,
    PageArgs {
        limit,
        cursor,
        json,
    }: PageArgs,
) -> Result<(), Failure> {
    let mut query = vec![("limit", limit.to_string())];
    if let Some(cursor) = cursor {
        query.push(("cursor", cursor));
    }
    let page = admin.get_json("/admin/audit", &query).await?;
    if json {
        println!("{page}");
        return Ok(());
    }
    let mut out = std::io::stdout().lock();
    let _ = writeln!(
        out,
        "{:>6}  {:<24}  {:<16}  {:<12}  {:<15}  {:<36}  OUTCOME",
        "ID", "TIME", "ACTOR", "ACTION", "CLIENT IP", "TARGET"
    );
    for record in page["records"].as_array().into_iter().flatten() {
        let text = |key: &str| shown(record[key].as_str().unwrap_or("-"));
        let _ = writeln!(
            out,
            "{:>6}  {:<24}  {:<16}  {:<12}  {:<15}  {:<36}  {}",
            record["id"].as_i64().unwrap_or(0),
            text("time"),
            text("actor"),
            text("action"),
            text("client_ip"),
            text("target"),
            text("outcome"),
        );
    }
    if let Some(next) = page["next_cursor"].as_str() {
        let _ = writeln!(out, "more: --cursor {next}");
    }
    Ok(())
}
