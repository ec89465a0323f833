//! The behaviour every `DeliveryLedger` and `Inbox` adapter must show (the
//! memory store and both SQL stores implement the two together).
//! `delivery_contract_tests!` turns each case into one test.

use crate::domain::delivery::{DeadLetterFilter, NewDeadLetter};
use crate::domain::events::{BalanceCharged, OutboxEvent, balance_charged};
use crate::domain::{EventId, Timestamp, UserId, Won};
use crate::ports::{DeliveryLedger, Inbox};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use uuid::Uuid;

/// Generates one `#[tokio::test]` per contract case. `$make` is an async
/// expression giving a fresh `Arc` of a type that is both a `DeliveryLedger`
/// and an `Inbox`.
#[macro_export]
macro_rules! delivery_contract_tests {
    ($make:expr) => {
        $crate::delivery_contract_tests!(@cases $make;
            consumption_is_recorded_once_per_consumer,
            dead_letters_are_kept_replaced_and_replayed_once,
            dead_letters_are_paged_newest_first_and_filtered,
            the_inbox_queues_once_in_order_until_removed,
        );
    };
    (@cases $make:expr; $($case:ident),+ $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let both = $make;
                $crate::testing::delivery_contract::$case(both.clone(), both).await;
            }
        )+
    };
}

const T0: Timestamp = Timestamp::from_millis(1_893_456_000_000);
static IDS: AtomicU64 = AtomicU64::new(1);

fn event(user: i64) -> OutboxEvent {
    let n = IDS.fetch_add(1, Ordering::SeqCst);
    let id = uuid::Builder::from_unix_timestamp_millis(1_893_456_000_000 + n, &[7; 10]).into_uuid();
    balance_charged(
        EventId::from_uuid(id),
        BalanceCharged {
            user_id: UserId::new(user).unwrap_or_else(|e| panic!("{e}")),
            amount: Won::new(1_000),
            balance: Won::new(1_000),
            charged_at: T0,
        },
    )
}

fn ok<T, E: std::fmt::Display>(r: Result<T, E>) -> T {
    r.unwrap_or_else(|e| panic!("{e}"))
}

pub async fn consumption_is_recorded_once_per_consumer(
    ledger: Arc<dyn DeliveryLedger>,
    _inbox: Arc<dyn Inbox>,
) {
    let e = event(1);
    assert!(!ok(ledger.already_consumed("a", e.id).await));
    assert!(ok(ledger.record_consumed("a", e.id, T0).await));
    assert!(
        !ok(ledger.record_consumed("a", e.id, T0).await),
        "second record"
    );
    assert!(ok(ledger.already_consumed("a", e.id).await));
    assert!(
        !ok(ledger.already_consumed("b", e.id).await),
        "per consumer"
    );
    assert!(!ok(ledger
        .already_consumed("a", EventId::from_uuid(Uuid::nil()))
        .await));
}

pub async fn dead_letters_are_kept_replaced_and_replayed_once(
    ledger: Arc<dyn DeliveryLedger>,
    _inbox: Arc<dyn Inbox>,
) {
    let (first, second) = (event(1), event(2));
    let letter = |event: &OutboxEvent, attempts: u32, error: &str| NewDeadLetter {
        consumer: "a".to_owned(),
        event: event.clone(),
        attempts,
        last_error: error.to_owned(),
        failed_at: T0,
    };
    ok(ledger.record_dead_letter(&letter(&first, 3, "503")).await);
    ok(ledger
        .record_dead_letter(&letter(&second, 3, "timeout"))
        .await);
    let listed = ok(ledger.dead_letters(&DeadLetterFilter::default(), 10).await);
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[0].event, second, "newest first");
    assert_eq!(listed[1].event, first);
    assert_eq!(listed[1].last_error, "503");
    assert_eq!(
        ok(ledger.dead_letters(&DeadLetterFilter::default(), 1).await).len(),
        1
    );
    let id = listed[1].id;
    assert_eq!(
        ok(ledger.dead_letter(id).await).map(|d| d.attempts),
        Some(3)
    );
    assert!(ok(ledger.dead_letter(id + 1_000_000).await).is_none());
    assert_eq!(
        ok(ledger.unreplayed_dead_letters().await),
        [("a".to_owned(), 2)],
        "both letters count before a replay"
    );
    assert!(ok(ledger.mark_replayed(id, T0.plus_secs(5)).await));
    assert_eq!(
        ok(ledger.unreplayed_dead_letters().await),
        [("a".to_owned(), 1)]
    );
    assert!(!ok(ledger.mark_replayed(id, T0.plus_secs(6)).await), "once");
    let replayed = ok(ledger.dead_letter(id).await);
    assert_eq!(replayed.and_then(|d| d.replayed_at), Some(T0.plus_secs(5)));
    // Failing again replaces the letter and makes it replayable again.
    ok(ledger.record_dead_letter(&letter(&first, 5, "500")).await);
    let again = ok(ledger.dead_letter(id).await);
    let again = again.unwrap_or_else(|| panic!("the letter keeps its id"));
    assert_eq!((again.attempts, again.last_error.as_str()), (5, "500"));
    assert_eq!(again.replayed_at, None);
    assert_eq!(
        ok(ledger.unreplayed_dead_letters().await),
        [("a".to_owned(), 2)]
    );
    assert_eq!(
        ok(ledger.dead_letters(&DeadLetterFilter::default(), 10).await).len(),
        2
    );
}

