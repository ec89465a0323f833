//! The store contract: holds and payments.

use super::*;
use crate::domain::seat_hold::{ExtendRefusal, HoldExtension};
use crate::ports::ExtendOutcome;

pub async fn seats_start_available_and_a_hold_is_exclusive(stores: Stores) {
    let f = fixture(stores).await;
    let seats = ok(f.store.seats(f.schedule, T0).await);
    assert_eq!(seats.len(), 50);
    assert!(seats.iter().all(|s| s.status == SeatStatus::Available));
    assert_eq!(seats[0].price, Won::new(150_000));
    assert_eq!(seats[0].grade, "VIP");
    let HoldOutcome::Held(hold) = f.hold(1, 5, T0).await else {
        panic!("first hold must win")
    };
    assert_eq!(hold.price, Won::new(150_000));
    assert_eq!(hold.concert_id, f.concert);
    assert_eq!(hold.expires_at, T0.plus_secs(300));
    assert_eq!(f.hold(2, 5, T0).await, HoldOutcome::SeatTaken);
    assert_eq!(f.status(5, T0).await, SeatStatus::Held);
    let dates = ok(f.store.schedules_with_availability(f.concert, T0).await);
    assert_eq!(dates.len(), 2);
    assert_eq!(dates[0].available_seats, 49);
    assert_eq!(dates[1].available_seats, 50);
    assert!(dates[0].schedule.starts_at < dates[1].schedule.starts_at);
}

pub async fn a_hold_stops_blocking_at_its_expiry_instant(stores: Stores) {
    let f = fixture(stores).await;
    let first = f.held(1, 7, T0).await;
    let end = T0.plus_secs(300);
    assert_eq!(
        f.hold(2, 7, end.plus_millis(-1)).await,
        HoldOutcome::SeatTaken
    );
    assert_eq!(f.status(7, end).await, SeatStatus::Available);
    f.held(2, 7, end).await;
    // The first holder's hold ended: it cannot be paid any more.
    f.charge(1, 500_000).await;
    assert_eq!(
        f.pay(1, first, end).await,
        PaymentOutcome::Refused(PaymentRefused::HoldExpired)
    );
    assert_eq!(f.balance(1).await, Won::new(500_000));
}

pub async fn unknown_seats_and_schedules_are_reported(stores: Stores) {
    let f = fixture(stores).await;
    let mut attempt = f.attempt(1, 1, T0);
    attempt.schedule_id = crate::testing::schedule_id(987_654);
    assert_eq!(
        ok(f.booking.hold_seat(&attempt).await),
        HoldOutcome::NoSuchSeat
    );
    assert!(ok(f.store.schedule(crate::testing::schedule_id(987_654)).await).is_none());
    assert!(ok(f.store.concert(crate::testing::concert_id(987_654)).await).is_none());
    assert_eq!(
        f.pay(1, HoldId::from_uuid(uuid()), T0).await,
        PaymentOutcome::Refused(PaymentRefused::HoldNotFound)
    );
    let concert = ok(f.store.concert(f.concert).await).unwrap_or_else(|| panic!("created"));
    assert_eq!(concert.title, "Contract");
    assert_eq!(ok(f.store.list_concerts().await).len(), 1);
}

pub async fn live_holds_per_user_are_limited(stores: Stores) {
    let f = fixture(stores).await;
    f.held(1, 1, T0).await;
    assert_eq!(
        f.hold(1, 2, T0).await,
        HoldOutcome::LimitReached(HoldLimitReached::Live)
    );
    let mut two = f.attempt(1, 2, T0);
    two.limits.max_live = 2;
    two.limits.max_live_unfunded = 2;
    assert!(matches!(
        ok(f.booking.hold_seat(&two).await),
        HoldOutcome::Held(_)
    ));
    // Ended holds do not count.
    f.held(1, 3, T0.plus_secs(300)).await;
}

pub async fn a_holder_can_release_and_others_cannot(stores: Stores) {
    let f = fixture(stores).await;
    let hold = f.held(1, 4, T0).await;
    let release = |who: i64| f.booking.release_hold(user(who), hold, T0);
    assert_eq!(ok(release(2).await), ReleaseOutcome::NotYours);
    assert_eq!(ok(release(1).await), ReleaseOutcome::Released(f.concert));
    assert_eq!(ok(release(1).await), ReleaseOutcome::NotLive);
    assert_eq!(
        ok(f.booking
            .release_hold(user(1), HoldId::from_uuid(uuid()), T0)
            .await),
        ReleaseOutcome::NotFound
    );
    assert_eq!(f.status(4, T0).await, SeatStatus::Available);
    f.held(2, 4, T0).await;
}

