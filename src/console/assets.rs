//! The console's stylesheet and script, compiled into the binary (no CDN, no build step) and
//! served under `/ui/assets/` with names that carry a hash of their content, so they can be
//! cached for a year: a new binary with a changed file links a new name.

use std::sync::LazyLock;

use axum::extract::Path;
use axum::response::{IntoResponse, Response};
use http::{StatusCode, header};
use sha2::{Digest, Sha256};

const CSS: &str = include_str!("assets/console.css");
const JS: &str = include_str!("assets/console.js");

struct Asset {
    /// `console.<hash>.css`: the name pages link.
    name: String,
    content_type: &'static str,
    body: &'static str,
}

impl Asset {
    fn new(stem: &str, extension: &str, content_type: &'static str, body: &'static str) -> Asset {
        let hash = hex::encode(&Sha256::digest(body.as_bytes())[..6]);
        Asset {
            name: format!("{stem}.{hash}.{extension}"),
            content_type,
            body,
        }
    }
}

static ASSETS: LazyLock<[Asset; 2]> = LazyLock::new(|| {
    [
        Asset::new("console", "css", "text/css; charset=utf-8", CSS),
        Asset::new("console", "js", "text/javascript; charset=utf-8", JS),
    ]
});

/// The path pages link for the stylesheet.
pub fn css_path() -> String {
    format!("/ui/assets/{}", ASSETS[0].name)
}

/// The path pages link for the script.
pub fn js_path() -> String {
    format!("/ui/assets/{}", ASSETS[1].name)
}

/// `GET /ui/assets/{file}`: no session needed (nothing in them is private).
pub(super) async fn serve(Path(file): Path<String>) -> Response {
    match ASSETS.iter().find(|asset| asset.name == file) {
        Some(asset) => (
            [
                (header::CONTENT_TYPE, asset.content_type),
                (header::CACHE_CONTROL, "public, max-age=31536000, immutable"),
            ],
            asset.body,
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "no such asset").into_response(),
    }
}
