//! The behaviour every `Store` adapter must show. Each case takes a fresh,
//! empty store; `store_contract_tests!` turns them into one test each.

use super::{sample_concert, seat, user};
use crate::domain::concert::EntryRules;
use crate::domain::events::{DomainEvent, RESERVATION_CONFIRMED};
use crate::domain::idempotency::{
    ClaimOutcome, Fingerprint, IdempotencyClaim, IdempotencyKey, IdempotencyScope,
};
use crate::domain::identity::{FIRST_MAPPED_USER_ID, Subject};
use crate::domain::sample::{SaleSample, SeatTally};
use crate::domain::seat::SeatStatus;
use crate::domain::seat_hold::{HoldLimitReached, HoldLimits};
use crate::domain::{ConcertId, EventId, HoldId, ReservationId, ScheduleId, Timestamp, Won};
use crate::ports::{
    ChargeAttempt, ChargeOutcome, ChargeRefused, HoldAttempt, HoldOutcome, PaymentAttempt,
    PaymentOutcome, PaymentRefused, ReleaseOutcome, Store,
};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use uuid::Uuid;

/// Generates one `#[tokio::test]` per contract case. `$make` is an async
/// expression giving a fresh `Arc<dyn Store>`.
#[macro_export]
macro_rules! store_contract_tests {
    ($make:expr) => {
        $crate::store_contract_tests!(@cases $make;
            seats_start_available_and_a_hold_is_exclusive,
            a_hold_stops_blocking_at_its_expiry_instant,
            unknown_seats_and_schedules_are_reported,
            live_holds_per_user_are_limited,
            a_holder_can_release_and_others_cannot,
            the_sweeper_releases_only_ended_holds,
            payment_sells_debits_reserves_and_appends_one_event,
            a_hold_is_paid_at_most_once,
            insufficient_balance_changes_nothing,
            only_the_holder_may_pay_a_live_hold,
            an_empty_balance_limits_live_holds,
            lapsed_holds_count_until_they_leave_the_window,
            subjects_get_one_id_each_for_ever,
            the_first_signing_secret_stored_is_kept,
            entry_rules_default_to_no_gate_and_can_be_set,
            charges_add_up_within_the_limit,
            idempotency_keys_replay_conflict_and_expire,
            the_outbox_hands_out_events_in_order_until_published,
            concurrent_holds_on_one_seat_have_exactly_one_winner,
            concurrent_charges_add_up_exactly,
            concurrent_payments_of_one_hold_debit_once,
            concurrent_holds_of_one_user_stay_within_the_limit,
            concurrent_payments_share_one_balance_without_overdraft,
            a_payment_records_its_idempotent_answer_with_the_sale,
            a_room_changes_only_from_the_version_read_with_its_audit_and_event,
            a_draw_is_recorded_once_and_read_back_in_place_order,
            sellable_seats_count_available_and_held_but_not_sold,
            a_tally_counts_seats_by_status_at_an_instant_and_sums_the_revenue,
            samples_are_kept_once_per_instant_read_in_order_limited_and_let_go,
        );
    };
    (@cases $make:expr; $($case:ident),+ $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let store: std::sync::Arc<dyn $crate::ports::Store> = $make;
                $crate::testing::store_contract::$case(store).await;
            }
        )+
    };
}

const T0: Timestamp = Timestamp::from_millis(1_893_456_000_000);
static IDS: AtomicU64 = AtomicU64::new(1);

fn uuid() -> Uuid {
    // Distinct across the test process; v7 layout so event ids sort by creation.
    let n = IDS.fetch_add(1, Ordering::SeqCst);
    uuid::Builder::from_unix_timestamp_millis(1_893_456_000_000 + n, &[0; 10]).into_uuid()
}

fn ok<T, E: std::fmt::Display>(r: Result<T, E>) -> T {
    r.unwrap_or_else(|e| panic!("{e}"))
}

struct Fixture {
    store: Arc<dyn Store>,
    concert: ConcertId,
    schedule: ScheduleId,
}

async fn fixture(store: Arc<dyn Store>) -> Fixture {
    let concert = ok(store
        .create_concert(&sample_concert("Contract", 2, T0.plus_secs(86_400)), T0)
        .await);
    let schedule = ok(store.schedules_with_availability(concert, T0).await)[0]
        .schedule
        .id;
    Fixture {
        store,
        concert,
        schedule,
    }
}

impl Fixture {
    fn attempt(&self, who: i64, seat_no: i64, now: Timestamp) -> HoldAttempt {
        HoldAttempt {
            hold_id: HoldId::from_uuid(uuid()),
            user_id: user(who),
            schedule_id: self.schedule,
            seat_number: seat(seat_no),
            now,
            expires_at: now.plus_secs(300),
            limits: HoldLimits {
                max_live: 1,
                max_live_unfunded: 1,
                max_lapsed: 100,
                lapsed_since: now.plus_millis(-3_600_000),
            },
        }
    }

