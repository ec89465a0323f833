//! The behaviour every `Store` adapter must show, one file per port
//! (`store_contract/<port>.rs`). Each case takes a fresh, empty store;
//! `store_contract_tests!` turns them into one test each.

use super::{sample_concert, seat, user};
use crate::domain::concert::EntryRules;
use crate::domain::events::{DomainEvent, EventTrace, RESERVATION_CONFIRMED};
use crate::domain::idempotency::{
    ClaimOutcome, Fingerprint, IdempotencyClaim, IdempotencyKey, IdempotencyScope, KeyTaken,
};
use crate::domain::identity::{FIRST_MAPPED_USER_ID, Subject};
use crate::domain::payment::{SALE_IDS_PER_PAYMENT, SaleIds};
use crate::domain::sample::{SaleSample, SeatTally};
use crate::domain::seat::SeatStatus;
use crate::domain::seat_hold::{Basket, HoldLimitReached, HoldLimits};
use crate::domain::{ConcertId, EventId, HoldId, ReservationId, ScheduleId, Timestamp, Won};
use crate::ports::{
    Booking, ChargeAttempt, ChargeOutcome, ChargeRefused, HoldAttempt, HoldOutcome, PaymentAttempt,
    PaymentOutcome, PaymentRefused, ReleaseOutcome, Store,
};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use uuid::Uuid;

/// Generates one `#[tokio::test]` per contract case. `$make` is an async
/// expression giving a fresh `Arc<dyn Store>`; `booking = $wrap` names a
/// function that wraps the store's booking port (a concurrency strategy),
/// through which every hold and payment of the cases then goes.
#[macro_export]
macro_rules! store_contract_tests {
    ($make:expr) => {
        $crate::store_contract_tests!($make, booking = $crate::testing::store_contract::own_booking);
    };
    ($make:expr, booking = $wrap:path) => {
        $crate::store_contract_tests!(@cases $make, $wrap;
            catalog::entry_rules_default_to_no_gate_and_can_be_set,
            catalog::a_concert_changes_all_or_nothing_and_a_date_only_while_no_seat_of_it_is_held_or_sold,
            rooms::a_room_changes_only_from_the_version_read_with_its_audit_and_event,
            rooms::a_draw_is_recorded_once_and_read_back_in_place_order,
            rooms::sellable_seats_count_available_and_held_but_not_sold,
            rooms::a_tally_counts_seats_by_status_at_an_instant_and_sums_the_revenue,
            rooms::samples_are_kept_once_per_instant_read_in_order_limited_and_let_go,
            identity::subjects_get_one_id_each_for_ever,
            identity::the_first_signing_secret_stored_is_kept,
            booking::seats_start_available_and_a_hold_is_exclusive,
            booking::a_hold_stops_blocking_at_its_expiry_instant,
            booking::unknown_seats_and_schedules_are_reported,
            booking::live_holds_per_user_are_limited,
            booking::a_holder_can_release_and_others_cannot,
            booking::the_sweeper_releases_only_ended_holds,
            booking::payment_sells_debits_reserves_and_appends_one_event,
            booking::a_hold_is_paid_at_most_once,
            booking::insufficient_balance_changes_nothing,
            booking::only_the_holder_may_pay_a_live_hold,
            booking::an_empty_balance_limits_live_holds,
            booking::lapsed_holds_count_until_they_leave_the_window,
            booking::concurrent_holds_on_one_seat_have_exactly_one_winner,
            booking::concurrent_payments_of_one_hold_debit_once,
            booking::concurrent_holds_of_one_user_stay_within_the_limit,
            booking::concurrent_payments_share_one_balance_without_overdraft,
            booking::a_payment_records_its_idempotent_answer_with_the_sale,
            booking::a_live_hold_is_extended_once_and_keeps_its_seat_until_the_new_expiry,
            booking::concurrent_extensions_of_one_hold_extend_it_once,
            booking::live_holds_are_listed_newest_first_for_their_holder_only,
            booking::a_fan_holds_no_more_of_a_concert_than_its_ticket_limit_counting_seats_bought,
            booking::concurrent_holds_of_one_fan_stop_at_exactly_the_concerts_ticket_limit,
            booking::payments_racing_holds_of_one_fan_count_each_seat_once_against_the_ticket_limit,
            baskets::a_basket_is_held_all_or_none_and_paid_in_one_payment_of_a_reservation_per_seat,
            baskets::releasing_extending_or_letting_a_basket_lapse_acts_on_all_its_seats,
            baskets::a_basket_counts_every_seat_toward_the_concerts_ticket_limit,
            baskets::concurrent_baskets_on_overlapping_seats_never_share_a_seat_and_each_is_all_or_none,
            cancellation::a_cancellation_refunds_less_the_fee_frees_the_seat_and_appends_one_event,
            cancellation::only_the_owner_cancels_a_confirmed_reservation_once_and_before_the_deadline,
            cancellation::concurrent_cancellations_of_one_reservation_refund_once,
            cancellation::cancellations_racing_payments_of_one_fan_keep_the_balance_exact,
            cancellation::a_cancellation_records_its_idempotent_answer_with_the_refund,
            cancellation::a_concerts_own_policy_governs_its_cancellations_until_it_is_removed,
            called_off::a_called_off_date_frees_its_held_seats_and_its_reservations_are_refunded_in_full_once,
            called_off::refunds_racing_the_fans_own_cancellation_of_a_called_off_date_pay_out_once_in_full,
            called_off::calling_off_an_unknown_concert_or_another_concerts_date_changes_nothing,
            waitlist::returned_seats_go_to_the_waiting_list_in_order_and_an_unpaid_offer_passes_on,
            waitlist::a_waiter_leaves_before_an_offer_and_unknown_or_called_off_dates_cannot_be_joined,
            accounts::charges_add_up_within_the_limit,
            accounts::concurrent_charges_add_up_exactly,
            ledger::every_movement_of_money_is_posted_once_and_the_ledger_reconciles,
            idempotency::idempotency_keys_replay_conflict_and_expire,
            idempotency::a_fresh_key_is_written_with_its_answer_once_and_a_taken_one_changes_nothing,
            idempotency::a_payment_or_cancellation_under_a_taken_fresh_key_sells_and_refunds_nothing,
            idempotency::a_lease_taken_over_answers_nothing_for_its_first_holder_who_cannot_give_it_back,
            outbox::the_outbox_hands_out_events_in_order_until_published,
            outbox::a_claim_is_renewed_and_given_back_only_by_the_relay_that_still_holds_it,
            outbox::events_appended_while_serving_a_request_carry_its_trace,
        );
    };
    (@cases $make:expr, $wrap:path; $($port:ident :: $case:ident),+ $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let store: std::sync::Arc<dyn $crate::ports::Store> = $make;
                let booking = $wrap(store.clone());
                $crate::testing::store_contract::$port::$case(
                    $crate::testing::store_contract::Stores { store, booking },
                )
                .await;
            }
        )+
    };
}

