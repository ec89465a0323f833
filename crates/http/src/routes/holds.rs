//! Holding a seat, or a basket of seats of one date, for a few minutes,
//! keeping it a little longer once, listing one's holds, and letting one go.

use crate::ApiState;
use crate::envelope::{Envelope, ErrorBody, created, ok};
use crate::error::ApiError;
use crate::extract::{Body, PathParam, path_id};
use crate::identity::{Booker, Owner};
use crate::wire::instant;
use axum::extract::State;
use axum::response::Response;
use boxoffice_core::domain::seat_hold::Hold;
use boxoffice_core::domain::{HoldId, ScheduleId, SeatNumber};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct HoldSeatBody {
    #[schema(minimum = 1)]
    schedule_id: i64,
    /// One seat, 1 to 50. Give this or `seatNumbers`, not both.
    #[schema(minimum = 1, maximum = 50)]
    seat_number: Option<i64>,
    /// Seats held together, all or none: 1 to `holds.max_seats_per_order`
    /// (default 4) distinct seats of the date, each 1 to 50.
    #[schema(min_items = 1, max_items = 10)]
    seat_numbers: Option<Vec<i64>>,
}

impl HoldSeatBody {
    /// The seats asked for, each a valid seat number.
    fn seats(&self) -> Result<Vec<SeatNumber>, ApiError> {
        let numbers = match (&self.seat_number, &self.seat_numbers) {
            (Some(one), None) => std::slice::from_ref(one),
            (None, Some(many)) => many.as_slice(),
            (Some(_), Some(_)) => {
                return Err(ApiError::validation(
                    "give seatNumber or seatNumbers, not both",
                ));
            }
            (None, None) => {
                return Err(ApiError::validation("give seatNumber or seatNumbers"));
            }
        };
        numbers
            .iter()
            .map(|&n| SeatNumber::new(n).map_err(|e| ApiError::validation(e.to_string())))
            .collect()
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct HoldResponse {
    hold_id: String,
    schedule_id: i64,
    /// The lowest seat of the hold (its only one, for a hold of one seat).
    seat_number: u8,
    /// Every seat of the hold, in ascending order.
    seat_numbers: Vec<u8>,
    /// Whole won, due at payment: the sum of the seats' prices.
    price: i64,
    /// When the hold was taken.
    held_at: String,
    /// The seats return to sale at this instant unless paid.
    expires_at: String,
    /// Whether the hold was extended (a hold is extended once).
    extended: bool,
}

impl From<&Hold> for HoldResponse {
    fn from(hold: &Hold) -> Self {
        Self {
            hold_id: hold.id.to_string(),
            schedule_id: hold.schedule_id.get(),
            seat_number: hold.seat_numbers().next().map_or(0, SeatNumber::get),
            seat_numbers: hold.seat_numbers().map(SeatNumber::get).collect(),
            price: hold.price.amount(),
            held_at: instant(hold.held_at),
            expires_at: instant(hold.expires_at),
            extended: hold.extended,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct HoldsResponse {
    /// Live holds, newest first.
    holds: Vec<HoldResponse>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ReleasedResponse {
    hold_id: String,
    released: bool,
}

/// Hold a seat, or several seats of the date together (all or none), with
/// an ACTIVE ticket or pass of the schedule's concert.
#[utoipa::path(post, path = "/api/v1/holds", tag = "booking",
    params(("Queue-Token" = String, Header, description = "The admission pass or the queue ticket"),
        ("Authorization" = String, Header, description = "Bearer <access token> (jwt mode)")),
    request_body = HoldSeatBody,
    responses((status = 201, body = Envelope<HoldResponse>),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "SEAT_ALREADY_HELD, SEAT_ALREADY_SOLD, SCHEDULE_CANCELLED, HOLD_LIMIT_REACHED, UNFUNDED_HOLD_LIMIT_REACHED, TOO_MANY_LAPSED_HOLDS, PURCHASE_LIMIT_REACHED (any seat of the basket)", body = ErrorBody),
        (status = 429, body = ErrorBody)))]
pub(crate) async fn hold(
    State(state): State<ApiState>,
    Booker { user, credential }: Booker,
    Body(body): Body<HoldSeatBody>,
) -> Result<Response, ApiError> {
    let schedule =
        ScheduleId::new(body.schedule_id).map_err(|e| ApiError::validation(e.to_string()))?;
    let seats = body.seats()?;
    let held = state
        .app
        .hold_seats(user, credential, schedule, &seats)
        .await
        .map_err(ApiError::from);
    crate::metrics::outcome("boxoffice_holds_total", &held, "held");
    let hold = held?;
    Ok(created(HoldResponse::from(&hold)))
}

/// Your live holds, newest first. No queue token is needed.
#[utoipa::path(get, path = "/api/v1/holds", tag = "booking",
    params(("Authorization" = String, Header, description = "Bearer <access token> (jwt mode); or Client-Id")),
    responses((status = 200, body = Envelope<HoldsResponse>),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub(crate) async fn list_holds(
    State(state): State<ApiState>,
    Owner(user): Owner,
) -> Result<Response, ApiError> {
    let holds = state.app.live_holds(user).await?;
    Ok(ok(HoldsResponse {
        holds: holds.iter().map(HoldResponse::from).collect(),
    }))
}

/// Keep your live hold longer, once: by `holds.extend_secs`, never past
/// `holds.max_total_secs` from when it was taken. No queue token is needed.
#[utoipa::path(post, path = "/api/v1/holds/{holdId}/extend", tag = "booking",
    params(("holdId" = String, Path), ("Authorization" = String, Header, description = "Bearer <access token> (jwt mode); or Client-Id")),
    responses((status = 200, body = Envelope<HoldResponse>),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "HOLD_NOT_LIVE, HOLD_ALREADY_EXTENDED, HOLD_NOT_EXTENDABLE", body = ErrorBody)))]
pub(crate) async fn extend_hold(
    State(state): State<ApiState>,
    Owner(user): Owner,
    PathParam(hold_id): PathParam<String>,
) -> Result<Response, ApiError> {
    let hold = path_id(hold_id.parse::<HoldId>())?;
    let extended = state.app.extend_hold(user, hold).await?;
    Ok(ok(HoldResponse::from(&extended)))
}

/// Release your hold before it expires, so the seat returns to sale at
/// once. Only the hold's owner may; no queue token is needed.
#[utoipa::path(delete, path = "/api/v1/holds/{holdId}", tag = "booking",
    params(("holdId" = String, Path), ("Authorization" = String, Header, description = "Bearer <access token> (jwt mode); or Client-Id")),
    responses((status = 200, body = Envelope<ReleasedResponse>),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub(crate) async fn release(
    State(state): State<ApiState>,
    Owner(user): Owner,
    PathParam(hold_id): PathParam<String>,
) -> Result<Response, ApiError> {
    let hold = path_id(hold_id.parse::<HoldId>())?;
    state.app.release_hold(user, hold).await?;
    metrics::counter!("boxoffice_holds_ended_total", "how" => "released").increment(1);
    Ok(ok(ReleasedResponse {
        hold_id: hold.to_string(),
        released: true,
    }))
}
