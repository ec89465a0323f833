//! The store contract: cancelling reservations for a refund (the booking port).

use super::booking::confirmed;
use super::*;
use crate::domain::cancellation::{CancelAttempt, CancellationPolicy, Canceller, FeeTier};
use crate::domain::events::RESERVATION_CANCELLED;
use crate::domain::reservation::PaymentReceipt;
use crate::ports::{CancelOutcome, CancelRefused};

/// Cancelling closes an hour before the show; 10% within two days of it.
/// The fixture's first date starts a day after `T0`, so cancelling at `T0`
/// keeps 10%.
fn policy() -> CancellationPolicy {
    ok(CancellationPolicy::new(
        3_600,
        &[FeeTier {
            within_secs: 2 * 86_400,
            percent: 10,
        }],
    ))
}

impl Fixture {
    /// `who` buys seat `seat_no` (charging enough first).
    pub(super) async fn bought(&self, who: i64, seat_no: i64, now: Timestamp) -> PaymentReceipt {
        self.charge(who, 150_000).await;
        let hold = self.held(who, seat_no, now).await;
        match self.pay(who, hold, now).await {
            PaymentOutcome::Confirmed(receipt) => receipt,
            other => panic!("expected a sale, got {other:?}"),
        }
    }

    pub(super) fn cancellation(
        &self,
        who: i64,
        id: ReservationId,
        now: Timestamp,
    ) -> CancelAttempt {
        CancelAttempt {
            user_id: user(who),
            by: Canceller::Fan,
            reservation_id: id,
            now,
            event_id: EventId::from_uuid(uuid()),
            policy: policy(),
        }
    }

    pub(super) async fn cancel(
        &self,
        who: i64,
        id: ReservationId,
        now: Timestamp,
    ) -> CancelOutcome {
        ok(self
            .booking
            .cancel_reservation(&self.cancellation(who, id, now), None)
            .await)
    }
}

pub async fn a_cancellation_refunds_less_the_fee_frees_the_seat_and_appends_one_event(
    stores: Stores,
) {
    let f = fixture(stores).await;
    let sale = f.bought(1, 12, T0).await;
    assert_eq!(f.balance(1).await, Won::new(60_000));
    let CancelOutcome::Cancelled(receipt) = f
        .cancel(1, sale.reservations[0].reservation_id, T0.plus_secs(60))
        .await
    else {
        panic!("the owner cancels before the deadline")
    };
    assert_eq!(
        (receipt.price, receipt.fee, receipt.refund),
        (Won::new(90_000), Won::new(9_000), Won::new(81_000))
    );
    assert_eq!(receipt.balance, Won::new(141_000));
    assert_eq!(f.balance(1).await, Won::new(141_000));
    assert_eq!(receipt.cancelled_at, T0.plus_secs(60));
    assert_eq!(
        (receipt.schedule_id, receipt.seat_number),
        (f.schedule, seat(12))
    );

    // The reservation stays, cancelled, and the seat is on sale again.
    let mine = ok(f.booking.reservations_of(user(1)).await);
    assert_eq!(mine.len(), 1);
    let Some(cancellation) = mine[0].cancellation else {
        panic!("the reservation is listed cancelled")
    };
    assert_eq!(mine[0].status(), "CANCELLED");
    assert_eq!(
        (cancellation.at, cancellation.refund, cancellation.fee),
        (T0.plus_secs(60), Won::new(81_000), Won::new(9_000))
    );
    assert_eq!(f.status(12, T0.plus_secs(61)).await, SeatStatus::Available);
    let resale = f.bought(2, 12, T0.plus_secs(62)).await;
    assert_eq!(resale.reservations[0].seat_number, seat(12));
    // A cancelled seat no longer counts toward the fan's ticket limit.
    let mut one_ticket = f.attempt(1, 13, T0.plus_secs(63));
    one_ticket.limits.max_per_concert = 1;
    assert!(matches!(
        ok(f.booking.hold_seat(&one_ticket).await),
        HoldOutcome::Held(_)
    ));

    // A reservation's events go out in order: its cancellation only once
    // its confirmation is published.
    let first = ok(f
        .store
        .claim_unpublished(T0, 1, T0.plus_secs(30), 100)
        .await);
    assert!(first.iter().all(|e| e.event_type != RESERVATION_CANCELLED));
    let ids: Vec<EventId> = first.iter().map(|e| e.id).collect();
    ok(f.store.mark_published(&ids, T0).await);
    let events = ok(f
        .store
        .claim_unpublished(T0, 1, T0.plus_secs(30), 100)
        .await);
    let cancelled: Vec<_> = events
        .iter()
        .filter(|e| e.event_type == RESERVATION_CANCELLED)
        .collect();
    assert_eq!(cancelled.len(), 1);
    assert_eq!(
        cancelled[0].aggregate_key,
        sale.reservations[0].reservation_id.to_string()
    );
    match DomainEvent::decode(cancelled[0]) {
        Some(DomainEvent::ReservationCancelled(body)) => {
            assert_eq!(body.user_id, user(1));
            assert_eq!((body.refund, body.fee), (Won::new(81_000), Won::new(9_000)));
        }
        other => panic!("undecodable event {other:?}"),
    }
    let audit = f.assert_clean().await;
    assert_eq!((audit.reservations, audit.cancelled), (2, 1));
    assert_eq!(audit.money.refunded, Won::new(81_000));
    assert_eq!(audit.money.paid, Won::new(180_000));
}

