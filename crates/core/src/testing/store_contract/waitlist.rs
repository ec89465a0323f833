//! The store contract: a sold-out date's waiting list (the waitlist port)
//! and the offers that hand returned seats to its fans first.

use super::*;
use crate::domain::waitlist::{JoinRefusal, WaitlistStatus};
use crate::ports::{JoinOutcome, OfferAttempt, OfferOutcome, SettledOffers};

impl Fixture {
    async fn join(&self, who: i64, now: Timestamp) -> JoinOutcome {
        ok(self
            .store
            .join_waitlist(user(who), self.schedule, now)
            .await)
    }

    /// The fan's place in line, as joining answers it.
    async fn joined_at_position(&self, who: i64, now: Timestamp) -> Option<u64> {
        match self.join(who, now).await {
            JoinOutcome::Joined(entry) => entry.position,
            other => panic!("expected to join, got {other:?}"),
        }
    }

    async fn offer(&self, now: Timestamp) -> OfferOutcome {
        let attempt = OfferAttempt {
            schedule_id: self.schedule,
            hold_id: HoldId::from_uuid(uuid()),
            now,
            expires_at: now.plus_secs(600),
            max_per_concert: 4,
        };
        ok(self.store.offer_seat(&attempt).await)
    }

    async fn entry_status(&self, who: i64) -> WaitlistStatus {
        ok(self.store.waitlist_of(user(who)).await)[0].status
    }
}

pub async fn returned_seats_go_to_the_waiting_list_in_order_and_an_unpaid_offer_passes_on(
    stores: Stores,
) {
    let f = fixture(stores).await;
    assert_eq!(
        f.join(100, T0).await,
        JoinOutcome::Refused(JoinRefusal::NotSoldOut),
        "a date with a free seat has no waiting list"
    );
    // Every seat held: the date is sold out for now.
    let mut holds = Vec::new();
    for n in 1..=50 {
        holds.push(f.held(n, n, T0).await);
    }
    assert_eq!(f.offer(T0).await, OfferOutcome::NoSeat);
    assert_eq!(f.joined_at_position(100, T0).await, Some(1));
    assert_eq!(f.joined_at_position(101, T0).await, Some(2));
    assert_eq!(
        f.joined_at_position(100, T0).await,
        Some(1),
        "joining again keeps the first place"
    );
    assert_eq!(ok(f.store.dates_with_waiters(10).await), vec![f.schedule]);

    // Seat 1 comes back; while fans wait, nobody else may hold it.
    assert!(matches!(
        ok(f.booking.release_hold(user(1), holds[0], T0).await),
        ReleaseOutcome::Released(_)
    ));
    assert_eq!(f.hold(200, 1, T0).await, HoldOutcome::SeatTaken);
    let OfferOutcome::Offered(offer) = f.offer(T0).await else {
        panic!("the returned seat is offered")
    };
    assert_eq!(
        (offer.user_id, offer.seat_numbers().collect::<Vec<_>>()),
        (user(100), vec![seat(1)]),
        "the first fan in line gets the lowest returned seat"
    );
    assert_eq!(offer.expires_at, T0.plus_secs(600));
    assert_eq!(f.entry_status(100).await, WaitlistStatus::Offered);
    let next = &ok(f.store.waitlist_of(user(101)).await)[0];
    assert_eq!(next.position, Some(1), "the next fan moves up");
    assert_eq!(f.offer(T0).await, OfferOutcome::NoSeat);
    assert!(!ok(f.store.leave_waitlist(user(100), f.schedule, T0).await));

    // The offer is paid as any hold; the round closes it as bought.
    f.charge(100, 150_000).await;
    assert!(matches!(
        f.pay(100, offer.id, T0).await,
        PaymentOutcome::Confirmed(_)
    ));
    assert_eq!(
        ok(f.store.settle_offers(T0, 100).await),
        SettledOffers {
            bought: 1,
            lapsed: 0
        }
    );
    assert_eq!(f.entry_status(100).await, WaitlistStatus::Bought);

    // The other holds end unpaid: the next fan gets one, the rest stay
    // off sale while anyone waits... and nobody else does.
    let later = T0.plus_secs(301);
    let OfferOutcome::Offered(second) = f.offer(later).await else {
        panic!("an ended hold's seat is offered")
    };
    assert_eq!(
        (second.user_id, second.seat_numbers().next()),
        (user(101), Some(seat(2)))
    );
    assert_eq!(f.offer(later).await, OfferOutcome::NoWaiter);
    // Left unpaid, the offer lapses and its seat is free for anyone.
    let lapsed_at = later.plus_secs(600);
    assert_eq!(
        ok(f.store.settle_offers(lapsed_at, 100).await),
        SettledOffers {
            bought: 0,
            lapsed: 1
        }
    );
    assert_eq!(f.entry_status(101).await, WaitlistStatus::Lapsed);
    assert!(matches!(
        f.hold(200, 2, lapsed_at).await,
        HoldOutcome::Held(_)
    ));
    assert_eq!(
        f.join(102, lapsed_at).await,
        JoinOutcome::Refused(JoinRefusal::NotSoldOut)
    );
    assert!(ok(f.store.dates_with_waiters(10).await).is_empty());
    f.assert_clean().await;
}

pub async fn a_waiter_leaves_before_an_offer_and_unknown_or_called_off_dates_cannot_be_joined(
    stores: Stores,
) {
    let f = fixture(stores).await;
    for n in 1..=50 {
        f.held(n, n, T0).await;
    }
    assert_eq!(f.joined_at_position(100, T0).await, Some(1));
    assert_eq!(f.joined_at_position(101, T0).await, Some(2));
    assert_eq!(f.joined_at_position(102, T0).await, Some(3));
    assert!(ok(f.store.leave_waitlist(user(100), f.schedule, T0).await));
    assert!(!ok(f.store.leave_waitlist(user(100), f.schedule, T0).await));
    assert_eq!(f.entry_status(100).await, WaitlistStatus::Left);
    assert_eq!(
        ok(f.store.waitlist_of(user(101)).await)[0].position,
        Some(1)
    );
    assert_eq!(
        f.joined_at_position(100, T0).await,
        Some(3),
        "a fan who left may join again, at the back"
    );
    // Once the holds end, the first fan still waiting gets the lowest seat.
    let OfferOutcome::Offered(offer) = f.offer(T0.plus_secs(300)).await else {
        panic!("an ended hold's seat is offered")
    };
    assert_eq!(offer.user_id, user(101));

    let unknown = ScheduleId::new(999_999).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        ok(f.store.join_waitlist(user(100), unknown, T0).await),
        JoinOutcome::Refused(JoinRefusal::ScheduleNotFound)
    );
    ok(f.store
        .cancel_dates(f.concert, Some(f.schedule), T0.plus_secs(300))
        .await);
    assert_eq!(
        f.join(103, T0.plus_secs(300)).await,
        JoinOutcome::Refused(JoinRefusal::DateCalledOff)
    );
    assert!(
        ok(f.store.dates_with_waiters(10).await).is_empty(),
        "a called-off date offers nothing"
    );
}
