//! Browsing: the public concert list and ranking, and (for ACTIVE token
//! holders) dates and seats.

use crate::ApiState;
use crate::envelope::{Envelope, ErrorBody, ok};
use crate::error::ApiError;
use crate::extract::{PathParam, path_id};
use crate::identity::Booker;
use crate::wire::instant;
use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use boxoffice_core::domain::{ConcertId, ScheduleId};
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ConcertItem {
    pub(crate) concert_id: i64,
    title: String,
    artist: String,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PopularItem {
    rank: u32,
    concert_id: i64,
    title: String,
    reservations: u64,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ScheduleItem {
    schedule_id: i64,
    starts_at: String,
    venue: String,
    /// 0 once the date is called off.
    available_seats: u32,
    /// When the organiser called the date off (RFC 3339), absent while it
    /// goes ahead. A called-off date sells nothing, and every reservation
    /// of it is refunded in full.
    #[serde(skip_serializing_if = "Option::is_none")]
    cancelled_at: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SeatItem<'a> {
    seat_number: u8,
    grade: &'a str,
    /// Whole won.
    price: i64,
    /// `AVAILABLE`, `HELD` or `SOLD`.
    status: &'static str,
}

/// Every concert on sale.
#[utoipa::path(get, path = "/api/v1/concerts", tag = "catalog",
    responses((status = 200, body = Envelope<Vec<ConcertItem>>)))]
pub(crate) async fn concerts(State(state): State<ApiState>) -> Result<Response, ApiError> {
    Ok(ok(concert_items(&state).await?))
}

/// The catalog as listed, for the public list and the admin's.
pub(crate) async fn concert_items(state: &ApiState) -> Result<Vec<ConcertItem>, ApiError> {
    Ok(state
        .app
        .list_concerts()
        .await?
        .into_iter()
        .map(|c| ConcertItem {
            concert_id: c.id.get(),
            title: c.title,
            artist: c.artist,
        })
        .collect())
}

/// The top 10 concerts by confirmed reservations.
#[utoipa::path(get, path = "/api/v1/concerts/popular", tag = "catalog",
    responses((status = 200, body = Envelope<Vec<PopularItem>>)))]
pub(crate) async fn popular(State(state): State<ApiState>) -> Result<Response, ApiError> {
    let list: Vec<PopularItem> = state
        .app
        .list_popular_concerts()
        .await?
        .into_iter()
        .map(|p| PopularItem {
            rank: p.rank,
            concert_id: p.concert.id.get(),
            title: p.concert.title,
            reservations: p.reservations,
        })
        .collect();
    Ok(ok(list))
}

/// The dates of a concert with their free seats (ACTIVE ticket or pass of this concert).
#[utoipa::path(get, path = "/api/v1/concerts/{concertId}/schedules", tag = "catalog",
    params(("concertId" = i64, Path),
        ("Queue-Token" = String, Header, description = "The admission pass (checked locally) or the queue ticket"),
        ("Authorization" = String, Header, description = "Bearer <access token> (jwt mode)")),
    responses((status = 200, body = Envelope<Vec<ScheduleItem>>),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 429, body = ErrorBody)))]
pub(crate) async fn schedules(
    State(state): State<ApiState>,
    Booker { user, credential }: Booker,
    PathParam(concert_id): PathParam<i64>,
) -> Result<Response, ApiError> {
    let concert = path_id(ConcertId::new(concert_id))?;
    let list: Vec<ScheduleItem> = state
        .app
        .list_schedules(user, credential, concert)
        .await?
        .into_iter()
        .map(|s| ScheduleItem {
            schedule_id: s.schedule.id.get(),
            starts_at: instant(s.schedule.starts_at),
            venue: s.schedule.venue,
            available_seats: s.available_seats,
            cancelled_at: s.schedule.cancelled_at.map(instant),
        })
        .collect();
    Ok(ok(list))
}

/// The seats of a date (ACTIVE ticket or pass of its concert).
#[utoipa::path(get, path = "/api/v1/schedules/{scheduleId}/seats", tag = "catalog",
    params(("scheduleId" = i64, Path),
        ("Queue-Token" = String, Header, description = "The admission pass (checked locally) or the queue ticket"),
        ("Authorization" = String, Header, description = "Bearer <access token> (jwt mode)")),
    responses((status = 200, body = Envelope<Vec<SeatItem>>),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 429, body = ErrorBody)))]
pub(crate) async fn seats(
    State(state): State<ApiState>,
    Booker { user, credential }: Booker,
    PathParam(schedule_id): PathParam<i64>,
) -> Result<Response, ApiError> {
    let schedule = path_id(ScheduleId::new(schedule_id))?;
    let seats = state.app.list_seats(user, credential, schedule).await?;
    let body = state
        .seat_bodies
        .body(schedule, &seats, |seats| {
            seats
                .iter()
                .map(|s| SeatItem {
                    seat_number: s.number.get(),
                    grade: &s.grade,
                    price: s.price.amount(),
                    status: s.status.as_str(),
                })
                .collect::<Vec<_>>()
        })
        .map_err(|err| ApiError::unexpected(err.into()))?;
    Ok(([(CONTENT_TYPE, "application/json")], body).into_response())
}
