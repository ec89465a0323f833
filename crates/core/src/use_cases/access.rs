//! The gate in front of booking: only an ACTIVE token of the right concert
//! may browse seats, hold and pay. The acting user is the token's user.

use super::App;
use crate::domain::TokenId;
use crate::domain::queue_token::{QueueToken, TokenState};

/// Why a token does not open the door.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccessDenied {
    /// No such token (never issued, or long forgotten).
    UnknownToken,
    /// Still in line.
    /// `position` is `None` while the entry has not reached the line.
    Waiting { position: Option<u64> },
    /// Timed out, abandoned or used for a payment.
    Expired,
    /// The token is for another concert.
    WrongConcert,
}

impl App {
    /// The ACTIVE token behind `token`, or why it may not act. Checked
    /// before anything else a booking call looks up, so a bad token is told
    /// so rather than learning which ids exist.
    pub(super) async fn require_active(
        &self,
        token: TokenId,
    ) -> anyhow::Result<Result<QueueToken, AccessDenied>> {
        let now = self.now();
        let found = self
            .adapters
            .waiting_room
            .peek(token, now, &self.policies.queue)
            .await?;
        let Some(found) = found else {
            return Ok(Err(AccessDenied::UnknownToken));
        };
        let verdict = match found.state {
            TokenState::Waiting { position, .. } => Err(AccessDenied::Waiting { position }),
            TokenState::Expired { .. } => Err(AccessDenied::Expired),
            TokenState::Active { .. } => Ok(found),
        };
        Ok(verdict)
    }
}
