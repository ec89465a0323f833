//! The behaviour every `Cache` adapter must show (`cache_contract_tests!`).

use crate::ports::Cache;
use std::sync::Arc;
use std::time::Duration;

#[macro_export]
macro_rules! cache_contract_tests {
    ($make:expr) => {
        $crate::cache_contract_tests!(@cases $make;
            values_are_read_back_until_deleted,
            values_expire_after_their_ttl,
        );
    };
    (@cases $make:expr; $($case:ident),+ $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let cache: std::sync::Arc<dyn $crate::ports::Cache> = $make;
                $crate::testing::cache_contract::$case(cache).await;
            }
        )+
    };
}

fn ok<T, E: std::fmt::Display>(r: Result<T, E>) -> T {
    r.unwrap_or_else(|e| panic!("{e}"))
}

pub async fn values_are_read_back_until_deleted(cache: Arc<dyn Cache>) {
    assert_eq!(ok(cache.get("a").await), None);
    ok(cache.set("a", "{\"x\":1}", 10_000).await);
    ok(cache.set("b", "2", 10_000).await);
    assert_eq!(ok(cache.get("a").await).as_deref(), Some("{\"x\":1}"));
    ok(cache.set("a", "3", 10_000).await);
    assert_eq!(ok(cache.get("a").await).as_deref(), Some("3"));
    ok(cache.delete(&["a".to_owned(), "missing".to_owned()]).await);
    assert_eq!(ok(cache.get("a").await), None);
    assert_eq!(ok(cache.get("b").await).as_deref(), Some("2"));
}

pub async fn values_expire_after_their_ttl(cache: Arc<dyn Cache>) {
    ok(cache.set("short", "1", 100).await);
    assert_eq!(ok(cache.get("short").await).as_deref(), Some("1"));
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert_eq!(ok(cache.get("short").await), None);
}
