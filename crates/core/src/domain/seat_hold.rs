//! Seat holds: a buyer's claim on a basket of seats of one date for a few
//! minutes, to be paid in one payment, extended once, or lost.

use super::{ConcertId, HoldId, ScheduleId, SeatNumber, Timestamp, UserId, Won};

/// How long holds last, and the limits that keep one fan from hoarding seats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HoldPolicy {
    pub ttl_secs: u64,
    /// Live holds a fan may have at once.
    pub max_per_user: u32,
    /// Live holds a fan with a zero balance may have at once (capped by
    /// `max_per_user`): holding costs nothing, so an empty account may not
    /// hold as much as a funded one. With the default `max_per_user` of 1
    /// it changes nothing; it bites once fans may hold several seats.
    pub max_unfunded: u32,
    /// Holds a fan may let lapse (release, or leave unpaid until they end)
    /// within `lapse_window_secs`; past that, they may not hold again until
    /// the oldest lapse leaves the window. This stops a fan from keeping a
    /// seat off sale by holding and releasing it, or letting it run out and
    /// holding it again, over and over.
    pub max_lapsed: u32,
    pub lapse_window_secs: u64,
    /// How much longer a fan may keep a live hold, once ([`HoldExtension`]).
    pub extend_secs: u64,
    /// No hold lasts longer than this from when it was taken, extended or not.
    pub max_total_secs: u64,
    /// Seats of one concert a fan may have, held and bought together
    /// (`sales.max_tickets_per_user_per_concert`).
    pub max_tickets_per_concert: u32,
    /// Seats one hold may take together (`holds.max_seats_per_order`), at
    /// most [`Basket::MOST_SEATS`].
    pub max_seats_per_order: u32,
    /// How long an instance shows a date's seats as it read them
    /// (`holds.seat_map_max_age_ms`; 0: read the store on every look).
    pub seat_map_max_age_ms: u64,
}

impl Default for HoldPolicy {
    fn default() -> Self {
        Self {
            ttl_secs: 300,
            max_per_user: 1,
            max_unfunded: 1,
            max_lapsed: 5,
            lapse_window_secs: 3_600,
            extend_secs: 120,
            max_total_secs: 600,
            max_tickets_per_concert: 4,
            max_seats_per_order: 4,
            seat_map_max_age_ms: 250,
        }
    }
}

impl HoldPolicy {
    /// The basket `seats` make under this policy's `max_seats_per_order`.
    pub fn basket(&self, seats: &[SeatNumber]) -> Result<Basket, BasketRefusal> {
        Basket::new(seats, self.max_seats_per_order)
    }

    pub fn expires_at(&self, now: Timestamp) -> Timestamp {
        now.plus_secs(self.ttl_secs)
    }

    /// How far a hold may be extended.
    pub fn extension(&self) -> HoldExtension {
        HoldExtension {
            extend_ms: secs_to_millis(self.extend_secs),
            max_total_ms: secs_to_millis(self.max_total_secs),
        }
    }

    /// The limits a hold attempt at `now` is held to.
    pub fn limits_at(&self, now: Timestamp) -> HoldLimits {
        HoldLimits {
            max_live: self.max_per_user,
            max_live_unfunded: self.max_unfunded.min(self.max_per_user),
            max_lapsed: self.max_lapsed,
            lapsed_since: now.plus_millis(-secs_to_millis(self.lapse_window_secs)),
            max_per_concert: self.max_tickets_per_concert,
        }
    }
}

fn secs_to_millis(secs: u64) -> i64 {
    i64::try_from(secs.saturating_mul(1_000)).unwrap_or(i64::MAX)
}

/// The seats of one date a hold takes together, all or none: at least one,
/// each once, kept in ascending order (the order every store claims them
/// in, so two baskets sharing seats never wait on each other in a cycle).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Basket(Vec<SeatNumber>);

/// Why seats do not make a basket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BasketRefusal {
    Empty,
    /// More seats than one hold may take.
    TooMany {
        max: u32,
    },
    /// A seat asked for twice.
    Repeated(SeatNumber),
}

impl Basket {
    /// The most seats any hold may take, whatever `holds.max_seats_per_order`
    /// says: a payment carries this many sale ids ([`super::payment::SaleIds`]).
    pub const MOST_SEATS: u32 = 10;

    /// The basket of `seats`, if there are 1 to `max` (capped by
    /// [`Basket::MOST_SEATS`]) and none repeats.
    pub fn new(seats: &[SeatNumber], max: u32) -> Result<Self, BasketRefusal> {
        let max = max.min(Self::MOST_SEATS);
        if seats.is_empty() {
            return Err(BasketRefusal::Empty);
        }
        if seats.len() > max as usize {
            return Err(BasketRefusal::TooMany { max });
        }
        let mut sorted = seats.to_vec();
        sorted.sort_unstable();
        if let Some(pair) = sorted.windows(2).find(|pair| pair[0] == pair[1]) {
            return Err(BasketRefusal::Repeated(pair[0]));
        }
        Ok(Self(sorted))
    }

