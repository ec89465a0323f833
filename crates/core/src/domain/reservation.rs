//! Sales: confirmed, and cancelled for a refund.

use super::{ConcertId, HoldId, ReservationId, ScheduleId, SeatNumber, Timestamp, UserId, Won};
use serde::{Deserialize, Serialize};

/// A seat sold to a user; `cancellation` is set once they cancelled it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reservation {
    pub id: ReservationId,
    pub user_id: UserId,
    pub concert_id: ConcertId,
    pub schedule_id: ScheduleId,
    pub seat_number: SeatNumber,
    pub price: Won,
    pub hold_id: HoldId,
    pub confirmed_at: Timestamp,
    pub cancellation: Option<Cancellation>,
}

/// When a reservation was cancelled, what it refunded and what it kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cancellation {
    pub at: Timestamp,
    pub refund: Won,
    pub fee: Won,
}

/// What the payer is told: the reservation and the balance left. It is also
/// what an idempotent repeat of the payment returns, so it is serialisable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentReceipt {
    pub reservation_id: ReservationId,
    pub concert_id: ConcertId,
    pub schedule_id: ScheduleId,
    pub seat_number: SeatNumber,
    pub price: Won,
    pub balance: Won,
    /// When the sale was recorded. Absent from receipts stored (for
    /// idempotent repeats) before it was kept.
    #[serde(default)]
    pub confirmed_at: Option<Timestamp>,
}

impl Reservation {
    /// `CONFIRMED` or `CANCELLED`, as stored and shown.
    pub fn status(&self) -> &'static str {
        if self.cancellation.is_some() {
            "CANCELLED"
        } else {
            "CONFIRMED"
        }
    }

    /// The receipt for this reservation, with the balance left after paying.
    pub fn receipt(&self, balance: Won) -> PaymentReceipt {
        PaymentReceipt {
            reservation_id: self.id,
            concert_id: self.concert_id,
            schedule_id: self.schedule_id,
            seat_number: self.seat_number,
            price: self.price,
            balance,
            confirmed_at: Some(self.confirmed_at),
        }
    }
}
