//! Paying for a hold from the balance.

use crate::ApiState;
use crate::envelope::{Envelope, ErrorBody, created};
use crate::error::ApiError;
use crate::extract::{Body, IdempotencyKeyHeader};
use crate::identity::Owner;
use crate::wire::instant;
use axum::extract::State;
use axum::response::Response;
use boxoffice_core::domain::HoldId;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PayBody {
    /// The hold to pay for, as `POST /api/v1/holds` answered it.
    #[schema(format = "uuid")]
    hold_id: String,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PaymentResponse {
    /// The reservation of the hold's lowest seat (its only one, for a hold
    /// of one seat).
    reservation_id: String,
    schedule_id: i64,
    /// The hold's lowest seat.
    seat_number: u8,
    /// A reservation per seat of the hold, in seat order; each may be
    /// cancelled on its own.
    reservations: Vec<SoldSeatResponse>,
    /// Whole won debited: the sum of the seats' prices.
    price: i64,
    /// The balance left, in whole won.
    balance: i64,
    /// When the sale was recorded (`null` only when repeating, by its
    /// Idempotency-Key, a payment made before this was kept).
    confirmed_at: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SoldSeatResponse {
    reservation_id: String,
    seat_number: u8,
    /// Whole won.
    price: i64,
}

/// Pay for your hold: debit, sale of every seat, a reservation per seat
/// and token expiry at once.
/// Only the hold's owner may; no queue token is needed, so a fan whose
/// token was lost still pays for the seat they hold.
#[utoipa::path(post, path = "/api/v1/payments", tag = "booking",
    params(("Authorization" = String, Header, description = "Bearer <access token> (jwt mode); or Client-Id"),
        ("Idempotency-Key" = Option<String>, Header, description = "Repeat-safe key: the same key and body return the first answer")),
    request_body = PayBody,
    responses((status = 201, body = Envelope<PaymentResponse>),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "INSUFFICIENT_BALANCE, HOLD_EXPIRED, HOLD_ALREADY_PAID, IDEMPOTENCY_REQUEST_IN_PROGRESS", body = ErrorBody),
        (status = 422, description = "IDEMPOTENCY_KEY_REUSED", body = ErrorBody),
        (status = 429, body = ErrorBody)))]
pub(crate) async fn pay(
    State(state): State<ApiState>,
    Owner(user): Owner,
    IdempotencyKeyHeader(key): IdempotencyKeyHeader,
    Body(body): Body<PayBody>,
) -> Result<Response, ApiError> {
    let hold = body
        .hold_id
        .parse::<HoldId>()
        .map_err(|e| ApiError::validation(e.to_string()))?;
    let paid = state
        .app
        .pay_for_hold(user, hold, key.as_ref())
        .await
        .map_err(ApiError::from);
    crate::metrics::outcome("boxoffice_payments_total", &paid, "paid");
    let receipt = paid?;
    let first = receipt
        .reservations
        .first()
        .ok_or_else(|| ApiError::unexpected(anyhow::anyhow!("a receipt without reservations")))?;
    Ok(created(PaymentResponse {
        reservation_id: first.reservation_id.to_string(),
        schedule_id: receipt.schedule_id.get(),
        seat_number: first.seat_number.get(),
        reservations: receipt
            .reservations
            .iter()
            .map(|sold| SoldSeatResponse {
                reservation_id: sold.reservation_id.to_string(),
                seat_number: sold.seat_number.get(),
                price: sold.price.amount(),
            })
            .collect(),
        price: receipt.price.amount(),
        balance: receipt.balance.amount(),
        confirmed_at: receipt.confirmed_at.map(instant),
    }))
}
