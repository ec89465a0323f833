//! One admission round: every concert with a line admits its next batch.

use super::App;

impl App {
    /// Runs one admission round over every concert with anyone in line;
    /// returns how many tokens became ACTIVE.
    pub async fn activate_batch_once(&self) -> anyhow::Result<u64> {
        let room = &self.adapters.waiting_room;
        let now = self.now();
        let mut admitted = 0;
        for concert in room.concerts_in_line().await? {
            admitted += room.admit(concert, now, &self.policies.queue).await?;
        }
        Ok(admitted)
    }

    /// Runs the admission round of the current interval unless some
    /// instance already has: every instance calls this each interval, and
    /// the round number (`now / admit_interval`) is claimed once, cluster-wide.
    pub async fn activate_batch_if_due(&self) -> anyhow::Result<Option<u64>> {
        let interval_ms = self.policies.queue.admit_interval_secs.max(1) * 1000;
        let round = u64::try_from(self.now().as_millis()).unwrap_or(0) / interval_ms;
        let claimed = self
            .adapters
            .lock
            .try_acquire(&format!("admission:{round}"), 2 * interval_ms)
            .await?;
        match claimed {
            // The claim is left to expire: releasing it would let a late
            // instance run the same round again.
            Some(_round) => self.activate_batch_once().await.map(Some),
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::domain::queue_token::{QueuePolicy, TokenState};
    use crate::testing::{TestApp, user};

    fn policy() -> QueuePolicy {
        QueuePolicy {
            admit_batch: 3,
            max_active: 5,
            active_ttl_secs: 60,
            abandon_after_secs: 30,
            admit_interval_secs: 1,
            ..QueuePolicy::default()
        }
    }

    fn position(state: TokenState) -> Option<u64> {
        match state {
            TokenState::Waiting { position, .. } => position,
            _ => None,
        }
    }

    #[tokio::test]
    async fn admission_respects_batch_cap_and_arrival_order() {
        let patient = QueuePolicy {
            abandon_after_secs: 600,
            ..policy()
        };
        let t = TestApp::with_queue_policy(patient).await;
        let mut tokens = Vec::new();
        for u in 1..=8 {
            let view = t.issue(user(u)).await;
            assert_eq!(position(view.token.state), Some(u as u64));
            tokens.push(view);
        }
        assert_eq!(t.app.activate_batch_once().await.unwrap(), 3);
        assert_eq!(t.app.activate_batch_once().await.unwrap(), 2, "cap of 5");
        assert_eq!(t.app.activate_batch_once().await.unwrap(), 0, "at the cap");
        for (i, token) in tokens.iter().enumerate() {
            let state = t.poll(token).await.token.state;
            if i < 5 {
                assert!(matches!(state, TokenState::Active { .. }), "token {i}");
            } else {
                assert_eq!(position(state), Some(i as u64 - 4));
            }
        }
        // Active tokens time out, making room for the rest.
        t.clock.advance_secs(60);
        for token in &tokens[5..] {
            t.poll(token).await;
        }
        assert_eq!(t.app.activate_batch_once().await.unwrap(), 3);
        let first = t.poll(&tokens[0]).await.token.state;
        assert!(matches!(first, TokenState::Expired { .. }));
    }

    #[tokio::test]
    async fn each_interval_admits_once_however_many_instances_ask() {
        let t = TestApp::with_queue_policy(policy()).await;
        for u in 1..=8 {
            t.issue(user(u)).await;
        }
        assert_eq!(t.app.activate_batch_if_due().await.unwrap(), Some(3));
        assert_eq!(t.app.activate_batch_if_due().await.unwrap(), None);
        t.clock.advance_secs(1);
        assert_eq!(t.app.activate_batch_if_due().await.unwrap(), Some(2));
    }

    #[tokio::test]
    async fn abandoned_tokens_are_skipped_and_leave_the_count() {
        let t = TestApp::with_queue_policy(policy()).await;
        let quiet = t.issue(user(1)).await;
        let keen = t.issue(user(2)).await;
        t.clock.advance_secs(20);
        t.poll(&keen).await;
        t.clock.advance_secs(15);
        // `quiet` was last seen 35 s ago: abandoned, so `keen` is first.
        let keen_state = t.poll(&keen).await.token.state;
        assert_eq!(position(keen_state), Some(1));
        assert_eq!(t.app.activate_batch_once().await.unwrap(), 1);
        let quiet_state = t.poll(&quiet).await.token.state;
        assert!(matches!(quiet_state, TokenState::Expired { .. }));
    }
}
