//! The browser pages: the fan's pages at `/` and the operator's console at
//! `/admin`, with their scripts, styles and the vendored chart library under
//! `/assets/`. The files live in `crates/http/web/` and are embedded in the
//! binary at build time (a debug build reads them from that folder at run
//! time, so a page edit shows on reload). The pages call the public API
//! like any other client; nothing here reads the service's state.
//!
//! Every answer carries a strict Content-Security-Policy: scripts, styles
//! and connections from this origin only, no inline script or style, no
//! framing. An `ETag` (the first 128 bits of the file's SHA-256) lets browsers revalidate for a
//! `304` instead of downloading the file again.

use crate::ErrorCode;
use axum::extract::Path;
use axum::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, ETAG, IF_NONE_MATCH, REFERRER_POLICY,
    X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use rust_embed::{EmbeddedFile, RustEmbed};

use crate::ApiError;

#[derive(RustEmbed)]
#[folder = "web/"]
#[exclude = "*.md"]
struct Web;

/// Same origin for everything; `data:` images for the empty favicon and
/// the chart library's canvases.
const POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
    img-src 'self' data:; connect-src 'self'; font-src 'self'; object-src 'none'; \
    frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/// `GET /`: the fan's pages.
pub async fn fan(headers: HeaderMap) -> Response {
    serve("index.html", &headers)
}

/// `GET /admin`: the operator's console.
pub async fn console(headers: HeaderMap) -> Response {
    serve("admin.html", &headers)
}

/// `GET /assets/{*path}`: scripts, styles and vendored libraries.
pub async fn asset(Path(path): Path<String>, headers: HeaderMap) -> Response {
    // The embedded folder is the only thing looked up, so `..` cannot
    // leave it; it is refused anyway to keep the answer a plain 404.
    if path.split('/').any(|part| part.is_empty() || part == "..") {
        return not_found();
    }
    serve(&format!("assets/{path}"), &headers)
}

fn serve(path: &str, request: &HeaderMap) -> Response {
    let Some(file) = Web::get(path) else {
        return not_found();
    };
    let etag = etag_of(&file);
    let mut response = if fresh(request, &etag) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let mut response = file.data.into_owned().into_response();
        if let Ok(kind) = HeaderValue::from_str(content_type(path)) {
            response.headers_mut().insert(CONTENT_TYPE, kind);
        }
        response
    };
    let headers = response.headers_mut();
    if let Ok(etag) = HeaderValue::from_str(&etag) {
        headers.insert(ETAG, etag);
    }
    // Revalidate every time: a new build may change any file, and the
    // pages hold no content-hashed names to cache for ever.
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(CONTENT_SECURITY_POLICY, HeaderValue::from_static(POLICY));
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    response
}

fn etag_of(file: &EmbeddedFile) -> String {
    let hash = file.metadata.sha256_hash();
    let hex: String = hash[..16].iter().map(|b| format!("{b:02x}")).collect();
    format!("\"{hex}\"")
}

/// Whether the browser's copy is the current one (`If-None-Match`).
fn fresh(request: &HeaderMap, etag: &str) -> bool {
    request
        .get_all(IF_NONE_MATCH)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(|tag| tag.trim().trim_start_matches("W/"))
        .any(|tag| tag == etag || tag == "*")
}

fn content_type(path: &str) -> &'static str {
    let name = path.rsplit('/').next().unwrap_or(path);
    match name.rsplit_once('.').map(|(_, ext)| ext) {
        Some("html") => "text/html; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("json") => "application/json",
        Some("txt") | None => "text/plain; charset=utf-8",
        Some(_) => "application/octet-stream",
    }
}

fn not_found() -> Response {
    ApiError::new(ErrorCode::NOT_FOUND, "no such page").into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tag_matches_itself_weak_or_listed_and_the_wildcard() {
        let mut headers = HeaderMap::new();
        headers.insert(IF_NONE_MATCH, HeaderValue::from_static("\"a\", W/\"b\""));
        assert!(fresh(&headers, "\"b\""));
        assert!(fresh(&headers, "\"a\""));
        assert!(!fresh(&headers, "\"c\""));
        headers.insert(IF_NONE_MATCH, HeaderValue::from_static("*"));
        assert!(fresh(&headers, "\"c\""));
        assert!(!fresh(&HeaderMap::new(), "\"a\""));
    }

    #[test]
    fn scripts_and_styles_are_served_with_their_types() {
        assert_eq!(
            content_type("assets/app.js"),
            "text/javascript; charset=utf-8"
        );
        assert_eq!(content_type("assets/style.css"), "text/css; charset=utf-8");
        assert_eq!(content_type("index.html"), "text/html; charset=utf-8");
        assert_eq!(
            content_type("assets/vendor/uplot/LICENSE"),
            "text/plain; charset=utf-8"
        );
    }
}
