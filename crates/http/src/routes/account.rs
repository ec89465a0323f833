//! The buyer's account: balance, charging it, reservations, and cancelling
//! them for a refund.

use crate::ApiState;
use crate::envelope::{Envelope, ErrorBody, ok};
use crate::error::ApiError;
use crate::extract::{Body, IdempotencyKeyHeader, PathParam, path_id};
use crate::identity::Fan;
use crate::wire::instant;
use axum::extract::State;
use axum::response::Response;
use boxoffice_core::domain::cancellation::CancellationReceipt;
use boxoffice_core::domain::{ReservationId, Won};
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
    /// `CONFIRMED`, or `CANCELLED` once cancelled for a refund.
    #[schema(example = "CONFIRMED")]
    status: &'static str,
    /// When it was cancelled; `null` while confirmed.
    cancelled_at: Option<String>,
    /// Whole won paid back, and kept as the fee, by the cancellation;
    /// `null` while confirmed.
    refund: Option<i64>,
    fee: Option<i64>,
    /// While confirmed: the last instant it may be cancelled
    /// (`cancellation.deadline_secs` before the date); `null` once cancelled,
    /// and on a called-off date, which may be cancelled at any time.
    cancellable_until: Option<String>,
    /// When the organiser called the date off; `null` while it goes ahead.
    /// Its reservations are refunded in full, by the refund round or by
    /// the fan cancelling first.
    date_cancelled_at: Option<String>,
    /// While it may still be cancelled: what cancelling it now would pay
    /// back and keep. The fee grows as the show nears, so this holds for the
    /// moment of the answer; the cancellation itself says what it did.
    refund_if_cancelled_now: Option<RefundNow>,
}

/// What cancelling a reservation at the moment of the answer would do.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RefundNow {
    refund: i64,
    fee: i64,
}

/// What cancelling a reservation did.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CancellationResponse {
    reservation_id: String,
    #[schema(example = "CANCELLED")]
    status: &'static str,
    concert_id: i64,
    schedule_id: i64,
    seat_number: u8,
    /// Whole won the seat was bought for: `refund` + `fee`.
    price: i64,
    /// Whole won paid back to the balance.
    refund: i64,
    /// Whole won kept, by the time left to the show (`cancellation.fees`).
    fee: i64,
    /// The balance after the refund, in whole won.
    balance: i64,
    cancelled_at: String,
}

impl From<&CancellationReceipt> for CancellationResponse {
    fn from(r: &CancellationReceipt) -> Self {
        Self {
            reservation_id: r.reservation_id.to_string(),
            status: "CANCELLED",
            concert_id: r.concert_id.get(),
            schedule_id: r.schedule_id.get(),
            seat_number: r.seat_number.get(),
            price: r.price.amount(),
            refund: r.refund.amount(),
            fee: r.fee.amount(),
            balance: r.balance.amount(),
            cancelled_at: instant(r.cancelled_at),
        }
    }
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

/// Your reservations, confirmed and cancelled, newest first.
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
                status: r.status(),
                cancelled_at: r.cancellation.map(|c| instant(c.at)),
                refund: r.cancellation.map(|c| c.refund.amount()),
                fee: r.cancellation.map(|c| c.fee.amount()),
                cancellable_until: view.cancellable_until.map(instant),
                date_cancelled_at: view.schedule.cancelled_at.map(instant),
                refund_if_cancelled_now: view.refund_now.map(|q| RefundNow {
                    refund: q.refund.amount(),
                    fee: q.fee.amount(),
                }),
            }
        })
        .collect();
    Ok(ok(list))
}

/// Cancel your reservation for a refund, until `cancellation.deadline_secs`
/// before its date starts: the price less the fee for the time left goes
/// back to your balance at once, and the seat goes back on sale. With an
/// Idempotency-Key a repeat returns the first answer; without one, a repeat
/// is refused as already cancelled. Either way it refunds once.
#[utoipa::path(post, path = "/api/v1/reservations/{reservationId}/cancel", tag = "account",
    params(("reservationId" = String, Path),
        ("Authorization" = String, Header, description = "Bearer <access token> (jwt mode); or Client-Id"),
        ("Idempotency-Key" = Option<String>, Header, description = "Repeat-safe key: the same key and reservation return the first answer")),
    responses((status = 200, body = Envelope<CancellationResponse>),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "RESERVATION_ALREADY_CANCELLED, CANCELLATION_CLOSED, IDEMPOTENCY_REQUEST_IN_PROGRESS", body = ErrorBody),
        (status = 422, description = "IDEMPOTENCY_KEY_REUSED", body = ErrorBody)))]
pub(crate) async fn cancel_reservation(
    State(state): State<ApiState>,
    Fan(user): Fan,
    IdempotencyKeyHeader(key): IdempotencyKeyHeader,
    PathParam(reservation_id): PathParam<String>,
) -> Result<Response, ApiError> {
    let reservation = path_id(reservation_id.parse::<ReservationId>())?;
    let cancelled = state
        .app
        .cancel_reservation(user, reservation, key.as_ref())
        .await
        .map_err(ApiError::from);
    crate::metrics::outcome("boxoffice_cancellations_total", &cancelled, "cancelled");
    Ok(ok(CancellationResponse::from(&cancelled?)))
}
