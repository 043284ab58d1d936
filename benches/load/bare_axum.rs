//! The ceiling of the HTTP stack on this machine, for `scripts/bench.sh`: an axum handler that
//! reads the whole body and answers 204, on the same tokio and hyper as hookwall. It is also
//! the benchmark's downstream handler: on `/deliver` it answers 200 with a small JSON body, as
//! an internal handler typically does; on `/v1/traces` it is the OTLP/HTTP receiver of the
//! traced case, answering 200 with an empty (valid) export response.
//!
//!     cargo run --release --example bench_bare_axum -- 127.0.0.1:18080

use axum::body::Bytes;
use axum::http::StatusCode;

async fn take(body: Bytes) -> StatusCode {
    std::hint::black_box(body);
    StatusCode::NO_CONTENT
}

async fn deliver(body: Bytes) -> (StatusCode, &'static str) {
    std::hint::black_box(body);
    (StatusCode::OK, "{\"ok\":true}")
}

async fn traces(body: Bytes) -> (StatusCode, [(&'static str, &'static str); 1]) {
    std::hint::black_box(body);
    (StatusCode::OK, [("content-type", "application/x-protobuf")])
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:18080".to_owned());
    let app = axum::Router::new()
        .route("/deliver", axum::routing::post(deliver))
        .route("/v1/traces", axum::routing::post(traces))
        .fallback(take);
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    axum::serve(listener, app).await
}
