//! The booking port: holds on seats and the payments that turn them into
//! reservations. A hold is exclusive and ends by itself; a payment debits
//! the balance, sells the seat, creates the reservation and appends its
//! event in one transaction; a cancellation undoes a sale for a refund in
//! one transaction.

pub use crate::domain::cancellation::{CancelAttempt, CancelRefused, CancellationReceipt};
use crate::domain::idempotency::IdempotencyTicket;
pub use crate::domain::payment::{PaymentAttempt, PaymentRefused, SaleIds};
use crate::domain::reservation::{PaymentReceipt, Reservation};
use crate::domain::seat_hold::{
    Basket, ExtendRefusal, Hold, HoldExtension, HoldLimitReached, HoldLimits,
};
use crate::domain::{ConcertId, HoldId, ScheduleId, Timestamp, UserId};
use async_trait::async_trait;

/// A hold to place: the seats, who wants them, until when, and the fan's limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HoldAttempt {
    pub hold_id: HoldId,
    pub user_id: UserId,
    pub schedule_id: ScheduleId,
    /// Held all together or not at all.
    pub seats: Basket,
    pub now: Timestamp,
    pub expires_at: Timestamp,
    /// Applied inside the hold's transaction ([`HoldLimits::refusal`]).
    pub limits: HoldLimits,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HoldOutcome {
    Held(Hold),
    /// Someone (possibly the caller) holds a seat of the basket and the
    /// hold is live.
    SeatTaken,
    /// A seat of the basket is sold.
    SeatSold,
    /// A seat of the basket does not exist.
    NoSuchSeat,
    /// One of the fan's limits stops this hold.
    LimitReached(HoldLimitReached),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReleaseOutcome {
    /// Released; its seats, of this concert, are free again.
    Released(ConcertId),
    NotFound,
    NotYours,
    /// Already paid, released or expired.
    NotLive,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PaymentOutcome {
    Confirmed(PaymentReceipt),
    Refused(PaymentRefused),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CancelOutcome {
    Cancelled(CancellationReceipt),
    Refused(CancelRefused),
}

/// What asking to extend a hold came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExtendOutcome {
    /// Extended: the hold as it is now, with its new expiry.
    Extended(Hold),
    NotFound,
    Refused(ExtendRefusal),
}

#[async_trait]
pub trait Booking: Send + Sync + std::fmt::Debug {
    /// Holds every seat of the basket if each is free at `now` (never held,
    /// or its hold has ended) and the user is under the limits, claiming
    /// them in ascending order; otherwise holds none.
    async fn hold_seat(&self, attempt: &HoldAttempt) -> anyhow::Result<HoldOutcome>;
    /// Lets a live hold go at the holder's request.
    async fn release_hold(
        &self,
        user: UserId,
        hold: HoldId,
        now: Timestamp,
    ) -> anyhow::Result<ReleaseOutcome>;
    /// Extends `user`'s hold by `extension`'s rule
    /// ([`HoldExtension::new_expiry`]): the hold and its seats stay held
    /// until the new expiry. Once per hold, exact under concurrency.
    async fn extend_hold(
        &self,
        user: UserId,
        hold: HoldId,
        now: Timestamp,
        extension: HoldExtension,
    ) -> anyhow::Result<ExtendOutcome>;
    /// The user's live holds at `now`, newest first.
    async fn live_holds_of(&self, user: UserId, now: Timestamp) -> anyhow::Result<Vec<Hold>>;
    /// Marks up to `limit` holds that ended before `now` as released; returns how many.
    async fn release_expired_holds(&self, now: Timestamp, limit: u32) -> anyhow::Result<u64>;

    /// Debits the hold's price, sells its seats, creates a reservation per
    /// seat, consumes the hold, appends a `ReservationConfirmed` per
    /// reservation to the outbox and records the answer under `ticket`: all
    /// or nothing (a fresh ticket's key found taken fails it with
    /// `KeyTaken`, having changed nothing).
    async fn confirm_payment(
        &self,
        attempt: &PaymentAttempt,
        ticket: Option<&IdempotencyTicket>,
    ) -> anyhow::Result<PaymentOutcome>;
    /// Cancels the reservation by [`CancelAttempt::cancellable`]'s rule:
    /// marks it cancelled, refunds the quote to the balance (with its
    /// ledger entry), puts the seat back on sale, appends
    /// `ReservationCancelled` and records the answer under `ticket`: all or
    /// nothing (`KeyTaken` as for payments), and once however many
    /// cancellations race.
    async fn cancel_reservation(
        &self,
        attempt: &CancelAttempt,
        ticket: Option<&IdempotencyTicket>,
    ) -> anyhow::Result<CancelOutcome>;
    /// Up to `limit` confirmed reservations on called-off dates, by id:
    /// what the organiser's refund round has left to refund.
    async fn reservations_to_refund(&self, limit: u32) -> anyhow::Result<Vec<Reservation>>;
    /// The user's reservations, confirmed and cancelled, newest first.
    async fn reservations_of(&self, user: UserId) -> anyhow::Result<Vec<Reservation>>;
}
