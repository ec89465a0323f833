//! A fan on a sold-out date's waiting list: joining it, leaving it, and
//! seeing where they are. No queue token is needed: a sold-out date sells
//! nothing through the room, and the list is its own line, kept in the
//! store in the order fans joined. An offer made from it is a hold in the
//! fan's name, paid and released like any hold.

use super::App;
use crate::domain::waitlist::{JoinRefusal, WaitlistEntry};
use crate::domain::{ScheduleId, UserId};
use crate::ports::JoinOutcome;

#[derive(Debug, thiserror::Error)]
pub enum JoinWaitlistError {
    #[error("no such schedule")]
    ScheduleNotFound,
    #[error("the date is called off")]
    DateCalledOff,
    #[error("the date is not sold out: hold a seat instead")]
    NotSoldOut,
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

#[derive(Debug, thiserror::Error)]
pub enum LeaveWaitlistError {
    #[error("not waiting on the date's list")]
    NotWaiting,
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl App {
    /// Puts `user` at the end of the date's waiting list, if the date is
    /// sold out; a fan already on it keeps their place.
    pub async fn join_waitlist(
        &self,
        user: UserId,
        schedule: ScheduleId,
    ) -> Result<WaitlistEntry, JoinWaitlistError> {
        match self
            .store()
            .join_waitlist(user, schedule, self.now())
            .await?
        {
            JoinOutcome::Joined(entry) => Ok(entry),
            JoinOutcome::Refused(JoinRefusal::ScheduleNotFound) => {
                Err(JoinWaitlistError::ScheduleNotFound)
            }
            JoinOutcome::Refused(JoinRefusal::DateCalledOff) => {
                Err(JoinWaitlistError::DateCalledOff)
            }
            JoinOutcome::Refused(JoinRefusal::NotSoldOut) => Err(JoinWaitlistError::NotSoldOut),
        }
    }

    /// Takes waiting `user` off the date's list. A fan with an offer
    /// declines it by releasing its hold instead.
    pub async fn leave_waitlist(
        &self,
        user: UserId,
        schedule: ScheduleId,
    ) -> Result<(), LeaveWaitlistError> {
        if self
            .store()
            .leave_waitlist(user, schedule, self.now())
            .await?
        {
            Ok(())
        } else {
            Err(LeaveWaitlistError::NotWaiting)
        }
    }

    /// The user's waiting-list entries, open and past, newest first.
    pub async fn list_waitlist(&self, user: UserId) -> anyhow::Result<Vec<WaitlistEntry>> {
        self.store().waitlist_of(user).await
    }
}
