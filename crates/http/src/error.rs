//! [`ApiError`]: every failure the API reports, with its HTTP status and
//! stable code. Use-case errors map here by exhaustive matches, so a new
//! variant cannot reach a client unmapped. 5xx bodies are generic; the cause
//! is logged once, here.

use crate::envelope::ErrorBody;
pub use crate::error_code::ErrorCode;
use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use boxoffice_core::domain::seat_hold::{BasketRefusal, HoldLimitReached};
use boxoffice_core::ports::{CancelRefused, ChargeRefused, PaymentRefused, is_unavailable};
use boxoffice_core::use_cases::{
    AccessDenied, CallOffError, CancelError, ChangeRoomError, ChargeError, CreateConcertError,
    ExtendHoldError, HoldSeatError, IdempotencyConflict, IssueTokenError, JoinWaitlistError,
    LeaveWaitlistError, ListSchedulesError, ListSeatsError, PayError, PollTokenError, PowRefusal,
    ReleaseHoldError, ReplayError, UpdateConcertError,
};

#[derive(Debug)]
pub struct ApiError {
    /// The stable code; the status is the code's ([`ErrorCode::status`]).
    pub code: ErrorCode,
    pub message: String,
    /// Headers the answer carries (`WWW-Authenticate`, `Retry-After`).
    pub headers: Vec<(&'static str, String)>,
    /// A fresh proof-of-work challenge, for the bot gate's refusals.
    pub challenge: Option<serde_json::Value>,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            headers: Vec::new(),
            challenge: None,
        }
    }

    /// The HTTP status of the answer.
    pub fn status(&self) -> StatusCode {
        self.code.status()
    }

    pub fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    pub fn validation(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::VALIDATION_FAILED, message)
    }

    fn date_called_off() -> Self {
        Self::new(
            ErrorCode::SCHEDULE_CANCELLED,
            "the organiser called this date off; its reservations are refunded in full",
        )
    }

    /// Something broke: log the cause, tell the client only that it failed.
    pub fn unexpected(err: anyhow::Error) -> Self {
        if is_unavailable(&err) {
            tracing::warn!(error = format!("{err:#}"), "dependency unavailable");
            Self::new(
                ErrorCode::SERVICE_UNAVAILABLE,
                "the service is temporarily unavailable; retry shortly",
            )
        } else {
            tracing::error!(error = format!("{err:#}"), "request failed");
            Self::new(ErrorCode::INTERNAL_ERROR, "an unexpected error occurred")
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            code: self.code.as_str(),
            message: self.message,
            challenge: self.challenge,
            request_id: crate::request_id::current().filter(|id| !id.is_empty()),
        };
        let mut response = (self.code.status(), Json(body)).into_response();
        for (name, value) in self.headers {
            if let Ok(value) = axum::http::HeaderValue::from_str(&value) {
                response.headers_mut().append(name, value);
            }
        }
        response
    }
}

impl From<anyhow::Error> for ApiError {
    fn from(err: anyhow::Error) -> Self {
        Self::unexpected(err)
    }
}

impl From<AccessDenied> for ApiError {
    fn from(denied: AccessDenied) -> Self {
        match denied {
            AccessDenied::UnknownToken => {
                Self::new(ErrorCode::QUEUE_TOKEN_INVALID, "unknown queue token")
            }
            AccessDenied::NotYours => not_yours(),
            AccessDenied::Waiting { position } => Self::new(
                ErrorCode::QUEUE_TOKEN_NOT_ACTIVE,
                match position {
                    Some(position) => format!("still waiting in line at position {position}"),
                    None => "still waiting to be placed in line".to_owned(),
                },
            ),
            AccessDenied::Expired => Self::new(
                ErrorCode::QUEUE_TOKEN_EXPIRED,
                "the queue token has expired; ask for a new one",
            ),
            AccessDenied::WrongConcert => Self::new(
                ErrorCode::QUEUE_TOKEN_WRONG_CONCERT,
                "the queue token is for another concert",
            ),
        }
    }
}

