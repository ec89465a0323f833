//! The operator's console charts each sale over time: every interval one
//! instance samples every concert (its line, its ACTIVE fans, its seats and
//! its revenue) and keeps the samples for the retention period.

use super::App;
use crate::domain::sample::SaleSample;
use crate::domain::{ConcertId, Timestamp};

/// A sale now, as a scrape reads it: its sample, and how many fans its
/// room has lost to abandonment (they stopped polling while waiting).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LiveSale {
    pub sample: SaleSample,
    pub abandoned_total: u64,
}

/// The most samples one answer carries.
const MAX_SAMPLES: u32 = 10_000;

impl App {
    /// Samples every concert unless some instance already has in this
    /// interval (claimed once per interval, cluster-wide); false when it
    /// was not this instance's turn.
    pub async fn sample_sales_if_due(&self) -> anyhow::Result<bool> {
        let policy = self.policies.samples;
        let now = self.now();
        let claimed = self
            .adapters
            .lock
            .try_acquire(
                &format!("samples:{}:{}", policy.interval_ms(), policy.slot_at(now)),
                u64::try_from(2 * policy.interval_ms()).unwrap_or(u64::MAX),
            )
            .await?;
        // The claim is left to expire, as an admission round's is.
        if claimed.is_none() {
            return Ok(false);
        }
        let samples: Vec<SaleSample> = self
            .sales_at(now)
            .await?
            .into_iter()
            .map(|s| s.sample)
            .collect();
        self.store()
            .record_samples(&samples, policy.keep_from(now))
            .await?;
        Ok(true)
    }

    /// The concert's samples of the last `minutes`, oldest first, then one
    /// taken now, so a chart ends at the present; `None`: no such concert.
    pub async fn sale_samples(
        &self,
        concert: ConcertId,
        minutes: u32,
    ) -> anyhow::Result<Option<Vec<SaleSample>>> {
        let now = self.now();
        let Some(LiveSale {
            sample: current, ..
        }) = self.sample_of(concert, now).await?
        else {
            return Ok(None);
        };
        let since =
            Timestamp::from_millis(now.as_millis().saturating_sub(i64::from(minutes) * 60_000));
        let mut samples = self
            .store()
            .samples(concert, since, MAX_SAMPLES - 1)
            .await?;
        // A sample kept at this very instant is the one taken now.
        if samples.last().is_some_and(|kept| kept.at >= now) {
            samples.pop();
        }
        samples.push(current);
        Ok(Some(samples))
    }

    /// Every concert's figures now, for the metrics a scrape reads: the
    /// same as a kept sample, taken at the scrape.
    pub async fn sales_now(&self) -> anyhow::Result<Vec<LiveSale>> {
        self.sales_at(self.now()).await
    }

    async fn sales_at(&self, now: Timestamp) -> anyhow::Result<Vec<LiveSale>> {
        let mut samples = Vec::new();
        for concert in self.list_concerts().await? {
            samples.extend(self.sample_of(concert.id, now).await?);
        }
        Ok(samples)
    }

    async fn sample_of(
        &self,
        concert: ConcertId,
        now: Timestamp,
    ) -> anyhow::Result<Option<LiveSale>> {
        let Some(room) = self.fresh_room_of(concert).await? else {
            return Ok(None);
        };
        let policy = self.policy_of(&room);
        let census = self
            .adapters
            .waiting_room
            .census(concert, now, &policy)
            .await?;
        let seats = self.store().seat_tally(concert, now).await?;
        Ok(Some(LiveSale {
            sample: SaleSample {
                concert,
                at: now,
                pre_queued: census.pre_queued,
                waiting: census.waiting,
                active: census.active,
                admitted_total: room.room.flow.admitted_total,
                seats,
            },
            abandoned_total: room.room.flow.abandoned_total,
        }))
    }
}

#[cfg(test)]
mod tests {
    use crate::domain::Won;
    use crate::domain::sample::SeatTally;
    use crate::testing::{TestApp, concert_id, user};

    #[tokio::test]
    async fn a_sample_counts_the_line_the_active_fans_the_seats_and_the_money() {
        let t = TestApp::new().await;
        t.buy_seat(user(1), 1).await;
        let holder = t.active_token(user(2)).await;
        t.hold(holder, 2).await;
        for fan in 3..=5 {
            t.issue(user(fan)).await;
        }

        let samples = t.app.sale_samples(t.concert, 60).await.unwrap().unwrap();
        let now = samples.last().unwrap();
        assert_eq!((now.pre_queued, now.waiting, now.active), (0, 3, 1));
        assert_eq!(
            now.seats,
            SeatTally {
                available: 2 * 50 - 2,
                held: 1,
                sold: 1,
                revenue: Won::new(150_000),
            }
        );
    }

    #[tokio::test]
    async fn one_instance_samples_an_interval_and_the_next_interval_is_sampled_again() {
        let t = TestApp::new().await;
        let twin = t.twin();
        assert!(t.app.sample_sales_if_due().await.unwrap());
        assert!(
            !twin.sample_sales_if_due().await.unwrap(),
            "claimed already"
        );
        t.clock.advance_secs(10);
        assert!(twin.sample_sales_if_due().await.unwrap());

        let samples = t.app.sale_samples(t.concert, 60).await.unwrap().unwrap();
        assert_eq!(
            samples.len(),
            2,
            "the one kept at this instant is the one taken now"
        );
        t.clock.advance_secs(1);
        let samples = t.app.sale_samples(t.concert, 60).await.unwrap().unwrap();
        assert_eq!(samples.len(), 3, "two kept and the one taken now");
        assert!(samples.windows(2).all(|w| w[0].at < w[1].at));
    }

    #[tokio::test]
    async fn samples_past_their_retention_are_deleted_and_an_unknown_concert_has_none() {
        let t = TestApp::new().await;
        assert!(t.app.sample_sales_if_due().await.unwrap());
        t.clock.advance_secs(8 * 24 * 3600);
        assert!(t.app.sample_sales_if_due().await.unwrap());
        t.clock.advance_secs(1);
        let all_week = 60 * 24 * 9;
        let samples = t
            .app
            .sale_samples(t.concert, all_week)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            samples.len(),
            2,
            "the old one was deleted; the new one and now remain"
        );
        let unknown = t.app.sale_samples(concert_id(99), 60).await.unwrap();
        assert!(unknown.is_none());
    }
}
