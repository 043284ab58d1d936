#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = hookwall::cli::Cli::parse();
    hookwall::telemetry::init_logging();
    hookwall::cli::run(cli).await
}