impl From<IdempotencyConflict> for ApiError {
    fn from(conflict: IdempotencyConflict) -> Self {
        match conflict {
            IdempotencyConflict::InProgress => Self::new(
                ErrorCode::IDEMPOTENCY_REQUEST_IN_PROGRESS,
                "a request with this Idempotency-Key is still being processed",
            ),
            IdempotencyConflict::KeyReused => Self::new(
                ErrorCode::IDEMPOTENCY_KEY_REUSED,
                "this Idempotency-Key was used for a different request",
            ),
        }
    }
}

fn not_yours() -> ApiError {
    ApiError::new(
        ErrorCode::QUEUE_TOKEN_NOT_YOURS,
        "this queue token was issued to another fan",
    )
}

/// The bot gate's refusal; the route adds the fresh challenge.
pub(crate) fn pow_refused(refusal: PowRefusal) -> ApiError {
    let (code, message) = match refusal {
        PowRefusal::Missing => (
            ErrorCode::PROOF_OF_WORK_REQUIRED,
            "this concert asks for a solved challenge with every token request",
        ),
        PowRefusal::Wrong => (
            ErrorCode::PROOF_OF_WORK_REQUIRED,
            "the answer does not solve a challenge issued to you for this concert",
        ),
        PowRefusal::Expired => (
            ErrorCode::PROOF_OF_WORK_EXPIRED,
            "the challenge has expired; solve this one",
        ),
        PowRefusal::Replayed => (
            ErrorCode::PROOF_OF_WORK_REPLAYED,
            "this challenge was already used; solve this one",
        ),
    };
    ApiError::new(code, message)
}

impl From<ChangeRoomError> for ApiError {
    fn from(err: ChangeRoomError) -> Self {
        use boxoffice_core::domain::room::RoomRejected;
        match err {
            ChangeRoomError::ConcertNotFound => {
                Self::new(ErrorCode::CONCERT_NOT_FOUND, "no such concert")
            }
            ChangeRoomError::Rejected(RoomRejected::BadSetting(message)) => {
                Self::validation(message)
            }
            ChangeRoomError::Rejected(transition @ RoomRejected::Transition { .. }) => {
                Self::new(ErrorCode::ROOM_TRANSITION_INVALID, transition.to_string())
            }
            ChangeRoomError::Conflict => Self::new(
                ErrorCode::ROOM_CHANGED_CONCURRENTLY,
                "the room was changed by someone else meanwhile; read it and try again",
            ),
            ChangeRoomError::Unexpected(e) => Self::unexpected(e),
        }
    }
}

impl From<IssueTokenError> for ApiError {
    fn from(err: IssueTokenError) -> Self {
        match err {
            IssueTokenError::ConcertNotFound => {
                Self::new(ErrorCode::CONCERT_NOT_FOUND, "no such concert")
            }
            IssueTokenError::SaleNotOpen { pre_queue_opens_at } => Self::new(
                ErrorCode::SALE_NOT_OPEN,
                format!(
                    "the sale has not opened; its pre-queue opens at {}",
                    crate::wire::instant(pre_queue_opens_at)
                ),
            ),
            IssueTokenError::SaleClosed => Self::new(ErrorCode::SALE_CLOSED, "the sale is closed"),
            IssueTokenError::SoldOut => {
                Self::new(ErrorCode::SOLD_OUT, "every seat of this concert is sold")
            }
            // The route answers these itself, with a fresh challenge.
            IssueTokenError::ProofOfWork { refusal, .. } => pow_refused(refusal),
            IssueTokenError::Unexpected(e) => Self::unexpected(e),
        }
    }
}

impl From<PollTokenError> for ApiError {
    fn from(err: PollTokenError) -> Self {
        match err {
            PollTokenError::UnknownToken => AccessDenied::UnknownToken.into(),
            PollTokenError::NotYours => not_yours(),
            PollTokenError::Unexpected(e) => Self::unexpected(e),
        }
    }
}

