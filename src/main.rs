#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = hookwall::cli::Cli::parse();
    hookwall::telemetry::init_logging();
    // Flushes pending Sentry events when main returns.
    let _sentry = hookwall::telemetry::report::init();
    hookwall::cli::run(cli).await
}
