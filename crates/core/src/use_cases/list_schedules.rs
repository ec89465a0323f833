//! The dates of a concert, for ACTIVE token holders of that concert.

use super::{AccessDenied, App};
use crate::domain::access::QueueCredential;
use crate::domain::concert::ScheduleAvailability;
use crate::domain::{ConcertId, UserId};

/// Free-seat counts change with every hold: cached briefly, and dropped by
/// every hold, release and payment of the concert.
const SCHEDULES_TTL_MS: u64 = 1_000;

pub(super) fn schedules_key(concert: ConcertId) -> String {
    format!("schedules:{concert}")
}

#[derive(Debug, thiserror::Error)]
pub enum ListSchedulesError {
    #[error("queue token refused: {0:?}")]
    Access(AccessDenied),
    #[error("no such concert")]
    ConcertNotFound,
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl App {
    pub async fn list_schedules(
        &self,
        user: UserId,
        credential: QueueCredential,
        concert: ConcertId,
    ) -> Result<Vec<ScheduleAvailability>, ListSchedulesError> {
        let holder = self
            .require_active(user, &credential, false)
            .await?
            .map_err(ListSchedulesError::Access)?;
        if self.room_of(concert).await?.is_none() {
            return Err(ListSchedulesError::ConcertNotFound);
        }
        if holder.concert != concert {
            return Err(ListSchedulesError::Access(AccessDenied::WrongConcert));
        }
        let (store, now) = (self.adapters.store.clone(), self.now());
        let key = schedules_key(concert);
        Ok(self
            .cached(
                key,
                SCHEDULES_TTL_MS,
                |_| true,
                move || async move { store.schedules_with_availability(concert, now).await },
            )
            .await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{TestApp, concert_id, user};

    #[tokio::test]
    async fn an_active_holder_sees_every_date_with_free_seats() {
        let t = TestApp::new().await;
        let token = t.active_token(user(1)).await;
        let schedules = t
            .app
            .list_schedules(user(1), token, t.concert)
            .await
            .unwrap();
        let pass = t.active_pass(user(1)).await;
        assert_eq!(
            t.app
                .list_schedules(user(1), pass, t.concert)
                .await
                .unwrap(),
            schedules
        );
        assert_eq!(schedules.len(), 2);
        assert!(schedules.iter().all(|s| s.available_seats == 50));
    }

    #[tokio::test]
    async fn waiting_tokens_and_other_concerts_are_turned_away() {
        let t = TestApp::new().await;
        let waiting = QueueCredential::Ticket(TestApp::ticket_of(&t.issue(user(1)).await));
        let err = t
            .app
            .list_schedules(user(1), waiting, t.concert)
            .await
            .unwrap_err();
        assert!(matches!(
            err,
            ListSchedulesError::Access(AccessDenied::Waiting { position: Some(1) })
        ));
        let active = t.active_token(user(2)).await;
        let other = t.second_concert().await;
        let err = t
            .app
            .list_schedules(user(2), active, other)
            .await
            .unwrap_err();
        assert!(matches!(
            err,
            ListSchedulesError::Access(AccessDenied::WrongConcert)
        ));
        let err = t
            .app
            .list_schedules(user(2), active, concert_id(999))
            .await
            .unwrap_err();
        assert!(matches!(err, ListSchedulesError::ConcertNotFound));
    }
}
