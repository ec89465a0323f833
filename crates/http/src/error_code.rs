//! [`ErrorCode`]: every stable code the API answers with, and the one
//! HTTP status each is answered with. An [`crate::ApiError`] is made from a
//! code, so a code cannot be answered under two statuses, and the list
//! below is the whole set: docs/API.md's "Error codes" table is tested
//! against [`ErrorCode::ALL`], and the OpenAPI document lists a route's
//! codes from it.

use axum::http::StatusCode;

macro_rules! error_codes {
    ($($code:ident = $status:ident,)+) => {
        /// A stable error code; its name is the code on the wire.
        #[allow(non_camel_case_types)]
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum ErrorCode {
            $($code,)+
        }

        impl ErrorCode {
            /// Every code, in docs/API.md's order.
            pub const ALL: &[ErrorCode] = &[$(ErrorCode::$code,)+];

            /// The code as clients see it.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(ErrorCode::$code => stringify!($code),)+
                }
            }

            /// The status every answer with this code has.
            pub const fn status(self) -> StatusCode {
                match self {
                    $(ErrorCode::$code => StatusCode::$status,)+
                }
            }
        }
    };
}

error_codes! {
    MALFORMED_JSON = BAD_REQUEST,
    INVALID_REQUEST_BODY = BAD_REQUEST,
    TOO_MANY_SEATS = BAD_REQUEST,
    VALIDATION_FAILED = BAD_REQUEST,
    INVALID_PATH_PARAMETER = BAD_REQUEST,
    INVALID_CLIENT_ID = BAD_REQUEST,
    INVALID_IDEMPOTENCY_KEY = BAD_REQUEST,
    DUPLICATE_HEADER = BAD_REQUEST,
    AUTH_REQUIRED = UNAUTHORIZED,
    AUTH_INVALID = UNAUTHORIZED,
    AUTH_EXPIRED = UNAUTHORIZED,
    CLIENT_ID_REQUIRED = UNAUTHORIZED,
    QUEUE_TOKEN_REQUIRED = UNAUTHORIZED,
    QUEUE_TOKEN_INVALID = UNAUTHORIZED,
    QUEUE_TOKEN_EXPIRED = UNAUTHORIZED,
    ADMIN_KEY_INVALID = UNAUTHORIZED,
    QUEUE_TOKEN_NOT_ACTIVE = FORBIDDEN,
    QUEUE_TOKEN_NOT_YOURS = FORBIDDEN,
    QUEUE_TOKEN_WRONG_CONCERT = FORBIDDEN,
    HOLD_NOT_OWNED = FORBIDDEN,
    RESERVATION_NOT_OWNED = FORBIDDEN,
    PROOF_OF_WORK_REQUIRED = FORBIDDEN,
    PROOF_OF_WORK_EXPIRED = FORBIDDEN,
    PROOF_OF_WORK_REPLAYED = FORBIDDEN,
    ADMIN_DISABLED = FORBIDDEN,
    ADMIN_ROLE_REQUIRED = FORBIDDEN,
    DEV_SIGN_IN_DISABLED = FORBIDDEN,
    NOT_FOUND = NOT_FOUND,
    CONCERT_NOT_FOUND = NOT_FOUND,
    SCHEDULE_NOT_FOUND = NOT_FOUND,
    SEAT_NOT_FOUND = NOT_FOUND,
    HOLD_NOT_FOUND = NOT_FOUND,
    RESERVATION_NOT_FOUND = NOT_FOUND,
    DEAD_LETTER_NOT_FOUND = NOT_FOUND,
    ADMISSION_NOT_FOUND = NOT_FOUND,
    LOTTERY_NOT_DRAWN = NOT_FOUND,
    METHOD_NOT_ALLOWED = METHOD_NOT_ALLOWED,
    SALE_NOT_OPEN = CONFLICT,
    SALE_CLOSED = CONFLICT,
    SOLD_OUT = CONFLICT,
    SEAT_ALREADY_HELD = CONFLICT,
    SEAT_ALREADY_SOLD = CONFLICT,
    HOLD_LIMIT_REACHED = CONFLICT,
    UNFUNDED_HOLD_LIMIT_REACHED = CONFLICT,
    TOO_MANY_LAPSED_HOLDS = CONFLICT,
    PURCHASE_LIMIT_REACHED = CONFLICT,
    SCHEDULE_NOT_SOLD_OUT = CONFLICT,
    NOT_ON_WAITLIST = NOT_FOUND,
    SCHEDULE_CANCELLED = CONFLICT,
    SCHEDULE_ON_SALE = CONFLICT,
    HOLD_NOT_LIVE = CONFLICT,
    HOLD_ALREADY_EXTENDED = CONFLICT,
    HOLD_NOT_EXTENDABLE = CONFLICT,
    HOLD_EXPIRED = CONFLICT,
    HOLD_ALREADY_PAID = CONFLICT,
    INSUFFICIENT_BALANCE = CONFLICT,
    RESERVATION_ALREADY_CANCELLED = CONFLICT,
    CANCELLATION_CLOSED = CONFLICT,
    BALANCE_LIMIT_EXCEEDED = CONFLICT,
    IDEMPOTENCY_REQUEST_IN_PROGRESS = CONFLICT,
    DEAD_LETTER_ALREADY_REPLAYED = CONFLICT,
    DEAD_LETTER_REPLAY_IN_PROGRESS = CONFLICT,
    ROOM_TRANSITION_INVALID = CONFLICT,
    ROOM_CHANGED_CONCURRENTLY = CONFLICT,
    REQUEST_TIMEOUT = REQUEST_TIMEOUT,
    PAYLOAD_TOO_LARGE = PAYLOAD_TOO_LARGE,
    URI_TOO_LONG = URI_TOO_LONG,
    UNSUPPORTED_MEDIA_TYPE = UNSUPPORTED_MEDIA_TYPE,
    IDEMPOTENCY_KEY_REUSED = UNPROCESSABLE_ENTITY,
    RATE_LIMITED = TOO_MANY_REQUESTS,
    HEADERS_TOO_LARGE = REQUEST_HEADER_FIELDS_TOO_LARGE,
    INTERNAL_ERROR = INTERNAL_SERVER_ERROR,
    DELIVERY_FAILED = BAD_GATEWAY,
    SERVICE_UNAVAILABLE = SERVICE_UNAVAILABLE,
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for ErrorCode {
    type Err = ();

    /// The code named `text`, if there is one.
    fn from_str(text: &str) -> Result<Self, ()> {
        Self::ALL
            .iter()
            .copied()
            .find(|code| code.as_str() == text)
            .ok_or(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_is_an_error_status_and_is_named_once() {
        let mut seen = std::collections::HashSet::new();
        for code in ErrorCode::ALL {
            assert!(
                code.status().is_client_error() || code.status().is_server_error(),
                "{code}"
            );
            assert!(seen.insert(code.as_str()), "{code} twice");
            assert_eq!(code.as_str().parse::<ErrorCode>(), Ok(*code));
        }
        assert_eq!("SUCCESS".parse::<ErrorCode>(), Err(()));
    }
}
