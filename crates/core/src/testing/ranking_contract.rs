//! The behaviour every `Ranking` adapter must show (`ranking_contract_tests!`).

use super::concert_id;
use crate::domain::EventId;
use crate::ports::Ranking;
use std::sync::Arc;
use uuid::Uuid;

#[macro_export]
macro_rules! ranking_contract_tests {
    ($make:expr) => {
        $crate::ranking_contract_tests!(@cases $make;
            each_event_counts_once_and_the_most_reserved_rank_first,
            a_reset_replaces_the_counts,
        );
    };
    (@cases $make:expr; $($case:ident),+ $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let ranking: std::sync::Arc<dyn $crate::ports::Ranking> = $make;
                $crate::testing::ranking_contract::$case(ranking).await;
            }
        )+
    };
}

fn ok<T, E: std::fmt::Display>(r: Result<T, E>) -> T {
    r.unwrap_or_else(|e| panic!("{e}"))
}

fn event() -> EventId {
    EventId::from_uuid(Uuid::new_v4())
}

pub async fn each_event_counts_once_and_the_most_reserved_rank_first(ranking: Arc<dyn Ranking>) {
    assert!(ok(ranking.top(10).await).is_empty());
    let once = event();
    assert!(ok(ranking.record_reservation(concert_id(2), once).await));
    assert!(
        !ok(ranking.record_reservation(concert_id(2), once).await),
        "a redelivery"
    );
    for _ in 0..2 {
        ok(ranking.record_reservation(concert_id(3), event()).await);
    }
    ok(ranking.record_reservation(concert_id(1), event()).await);
    assert_eq!(
        ok(ranking.top(10).await),
        vec![(concert_id(3), 2), (concert_id(1), 1), (concert_id(2), 1)],
        "most first, ties by concert id"
    );
    assert_eq!(ok(ranking.top(1).await), vec![(concert_id(3), 2)]);
}

pub async fn a_reset_replaces_the_counts(ranking: Arc<dyn Ranking>) {
    ok(ranking.record_reservation(concert_id(1), event()).await);
    ok(ranking
        .reset(&[(concert_id(5), 4), (concert_id(6), 0)])
        .await);
    assert_eq!(ok(ranking.top(10).await), vec![(concert_id(5), 4)]);
}
