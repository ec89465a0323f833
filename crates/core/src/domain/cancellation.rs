//! Cancelling a reservation for a refund: until when a fan may, what the
//! fee is, what the refund is, and why a cancellation is refused.
//!
//! The rule is applied inside the store's transaction, on the reservation
//! and date as read there ([`CancelAttempt::cancellable`]), as a payment's
//! rule is.

use super::reservation::{Cancellation, Reservation};
use super::{ConcertId, EventId, ReservationId, ScheduleId, SeatNumber, Timestamp, UserId, Won};
use serde::{Deserialize, Serialize};

/// A fee charged on a cancellation made less than `within_secs` before the
/// date starts: `percent` of the price.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeeTier {
    pub within_secs: u64,
    pub percent: u8,
}

/// At most this many fee tiers, so that the policy is a plain value.
pub const MAX_FEE_TIERS: usize = 4;

/// Until when reservations may be cancelled, and the fee by the time left.
/// The service has one (`cancellation.*`), and a concert may have its own
/// instead. Serialised as `{"deadlineSecs", "fees"}`, checked again when read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "PolicyRecord", into = "PolicyRecord")]
pub struct CancellationPolicy {
    /// Cancelling closes this long before the date starts.
    pub deadline_secs: u64,
    /// The fee tiers; the fee is the highest percentage among the tiers
    /// whose window holds the time left, nothing when none does.
    tiers: [Option<FeeTier>; MAX_FEE_TIERS],
}

/// Why a cancellation policy was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PolicyRejected {
    #[error("at most {MAX_FEE_TIERS} fee tiers")]
    TooManyTiers,
    #[error("a fee is a percentage from 0 to 100")]
    FeeAboveHundred,
    #[error("a fee tier's window must be positive")]
    EmptyWindow,
}

/// A policy as stored: the same two fields, unchecked.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct PolicyRecord {
    deadline_secs: u64,
    fees: Vec<FeeTier>,
}

impl From<CancellationPolicy> for PolicyRecord {
    fn from(policy: CancellationPolicy) -> Self {
        PolicyRecord {
            deadline_secs: policy.deadline_secs,
            fees: policy.tiers().collect(),
        }
    }
}

impl TryFrom<PolicyRecord> for CancellationPolicy {
    type Error = PolicyRejected;
    fn try_from(record: PolicyRecord) -> Result<Self, Self::Error> {
        CancellationPolicy::new(record.deadline_secs, &record.fees)
    }
}

impl CancellationPolicy {
    pub fn new(deadline_secs: u64, tiers: &[FeeTier]) -> Result<Self, PolicyRejected> {
        if tiers.len() > MAX_FEE_TIERS {
            return Err(PolicyRejected::TooManyTiers);
        }
        let mut kept = [None; MAX_FEE_TIERS];
        for (slot, tier) in kept.iter_mut().zip(tiers) {
            if tier.percent > 100 {
                return Err(PolicyRejected::FeeAboveHundred);
            }
            if tier.within_secs == 0 {
                return Err(PolicyRejected::EmptyWindow);
            }
            *slot = Some(*tier);
        }
        Ok(Self {
            deadline_secs,
            tiers: kept,
        })
    }

    pub fn tiers(&self) -> impl Iterator<Item = FeeTier> + '_ {
        self.tiers.iter().flatten().copied()
    }

    /// The last instant a reservation for a date starting at `starts_at`
    /// may be cancelled (inclusive).
    pub fn deadline(&self, starts_at: Timestamp) -> Timestamp {
        starts_at.minus_secs(self.deadline_secs)
    }

    /// The fee and refund of cancelling, at `now`, a seat bought at `price`
    /// for a date starting at `starts_at`; `Err` with the deadline once it
    /// has passed. The fee is rounded down, in the fan's favour.
    pub fn quote(
        &self,
        price: Won,
        starts_at: Timestamp,
        now: Timestamp,
    ) -> Result<RefundQuote, Timestamp> {
        let deadline = self.deadline(starts_at);
        if now > deadline {
            return Err(deadline);
        }
        let left_ms = starts_at.as_millis().saturating_sub(now.as_millis());
        let percent = self
            .tiers()
            .filter(|t| {
                left_ms < i64::try_from(t.within_secs.saturating_mul(1_000)).unwrap_or(i64::MAX)
            })
            .map(|t| i64::from(t.percent))
            .max()
            .unwrap_or(0);
        let fee = Won::new(price.amount() / 100 * percent + price.amount() % 100 * percent / 100);
        Ok(RefundQuote {
            fee,
            refund: Won::new(price.amount() - fee.amount()),
        })
    }
}

