//! boxoffice-http: the HTTP API. Axum router, extractors that answer in the
//! API's envelope, wire types private to their route module, one `ApiError`,
//! and the OpenAPI document with a vendored Swagger UI (works offline).
//!
//! Layout:
//! - [`router`]: every route, the fallbacks and the middleware.
//! - `routes/`: one module per area (queue, catalog, holds, payments,
//!   account, dev sign-in, admin, events, health).
//! - [`identity`]: who is calling: the fan (bearer token or `Client-Id`),
//!   the queue credential (`Queue-Token`), the admin.
//! - [`limits`]: rate limits per IP and per fan for each route class, and
//!   the failure budget of admin and sign-in attempts.
//! - `extract`: `Idempotency-Key`, JSON bodies, paths.
//! - `error`: [`ApiError`] and the exhaustive mapping of use-case errors to codes.
//! - `envelope`: the `{"code","message","data"}` envelope.
//! - `openapi`: the OpenAPI document served at `/openapi.json` and `/docs`.
//! - `wire`: RFC 3339 instants.
//! - `pages`: the fan's pages and the operator's console, embedded.
//! - `metrics`: Prometheus metrics: requests by route, and what a scrape reads.
//! - `request_id`: `x-request-id`, kept or made, echoed, logged and put in
//!   error bodies.

mod bodies;
mod envelope;
mod error;
mod error_code;
mod extract;
pub mod head;
pub mod identity;
pub mod limits;
mod metrics;
mod openapi;
mod pages;
mod request_id;
mod routes;
pub mod stream;
mod wire;

pub use bodies::SeatBodies;
pub use error::ApiError;
pub use error_code::ErrorCode;
pub use identity::{Auth, AuthMode};
pub use limits::{Limits, RouteClass};
pub use stream::Streams;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::extract::MatchedPath;
use axum::http::{HeaderName, HeaderValue, Method};
use axum::middleware::{from_fn, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, patch, post, put};
use boxoffice_core::use_cases::App;
use std::sync::Arc;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

/// Largest accepted request body.
const MAX_BODY_BYTES: usize = 64 * 1024;

/// What every handler can reach.
#[derive(Debug, Clone)]
pub struct ApiState {
    pub app: App,
    pub auth: Arc<Auth>,
    pub limits: Arc<Limits>,
    /// Origins whose pages may call the API (CORS); empty: none.
    pub cors_origins: Arc<[HeaderValue]>,
    /// The open token streams of this instance.
    pub streams: Arc<Streams>,
    /// Each date's seat-list body, made once per seat map.
    pub seat_bodies: Arc<SeatBodies>,
}

/// What the server does with each request span, when it exports spans
/// (OTLP, decision 0022).
#[derive(Debug, Clone, Copy)]
pub struct RequestSpanHook {
    /// Makes the span a child of the request's `traceparent`.
    pub adopt: fn(&tracing::Span, &boxoffice_trace::TraceParent),
    /// The span's id as exported, if it is exported: the `traceparent`
    /// passed on to the request's events then names it.
    pub span_id: fn(&tracing::Span) -> Option<[u8; 8]>,
}

static REQUEST_SPAN_HOOK: std::sync::OnceLock<RequestSpanHook> = std::sync::OnceLock::new();

/// Sets, once per process, what is done with each request span (see
/// [`RequestSpanHook`]). False when one was set already.
pub fn set_request_span_hook(hook: RequestSpanHook) -> bool {
    REQUEST_SPAN_HOOK.set(hook).is_ok()
}

/// The id of the request span being served, when spans are exported.
fn exported_span_id() -> Option<[u8; 8]> {
    REQUEST_SPAN_HOOK
        .get()
        .and_then(|hook| (hook.span_id)(&tracing::Span::current()))
}

/// Every line logged while a request is served carries its method, its
/// route template (never the query, which may hold credentials), its
/// request id and, once known, the fan's user id.
fn request_span(request: &axum::http::Request<axum::body::Body>) -> tracing::Span {
    let span = plain_request_span(request);
    if let (Some(hook), Some(parent)) = (
        REQUEST_SPAN_HOOK.get(),
        request_id::traceparent_of(request.headers()),
    ) {
        (hook.adopt)(&span, &parent);
    }
    span
}

fn plain_request_span(request: &axum::http::Request<axum::body::Body>) -> tracing::Span {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str);
    tracing::info_span!(
        "request",
        method = %request.method(),
        route,
        request_id = request_id::of(request.headers()).unwrap_or_default(),
        trace_id = request_id::traceparent_of(request.headers())
            .map(|t| t.trace_id())
            .unwrap_or_default(),
        user_id = tracing::field::Empty,
    )
}