impl From<ListSchedulesError> for ApiError {
    fn from(err: ListSchedulesError) -> Self {
        match err {
            ListSchedulesError::Access(denied) => denied.into(),
            ListSchedulesError::ConcertNotFound => {
                Self::new(ErrorCode::CONCERT_NOT_FOUND, "no such concert")
            }
            ListSchedulesError::Unexpected(e) => Self::unexpected(e),
        }
    }
}

impl From<ListSeatsError> for ApiError {
    fn from(err: ListSeatsError) -> Self {
        match err {
            ListSeatsError::Access(denied) => denied.into(),
            ListSeatsError::ScheduleNotFound => {
                Self::new(ErrorCode::SCHEDULE_NOT_FOUND, "no such schedule")
            }
            ListSeatsError::Unexpected(e) => Self::unexpected(e),
        }
    }
}

impl From<HoldSeatError> for ApiError {
    fn from(err: HoldSeatError) -> Self {
        match err {
            HoldSeatError::Access(denied) => denied.into(),
            HoldSeatError::ScheduleNotFound => {
                Self::new(ErrorCode::SCHEDULE_NOT_FOUND, "no such schedule")
            }
            HoldSeatError::DateCalledOff => Self::date_called_off(),
            HoldSeatError::Basket(BasketRefusal::TooMany { max }) => Self::new(
                ErrorCode::TOO_MANY_SEATS,
                format!("one hold takes at most {max} seats"),
            ),
            HoldSeatError::Basket(BasketRefusal::Repeated(seat)) => {
                Self::validation(format!("seat {seat} is asked for twice"))
            }
            HoldSeatError::Basket(BasketRefusal::Empty) => {
                Self::validation("seatNumbers names no seat")
            }
            HoldSeatError::SeatNotFound => {
                Self::new(ErrorCode::SEAT_NOT_FOUND, "no such seat on this schedule")
            }
            HoldSeatError::SeatAlreadyHeld => Self::new(
                ErrorCode::SEAT_ALREADY_HELD,
                "the seat is held by someone else",
            ),
            HoldSeatError::SeatAlreadySold => {
                Self::new(ErrorCode::SEAT_ALREADY_SOLD, "the seat is sold")
            }
            HoldSeatError::HoldLimitReached(HoldLimitReached::Live) => Self::new(
                ErrorCode::HOLD_LIMIT_REACHED,
                "you already hold as many seats as allowed; pay or release a hold first",
            ),
            HoldSeatError::HoldLimitReached(HoldLimitReached::Unfunded) => Self::new(
                ErrorCode::UNFUNDED_HOLD_LIMIT_REACHED,
                "with an empty balance you may hold no more seats; charge your balance first",
            ),
            HoldSeatError::HoldLimitReached(HoldLimitReached::Lapsed) => Self::new(
                ErrorCode::TOO_MANY_LAPSED_HOLDS,
                "too many of your holds were released or left unpaid lately; try again later",
            ),
            HoldSeatError::HoldLimitReached(HoldLimitReached::PerConcert) => Self::new(
                ErrorCode::PURCHASE_LIMIT_REACHED,
                "you hold or have bought as many seats of this concert as a fan may",
            ),
            HoldSeatError::Unexpected(e) => Self::unexpected(e),
        }
    }
}

impl ApiError {
    /// A request about a hold by someone other than its holder.
    fn hold_not_owned() -> Self {
        Self::new(
            ErrorCode::HOLD_NOT_OWNED,
            "the hold belongs to someone else",
        )
    }

    /// A release or an extension of a hold that has ended.
    fn hold_not_live() -> Self {
        Self::new(
            ErrorCode::HOLD_NOT_LIVE,
            "the hold is already paid, released or expired",
        )
    }
}