pub mod accounts;
pub mod baskets;
pub mod booking;
pub mod called_off;
pub mod cancellation;
pub mod catalog;
pub mod idempotency;
pub mod identity;
pub mod ledger;
pub mod outbox;
pub mod rooms;
pub mod waitlist;

/// The store a case runs on, and the booking port its holds and payments
/// go through: the store's own, or the store's wrapped by a strategy.
#[derive(Debug)]
pub struct Stores {
    pub store: Arc<dyn Store>,
    pub booking: Arc<dyn Booking>,
}

/// The store's own booking port, unwrapped.
pub fn own_booking(store: Arc<dyn Store>) -> Arc<dyn Booking> {
    store
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
    booking: Arc<dyn Booking>,
    concert: ConcertId,
    schedule: ScheduleId,
}

async fn fixture(Stores { store, booking }: Stores) -> Fixture {
    let concert = ok(store
        .create_concert(&sample_concert("Contract", 2, T0.plus_secs(86_400)), T0)
        .await);
    let schedule = ok(store.schedules_with_availability(concert, T0).await)[0]
        .schedule
        .id;
    Fixture {
        store,
        booking,
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
            seats: Basket::one(seat(seat_no)),
            now,
            expires_at: now.plus_secs(300),
            limits: HoldLimits {
                max_live: 1,
                max_live_unfunded: 1,
                max_lapsed: 100,
                lapsed_since: now.plus_millis(-3_600_000),
                max_per_concert: 100,
            },
        }
    }

    async fn hold(&self, who: i64, seat_no: i64, now: Timestamp) -> HoldOutcome {
        ok(self
            .booking
            .hold_seat(&self.attempt(who, seat_no, now))
            .await)
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
            sales: (0..SALE_IDS_PER_PAYMENT)
                .map(|_| SaleIds {
                    reservation_id: ReservationId::from_uuid(uuid()),
                    event_id: EventId::from_uuid(uuid()),
                })
                .collect(),
        }
    }

    async fn pay(&self, who: i64, hold: HoldId, now: Timestamp) -> PaymentOutcome {
        ok(self
            .booking
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

    /// The date of a new concert of one date, not the fixture's.
    async fn another_concerts_date(&self) -> ScheduleId {
        let concert = ok(self
            .store
            .create_concert(&sample_concert("Other", 1, T0.plus_secs(86_400)), T0)
            .await);
        ok(self.store.schedules_with_availability(concert, T0).await)[0]
            .schedule
            .id
    }

    async fn balance(&self, who: i64) -> Won {
        ok(self.store.balance(user(who)).await)
    }

    /// The store's audit finds nothing wrong, the money adds up and the
    /// ledger reconciles.
    async fn assert_clean(&self) -> crate::ports::StoreAudit {
        let audit = ok(self.store.audit().await);
        assert_eq!(
            (
                audit.negative_balances,
                audit.seats_sold_twice,
                audit.sales_out_of_step,
                audit.reservations_without_one_event
            ),
            (0, 0, 0, 0),
            "{audit:?}"
        );
        assert!(audit.money.conserved(), "{audit:?}");
        self.assert_ledger_reconciles().await;
        audit
    }

    /// The ledger reconciles: every transaction sums to zero, every fan's
    /// balance is their postings, revenue and fees match the sales.
    async fn assert_ledger_reconciles(&self) -> crate::domain::ledger::LedgerReport {
        let report = crate::domain::ledger::reconcile(ok(self.store.ledger_figures().await));
        assert!(report.ok(), "{:?}", report.problems);
        report
    }
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

/// The audit catches a sale broken behind the store's back: `tamper` runs
/// one statement of raw SQL on the store's database (the SQL stores only:
/// the memory store cannot be broken from outside). A sold seat put back on
/// sale is out of step with its reservation, a payment's entry grown by a
/// won breaks the conservation of money, and a sale whose event is deleted
/// has no event; each shows in the audit, and only it.
pub async fn a_sale_broken_behind_the_stores_back_shows_in_its_audit<T, Fut>(
    stores: Stores,
    tamper: T,
) where
    T: Fn(&'static str) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let f = fixture(stores).await;
    f.charge(1, 500_000).await;
    let hold = f.held(1, 12, T0).await;
    assert!(matches!(
        f.pay(1, hold, T0).await,
        PaymentOutcome::Confirmed(_)
    ));
    let audit = || async { ok(f.store.audit().await) };
    let counts = |a: &crate::ports::StoreAudit| {
        (
            a.sales_out_of_step,
            a.reservations_without_one_event,
            a.money.conserved(),
        )
    };
    assert_eq!(counts(&audit().await), (0, 0, true), "an honest sale");

    tamper("UPDATE balance_entry SET amount = amount + 1 WHERE kind = 'PAYMENT'").await;
    assert_eq!(
        counts(&audit().await),
        (0, 0, false),
        "a payment grown by a won"
    );
    tamper("UPDATE balance_entry SET amount = amount - 1 WHERE kind = 'PAYMENT'").await;
    assert_eq!(counts(&audit().await), (0, 0, true), "put back");

    tamper("UPDATE seat SET status = 'AVAILABLE' WHERE status = 'SOLD'").await;
    assert_eq!(
        counts(&audit().await),
        (1, 0, true),
        "a sold seat on sale again"
    );
    tamper("UPDATE seat SET status = 'SOLD' WHERE seat_number = 12 AND status = 'AVAILABLE' AND schedule_id = (SELECT schedule_id FROM reservation)").await;
    assert_eq!(counts(&audit().await), (0, 0, true), "put back");

    tamper("DELETE FROM outbox WHERE event_type = 'ReservationConfirmed'").await;
    assert_eq!(
        counts(&audit().await),
        (0, 1, true),
        "a sale without its event"
    );
}
