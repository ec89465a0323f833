//! Identifiers. Each is its own type so a seat number can never be passed
//! where a schedule id is expected; each validates its range on construction.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use uuid::Uuid;

/// Why a value could not become an identifier.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidId(pub &'static str);

macro_rules! positive_id {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(i64);

        impl $name {
            pub fn new(value: i64) -> Result<Self, InvalidId> {
                if value > 0 {
                    Ok(Self(value))
                } else {
                    Err(InvalidId(concat!($what, " must be a positive integer")))
                }
            }

            pub const fn get(self) -> i64 {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

positive_id!(
    /// A fan: the subject of their access token (see [`super::identity`]), or
    /// the `Client-Id` an authenticating gateway asserts.
    UserId,
    "user id"
);
positive_id!(
    /// A concert (a show that may run on several dates).
    ConcertId,
    "concert id"
);
positive_id!(
    /// One date of a concert, with its own 1-50 seats.
    ScheduleId,
    "schedule id"
);

/// A seat of a schedule, numbered from 1 to [`SeatNumber::MAX`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SeatNumber(u8);

impl SeatNumber {
    /// The largest seat number a schedule may have.
    pub const MAX: u8 = 50;

    pub fn new(value: i64) -> Result<Self, InvalidId> {
        match u8::try_from(value) {
            Ok(n) if (1..=Self::MAX).contains(&n) => Ok(Self(n)),
            _ => Err(InvalidId("seat number must be between 1 and 50")),
        }
    }

    pub const fn get(self) -> u8 {
        self.0
    }
}

impl fmt::Display for SeatNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            pub const fn from_uuid(uuid: Uuid) -> Self {
                Self(uuid)
            }

            pub const fn as_uuid(&self) -> &Uuid {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = InvalidId;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::try_parse(s)
                    .map(Self)
                    .map_err(|_| InvalidId(concat!($what, " must be a UUID")))
            }
        }
    };
}

uuid_id!(
    /// A seat hold (random UUIDv4).
    HoldId,
    "hold id"
);
uuid_id!(
    /// A confirmed reservation (random UUIDv4).
    ReservationId,
    "reservation id"
);
uuid_id!(
    /// An outbox event (UUIDv7: time-ordered, so ids sort roughly by creation).
    EventId,
    "event id"
);

/// A queue token: 128 bits from a CSPRNG, shown to clients as 32 lowercase hex
/// digits. It is a bearer secret; it is never logged and never put in an event.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TokenId([u8; 16]);

impl TokenId {
    pub const fn from_bytes(bytes: [u8; 16]) -> Self {
        Self(bytes)
    }

    pub const fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }
}

impl fmt::Display for TokenId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

/// Redacted: a token is a credential.
impl fmt::Debug for TokenId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenId(..)")
    }
}

impl FromStr for TokenId {
    type Err = InvalidId;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        const BAD: InvalidId = InvalidId("queue token must be 32 hexadecimal digits");
        let bytes = s.as_bytes();
        if bytes.len() != 32 {
            return Err(BAD);
        }
        let mut out = [0u8; 16];
        for (i, pair) in bytes.chunks_exact(2).enumerate() {
            let hi = hex_value(pair[0]).ok_or(BAD)?;
            let lo = hex_value(pair[1]).ok_or(BAD)?;
            out[i] = (hi << 4) | lo;
        }
        Ok(Self(out))
    }
}

fn hex_value(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn ids_reject_zero_and_negative_values() {
        assert!(UserId::new(0).is_err());
        assert!(ConcertId::new(-3).is_err());
        assert_eq!(ScheduleId::new(7).map(ScheduleId::get), Ok(7));
    }

    #[test]
    fn seat_numbers_run_from_1_to_50() {
        assert!(SeatNumber::new(0).is_err());
        assert!(SeatNumber::new(51).is_err());
        assert!(SeatNumber::new(1).is_ok());
        assert!(SeatNumber::new(50).is_ok());
        assert!(SeatNumber::new(256 + 1).is_err());
    }

    #[test]
    fn token_debug_output_does_not_leak_the_secret() {
        let token = TokenId::from_bytes([0xab; 16]);
        assert_eq!(format!("{token:?}"), "TokenId(..)");
    }

    #[test]
    fn token_parsing_rejects_wrong_length_and_non_hex() {
        assert!("abc".parse::<TokenId>().is_err());
        assert!("zz".repeat(16).parse::<TokenId>().is_err());
        assert!("é".repeat(16).parse::<TokenId>().is_err());
    }

    proptest! {
        #[test]
        fn token_text_round_trips(bytes in any::<[u8; 16]>()) {
            let token = TokenId::from_bytes(bytes);
            let text = token.to_string();
            prop_assert_eq!(text.len(), 32);
            prop_assert_eq!(text.parse::<TokenId>(), Ok(token));
        }
    }
}
