//! Admission passes that stopped working before they expired. Every
//! instance keeps the set of revoked passes in memory, filled from the
//! waiting room's revocation feed by a background step every
//! `auth.pass_revocation_poll_ms`, so that a pass can be checked with no
//! call at all. The instance that ends an admission (a payment, an admin's
//! revocation) adds it at once; the others learn of it at their next read.
//! A revoked pass is forgotten once it would have expired anyway.
//!
//! The set is trusted only while it is fresh: when the feed has not been
//! read for [`FRESH_FOR_MS`] (Redis down, a stalled worker), passes are
//! checked against the waiting room instead, so that a revocation is never
//! missed for longer than that; browsing then needs the waiting room.

use super::App;
use crate::domain::queue_token::{QueueToken, TokenState};
use crate::domain::{Timestamp, TokenId};
use std::collections::HashMap;
use std::sync::RwLock;

/// How many revocations one read of the feed takes at most; a backlog
/// takes several reads of one step.
const FEED_PAGE: u32 = 10_000;

/// How long after a read of the feed the set is trusted: the promise that a
/// revoked pass stops working everywhere within a second.
pub const FRESH_FOR_MS: i64 = 1_000;

/// This instance's copy of the revoked passes.
#[derive(Debug, Default)]
pub struct RevokedPasses {
    inner: RwLock<Revoked>,
}

#[derive(Debug, Default)]
struct Revoked {
    /// Revoked tokens by when their pass would have expired.
    tokens: HashMap<TokenId, Timestamp>,
    /// Where the next read of the feed starts.
    cursor: String,
    /// When the feed was last read in full; `None`: never.
    read_at: Option<Timestamp>,
}

impl RevokedPasses {
    pub fn contains(&self, token: &TokenId) -> bool {
        self.inner
            .read()
            .map(|r| r.tokens.contains_key(token))
            // A poisoned lock: refuse rather than let a revoked pass through.
            .unwrap_or(true)
    }

    pub fn len(&self) -> usize {
        self.inner.read().map_or(0, |r| r.tokens.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn add(&self, token: TokenId, until: Timestamp) {
        if let Ok(mut r) = self.inner.write() {
            r.tokens.insert(token, until);
        }
    }

    /// Whether the set was read recently enough to be trusted at `now`.
    pub fn fresh_at(&self, now: Timestamp) -> bool {
        self.inner
            .read()
            .ok()
            .and_then(|r| r.read_at)
            .is_some_and(|at| now.as_millis() - at.as_millis() < FRESH_FOR_MS)
    }

    fn cursor(&self) -> String {
        self.inner
            .read()
            .map(|r| r.cursor.clone())
            .unwrap_or_default()
    }
}

impl App {
    /// Reads the revocation feed from where the last read stopped, adds
    /// what is new to this instance's set and forgets passes that have
    /// expired. Returns how many revocations were read.
    pub async fn refresh_revocations_once(&self) -> anyhow::Result<usize> {
        let mut cursor = self.revoked.cursor();
        let mut read = 0;
        loop {
            let page = self
                .adapters
                .waiting_room
                .revocations_since(&cursor, FEED_PAGE)
                .await?;
            let full = page.revocations.len() >= FEED_PAGE as usize;
            read += page.revocations.len();
            let now = self.now();
            if let Ok(mut r) = self.revoked.inner.write() {
                for revocation in &page.revocations {
                    if revocation.pass_expires_at > now {
                        r.tokens
                            .insert(revocation.token, revocation.pass_expires_at);
                    }
                }
                r.tokens.retain(|_, until| *until > now);
                r.cursor.clone_from(&page.cursor);
            }
            cursor = page.cursor;
            if !full {
                if let Ok(mut r) = self.revoked.inner.write() {
                    r.read_at = Some(now);
                }
                return Ok(read);
            }
        }
    }

    /// Revokes, on this instance at once, the pass of a token that was just
    /// ended while ACTIVE.
    pub(super) fn revoke_locally(&self, ended: &QueueToken) {
        if let TokenState::Active { expires_at } = ended.state {
            self.revoked.add(ended.token, expires_at);
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::domain::access::{AdmissionPass, QueueCredential};
    use crate::domain::queue_token::TokenState;
    use crate::testing::{TestApp, user};

    #[tokio::test]
    async fn an_admission_ended_on_one_instance_is_revoked_on_another_after_one_read() {
        // Two apps on one waiting room and store, as two instances would be.
        let t = TestApp::new().await;
        let other = t.twin();
        other.refresh_revocations_once().await.unwrap();
        let ticket = t.active_ticket(user(1)).await;
        let view = t.app.poll_token(user(1), ticket).await.unwrap();
        let TokenState::Active { expires_at } = view.token.state else {
            panic!("not admitted: {view:?}")
        };
        let pass = QueueCredential::Pass(AdmissionPass::for_admission(
            ticket.token,
            ticket.user,
            ticket.concert,
            expires_at,
        ));
        assert!(other.list_seats(user(1), pass, t.schedule).await.is_ok());
        t.app
            .revoke_admission(t.concert, user(1))
            .await
            .unwrap()
            .expect("an admission to revoke");
        // This instance knows at once; the other once it reads the feed.
        assert!(t.app.list_seats(user(1), pass, t.schedule).await.is_err());
        assert!(other.list_seats(user(1), pass, t.schedule).await.is_ok());
        assert_eq!(other.refresh_revocations_once().await.unwrap(), 1);
        assert!(other.list_seats(user(1), pass, t.schedule).await.is_err());
        // Nothing new: the cursor moved on.
        assert_eq!(other.refresh_revocations_once().await.unwrap(), 0);
        // A set not read for a second is not trusted: the waiting room is asked.
        t.app.revoke_admission(t.concert, user(2)).await.unwrap();
        let second = t.active_pass(user(2)).await;
        other.refresh_revocations_once().await.unwrap();
        assert!(other.list_seats(user(2), second, t.schedule).await.is_ok());
        t.app.revoke_admission(t.concert, user(2)).await.unwrap();
        t.clock.advance_millis(super::FRESH_FOR_MS);
        assert!(
            other.list_seats(user(2), second, t.schedule).await.is_err(),
            "stale: asked the waiting room"
        );
        // Once the pass would have expired anyway, it is forgotten.
        t.clock
            .advance_secs(t.app.policies().queue.active_ttl_secs + 1);
        other.refresh_revocations_once().await.unwrap();
        assert_eq!(other.revoked_passes(), 0);
    }
}