    /// A basket of one seat.
    pub fn one(seat: SeatNumber) -> Self {
        Self(vec![seat])
    }

    /// Its seats, in ascending order.
    pub fn seats(&self) -> &[SeatNumber] {
        &self.0
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Never: a basket has a seat. For the `len` lint.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The lowest-numbered seat.
    pub fn lowest(&self) -> SeatNumber {
        self.0[0]
    }
}

/// How far a live hold may be extended: once, by `extend_ms`, never past
/// `max_total_ms` after it was taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HoldExtension {
    pub extend_ms: i64,
    pub max_total_ms: i64,
}

/// Why a hold cannot be extended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExtendRefusal {
    NotYourHold,
    /// Paid, released or ended.
    NotLive,
    /// Extended once already.
    AlreadyExtended,
    /// It already lasts as long as a hold may (or extensions are off).
    AtMaximum,
}

impl HoldExtension {
    /// The rule for extending: only the holder, only a live hold, only
    /// once, and only when the longest a hold may last leaves room. Answers
    /// the hold's new expiry.
    pub fn new_expiry(
        &self,
        hold: &Hold,
        user: UserId,
        now: Timestamp,
    ) -> Result<Timestamp, ExtendRefusal> {
        if hold.user_id != user {
            return Err(ExtendRefusal::NotYourHold);
        }
        if !hold.is_live(now) {
            return Err(ExtendRefusal::NotLive);
        }
        if hold.extended {
            return Err(ExtendRefusal::AlreadyExtended);
        }
        let longest = hold.held_at.plus_millis(self.max_total_ms);
        let extended = hold.expires_at.plus_millis(self.extend_ms).min(longest);
        if extended <= hold.expires_at {
            return Err(ExtendRefusal::AtMaximum);
        }
        Ok(extended)
    }
}

/// The per-fan limits of one hold attempt, as the store applies them inside
/// the hold's transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HoldLimits {
    pub max_live: u32,
    pub max_live_unfunded: u32,
    pub max_lapsed: u32,
    /// Holds that lapsed with an expiry after this instant count against `max_lapsed`.
    pub lapsed_since: Timestamp,
    /// Seats of the hold's concert the fan may have, held live and bought,
    /// the seats asked for included.
    pub max_per_concert: u32,
}

impl HoldLimits {
    /// Only the per-concert ticket limit: what a waiting-list offer is held
    /// to. The fan asked for the seat by joining the list, so their other
    /// holds and past lapses do not stand in its way.
    pub fn per_concert_only(max_per_concert: u32, now: Timestamp) -> Self {
        Self {
            max_live: u32::MAX,
            max_live_unfunded: u32::MAX,
            max_lapsed: u32::MAX,
            lapsed_since: now,
            max_per_concert,
        }
    }
}

/// What the store counted for a fan when they asked to hold a seat.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FanHolds {
    /// Holds still live.
    pub live: u64,
    /// Holds released or left to end unpaid, whose expiry is after `lapsed_since`.
    pub lapsed: u64,
    /// Whether the fan's balance is above zero.
    pub funded: bool,
    /// Seats of the concert asked for that the fan holds live (every seat
    /// of every basket) or bought.
    pub concert_tickets: u64,
}

/// Why a fan may not hold another seat now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HoldLimitReached {
    /// As many live holds as anyone may have.
    Live,
    /// As many live holds as a fan with an empty balance may have.
    Unfunded,
    /// Too many holds lapsed recently.
    Lapsed,
    /// As many seats of the concert, held and bought, as a fan may have.
    PerConcert,
}

impl HoldLimits {
    /// The rule every store applies to a hold of `seats` seats, in this
    /// order (the PostgreSQL function `boxoffice_hold_seat` restates it in
    /// SQL for a hold of one seat).
    pub fn refusal(&self, fan: FanHolds, seats: usize) -> Option<HoldLimitReached> {
        if fan.lapsed >= u64::from(self.max_lapsed) {
            return Some(HoldLimitReached::Lapsed);
        }
        if fan.live >= u64::from(self.max_live) {
            return Some(HoldLimitReached::Live);
        }
        if !fan.funded && fan.live >= u64::from(self.max_live_unfunded) {
            return Some(HoldLimitReached::Unfunded);
        }
        if fan.concert_tickets.saturating_add(seats as u64) > u64::from(self.max_per_concert) {
            return Some(HoldLimitReached::PerConcert);
        }
        None
    }
}