/// The access log: one line per answered request, in the request's span.
fn access_line(response: &Response, latency: std::time::Duration, _span: &tracing::Span) {
    tracing::info!(
        target: "boxoffice::access",
        status = response.status().as_u16(),
        // To the microsecond: more digits would be noise.
        latency_ms = (latency.as_secs_f64() * 1e6).round() / 1e3,
        "answered"
    );
}

/// Moves the token stream's `?token=` and `?access_token=` into the
/// `Queue-Token` and `Authorization` headers (a browser's `EventSource`
/// cannot set headers) unless those are set, and drops the query so that
/// nothing later sees the credentials in the URI.
async fn stream_credentials(
    mut request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    if request.uri().query().is_some() {
        let params: Vec<(String, String)> =
            axum::extract::Query::<Vec<(String, String)>>::try_from_uri(request.uri())
                .map(|q| q.0)
                .unwrap_or_default();
        let headers = request.headers_mut();
        for (name, value) in params {
            let (header, value) = match name.as_str() {
                "token" => ("queue-token", value),
                "access_token" => ("authorization", format!("Bearer {value}")),
                _ => continue,
            };
            if !headers.contains_key(header)
                && let Ok(value) = HeaderValue::from_str(&value)
            {
                headers.insert(header, value);
            }
        }
        if let Ok(path_only) = request.uri().path().parse() {
            *request.uri_mut() = path_only;
        }
    }
    next.run(request).await
}

/// A route group of one class: tagged, and limited per IP, before any handler runs.
fn class(state: &ApiState, class: RouteClass, routes: Router<ApiState>) -> Router<ApiState> {
    routes.route_layer(from_fn_with_state(
        (state.limits.clone(), class),
        limits::limit_by_ip,
    ))
}

/// The fans' API, the public catalog and the probes.
fn public_routes(state: &ApiState) -> Router<ApiState> {
    let api = Router::new()
        .merge(class(
            state,
            RouteClass::TokenIssue,
            Router::new()
                .route("/queue/tokens", post(routes::queue::issue))
                .route("/queue/challenges", post(routes::queue::challenge)),
        ))
        .merge(class(
            state,
            RouteClass::Poll,
            Router::new()
                .route(
                    "/queue/tokens/current",
                    get(routes::queue::current).delete(routes::queue::leave),
                )
                .route(
                    "/queue/tokens/current/events",
                    get(routes::queue::events)
                        .route_layer(axum::middleware::from_fn(stream_credentials)),
                ),
        ))
        .merge(class(
            state,
            RouteClass::Booking,
            Router::new()
                .route(
                    "/concerts/{concertId}/schedules",
                    get(routes::catalog::schedules),
                )
                .route("/schedules/{scheduleId}/seats", get(routes::catalog::seats))
                .route(
                    "/holds",
                    post(routes::holds::hold).get(routes::holds::list_holds),
                )
                .route("/holds/{holdId}", delete(routes::holds::release))
                .route("/holds/{holdId}/extend", post(routes::holds::extend_hold))
                .route(
                    "/schedules/{scheduleId}/waitlist",
                    post(routes::waitlist::join_waitlist).delete(routes::waitlist::leave_waitlist),
                )
                .route("/waitlist", get(routes::waitlist::list_waitlist)),
        ))
        .merge(class(
            state,
            RouteClass::Money,
            Router::new()
                .route("/payments", post(routes::payments::pay))
                .route("/balance", get(routes::account::balance))
                .route("/balance/charge", post(routes::account::charge))
                .route("/reservations", get(routes::account::reservations))
                .route(
                    "/reservations/{reservationId}/cancel",
                    post(routes::account::cancel_reservation),
                ),
        ))
        .merge(class(
            state,
            RouteClass::SignIn,
            Router::new().route("/dev/sessions", post(routes::dev::sign_in)),
        ))
        .route("/concerts", get(routes::catalog::concerts))
        .route("/concerts/popular", get(routes::catalog::popular))
        .route("/concerts/{concertId}/room", get(routes::room::public))
        .route("/concerts/{concertId}/lottery", get(routes::room::lottery));
    Router::new()
        .nest("/api/v1", api)
        .route("/", get(pages::fan))
        .route("/health/live", get(routes::health::live))
        .route("/health/ready", get(routes::health::ready))
        .merge(openapi::docs())
}

