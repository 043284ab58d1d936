//! `hookwall destinations list|pause|resume`: the destinations' state and the manual pause,
//! through the admin API (`GET /admin/destinations`, `POST /admin/destinations/{name}/pause`
//! and `/resume`), like `hookwall events`.

use std::io::Write;
use std::process::ExitCode;

use clap::Subcommand;

use super::admin::{Admin, AdminArgs, Failure, finish};

#[derive(Debug, Subcommand)]
pub enum DestinationsCommand {
    /// Every destination with its state, queue and circuit.
    List {
        /// Print the API's JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Stop delivering to a destination on every instance; its events keep queueing.
    Pause { name: String },
    /// Deliver to a paused destination again (its circuit closed).
    Resume { name: String },
}

pub async fn run(args: &AdminArgs, command: DestinationsCommand) -> ExitCode {
    let result = async {
        let admin = Admin::new(args)?;
        match command {
            DestinationsCommand::List { json } => list(&admin, json).await,
            DestinationsCommand::Pause { name } => act(&admin, &name, "pause", "paused").await,
            DestinationsCommand::Resume { name } => act(&admin, &name, "resume", "resumed").await,
        }
    }
    .await;
    finish(result, "destinations")
}

async fn list(admin: &Admin, json: bool) -> Result<(), Failure> {
    let destinations = admin.get_json("/admin/destinations", &[]).await?;
    if json {
        println!("{destinations}");
        return Ok(());
    }
    let mut out = std::io::stdout().lock();
    let _ = writeln!(
        out,
        "{:<24}  {:<16}  {:<5}  {:<9}  {:>7}  {:>8}  NEXT PROBE",
        "NAME", "SOURCE", "TYPE", "STATE", "QUEUED", "FAILURES"
    );
    for destination in destinations.as_array().into_iter().flatten() {
        let text = |key: &str| destination[key].as_str().unwrap_or("-").to_owned();
        let _ = writeln!(
            out,
            "{:<24}  {:<16}  {:<5}  {:<9}  {:>7}  {:>8}  {}",
            text("name"),
            text("source"),
            text("type"),
            text("state"),
            destination["queue_depth"].as_i64().unwrap_or(0),
            destination["consecutive_failures"].as_i64().unwrap_or(0),
            destination["next_probe_at"].as_str().unwrap_or(""),
        );
    }
    Ok(())
}

async fn act(admin: &Admin, name: &str, verb: &str, done: &str) -> Result<(), Failure> {
    // A name is one path segment: anything else in it is escaped, never a path of its own.
    let mut url = admin.url("/admin/destinations", &[])?;
    url.path_segments_mut()
        .map_err(|()| "the admin URL cannot take a path".to_owned())?
        .extend([name, verb]);
    admin.call(reqwest::Method::POST, url).await?;
    println!("{name}: {done}");
    Ok(())
}
