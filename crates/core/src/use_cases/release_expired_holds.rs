//! Tidying up: marking ended holds released and forgetting old idempotency
//! records. Seats are free the instant their hold ends whether or not this
//! has run; it keeps the tables small and the hold history honest.

use super::App;

impl App {
    /// Releases up to `limit` ended holds and purges idempotency records past
    /// their retention; returns how many holds were released.
    pub async fn release_expired_holds_once(&self, limit: u32) -> anyhow::Result<u64> {
        let now = self.now();
        let released = self.booking().release_expired_holds(now, limit).await?;
        let retention_ms = i64::try_from(self.policies.idempotency.retention_secs)
            .unwrap_or(i64::MAX / 1000)
            .saturating_mul(1000);
        self.store()
            .purge_idempotency_keys(now.plus_millis(-retention_ms))
            .await?;
        Ok(released)
    }
}

#[cfg(test)]
mod tests {
    use crate::domain::SeatNumber;
    use crate::testing::{TestApp, user};

    #[tokio::test]
    async fn only_ended_holds_are_released() {
        let t = TestApp::new().await;
        let a = t.active_token(user(1)).await;
        t.app
            .hold_seat(user(1), a, t.schedule, SeatNumber::new(1).unwrap())
            .await
            .unwrap();
        assert_eq!(t.app.release_expired_holds_once(100).await.unwrap(), 0);
        t.clock.advance_secs(t.app.policies().holds.ttl_secs);
        assert_eq!(t.app.release_expired_holds_once(100).await.unwrap(), 1);
        assert_eq!(t.app.release_expired_holds_once(100).await.unwrap(), 0);
        // The user's limit counts live holds only: a new hold is allowed.
        t.app
            .hold_seat(user(1), a, t.schedule, SeatNumber::new(2).unwrap())
            .await
            .unwrap();
    }
}
