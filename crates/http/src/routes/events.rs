//! Event delivery for operators: the dead-letter list and replays (behind
//! `X-Admin-Key`), the outbox backlog, and `/metrics` for Prometheus.

use crate::ApiState;
use crate::envelope::{Envelope, ErrorBody, ok};
use crate::error::ApiError;
use crate::extract::{PathParam, path_id};
use crate::routes::admin::Admin;
use crate::wire::instant;
use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use boxoffice_core::domain::delivery::DeadLetter;
use serde::Serialize;
use utoipa::ToSchema;

/// The most dead letters one listing returns (newest first).
const DEAD_LETTER_PAGE: u32 = 1_000;

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct DeadLetterResponse {
    id: i64,
    /// The consumer group that gave up.
    consumer: String,
    event_id: String,
    event_type: String,
    schema_version: u16,
    aggregate_key: String,
    /// The event's JSON payload, as published.
    payload: serde_json::Value,
    attempts: u32,
    last_error: String,
    failed_at: String,
    /// Set once a replay delivered it.
    replayed_at: Option<String>,
}

impl From<DeadLetter> for DeadLetterResponse {
    fn from(d: DeadLetter) -> Self {
        Self {
            id: d.id,
            consumer: d.consumer,
            event_id: d.event.id.to_string(),
            event_type: d.event.event_type,
            schema_version: d.event.schema_version,
            aggregate_key: d.event.aggregate_key,
            payload: serde_json::from_str(&d.event.payload).unwrap_or(serde_json::Value::Null),
            attempts: d.attempts,
            last_error: d.last_error,
            failed_at: instant(d.failed_at),
            replayed_at: d.replayed_at.map(instant),
        }
    }
}

/// Events consumers gave up on, newest first (at most 1,000).
#[utoipa::path(get, path = "/api/v1/admin/dead-letters", tag = "admin",
    params(("X-Admin-Key" = String, Header)),
    responses((status = 200, body = Envelope<Vec<DeadLetterResponse>>),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub(crate) async fn dead_letters(
    State(state): State<ApiState>,
    _admin: Admin,
) -> Result<Response, ApiError> {
    let letters = state.app.list_dead_letters(DEAD_LETTER_PAGE).await?;
    let body: Vec<DeadLetterResponse> = letters.into_iter().map(Into::into).collect();
    Ok(ok(body))
}

/// Deliver a dead letter again, now. 502 `DELIVERY_FAILED` when the
/// consumer fails again (the letter stays for a later replay).
#[utoipa::path(post, path = "/api/v1/admin/dead-letters/{id}/replay", tag = "admin",
    params(("id" = i64, Path), ("X-Admin-Key" = String, Header)),
    responses((status = 200, body = Envelope<DeadLetterResponse>),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 502, body = ErrorBody)))]
pub(crate) async fn replay(
    State(state): State<ApiState>,
    _admin: Admin,
    PathParam(id): PathParam<String>,
) -> Result<Response, ApiError> {
    let id = path_id(id.parse::<i64>())?;
    let letter = state.app.replay_dead_letter(id).await?;
    Ok(ok(DeadLetterResponse::from(letter)))
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct OutboxResponse {
    /// Events committed but not yet published.
    unpublished: u64,
    /// How long the oldest of them has waited, in milliseconds (the outbox lag).
    lag_ms: u64,
}

/// The relay's backlog.
#[utoipa::path(get, path = "/api/v1/admin/outbox", tag = "admin",
    params(("X-Admin-Key" = String, Header)),
    responses((status = 200, body = Envelope<OutboxResponse>),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub(crate) async fn outbox(
    State(state): State<ApiState>,
    _admin: Admin,
) -> Result<Response, ApiError> {
    let lag = state.app.outbox_lag().await?;
    Ok(ok(OutboxResponse {
        unpublished: lag.backlog.unpublished,
        lag_ms: lag.lag_ms,
    }))
}

/// Prometheus text exposition of the outbox backlog and lag.
#[utoipa::path(get, path = "/metrics", tag = "health",
    responses((status = 200, body = String, content_type = "text/plain"), (status = 503, body = ErrorBody)))]
pub(crate) async fn metrics(State(state): State<ApiState>) -> Result<Response, ApiError> {
    let text = crate::metrics::scrape(&state).await?;
    Ok(([(CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response())
}
