//! Event delivery for operators: the dead-letter list and replays (behind
//! `X-Admin-Key`), the outbox backlog, and `/metrics` for Prometheus.

use crate::ApiState;
use crate::envelope::{Envelope, ErrorBody, ok};
use crate::error::ApiError;
use crate::extract::Body;
use crate::extract::{PathParam, path_id};
use crate::routes::admin::Admin;
use crate::wire::{instant, parse_instant};
use axum::extract::{Query, State};
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use boxoffice_core::domain::Timestamp;
use boxoffice_core::domain::delivery::{DeadLetter, DeadLetterFilter};
use boxoffice_core::use_cases::BulkReplay;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// The most dead letters one listing returns, or one bulk replay takes.
const MOST_AT_ONCE: u32 = 1_000;
/// How many a listing or a bulk replay takes when it does not say.
const DEFAULT_AT_ONCE: u32 = 100;

/// Which dead letters to list: every parameter narrows the list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct DeadLetterQuery {
    /// At most this many, newest first (1 to 1,000; default 100).
    limit: Option<u32>,
    /// Only letters with an id below this: the last `id` of the previous page.
    before: Option<i64>,
    /// Only this consumer's (`boxoffice.dataplatform`).
    consumer: Option<String>,
    /// Only events of this type (`ReservationConfirmed`, `ReservationCancelled`).
    event_type: Option<String>,
    /// `waiting` (not replayed yet) or `replayed`; both when left out.
    state: Option<String>,
    /// Failed at or after this instant (RFC 3339).
    failed_from: Option<String>,
    /// Failed before this instant (RFC 3339).
    failed_before: Option<String>,
}

/// Which waiting dead letters to replay: every field narrows the set.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct BulkReplayBody {
    /// Only this consumer's.
    consumer: Option<String>,
    /// Only events of this type.
    event_type: Option<String>,
    /// Failed at or after this instant (RFC 3339).
    failed_from: Option<String>,
    /// Failed before this instant (RFC 3339).
    failed_before: Option<String>,
    /// At most this many, oldest first (1 to 1,000; default 100).
    #[schema(minimum = 1, maximum = 1000)]
    limit: Option<u32>,
}

/// A failed replay of one letter.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ReplayFailure {
    id: i64,
    error: String,
}

/// What a bulk replay did, by letter id.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct BulkReplayResponse {
    /// Delivered (or found delivered) and marked replayed, oldest first.
    replayed: Vec<i64>,
    /// Replayed meanwhile by someone else, or under replay now.
    skipped: Vec<i64>,
    /// The consumer failed again; these stay for a later replay.
    failed: Vec<ReplayFailure>,
    /// True when it stopped after `dataplatform.breaker_failures` failures in
    /// a row: the consumer is likely down, and the letters after were not tried.
    stopped: bool,
}

impl From<BulkReplay> for BulkReplayResponse {
    fn from(b: BulkReplay) -> Self {
        Self {
            replayed: b.replayed,
            skipped: b.skipped,
            failed: b
                .failed
                .into_iter()
                .map(|(id, error)| ReplayFailure { id, error })
                .collect(),
            stopped: b.stopped,
        }
    }
}

fn at_once(limit: Option<u32>) -> Result<u32, ApiError> {
    let limit = limit.unwrap_or(DEFAULT_AT_ONCE);
    if (1..=MOST_AT_ONCE).contains(&limit) {
        Ok(limit)
    } else {
        Err(ApiError::validation("limit must be between 1 and 1000"))
    }
}

/// The filter both the listing and the bulk replay take, checked.
fn filter_of(
    consumer: Option<String>,
    event_type: Option<String>,
    failed_from: Option<&str>,
    failed_before: Option<&str>,
) -> Result<DeadLetterFilter, ApiError> {
    Ok(DeadLetterFilter {
        consumer: name_param("consumer", consumer)?,
        event_type: name_param("eventType", event_type)?,
        failed_from: instant_param("failedFrom", failed_from)?,
        failed_before: instant_param("failedBefore", failed_before)?,
        ..DeadLetterFilter::default()
    })
}

fn instant_param(name: &str, text: Option<&str>) -> Result<Option<Timestamp>, ApiError> {
    text.map(|t| {
        parse_instant(t)
            .ok_or_else(|| ApiError::validation(format!("{name} must be an RFC 3339 date-time")))
    })
    .transpose()
}

/// A text filter: given, it must be a plain name.
fn name_param(name: &str, text: Option<String>) -> Result<Option<String>, ApiError> {
    match text {
        Some(t) if t.is_empty() || t.len() > 200 || t.chars().any(char::is_control) => {
            Err(ApiError::validation(format!(
                "{name} must be 1 to 200 characters, none of them control characters"
            )))
        }
        other => Ok(other),
    }
}

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

/// Events consumers gave up on, newest first, a page at a time: the next
/// page is asked for with `before` set to the last `id` of this one.
#[utoipa::path(get, path = "/api/v1/admin/dead-letters", tag = "admin",
    params(DeadLetterQuery, ("X-Admin-Key" = String, Header)),
    responses((status = 200, body = Envelope<Vec<DeadLetterResponse>>),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub(crate) async fn dead_letters(
    State(state): State<ApiState>,
    _admin: Admin,
    query: Result<Query<DeadLetterQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::validation(e.body_text()))?;
    let limit = at_once(query.limit)?;
    let replayed = match query.state.as_deref() {
        None => None,
        Some("waiting") => Some(false),
        Some("replayed") => Some(true),
        Some(_) => return Err(ApiError::validation("state must be waiting or replayed")),
    };
    let filter = DeadLetterFilter {
        replayed,
        before_id: query.before,
        ..filter_of(
            query.consumer,
            query.event_type,
            query.failed_from.as_deref(),
            query.failed_before.as_deref(),
        )?
    };
    let letters = state.app.list_dead_letters(&filter, limit).await?;
    let body: Vec<DeadLetterResponse> = letters.into_iter().map(Into::into).collect();
    Ok(ok(body))
}

/// Replay, oldest first, the dead letters waiting for a replay that the
/// body's filter takes (an empty object takes all, up to `limit`). Each goes
/// as a single replay does; running it again replays nothing twice.
#[utoipa::path(post, path = "/api/v1/admin/dead-letters/replay", tag = "admin",
    params(("X-Admin-Key" = String, Header)),
    request_body = BulkReplayBody,
    responses((status = 200, body = Envelope<BulkReplayResponse>),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub(crate) async fn replay_matching(
    State(state): State<ApiState>,
    _admin: Admin,
    Body(body): Body<BulkReplayBody>,
) -> Result<Response, ApiError> {
    let limit = at_once(body.limit)?;
    let filter = filter_of(
        body.consumer,
        body.event_type,
        body.failed_from.as_deref(),
        body.failed_before.as_deref(),
    )?;
    let outcome = state.app.replay_dead_letters(&filter, limit).await?;
    Ok(ok(BulkReplayResponse::from(outcome)))
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
