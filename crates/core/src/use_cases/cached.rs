//! Reading through the cache (cache-aside). A miss is loaded once however
//! many requests miss together (single flight, per process), stored with a
//! jittered time to live so entries written together do not all expire
//! together, and a cache that fails is bypassed rather than failing the
//! request: the store stays the source of truth.

use super::App;
use crate::ports::{Unavailable, is_unavailable};
use futures::FutureExt;
use futures::future::{BoxFuture, Shared};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::collections::HashMap;
use std::future::Future;
use std::sync::Mutex;

/// A load in progress, shared by every request that missed the same key.
type Flight = Shared<BoxFuture<'static, Result<String, LoadFailed>>>;

/// Loads in progress by key.
#[derive(Default)]
pub(super) struct Flights(Mutex<HashMap<String, Flight>>);

impl std::fmt::Debug for Flights {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Flights")
    }
}

/// A failed load as seen by every waiter (errors are not `Clone`).
#[derive(Debug, Clone)]
struct LoadFailed {
    message: String,
    unavailable: bool,
}

impl From<LoadFailed> for anyhow::Error {
    fn from(failed: LoadFailed) -> Self {
        if failed.unavailable {
            Unavailable(failed.message).into()
        } else {
            anyhow::anyhow!(failed.message)
        }
    }
}

impl App {
    /// The value under `key`, from the cache or else from `load` (whose
    /// result is cached for about `ttl_ms` when `keep` says so).
    pub(super) async fn cached<T, F, Fut>(
        &self,
        key: String,
        ttl_ms: u64,
        keep: fn(&T) -> bool,
        load: F,
    ) -> anyhow::Result<T>
    where
        T: Serialize + DeserializeOwned + Send + 'static,
        F: FnOnce() -> Fut,
        Fut: Future<Output = anyhow::Result<T>> + Send + 'static,
    {
        let cache = self.adapters.cache.clone();
        match cache.get(&key).await {
            Ok(Some(hit)) => match serde_json::from_str(&hit) {
                Ok(value) => return Ok(value),
                Err(err) => tracing::warn!(key, error = %err, "unreadable cache entry; reloading"),
            },
            Ok(None) => {}
            Err(err) => tracing::warn!(
                key,
                error = format!("{err:#}"),
                "cache unavailable; reading the store"
            ),
        }
        let flight = {
            let mut flights = self
                .flights
                .0
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if let Some(flight) = flights.get(&key) {
                flight.clone()
            } else {
                let ttl = self.jittered(ttl_ms);
                let (cache, stored_key, loading) = (cache.clone(), key.clone(), load());
                let flight = async move {
                    let value = loading.await.map_err(|err| LoadFailed {
                        message: format!("{err:#}"),
                        unavailable: is_unavailable(&err),
                    })?;
                    let json = serde_json::to_string(&value).map_err(|err| LoadFailed {
                        message: err.to_string(),
                        unavailable: false,
                    })?;
                    if keep(&value)
                        && let Err(err) = cache.set(&stored_key, &json, ttl).await
                    {
                        tracing::warn!(
                            key = stored_key,
                            error = format!("{err:#}"),
                            "cache not filled"
                        );
                    }
                    Ok(json)
                }
                .boxed()
                .shared();
                flights.insert(key.clone(), flight.clone());
                flight
            }
        };
        let loaded = flight.await;
        if let Ok(mut flights) = self.flights.0.lock() {
            flights.remove(&key);
        }
        Ok(serde_json::from_str(&loaded?)?)
    }

    /// `ttl_ms` plus or minus 10 %, so that entries filled together expire apart.
    fn jittered(&self, ttl_ms: u64) -> u64 {
        let [a, b] = self.random_bytes::<2>();
        let spread = ttl_ms / 5;
        let offset = u64::from(u16::from_le_bytes([a, b])) * spread / u64::from(u16::MAX);
        (ttl_ms - ttl_ms / 10 + offset).max(1)
    }

    /// Drops cached values that a change made stale.
    pub(super) async fn invalidate(&self, keys: &[String]) {
        if let Err(err) = self.adapters.cache.delete(keys).await {
            // They expire soon by themselves; say so and go on.
            tracing::warn!(
                error = format!("{err:#}"),
                ?keys,
                "cache entries not invalidated"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::TestApp;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_thousand_concurrent_misses_cause_one_load() {
        let t = TestApp::new().await;
        let loads = Arc::new(AtomicUsize::new(0));
        let calls = (0..1_000).map(|_| {
            let (app, loads) = (t.app.clone(), loads.clone());
            tokio::spawn(async move {
                app.cached(
                    "hot".into(),
                    60_000,
                    |_| true,
                    move || async move {
                        loads.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        Ok(vec![1, 2, 3])
                    },
                )
                .await
            })
        });
        for call in futures::future::join_all(calls).await {
            assert_eq!(call.unwrap().unwrap(), vec![1, 2, 3]);
        }
        assert_eq!(loads.load(Ordering::SeqCst), 1);
        // And the next reader is served from the cache.
        let again: Vec<i32> = t
            .app
            .cached(
                "hot".into(),
                60_000,
                |_| true,
                || async { anyhow::bail!("not loaded again") },
            )
            .await
            .unwrap();
        assert_eq!(again, vec![1, 2, 3]);
    }

    #[tokio::test]
    async fn jitter_stays_within_ten_percent() {
        let t = TestApp::new().await;
        for _ in 0..1_000 {
            let ttl = t.app.jittered(10_000);
            assert!((9_000..=11_000).contains(&ttl), "{ttl}");
        }
    }
}