pub async fn the_sweeper_releases_only_ended_holds(stores: Stores) {
    let f = fixture(stores).await;
    f.held(1, 1, T0).await;
    f.held(2, 2, T0.plus_secs(100)).await;
    assert_eq!(
        ok(f.booking
            .release_expired_holds(T0.plus_secs(299), 100)
            .await),
        0
    );
    assert_eq!(
        ok(f.booking
            .release_expired_holds(T0.plus_secs(300), 100)
            .await),
        1
    );
    assert_eq!(
        ok(f.booking
            .release_expired_holds(T0.plus_secs(300), 100)
            .await),
        0
    );
    assert_eq!(f.status(1, T0.plus_secs(300)).await, SeatStatus::Available);
    assert_eq!(f.status(2, T0.plus_secs(300)).await, SeatStatus::Held);
    // A seat re-held after its old hold ended is not freed by sweeping the old one.
    f.held(3, 2, T0.plus_secs(400)).await;
    assert_eq!(
        ok(f.booking
            .release_expired_holds(T0.plus_secs(401), 100)
            .await),
        1
    );
    assert_eq!(f.status(2, T0.plus_secs(401)).await, SeatStatus::Held);
}

pub async fn payment_sells_debits_reserves_and_appends_one_event(stores: Stores) {
    let f = fixture(stores).await;
    f.charge(1, 200_000).await;
    let hold = f.held(1, 12, T0).await;
    let PaymentOutcome::Confirmed(receipt) = f.pay(1, hold, T0.plus_secs(10)).await else {
        panic!("payment must succeed")
    };
    assert_eq!(receipt.price, Won::new(90_000));
    assert_eq!(receipt.balance, Won::new(110_000));
    assert_eq!(receipt.reservations[0].seat_number, seat(12));
    assert_eq!(receipt.concert_id, f.concert);
    assert_eq!(f.balance(1).await, Won::new(110_000));
    assert_eq!(f.status(12, T0.plus_secs(1_000)).await, SeatStatus::Sold);
    assert_eq!(
        f.hold(2, 12, T0.plus_secs(1_000)).await,
        HoldOutcome::SeatSold
    );
    let mine = ok(f.booking.reservations_of(user(1)).await);
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0].id, receipt.reservations[0].reservation_id);
    assert_eq!(mine[0].hold_id, hold);
    assert!(ok(f.booking.reservations_of(user(2)).await).is_empty());
    let events = ok(f
        .store
        .claim_unpublished(T0, 1, T0.plus_secs(30), 100)
        .await);
    let confirmed: Vec<_> = events
        .iter()
        .filter(|e| e.event_type == RESERVATION_CONFIRMED)
        .collect();
    assert_eq!(confirmed.len(), 1);
    assert_eq!(
        confirmed[0].aggregate_key,
        receipt.reservations[0].reservation_id.to_string()
    );
    match DomainEvent::decode(confirmed[0]) {
        Some(DomainEvent::ReservationConfirmed(body)) => {
            assert_eq!(body.user_id, user(1));
            assert_eq!(body.price, Won::new(90_000));
        }
        other => panic!("undecodable event {other:?}"),
    }
    let audit = ok(f.store.audit().await);
    let totals = audit.money;
    assert_eq!(audit.reservations, 1);
    assert_eq!(
        (
            audit.negative_balances,
            audit.seats_sold_twice,
            audit.sales_out_of_step
        ),
        (0, 0, 0)
    );
    assert_eq!(audit.reservations_without_one_event, 0);
    assert_eq!(totals.charged, Won::new(200_000));
    assert_eq!(totals.paid, Won::new(90_000));
    assert_eq!(totals.balances, Won::new(110_000));
    f.assert_ledger_reconciles().await;
}