impl Default for CancellationPolicy {
    /// Until a day before the show; 10% within a week of it, 20% within three days.
    fn default() -> Self {
        Self::new(
            24 * 3_600,
            &[
                FeeTier {
                    within_secs: 7 * 24 * 3_600,
                    percent: 10,
                },
                FeeTier {
                    within_secs: 3 * 24 * 3_600,
                    percent: 20,
                },
            ],
        )
        .unwrap_or_else(|_| unreachable!("the default tiers are valid"))
    }
}

/// What cancelling pays back and keeps; the two add up to the price.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundQuote {
    pub refund: Won,
    pub fee: Won,
}

/// Who cancels a reservation, which decides the terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Canceller {
    /// The fan, by the concert's cancellation policy: before its deadline,
    /// less its fee.
    #[default]
    Fan,
    /// The organiser, who called the date off: at any time, in full.
    Organiser,
}

/// A cancellation to make: everything the transaction needs, ids included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CancelAttempt {
    /// The fan the reservation must belong to, whose balance is refunded.
    pub user_id: UserId,
    pub by: Canceller,
    pub reservation_id: ReservationId,
    pub now: Timestamp,
    pub event_id: EventId,
    /// The service's policy, for a concert without its own.
    pub policy: CancellationPolicy,
}

/// The reservation a cancellation names, as the store read it in the
/// cancellation's transaction: its date's start, whether the date is
/// called off, and its concert's own policy if the concert has one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CancelTarget {
    pub reservation: Reservation,
    pub starts_at: Timestamp,
    pub date_cancelled: bool,
    pub concert_policy: Option<CancellationPolicy>,
}

impl CancelAttempt {
    /// The reservation `found` under this attempt's id, if it may be
    /// cancelled now (the fan's, still confirmed, and before its concert's
    /// deadline unless its date is called off), with what the cancellation
    /// refunds: in full on a called-off date, whoever cancels; otherwise by
    /// its concert's policy (the service's when it has none). Or why not.
    pub fn cancellable(
        &self,
        found: Option<CancelTarget>,
    ) -> Result<(Reservation, RefundQuote), CancelRefused> {
        let CancelTarget {
            reservation,
            starts_at,
            date_cancelled,
            concert_policy,
        } = found.ok_or(CancelRefused::NotFound)?;
        if reservation.user_id != self.user_id {
            return Err(CancelRefused::NotYours);
        }
        if reservation.cancellation.is_some() {
            return Err(CancelRefused::AlreadyCancelled);
        }
        if date_cancelled {
            let quote = RefundQuote {
                refund: reservation.price,
                fee: Won::ZERO,
            };
            return Ok((reservation, quote));
        }
        if self.by == Canceller::Organiser {
            return Err(CancelRefused::DateGoesAhead);
        }
        let quote = concert_policy
            .unwrap_or(self.policy)
            .quote(reservation.price, starts_at, self.now)
            .map_err(|deadline| CancelRefused::Closed { deadline })?;
        Ok((reservation, quote))
    }

    /// The cancellation this attempt records.
    pub fn cancellation(&self, quote: RefundQuote) -> Cancellation {
        Cancellation {
            at: self.now,
            refund: quote.refund,
            fee: quote.fee,
        }
    }

    /// The receipt of cancelling `reservation` with `cancellation`, leaving
    /// the fan `balance`.
    pub fn receipt(
        &self,
        reservation: &Reservation,
        cancellation: Cancellation,
        balance: Won,
    ) -> CancellationReceipt {
        CancellationReceipt {
            by: self.by,
            ..CancellationReceipt::of(reservation, cancellation, balance)
        }
    }
}

/// Why a cancellation changed nothing. Serialisable: it is what an
/// idempotent repeat of a refused cancellation answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CancelRefused {
    NotFound,
    NotYours,
    AlreadyCancelled,
    /// Too late: cancelling closed at `deadline`.
    Closed {
        deadline: Timestamp,
    },
    /// The organiser cancels only the reservations of called-off dates.
    DateGoesAhead,
}

/// What the fan is told after cancelling, and what a repeat returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CancellationReceipt {
    pub reservation_id: ReservationId,
    pub concert_id: ConcertId,
    pub schedule_id: ScheduleId,
    pub seat_number: SeatNumber,
    pub price: Won,
    pub refund: Won,
    pub fee: Won,
    /// The balance after the refund.
    pub balance: Won,
    pub cancelled_at: Timestamp,
    /// Receipts stored before the organiser could cancel read as the fan's.
    #[serde(default)]
    pub by: Canceller,
}

