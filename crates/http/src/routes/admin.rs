//! Operator endpoints, behind `X-Admin-Key`.

use crate::ApiState;
use crate::envelope::{Envelope, ErrorBody, created};
use crate::error::ApiError;
use crate::extract::{AdminKey, Body};
use crate::wire::parse_instant;
use axum::extract::{FromRequestParts, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
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

/// Compares in time that depends only on the length of `given`, never on
/// where or whether it differs from `expected`.
fn same_secret(given: &str, expected: &str) -> bool {
    let expected = expected.as_bytes();
    if expected.is_empty() {
        return false;
    }
    let mut diff = given.len() ^ expected.len();
    for (i, byte) in given.bytes().enumerate() {
        diff |= usize::from(byte ^ expected[i % expected.len()]);
    }
    diff == 0
}

fn require_admin(state: &ApiState, key: &AdminKey) -> Result<(), ApiError> {
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

/// Proof that the request carries the admin key. Extracted before the body,
/// so an unauthenticated caller learns nothing about what the body should be.
#[derive(Debug)]
pub(crate) struct Admin;

impl FromRequestParts<ApiState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, ApiError> {
        let key = AdminKey::from_request_parts(parts, state).await?;
        require_admin(state, &key).map(|()| Admin)
    }
}

#[cfg(test)]
mod tests {
    use super::same_secret;

    #[test]
    fn secrets_match_only_when_equal() {
        assert!(same_secret("s3cret", "s3cret"));
        assert!(!same_secret("s3cret!", "s3cret"));
        assert!(!same_secret("s3cre", "s3cret"));
        assert!(!same_secret("s3creT", "s3cret"));
        assert!(!same_secret("", "s3cret"));
        assert!(!same_secret("", ""));
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
    _admin: Admin,
    Body(body): Body<CreateConcertBody>,
) -> Result<Response, ApiError> {
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

/// The invariant check: what the store and the waiting room say about
/// double sales, negative balances, money conservation, events per sale and
/// admission order. `ok` is true when nothing is violated.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct InvariantsResponse {
    ok: bool,
    violations: Vec<String>,
    reservations: u64,
    charged: i64,
    balances: i64,
    paid: i64,
    seats_sold_twice: u64,
    negative_balances: u64,
    sales_out_of_step: u64,
    reservations_without_one_event: u64,
    admission_inversions: u64,
}

/// Check the service's invariants (used after every load test).
#[utoipa::path(get, path = "/api/v1/admin/invariants", tag = "admin",
    params(("X-Admin-Key" = String, Header)),
    responses((status = 200, body = Envelope<InvariantsResponse>),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub(crate) async fn invariants(
    State(state): State<ApiState>,
    _admin: Admin,
) -> Result<Response, ApiError> {
    let report = state.app.check_invariants().await?;
    let store = report.store;
    Ok(crate::envelope::ok(InvariantsResponse {
        ok: report.violations.is_empty(),
        violations: report.violations,
        reservations: store.reservations,
        charged: store.money.charged.amount(),
        balances: store.money.balances.amount(),
        paid: store.money.paid.amount(),
        seats_sold_twice: store.seats_sold_twice,
        negative_balances: store.negative_balances,
        sales_out_of_step: store.sales_out_of_step,
        reservations_without_one_event: store.reservations_without_one_event,
        admission_inversions: report.admission_inversions,
    }))
}