pub async fn only_the_owner_cancels_a_confirmed_reservation_once_and_before_the_deadline(
    stores: Stores,
) {
    let f = fixture(stores).await;
    let sale = f.bought(1, 12, T0).await;
    let id = sale.reservations[0].reservation_id;
    assert_eq!(
        f.cancel(1, ReservationId::from_uuid(uuid()), T0).await,
        CancelOutcome::Refused(CancelRefused::NotFound)
    );
    assert_eq!(
        f.cancel(2, id, T0).await,
        CancelOutcome::Refused(CancelRefused::NotYours)
    );
    // The date starts a day after T0; cancelling closes an hour before.
    let deadline = T0.plus_secs(86_400 - 3_600);
    assert_eq!(
        f.cancel(1, id, deadline.plus_millis(1)).await,
        CancelOutcome::Refused(CancelRefused::Closed { deadline })
    );
    assert_eq!(f.balance(1).await, Won::new(60_000));
    assert_eq!(f.status(12, T0).await, SeatStatus::Sold);
    let CancelOutcome::Cancelled(receipt) = f.cancel(1, id, deadline).await else {
        panic!("the deadline itself is still in time")
    };
    assert_eq!(receipt.refund, Won::new(81_000));
    assert_eq!(
        f.cancel(1, id, deadline).await,
        CancelOutcome::Refused(CancelRefused::AlreadyCancelled)
    );
    assert_eq!(f.balance(1).await, Won::new(141_000));
    f.assert_clean().await;
}

pub async fn concurrent_cancellations_of_one_reservation_refund_once(stores: Stores) {
    let f = Arc::new(fixture(stores).await);
    let id = f.bought(1, 12, T0).await.reservations[0].reservation_id;
    let attempts = (0..20).map(|_| {
        let f = f.clone();
        spawned(async move { f.cancel(1, id, T0).await })
    });
    let outcomes = futures::future::join_all(attempts).await;
    let done = outcomes
        .iter()
        .filter(|o| matches!(o, CancelOutcome::Cancelled(_)))
        .count();
    let again = outcomes
        .iter()
        .filter(|o| **o == CancelOutcome::Refused(CancelRefused::AlreadyCancelled))
        .count();
    assert_eq!((done, again), (1, 19));
    assert_eq!(f.balance(1).await, Won::new(141_000));
    let audit = f.assert_clean().await;
    assert_eq!(audit.money.refunded, Won::new(81_000));
}

pub async fn cancellations_racing_payments_of_one_fan_keep_the_balance_exact(stores: Stores) {
    let f = Arc::new(fixture(stores).await);
    // Three R seats bought (270,000 of 450,000 charged), then five more
    // held: the 180,000 left pays for two, refunds may pay for more.
    let mut sales = Vec::new();
    for seat_no in 11..=13 {
        sales.push(f.bought(1, seat_no, T0).await.reservations[0].reservation_id);
    }
    let mut holds = Vec::new();
    for seat_no in 21..=25 {
        let mut attempt = f.attempt(1, seat_no, T0);
        attempt.limits.max_live = 5;
        match ok(f.booking.hold_seat(&attempt).await) {
            HoldOutcome::Held(hold) => holds.push(hold.id),
            other => panic!("expected a hold, got {other:?}"),
        }
    }
    let cancels = sales.into_iter().map(|id| {
        let f = f.clone();
        spawned(async move { matches!(f.cancel(1, id, T0).await, CancelOutcome::Cancelled(_)) })
    });
    let pays = holds.into_iter().map(|hold| {
        let f = f.clone();
        spawned(async move { f.pay(1, hold, T0).await })
    });
    let (cancelled, paid) = futures::join!(
        futures::future::join_all(cancels),
        futures::future::join_all(pays)
    );
    assert!(
        cancelled.iter().all(|c| *c),
        "every cancellation goes through"
    );
    let paid = confirmed(&paid) as i64;
    assert!(
        paid >= 2,
        "the balance covered two payments before any refund"
    );
    // 450,000 charged, 90,000 per sale, 81,000 back per cancellation.
    let expected = 450_000 - 90_000 * (3 + paid) + 81_000 * 3;
    assert_eq!(f.balance(1).await, Won::new(expected));
    let audit = f.assert_clean().await;
    assert_eq!(audit.money.refunded, Won::new(243_000));
    assert_eq!(audit.reservations, 3 + paid as u64);
}

