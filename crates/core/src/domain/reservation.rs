//! Confirmed sales.

use super::{ConcertId, HoldId, ReservationId, ScheduleId, SeatNumber, Timestamp, UserId, Won};
use serde::{Deserialize, Serialize};

/// A seat sold to a user.
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
