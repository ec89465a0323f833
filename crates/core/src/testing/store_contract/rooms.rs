//! The store contract: rooms, the draw and the console's samples.

use super::*;

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

pub async fn a_room_changes_only_from_the_version_read_with_its_audit_and_event(stores: Stores) {
    use crate::domain::room::{Flow, Room, RoomState};
    let f = fixture(stores).await;
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
        let events = ok(f
            .store
            .claim_unpublished(T0, 1, T0.plus_secs(30), 100)
            .await);
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
    assert_eq!(
        ok(f.store.room(crate::testing::concert_id(987_654)).await),
        None
    );
}

pub async fn a_draw_is_recorded_once_and_read_back_in_place_order(stores: Stores) {
    use crate::domain::room::RoomState;
    let f = fixture(stores).await;
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

pub async fn sellable_seats_count_available_and_held_but_not_sold(stores: Stores) {
    let f = fixture(stores).await;
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

pub async fn a_tally_counts_seats_by_status_at_an_instant_and_sums_the_revenue(stores: Stores) {
    let f = fixture(stores).await;
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

pub async fn samples_are_kept_once_per_instant_read_in_order_limited_and_let_go(stores: Stores) {
    let f = fixture(stores).await;
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
