//! The stylesheet and the script, compiled into the binary: nothing is
//! fetched from anywhere at run time.

use axum::http::header;
use axum::response::IntoResponse;

const STYLESHEET: &str = include_str!("../assets/console.css");
const SCRIPT: &str = include_str!("../assets/console.js");

pub const STYLESHEET_PATH: &str = "/assets/console.css";
pub const SCRIPT_PATH: &str = "/assets/console.js";

/// Kept a few minutes: an upgraded console's assets reach browsers soon.
const CACHE: &str = "public, max-age=300";

pub async fn stylesheet() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, CACHE),
        ],
        STYLESHEET,
    )
}

pub async fn script() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, CACHE),
        ],
        SCRIPT,
    )
}
