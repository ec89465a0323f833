//! The behaviour every `Lock` adapter must show (`lock_contract_tests!`).
//! Keys are made unique per case so adapters sharing a server do not collide.

use crate::ports::Lock;
use std::sync::Arc;
use std::time::Duration;

#[macro_export]
macro_rules! lock_contract_tests {
    ($make:expr) => {
        $crate::lock_contract_tests!(@cases $make;
            a_held_lock_excludes_others_until_released,
            only_the_holder_can_release_or_extend,
            a_lease_expires_by_itself,
            of_many_concurrent_takers_exactly_one_wins,
        );
    };
    (@cases $make:expr; $($case:ident),+ $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let lock: std::sync::Arc<dyn $crate::ports::Lock> = $make;
                $crate::testing::lock_contract::$case(lock).await;
            }
        )+
    };
}

fn ok<T, E: std::fmt::Display>(r: Result<T, E>) -> T {
    r.unwrap_or_else(|e| panic!("{e}"))
}

fn key(case: &str) -> String {
    let mut bytes = [0u8; 8];
    let _ = getrandom::fill(&mut bytes);
    format!("contract:{case}:{}", u64::from_le_bytes(bytes))
}

pub async fn a_held_lock_excludes_others_until_released(lock: Arc<dyn Lock>) {
    let k = key("exclude");
    let lease = ok(lock.try_acquire(&k, 10_000).await).unwrap_or_else(|| panic!("free lock"));
    assert!(ok(lock.try_acquire(&k, 10_000).await).is_none());
    assert!(ok(lock.try_acquire(&key("other"), 10_000).await).is_some());
    assert!(ok(lock.release(&lease).await));
    assert!(ok(lock.try_acquire(&k, 10_000).await).is_some());
}

pub async fn only_the_holder_can_release_or_extend(lock: Arc<dyn Lock>) {
    let k = key("holder");
    let lease = ok(lock.try_acquire(&k, 10_000).await).unwrap_or_else(|| panic!("free lock"));
    let forged = crate::ports::LockLease {
        key: k.clone(),
        token: "not-the-token".into(),
    };
    assert!(!ok(lock.release(&forged).await));
    assert!(!ok(lock.extend(&forged, 10_000).await));
    assert!(ok(lock.extend(&lease, 10_000).await));
    assert!(ok(lock.try_acquire(&k, 10_000).await).is_none());
    assert!(ok(lock.release(&lease).await));
    assert!(!ok(lock.release(&lease).await), "a released lease is gone");
}

pub async fn a_lease_expires_by_itself(lock: Arc<dyn Lock>) {
    let k = key("expiry");
    let lease = ok(lock.try_acquire(&k, 100).await).unwrap_or_else(|| panic!("free lock"));
    tokio::time::sleep(Duration::from_millis(250)).await;
    let next = ok(lock.try_acquire(&k, 10_000).await);
    assert!(next.is_some(), "an expired lease must not block");
    assert!(
        !ok(lock.extend(&lease, 10_000).await),
        "the old holder lost it"
    );
    assert!(
        !ok(lock.release(&lease).await),
        "and cannot release the new holder's"
    );
}

pub async fn of_many_concurrent_takers_exactly_one_wins(lock: Arc<dyn Lock>) {
    let k = key("race");
    let takers = (0..50).map(|_| {
        let lock = lock.clone();
        let k = k.clone();
        tokio::spawn(async move { ok(lock.try_acquire(&k, 10_000).await).is_some() })
    });
    let wins = futures::future::join_all(takers)
        .await
        .into_iter()
        .filter(|r| matches!(r, Ok(true)))
        .count();
    assert_eq!(wins, 1);
}
