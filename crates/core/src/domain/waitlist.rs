//! The waiting list of a sold-out date: fans who want a seat should one
//! come back. While anyone waits, a seat that comes back (a refund, a hold
//! released or left to lapse) is theirs before anyone else's: the first
//! fan in line gets an exclusive offer, a hold made in their name for
//! `waitlist.offer_secs`, and an offer left unanswered passes to the next.

use super::seat_hold::{HoldStatus, has_lapsed};
use super::{ConcertId, HoldId, ScheduleId, Timestamp, UserId};

/// How long an offer stays open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WaitlistPolicy {
    pub offer_secs: u64,
}

impl Default for WaitlistPolicy {
    fn default() -> Self {
        Self { offer_secs: 600 }
    }
}

impl WaitlistPolicy {
    /// When an offer made at `now` ends, unpaid.
    pub fn offer_expires_at(&self, now: Timestamp) -> Timestamp {
        now.plus_secs(self.offer_secs)
    }
}

/// Where a fan's entry on a date's waiting list is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitlistStatus {
    /// In line for a seat.
    Waiting,
    /// Holding an offered seat until the offer ends.
    Offered,
    /// Paid for the offered seat.
    Bought,
    /// The offer ended unpaid (left to run out, or released): it passed on.
    Lapsed,
    /// Left the line before an offer came.
    Left,
}

impl WaitlistStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Waiting => "WAITING",
            Self::Offered => "OFFERED",
            Self::Bought => "BOUGHT",
            Self::Lapsed => "LAPSED",
            Self::Left => "LEFT",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "WAITING" => Self::Waiting,
            "OFFERED" => Self::Offered,
            "BOUGHT" => Self::Bought,
            "LAPSED" => Self::Lapsed,
            "LEFT" => Self::Left,
            _ => return None,
        })
    }

    /// Whether the entry still counts as the fan's place on the list: a fan
    /// has at most one such entry per date.
    pub fn is_open(self) -> bool {
        matches!(self, Self::Waiting | Self::Offered)
    }
}

/// What an open offer comes to once its hold is as `hold` says at `now`:
/// bought when paid, lapsed when released or ended unpaid, `None` while the
/// fan may still pay.
pub fn settled_offer(
    hold: HoldStatus,
    expires_at: Timestamp,
    now: Timestamp,
) -> Option<WaitlistStatus> {
    if hold == HoldStatus::Consumed {
        Some(WaitlistStatus::Bought)
    } else if has_lapsed(hold, expires_at, now) {
        Some(WaitlistStatus::Lapsed)
    } else {
        None
    }
}

/// A fan's entry on one date's waiting list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WaitlistEntry {
    pub user_id: UserId,
    pub concert_id: ConcertId,
    pub schedule_id: ScheduleId,
    pub joined_at: Timestamp,
    pub status: WaitlistStatus,
    /// While waiting: 1 for the next fan to be offered a seat.
    pub position: Option<u64>,
    /// The offered hold, once an offer was made: pay it as any hold.
    pub hold_id: Option<HoldId>,
    /// When the offer ends, unpaid.
    pub offer_expires_at: Option<Timestamp>,
}

/// What a date looks like to a fan asking to join its waiting list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DateForWaitlist {
    pub called_off: bool,
    /// Seats a fan could hold now: never held, or their hold has ended.
    pub free_seats: u64,
    /// Fans waiting on the list now.
    pub waiting: u64,
}

/// Why a fan may not join a date's waiting list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JoinRefusal {
    ScheduleNotFound,
    DateCalledOff,
    /// A seat can be held now: hold it instead.
    NotSoldOut,
}

impl DateForWaitlist {
    /// Whether a fan may join: the date goes ahead, and no seat can be had
    /// except through the list (every seat is sold or held, or fans wait
    /// already, so a seat that came back is theirs).
    pub fn joinable(self) -> Result<(), JoinRefusal> {
        if self.called_off {
            Err(JoinRefusal::DateCalledOff)
        } else if self.free_seats > 0 && self.waiting == 0 {
            Err(JoinRefusal::NotSoldOut)
        } else {
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: i64) -> Timestamp {
        Timestamp::from_millis(ms)
    }

    #[test]
    fn statuses_round_trip_and_only_waiting_and_offered_are_open() {
        for status in [
            WaitlistStatus::Waiting,
            WaitlistStatus::Offered,
            WaitlistStatus::Bought,
            WaitlistStatus::Lapsed,
            WaitlistStatus::Left,
        ] {
            assert_eq!(WaitlistStatus::parse(status.as_str()), Some(status));
            assert_eq!(
                status.is_open(),
                matches!(status, WaitlistStatus::Waiting | WaitlistStatus::Offered)
            );
        }
        assert_eq!(WaitlistStatus::parse("waiting"), None);
    }

    #[test]
    fn an_offer_is_bought_when_paid_lapsed_when_released_or_ended_and_open_otherwise() {
        let ends = at(10_000);
        assert_eq!(
            settled_offer(HoldStatus::Consumed, ends, at(20_000)),
            Some(WaitlistStatus::Bought)
        );
        assert_eq!(
            settled_offer(HoldStatus::Released, ends, at(5_000)),
            Some(WaitlistStatus::Lapsed)
        );
        assert_eq!(
            settled_offer(HoldStatus::Active, ends, at(10_000)),
            Some(WaitlistStatus::Lapsed)
        );
        assert_eq!(settled_offer(HoldStatus::Active, ends, at(9_999)), None);
    }

    #[test]
    fn only_a_sold_out_date_that_goes_ahead_may_be_joined() {
        let date = |called_off, free_seats, waiting| DateForWaitlist {
            called_off,
            free_seats,
            waiting,
        };
        assert_eq!(date(false, 0, 0).joinable(), Ok(()));
        assert_eq!(date(false, 1, 0).joinable(), Err(JoinRefusal::NotSoldOut));
        // A seat that came back while fans wait is theirs, not free.
        assert_eq!(date(false, 1, 3).joinable(), Ok(()));
        assert_eq!(date(true, 0, 0).joinable(), Err(JoinRefusal::DateCalledOff));
    }

    #[test]
    fn an_offer_lasts_offer_secs() {
        let policy = WaitlistPolicy { offer_secs: 90 };
        assert_eq!(policy.offer_expires_at(at(1_000)), at(91_000));
    }
}
