//! Operator endpoints, behind `X-Admin-Key`.

use crate::ApiState;
use crate::envelope::{Envelope, ErrorBody, created};
use crate::error::ApiError;
use crate::extract::{AdminKey, Body};
use crate::wire::parse_instant;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use boxoffice_core::domain::Won;
use boxoffice_core::domain::concert::{NewSchedule, SeatBand};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CreateConcertBody {
    title: String,
    artist: String,
    /// 1 to 100 dates.
    schedules: Vec<ScheduleBody>,
    /// Bands numbering the seats 1..=N (N at most 50) in order, without gaps.
    seats: Vec<SeatBandBody>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ScheduleBody {
    /// RFC 3339, e.g. `2030-05-01T19:00:00+09:00`.
    starts_at: String,
    venue: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SeatBandBody {
    grade: String,
    /// Whole won.
    price: i64,
    /// First seat number of the band.
    from: i64,
    /// Last seat number of the band (inclusive).
    to: i64,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CreatedConcert {
    concert_id: i64,
}

/// Compares in time independent of where the strings differ.
fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

pub(crate) fn require_admin(state: &ApiState, key: &AdminKey) -> Result<(), ApiError> {
    let Some(expected) = state.admin_key.as_deref() else {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "ADMIN_DISABLED",
            "admin endpoints are disabled: set admin.api_key",
        ));
    };
    match key.0.as_deref() {
        Some(given) if same_secret(given, expected) => Ok(()),
        _ => Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "ADMIN_KEY_INVALID",
            "a valid X-Admin-Key header is required",
        )),
    }
}

/// Add a concert with its dates and seat layout.
#[utoipa::path(post, path = "/api/v1/admin/concerts", tag = "admin",
    params(("X-Admin-Key" = String, Header)),
    request_body = CreateConcertBody,
    responses((status = 201, body = Envelope<CreatedConcert>),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub(crate) async fn create_concert(
    State(state): State<ApiState>,
    key: AdminKey,
    Body(body): Body<CreateConcertBody>,
) -> Result<Response, ApiError> {
    require_admin(&state, &key)?;
    let schedules = body
        .schedules
        .into_iter()
        .map(|s| {
            let starts_at = parse_instant(&s.starts_at)
                .ok_or_else(|| ApiError::validation("startsAt must be an RFC 3339 date-time"))?;
            Ok(NewSchedule {
                starts_at,
                venue: s.venue,
            })
        })
        .collect::<Result<Vec<_>, ApiError>>()?;
    let bands: Vec<SeatBand> = body
        .seats
        .into_iter()
        .map(|b| SeatBand {
            grade: b.grade,
            price: Won::new(b.price),
            first: b.from,
            last: b.to,
        })
        .collect();
    let id = state
        .app
        .create_concert(&body.title, &body.artist, schedules, &bands)
        .await?;
    Ok(created(CreatedConcert {
        concert_id: id.get(),
    }))
}
