//! Paying for a hold: the attempt, with every id the sale needs, the rule
//! for whether this payer may pay this hold now, the reservation a payment
//! creates, and why a payment is refused.

use super::reservation::Reservation;
use super::seat_hold::{Hold, PaymentRefusal};
use super::{EventId, HoldId, ReservationId, Timestamp, UserId, Won};
use serde::{Deserialize, Serialize};

/// A payment to make: everything the transaction needs, ids included, so that
/// the store generates nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentAttempt {
    pub user_id: UserId,
    pub hold_id: HoldId,
    pub now: Timestamp,
    pub reservation_id: ReservationId,
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

    /// The reservation that paying for `hold` creates.
    pub fn sale(&self, hold: &Hold) -> Reservation {
        Reservation {
            id: self.reservation_id,
            user_id: self.user_id,
            concert_id: hold.concert_id,
            schedule_id: hold.schedule_id,
            seat_number: hold.seat_number,
            price: hold.price,
            hold_id: hold.id,
            confirmed_at: self.now,
            cancellation: None,
        }
    }
}

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
