//! boxoffice-http: the HTTP API. Axum router, extractors that answer in the
//! API's envelope, wire types private to their route module, one `ApiError`,
//! and the OpenAPI document with a vendored Swagger UI (works offline).
//!
//! Layout:
//! - [`router`]: every route, the fallbacks and the middleware.
//! - `routes/`: one module per area (queue, catalog, holds, payments, account, admin, events, health).
//! - `extract`: `Client-Id`, `Queue-Token`, `Idempotency-Key`, `X-Admin-Key`, JSON bodies, paths.
//! - `error`: [`ApiError`] and the exhaustive mapping of use-case errors to codes.
//! - `envelope`: the `{"code","message","data"}` envelope.
//! - `openapi`: the OpenAPI document served at `/openapi.json` and `/docs`.
//! - `wire`: RFC 3339 instants.

mod envelope;
mod error;
mod extract;
mod openapi;
mod routes;
mod wire;

pub use error::ApiError;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use boxoffice_core::use_cases::App;
use std::sync::Arc;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::trace::TraceLayer;

/// Largest accepted request body.
const MAX_BODY_BYTES: usize = 64 * 1024;

/// What every handler can reach.
#[derive(Debug, Clone)]
pub struct ApiState {
    pub app: App,
    /// The `X-Admin-Key` that opens admin endpoints; `None` disables them.
    pub admin_key: Option<Arc<str>>,
}

/// The whole API.
pub fn router(state: ApiState) -> Router {
    let api = Router::new()
        .route("/queue/tokens", post(routes::queue::issue))
        .route("/queue/tokens/current", get(routes::queue::current))
        .route("/concerts", get(routes::catalog::concerts))
        .route("/concerts/popular", get(routes::catalog::popular))
        .route(
            "/concerts/{concertId}/schedules",
            get(routes::catalog::schedules),
        )
        .route("/schedules/{scheduleId}/seats", get(routes::catalog::seats))
        .route("/holds", post(routes::holds::hold))
        .route("/holds/{holdId}", delete(routes::holds::release))
        .route("/payments", post(routes::payments::pay))
        .route("/balance", get(routes::account::balance))
        .route("/balance/charge", post(routes::account::charge))
        .route("/reservations", get(routes::account::reservations))
        .route("/admin/concerts", post(routes::admin::create_concert))
        .route("/admin/invariants", get(routes::admin::invariants))
        .route("/admin/dead-letters", get(routes::events::dead_letters))
        .route(
            "/admin/dead-letters/{id}/replay",
            post(routes::events::replay),
        )
        .route("/admin/outbox", get(routes::events::outbox));
    Router::new()
        .nest("/api/v1", api)
        .route("/health/live", get(routes::health::live))
        .route("/health/ready", get(routes::health::ready))
        .route("/metrics", get(routes::events::metrics))
        .merge(openapi::docs())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(CatchPanicLayer::custom(panicked))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "NOT_FOUND", "no such endpoint")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "METHOD_NOT_ALLOWED",
        "this endpoint does not accept that method",
    )
}

fn panicked(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!("a request handler panicked");
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "INTERNAL_ERROR",
        "an unexpected error occurred",
    )
    .into_response()
}