pub async fn a_hold_is_paid_at_most_once(stores: Stores) {
    let f = fixture(stores).await;
    f.charge(1, 500_000).await;
    let hold = f.held(1, 1, T0).await;
    assert!(matches!(
        f.pay(1, hold, T0).await,
        PaymentOutcome::Confirmed(_)
    ));
    assert_eq!(
        f.pay(1, hold, T0).await,
        PaymentOutcome::Refused(PaymentRefused::AlreadyPaid)
    );
    assert_eq!(f.balance(1).await, Won::new(350_000));
    assert_eq!(ok(f.booking.reservations_of(user(1)).await).len(), 1);
}

pub async fn insufficient_balance_changes_nothing(stores: Stores) {
    let f = fixture(stores).await;
    f.charge(1, 100_000).await;
    let hold = f.held(1, 1, T0).await;
    let before = ok(f.store.outbox_backlog().await).unpublished;
    assert_eq!(
        f.pay(1, hold, T0).await,
        PaymentOutcome::Refused(PaymentRefused::InsufficientBalance {
            balance: Won::new(100_000),
            price: Won::new(150_000)
        })
    );
    assert_eq!(f.balance(1).await, Won::new(100_000));
    assert_eq!(f.status(1, T0).await, SeatStatus::Held);
    assert!(ok(f.booking.reservations_of(user(1)).await).is_empty());
    assert_eq!(ok(f.store.outbox_backlog().await).unpublished, before);
    // Topping up makes the same hold payable.
    f.charge(1, 50_000).await;
    assert!(matches!(
        f.pay(1, hold, T0).await,
        PaymentOutcome::Confirmed(_)
    ));
    assert_eq!(f.balance(1).await, Won::ZERO);
}

pub async fn only_the_holder_may_pay_a_live_hold(stores: Stores) {
    let f = fixture(stores).await;
    f.charge(2, 500_000).await;
    f.charge(1, 500_000).await;
    let hold = f.held(1, 1, T0).await;
    assert_eq!(
        f.pay(2, hold, T0).await,
        PaymentOutcome::Refused(PaymentRefused::NotYourHold)
    );
    assert_eq!(f.balance(2).await, Won::new(500_000));
    assert_eq!(f.balance(1).await, Won::new(500_000));
    assert!(matches!(
        f.pay(1, hold, T0).await,
        PaymentOutcome::Confirmed(_)
    ));
}

pub async fn an_empty_balance_limits_live_holds(stores: Stores) {
    let f = fixture(stores).await;
    let attempt = |seat_no: i64| {
        let mut a = f.attempt(1, seat_no, T0);
        a.limits.max_live = 3;
        a
    };
    assert!(matches!(
        ok(f.booking.hold_seat(&attempt(1)).await),
        HoldOutcome::Held(_)
    ));
    assert_eq!(
        ok(f.booking.hold_seat(&attempt(2)).await),
        HoldOutcome::LimitReached(HoldLimitReached::Unfunded)
    );
    f.charge(1, 1).await;
    assert!(matches!(
        ok(f.booking.hold_seat(&attempt(2)).await),
        HoldOutcome::Held(_)
    ));
    assert!(matches!(
        ok(f.booking.hold_seat(&attempt(3)).await),
        HoldOutcome::Held(_)
    ));
    assert_eq!(
        ok(f.booking.hold_seat(&attempt(4)).await),
        HoldOutcome::LimitReached(HoldLimitReached::Live)
    );
}

pub async fn lapsed_holds_count_until_they_leave_the_window(stores: Stores) {
    let f = fixture(stores).await;
    f.charge(1, 500_000).await;
    let window_ms = 3_600_000;
    let attempt = |seat_no: i64, now: Timestamp| {
        let mut a = f.attempt(1, seat_no, now);
        a.limits.max_lapsed = 2;
        a.limits.lapsed_since = now.plus_millis(-window_ms);
        a
    };
    let held = |outcome: HoldOutcome| match outcome {
        HoldOutcome::Held(h) => h.id,
        other => panic!("expected a hold, got {other:?}"),
    };
    // A paid hold is no lapse.
    let paid = held(ok(f.booking.hold_seat(&attempt(1, T0)).await));
    assert!(matches!(
        f.pay(1, paid, T0).await,
        PaymentOutcome::Confirmed(_)
    ));
    // One released...
    let released = held(ok(f.booking.hold_seat(&attempt(2, T0)).await));
    assert_eq!(
        ok(f.booking.release_hold(user(1), released, T0).await),
        ReleaseOutcome::Released(f.concert)
    );
    // ...and one left to run out: two lapses.
    held(ok(f.booking.hold_seat(&attempt(2, T0)).await));
    let later = T0.plus_secs(300);
    assert_eq!(
        ok(f.booking.hold_seat(&attempt(3, later)).await),
        HoldOutcome::LimitReached(HoldLimitReached::Lapsed)
    );
    // Swept or not, they count the same.
    ok(f.booking.release_expired_holds(later, 100).await);
    assert_eq!(
        ok(f.booking.hold_seat(&attempt(3, later)).await),
        HoldOutcome::LimitReached(HoldLimitReached::Lapsed)
    );
    // Once the lapses leave the window, the fan may hold again.
    let much_later = T0.plus_millis(window_ms + 300_001);
    held(ok(f.booking.hold_seat(&attempt(3, much_later)).await));
}