impl From<ExtendHoldError> for ApiError {
    fn from(err: ExtendHoldError) -> Self {
        match err {
            ExtendHoldError::HoldNotFound => Self::new(ErrorCode::HOLD_NOT_FOUND, "no such hold"),
            ExtendHoldError::NotYourHold => Self::hold_not_owned(),
            ExtendHoldError::HoldNotLive => Self::hold_not_live(),
            ExtendHoldError::AlreadyExtended => Self::new(
                ErrorCode::HOLD_ALREADY_EXTENDED,
                "the hold was extended already; a hold is extended once",
            ),
            ExtendHoldError::AtMaximum => Self::new(
                ErrorCode::HOLD_NOT_EXTENDABLE,
                "the hold already lasts as long as a hold may",
            ),
            ExtendHoldError::Unexpected(e) => Self::unexpected(e),
        }
    }
}

impl From<ReleaseHoldError> for ApiError {
    fn from(err: ReleaseHoldError) -> Self {
        match err {
            ReleaseHoldError::HoldNotFound => Self::new(ErrorCode::HOLD_NOT_FOUND, "no such hold"),
            ReleaseHoldError::NotYourHold => Self::hold_not_owned(),
            ReleaseHoldError::HoldNotLive => Self::hold_not_live(),
            ReleaseHoldError::Unexpected(e) => Self::unexpected(e),
        }
    }
}

impl From<JoinWaitlistError> for ApiError {
    fn from(err: JoinWaitlistError) -> Self {
        match err {
            JoinWaitlistError::ScheduleNotFound => {
                Self::new(ErrorCode::SCHEDULE_NOT_FOUND, "no such schedule")
            }
            JoinWaitlistError::DateCalledOff => Self::date_called_off(),
            JoinWaitlistError::NotSoldOut => Self::new(
                ErrorCode::SCHEDULE_NOT_SOLD_OUT,
                "a seat of the date can be held now; the waiting list opens when it sells out",
            ),
            JoinWaitlistError::Unexpected(e) => Self::unexpected(e),
        }
    }
}

impl From<LeaveWaitlistError> for ApiError {
    fn from(err: LeaveWaitlistError) -> Self {
        match err {
            LeaveWaitlistError::NotWaiting => Self::new(
                ErrorCode::NOT_ON_WAITLIST,
                "you are not waiting on this date's list (an offer is declined by releasing its hold)",
            ),
            LeaveWaitlistError::Unexpected(e) => Self::unexpected(e),
        }
    }
}

impl From<PayError> for ApiError {
    fn from(err: PayError) -> Self {
        match err {
            PayError::Conflict(conflict) => conflict.into(),
            PayError::Refused(refused) => match refused {
                PaymentRefused::HoldNotFound => {
                    Self::new(ErrorCode::HOLD_NOT_FOUND, "no such hold")
                }
                PaymentRefused::NotYourHold => Self::hold_not_owned(),
                PaymentRefused::WrongConcert => AccessDenied::WrongConcert.into(),
                PaymentRefused::HoldExpired => Self::new(
                    ErrorCode::HOLD_EXPIRED,
                    "the hold has expired; the seat was released",
                ),
                PaymentRefused::AlreadyPaid => {
                    Self::new(ErrorCode::HOLD_ALREADY_PAID, "the hold is already paid")
                }
                PaymentRefused::InsufficientBalance { balance, price } => Self::new(
                    ErrorCode::INSUFFICIENT_BALANCE,
                    format!(
                        "the balance of {} won does not cover the price of {} won",
                        balance.amount(),
                        price.amount()
                    ),
                ),
            },
            PayError::Unexpected(e) => Self::unexpected(e),
        }
    }
}