    async fn hold(&self, who: i64, seat_no: i64, now: Timestamp) -> HoldOutcome {
        ok(self.store.hold_seat(&self.attempt(who, seat_no, now)).await)
    }

    async fn held(&self, who: i64, seat_no: i64, now: Timestamp) -> HoldId {
        match self.hold(who, seat_no, now).await {
            HoldOutcome::Held(h) => h.id,
            other => panic!("expected a hold, got {other:?}"),
        }
    }

    fn payment(&self, who: i64, hold: HoldId, now: Timestamp) -> PaymentAttempt {
        PaymentAttempt {
            user_id: user(who),
            hold_id: hold,
            now,
            reservation_id: ReservationId::from_uuid(uuid()),
            event_id: EventId::from_uuid(uuid()),
        }
    }

    async fn pay(&self, who: i64, hold: HoldId, now: Timestamp) -> PaymentOutcome {
        ok(self
            .store
            .confirm_payment(&self.payment(who, hold, now), None)
            .await)
    }

    async fn charge(&self, who: i64, amount: i64) -> ChargeOutcome {
        let attempt = ChargeAttempt {
            user_id: user(who),
            amount: Won::new(amount),
            max_balance: Won::new(1_000_000),
            now: T0,
            event_id: EventId::from_uuid(uuid()),
        };
        ok(self.store.charge_balance(&attempt, None).await)
    }

    async fn status(&self, seat_no: i64, now: Timestamp) -> SeatStatus {
        ok(self.store.seats(self.schedule, now).await)[seat_no as usize - 1].status
    }

    async fn balance(&self, who: i64) -> Won {
        ok(self.store.balance(user(who)).await)
    }
}

