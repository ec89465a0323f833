//! The store contract: holds of several seats together, paid in one payment.

use super::booking::confirmed;
use super::*;
use crate::domain::seat_hold::HoldExtension;
use crate::ports::{CancelOutcome, ExtendOutcome};
use std::collections::HashSet;

impl Fixture {
    /// `who`'s attempt to hold `seats` together, with room for ten live
    /// holds, funded or not, and any number of tickets.
    fn basket(&self, who: i64, seats: &[i64], now: Timestamp) -> HoldAttempt {
        let numbers: Vec<_> = seats.iter().map(|n| seat(*n)).collect();
        let mut attempt = self.attempt(who, seats[0], now);
        attempt.seats =
            ok(Basket::new(&numbers, Basket::MOST_SEATS).map_err(|refused| format!("{refused:?}")));
        attempt.limits.max_live = 10;
        attempt.limits.max_live_unfunded = 10;
        attempt
    }

    async fn hold_basket(&self, who: i64, seats: &[i64], now: Timestamp) -> HoldOutcome {
        ok(self.booking.hold_seat(&self.basket(who, seats, now)).await)
    }

    /// The seats of the fixture's date in `status` at `now`.
    async fn seats_in(&self, status: SeatStatus, now: Timestamp) -> Vec<i64> {
        ok(self.store.seats(self.schedule, now).await)
            .iter()
            .filter(|s| s.status == status)
            .map(|s| i64::from(s.number.get()))
            .collect()
    }
}

fn numbers(hold: &crate::domain::seat_hold::Hold) -> Vec<i64> {
    hold.seat_numbers().map(|n| i64::from(n.get())).collect()
}

pub async fn a_basket_is_held_all_or_none_and_paid_in_one_payment_of_a_reservation_per_seat(
    stores: Stores,
) {
    let f = fixture(stores).await;
    f.charge(1, 1_000_000).await;
    f.held(2, 9, T0).await;
    // One seat of the basket is taken: none of it is held.
    assert_eq!(
        f.hold_basket(1, &[8, 9, 10], T0).await,
        HoldOutcome::SeatTaken
    );
    assert_eq!(f.seats_in(SeatStatus::Held, T0).await, vec![9]);
    // Seats of a basket, asked for in any order, are held in seat order
    // at the sum of their prices (one VIP at 150,000, two R at 90,000).
    let HoldOutcome::Held(hold) = f.hold_basket(1, &[12, 10, 11], T0).await else {
        panic!("a basket of free seats is held")
    };
    assert_eq!(numbers(&hold), vec![10, 11, 12]);
    assert_eq!(hold.price, Won::new(330_000));
    assert_eq!(
        hold.seats.iter().map(|s| s.price).collect::<Vec<_>>(),
        vec![Won::new(150_000), Won::new(90_000), Won::new(90_000)]
    );
    assert_eq!(f.seats_in(SeatStatus::Held, T0).await, vec![9, 10, 11, 12]);
    let listed = ok(f.booking.live_holds_of(user(1), T0).await);
    assert_eq!(listed, vec![hold.clone()]);
    // A basket touching a seat of another basket is refused whole.
    assert_eq!(
        f.hold_basket(3, &[12, 13], T0).await,
        HoldOutcome::SeatTaken
    );
    assert_eq!(f.status(13, T0).await, SeatStatus::Available);

    let PaymentOutcome::Confirmed(receipt) = f.pay(1, hold.id, T0.plus_secs(10)).await else {
        panic!("the basket is paid")
    };
    assert_eq!(receipt.price, Won::new(330_000));
    assert_eq!(receipt.balance, Won::new(670_000));
    assert_eq!(f.balance(1).await, Won::new(670_000));
    let sold: Vec<_> = receipt
        .reservations
        .iter()
        .map(|r| (i64::from(r.seat_number.get()), r.price))
        .collect();
    assert_eq!(
        sold,
        vec![
            (10, Won::new(150_000)),
            (11, Won::new(90_000)),
            (12, Won::new(90_000))
        ]
    );
    assert_eq!(
        f.seats_in(SeatStatus::Sold, T0.plus_secs(1_000)).await,
        vec![10, 11, 12]
    );
    let mine = ok(f.booking.reservations_of(user(1)).await);
    assert_eq!(mine.len(), 3);
    assert!(mine.iter().all(|r| r.hold_id == hold.id));
    let ids: HashSet<_> = receipt
        .reservations
        .iter()
        .map(|r| r.reservation_id)
        .collect();
    assert_eq!(ids, mine.iter().map(|r| r.id).collect::<HashSet<_>>());
    // One event per reservation, keyed by it.
    let events = ok(f
        .store
        .claim_unpublished(T0, 1, T0.plus_secs(30), 100)
        .await);
    let announced: HashSet<_> = events
        .iter()
        .filter(|e| e.event_type == RESERVATION_CONFIRMED)
        .map(|e| e.aggregate_key.clone())
        .collect();
    assert_eq!(
        announced,
        ids.iter().map(|id| id.to_string()).collect::<HashSet<_>>()
    );
    // Paying twice pays once.
    assert_eq!(
        f.pay(1, hold.id, T0.plus_secs(11)).await,
        PaymentOutcome::Refused(PaymentRefused::AlreadyPaid)
    );

    // Each seat of a basket is cancelled on its own; the others stay sold.
    let eleven = receipt.reservations[1].reservation_id;
    assert!(matches!(
        f.cancel(1, eleven, T0.plus_secs(60)).await,
        CancelOutcome::Cancelled(_)
    ));
    assert_eq!(
        f.seats_in(SeatStatus::Sold, T0.plus_secs(1_000)).await,
        vec![10, 12]
    );
    let audit = f.assert_clean().await;
    assert_eq!(audit.reservations, 3);
    assert_eq!(audit.money.paid, Won::new(330_000));
}

