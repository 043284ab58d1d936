//! The ceiling of the HTTP stack on this machine, for `scripts/bench.sh`: an axum handler that
//! reads the whole body and answers 204, on the same tokio and hyper as hookwall. It is also
//! the benchmark's downstream handler (it takes hookwall's deliveries).
//!
//!     cargo run --release --example bench_bare_axum -- 127.0.0.1:18080

use axum::body::Bytes;
use axum::http::StatusCode;

async fn take(body: Bytes) -> StatusCode {
    std::hint::black_box(body);
    StatusCode::NO_CONTENT
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:18080".to_owned());
    let app = axum::Router::new().fallback(take);
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    axum::serve(listener, app).await
}