impl CancellationReceipt {
    pub fn of(reservation: &Reservation, cancellation: Cancellation, balance: Won) -> Self {
        Self {
            reservation_id: reservation.id,
            concert_id: reservation.concert_id,
            schedule_id: reservation.schedule_id,
            seat_number: reservation.seat_number,
            price: reservation.price,
            refund: cancellation.refund,
            fee: cancellation.fee,
            balance,
            cancelled_at: cancellation.at,
            by: Canceller::Fan,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::HoldId;
    use proptest::prelude::*;
    use uuid::Uuid;

    const DAY: i64 = 24 * 3_600 * 1_000;

    fn show() -> Timestamp {
        Timestamp::from_millis(100 * DAY)
    }

    fn reservation(user: i64) -> Reservation {
        Reservation {
            id: ReservationId::from_uuid(Uuid::from_u128(1)),
            user_id: UserId::new(user).unwrap(),
            concert_id: ConcertId::new(1).unwrap(),
            schedule_id: ScheduleId::new(1).unwrap(),
            seat_number: SeatNumber::new(5).unwrap(),
            price: Won::new(99_999),
            hold_id: HoldId::from_uuid(Uuid::from_u128(2)),
            confirmed_at: Timestamp::from_millis(0),
            cancellation: None,
        }
    }

    fn attempt(user: i64, now: Timestamp) -> CancelAttempt {
        CancelAttempt {
            user_id: UserId::new(user).unwrap(),
            by: Canceller::Fan,
            reservation_id: ReservationId::from_uuid(Uuid::from_u128(1)),
            now,
            event_id: EventId::from_uuid(Uuid::from_u128(3)),
            policy: CancellationPolicy::default(),
        }
    }

    #[test]
    fn the_fee_steps_up_as_the_show_nears_and_cancelling_closes_a_day_before() {
        let policy = CancellationPolicy::default();
        let price = Won::new(100_000);
        let at = |days_before: i64| Timestamp::from_millis(show().as_millis() - days_before);
        let quote = |left| policy.quote(price, show(), at(left));
        assert_eq!(quote(8 * DAY).unwrap().fee, Won::ZERO);
        assert_eq!(
            quote(7 * DAY).unwrap().fee,
            Won::ZERO,
            "a week before is still free"
        );
        assert_eq!(quote(7 * DAY - 1).unwrap().fee, Won::new(10_000));
        assert_eq!(quote(3 * DAY - 1).unwrap().fee, Won::new(20_000));
        let last = quote(DAY).unwrap();
        assert_eq!(
            (last.fee, last.refund),
            (Won::new(20_000), Won::new(80_000))
        );
        assert_eq!(quote(DAY - 1), Err(at(DAY)));
    }

    fn target(reservation: Reservation) -> Option<CancelTarget> {
        Some(CancelTarget {
            reservation,
            starts_at: show(),
            date_cancelled: false,
            concert_policy: None,
        })
    }

    #[test]
    fn a_called_off_date_refunds_in_full_after_the_deadline_and_the_organiser_cancels_nothing_else()
    {
        let late = Timestamp::from_millis(show().as_millis() - DAY / 2);
        let organiser = CancelAttempt {
            by: Canceller::Organiser,
            ..attempt(1, late)
        };
        let going_ahead = target(reservation(1));
        assert_eq!(
            organiser.cancellable(going_ahead.clone()),
            Err(CancelRefused::DateGoesAhead)
        );
        assert!(matches!(
            attempt(1, late).cancellable(going_ahead.clone()),
            Err(CancelRefused::Closed { .. })
        ));
        let called_off = going_ahead.map(|t| CancelTarget {
            date_cancelled: true,
            ..t
        });
        for by in [organiser, attempt(1, late)] {
            let (_, quote) = by.cancellable(called_off.clone()).unwrap();
            assert_eq!((quote.refund, quote.fee), (Won::new(99_999), Won::ZERO));
        }
        let other_fan = CancelAttempt {
            by: Canceller::Organiser,
            ..attempt(2, late)
        };
        assert_eq!(
            other_fan.cancellable(called_off),
            Err(CancelRefused::NotYours),
            "the organiser names the fan who owns the reservation"
        );
    }

    #[test]
    fn only_the_holder_may_cancel_a_confirmed_reservation_once() {
        let now = Timestamp::from_millis(10 * DAY);
        let mine = target(reservation(1));
        assert_eq!(
            attempt(1, now).cancellable(None),
            Err(CancelRefused::NotFound)
        );
        assert_eq!(
            attempt(2, now).cancellable(mine.clone()),
            Err(CancelRefused::NotYours)
        );
        let (_, quote) = attempt(1, now).cancellable(mine).unwrap();
        assert_eq!(quote.refund, Won::new(99_999), "free far ahead of the show");
        let mut cancelled = reservation(1);
        cancelled.cancellation = Some(attempt(1, now).cancellation(quote));
        assert_eq!(
            attempt(1, now).cancellable(target(cancelled)),
            Err(CancelRefused::AlreadyCancelled)
        );
    }

    #[test]
    fn a_concerts_own_policy_replaces_the_services_deadline_and_fees() {
        // Two days before the show: the service's policy (a day's deadline,
        // 20% within three days) lets the fan cancel for 80%.
        let now = Timestamp::from_millis(show().as_millis() - 2 * DAY);
        let by_service = attempt(1, now).cancellable(target(reservation(1)));
        assert_eq!(by_service.unwrap().1.fee, Won::new(19_999));
        // A concert that closes a week before refuses it, naming its deadline.
        let strict = CancellationPolicy::new(7 * 24 * 3_600, &[]).unwrap();
        let mut own = target(reservation(1)).unwrap();
        own.concert_policy = Some(strict);
        assert_eq!(
            attempt(1, now).cancellable(Some(own.clone())),
            Err(CancelRefused::Closed {
                deadline: Timestamp::from_millis(show().as_millis() - 7 * DAY)
            })
        );
        // A concert that is free until the hour before refunds everything.
        own.concert_policy = Some(CancellationPolicy::new(3_600, &[]).unwrap());
        let (_, quote) = attempt(1, now).cancellable(Some(own)).unwrap();
        assert_eq!((quote.refund, quote.fee), (Won::new(99_999), Won::ZERO));
    }

    #[test]
    fn a_stored_policy_reads_back_the_same_and_a_bad_one_is_refused() {
        let policy = CancellationPolicy::new(
            2 * 24 * 3_600,
            &[FeeTier {
                within_secs: 5 * 24 * 3_600,
                percent: 15,
            }],
        )
        .unwrap();
        let text = serde_json::to_string(&policy).unwrap();
        assert_eq!(
            text,
            r#"{"deadlineSecs":172800,"fees":[{"within_secs":432000,"percent":15}]}"#
        );
        assert_eq!(
            serde_json::from_str::<CancellationPolicy>(&text).unwrap(),
            policy
        );
        let above_hundred = r#"{"deadlineSecs":0,"fees":[{"within_secs":1,"percent":101}]}"#;
        assert!(serde_json::from_str::<CancellationPolicy>(above_hundred).is_err());
    }

    #[test]
    fn policies_with_bad_tiers_are_refused() {
        let tier = |within_secs, percent| FeeTier {
            within_secs,
            percent,
        };
        assert_eq!(
            CancellationPolicy::new(0, &[tier(10, 101)]),
            Err(PolicyRejected::FeeAboveHundred)
        );
        assert_eq!(
            CancellationPolicy::new(0, &[tier(0, 5)]),
            Err(PolicyRejected::EmptyWindow)
        );
        assert_eq!(
            CancellationPolicy::new(0, &[tier(1, 1); MAX_FEE_TIERS + 1]),
            Err(PolicyRejected::TooManyTiers)
        );
        let free = CancellationPolicy::new(0, &[]).unwrap();
        assert_eq!(
            free.quote(Won::new(7), show(), show()).unwrap().refund,
            Won::new(7)
        );
    }

    proptest! {
        /// Whatever the price, the tiers and the time, the fee and the
        /// refund are never negative and always add up to the price, and
        /// the fee is never above the highest tier's share of it.
        #[test]
        fn fee_and_refund_add_up_to_the_price(
            price in 1i64..100_000_000,
            percents in proptest::collection::vec(0u8..=100, 0..=MAX_FEE_TIERS),
            left_ms in 0i64..(30 * DAY),
        ) {
            let tiers: Vec<FeeTier> = percents
                .iter()
                .enumerate()
                .map(|(i, &percent)| FeeTier { within_secs: (i as u64 + 1) * 86_400 * 5, percent })
                .collect();
            let policy = CancellationPolicy::new(0, &tiers).unwrap();
            let now = Timestamp::from_millis(show().as_millis() - left_ms);
            let quote = policy.quote(Won::new(price), show(), now).unwrap();
            prop_assert!(quote.fee.amount() >= 0 && quote.refund.amount() >= 0);
            prop_assert_eq!(quote.fee.amount() + quote.refund.amount(), price);
            let top = i64::from(percents.iter().copied().max().unwrap_or(0));
            prop_assert!(quote.fee.amount() * 100 <= price * top);
        }
    }
}
