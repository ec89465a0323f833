//! Changing a concert (admin): its title and artist at any time, a date's
//! time and venue only before any of its seats is held or sold.

use super::App;
use super::list_concerts::CONCERTS_KEY;
use super::list_schedules::schedules_key;
use crate::domain::concert::{ConcertChange, ConcertRejected, ScheduleChange};
use crate::domain::{ConcertId, ScheduleId};
use crate::ports::UpdateConcertOutcome;

#[derive(Debug, thiserror::Error)]
pub enum UpdateConcertError {
    #[error(transparent)]
    Invalid(#[from] ConcertRejected),
    #[error("no such concert")]
    ConcertNotFound,
    #[error("schedule {0} is not one of the concert's dates")]
    ScheduleNotFound(ScheduleId),
    #[error("schedule {0} is on sale: a seat of it is held or sold")]
    ScheduleOnSale(ScheduleId),
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl App {
    pub async fn update_concert(
        &self,
        concert: ConcertId,
        title: Option<&str>,
        artist: Option<&str>,
        schedules: Vec<ScheduleChange>,
    ) -> Result<(), UpdateConcertError> {
        let change = ConcertChange::new(title, artist, schedules)?;
        match self
            .store()
            .update_concert(concert, &change, self.now())
            .await?
        {
            UpdateConcertOutcome::Updated => {}
            UpdateConcertOutcome::NotFound => return Err(UpdateConcertError::ConcertNotFound),
            UpdateConcertOutcome::ScheduleNotFound(id) => {
                return Err(UpdateConcertError::ScheduleNotFound(id));
            }
            UpdateConcertOutcome::ScheduleOnSale(id) => {
                return Err(UpdateConcertError::ScheduleOnSale(id));
            }
        }
        let mut stale = vec![CONCERTS_KEY.to_owned(), schedules_key(concert)];
        stale.extend(
            change
                .schedules
                .iter()
                .map(|s| format!("schedule:{}", s.schedule_id)),
        );
        self.invalidate(&stale).await;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::Clock;
    use crate::testing::{TestApp, user};

    fn venue(schedule: ScheduleId, venue: &str) -> ScheduleChange {
        ScheduleChange {
            schedule_id: schedule,
            starts_at: None,
            venue: Some(venue.to_owned()),
        }
    }

    #[tokio::test]
    async fn a_concert_is_renamed_at_once_and_a_date_moves_only_until_a_seat_of_it_is_held() {
        let t = TestApp::new().await;
        let (concert, schedule) = t.small_concert(5).await;
        // Warm the caches the change must invalidate.
        t.app.list_concerts().await.unwrap();
        let later = t.clock.now().plus_secs(7 * 86_400);
        let moved = ScheduleChange {
            starts_at: Some(later),
            ..venue(schedule, "Arena")
        };
        t.app
            .update_concert(concert, Some("Renamed"), None, vec![moved])
            .await
            .unwrap();
        let listed = t.app.list_concerts().await.unwrap();
        let renamed = listed.iter().find(|c| c.id == concert).unwrap();
        assert_eq!(renamed.title, "Renamed");
        assert_eq!(renamed.artist, "The Testers");
        let date = t.store.schedule(schedule).await.unwrap().unwrap();
        assert_eq!((date.starts_at, date.venue.as_str()), (later, "Arena"));

        // A date with a seat held is on sale: it stays, and so does the title.
        let first = t.schedule;
        let credential = t.active_token(user(1)).await;
        t.hold(credential, 1).await;
        let err = t
            .app
            .update_concert(
                t.concert,
                Some("Other"),
                None,
                vec![venue(first, "Elsewhere")],
            )
            .await
            .unwrap_err();
        assert!(
            matches!(err, UpdateConcertError::ScheduleOnSale(id) if id == first),
            "{err:?}"
        );
        let unchanged = t.store.concert(t.concert).await.unwrap().unwrap();
        assert_ne!(unchanged.title, "Other");
        // The title alone may change while the concert sells.
        t.app
            .update_concert(t.concert, Some("Other"), None, vec![])
            .await
            .unwrap();
        let err = t
            .app
            .update_concert(concert, None, None, vec![venue(first, "Elsewhere")])
            .await
            .unwrap_err();
        assert!(
            matches!(err, UpdateConcertError::ScheduleNotFound(_)),
            "{err:?}"
        );
        let err = t
            .app
            .update_concert(crate::testing::concert_id(999), Some("x"), None, vec![])
            .await
            .unwrap_err();
        assert!(
            matches!(err, UpdateConcertError::ConcertNotFound),
            "{err:?}"
        );
        let err = t
            .app
            .update_concert(concert, None, None, vec![])
            .await
            .unwrap_err();
        assert!(matches!(
            err,
            UpdateConcertError::Invalid(ConcertRejected::NothingToChange)
        ));
    }
}
