//! The store contract: dates the organiser calls off (the catalog port's
//! `cancel_dates`) and the refunds of their reservations (the booking
//! port's `reservations_to_refund` and `cancel_reservation` on the
//! organiser's terms).

use super::*;
use crate::domain::cancellation::{CancelAttempt, CancellationPolicy, Canceller};
use crate::domain::events::RESERVATION_CANCELLED;
use crate::ports::{CancelDatesOutcome, CancelOutcome, CancelRefused};

impl Fixture {
    /// The fixture's second date.
    async fn second_date(&self) -> ScheduleId {
        ok(self
            .store
            .schedules_with_availability(self.concert, T0)
            .await)[1]
            .schedule
            .id
    }

    async fn call_off(&self, only: Option<ScheduleId>, now: Timestamp) -> CancelDatesOutcome {
        ok(self.store.cancel_dates(self.concert, only, now).await)
    }

    /// The organiser's refund of `id`, owned by `who`.
    async fn refund(&self, who: i64, id: ReservationId, now: Timestamp) -> CancelOutcome {
        let attempt = CancelAttempt {
            user_id: user(who),
            by: Canceller::Organiser,
            reservation_id: id,
            now,
            event_id: EventId::from_uuid(uuid()),
            policy: CancellationPolicy::default(),
        };
        ok(self.booking.cancel_reservation(&attempt, None).await)
    }

    async fn due(&self) -> Vec<ReservationId> {
        ok(self.booking.reservations_to_refund(100).await)
            .iter()
            .map(|r| r.id)
            .collect()
    }
}

pub async fn a_called_off_date_frees_its_held_seats_and_its_reservations_are_refunded_in_full_once(
    stores: Stores,
) {
    let f = fixture(stores).await;
    let sale = f.bought(1, 12, T0).await;
    let id = sale.reservations[0].reservation_id;
    // Another date's reservation, which goes ahead.
    let second = f.second_date().await;
    f.charge(3, 150_000).await;
    let mut elsewhere = f.attempt(3, 12, T0);
    elsewhere.schedule_id = second;
    let HoldOutcome::Held(kept) = ok(f.booking.hold_seat(&elsewhere).await) else {
        panic!("a seat of the second date is free")
    };
    assert!(matches!(
        f.pay(3, kept.id, T0).await,
        PaymentOutcome::Confirmed(_)
    ));
    f.charge(2, 150_000).await;
    let pending = f.held(2, 13, T0).await;
    // The organiser's refund of a date that goes ahead is refused.
    assert_eq!(
        f.refund(1, id, T0).await,
        CancelOutcome::Refused(CancelRefused::DateGoesAhead)
    );
    assert!(f.due().await.is_empty());

    // Past the fan's own deadline (an hour before the show).
    let late = T0.plus_secs(86_400 - 60);
    assert_eq!(
        f.call_off(Some(f.schedule), late).await,
        CancelDatesOutcome::Cancelled {
            called_off: vec![f.schedule],
            released_holds: 1
        }
    );
    let date = ok(f.store.schedule(f.schedule).await).unwrap_or_else(|| panic!("the date"));
    assert_eq!(date.cancelled_at, Some(late));
    assert_eq!(f.status(13, late).await, SeatStatus::Available);
    assert_eq!(
        f.pay(2, pending, late).await,
        PaymentOutcome::Refused(PaymentRefused::HoldExpired),
        "a released hold cannot be paid"
    );
    let dates = ok(f.store.schedules_with_availability(f.concert, late).await);
    assert_eq!(
        dates[0].available_seats, 0,
        "a called-off date sells nothing"
    );
    assert!(dates[1].available_seats > 0 && dates[1].schedule.cancelled_at.is_none());
    assert_eq!(f.due().await, vec![id]);

    let CancelOutcome::Cancelled(receipt) = f.refund(1, id, late).await else {
        panic!("the organiser refunds a called-off date's reservation")
    };
    assert_eq!((receipt.refund, receipt.fee), (Won::new(90_000), Won::ZERO));
    assert_eq!(receipt.by, Canceller::Organiser);
    assert_eq!(f.balance(1).await, Won::new(150_000));
    assert_eq!(
        f.refund(1, id, late).await,
        CancelOutcome::Refused(CancelRefused::AlreadyCancelled)
    );
    assert!(f.due().await.is_empty());
    assert_eq!(
        f.call_off(Some(f.schedule), late).await,
        CancelDatesOutcome::Cancelled {
            called_off: vec![],
            released_holds: 0
        },
        "calling a date off again changes nothing"
    );

    let mut events = Vec::new();
    for _ in 0..2 {
        let claimed = ok(f
            .store
            .claim_unpublished(late, 1, late.plus_secs(30), 100)
            .await);
        let ids: Vec<EventId> = claimed.iter().map(|e| e.id).collect();
        ok(f.store.mark_published(&ids, late).await);
        events.extend(claimed);
    }
    let cancelled: Vec<_> = events
        .iter()
        .filter(|e| e.event_type == RESERVATION_CANCELLED)
        .collect();
    assert_eq!(cancelled.len(), 1);
    match DomainEvent::decode(cancelled[0]) {
        Some(DomainEvent::ReservationCancelled(body)) => {
            assert_eq!(body.cancelled_by, Canceller::Organiser);
            assert_eq!((body.refund, body.fee), (Won::new(90_000), Won::ZERO));
        }
        other => panic!("undecodable event {other:?}"),
    }
    let audit = f.assert_clean().await;
    assert_eq!((audit.reservations, audit.cancelled), (2, 1));
    assert_eq!(audit.money.refunded, Won::new(90_000));
}