pub async fn concurrent_holds_on_one_seat_have_exactly_one_winner(stores: Stores) {
    let f = Arc::new(fixture(stores).await);
    let outcomes = holds_at_once(&f, (1..=64).map(|who| (who, 20))).await;
    assert_eq!(tally(&outcomes, HoldOutcome::SeatTaken), (1, 63));
}

pub async fn concurrent_payments_of_one_hold_debit_once(stores: Stores) {
    let f = Arc::new(fixture(stores).await);
    f.charge(1, 1_000_000).await;
    let hold = f.held(1, 1, T0).await;
    let outcomes = payments_at_once(&f, vec![hold; 20]).await;
    assert_eq!(confirmed(&outcomes), 1);
    assert!(outcomes.iter().all(|o| matches!(
        o,
        PaymentOutcome::Confirmed(_) | PaymentOutcome::Refused(PaymentRefused::AlreadyPaid)
    )));
    assert_eq!(f.balance(1).await, Won::new(850_000));
    assert_eq!(ok(f.booking.reservations_of(user(1)).await).len(), 1);
}

pub async fn concurrent_holds_of_one_user_stay_within_the_limit(stores: Stores) {
    let f = Arc::new(fixture(stores).await);
    let outcomes = holds_at_once(&f, (1..=30).map(|seat_no| (7, seat_no))).await;
    assert_eq!(
        tally(&outcomes, HoldOutcome::LimitReached(HoldLimitReached::Live)),
        (1, 29)
    );
}

pub async fn concurrent_payments_share_one_balance_without_overdraft(stores: Stores) {
    let f = Arc::new(fixture(stores).await);
    f.charge(1, 1_000_000).await;
    // Twenty R seats at 90,000: the balance covers eleven of them.
    let mut holds = Vec::new();
    for seat_no in 11..=30 {
        let mut attempt = f.attempt(1, seat_no, T0);
        attempt.limits.max_live = 20;
        match ok(f.booking.hold_seat(&attempt).await) {
            HoldOutcome::Held(hold) => holds.push(hold.id),
            other => panic!("expected a hold, got {other:?}"),
        }
    }
    let outcomes = payments_at_once(&f, holds).await;
    let short = outcomes
        .iter()
        .filter(|o| {
            matches!(
                o,
                PaymentOutcome::Refused(PaymentRefused::InsufficientBalance { .. })
            )
        })
        .count();
    assert_eq!((confirmed(&outcomes), short), (11, 9));
    assert_eq!(f.balance(1).await, Won::new(10_000));
    let audit = ok(f.store.audit().await);
    assert_eq!(audit.reservations, 11);
    assert_eq!(
        (
            audit.negative_balances,
            audit.seats_sold_twice,
            audit.sales_out_of_step,
            audit.reservations_without_one_event
        ),
        (0, 0, 0, 0)
    );
    assert_eq!(audit.money.paid, Won::new(990_000));
    f.assert_ledger_reconciles().await;
}

