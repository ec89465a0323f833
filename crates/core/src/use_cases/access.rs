//! The gate in front of booking: only the signed-in fan a credential was
//! issued to, while that credential's token is ACTIVE for the right
//! concert, may browse seats and hold them.
//!
//! A ticket is checked against the waiting room (one call). A pass is
//! checked here: its fan, its expiry and the revocation feed, with no call
//! at all, which is what makes browsing cheap. A hold asks the waiting room
//! even with a pass (`authoritative`), so a pass revoked a moment ago on
//! another instance can never hold a seat; so does browsing while this
//! instance's copy of the feed is stale.

use super::App;
use crate::domain::access::QueueCredential;
use crate::domain::queue_token::TokenState;
use crate::domain::{ConcertId, UserId};

/// Why a credential does not open the door.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccessDenied {
    /// No such token (never issued, or long forgotten).
    UnknownToken,
    /// The credential was issued to another fan than the one signed in.
    NotYours,
    /// Still in line.
    /// `position` is `None` while the entry has not reached the line.
    Waiting { position: Option<u64> },
    /// Timed out, abandoned, used for a payment or revoked.
    Expired,
    /// The credential is for another concert.
    WrongConcert,
}

/// A fan let through the gate, and the concert they were admitted to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Admitted {
    pub user: UserId,
    pub concert: ConcertId,
}

impl App {
    /// Whether `credential`, on its own (no signed-in fan to compare it
    /// with), still opens the door: its fan's token ACTIVE, asked of the
    /// waiting room. For callers that know the fan only from the credential.
    pub async fn check_credential(
        &self,
        credential: &QueueCredential,
    ) -> anyhow::Result<Result<(), AccessDenied>> {
        Ok(self
            .require_active(credential.user(), credential, true)
            .await?
            .map(drop))
    }

    /// Whether `user` may book with `credential` now. Checked before
    /// anything else a booking call looks up, so a bad credential is told
    /// so rather than learning which ids exist.
    pub(super) async fn require_active(
        &self,
        user: UserId,
        credential: &QueueCredential,
        authoritative: bool,
    ) -> anyhow::Result<Result<Admitted, AccessDenied>> {
        if credential.user() != user {
            return Ok(Err(AccessDenied::NotYours));
        }
        let now = self.now();
        if let QueueCredential::Pass(pass) = credential {
            if !pass.is_live(now) || self.revoked.contains(&pass.token) {
                return Ok(Err(AccessDenied::Expired));
            }
            if !authoritative && self.revoked.fresh_at(now) {
                return Ok(Ok(Admitted {
                    user,
                    concert: pass.concert,
                }));
            }
        }
        let policy = self.queue_policy(credential.concert()).await?;
        let found = self
            .adapters
            .waiting_room
            .peek(credential.concert(), credential.token(), now, &policy)
            .await?;
        let Some(found) = found.filter(|t| t.user_id == user) else {
            return Ok(Err(AccessDenied::UnknownToken));
        };
        Ok(match found.state {
            TokenState::Waiting { position, .. } => Err(AccessDenied::Waiting { position }),
            TokenState::PreQueue { .. } => Err(AccessDenied::Waiting { position: None }),
            TokenState::Expired { .. } => Err(AccessDenied::Expired),
            TokenState::Active { .. } => Ok(Admitted {
                user,
                concert: found.concert_id,
            }),
        })
    }
}