pub async fn a_cancellation_records_its_idempotent_answer_with_the_refund(stores: Stores) {
    let f = fixture(stores).await;
    let id = f.bought(1, 12, T0).await.reservations[0].reservation_id;
    let claim = IdempotencyClaim {
        user_id: user(1),
        scope: IdempotencyScope::Cancellation,
        key: ok(IdempotencyKey::parse("cancel-1")),
        fingerprint: Fingerprint::of(IdempotencyScope::Cancellation, &[&id.to_string()]),
        now: T0,
        lease_until: T0.plus_secs(30),
    };
    let ClaimOutcome::Claimed(ticket) = ok(f.store.claim_idempotency_key(&claim).await) else {
        panic!("a new key is claimed")
    };
    let CancelOutcome::Cancelled(receipt) = ok(f
        .booking
        .cancel_reservation(&f.cancellation(1, id, T0), Some(&ticket))
        .await)
    else {
        panic!("the cancellation goes through")
    };
    let ClaimOutcome::Replay(answer) = ok(f.store.claim_idempotency_key(&claim).await) else {
        panic!("a finished key replays")
    };
    assert!(answer.contains("Done"), "{answer}");
    assert!(
        answer.contains(&receipt.reservation_id.to_string()),
        "{answer}"
    );
}

pub async fn a_concerts_own_policy_governs_its_cancellations_until_it_is_removed(stores: Stores) {
    let f = fixture(stores).await;
    assert_eq!(
        ok(f.store.cancellation_policy(f.concert).await),
        Some(None),
        "a concert starts on the service's policy"
    );
    let sale = f.bought(1, 12, T0).await;
    let starts_at = ok(f.store.schedule(f.schedule).await)
        .unwrap_or_else(|| panic!("the fixture's date"))
        .starts_at;

    // Closing two days before a show a day away: closed already, although
    // the service's policy (an hour before) would allow it.
    let strict = ok(CancellationPolicy::new(2 * 86_400, &[]));
    assert!(ok(f
        .store
        .set_cancellation_policy(f.concert, Some(&strict))
        .await));
    assert_eq!(
        ok(f.store.cancellation_policy(f.concert).await),
        Some(Some(strict))
    );
    assert_eq!(
        f.cancel(1, sale.reservations[0].reservation_id, T0).await,
        CancelOutcome::Refused(CancelRefused::Closed {
            deadline: starts_at.minus_secs(2 * 86_400)
        })
    );
    assert_eq!(f.balance(1).await, Won::new(60_000), "nothing refunded");

    // Free until the show: the whole price comes back, where the service's
    // policy would keep 10%.
    let free = ok(CancellationPolicy::new(0, &[]));
    assert!(ok(f
        .store
        .set_cancellation_policy(f.concert, Some(&free))
        .await));
    let CancelOutcome::Cancelled(receipt) =
        f.cancel(1, sale.reservations[0].reservation_id, T0).await
    else {
        panic!("the free policy allows it")
    };
    assert_eq!((receipt.refund, receipt.fee), (sale.price, Won::ZERO));

    // Removed, the concert follows the service's policy again.
    assert!(ok(f.store.set_cancellation_policy(f.concert, None).await));
    assert_eq!(ok(f.store.cancellation_policy(f.concert).await), Some(None));
    let unknown = ok(ConcertId::new(9_999));
    assert!(!ok(f
        .store
        .set_cancellation_policy(unknown, Some(&free))
        .await));
    assert_eq!(ok(f.store.cancellation_policy(unknown).await), None);
    f.assert_clean().await;
}