/// The operator's API and `/metrics`.
fn admin_routes(state: &ApiState) -> Router<ApiState> {
    let api = class(
        state,
        RouteClass::Admin,
        Router::new()
            .route(
                "/admin/concerts",
                post(routes::admin::create_concert).get(routes::admin::concerts),
            )
            .route(
                "/admin/concerts/{concertId}",
                patch(routes::admin::update_concert),
            )
            .route(
                "/admin/concerts/{concertId}/cancel",
                post(routes::admin::call_off_concert),
            )
            .route(
                "/admin/concerts/{concertId}/schedules/{scheduleId}/cancel",
                post(routes::admin::call_off_date),
            )
            .route(
                "/admin/concerts/{concertId}/entry-rules",
                put(routes::admin::set_entry_rules).get(routes::admin::entry_rules),
            )
            .route(
                "/admin/concerts/{concertId}/cancellation-policy",
                put(routes::admin::set_cancellation_policy)
                    .get(routes::admin::show_cancellation_policy)
                    .delete(routes::admin::remove_cancellation_policy),
            )
            .route(
                "/admin/concerts/{concertId}/admissions/{userId}",
                delete(routes::admin::revoke_admission),
            )
            .route(
                "/admin/concerts/{concertId}/room",
                get(routes::room::show).patch(routes::room::change),
            )
            .route(
                "/admin/concerts/{concertId}/room/audit",
                get(routes::room::audit),
            )
            .route(
                "/admin/concerts/{concertId}/samples",
                get(routes::room::samples),
            )
            .route("/admin/invariants", get(routes::admin::invariants))
            .route(
                "/admin/ledger/reconcile",
                get(routes::admin::reconcile_ledger),
            )
            .route("/admin/dead-letters", get(routes::events::dead_letters))
            .route(
                "/admin/dead-letters/replay",
                post(routes::events::replay_matching),
            )
            .route(
                "/admin/dead-letters/{id}/replay",
                post(routes::events::replay),
            )
            .route("/admin/outbox", get(routes::events::outbox)),
    );
    Router::new()
        .nest("/api/v1", api)
        .route("/admin", get(pages::console))
        .route("/metrics", get(routes::events::metrics))
}

fn finish(routes: Router<ApiState>, state: ApiState) -> Router {
    // Installs the recorder before the first request is counted.
    metrics::handle();
    let cors = cors(&state.cors_origins);
    let router = routes
        // Both listeners serve the pages' scripts and styles.
        .route("/assets/{*path}", get(pages::asset))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(CatchPanicLayer::custom(panicked))
        .layer(from_fn(head::refuse_oversized))
        .layer(from_fn(metrics::track))
        .layer(from_fn(request_id::scope))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(request_span)
                .on_response(access_line),
        )
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        .layer(from_fn(request_id::refuse_unusable))
        .layer(from_fn(request_id::trace_parent));
    match cors {
        Some(cors) => router.layer(cors).with_state(state),
        None => router.with_state(state),
    }
}

/// Lets pages from `origins` call the API from a browser.
fn cors(origins: &[HeaderValue]) -> Option<CorsLayer> {
    if origins.is_empty() {
        return None;
    }
    Some(
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(origins.iter().cloned()))
            .allow_methods([Method::GET, Method::POST, Method::PUT, Method::DELETE])
            .allow_headers([
                HeaderName::from_static("authorization"),
                HeaderName::from_static("content-type"),
                HeaderName::from_static("queue-token"),
                HeaderName::from_static("idempotency-key"),
                // An EventSource reconnecting to its token stream sends it.
                HeaderName::from_static("last-event-id"),
                HeaderName::from_static("x-request-id"),
                HeaderName::from_static("traceparent"),
            ])
            .expose_headers([
                HeaderName::from_static("retry-after"),
                HeaderName::from_static("www-authenticate"),
                HeaderName::from_static("x-request-id"),
            ])
            .max_age(std::time::Duration::from_secs(600)),
    )
}

/// The whole API on one listener.
pub fn router(state: ApiState) -> Router {
    let routes = public_routes(&state).merge(admin_routes(&state));
    finish(routes, state)
}

/// The fans' API only, for the public listener when the admin API has a
/// listener of its own (`server.admin_listen`).
pub fn public_router(state: ApiState) -> Router {
    let routes = public_routes(&state);
    finish(routes, state)
}

/// The admin API and `/metrics` only, for `server.admin_listen`.
pub fn admin_router(state: ApiState) -> Router {
    let routes = admin_routes(&state);
    finish(routes, state)
}

async fn not_found() -> ApiError {
    ApiError::new(ErrorCode::NOT_FOUND, "no such endpoint")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        ErrorCode::METHOD_NOT_ALLOWED,
        "this endpoint does not accept that method",
    )
}

fn panicked(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!("a request handler panicked");
    ApiError::new(ErrorCode::INTERNAL_ERROR, "an unexpected error occurred").into_response()
}