pub async fn refunds_racing_the_fans_own_cancellation_of_a_called_off_date_pay_out_once_in_full(
    stores: Stores,
) {
    let f = Arc::new(fixture(stores).await);
    let id = f.bought(1, 12, T0).await.reservations[0].reservation_id;
    let late = T0.plus_secs(86_400 - 60);
    assert!(matches!(
        f.call_off(None, late).await,
        CancelDatesOutcome::Cancelled { called_off, .. } if called_off.len() == 2
    ));
    let attempts = (0..20).map(|i| {
        let f = f.clone();
        spawned(async move {
            if i % 2 == 0 {
                f.refund(1, id, late).await
            } else {
                // A fan cancelling a called-off date: in full, even late.
                f.cancel(1, id, late).await
            }
        })
    });
    let outcomes = futures::future::join_all(attempts).await;
    let done: Vec<_> = outcomes
        .iter()
        .filter_map(|o| match o {
            CancelOutcome::Cancelled(receipt) => Some(receipt.refund),
            CancelOutcome::Refused(_) => None,
        })
        .collect();
    let again = outcomes
        .iter()
        .filter(|o| **o == CancelOutcome::Refused(CancelRefused::AlreadyCancelled))
        .count();
    assert_eq!((done, again), (vec![Won::new(90_000)], 19));
    assert_eq!(f.balance(1).await, Won::new(150_000));
    let audit = f.assert_clean().await;
    assert_eq!(audit.money.refunded, Won::new(90_000));
}

pub async fn calling_off_an_unknown_concert_or_another_concerts_date_changes_nothing(
    stores: Stores,
) {
    let f = fixture(stores).await;
    let stranger = f.another_concerts_date().await;
    assert_eq!(
        f.call_off(Some(stranger), T0).await,
        CancelDatesOutcome::ScheduleNotFound(stranger)
    );
    assert_eq!(
        ok(f.store
            .cancel_dates(
                ConcertId::new(999_999).unwrap_or_else(|e| panic!("{e}")),
                None,
                T0
            )
            .await),
        CancelDatesOutcome::NotFound
    );
    for date in ok(f.store.schedules_with_availability(f.concert, T0).await) {
        assert_eq!(date.schedule.cancelled_at, None);
    }
    let stranger_date = ok(f.store.schedule(stranger).await).unwrap_or_else(|| panic!("date"));
    assert_eq!(stranger_date.cancelled_at, None);
    assert!(matches!(f.hold(1, 12, T0).await, HoldOutcome::Held(_)));
}
