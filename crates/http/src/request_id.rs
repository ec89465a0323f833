//! `x-request-id`: every request has one. A usable id the client or a proxy
//! sent is kept (so one id follows a request through the load balancer and
//! every instance); otherwise a UUID is made. It is echoed in the response,
//! carried by every log line of the request, and put in error bodies as
//! `requestId`, so a fan's screenshot of an error leads to its log lines.

use axum::extract::Request;
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::Response;
use boxoffice_trace::TraceParent;
use std::sync::Arc;

pub(crate) const HEADER: &str = "x-request-id";

/// The longest id kept from a request.
const MAX_LEN: usize = 128;

tokio::task_local! {
    static CURRENT: Arc<str>;
}

/// The request's id, as set in its headers.
pub(crate) fn of(headers: &HeaderMap) -> Option<&str> {
    headers.get(HEADER).and_then(|v| v.to_str().ok())
}

/// The id of the request being answered, for its error body.
pub(crate) fn current() -> Option<String> {
    CURRENT.try_with(|id| id.to_string()).ok()
}

/// Drops an id that is not one visible-ASCII word of at most 128
/// characters, or that came more than once, so that a fresh one is made:
/// an id goes into every log line, and must not be able to forge or bloat
/// one.
pub(crate) async fn refuse_unusable(mut request: Request, next: Next) -> Response {
    let headers = request.headers();
    let values = headers.get_all(HEADER).iter().count();
    let usable = values == 1 && of(headers).is_some_and(usable);
    if values > 0 && !usable {
        request.headers_mut().remove(HEADER);
    }
    next.run(request).await
}

/// Runs the rest of the request with its id at hand for error bodies,
/// and its trace context for the events it writes. When request spans
/// are exported, that context names the request's own span (it runs
/// inside it), so the events' consumers hang under it.
pub(crate) async fn scope(request: Request, next: Next) -> Response {
    let id: Arc<str> = Arc::from(of(request.headers()).unwrap_or_default());
    let received = traceparent_of(request.headers()).unwrap_or_else(TraceParent::fresh);
    let context = boxoffice_trace::Context {
        traceparent: match crate::exported_span_id() {
            Some(span_id) => received.with_parent(span_id),
            None => received,
        },
        request_id: id.to_string(),
    };
    CURRENT
        .scope(id, boxoffice_trace::scope(context, next.run(request)))
        .await
}

pub(crate) const TRACEPARENT: &str = "traceparent";

/// The request's W3C `traceparent`, once [`trace_parent`] has made sure it has one.
pub(crate) fn traceparent_of(headers: &HeaderMap) -> Option<TraceParent> {
    headers
        .get(TRACEPARENT)
        .and_then(|v| v.to_str().ok())
        .and_then(TraceParent::parse)
}

/// Keeps one valid `traceparent` the caller sent, and otherwise starts a
/// trace for the request, so that its log lines and the events it writes
/// carry one trace id.
pub(crate) async fn trace_parent(mut request: Request, next: Next) -> Response {
    let headers = request.headers();
    let sent = headers.get_all(TRACEPARENT).iter().count();
    if sent != 1 || traceparent_of(headers).is_none() {
        let fresh = TraceParent::fresh().to_string();
        if let Ok(value) = axum::http::HeaderValue::from_str(&fresh) {
            request.headers_mut().insert(TRACEPARENT, value);
        }
    }
    next.run(request).await
}

fn usable(id: &str) -> bool {
    !id.is_empty() && id.len() <= MAX_LEN && id.bytes().all(|b| b.is_ascii_graphic())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_is_kept_when_it_is_one_short_visible_word() {
        assert!(usable("journey-1"));
        assert!(usable(
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        ));
        assert!(usable(&"a".repeat(MAX_LEN)));
        assert!(!usable(&"a".repeat(MAX_LEN + 1)));
        assert!(!usable(""));
        assert!(!usable("two words"));
        assert!(!usable("line\nbreak"));
        assert!(!usable("caf\u{e9}"));
    }
}