pub async fn a_payment_records_its_idempotent_answer_with_the_sale(stores: Stores) {
    let f = fixture(stores).await;
    f.charge(1, 500_000).await;
    let hold = f.held(1, 12, T0).await;
    let claim = IdempotencyClaim {
        user_id: user(1),
        scope: IdempotencyScope::Payment,
        key: ok(IdempotencyKey::parse("pay-1")),
        fingerprint: Fingerprint::of(IdempotencyScope::Payment, &[&hold.to_string()]),
        now: T0,
        lease_until: T0.plus_secs(30),
    };
    let ClaimOutcome::Claimed(ticket) = ok(f.store.claim_idempotency_key(&claim).await) else {
        panic!("a new key is claimed")
    };
    let PaymentOutcome::Confirmed(receipt) = ok(f
        .booking
        .confirm_payment(&f.payment(1, hold, T0), Some(&ticket))
        .await)
    else {
        panic!("payment must succeed")
    };
    let ClaimOutcome::Replay(answer) = ok(f.store.claim_idempotency_key(&claim).await) else {
        panic!("a finished key replays")
    };
    assert!(answer.contains("Done"), "{answer}");
    assert!(
        answer.contains(&receipt.reservations[0].reservation_id.to_string()),
        "{answer}"
    );
    // An ended hold is refused as expired and changes nothing.
    let late = f.held(1, 13, T0.plus_secs(1)).await;
    assert_eq!(
        f.pay(1, late, T0.plus_secs(301)).await,
        PaymentOutcome::Refused(PaymentRefused::HoldExpired)
    );
    assert_eq!(f.balance(1).await, Won::new(410_000));
}

/// Tries every `(user, seat)` hold at once.
async fn holds_at_once(
    f: &Arc<Fixture>,
    attempts: impl Iterator<Item = (i64, i64)>,
) -> Vec<HoldOutcome> {
    let attempts = attempts.map(|(who, seat_no)| {
        let f = f.clone();
        spawned(async move { f.hold(who, seat_no, T0).await })
    });
    futures::future::join_all(attempts).await
}

/// User 1 pays for every hold in `holds` at once.
async fn payments_at_once(f: &Arc<Fixture>, holds: Vec<HoldId>) -> Vec<PaymentOutcome> {
    let payments = holds.into_iter().map(|hold| {
        let f = f.clone();
        spawned(async move { f.pay(1, hold, T0).await })
    });
    futures::future::join_all(payments).await
}

pub(super) fn confirmed(outcomes: &[PaymentOutcome]) -> usize {
    outcomes
        .iter()
        .filter(|o| matches!(o, PaymentOutcome::Confirmed(_)))
        .count()
}

/// How many holds were won, and how many were refused with `refusal`.
fn tally(outcomes: &[HoldOutcome], refusal: HoldOutcome) -> (usize, usize) {
    let won = outcomes
        .iter()
        .filter(|o| matches!(o, HoldOutcome::Held(_)))
        .count();
    (won, outcomes.iter().filter(|o| **o == refusal).count())
}

pub async fn a_live_hold_is_extended_once_and_keeps_its_seat_until_the_new_expiry(stores: Stores) {
    let f = fixture(stores).await;
    let rule = HoldExtension {
        extend_ms: 120_000,
        max_total_ms: 600_000,
    };
    let hold = f.held(1, 8, T0).await;
    let extend = |who: i64, now: Timestamp| f.booking.extend_hold(user(who), hold, now, rule);
    assert_eq!(
        ok(extend(2, T0.plus_secs(10)).await),
        ExtendOutcome::Refused(ExtendRefusal::NotYourHold)
    );
    let ExtendOutcome::Extended(extended) = ok(extend(1, T0.plus_secs(10)).await) else {
        panic!("the holder extends a live hold")
    };
    assert_eq!(extended.expires_at, T0.plus_secs(420));
    assert!(extended.extended);
    assert_eq!(extended.held_at, T0);
    assert_eq!(
        ok(extend(1, T0.plus_secs(20)).await),
        ExtendOutcome::Refused(ExtendRefusal::AlreadyExtended)
    );
    assert_eq!(
        ok(f.booking
            .extend_hold(user(1), HoldId::from_uuid(uuid()), T0, rule)
            .await),
        ExtendOutcome::NotFound
    );
    // Past its first expiry the seat is held, the sweeper leaves it, and
    // nobody else may take it.
    let later = T0.plus_secs(400);
    assert_eq!(ok(f.booking.release_expired_holds(later, 100).await), 0);
    assert_eq!(f.status(8, later).await, SeatStatus::Held);
    assert_eq!(f.hold(2, 8, later).await, HoldOutcome::SeatTaken);
    assert_eq!(
        ok(f.booking.live_holds_of(user(1), later).await),
        vec![extended.clone()]
    );
    // It ends at the new expiry, and may be paid until then.
    f.charge(1, 500_000).await;
    assert!(matches!(
        f.pay(1, hold, T0.plus_secs(419)).await,
        PaymentOutcome::Confirmed(_)
    ));
    assert_eq!(
        ok(extend(1, T0.plus_secs(419)).await),
        ExtendOutcome::Refused(ExtendRefusal::NotLive)
    );
    // The longest a hold lasts caps an extension.
    let capped = HoldExtension {
        max_total_ms: 330_000,
        ..rule
    };
    let other = f.held(2, 9, T0).await;
    let ExtendOutcome::Extended(short) = ok(f
        .booking
        .extend_hold(user(2), other, T0.plus_secs(1), capped)
        .await)
    else {
        panic!("extended up to the cap")
    };
    assert_eq!(short.expires_at, T0.plus_secs(330));
    assert_eq!(f.status(9, T0.plus_secs(329)).await, SeatStatus::Held);
    assert_eq!(f.status(9, T0.plus_secs(330)).await, SeatStatus::Available);
}

