//! Seats of a schedule and their status at an instant.
//!
//! A seat row remembers who last held it and until when; whether it is free
//! is decided by comparing that instant with `now`. An expired hold therefore
//! never blocks anyone, even before the sweeper has tidied it up.

use super::{SeatNumber, Timestamp, Won};

/// What a buyer sees of a seat.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SeatStatus {
    Available,
    Held,
    Sold,
}

impl SeatStatus {
    pub const fn as_str(self) -> &'static str {
        match self {
            SeatStatus::Available => "AVAILABLE",
            SeatStatus::Held => "HELD",
            SeatStatus::Sold => "SOLD",
        }
    }
}

/// The stored state of a seat, before `now` is applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeatState {
    Open,
    HeldUntil(Timestamp),
    Sold,
}

impl SeatState {
    /// The status at `now`: a hold whose end has come is no hold at all.
    pub fn status_at(self, now: Timestamp) -> SeatStatus {
        match self {
            SeatState::Open => SeatStatus::Available,
            SeatState::HeldUntil(until) if until > now => SeatStatus::Held,
            SeatState::HeldUntil(_) => SeatStatus::Available,
            SeatState::Sold => SeatStatus::Sold,
        }
    }
}

/// A seat as listed to a buyer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seat {
    pub number: SeatNumber,
    pub grade: String,
    pub price: Won,
    pub status: SeatStatus,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hold_stops_blocking_the_instant_it_ends() {
        let until = Timestamp::from_millis(1_000);
        let state = SeatState::HeldUntil(until);
        assert_eq!(
            state.status_at(Timestamp::from_millis(999)),
            SeatStatus::Held
        );
        assert_eq!(state.status_at(until), SeatStatus::Available);
        assert_eq!(SeatState::Sold.status_at(until), SeatStatus::Sold);
    }
}
