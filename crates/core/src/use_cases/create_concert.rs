//! Adding a concert, its dates and their seats to the catalog (admin).

use super::App;
use crate::domain::ConcertId;
use crate::domain::concert::{ConcertRejected, NewConcert, NewSchedule, SeatBand};

#[derive(Debug, thiserror::Error)]
pub enum CreateConcertError {
    #[error(transparent)]
    Invalid(#[from] ConcertRejected),
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl App {
    pub async fn create_concert(
        &self,
        title: &str,
        artist: &str,
        schedules: Vec<NewSchedule>,
        seat_bands: &[SeatBand],
    ) -> Result<ConcertId, CreateConcertError> {
        let concert = NewConcert::new(title, artist, schedules, seat_bands)?;
        let id = self.store().create_concert(&concert, self.now()).await?;
        self.invalidate(&[super::list_concerts::CONCERTS_KEY.to_owned()])
            .await;
        Ok(id)
    }
}
