//! A sold-out date's waiting list: joining, leaving, and the fan's entries
//! with their place in line or their offer. An offer is a hold in the fan's
//! name: it shows in `GET /api/v1/holds` and is paid with `POST
//! /api/v1/payments` like any hold.

use crate::ApiState;
use crate::envelope::{Envelope, ErrorBody, ok};
use crate::error::ApiError;
use crate::extract::{PathParam, path_id};
use crate::identity::Owner;
use crate::wire::instant;
use axum::extract::State;
use axum::response::Response;
use boxoffice_core::domain::ScheduleId;
use boxoffice_core::domain::waitlist::WaitlistEntry;
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct WaitlistEntryResponse {
    schedule_id: i64,
    concert_id: i64,
    /// WAITING, OFFERED (a seat is held for you: pay `holdId` before
    /// `offerExpiresAt`), BOUGHT, LAPSED (the offer ended unpaid and passed
    /// on) or LEFT.
    status: &'static str,
    /// While WAITING: 1 for the next fan a returned seat is offered to.
    position: Option<u64>,
    joined_at: String,
    /// The offered hold, once an offer was made.
    hold_id: Option<String>,
    offer_expires_at: Option<String>,
}

impl From<&WaitlistEntry> for WaitlistEntryResponse {
    fn from(entry: &WaitlistEntry) -> Self {
        Self {
            schedule_id: entry.schedule_id.get(),
            concert_id: entry.concert_id.get(),
            status: entry.status.as_str(),
            position: entry.position,
            joined_at: instant(entry.joined_at),
            hold_id: entry.hold_id.map(|id| id.to_string()),
            offer_expires_at: entry.offer_expires_at.map(instant),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct WaitlistResponse {
    /// Your entries, open and past, newest first.
    entries: Vec<WaitlistEntryResponse>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct LeftWaitlistResponse {
    schedule_id: i64,
    left: bool,
}

/// Join a sold-out date's waiting list: every seat is sold or held (or fans
/// wait already). Joining again keeps your place. When a seat comes back,
/// the first fan on the list under the ticket limit gets it held in their
/// name for `waitlist.offer_secs`. No queue token is needed.
#[utoipa::path(post, path = "/api/v1/schedules/{scheduleId}/waitlist", tag = "booking",
    params(("scheduleId" = i64, Path, minimum = 1), ("Authorization" = String, Header, description = "Bearer <access token> (jwt mode); or Client-Id")),
    responses((status = 200, body = Envelope<WaitlistEntryResponse>),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, description = "SCHEDULE_NOT_FOUND", body = ErrorBody),
        (status = 409, description = "SCHEDULE_NOT_SOLD_OUT, SCHEDULE_CANCELLED", body = ErrorBody)))]
pub(crate) async fn join_waitlist(
    State(state): State<ApiState>,
    Owner(user): Owner,
    PathParam(schedule_id): PathParam<i64>,
) -> Result<Response, ApiError> {
    let schedule = path_id(ScheduleId::new(schedule_id))?;
    let entry = state.app.join_waitlist(user, schedule).await?;
    Ok(ok(WaitlistEntryResponse::from(&entry)))
}

/// Leave a date's waiting list while waiting. To turn an offer down,
/// release its hold (`DELETE /api/v1/holds/{holdId}`): it passes on at once.
#[utoipa::path(delete, path = "/api/v1/schedules/{scheduleId}/waitlist", tag = "booking",
    params(("scheduleId" = i64, Path, minimum = 1), ("Authorization" = String, Header, description = "Bearer <access token> (jwt mode); or Client-Id")),
    responses((status = 200, body = Envelope<LeftWaitlistResponse>),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, description = "NOT_ON_WAITLIST", body = ErrorBody)))]
pub(crate) async fn leave_waitlist(
    State(state): State<ApiState>,
    Owner(user): Owner,
    PathParam(schedule_id): PathParam<i64>,
) -> Result<Response, ApiError> {
    let schedule = path_id(ScheduleId::new(schedule_id))?;
    state.app.leave_waitlist(user, schedule).await?;
    Ok(ok(LeftWaitlistResponse {
        schedule_id: schedule.get(),
        left: true,
    }))
}

/// Your waiting-list entries, newest first: where you are in each line,
/// and any seat offered to you.
#[utoipa::path(get, path = "/api/v1/waitlist", tag = "booking",
    params(("Authorization" = String, Header, description = "Bearer <access token> (jwt mode); or Client-Id")),
    responses((status = 200, body = Envelope<WaitlistResponse>),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub(crate) async fn list_waitlist(
    State(state): State<ApiState>,
    Owner(user): Owner,
) -> Result<Response, ApiError> {
    let entries = state.app.list_waitlist(user).await?;
    Ok(ok(WaitlistResponse {
        entries: entries.iter().map(WaitlistEntryResponse::from).collect(),
    }))
}