impl From<CancelError> for ApiError {
    fn from(err: CancelError) -> Self {
        match err {
            CancelError::Conflict(conflict) => conflict.into(),
            CancelError::Refused(refused) => match refused {
                CancelRefused::NotFound => {
                    Self::new(ErrorCode::RESERVATION_NOT_FOUND, "no such reservation")
                }
                CancelRefused::NotYours => Self::new(
                    ErrorCode::RESERVATION_NOT_OWNED,
                    "the reservation belongs to someone else",
                ),
                CancelRefused::AlreadyCancelled => Self::new(
                    ErrorCode::RESERVATION_ALREADY_CANCELLED,
                    "the reservation is already cancelled; it was refunded once",
                ),
                CancelRefused::Closed { deadline } => Self::new(
                    ErrorCode::CANCELLATION_CLOSED,
                    format!(
                        "cancelling this reservation closed at {}",
                        crate::wire::instant(deadline)
                    ),
                ),
                // Only the organiser's refund round meets this; no fan route does.
                CancelRefused::DateGoesAhead => Self::new(
                    ErrorCode::CANCELLATION_CLOSED,
                    "only the reservations of a called-off date are cancelled by the organiser",
                ),
            },
            CancelError::Unexpected(e) => Self::unexpected(e),
        }
    }
}

impl From<ChargeError> for ApiError {
    fn from(err: ChargeError) -> Self {
        match err {
            ChargeError::Invalid(rejected) => Self::validation(rejected.to_string()),
            ChargeError::Refused(ChargeRefused::LimitExceeded { balance, max }) => Self::new(
                ErrorCode::BALANCE_LIMIT_EXCEEDED,
                format!(
                    "this charge would take the balance of {} won past the limit of {} won",
                    balance.amount(),
                    max.amount()
                ),
            ),
            ChargeError::Conflict(conflict) => conflict.into(),
            ChargeError::Unexpected(e) => Self::unexpected(e),
        }
    }
}

impl From<UpdateConcertError> for ApiError {
    fn from(err: UpdateConcertError) -> Self {
        match err {
            UpdateConcertError::Invalid(rejected) => Self::validation(rejected.to_string()),
            UpdateConcertError::ConcertNotFound => {
                Self::new(ErrorCode::CONCERT_NOT_FOUND, "no such concert")
            }
            UpdateConcertError::ScheduleNotFound(id) => Self::new(
                ErrorCode::SCHEDULE_NOT_FOUND,
                format!("schedule {id} is not one of the concert's dates"),
            ),
            UpdateConcertError::ScheduleOnSale(id) => Self::new(
                ErrorCode::SCHEDULE_ON_SALE,
                format!(
                    "schedule {id} is on sale (a seat of it is held or sold): its time and venue stay"
                ),
            ),
            UpdateConcertError::Unexpected(e) => Self::unexpected(e),
        }
    }
}

impl From<CallOffError> for ApiError {
    fn from(err: CallOffError) -> Self {
        match err {
            CallOffError::ConcertNotFound => {
                Self::new(ErrorCode::CONCERT_NOT_FOUND, "no such concert")
            }
            CallOffError::ScheduleNotFound(id) => Self::new(
                ErrorCode::SCHEDULE_NOT_FOUND,
                format!("schedule {id} is not one of the concert's dates"),
            ),
            CallOffError::Unexpected(e) => Self::unexpected(e),
        }
    }
}

impl From<CreateConcertError> for ApiError {
    fn from(err: CreateConcertError) -> Self {
        match err {
            CreateConcertError::Invalid(rejected) => Self::validation(rejected.to_string()),
            CreateConcertError::Unexpected(e) => Self::unexpected(e),
        }
    }
}

impl From<ReplayError> for ApiError {
    fn from(err: ReplayError) -> Self {
        match err {
            ReplayError::NotFound => Self::new(
                ErrorCode::DEAD_LETTER_NOT_FOUND,
                "no dead letter has this id",
            ),
            ReplayError::AlreadyReplayed => Self::new(
                ErrorCode::DEAD_LETTER_ALREADY_REPLAYED,
                "this dead letter was already replayed",
            ),
            ReplayError::InProgress => Self::new(
                ErrorCode::DEAD_LETTER_REPLAY_IN_PROGRESS,
                "another replay of this dead letter is under way; read it again in a moment",
            ),
            ReplayError::DeliveryFailed(reason) => Self::new(
                ErrorCode::DELIVERY_FAILED,
                format!("the consumer failed again: {reason}"),
            ),
            ReplayError::Unexpected(e) => Self::unexpected(e),
        }
    }
}