/// Whether a hold counts as lapsed at `now`: released, or ended unpaid.
pub fn has_lapsed(status: HoldStatus, expires_at: Timestamp, now: Timestamp) -> bool {
    match status {
        HoldStatus::Released => true,
        HoldStatus::Active => expires_at <= now,
        HoldStatus::Consumed => false,
    }
}

/// Where a hold is in its life. An `Active` hold whose `expires_at` has passed
/// is expired even while its row still says `Active`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HoldStatus {
    Active,
    /// Paid: its seats are sold.
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

/// A seat of a hold, at the price it was held at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeldSeat {
    pub number: SeatNumber,
    pub price: Won,
}

/// A hold on a basket of seats of one date, paid for in one payment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hold {
    pub id: HoldId,
    pub user_id: UserId,
    pub concert_id: ConcertId,
    pub schedule_id: ScheduleId,
    /// Its seats, in ascending order; never empty.
    pub seats: Vec<HeldSeat>,
    /// What paying for it costs: the sum of its seats' prices.
    pub price: Won,
    /// When the hold was taken.
    pub held_at: Timestamp,
    pub expires_at: Timestamp,
    /// Whether its holder extended it (once is all a hold may be).
    pub extended: bool,
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
    /// The hold of `seats` (in ascending order), priced at their sum.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        id: HoldId,
        user_id: UserId,
        concert_id: ConcertId,
        schedule_id: ScheduleId,
        seats: Vec<HeldSeat>,
        held_at: Timestamp,
        expires_at: Timestamp,
    ) -> Self {
        let price = seats
            .iter()
            .fold(Won::ZERO, |sum, seat| sum.saturating_add(seat.price));
        Self {
            id,
            user_id,
            concert_id,
            schedule_id,
            seats,
            price,
            held_at,
            expires_at,
            extended: false,
            status: HoldStatus::Active,
        }
    }

    /// Its seat numbers, in ascending order.
    pub fn seat_numbers(&self) -> impl Iterator<Item = SeatNumber> + '_ {
        self.seats.iter().map(|seat| seat.number)
    }

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
            seats: vec![HeldSeat {
                number: SeatNumber::new(1).unwrap(),
                price: Won::new(10),
            }],
            price: Won::new(10),
            held_at: Timestamp::from_millis(0),
            expires_at: Timestamp::from_millis(expires_ms),
            extended: false,
            status,
        }
    }

    #[test]
    fn a_live_hold_is_extended_once_by_its_holder_and_never_past_the_longest_a_hold_lasts() {
        let rule = HoldExtension {
            extend_ms: 120_000,
            max_total_ms: 600_000,
        };
        let me = UserId::new(1).unwrap();
        let now = Timestamp::from_millis(100_000);
        let live = hold(HoldStatus::Active, 300_000);
        assert_eq!(
            rule.new_expiry(&live, me, now),
            Ok(Timestamp::from_millis(420_000))
        );
        assert_eq!(
            rule.new_expiry(&live, UserId::new(2).unwrap(), now),
            Err(ExtendRefusal::NotYourHold)
        );
        let extended = Hold {
            extended: true,
            ..live.clone()
        };
        assert_eq!(
            rule.new_expiry(&extended, me, now),
            Err(ExtendRefusal::AlreadyExtended)
        );
        for ended in [
            hold(HoldStatus::Active, 100_000),
            hold(HoldStatus::Consumed, 300_000),
            hold(HoldStatus::Released, 300_000),
        ] {
            assert_eq!(
                rule.new_expiry(&ended, me, now),
                Err(ExtendRefusal::NotLive)
            );
        }
        // The longest a hold lasts caps the extension, and leaves none at the cap.
        let capped = HoldExtension {
            max_total_ms: 400_000,
            ..rule
        };
        assert_eq!(
            capped.new_expiry(&live, me, now),
            Ok(Timestamp::from_millis(400_000))
        );
        let at_cap = hold(HoldStatus::Active, 400_000);
        assert_eq!(
            capped.new_expiry(&at_cap, me, now),
            Err(ExtendRefusal::AtMaximum)
        );
        let off = HoldExtension {
            extend_ms: 0,
            ..rule
        };
        assert_eq!(
            off.new_expiry(&live, me, now),
            Err(ExtendRefusal::AtMaximum)
        );
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

    fn fan(live: u64, lapsed: u64, funded: bool) -> FanHolds {
        FanHolds {
            live,
            lapsed,
            funded,
            concert_tickets: 0,
        }
    }

    #[test]
    fn a_fan_counted_at_the_concerts_ticket_limit_may_hold_no_more_of_it_and_other_limits_answer_first()
     {
        let limits = HoldPolicy {
            max_per_user: 10,
            max_unfunded: 10,
            max_tickets_per_concert: 4,
            ..HoldPolicy::default()
        }
        .limits_at(Timestamp::from_millis(0));
        let with = |concert_tickets| FanHolds {
            concert_tickets,
            ..fan(1, 0, true)
        };
        assert_eq!(limits.refusal(with(3), 1), None);
        // A basket counts every seat it asks for.
        assert_eq!(limits.refusal(with(2), 2), None);
        assert_eq!(
            limits.refusal(with(2), 3),
            Some(HoldLimitReached::PerConcert)
        );
        assert_eq!(
            limits.refusal(with(4), 1),
            Some(HoldLimitReached::PerConcert)
        );
        // The other limits answer first.
        let live_too = FanHolds {
            live: 10,
            ..with(4)
        };
        assert_eq!(limits.refusal(live_too, 1), Some(HoldLimitReached::Live));
    }

    #[test]
    fn an_empty_balance_holds_fewer_seats_than_a_funded_one() {
        let policy = HoldPolicy {
            max_per_user: 4,
            max_unfunded: 1,
            ..HoldPolicy::default()
        };
        let limits = policy.limits_at(Timestamp::from_millis(10_000_000));
        assert_eq!(limits.refusal(fan(0, 0, false), 1), None);
        assert_eq!(
            limits.refusal(fan(1, 0, false), 1),
            Some(HoldLimitReached::Unfunded)
        );
        assert_eq!(limits.refusal(fan(3, 0, true), 1), None);
        assert_eq!(
            limits.refusal(fan(4, 0, true), 1),
            Some(HoldLimitReached::Live)
        );
    }

    #[test]
    fn too_many_lapsed_holds_stop_further_holds() {
        let policy = HoldPolicy {
            max_lapsed: 3,
            lapse_window_secs: 600,
            ..HoldPolicy::default()
        };
        let limits = policy.limits_at(Timestamp::from_millis(1_000_000));
        assert_eq!(limits.lapsed_since, Timestamp::from_millis(400_000));
        assert_eq!(limits.refusal(fan(0, 2, true), 1), None);
        assert_eq!(
            limits.refusal(fan(0, 3, true), 1),
            Some(HoldLimitReached::Lapsed)
        );
    }

    #[test]
    fn only_released_and_unpaid_ended_holds_have_lapsed() {
        let now = Timestamp::from_millis(1_000);
        assert!(has_lapsed(
            HoldStatus::Released,
            Timestamp::from_millis(5_000),
            now
        ));
        assert!(has_lapsed(
            HoldStatus::Active,
            Timestamp::from_millis(1_000),
            now
        ));
        assert!(!has_lapsed(
            HoldStatus::Active,
            Timestamp::from_millis(1_001),
            now
        ));
        assert!(!has_lapsed(
            HoldStatus::Consumed,
            Timestamp::from_millis(500),
            now
        ));
    }

    fn seats(numbers: &[i64]) -> Vec<SeatNumber> {
        numbers
            .iter()
            .map(|n| SeatNumber::new(*n).unwrap())
            .collect()
    }

    #[test]
    fn a_basket_is_one_to_max_distinct_seats_in_ascending_order() {
        let basket = Basket::new(&seats(&[9, 7, 8]), 4).unwrap();
        assert_eq!(basket.seats(), seats(&[7, 8, 9]).as_slice());
        assert_eq!(basket.lowest(), SeatNumber::new(7).unwrap());
        assert_eq!(basket.len(), 3);
        assert_eq!(Basket::new(&[], 4), Err(BasketRefusal::Empty));
        assert_eq!(
            Basket::new(&seats(&[1, 2, 3, 4, 5]), 4),
            Err(BasketRefusal::TooMany { max: 4 })
        );
        assert_eq!(
            Basket::new(&seats(&[3, 5, 3]), 4),
            Err(BasketRefusal::Repeated(SeatNumber::new(3).unwrap()))
        );
        // No setting lifts a basket past the most any hold may take.
        let eleven: Vec<i64> = (1..=11).collect();
        assert_eq!(
            Basket::new(&seats(&eleven), 50),
            Err(BasketRefusal::TooMany {
                max: Basket::MOST_SEATS
            })
        );
    }

    #[test]
    fn a_hold_costs_the_sum_of_its_seats() {
        let held = |n, price| HeldSeat {
            number: SeatNumber::new(n).unwrap(),
            price: Won::new(price),
        };
        let hold = Hold::new(
            HoldId::from_uuid(Uuid::nil()),
            UserId::new(1).unwrap(),
            ConcertId::new(1).unwrap(),
            ScheduleId::new(1).unwrap(),
            vec![held(7, 50_000), held(8, 70_000)],
            Timestamp::from_millis(0),
            Timestamp::from_millis(1_000),
        );
        assert_eq!(hold.price, Won::new(120_000));
        assert_eq!(hold.seat_numbers().collect::<Vec<_>>(), seats(&[7, 8]));
        assert!(hold.is_live(Timestamp::from_millis(999)));
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
