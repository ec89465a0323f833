//! Single-use marks within one process (the embedded mode's only instance).
//! Marks lapse after their time to live; lapsed ones are dropped from the
//! front of an expiry queue on every use, so memory follows live marks.

use super::lock;
use crate::ports::SingleUse;
use async_trait::async_trait;
use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Debug, Default)]
pub struct MemorySingleUse {
    inner: Mutex<Marks>,
}

#[derive(Debug, Default)]
struct Marks {
    until: HashMap<String, Instant>,
    by_expiry: BTreeSet<(Instant, String)>,
}

#[async_trait]
impl SingleUse for MemorySingleUse {
    async fn first_use(&self, key: &str, ttl_ms: u64) -> anyhow::Result<bool> {
        let mut marks = lock(&self.inner);
        let now = Instant::now();
        while let Some((at, _)) = marks.by_expiry.first() {
            if *at > now {
                break;
            }
            if let Some((_, gone)) = marks.by_expiry.pop_first() {
                marks.until.remove(&gone);
            }
        }
        if marks.until.contains_key(key) {
            return Ok(false);
        }
        let at = now + Duration::from_millis(ttl_ms);
        marks.until.insert(key.to_owned(), at);
        marks.by_expiry.insert((at, key.to_owned()));
        Ok(true)
    }
}
