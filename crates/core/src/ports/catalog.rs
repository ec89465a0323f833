//! The catalog port: concerts, their dates and seats as fans browse them,
//! the entry rules of each concert's line, and each concert's own
//! cancellation policy.

use crate::domain::cancellation::CancellationPolicy;
use crate::domain::concert::{
    Concert, ConcertChange, EntryRules, NewConcert, Schedule, ScheduleAvailability,
};
use crate::domain::seat::Seat;
use crate::domain::{ConcertId, ScheduleId, Timestamp};
use async_trait::async_trait;

/// What an operator's change to a concert came to. Refused, it changed nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpdateConcertOutcome {
    Updated,
    NotFound,
    /// The date is not the concert's.
    ScheduleNotFound(ScheduleId),
    /// A seat of the date is held or sold: its time and venue stay.
    ScheduleOnSale(ScheduleId),
}

/// What calling off dates came to. Refused, it changed nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CancelDatesOutcome {
    /// The dates this call cancelled, in id order (none when every one
    /// asked for was cancelled already), and how many live holds on them
    /// it released.
    Cancelled {
        called_off: Vec<ScheduleId>,
        released_holds: u64,
    },
    NotFound,
    /// The date is not the concert's.
    ScheduleNotFound(ScheduleId),
}

#[async_trait]
pub trait Catalog: Send + Sync + std::fmt::Debug {
    async fn list_concerts(&self) -> anyhow::Result<Vec<Concert>>;
    async fn concert(&self, id: ConcertId) -> anyhow::Result<Option<Concert>>;
    async fn schedule(&self, id: ScheduleId) -> anyhow::Result<Option<Schedule>>;
    /// The concert's schedules by start time, with seats free at `now`.
    async fn schedules_with_availability(
        &self,
        concert: ConcertId,
        now: Timestamp,
    ) -> anyhow::Result<Vec<ScheduleAvailability>>;
    /// The schedule's seats by number, with their status at `now`.
    async fn seats(&self, schedule: ScheduleId, now: Timestamp) -> anyhow::Result<Vec<Seat>>;
    /// Creates a concert, its schedules and every schedule's seats.
    async fn create_concert(
        &self,
        concert: &NewConcert,
        now: Timestamp,
    ) -> anyhow::Result<ConcertId>;
    /// Applies `change` in one transaction, all or nothing. A date's time
    /// or venue changes only while none of its seats is held (live at
    /// `now`) or sold; the date's free seats are locked for the check, so
    /// a hold racing the change waits and then holds the changed date.
    /// The dates are checked in id order: when several are on sale, the
    /// lowest id is the one answered.
    async fn update_concert(
        &self,
        concert: ConcertId,
        change: &ConcertChange,
        now: Timestamp,
    ) -> anyhow::Result<UpdateConcertOutcome>;
    /// Calls off the concert's date `only`, or every date of the concert,
    /// at `now`, in one transaction: each date not cancelled yet is marked
    /// cancelled, and its live holds are released with their seats, so
    /// they can no longer be paid. Its reservations stay until
    /// [`crate::ports::Booking::cancel_reservation`] refunds each.
    async fn cancel_dates(
        &self,
        concert: ConcertId,
        only: Option<ScheduleId>,
        now: Timestamp,
    ) -> anyhow::Result<CancelDatesOutcome>;
    /// What a fan must do to join the concert's line; `None` for an unknown concert.
    async fn entry_rules(&self, concert: ConcertId) -> anyhow::Result<Option<EntryRules>>;
    /// Replaces the concert's entry rules; false for an unknown concert.
    async fn set_entry_rules(&self, concert: ConcertId, rules: &EntryRules)
    -> anyhow::Result<bool>;
    /// The concert's own cancellation policy: `None` for an unknown
    /// concert, `Some(None)` for one that follows the service's.
    async fn cancellation_policy(
        &self,
        concert: ConcertId,
    ) -> anyhow::Result<Option<Option<CancellationPolicy>>>;
    /// Gives the concert its own cancellation policy, or with `None` returns
    /// it to the service's; false for an unknown concert. Cancellations
    /// read it in their own transaction, so each one applies the policy of
    /// its instant.
    async fn set_cancellation_policy(
        &self,
        concert: ConcertId,
        policy: Option<&CancellationPolicy>,
    ) -> anyhow::Result<bool>;
}