pub async fn concurrent_extensions_of_one_hold_extend_it_once(stores: Stores) {
    let f = Arc::new(fixture(stores).await);
    let hold = f.held(1, 10, T0).await;
    let rule = HoldExtension {
        extend_ms: 120_000,
        max_total_ms: 600_000,
    };
    let attempts = (0..20).map(|_| {
        let f = f.clone();
        spawned(async move {
            ok(f.booking
                .extend_hold(user(1), hold, T0.plus_secs(5), rule)
                .await)
        })
    });
    let outcomes = futures::future::join_all(attempts).await;
    let extended = outcomes
        .iter()
        .filter(|o| matches!(o, ExtendOutcome::Extended(_)))
        .count();
    assert_eq!(extended, 1, "{outcomes:?}");
    assert!(outcomes.iter().all(|o| matches!(
        o,
        ExtendOutcome::Extended(_) | ExtendOutcome::Refused(ExtendRefusal::AlreadyExtended)
    )));
    let live = ok(f.booking.live_holds_of(user(1), T0.plus_secs(400)).await);
    assert_eq!(live.len(), 1);
    assert_eq!(live[0].expires_at, T0.plus_secs(420));
}

pub async fn live_holds_are_listed_newest_first_for_their_holder_only(stores: Stores) {
    let f = fixture(stores).await;
    let mut two = f.attempt(1, 2, T0.plus_secs(1));
    two.limits.max_live = 3;
    two.limits.max_live_unfunded = 3;
    let first = f.held(1, 1, T0).await;
    let HoldOutcome::Held(second) = ok(f.booking.hold_seat(&two).await) else {
        panic!("a second hold within the limit")
    };
    f.held(2, 3, T0).await;
    let listed = ok(f.booking.live_holds_of(user(1), T0.plus_secs(2)).await);
    assert_eq!(
        listed.iter().map(|h| h.id).collect::<Vec<_>>(),
        vec![second.id, first]
    );
    ok(f.booking
        .release_hold(user(1), first, T0.plus_secs(3))
        .await);
    let listed = ok(f.booking.live_holds_of(user(1), T0.plus_secs(3)).await);
    assert_eq!(listed, vec![second]);
    // An ended hold is not live, swept or not.
    assert!(ok(f.booking.live_holds_of(user(1), T0.plus_secs(301)).await).is_empty());
    assert!(ok(f.booking.live_holds_of(user(3), T0).await).is_empty());
}

/// A hold attempt of `who` with room for many live holds and `per_concert`
/// seats of the concert.
fn within(f: &Fixture, who: i64, seat_no: i64, now: Timestamp, per_concert: u32) -> HoldAttempt {
    let mut attempt = f.attempt(who, seat_no, now);
    attempt.limits.max_live = 50;
    attempt.limits.max_live_unfunded = 50;
    attempt.limits.max_per_concert = per_concert;
    attempt
}

