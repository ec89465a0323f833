//! Sales: confirmed, and cancelled for a refund. A payment for a hold of
//! several seats makes one reservation per seat, each cancellable alone.

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

/// What the payer is told: the reservation of each seat paid for, the total
/// and the balance left. It is also what an idempotent repeat of the
/// payment returns, so it is serialisable, and it still reads the receipts
/// of one seat stored before holds took baskets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "StoredReceipt")]
pub struct PaymentReceipt {
    /// One per seat, in seat order; never empty.
    pub reservations: Vec<SoldSeat>,
    pub concert_id: ConcertId,
    pub schedule_id: ScheduleId,
    /// What the payment debited: the sum of the seats' prices.
    pub price: Won,
    pub balance: Won,
    /// When the sale was recorded. Absent from receipts stored (for
    /// idempotent repeats) before it was kept.
    #[serde(default)]
    pub confirmed_at: Option<Timestamp>,
}

/// A seat a payment sold, and the reservation that now holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SoldSeat {
    pub reservation_id: ReservationId,
    pub seat_number: SeatNumber,
    pub price: Won,
}

/// A receipt as stored: with `reservations`, or, before baskets, the one
/// reservation's id and seat at the top.
#[derive(Deserialize)]
struct StoredReceipt {
    #[serde(default)]
    reservations: Vec<SoldSeat>,
    reservation_id: Option<ReservationId>,
    seat_number: Option<SeatNumber>,
    concert_id: ConcertId,
    schedule_id: ScheduleId,
    price: Won,
    balance: Won,
    #[serde(default)]
    confirmed_at: Option<Timestamp>,
}

impl TryFrom<StoredReceipt> for PaymentReceipt {
    type Error = &'static str;

    fn try_from(stored: StoredReceipt) -> Result<Self, Self::Error> {
        let reservations = match (
            stored.reservations.is_empty(),
            stored.reservation_id,
            stored.seat_number,
        ) {
            (false, _, _) => stored.reservations,
            (true, Some(reservation_id), Some(seat_number)) => vec![SoldSeat {
                reservation_id,
                seat_number,
                price: stored.price,
            }],
            (true, _, _) => return Err("a payment receipt names no reservation"),
        };
        Ok(Self {
            reservations,
            concert_id: stored.concert_id,
            schedule_id: stored.schedule_id,
            price: stored.price,
            balance: stored.balance,
            confirmed_at: stored.confirmed_at,
        })
    }
}

impl PaymentReceipt {
    /// The receipt for the reservations one payment made (one per seat, in
    /// seat order, at least one), with the balance left after paying.
    pub fn of(reservations: &[Reservation], balance: Won) -> Option<Self> {
        let first = reservations.first()?;
        Some(Self {
            reservations: reservations
                .iter()
                .map(|r| SoldSeat {
                    reservation_id: r.id,
                    seat_number: r.seat_number,
                    price: r.price,
                })
                .collect(),
            concert_id: first.concert_id,
            schedule_id: first.schedule_id,
            price: reservations
                .iter()
                .fold(Won::ZERO, |sum, r| sum.saturating_add(r.price)),
            balance,
            confirmed_at: Some(first.confirmed_at),
        })
    }
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
}
