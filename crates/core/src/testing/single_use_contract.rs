//! The behaviour every `SingleUse` adapter must show; `single_use_contract_tests!`
//! turns each case into a test.

use crate::ports::SingleUse;
use std::sync::Arc;
use std::time::Duration;

#[macro_export]
macro_rules! single_use_contract_tests {
    ($make:expr) => {
        $crate::single_use_contract_tests!(@cases $make;
            a_key_is_used_once_until_its_mark_lapses,
            racing_uses_of_one_key_have_one_first,
        );
    };
    (@cases $make:expr; $($case:ident),+ $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let marks: std::sync::Arc<dyn $crate::ports::SingleUse> = $make;
                $crate::testing::single_use_contract::$case(marks).await;
            }
        )+
    };
}

fn ok<T, E: std::fmt::Display>(r: Result<T, E>) -> T {
    r.unwrap_or_else(|e| panic!("{e}"))
}

fn key(name: &str) -> String {
    format!("contract:{name}:{}", uuid::Uuid::new_v4().simple())
}

pub async fn a_key_is_used_once_until_its_mark_lapses(marks: Arc<dyn SingleUse>) {
    let (a, b) = (key("a"), key("b"));
    assert!(ok(marks.first_use(&a, 60_000).await));
    assert!(!ok(marks.first_use(&a, 60_000).await));
    assert!(ok(marks.first_use(&b, 60_000).await));
    let brief = key("brief");
    assert!(ok(marks.first_use(&brief, 50).await));
    tokio::time::sleep(Duration::from_millis(120)).await;
    assert!(ok(marks.first_use(&brief, 50).await), "the mark lapsed");
}

pub async fn racing_uses_of_one_key_have_one_first(marks: Arc<dyn SingleUse>) {
    let shared = key("race");
    let uses = (0..20).map(|_| {
        let (marks, shared) = (marks.clone(), shared.clone());
        tokio::spawn(async move { marks.first_use(&shared, 60_000).await })
    });
    let firsts = futures::future::join_all(uses)
        .await
        .into_iter()
        .filter(|r| matches!(r, Ok(Ok(true))))
        .count();
    assert_eq!(firsts, 1);
}
