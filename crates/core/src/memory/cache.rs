//! A cache in process memory, for the embedded mode.

use super::lock;
use crate::ports::Cache;
use async_trait::async_trait;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Debug, Default)]
pub struct MemoryCache {
    entries: Mutex<HashMap<String, (String, Instant)>>,
}

#[async_trait]
impl Cache for MemoryCache {
    async fn get(&self, key: &str) -> anyhow::Result<Option<String>> {
        let mut entries = lock(&self.entries);
        match entries.get(key) {
            Some((value, until)) if *until > Instant::now() => Ok(Some(value.clone())),
            Some(_) => {
                entries.remove(key);
                Ok(None)
            }
            None => Ok(None),
        }
    }

    async fn set(&self, key: &str, value: &str, ttl_ms: u64) -> anyhow::Result<()> {
        let until = Instant::now() + Duration::from_millis(ttl_ms);
        let mut entries = lock(&self.entries);
        if entries.len() > 100_000 {
            // A bound against unbounded keys: drop what has expired.
            let now = Instant::now();
            entries.retain(|_, (_, until)| *until > now);
        }
        entries.insert(key.to_owned(), (value.to_owned(), until));
        Ok(())
    }

    async fn delete(&self, keys: &[String]) -> anyhow::Result<()> {
        let mut entries = lock(&self.entries);
        for key in keys {
            entries.remove(key);
        }
        Ok(())
    }
}