pub async fn releasing_extending_or_letting_a_basket_lapse_acts_on_all_its_seats(stores: Stores) {
    let f = fixture(stores).await;
    let HoldOutcome::Held(first) = f.hold_basket(1, &[1, 2], T0).await else {
        panic!("the basket is held")
    };
    let rule = HoldExtension {
        extend_ms: 120_000,
        max_total_ms: 600_000,
    };
    let ExtendOutcome::Extended(extended) = ok(f
        .booking
        .extend_hold(user(1), first.id, T0.plus_secs(10), rule)
        .await)
    else {
        panic!("a live basket is extended")
    };
    assert_eq!(extended.seats, first.seats);
    assert_eq!(extended.expires_at, T0.plus_secs(420));
    // Both seats stay held past the first expiry, until the new one.
    assert_eq!(
        f.seats_in(SeatStatus::Held, T0.plus_secs(419)).await,
        vec![1, 2]
    );
    assert!(
        f.seats_in(SeatStatus::Held, T0.plus_secs(420))
            .await
            .is_empty()
    );
    assert_eq!(
        ok(f.booking
            .release_hold(user(1), first.id, T0.plus_secs(20))
            .await),
        ReleaseOutcome::Released(f.concert)
    );
    assert!(
        f.seats_in(SeatStatus::Held, T0.plus_secs(20))
            .await
            .is_empty()
    );
    // Released seats go to the next basket, which then lapses whole.
    let HoldOutcome::Held(second) = f.hold_basket(2, &[2, 3], T0.plus_secs(30)).await else {
        panic!("released seats are held again")
    };
    assert_eq!(numbers(&second), vec![2, 3]);
    assert_eq!(
        ok(f.booking
            .release_expired_holds(T0.plus_secs(1_000), 100)
            .await),
        1
    );
    assert!(f.seats_in(SeatStatus::Held, T0).await.is_empty());
    assert_eq!(
        f.pay(2, second.id, T0.plus_secs(1_000)).await,
        PaymentOutcome::Refused(PaymentRefused::HoldExpired)
    );
}

pub async fn a_basket_counts_every_seat_toward_the_concerts_ticket_limit(stores: Stores) {
    let f = fixture(stores).await;
    let within = |seats: &[i64]| {
        let mut attempt = f.basket(1, seats, T0);
        attempt.limits.max_per_concert = 4;
        attempt
    };
    assert!(matches!(
        ok(f.booking.hold_seat(&within(&[1, 2, 3])).await),
        HoldOutcome::Held(_)
    ));
    // Three held and two asked for make five: refused, and nothing held.
    assert_eq!(
        ok(f.booking.hold_seat(&within(&[4, 5])).await),
        HoldOutcome::LimitReached(HoldLimitReached::PerConcert)
    );
    assert_eq!(f.seats_in(SeatStatus::Held, T0).await, vec![1, 2, 3]);
    assert!(matches!(
        ok(f.booking.hold_seat(&within(&[4])).await),
        HoldOutcome::Held(_)
    ));
    assert_eq!(
        ok(f.booking.hold_seat(&within(&[5])).await),
        HoldOutcome::LimitReached(HoldLimitReached::PerConcert)
    );
}

pub async fn concurrent_baskets_on_overlapping_seats_never_share_a_seat_and_each_is_all_or_none(
    stores: Stores,
) {
    let f = Arc::new(fixture(stores).await);
    // Thirty fans, baskets of two to four seats in a window of twenty: each
    // basket overlaps several others.
    let baskets: Vec<(i64, Vec<i64>)> = (1..=30)
        .map(|who| {
            let first = (who * 7) % 17 + 1;
            let len = 2 + who % 3;
            (who, (first..first + len).collect())
        })
        .collect();
    let attempts = baskets.iter().cloned().map(|(who, seats)| {
        let f = f.clone();
        spawned(async move { f.hold_basket(who, &seats, T0).await })
    });
    let outcomes = futures::future::join_all(attempts).await;
    let mut taken = HashSet::new();
    let mut won = Vec::new();
    for ((who, asked), outcome) in baskets.iter().zip(&outcomes) {
        match outcome {
            HoldOutcome::Held(hold) => {
                assert_eq!(&numbers(hold), asked, "fan {who} got their whole basket");
                for seat_no in asked {
                    assert!(taken.insert(*seat_no), "seat {seat_no} went twice");
                }
                won.push(hold.id);
            }
            HoldOutcome::SeatTaken => {}
            other => panic!("fan {who}: unexpected {other:?}"),
        }
    }
    assert!(!won.is_empty(), "some basket wins");
    // The seat map holds exactly the winners' seats: a basket that lost
    // left none of its seats held.
    let mut held = f.seats_in(SeatStatus::Held, T0).await;
    let mut expected: Vec<i64> = taken.into_iter().collect();
    held.sort_unstable();
    expected.sort_unstable();
    assert_eq!(held, expected);
    // Every winner pays at once; each seat is sold once.
    let payments = baskets
        .iter()
        .zip(&outcomes)
        .filter_map(|((who, _), outcome)| match outcome {
            HoldOutcome::Held(hold) => Some((*who, hold.id)),
            _ => None,
        })
        .map(|(who, hold)| {
            let f = f.clone();
            spawned(async move {
                f.charge(who, 600_000).await;
                f.pay(who, hold, T0).await
            })
        });
    let paid = futures::future::join_all(payments).await;
    assert_eq!(confirmed(&paid), won.len());
    assert_eq!(f.seats_in(SeatStatus::Sold, T0).await, expected);
    let audit = f.assert_clean().await;
    assert_eq!(audit.reservations as usize, expected.len());
}