pub async fn seats_start_available_and_a_hold_is_exclusive(store: Arc<dyn Store>) {
    let f = fixture(store).await;
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

pub async fn a_hold_stops_blocking_at_its_expiry_instant(store: Arc<dyn Store>) {
    let f = fixture(store).await;
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

pub async fn unknown_seats_and_schedules_are_reported(store: Arc<dyn Store>) {
    let f = fixture(store).await;
    let mut attempt = f.attempt(1, 1, T0);
    attempt.schedule_id = super::schedule_id(987_654);
    assert_eq!(
        ok(f.store.hold_seat(&attempt).await),
        HoldOutcome::NoSuchSeat
    );
    assert!(ok(f.store.schedule(super::schedule_id(987_654)).await).is_none());
    assert!(ok(f.store.concert(super::concert_id(987_654)).await).is_none());
    assert_eq!(
        f.pay(1, HoldId::from_uuid(uuid()), T0).await,
        PaymentOutcome::Refused(PaymentRefused::HoldNotFound)
    );
    let concert = ok(f.store.concert(f.concert).await).unwrap_or_else(|| panic!("created"));
    assert_eq!(concert.title, "Contract");
    assert_eq!(ok(f.store.list_concerts().await).len(), 1);
}

pub async fn live_holds_per_user_are_limited(store: Arc<dyn Store>) {
    let f = fixture(store).await;
    f.held(1, 1, T0).await;
    assert_eq!(
        f.hold(1, 2, T0).await,
        HoldOutcome::LimitReached(HoldLimitReached::Live)
    );
    let mut two = f.attempt(1, 2, T0);
    two.limits.max_live = 2;
    two.limits.max_live_unfunded = 2;
    assert!(matches!(
        ok(f.store.hold_seat(&two).await),
        HoldOutcome::Held(_)
    ));
    // Ended holds do not count.
    f.held(1, 3, T0.plus_secs(300)).await;
}

pub async fn a_holder_can_release_and_others_cannot(store: Arc<dyn Store>) {
    let f = fixture(store).await;
    let hold = f.held(1, 4, T0).await;
    let release = |who: i64| f.store.release_hold(user(who), hold, T0);
    assert_eq!(ok(release(2).await), ReleaseOutcome::NotYours);
    assert_eq!(ok(release(1).await), ReleaseOutcome::Released(f.concert));
    assert_eq!(ok(release(1).await), ReleaseOutcome::NotLive);
    assert_eq!(
        ok(f.store
            .release_hold(user(1), HoldId::from_uuid(uuid()), T0)
            .await),
        ReleaseOutcome::NotFound
    );
    assert_eq!(f.status(4, T0).await, SeatStatus::Available);
    f.held(2, 4, T0).await;
}

pub async fn the_sweeper_releases_only_ended_holds(store: Arc<dyn Store>) {
    let f = fixture(store).await;
    f.held(1, 1, T0).await;
    f.held(2, 2, T0.plus_secs(100)).await;
    assert_eq!(
        ok(f.store.release_expired_holds(T0.plus_secs(299), 100).await),
        0
    );
    assert_eq!(
        ok(f.store.release_expired_holds(T0.plus_secs(300), 100).await),
        1
    );
    assert_eq!(
        ok(f.store.release_expired_holds(T0.plus_secs(300), 100).await),
        0
    );
    assert_eq!(f.status(1, T0.plus_secs(300)).await, SeatStatus::Available);
    assert_eq!(f.status(2, T0.plus_secs(300)).await, SeatStatus::Held);
    // A seat re-held after its old hold ended is not freed by sweeping the old one.
    f.held(3, 2, T0.plus_secs(400)).await;
    assert_eq!(
        ok(f.store.release_expired_holds(T0.plus_secs(401), 100).await),
        1
    );
    assert_eq!(f.status(2, T0.plus_secs(401)).await, SeatStatus::Held);
}

pub async fn payment_sells_debits_reserves_and_appends_one_event(store: Arc<dyn Store>) {
    let f = fixture(store).await;
    f.charge(1, 200_000).await;
    let hold = f.held(1, 12, T0).await;
    let PaymentOutcome::Confirmed(receipt) = f.pay(1, hold, T0.plus_secs(10)).await else {
        panic!("payment must succeed")
    };
    assert_eq!(receipt.price, Won::new(90_000));
    assert_eq!(receipt.balance, Won::new(110_000));
    assert_eq!(receipt.seat_number, seat(12));
    assert_eq!(receipt.concert_id, f.concert);
    assert_eq!(f.balance(1).await, Won::new(110_000));
    assert_eq!(f.status(12, T0.plus_secs(1_000)).await, SeatStatus::Sold);
    assert_eq!(
        f.hold(2, 12, T0.plus_secs(1_000)).await,
        HoldOutcome::SeatSold
    );
    let mine = ok(f.store.reservations_of(user(1)).await);
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0].id, receipt.reservation_id);
    assert_eq!(mine[0].hold_id, hold);
    assert!(ok(f.store.reservations_of(user(2)).await).is_empty());
    let events = ok(f.store.claim_unpublished(T0, T0.plus_secs(30), 100).await);
    let confirmed: Vec<_> = events
        .iter()
        .filter(|e| e.event_type == RESERVATION_CONFIRMED)
        .collect();
    assert_eq!(confirmed.len(), 1);
    assert_eq!(
        confirmed[0].aggregate_key,
        receipt.reservation_id.to_string()
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
}

pub async fn a_hold_is_paid_at_most_once(store: Arc<dyn Store>) {
    let f = fixture(store).await;
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
    assert_eq!(ok(f.store.reservations_of(user(1)).await).len(), 1);
}

pub async fn insufficient_balance_changes_nothing(store: Arc<dyn Store>) {
    let f = fixture(store).await;
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
    assert!(ok(f.store.reservations_of(user(1)).await).is_empty());
    assert_eq!(ok(f.store.outbox_backlog().await).unpublished, before);
    // Topping up makes the same hold payable.
    f.charge(1, 50_000).await;
    assert!(matches!(
        f.pay(1, hold, T0).await,
        PaymentOutcome::Confirmed(_)
    ));
    assert_eq!(f.balance(1).await, Won::ZERO);
}

pub async fn only_the_holder_may_pay_a_live_hold(store: Arc<dyn Store>) {
    let f = fixture(store).await;
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

pub async fn an_empty_balance_limits_live_holds(store: Arc<dyn Store>) {
    let f = fixture(store).await;
    let attempt = |seat_no: i64| {
        let mut a = f.attempt(1, seat_no, T0);
        a.limits.max_live = 3;
        a
    };
    assert!(matches!(
        ok(f.store.hold_seat(&attempt(1)).await),
        HoldOutcome::Held(_)
    ));
    assert_eq!(
        ok(f.store.hold_seat(&attempt(2)).await),
        HoldOutcome::LimitReached(HoldLimitReached::Unfunded)
    );
    f.charge(1, 1).await;
    assert!(matches!(
        ok(f.store.hold_seat(&attempt(2)).await),
        HoldOutcome::Held(_)
    ));
    assert!(matches!(
        ok(f.store.hold_seat(&attempt(3)).await),
        HoldOutcome::Held(_)
    ));
    assert_eq!(
        ok(f.store.hold_seat(&attempt(4)).await),
        HoldOutcome::LimitReached(HoldLimitReached::Live)
    );
}

pub async fn lapsed_holds_count_until_they_leave_the_window(store: Arc<dyn Store>) {
    let f = fixture(store).await;
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
    let paid = held(ok(f.store.hold_seat(&attempt(1, T0)).await));
    assert!(matches!(
        f.pay(1, paid, T0).await,
        PaymentOutcome::Confirmed(_)
    ));
    // One released...
    let released = held(ok(f.store.hold_seat(&attempt(2, T0)).await));
    assert_eq!(
        ok(f.store.release_hold(user(1), released, T0).await),
        ReleaseOutcome::Released(f.concert)
    );
    // ...and one left to run out: two lapses.
    held(ok(f.store.hold_seat(&attempt(2, T0)).await));
    let later = T0.plus_secs(300);
    assert_eq!(
        ok(f.store.hold_seat(&attempt(3, later)).await),
        HoldOutcome::LimitReached(HoldLimitReached::Lapsed)
    );
    // Swept or not, they count the same.
    ok(f.store.release_expired_holds(later, 100).await);
    assert_eq!(
        ok(f.store.hold_seat(&attempt(3, later)).await),
        HoldOutcome::LimitReached(HoldLimitReached::Lapsed)
    );
    // Once the lapses leave the window, the fan may hold again.
    let much_later = T0.plus_millis(window_ms + 300_001);
    held(ok(f.store.hold_seat(&attempt(3, much_later)).await));
}

pub async fn subjects_get_one_id_each_for_ever(store: Arc<dyn Store>) {
    let keycloak = ok(Subject::new("f47ac10b-58cc-4372-a567-0e02b2c3d479"));
    let auth0 = ok(Subject::new("auth0|5f7c8ec7c33c6c004bbafe82"));
    // Twenty instances see the same new fan at once.
    let calls = (0..20).map(|_| {
        let (store, subject) = (store.clone(), keycloak.clone());
        tokio::spawn(async move { store.user_for_subject(&subject).await })
    });
    let ids: Vec<_> = futures::future::join_all(calls)
        .await
        .into_iter()
        .map(|joined| ok(ok(joined)))
        .collect();
    assert!(ids.iter().all(|id| *id == ids[0]), "{ids:?}");
    assert!(ids[0].get() >= FIRST_MAPPED_USER_ID);
    let other = ok(store.user_for_subject(&auth0).await);
    assert_ne!(other, ids[0]);
    assert!(other.get() >= FIRST_MAPPED_USER_ID);
    assert_eq!(ok(store.user_for_subject(&keycloak).await), ids[0]);
}

pub async fn the_first_signing_secret_stored_is_kept(store: Arc<dyn Store>) {
    let calls = (0u8..10).map(|i| {
        let store = store.clone();
        tokio::spawn(async move { store.signing_secret("contract", &[i; 32]).await })
    });
    let secrets: Vec<Vec<u8>> = futures::future::join_all(calls)
        .await
        .into_iter()
        .map(|joined| ok(ok(joined)))
        .collect();
    assert!(secrets.iter().all(|s| *s == secrets[0]));
    assert_eq!(secrets[0].len(), 32);
    assert_eq!(
        ok(store.signing_secret("contract", &[99; 32]).await),
        secrets[0]
    );
    assert_eq!(
        ok(store.signing_secret("other", &[7; 32]).await),
        vec![7; 32]
    );
}

pub async fn entry_rules_default_to_no_gate_and_can_be_set(store: Arc<dyn Store>) {
    let f = fixture(store).await;
    assert_eq!(
        ok(f.store.entry_rules(f.concert).await),
        Some(EntryRules::default())
    );
    let gated = ok(EntryRules::new(Some(18)));
    assert!(ok(f.store.set_entry_rules(f.concert, &gated).await));
    assert_eq!(ok(f.store.entry_rules(f.concert).await), Some(gated));
    assert!(ok(f
        .store
        .set_entry_rules(f.concert, &EntryRules::default())
        .await));
    assert_eq!(
        ok(f.store.entry_rules(f.concert).await),
        Some(EntryRules::default())
    );
    let unknown = super::concert_id(987_654);
    assert_eq!(ok(f.store.entry_rules(unknown).await), None);
    assert!(!ok(f.store.set_entry_rules(unknown, &gated).await));
}

pub async fn charges_add_up_within_the_limit(store: Arc<dyn Store>) {
    let f = fixture(store).await;
    assert_eq!(f.balance(9).await, Won::ZERO);
    f.charge(9, 400_000).await;
    f.charge(9, 600_000).await;
    assert_eq!(
        f.charge(9, 1).await,
        ChargeOutcome::Refused(ChargeRefused::LimitExceeded {
            balance: Won::new(1_000_000),
            max: Won::new(1_000_000)
        })
    );
    assert_eq!(f.balance(9).await, Won::new(1_000_000));
    assert_eq!(ok(f.store.audit().await).money.charged, Won::new(1_000_000));
}

pub async fn idempotency_keys_replay_conflict_and_expire(store: Arc<dyn Store>) {
    let f = fixture(store).await;
    let claim = |who: i64, amount: &str, now: Timestamp| IdempotencyClaim {
        user_id: user(who),
        scope: IdempotencyScope::Charge,
        key: ok(IdempotencyKey::parse("key-1")),
        fingerprint: Fingerprint::of(IdempotencyScope::Charge, &[amount]),
        now,
        lease_until: now.plus_secs(30),
    };
    let ClaimOutcome::Claimed(ticket) = ok(f.store.claim_idempotency_key(&claim(1, "5", T0)).await)
    else {
        panic!("a new key is claimed")
    };
    assert_eq!(
        ok(f.store.claim_idempotency_key(&claim(1, "5", T0)).await),
        ClaimOutcome::InProgress
    );
    assert_eq!(
        ok(f.store.claim_idempotency_key(&claim(1, "6", T0)).await),
        ClaimOutcome::KeyReused
    );
    // Another user's key of the same name is another key.
    assert!(matches!(
        ok(f.store.claim_idempotency_key(&claim(2, "6", T0)).await),
        ClaimOutcome::Claimed(_)
    ));
    // A successful charge records its answer in its own transaction.
    let attempt = ChargeAttempt {
        user_id: user(1),
        amount: Won::new(5),
        max_balance: Won::new(100),
        now: T0,
        event_id: EventId::from_uuid(uuid()),
    };
    ok(f.store.charge_balance(&attempt, Some(&ticket)).await);
    let ClaimOutcome::Replay(answer) = ok(f.store.claim_idempotency_key(&claim(1, "5", T0)).await)
    else {
        panic!("a finished key replays")
    };
    assert!(answer.contains("Done"), "{answer}");
    // An abandoned claim can be claimed again at once; a dead one after its lease.
    let ClaimOutcome::Claimed(t2) = ok(f.store.claim_idempotency_key(&claim(3, "1", T0)).await)
    else {
        panic!()
    };
    ok(f.store.abandon_idempotency_key(&t2).await);
    assert!(matches!(
        ok(f.store.claim_idempotency_key(&claim(3, "1", T0)).await),
        ClaimOutcome::Claimed(_)
    ));
    assert!(matches!(
        ok(f.store
            .claim_idempotency_key(&claim(3, "1", T0.plus_secs(31)))
            .await),
        ClaimOutcome::Claimed(_)
    ));
    // Finishing a refusal records it.
    ok(f.store.finish_idempotency_key(&t2, "{\"Refused\":1}").await);
    assert_eq!(
        ok(f.store
            .claim_idempotency_key(&claim(3, "1", T0.plus_secs(40)))
            .await),
        ClaimOutcome::Replay("{\"Refused\":1}".into())
    );
    // Old records are purged.
    assert_eq!(
        ok(f.store.purge_idempotency_keys(T0.plus_millis(1)).await),
        3
    );
    assert!(matches!(
        ok(f.store
            .claim_idempotency_key(&claim(1, "7", T0.plus_secs(50)))
            .await),
        ClaimOutcome::Claimed(_)
    ));
}

pub async fn the_outbox_hands_out_events_in_order_until_published(store: Arc<dyn Store>) {
    let f = fixture(store).await;
    for who in [1, 2, 1, 3] {
        f.charge(who, 1_000).await;
    }
    let lease = T0.plus_secs(30);
    let backlog = ok(f.store.outbox_backlog().await);
    assert_eq!(backlog.unpublished, 4);
    assert!(backlog.oldest_created_at.is_some());
    // Only the oldest event of each key is claimable; user 1's second waits.
    let first = ok(f.store.claim_unpublished(T0, lease, 2).await);
    let keys: Vec<&str> = first.iter().map(|e| e.aggregate_key.as_str()).collect();
    assert_eq!(keys, ["1", "2"]);
    let next = ok(f.store.claim_unpublished(T0, lease, 10).await);
    let keys: Vec<&str> = next.iter().map(|e| e.aggregate_key.as_str()).collect();
    assert_eq!(
        keys,
        ["3"],
        "claimed events and their keys' later events are skipped"
    );
    // Publishing unblocks a key; a released claim is claimable again.
    ok(f.store.mark_published(&[first[0].id], T0).await);
    ok(f.store.release_claims(&[first[1].id]).await);
    let again = ok(f.store.claim_unpublished(T0, lease, 10).await);
    let keys: Vec<&str> = again.iter().map(|e| e.aggregate_key.as_str()).collect();
    assert_eq!(keys, ["2", "1"], "oldest first");
    assert_eq!(again[0].id, first[1].id);
    // A lapsed lease frees a claim.
    assert!(ok(f.store.claim_unpublished(T0, lease, 10).await).is_empty());
    let lapsed = ok(f
        .store
        .claim_unpublished(lease, lease.plus_secs(30), 10)
        .await);
    assert_eq!(lapsed.len(), 3);
    assert!(ok(f.store.published_reservations_by_concert().await).is_empty());
    // A published reservation counts towards the ranking's starting point.
    f.charge(6, 500_000).await;
    let hold = f.held(6, 1, T0).await;
    f.pay(6, hold, T0).await;
    let later = T0.plus_secs(120);
    let all: Vec<EventId> = ok(f
        .store
        .claim_unpublished(later, later.plus_secs(30), 100)
        .await)
    .iter()
    .map(|e| e.id)
    .collect();
    assert_eq!(all.len(), 5, "every key's head, lapsed claims included");
    ok(f.store.mark_published(&all, later).await);
    assert_eq!(ok(f.store.outbox_backlog().await).unpublished, 0);
    assert_eq!(
        ok(f.store.published_reservations_by_concert().await),
        vec![(f.concert, 1)]
    );
}

pub async fn concurrent_holds_on_one_seat_have_exactly_one_winner(store: Arc<dyn Store>) {
    let f = Arc::new(fixture(store).await);
    let outcomes = holds_at_once(&f, (1..=64).map(|who| (who, 20))).await;
    assert_eq!(tally(&outcomes, HoldOutcome::SeatTaken), (1, 63));
}

pub async fn concurrent_charges_add_up_exactly(store: Arc<dyn Store>) {
    let f = Arc::new(fixture(store).await);
    let charges = (0..100).map(|_| {
        let f = f.clone();
        spawned(async move { f.charge(42, 1_000).await })
    });
    let outcomes = futures::future::join_all(charges).await;
    assert!(
        outcomes
            .iter()
            .all(|o| matches!(o, ChargeOutcome::Charged(_)))
    );
    assert_eq!(f.balance(42).await, Won::new(100_000));
}

pub async fn concurrent_payments_of_one_hold_debit_once(store: Arc<dyn Store>) {
    let f = Arc::new(fixture(store).await);
    f.charge(1, 1_000_000).await;
    let hold = f.held(1, 1, T0).await;
    let outcomes = payments_at_once(&f, vec![hold; 20]).await;
    assert_eq!(confirmed(&outcomes), 1);
    assert!(outcomes.iter().all(|o| matches!(
        o,
        PaymentOutcome::Confirmed(_) | PaymentOutcome::Refused(PaymentRefused::AlreadyPaid)
    )));
    assert_eq!(f.balance(1).await, Won::new(850_000));
    assert_eq!(ok(f.store.reservations_of(user(1)).await).len(), 1);
}

pub async fn concurrent_holds_of_one_user_stay_within_the_limit(store: Arc<dyn Store>) {
    let f = Arc::new(fixture(store).await);
    let outcomes = holds_at_once(&f, (1..=30).map(|seat_no| (7, seat_no))).await;
    assert_eq!(
        tally(&outcomes, HoldOutcome::LimitReached(HoldLimitReached::Live)),
        (1, 29)
    );
}

pub async fn concurrent_payments_share_one_balance_without_overdraft(store: Arc<dyn Store>) {
    let f = Arc::new(fixture(store).await);
    f.charge(1, 1_000_000).await;
    // Twenty R seats at 90,000: the balance covers eleven of them.
    let mut holds = Vec::new();
    for seat_no in 11..=30 {
        let mut attempt = f.attempt(1, seat_no, T0);
        attempt.limits.max_live = 20;
        match ok(f.store.hold_seat(&attempt).await) {
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
}

pub async fn a_payment_records_its_idempotent_answer_with_the_sale(store: Arc<dyn Store>) {
    let f = fixture(store).await;
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
        .store
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
        answer.contains(&receipt.reservation_id.to_string()),
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

fn confirmed(outcomes: &[PaymentOutcome]) -> usize {
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

/// Runs the future as its own Tokio task, so that adapters really race.
async fn spawned<F>(fut: F) -> F::Output
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    tokio::spawn(fut)
        .await
        .unwrap_or_else(|e| panic!("task failed: {e}"))
}

fn room_event(concert: ConcertId, n: u64) -> crate::domain::events::OutboxEvent {
    crate::domain::events::room_changed(
        EventId::from_uuid(uuid()),
        crate::domain::events::RoomChanged {
            concert_id: concert,
            state: "PAUSED".into(),
            previous_state: "OPEN".into(),
            reason: format!("test {n}"),
            changed: vec!["state".into()],
            admit_batch: 1,
            admit_interval_secs: 1,
            max_active: 1,
            active_ttl_secs: 60,
            abandon_after_secs: 120,
            sale_opens_at: None,
            sale_closes_at: None,
            changed_at: T0,
        },
    )
}

fn change(field: &str, old: Option<&str>, new: Option<&str>) -> crate::ports::RoomChange {
    crate::ports::RoomChange {
        changed_at: T0,
        field: field.into(),
        old_value: old.map(str::to_owned),
        new_value: new.map(str::to_owned),
    }
}

pub async fn a_room_changes_only_from_the_version_read_with_its_audit_and_event(
    store: Arc<dyn Store>,
) {
    use crate::domain::room::{Flow, Room, RoomState};
    let f = fixture(store).await;
    let read = ok(f.store.room(f.concert).await).unwrap_or_else(|| panic!("room"));
    assert_eq!(
        read.room,
        Room::new(f.concert),
        "a new concert's room is open on the defaults"
    );
    let mut paused = read.room.clone();
    paused.state = RoomState::Paused;
    paused.settings.max_active = Some(7);
    paused.sale.closes_at = Some(T0.plus_secs(3_600));
    paused.lottery_seed = Some("ab".repeat(32));
    let changes = [
        change("state", Some("OPEN"), Some("PAUSED")),
        change("maxActive", None, Some("7")),
    ];
    assert!(ok(f
        .store
        .update_room(&paused, 0, &changes, &room_event(f.concert, 1))
        .await));
    // A writer that read version 0 lost: nothing of theirs is written.
    let mut late = read.room.clone();
    late.state = RoomState::Closed;
    assert!(!ok(f
        .store
        .update_room(
            &late,
            0,
            &[change("state", Some("OPEN"), Some("CLOSED"))],
            &room_event(f.concert, 2)
        )
        .await));
    let now = ok(f.store.room(f.concert).await).unwrap_or_else(|| panic!("room"));
    assert_eq!(now.room.version, 1);
    assert_eq!(now.room.state, RoomState::Paused);
    assert_eq!(now.room.settings.max_active, Some(7));
    assert_eq!(now.room.sale.closes_at, Some(T0.plus_secs(3_600)));
    assert_eq!(
        now.room.lottery_seed.as_deref(),
        Some("ab".repeat(32).as_str())
    );
    // The seed, once set, stays.
    let mut reseeded = now.room.clone();
    reseeded.lottery_seed = Some("cd".repeat(32));
    reseeded.state = RoomState::Open;
    assert!(ok(f
        .store
        .update_room(&reseeded, 1, &[], &room_event(f.concert, 3))
        .await));
    let kept = ok(f.store.room(f.concert).await).unwrap_or_else(|| panic!("room"));
    assert_eq!(
        kept.room.lottery_seed.as_deref(),
        Some("ab".repeat(32).as_str())
    );
    let audit = ok(f.store.room_audit(f.concert, 10).await);
    assert_eq!(
        audit,
        vec![changes[1].clone(), changes[0].clone()],
        "newest first"
    );
    assert_eq!(ok(f.store.room_audit(f.concert, 1).await).len(), 1);
    // One event per change written, in order (one key: one at a time).
    let mut reasons = Vec::new();
    for _ in 0..3 {
        let events = ok(f.store.claim_unpublished(T0, T0.plus_secs(30), 100).await);
        let ids: Vec<EventId> = events.iter().map(|e| e.id).collect();
        reasons.extend(
            events
                .into_iter()
                .filter_map(|e| match DomainEvent::decode(&e) {
                    Some(DomainEvent::RoomChanged(body)) => Some(body.reason),
                    _ => None,
                }),
        );
        ok(f.store.mark_published(&ids, T0).await);
    }
    assert_eq!(reasons, vec!["test 1".to_owned(), "test 3".to_owned()]);
    let flow = Flow {
        admitted_per_round_milli: 2_500,
        no_show_permille: 125,
        admitted_total: 10,
        abandoned_total: 3,
        cohorts: vec![
            crate::domain::room::Cohort {
                at_ms: 1_700_000_100_000,
                fans: 25,
                admitted: 40,
            },
            crate::domain::room::Cohort {
                at_ms: 1_700_000_120_000,
                fans: 15,
                admitted: 15,
            },
        ],
        session_ms: 17_250,
        session_spread_ms: 2_500,
        observed_at_ms: 1_700_000_123_456,
    };
    ok(f.store.record_flow(f.concert, &flow).await);
    assert_eq!(
        ok(f.store.room(f.concert).await).map(|r| r.room.flow),
        Some(flow.clone())
    );
    assert_eq!(ok(f.store.room(super::concert_id(987_654)).await), None);
}

pub async fn a_draw_is_recorded_once_and_read_back_in_place_order(store: Arc<dyn Store>) {
    use crate::domain::room::RoomState;
    let f = fixture(store).await;
    let mut scheduled = ok(f.store.room(f.concert).await)
        .unwrap_or_else(|| panic!("room"))
        .room;
    scheduled.state = RoomState::Scheduled;
    scheduled.lottery_seed = Some("ab".repeat(32));
    assert!(ok(f
        .store
        .update_room(&scheduled, 0, &[], &room_event(f.concert, 1))
        .await));
    assert_eq!(ok(f.store.lottery(f.concert).await), None);
    let drawn: Vec<String> = (0..1_000).map(|i| format!("{:032x}", 1_000 - i)).collect();
    let at = T0.plus_secs(60);
    assert!(ok(f
        .store
        .record_draw(
            f.concert,
            &drawn,
            at,
            &[change("lottery", None, Some("1000 entries drawn"))],
            &room_event(f.concert, 2)
        )
        .await));
    assert!(
        !ok(f
            .store
            .record_draw(f.concert, &drawn[..10], at, &[], &room_event(f.concert, 3))
            .await),
        "once only"
    );
    assert_eq!(ok(f.store.lottery(f.concert).await), Some(drawn));
    let room = ok(f.store.room(f.concert).await)
        .unwrap_or_else(|| panic!("room"))
        .room;
    assert_eq!((room.state, room.drawn_at), (RoomState::Open, Some(at)));
    assert_eq!(ok(f.store.room_audit(f.concert, 10).await).len(), 1);
}

pub async fn sellable_seats_count_available_and_held_but_not_sold(store: Arc<dyn Store>) {
    let f = fixture(store).await;
    let sellable = |r: Option<crate::ports::RoomSnapshot>| r.map(|r| r.sellable_seats);
    assert_eq!(sellable(ok(f.store.room(f.concert).await)), Some(100));
    let held = f.held(1, 1, T0).await;
    f.held(2, 2, T0).await;
    assert_eq!(
        sellable(ok(f.store.room(f.concert).await)),
        Some(100),
        "a held seat may come back"
    );
    f.charge(1, 200_000).await;
    f.pay(1, held, T0).await;
    assert_eq!(sellable(ok(f.store.room(f.concert).await)), Some(99));
}

pub async fn a_tally_counts_seats_by_status_at_an_instant_and_sums_the_revenue(
    store: Arc<dyn Store>,
) {
    let f = fixture(store).await;
    let sold = f.held(1, 1, T0).await;
    f.held(2, 11, T0).await;
    f.charge(1, 200_000).await;
    f.pay(1, sold, T0).await;
    let other = ok(f
        .store
        .create_concert(&sample_concert("Other", 1, T0.plus_secs(86_400)), T0)
        .await);
    assert_eq!(
        ok(f.store.seat_tally(f.concert, T0).await),
        SeatTally {
            available: 98,
            held: 1,
            sold: 1,
            revenue: Won::new(150_000),
        }
    );
    assert_eq!(
        ok(f.store.seat_tally(f.concert, T0.plus_secs(300)).await).held,
        0,
        "a hold counts until its end, not at it"
    );
    assert_eq!(
        ok(f.store.seat_tally(other, T0).await),
        SeatTally {
            available: 50,
            ..SeatTally::default()
        }
    );
}

pub async fn samples_are_kept_once_per_instant_read_in_order_limited_and_let_go(
    store: Arc<dyn Store>,
) {
    let f = fixture(store).await;
    let sample = |secs: u64, waiting: u64| SaleSample {
        concert: f.concert,
        at: T0.plus_secs(secs),
        pre_queued: 1,
        waiting,
        active: 3,
        admitted_total: 4,
        seats: SeatTally {
            available: 5,
            held: 6,
            sold: 7,
            revenue: Won::new(8),
        },
    };
    let elsewhere = SaleSample {
        concert: ConcertId::new(f.concert.get() + 1).unwrap_or_else(|e| panic!("{e}")),
        ..sample(10, 99)
    };
    ok(f.store
        .record_samples(&[sample(0, 10), sample(10, 20), elsewhere], T0)
        .await);
    ok(f.store
        .record_samples(&[sample(10, 21), sample(20, 30)], T0)
        .await);
    let read = |since: u64, limit: u32| f.store.samples(f.concert, T0.plus_secs(since), limit);
    assert_eq!(
        ok(read(0, 10).await),
        vec![sample(0, 10), sample(10, 20), sample(20, 30)],
        "oldest first, the first sample of an instant kept, the other concert's left out"
    );
    assert_eq!(ok(read(10, 10).await), vec![sample(10, 20), sample(20, 30)]);
    assert_eq!(
        ok(read(0, 2).await),
        vec![sample(10, 20), sample(20, 30)],
        "the newest"
    );
    ok(f.store.record_samples(&[], T0.plus_secs(15)).await);
    assert_eq!(ok(read(0, 10).await), vec![sample(20, 30)]);
    assert!(
        ok(f.store.samples(elsewhere.concert, T0, 10).await).is_empty(),
        "taken before the instant kept from"
    );
}
