#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::Parser;

/// mimalloc: allocation-heavy request handling (headers, JSON, futures) spends markedly less in
/// it than in glibc malloc, measured in docs/benchmarks.md.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = hookwall::cli::Cli::parse();
    hookwall::telemetry::init_logging();
    // Flushes pending Sentry events when main returns.
    let _sentry = hookwall::telemetry::report::init();
    hookwall::cli::run(cli).await
}
