//! Limits on a request's head, answered in the envelope.
//!
//! hyper refuses a head it cannot parse with a bare status and no body:
//! 414 past 65,534 bytes of URI, 431 past its header count or its read
//! buffer (about 400 KiB), 400 for a request line that is not HTTP. Our
//! limits sit well below its own, so that a long URI or a bloated head is
//! refused here, with a stable code and a body, before any handler runs.
//! Only a head that is not HTTP at all still gets hyper's bare 400.

use crate::ErrorCode;
use crate::error::ApiError;
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// The longest path and query answered (nginx's default buffer for a request line).
pub(crate) const MAX_URI_BYTES: usize = 8 * 1024;
/// The most header fields a request may carry.
pub(crate) const MAX_HEADERS: usize = 100;
/// The most bytes of header names and values a request may carry.
pub(crate) const MAX_HEADER_BYTES: usize = 32 * 1024;
/// What hyper is told to accept, so that our limits, not its bare
/// answer, refuse a request over `MAX_HEADERS`.
pub const PARSER_MAX_HEADERS: usize = 2 * MAX_HEADERS;

/// Refuses a URI over [`MAX_URI_BYTES`] (414 `URI_TOO_LONG`) and a head
/// over [`MAX_HEADERS`] fields or [`MAX_HEADER_BYTES`] bytes (431
/// `HEADERS_TOO_LARGE`).
pub(crate) async fn refuse_oversized(request: Request, next: Next) -> Response {
    let uri = request
        .uri()
        .path_and_query()
        .map_or(0, |p| p.as_str().len());
    if uri > MAX_URI_BYTES {
        return ApiError::new(
            ErrorCode::URI_TOO_LONG,
            format!("the path and query take {uri} bytes; at most {MAX_URI_BYTES} are read"),
        )
        .into_response();
    }
    let headers = request.headers();
    let bytes: usize = headers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len())
        .sum();
    if headers.len() > MAX_HEADERS || bytes > MAX_HEADER_BYTES {
        return ApiError::new(
            ErrorCode::HEADERS_TOO_LARGE,
            format!(
                "{} header fields of {bytes} bytes; at most {MAX_HEADERS} fields of \
                 {MAX_HEADER_BYTES} bytes in all are read",
                headers.len()
            ),
        )
        .into_response();
    }
    next.run(request).await
}