pub async fn dead_letters_are_paged_newest_first_and_filtered(
    ledger: Arc<dyn DeliveryLedger>,
    _inbox: Arc<dyn Inbox>,
) {
    // Seven letters: consumers a and b in turn, failing a second apart.
    for n in 0..7u64 {
        let mut event = event(i64::try_from(n).unwrap_or(0) + 1);
        if n == 3 {
            event.event_type = "ReservationConfirmed".to_owned();
        }
        ok(ledger
            .record_dead_letter(&NewDeadLetter {
                consumer: if n % 2 == 0 { "a" } else { "b" }.to_owned(),
                event,
                attempts: 8,
                last_error: "500".to_owned(),
                failed_at: T0.plus_secs(n),
            })
            .await);
    }
    let all = ok(ledger.dead_letters(&DeadLetterFilter::default(), 100).await);
    assert_eq!(all.len(), 7);
    assert!(all.windows(2).all(|w| w[0].id > w[1].id), "newest first");
    // Pages of three, each below the last id of the one before, cover all once.
    let mut paged = Vec::new();
    let mut filter = DeadLetterFilter::default();
    loop {
        let page = ok(ledger.dead_letters(&filter, 3).await);
        let Some(last) = page.last() else { break };
        filter.before_id = Some(last.id);
        paged.extend(page.iter().map(|d| d.id));
    }
    let ids: Vec<i64> = all.iter().map(|d| d.id).collect();
    assert_eq!(paged, ids, "paging skips or repeats nothing");
    let oldest = DeadLetterFilter {
        oldest_first: true,
        ..DeadLetterFilter::default()
    };
    let oldest: Vec<i64> = ok(ledger.dead_letters(&oldest, 2).await)
        .iter()
        .map(|d| d.id)
        .collect();
    assert_eq!(oldest, [ids[6], ids[5]], "oldest first, when asked");
    // The seven are told apart by the second they failed in.
    let second = |d: &crate::domain::delivery::DeadLetter| {
        u64::try_from((d.failed_at.as_millis() - T0.as_millis()) / 1000).unwrap_or(99)
    };
    let of = |filter: DeadLetterFilter| -> Vec<u64> {
        all.iter()
            .filter(|d| filter.matches(d))
            .map(second)
            .collect()
    };
    let cases = [
        DeadLetterFilter {
            consumer: Some("b".to_owned()),
            ..DeadLetterFilter::default()
        },
        DeadLetterFilter {
            event_type: Some("ReservationConfirmed".to_owned()),
            ..DeadLetterFilter::default()
        },
        DeadLetterFilter {
            failed_from: Some(T0.plus_secs(2)),
            failed_before: Some(T0.plus_secs(5)),
            ..DeadLetterFilter::default()
        },
        DeadLetterFilter {
            consumer: Some("a".to_owned()),
            failed_from: Some(T0.plus_secs(4)),
            ..DeadLetterFilter::default()
        },
    ];
    let expected: [&[u64]; 4] = [&[5, 3, 1], &[3], &[4, 3, 2], &[6, 4]];
    for (filter, want) in cases.into_iter().zip(expected) {
        assert_eq!(
            of(filter.clone()),
            want,
            "the filter's own rule: {filter:?}"
        );
        let got = ok(ledger.dead_letters(&filter, 100).await);
        let got: Vec<u64> = got.iter().map(second).collect();
        assert_eq!(got, want, "{filter:?}");
    }
    // Replayed or not.
    ok(ledger.mark_replayed(all[0].id, T0.plus_secs(60)).await);
    let waiting = DeadLetterFilter {
        replayed: Some(false),
        ..DeadLetterFilter::default()
    };
    let done = DeadLetterFilter {
        replayed: Some(true),
        ..DeadLetterFilter::default()
    };
    assert_eq!(ok(ledger.dead_letters(&waiting, 100).await).len(), 6);
    let replayed = ok(ledger.dead_letters(&done, 100).await);
    assert_eq!(
        replayed.iter().map(|d| d.id).collect::<Vec<_>>(),
        [all[0].id]
    );
}

pub async fn the_inbox_queues_once_in_order_until_removed(
    _ledger: Arc<dyn DeliveryLedger>,
    inbox: Arc<dyn Inbox>,
) {
    let events: Vec<OutboxEvent> = (1..=4).map(event).collect();
    for e in &events {
        ok(inbox.append("a", e).await);
    }
    ok(inbox.append("a", &events[1]).await);
    ok(inbox.append("b", &events[0]).await);
    let queued = ok(inbox.queued("a", 10).await);
    let ids: Vec<EventId> = queued.iter().map(|(_, e)| e.id).collect();
    assert_eq!(
        ids,
        events.iter().map(|e| e.id).collect::<Vec<_>>(),
        "once each, in order"
    );
    assert!(queued.windows(2).all(|w| w[0].0 < w[1].0));
    assert_eq!(ok(inbox.queued("a", 2).await).len(), 2);
    // Removing is by row: the others stay, whatever their numbers.
    ok(inbox.remove("a", queued[1].0).await);
    ok(inbox.remove("a", queued[0].0).await);
    let rest = ok(inbox.queued("a", 10).await);
    assert_eq!(
        rest.iter().map(|(_, e)| e.id).collect::<Vec<_>>(),
        [events[2].id, events[3].id]
    );
    assert_eq!(ok(inbox.queued("b", 10).await).len(), 1, "per consumer");
}
