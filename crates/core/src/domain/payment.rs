//! Paying for a hold: the attempt, with every id the sale needs, the rule
//! for whether this payer may pay this hold now, the reservations a payment
//! creates (one per seat of the hold), and why a payment is refused.

use super::reservation::Reservation;
use super::seat_hold::{Basket, Hold, PaymentRefusal};
use super::{EventId, HoldId, ReservationId, Timestamp, UserId, Won};
use serde::{Deserialize, Serialize};

/// A payment to make: everything the transaction needs, ids included, so that
/// the store generates nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentAttempt {
    pub user_id: UserId,
    pub hold_id: HoldId,
    pub now: Timestamp,
    /// The ids of the sales, one per seat of the hold in seat order; the
    /// payer does not know how many seats the hold has, so it brings
    /// [`Basket::MOST_SEATS`] and the store uses as many as it needs.
    pub sales: Vec<SaleIds>,
}

/// The ids one seat's sale needs: its reservation's and its
/// `ReservationConfirmed` event's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SaleIds {
    pub reservation_id: ReservationId,
    pub event_id: EventId,
}

/// One seat sold by a payment: the reservation, and the id of the event
/// that announces it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sale {
    pub reservation: Reservation,
    pub event_id: EventId,
}

impl PaymentAttempt {
    /// The hold `found` under this attempt's id, if this payer may pay for
    /// it now (the domain's rule: the holder, once, before it ends), or why not.
    pub fn payable(&self, found: Option<Hold>) -> Result<Hold, PaymentRefused> {
        let hold = found.ok_or(PaymentRefused::HoldNotFound)?;
        hold.check_payable(self.user_id, self.now)?;
        Ok(hold)
    }

    /// The sales that paying for `hold` makes: one reservation per seat, in
    /// seat order. `None` when the attempt brings fewer ids than the hold
    /// has seats (never, for a hold of at most [`Basket::MOST_SEATS`]).
    pub fn sale(&self, hold: &Hold) -> Option<Vec<Sale>> {
        if self.sales.len() < hold.seats.len() {
            return None;
        }
        let sales = hold.seats.iter().zip(&self.sales).map(|(seat, ids)| Sale {
            reservation: Reservation {
                id: ids.reservation_id,
                user_id: self.user_id,
                concert_id: hold.concert_id,
                schedule_id: hold.schedule_id,
                seat_number: seat.number,
                price: seat.price,
                hold_id: hold.id,
                confirmed_at: self.now,
                cancellation: None,
            },
            event_id: ids.event_id,
        });
        Some(sales.collect())
    }
}

/// How many sale ids a payment brings: enough for the largest basket.
pub const SALE_IDS_PER_PAYMENT: usize = Basket::MOST_SEATS as usize;

/// Why a payment changed nothing. Serialisable: it is what an idempotent
/// repeat of a refused payment answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum PaymentRefused {
    HoldNotFound,
    NotYourHold,
    /// The hold was for another concert than the payer's queue token. Only
    /// in answers recorded while payments needed a queue token; a payment
    /// now needs the hold's owner only, and is never refused so.
    WrongConcert,
    HoldExpired,
    AlreadyPaid,
    InsufficientBalance {
        balance: Won,
        price: Won,
    },
}

impl From<PaymentRefusal> for PaymentRefused {
    fn from(refusal: PaymentRefusal) -> Self {
        match refusal {
            PaymentRefusal::NotYourHold => PaymentRefused::NotYourHold,
            PaymentRefusal::AlreadyPaid => PaymentRefused::AlreadyPaid,
            PaymentRefusal::Expired => PaymentRefused::HoldExpired,
        }
    }
}
