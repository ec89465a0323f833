//! Locks within one process: the embedded mode has a single instance, so
//! a map of leases is all the exclusion it needs.

use super::lock;
use crate::ports::{Lock, LockLease};
use async_trait::async_trait;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Debug, Default)]
pub struct MemoryLock {
    leases: Mutex<HashMap<String, (String, Instant)>>,
}

fn new_token() -> String {
    let mut bytes = [0u8; 16];
    // A lock token only tells leases apart; a fixed fallback would still be unique enough
    // within one process because a held key is never granted twice.
    let _ = getrandom::fill(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[async_trait]
impl Lock for MemoryLock {
    async fn try_acquire(&self, key: &str, ttl_ms: u64) -> anyhow::Result<Option<LockLease>> {
        let mut leases = lock(&self.leases);
        let now = Instant::now();
        if leases.get(key).is_some_and(|(_, until)| *until > now) {
            return Ok(None);
        }
        if leases.len() >= 1_024 {
            // Claims that are never released (one per admission round) lapse here.
            leases.retain(|_, (_, until)| *until > now);
        }
        let token = new_token();
        leases.insert(
            key.to_owned(),
            (token.clone(), now + Duration::from_millis(ttl_ms)),
        );
        Ok(Some(LockLease {
            key: key.to_owned(),
            token,
        }))
    }

    async fn extend(&self, lease: &LockLease, ttl_ms: u64) -> anyhow::Result<bool> {
        let mut leases = lock(&self.leases);
        let now = Instant::now();
        match leases.get_mut(&lease.key) {
            Some((token, until)) if *token == lease.token && *until > now => {
                *until = now + Duration::from_millis(ttl_ms);
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn release(&self, lease: &LockLease) -> anyhow::Result<bool> {
        let mut leases = lock(&self.leases);
        if leases
            .get(&lease.key)
            .is_some_and(|(token, _)| *token == lease.token)
        {
            leases.remove(&lease.key);
            return Ok(true);
        }
        Ok(false)
    }
}
