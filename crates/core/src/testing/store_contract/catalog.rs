//! The store contract: concerts and entry rules.

use super::*;
use crate::domain::concert::{ConcertChange, ScheduleChange};
use crate::ports::UpdateConcertOutcome;

pub async fn entry_rules_default_to_no_gate_and_can_be_set(stores: Stores) {
    let f = fixture(stores).await;
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
    let unknown = crate::testing::concert_id(987_654);
    assert_eq!(ok(f.store.entry_rules(unknown).await), None);
    assert!(!ok(f.store.set_entry_rules(unknown, &gated).await));
}

pub async fn a_concert_changes_all_or_nothing_and_a_date_only_while_no_seat_of_it_is_held_or_sold(
    stores: Stores,
) {
    let f = fixture(stores).await;
    let dates = ok(f.store.schedules_with_availability(f.concert, T0).await);
    let (first, second) = (dates[0].schedule.id, dates[1].schedule.id);
    let later = T0.plus_secs(30 * 86_400);
    let date = |id, venue: &str| ScheduleChange {
        schedule_id: id,
        starts_at: Some(later),
        venue: Some(venue.to_owned()),
    };
    let change = |title: &str, dates| ok(ConcertChange::new(Some(title), None, dates));
    let update = |c: ConcertChange, now| {
        let store = f.store.clone();
        let concert = f.concert;
        async move { ok(store.update_concert(concert, &c, now).await) }
    };
    assert_eq!(
        update(change("Renamed", vec![date(first, "Arena")]), T0).await,
        UpdateConcertOutcome::Updated
    );
    let moved = ok(f.store.schedule(first).await).unwrap_or_else(|| panic!("the date"));
    assert_eq!((moved.starts_at, moved.venue.as_str()), (later, "Arena"));
    let concert = ok(f.store.concert(f.concert).await).unwrap_or_else(|| panic!("the concert"));
    assert_eq!(concert.title, "Renamed");

    // A live hold puts the second date on sale. The dates are checked in id
    // order, so the first is changed before the second is refused: the
    // refusal rolls the first date's change back with the rest.
    let mut on_second = f.attempt(1, 3, T0);
    on_second.schedule_id = second;
    assert!(matches!(
        ok(f.booking.hold_seat(&on_second).await),
        HoldOutcome::Held(_)
    ));
    let both = change("Again", vec![date(second, "Hall"), date(first, "Hall")]);
    assert_eq!(
        update(both.clone(), T0).await,
        UpdateConcertOutcome::ScheduleOnSale(second)
    );
    let concert = ok(f.store.concert(f.concert).await).unwrap_or_else(|| panic!("the concert"));
    assert_eq!(concert.title, "Renamed");
    assert_eq!(
        ok(f.store.schedule(first).await).map(|s| s.venue),
        Some("Arena".to_owned())
    );
    // Once the hold ended unpaid, the date may move again.
    assert_eq!(
        update(both, T0.plus_secs(300)).await,
        UpdateConcertOutcome::Updated
    );
    // A sold seat keeps its date on sale for good.
    f.charge(1, 1_000_000).await;
    let sold = f.held(1, 4, T0.plus_secs(400)).await;
    assert!(matches!(
        f.pay(1, sold, T0.plus_secs(400)).await,
        PaymentOutcome::Confirmed(_)
    ));
    assert_eq!(
        update(
            change("Late", vec![date(first, "Park")]),
            T0.plus_secs(10_000)
        )
        .await,
        UpdateConcertOutcome::ScheduleOnSale(first)
    );

    let unknown = crate::testing::schedule_id(987_654);
    assert_eq!(
        update(change("X", vec![date(unknown, "Park")]), T0).await,
        UpdateConcertOutcome::ScheduleNotFound(unknown)
    );
    let theirs = f.another_concerts_date().await;
    assert_eq!(
        update(change("X", vec![date(theirs, "Park")]), T0).await,
        UpdateConcertOutcome::ScheduleNotFound(theirs)
    );
    assert_eq!(
        ok(f.store
            .update_concert(
                crate::testing::concert_id(987_654),
                &change("X", vec![]),
                T0
            )
            .await),
        UpdateConcertOutcome::NotFound
    );
}