pub async fn a_fan_holds_no_more_of_a_concert_than_its_ticket_limit_counting_seats_bought(
    stores: Stores,
) {
    let f = fixture(stores).await;
    f.charge(1, 1_000_000).await;
    let f = &f;
    let hold = |seat_no: i64, now: Timestamp| {
        let attempt = within(f, 1, seat_no, now, 3);
        async move { ok(f.booking.hold_seat(&attempt).await) }
    };
    let HoldOutcome::Held(bought) = hold(1, T0).await else {
        panic!("the first seat")
    };
    assert!(matches!(
        f.pay(1, bought.id, T0).await,
        PaymentOutcome::Confirmed(_)
    ));
    let HoldOutcome::Held(second) = hold(2, T0).await else {
        panic!("the second seat")
    };
    assert!(matches!(hold(3, T0).await, HoldOutcome::Held(_)));
    // One bought and two held: the limit of three is reached.
    assert_eq!(
        hold(4, T0).await,
        HoldOutcome::LimitReached(HoldLimitReached::PerConcert)
    );
    // A released hold gives its place back.
    ok(f.booking.release_hold(user(1), second.id, T0).await);
    assert!(matches!(hold(4, T0).await, HoldOutcome::Held(_)));
    assert_eq!(
        hold(5, T0).await,
        HoldOutcome::LimitReached(HoldLimitReached::PerConcert)
    );
    // Another fan, and another concert, count apart.
    let other_fan = within(f, 2, 5, T0, 3);
    assert!(matches!(
        ok(f.booking.hold_seat(&other_fan).await),
        HoldOutcome::Held(_)
    ));
    let elsewhere = f.another_concerts_date().await;
    let mut there = within(f, 1, 1, T0, 3);
    there.schedule_id = elsewhere;
    assert!(matches!(
        ok(f.booking.hold_seat(&there).await),
        HoldOutcome::Held(_)
    ));
    // Holds that ended unpaid free their places; the seat bought does not.
    assert!(matches!(
        hold(6, T0.plus_secs(300)).await,
        HoldOutcome::Held(_)
    ));
    assert!(matches!(
        hold(7, T0.plus_secs(300)).await,
        HoldOutcome::Held(_)
    ));
    assert_eq!(
        hold(8, T0.plus_secs(300)).await,
        HoldOutcome::LimitReached(HoldLimitReached::PerConcert)
    );
}

pub async fn concurrent_holds_of_one_fan_stop_at_exactly_the_concerts_ticket_limit(stores: Stores) {
    let f = Arc::new(fixture(stores).await);
    f.charge(7, 1_000_000).await;
    let attempts = (1..=30).map(|seat_no| {
        let f = f.clone();
        spawned(async move {
            let attempt = within(&f, 7, seat_no, T0, 4);
            ok(f.booking.hold_seat(&attempt).await)
        })
    });
    let outcomes = futures::future::join_all(attempts).await;
    assert_eq!(
        tally(
            &outcomes,
            HoldOutcome::LimitReached(HoldLimitReached::PerConcert)
        ),
        (4, 26)
    );
    assert_eq!(ok(f.booking.live_holds_of(user(7), T0).await).len(), 4);
}

pub async fn payments_racing_holds_of_one_fan_count_each_seat_once_against_the_ticket_limit(
    stores: Stores,
) {
    let f = Arc::new(fixture(stores).await);
    f.charge(8, 1_000_000).await;
    let mut paid = Vec::new();
    for seat_no in [31, 32] {
        let attempt = within(&f, 8, seat_no, T0, 4);
        match ok(f.booking.hold_seat(&attempt).await) {
            HoldOutcome::Held(hold) => paid.push(hold.id),
            other => panic!("expected a hold, got {other:?}"),
        }
    }
    // Two seats held, being paid for while ten more holds race: held or
    // bought, each is one of the four, so exactly two more holds win.
    let payments = paid.into_iter().map(|hold| {
        let f = f.clone();
        spawned(async move { f.pay(8, hold, T0).await })
    });
    let holds = (33..=42).map(|seat_no| {
        let f = f.clone();
        spawned(async move {
            let attempt = within(&f, 8, seat_no, T0, 4);
            ok(f.booking.hold_seat(&attempt).await)
        })
    });
    let (paid, held) = futures::future::join(
        futures::future::join_all(payments),
        futures::future::join_all(holds),
    )
    .await;
    assert_eq!(confirmed(&paid), 2);
    assert_eq!(
        tally(
            &held,
            HoldOutcome::LimitReached(HoldLimitReached::PerConcert)
        ),
        (2, 8)
    );
}
