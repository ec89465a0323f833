//! Admission rounds: each concert with a line admits its next batch, as
//! its room allows, every interval of its own.

use super::App;
use crate::domain::ConcertId;
use crate::domain::room::{RoomPhase, Round};

impl App {
    /// Runs one admission round over every concert with anyone in line;
    /// returns how many tokens became ACTIVE.
    pub async fn activate_batch_once(&self) -> anyhow::Result<u64> {
        let mut admitted = 0;
        for concert in self.adapters.waiting_room.concerts_in_line().await? {
            admitted += self.admission_round(concert).await?;
        }
        Ok(admitted)
    }

    /// Runs the admission round of each concert's current interval unless
    /// some instance already has: every instance calls this often, and a
    /// concert's round number (`now / its admit_interval`) is claimed once,
    /// cluster-wide. Returns the rounds this call ran: each concert with
    /// the tokens its round made ACTIVE; empty when none was due.
    pub async fn activate_batch_if_due(&self) -> anyhow::Result<Vec<(ConcertId, u64)>> {
        let now_ms = u64::try_from(self.now().as_millis()).unwrap_or(0);
        let mut rounds = Vec::new();
        for concert in self.adapters.waiting_room.concerts_in_line().await? {
            let interval_ms = self.queue_policy(concert).await?.admit_interval_secs.max(1) * 1000;
            let round = now_ms / interval_ms;
            let claimed = self
                .adapters
                .lock
                .try_acquire(
                    &format!("admission:{concert}:{interval_ms}:{round}"),
                    2 * interval_ms,
                )
                .await?;
            // The claim is left to expire: releasing it would let a late
            // instance run the same round again.
            if claimed.is_some() {
                rounds.push((concert, self.admission_round(concert).await?));
            }
        }
        Ok(rounds)
    }

    /// One concert's round, on its room as stored now: a room that does
    /// not admit (scheduled, paused, closed) is left alone; a sale whose
    /// opening has come is drawn first; the cap is lowered to the seats
    /// still sellable; what the round saw is kept for the wait estimates.
    async fn admission_round(&self, concert: ConcertId) -> anyhow::Result<u64> {
        let Some(mut room) = self.fresh_room_of(concert).await? else {
            return Ok(0);
        };
        let now = self.now();
        let phase = room
            .room
            .phase_at(now, self.policies.queue.pre_queue_window_secs);
        if phase == (RoomPhase::Open { draw_due: true }) {
            self.open_sale(concert).await?;
            let Some(drawn) = self.fresh_room_of(concert).await? else {
                return Ok(0);
            };
            room = drawn;
        } else if !phase.admits() {
            return Ok(0);
        }
        let policy = self.policy_of(&room).capped_by_seats(room.sellable_seats);
        // A draw takes a while: the admissions are stamped when they happen.
        let mut now = self.now();
        let waiting_room = &self.adapters.waiting_room;
        let mut outcome = waiting_room.admit(concert, now, &policy).await?;
        if outcome.draw_pending {
            // The draw was taken but not placed (an instance stopped in
            // between): place it, then admit.
            self.open_sale(concert).await?;
            now = self.now();
            outcome = waiting_room.admit(concert, now, &policy).await?;
        }
        let flow = room.room.flow.after_round(&Round {
            at_ms: now.as_millis(),
            admitted: outcome.admitted,
            waiting_before: outcome.waiting_before,
            active_before: outcome.active_before,
            admitted_total: outcome.admitted_total,
            abandoned_total: outcome.abandoned_total,
        });
        if flow != room.room.flow {
            self.store().record_flow(concert, &flow).await?;
        }
        Ok(outcome.admitted)
    }
}

#[cfg(test)]
mod tests {
    use crate::domain::ConcertId;
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
        let admitted = |rounds: Vec<(ConcertId, u64)>| -> Vec<u64> {
            rounds.into_iter().map(|(_, admitted)| admitted).collect()
        };
        assert_eq!(admitted(t.app.activate_batch_if_due().await.unwrap()), [3]);
        assert!(t.app.activate_batch_if_due().await.unwrap().is_empty());
        t.clock.advance_secs(1);
        assert_eq!(admitted(t.app.activate_batch_if_due().await.unwrap()), [2]);
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

    #[tokio::test]
    async fn estimates_follow_how_fast_admitted_fans_leave() {
        let t = TestApp::with_queue_policy(QueuePolicy {
            admit_batch: 10,
            max_active: 2,
            abandon_after_secs: 600,
            expected_checkout_secs: 10,
            ..policy()
        })
        .await;
        let mut fans = Vec::new();
        for u in 1..=12 {
            fans.push(t.issue(user(u)).await);
        }
        // Before any round: 2 slots free in the next round (1 s), then
        // each pair admitted leaves the configured 10 s later: the 12th
        // takes the slot of the 10th, the 10th of the 8th, and so on.
        assert_eq!(fans[11].eta_secs(), Some(51));
        assert_eq!(t.app.activate_batch_once().await.unwrap(), 2, "the cap");
        // Both admitted fans are done within the second.
        t.clock.advance_secs(1);
        for (u, fan) in (1..=2).zip(&fans) {
            assert!(
                t.app
                    .leave_line(user(u), TestApp::ticket_of(fan))
                    .await
                    .unwrap()
            );
        }
        assert_eq!(t.app.activate_batch_once().await.unwrap(), 2);
        let flow = t.app.show_room(t.concert).await.unwrap().unwrap().room.flow;
        assert_eq!((flow.admitted_total, flow.active()), (4, 2));
        assert_eq!(flow.session_ms, 1_000, "both left a second after admission");
        // Now 8th in line behind a full cap. One session seen tells no
        // spread, so it is taken as half the session: the pair admitted at 1 s
        // leaves between 1.5 and 2.5 s, the slot the 2nd takes frees at the
        // 3 s round, and each pair after a second later: the 8th at 6 s, 5 s
        // from now.
        let now = t.poll(&fans[11]).await;
        assert_eq!(position(now.token.state), Some(8));
        assert_eq!(now.eta_secs(), Some(5));
    }
}
