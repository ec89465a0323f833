//! The opening of a scheduled sale: the pre-queue is drawn into line, once
//! per concert, however many instances reach the opening together.
//!
//! The waiting room hands out the pre-queue as taken (the same entries to
//! every caller; later pre-queue entries join the line instead). The order
//! is a function of the concert's seed and the entries' public ids alone
//! (`domain::room::draw`), so every instance computes the same one. The
//! store records the draw once; the waiting room places it once, ahead of
//! everyone who arrived after the opening, and admits nobody until it has.
//! A crash between the two steps is repaired by the next call: the same
//! entries give the same order.

use super::App;
use crate::domain::TokenId;
use crate::domain::room::{self, RoomState};
use crate::ports::RoomChange;
use std::collections::HashMap;

impl App {
    /// Draws the concert's pre-queue into line unless that was done.
    pub async fn open_sale(&self, concert: crate::domain::ConcertId) -> anyhow::Result<()> {
        let Some(snapshot) = self.fresh_room_of(concert).await? else {
            return Ok(());
        };
        let policy = self.policy_of(&snapshot);
        let now = self.now();
        let waiting_room = &self.adapters.waiting_room;
        let taken = waiting_room.take_pre_queue(concert, now, &policy).await?;
        if taken.placed {
            return Ok(());
        }
        let seed = snapshot.room.lottery_seed.clone().unwrap_or_default();
        let by_id: HashMap<String, TokenId> = taken
            .entries
            .iter()
            .map(|t| (room::lottery_entry_id(&t.to_string()), *t))
            .collect();
        let ids: Vec<String> = by_id.keys().cloned().collect();
        let drawn = room::draw(&seed, &ids);
        let order: Vec<TokenId> = drawn
            .iter()
            .filter_map(|id| by_id.get(id))
            .copied()
            .collect();
        let before = snapshot.room.state;
        let mut opened = snapshot.room.clone();
        if before == RoomState::Scheduled {
            opened.state = RoomState::Open;
        }
        let mut changes = Vec::with_capacity(2);
        // An operator who opened the room by hand recorded its state already.
        if opened.state != before {
            changes.push(RoomChange {
                changed_at: now,
                field: "state".into(),
                old_value: Some(before.name().into()),
                new_value: Some(opened.state.name().into()),
            });
        }
        changes.push(RoomChange {
            changed_at: now,
            field: "lottery".into(),
            old_value: None,
            new_value: Some(format!("{} entries drawn", drawn.len())),
        });
        let fields: Vec<&str> = changes.iter().map(|c| c.field.as_str()).collect();
        let event = self.room_event(&opened, before, "sale opened", &fields);
        let recorded = self
            .store()
            .record_draw(concert, &drawn, now, &changes, &event)
            .await?;
        waiting_room
            .place_drawn(concert, &order, now, &policy)
            .await?;
        self.forget_room(concert);
        if recorded {
            tracing::info!(concert = %concert, entries = drawn.len(), "sale opened: pre-queue drawn into line");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::domain::access::PowAnswer;
    use crate::domain::queue_token::TokenState;
    use crate::domain::room::{self, RoomState};
    use crate::ports::Clock as _;
    use crate::testing::{TestApp, user};
    use crate::use_cases::{IssueTokenError, RoomPatch};

    fn place(state: TokenState) -> Option<u64> {
        match state {
            TokenState::Waiting { position, .. } => position,
            _ => None,
        }
    }

    #[tokio::test]
    async fn a_scheduled_sale_draws_its_pre_queue_once_in_a_recomputable_order() {
        let t = TestApp::new().await;
        let opens_at = t.clock.now().plus_secs(3_600);
        let scheduled = t
            .change_room(
                t.concert,
                RoomPatch {
                    state: Some(RoomState::Scheduled),
                    sale_opens_at: Some(Some(opens_at)),
                    ..RoomPatch::default()
                },
            )
            .await;
        let commitment = scheduled.lottery_commitment().unwrap();
        // Before the pre-queue window (30 minutes): not open.
        let early = t
            .app
            .issue_token(user(1), t.concert, PowAnswer::Missing)
            .await;
        assert!(matches!(early, Err(IssueTokenError::SaleNotOpen { .. })));
        t.clock.advance_secs(1_800);
        let mut fans = Vec::new();
        for u in 1..=30 {
            let view = t.issue(user(u)).await;
            assert_eq!(view.status(), "PRE_QUEUE");
            assert_eq!(view.opens_at, Some(opens_at));
            fans.push(view);
        }
        assert!(
            t.app.lottery(t.concert).await.unwrap().is_none(),
            "no draw before the opening"
        );
        // Pre-queued fans keep their entry alive as waiting fans do, by polling.
        for _ in 0..30 {
            t.clock.advance_secs(60);
            for fan in &fans {
                assert_eq!(t.poll(fan).await.status(), "PRE_QUEUE");
            }
        }
        // Two instances reach the opening together.
        let twin = t.twin();
        let (a, b) = tokio::join!(t.app.activate_batch_once(), twin.activate_batch_once());
        a.unwrap();
        b.unwrap();
        let reveal = t.app.lottery(t.concert).await.unwrap().unwrap();
        assert_eq!(reveal.commitment, commitment);
        assert_eq!(room::commitment_of(&reveal.seed), commitment);
        assert_eq!(reveal.entries.len(), 30, "drawn once, every entry once");
        // Anyone can recompute the order from the published seed and ids.
        let mut ids = reveal.entries.clone();
        ids.sort();
        assert_eq!(room::draw(&reveal.seed, &ids), reveal.entries);
        // The default batch admitted the first 100 places: all 30, in drawn order.
        let report = t.app.show_room(t.concert).await.unwrap().unwrap();
        assert_eq!(report.room.state, RoomState::Open);
        assert!(report.room.drawn_at.is_some());
        for fan in &fans {
            let entry = fan.lottery_entry.clone().unwrap();
            assert!(reveal.entries.contains(&entry));
        }
        let audit = t.app.room_audit(t.concert, 10).await.unwrap().unwrap();
        assert_eq!(audit.iter().filter(|c| c.field == "lottery").count(), 1);
        assert_eq!(
            state_changes(&audit),
            [("OPEN", "SCHEDULED"), ("SCHEDULED", "OPEN")]
        );
        let report = t.app.check_invariants().await.unwrap();
        assert_eq!(report.admission_inversions, 0);
    }

    /// The audit's state changes, oldest first, as (old, new).
    fn state_changes(audit: &[crate::ports::RoomChange]) -> Vec<(&str, &str)> {
        audit
            .iter()
            .rev()
            .filter(|c| c.field == "state")
            .map(|c| {
                (
                    c.old_value.as_deref().unwrap_or(""),
                    c.new_value.as_deref().unwrap_or(""),
                )
            })
            .collect()
    }

    #[tokio::test]
    async fn a_sale_opened_by_hand_is_audited_once_with_its_draw() {
        let t = TestApp::new().await;
        let state = |state| RoomPatch {
            state: Some(state),
            ..RoomPatch::default()
        };
        t.change_room(t.concert, state(RoomState::Scheduled)).await;
        t.issue(user(1)).await;
        t.change_room(t.concert, state(RoomState::Open)).await;

        let audit = t.app.room_audit(t.concert, 10).await.unwrap().unwrap();
        assert_eq!(
            state_changes(&audit),
            [("OPEN", "SCHEDULED"), ("SCHEDULED", "OPEN")]
        );
        let draws: Vec<_> = audit.iter().filter(|c| c.field == "lottery").collect();
        assert_eq!(draws.len(), 1);
        assert_eq!(draws[0].new_value.as_deref(), Some("1 entries drawn"));
    }

    #[tokio::test]
    async fn the_drawn_places_are_the_positions_and_later_arrivals_follow() {
        let t = TestApp::with_queue_policy(crate::domain::queue_token::QueuePolicy {
            admit_batch: 1,
            ..Default::default()
        })
        .await;
        t.change_room(
            t.concert,
            RoomPatch {
                state: Some(RoomState::Scheduled),
                sale_opens_at: Some(Some(t.clock.now().plus_secs(60))),
                ..RoomPatch::default()
            },
        )
        .await;
        let mut fans = Vec::new();
        for u in 1..=12 {
            fans.push(t.issue(user(u)).await);
        }
        t.clock.advance_secs(60);
        // The first arrival after the opening draws the pre-queue, then queues behind it.
        let late = t.issue(user(99)).await;
        assert_eq!(place(late.token.state), Some(13));
        let reveal = t.app.lottery(t.concert).await.unwrap().unwrap();
        for fan in &fans {
            let entry = fan.lottery_entry.clone().unwrap();
            let drawn = reveal.entries.iter().position(|e| *e == entry).unwrap() as u64 + 1;
            assert_eq!(place(t.poll(fan).await.token.state), Some(drawn));
        }
        let in_arrival_order: Vec<String> = fans
            .iter()
            .map(|f| f.lottery_entry.clone().unwrap())
            .collect();
        assert_ne!(
            reveal.entries, in_arrival_order,
            "arriving first gives no edge"
        );
    }
}
