//! The command line (SPEC section 6): `serve`, `check`, `send`, `sign`, `events`, `dlq`,
//! `destinations`, `refusals`, `token hash`, `audit`, `health`, and `receive` (a development
//! receiver for deliveries).

mod admin;
mod audit;
mod config_file;
mod destinations;
mod net;
mod receive;
mod refusals;
mod send;
mod shell;
mod token;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};

pub use config_file::ConfigFile;

use crate::app::{App, shutdown_signal};
use crate::config::Config;

#[derive(Debug, Parser)]
#[command(
    name = "hookwall",
    version,
    about = "Inbound webhook gateway: verify, store durably, deliver."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the gateway.
    Serve(ConfigFile),
    /// Validate the configuration (keys, secrets, CIDRs, schemas, URLs) without starting.
    Check(ConfigFile),
    /// Sign a request exactly as the source's provider would, with the configured secret, and
    /// POST it to the gateway (the local-development and smoke-test tool).
    Send(send::SendArgs),
    /// Print the signed request as a ready-to-run curl command instead of sending it.
    Sign(send::SendArgs),
    /// Stored events, through the admin API (token from HOOKWALL_ADMIN_TOKEN).
    Events {
        #[command(flatten)]
        admin: admin::AdminArgs,
        #[command(subcommand)]
        command: admin::EventsCommand,
    },
    /// The dead-letter queue, through the admin API (token from HOOKWALL_ADMIN_TOKEN).
    Dlq {
        #[command(flatten)]
        admin: admin::AdminArgs,
        #[command(subcommand)]
        command: admin::DlqCommand,
    },
    /// Destinations' state (closed, open, half_open, paused), pause and resume, through the
    /// admin API (token from HOOKWALL_ADMIN_TOKEN).
    Destinations {
        #[command(flatten)]
        admin: admin::AdminArgs,
        #[command(subcommand)]
        command: destinations::DestinationsCommand,
    },
    /// The refusal quarantine: list and show kept refusals, retest one against today's checks
    /// and admit it, through the admin API (token from HOOKWALL_ADMIN_TOKEN).
    Refusals {
        #[command(flatten)]
        admin: admin::AdminArgs,
        #[command(subcommand)]
        command: refusals::RefusalsCommand,
    },
    /// Admin tokens: `hookwall token hash` prints the SHA-256 for `token_sha256`.
    Token {
        #[command(subcommand)]
        command: token::TokenCommand,
    },
    /// The audit trail: `verify` checks its hash chain in the store, `list` shows it.
    Audit {
        #[command(subcommand)]
        command: audit::AuditCommand,
    },
    /// A development receiver for hookwall's deliveries: verifies their Standard Webhooks
    /// signature and prints one line per delivery (the quick start's destination).
    Receive(receive::ReceiveArgs),
    /// Exit 0 when the gateway's /readyz answers 200 (for container health checks).
    Health {
        /// Base URL of the public listener.
        #[arg(long, default_value = "http://127.0.0.1:8080")]
        url: String,
    },
}

pub async fn run(cli: Cli) -> ExitCode {
    match cli.command {
        Command::Serve(ConfigFile { config }) => serve(config).await,
        Command::Check(ConfigFile { config }) => check(config),
        Command::Send(args) => send::send(&args).await,
        Command::Sign(args) => send::sign(&args),
        Command::Events { admin, command } => admin::events(&admin, command).await,
        Command::Dlq { admin, command } => admin::dlq(&admin, command).await,
        Command::Destinations { admin, command } => destinations::run(&admin, command).await,
        Command::Refusals { admin, command } => refusals::run(&admin, command).await,
        Command::Token { command } => token::run(command),
        Command::Audit { command } => audit::run(command).await,
        Command::Receive(args) => receive::receive(&args).await,
        Command::Health { url } => health(&url).await,
    }
}

fn load(path: &std::path::Path) -> Result<Config, ExitCode> {
    Config::load(path).map_err(|errors| {
        eprintln!(
            "hookwall: invalid configuration in {}:\n{errors}",
            path.display()
        );
        ExitCode::FAILURE
    })
}

async fn serve(path: PathBuf) -> ExitCode {
    let config = match load(&path) {
        Ok(config) => config,
        Err(code) => return code,
    };
    // Before the routes are built (their step checkpoints exist only with traces on); exports
    // what is queued when serve returns.
    let _traces = crate::telemetry::traces::init();
    for warning in &config.warnings {
        tracing::warn!("CONFIG WARNING: {warning}");
    }
    let app = match App::build(config).await {
        Ok(app) => app,
        Err(err) => {
            eprintln!("hookwall: cannot start: {err:#}");
            return ExitCode::FAILURE;
        }
    };
    match app.run(shutdown_signal()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("hookwall: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn check(path: PathBuf) -> ExitCode {
    let config = match load(&path) {
        Ok(config) => config,
        Err(code) => return code,
    };
    let warnings = config.warnings.clone();
    let count = config.sources.len();
    if let Err(errors) = crate::live::Compiled::new(config) {
        eprintln!("hookwall: invalid configuration in {}:", path.display());
        for error in errors {
            eprintln!("  {error}");
        }
        return ExitCode::FAILURE;
    }
    for warning in &warnings {
        eprintln!("warning: {warning}");
    }
    let noun = if count == 1 { "source" } else { "sources" };
    println!("{}: OK ({count} {noun})", path.display());
    ExitCode::SUCCESS
}

async fn health(url: &str) -> ExitCode {
    let client = match net::client("health", Duration::from_secs(3)) {
        Ok(client) => client,
        Err(code) => return code,
    };
    let target = format!("{}/readyz", url.trim_end_matches('/'));
    match client.get(&target).send().await {
        Ok(response) if response.status().is_success() => ExitCode::SUCCESS,
        Ok(response) => {
            eprintln!("hookwall health: {target} answered {}", response.status());
            ExitCode::FAILURE
        }
        Err(err) => {
            eprintln!("hookwall health: {}", net::describe(&err, &target));
            ExitCode::FAILURE
        }
    }
}
