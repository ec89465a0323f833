//! The pure rules of boxoffice: values, states and the decisions made on them.
//!
//! Nothing here performs I/O or reads the time; the current instant is always
//! passed in as a [`Timestamp`].
//!
//! Layout:
//! - [`ids`]: identifiers (users, concerts, schedules, seats, holds, reservations, events).
//! - [`time`]: [`Timestamp`] in epoch milliseconds.
//! - [`money`]: [`Won`], whole won as an integer.
//! - [`concert`]: concerts, schedules and the seat layout an admin may create.
//! - [`seat`]: seat status as seen at an instant.
//! - [`seat_hold`]: holds, their lifetime and the per-user limit.
//! - [`queue_token`]: the waiting-room token, its states, admission and ETA arithmetic.
//! - [`balance`]: the prepaid balance and its bounds.
//! - [`payment`]: paying for a hold: who may, and the sale it makes.
//! - [`reservation`]: a sale, confirmed or cancelled, and the receipt shown to the buyer.
//! - [`cancellation`]: cancelling a reservation: the deadline, the fee and the refund.
//! - [`ledger`]: the double-entry ledger and its reconciliation.
//! - [`events`]: the events other systems learn of, as written to the outbox.
//! - [`delivery`]: retrying consumers, backoff with jitter, and dead letters.
//! - [`idempotency`]: keys and request fingerprints for safely retried commands.
//! - [`identity`]: fans' subjects and the user ids they map to.
//! - [`access`]: queue tickets, admission passes and proof-of-work challenges.
//! - [`room`]: a concert's room as its operator runs it: states, settings,
//!   the sale's times, the pre-queue lottery, the wait estimate.
//! - [`sample`]: a sale's figures at an instant, for the operator's charts.
//! - [`waitlist`]: a sold-out date's waiting list and the offers made from it.

pub mod access;
pub mod balance;
pub mod cancellation;
pub mod concert;
pub mod delivery;
pub mod events;
pub mod idempotency;
pub mod identity;
pub mod ids;
pub mod ledger;
pub mod money;
pub mod payment;
pub mod queue_token;
pub mod reservation;
pub mod room;
pub mod sample;
pub mod seat;
pub mod seat_hold;
pub mod time;
pub mod waitlist;

pub use ids::{ConcertId, EventId, HoldId, ReservationId, ScheduleId, SeatNumber, TokenId, UserId};
pub use money::Won;
pub use time::Timestamp;
