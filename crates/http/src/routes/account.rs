//! The buyer's account: balance, charging it, and reservations.

use crate::ApiState;
use crate::envelope::{Envelope, ErrorBody, ok};
use crate::error::ApiError;
use crate::extract::{Body, IdempotencyKeyHeader};
use crate::identity::Fan;
use crate::wire::instant;
use axum::extract::State;
use axum::response::Response;
use boxoffice_core::domain::Won;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct BalanceResponse {
    /// Whole won.
    balance: i64,
}

#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct ChargeBody {
    /// Whole won, positive; the balance may not pass `balance.max`
    /// (10,000,000 by default).
    #[schema(minimum = 1)]
    amount: i64,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ReservationItem {
    reservation_id: String,
    concert_id: i64,
    /// The concert's title and artist.
    title: String,
    artist: String,
    schedule_id: i64,
    /// When and where the date is.
    starts_at: String,
    venue: String,
    seat_number: u8,
    price: i64,
    confirmed_at: String,
}

/// Your prepaid balance.
#[utoipa::path(get, path = "/api/v1/balance", tag = "account",
    params(("Authorization" = String, Header, description = "Bearer <access token> (jwt mode); or Client-Id")),
    responses((status = 200, body = Envelope<BalanceResponse>), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub(crate) async fn balance(
    State(state): State<ApiState>,
    Fan(user): Fan,
) -> Result<Response, ApiError> {
    let balance = state.app.show_balance(user).await?;
    Ok(ok(BalanceResponse {
        balance: balance.amount(),
    }))
}

/// Add money to your balance (up to `balance.max`).
#[utoipa::path(post, path = "/api/v1/balance/charge", tag = "account",
    params(("Authorization" = String, Header, description = "Bearer <access token> (jwt mode); or Client-Id"),
        ("Idempotency-Key" = Option<String>, Header, description = "Repeat-safe key: the same key and body return the first answer")),
    request_body = ChargeBody,
    responses((status = 200, body = Envelope<BalanceResponse>),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 409, description = "BALANCE_LIMIT_EXCEEDED, IDEMPOTENCY_REQUEST_IN_PROGRESS", body = ErrorBody),
        (status = 422, description = "IDEMPOTENCY_KEY_REUSED", body = ErrorBody)))]
pub(crate) async fn charge(
    State(state): State<ApiState>,
    Fan(user): Fan,
    IdempotencyKeyHeader(key): IdempotencyKeyHeader,
    Body(body): Body<ChargeBody>,
) -> Result<Response, ApiError> {
    let charged = state
        .app
        .charge_balance(user, Won::new(body.amount), key.as_ref())
        .await
        .map_err(ApiError::from);
    crate::metrics::outcome("boxoffice_charges_total", &charged, "charged");
    let receipt = charged?;
    Ok(ok(BalanceResponse {
        balance: receipt.balance.amount(),
    }))
}

/// Your confirmed reservations, newest first.
#[utoipa::path(get, path = "/api/v1/reservations", tag = "account",
    params(("Authorization" = String, Header, description = "Bearer <access token> (jwt mode); or Client-Id")),
    responses((status = 200, body = Envelope<Vec<ReservationItem>>), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub(crate) async fn reservations(
    State(state): State<ApiState>,
    Fan(user): Fan,
) -> Result<Response, ApiError> {
    let list: Vec<ReservationItem> = state
        .app
        .list_reservations(user)
        .await?
        .into_iter()
        .map(|view| {
            let r = view.reservation;
            ReservationItem {
                reservation_id: r.id.to_string(),
                concert_id: r.concert_id.get(),
                title: view.concert.title,
                artist: view.concert.artist,
                schedule_id: r.schedule_id.get(),
                starts_at: instant(view.schedule.starts_at),
                venue: view.schedule.venue,
                seat_number: r.seat_number.get(),
                price: r.price.amount(),
                confirmed_at: instant(r.confirmed_at),
            }
        })
        .collect();
    Ok(ok(list))
}
