#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::Parser;

/// jemalloc instead of glibc's malloc: the request path allocates on one worker thread and
/// frees on another (and on the store's writer thread), where glibc's arenas spent about 15 %
/// of the gateway's CPU under load; jemalloc cut the CPU per request by about an eighth for
/// 2 MiB more idle memory (docs/benchmarks.md).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = hookwall::cli::Cli::parse();
    // Buffered log lines are written out when this drops, as main returns.
    let _logs = hookwall::telemetry::init_logging();
    // Flushes pending Sentry events when main returns.
    let _sentry = hookwall::telemetry::report::init();
    hookwall::cli::run(cli).await
}
