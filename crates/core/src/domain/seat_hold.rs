//! Seat holds: a buyer's claim on one seat for a few minutes, to be paid or lost.

use super::{ConcertId, HoldId, ScheduleId, SeatNumber, Timestamp, UserId, Won};

/// How long holds last and how many a user may have at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HoldPolicy {
    pub ttl_secs: u64,
    pub max_per_user: u32,
}

impl Default for HoldPolicy {
    fn default() -> Self {
        Self {
            ttl_secs: 300,
            max_per_user: 1,
        }
    }
}

impl HoldPolicy {
    pub fn expires_at(&self, now: Timestamp) -> Timestamp {
        now.plus_secs(self.ttl_secs)
    }
}

/// Where a hold is in its life. An `Active` hold whose `expires_at` has passed
/// is expired even while its row still says `Active`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HoldStatus {
    Active,
    /// Paid: the seat is sold.
    Consumed,
    /// Let go, by its holder or by the sweeper after it expired.
    Released,
}

impl HoldStatus {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "ACTIVE" => Some(HoldStatus::Active),
            "CONSUMED" => Some(HoldStatus::Consumed),
            "RELEASED" => Some(HoldStatus::Released),
            _ => None,
        }
    }
}

/// A hold on one seat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hold {
    pub id: HoldId,
    pub user_id: UserId,
    pub concert_id: ConcertId,
    pub schedule_id: ScheduleId,
    pub seat_number: SeatNumber,
    pub price: Won,
    pub expires_at: Timestamp,
    pub status: HoldStatus,
}

/// Why a hold cannot be paid by this user now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaymentRefusal {
    NotYourHold,
    AlreadyPaid,
    Expired,
}

impl Hold {
    pub fn is_live(&self, now: Timestamp) -> bool {
        self.status == HoldStatus::Active && self.expires_at > now
    }

    /// The rule for paying: only the holder, only once, only before it ends.
    pub fn check_payable(&self, payer: UserId, now: Timestamp) -> Result<(), PaymentRefusal> {
        if self.user_id != payer {
            return Err(PaymentRefusal::NotYourHold);
        }
        match self.status {
            HoldStatus::Consumed => Err(PaymentRefusal::AlreadyPaid),
            HoldStatus::Released => Err(PaymentRefusal::Expired),
            HoldStatus::Active if self.expires_at <= now => Err(PaymentRefusal::Expired),
            HoldStatus::Active => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    fn hold(status: HoldStatus, expires_ms: i64) -> Hold {
        Hold {
            id: HoldId::from_uuid(Uuid::nil()),
            user_id: UserId::new(1).unwrap(),
            concert_id: ConcertId::new(1).unwrap(),
            schedule_id: ScheduleId::new(1).unwrap(),
            seat_number: SeatNumber::new(1).unwrap(),
            price: Won::new(10),
            expires_at: Timestamp::from_millis(expires_ms),
            status,
        }
    }

    #[test]
    fn only_the_holder_may_pay_a_live_hold_once() {
        let now = Timestamp::from_millis(500);
        let me = UserId::new(1).unwrap();
        let other = UserId::new(2).unwrap();
        assert_eq!(
            hold(HoldStatus::Active, 1_000).check_payable(me, now),
            Ok(())
        );
        assert_eq!(
            hold(HoldStatus::Active, 1_000).check_payable(other, now),
            Err(PaymentRefusal::NotYourHold)
        );
        assert_eq!(
            hold(HoldStatus::Consumed, 1_000).check_payable(me, now),
            Err(PaymentRefusal::AlreadyPaid)
        );
        assert_eq!(
            hold(HoldStatus::Active, 500).check_payable(me, now),
            Err(PaymentRefusal::Expired)
        );
        assert_eq!(
            hold(HoldStatus::Released, 1_000).check_payable(me, now),
            Err(PaymentRefusal::Expired)
        );
    }

    #[test]
    fn holds_last_the_policy_ttl() {
        let policy = HoldPolicy::default();
        assert_eq!(
            policy.expires_at(Timestamp::from_millis(0)),
            Timestamp::from_millis(300_000)
        );
    }
}
