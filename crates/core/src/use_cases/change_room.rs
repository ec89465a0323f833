//! An operator changing a concert's room: its state (schedule, open,
//! pause, pass through, close) and its settings (rate, cap, lifetimes, the
//! sale's times). Every change is one transaction with its audit rows and
//! its `RoomChanged` event, applied on every instance within a second.

use super::App;
use crate::domain::events::{self, OutboxEvent, RoomChanged};
use crate::domain::room::{Room, RoomPhase, RoomRejected, RoomSettings, RoomState};
use crate::domain::{ConcertId, Timestamp};
use crate::ports::RoomChange;

/// What to change; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoomPatch {
    pub state: Option<RoomState>,
    /// The settings: `None` leaves one as it is, `Some(None)` puts it back
    /// to the configured default, `Some(Some(v))` sets it.
    /// Sets the batch that admits this many a minute at the room's interval
    /// (`Some(None)`: the default batch).
    pub admit_per_minute: Option<Option<u32>>,
    pub admit_batch: Option<Option<u32>>,
    pub admit_interval_secs: Option<Option<u64>>,
    pub max_active: Option<Option<u32>>,
    pub active_ttl_secs: Option<Option<u64>>,
    pub abandon_after_secs: Option<Option<u64>>,
    /// `Some(None)` clears the time.
    pub sale_opens_at: Option<Option<Timestamp>>,
    pub sale_closes_at: Option<Option<Timestamp>>,
}

#[derive(Debug, thiserror::Error)]
pub enum ChangeRoomError {
    #[error("no such concert")]
    ConcertNotFound,
    #[error(transparent)]
    Rejected(#[from] RoomRejected),
    /// Others kept changing the room while this change was tried.
    #[error("the room was changed concurrently; try again")]
    Conflict,
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// Attempts before a change gives up on concurrent changes.
const ATTEMPTS: usize = 3;

impl App {
    /// Applies `patch` to the concert's room; the room as it is after.
    pub async fn change_room(
        &self,
        concert: ConcertId,
        patch: &RoomPatch,
    ) -> Result<Room, ChangeRoomError> {
        for _ in 0..ATTEMPTS {
            let Some(current) = self.fresh_room_of(concert).await? else {
                return Err(ChangeRoomError::ConcertNotFound);
            };
            let old = &current.room;
            let new = self.patched(old, patch).await?;
            let now = self.now();
            let changes = differences(old, &new, now);
            if changes.is_empty() {
                return Ok(new);
            }
            let fields: Vec<&str> = changes.iter().map(|c| c.field.as_str()).collect();
            let event = self.room_event(&new, old.state, "operator", &fields);
            if self
                .store()
                .update_room(&new, old.version, &changes, &event)
                .await?
            {
                self.forget_room(concert);
                tracing::info!(concert = %concert, changed = ?fields, state = new.state.name(), "room changed by an operator");
                let phase = new.phase_at(now, self.policies.queue.pre_queue_window_secs);
                if phase == (RoomPhase::Open { draw_due: true }) {
                    self.open_sale(concert).await?;
                }
                return Ok(self
                    .fresh_room_of(concert)
                    .await?
                    .map_or(new, |room| room.room));
            }
        }
        Err(ChangeRoomError::Conflict)
    }

    /// The room `old` with `patch` applied, or why it may not be.
    async fn patched(&self, old: &Room, patch: &RoomPatch) -> Result<Room, ChangeRoomError> {
        let bad = |what: &str| ChangeRoomError::Rejected(RoomRejected::BadSetting(what.into()));
        let mut new = old.clone();
        let s = &mut new.settings;
        s.admit_interval_secs = patch.admit_interval_secs.unwrap_or(s.admit_interval_secs);
        s.admit_batch = patch.admit_batch.unwrap_or(s.admit_batch);
        s.max_active = patch.max_active.unwrap_or(s.max_active);
        s.active_ttl_secs = patch.active_ttl_secs.unwrap_or(s.active_ttl_secs);
        s.abandon_after_secs = patch.abandon_after_secs.unwrap_or(s.abandon_after_secs);
        if patch.admit_per_minute.is_some() && patch.admit_batch.is_some() {
            return Err(bad("give admitPerMinute or admitBatch, not both"));
        }
        if patch.admit_per_minute == Some(None) {
            s.admit_batch = None;
        }
        if let Some(Some(per_minute)) = patch.admit_per_minute {
            if !(1..=6_000_000).contains(&per_minute) {
                return Err(bad("admitPerMinute must be between 1 and 6000000"));
            }
            let interval = s
                .admit_interval_secs
                .unwrap_or(self.policies.queue.admit_interval_secs);
            s.admit_batch = Some(RoomSettings::batch_for_rate(per_minute, interval));
        }
        new.settings.validate()?;
        if old.drawn_at.is_some() && patch.sale_opens_at.is_some() {
            return Err(bad("the sale has opened: saleOpensAt can no longer change"));
        }
        if let Some(opens_at) = patch.sale_opens_at {
            new.sale.opens_at = opens_at;
        }
        if let Some(closes_at) = patch.sale_closes_at {
            new.sale.closes_at = closes_at;
        }
        if let (Some(opens), Some(closes)) = (new.sale.opens_at, new.sale.closes_at)
            && closes <= opens
        {
            return Err(bad("saleClosesAt must be after saleOpensAt"));
        }
        if let Some(state) = patch.state
            && state != old.state
        {
            if !old.state.may_move_to(state, old.drawn_at.is_some()) {
                return Err(RoomRejected::Transition {
                    from: old.state.name(),
                    to: state.name(),
                }
                .into());
            }
            new.state = state;
        }
        if new.state == RoomState::Scheduled {
            let now = self.now();
            if new.sale.opens_at.is_some_and(|at| at <= now)
                && (old.state != RoomState::Scheduled || patch.sale_opens_at.is_some())
            {
                return Err(bad("saleOpensAt must be in the future to schedule a sale"));
            }
            if old.state != RoomState::Scheduled {
                let census = self
                    .adapters
                    .waiting_room
                    .census(old.concert, now, &old.settings.apply(&self.policies.queue))
                    .await?;
                if census.waiting > 0 {
                    return Err(bad(
                        "fans are in line: a sale can be scheduled only for an empty room",
                    ));
                }
            }
            if new.lottery_seed.is_none() {
                let seed: [u8; 32] = self.random_bytes();
                new.lottery_seed = Some(seed.iter().map(|b| format!("{b:02x}")).collect());
            }
        }
        Ok(new)
    }

    /// The `RoomChanged` event of `room` after a change from `before`.
    pub(super) fn room_event(
        &self,
        room: &Room,
        before: RoomState,
        reason: &str,
        changed: &[&str],
    ) -> OutboxEvent {
        let policy = room.settings.apply(&self.policies.queue);
        events::room_changed(
            self.new_event_id(),
            RoomChanged {
                concert_id: room.concert,
                state: room.state.name().into(),
                previous_state: before.name().into(),
                reason: reason.into(),
                changed: changed.iter().map(|f| (*f).to_owned()).collect(),
                admit_batch: policy.admit_batch,
                admit_interval_secs: policy.admit_interval_secs,
                max_active: policy.max_active,
                active_ttl_secs: policy.active_ttl_secs,
                abandon_after_secs: policy.abandon_after_secs,
                sale_opens_at: room.sale.opens_at,
                sale_closes_at: room.sale.closes_at,
                changed_at: self.now(),
            },
        )
    }
}

/// The audit rows of a change: one per field whose value differs.
fn differences(old: &Room, new: &Room, now: Timestamp) -> Vec<RoomChange> {
    let num = |v: Option<u64>| v.map(|v| v.to_string());
    let at = |v: Option<Timestamp>| v.map(|t| t.as_millis().to_string());
    let (o, n) = (&old.settings, &new.settings);
    let fields = [
        (
            "state",
            Some(old.state.name().to_owned()),
            Some(new.state.name().to_owned()),
        ),
        (
            "admitBatch",
            num(o.admit_batch.map(u64::from)),
            num(n.admit_batch.map(u64::from)),
        ),
        (
            "admitIntervalSecs",
            num(o.admit_interval_secs),
            num(n.admit_interval_secs),
        ),
        (
            "maxActive",
            num(o.max_active.map(u64::from)),
            num(n.max_active.map(u64::from)),
        ),
        (
            "activeTtlSecs",
            num(o.active_ttl_secs),
            num(n.active_ttl_secs),
        ),
        (
            "abandonAfterSecs",
            num(o.abandon_after_secs),
            num(n.abandon_after_secs),
        ),
        ("saleOpensAt", at(old.sale.opens_at), at(new.sale.opens_at)),
        (
            "saleClosesAt",
            at(old.sale.closes_at),
            at(new.sale.closes_at),
        ),
    ];
    fields
        .into_iter()
        .filter(|(_, a, b)| a != b)
        .map(|(field, old_value, new_value)| RoomChange {
            changed_at: now,
            field: field.to_owned(),
            old_value,
            new_value,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::{ChangeRoomError, RoomPatch};
    use crate::domain::access::PowAnswer;
    use crate::domain::queue_token::TokenState;
    use crate::domain::room::{RoomRejected, RoomSettings, RoomState};
    use crate::ports::Clock as _;
    use crate::testing::{TestApp, user};
    use crate::use_cases::IssueTokenError;

    fn to(state: RoomState) -> RoomPatch {
        RoomPatch {
            state: Some(state),
            ..RoomPatch::default()
        }
    }

    #[tokio::test]
    async fn a_paused_room_admits_nobody_and_fans_keep_their_places() {
        let t = TestApp::new().await;
        let first = t.issue(user(1)).await;
        let second = t.issue(user(2)).await;
        t.change_room(t.concert, to(RoomState::Paused)).await;
        assert_eq!(t.app.activate_batch_once().await.unwrap(), 0);
        let polled = t.poll(&second).await;
        assert_eq!(polled.status(), "PAUSED");
        assert_eq!(polled.eta_secs(), None, "no estimate while paused");
        assert!(matches!(
            polled.token.state,
            TokenState::Waiting {
                position: Some(2),
                ..
            }
        ));
        t.change_room(t.concert, to(RoomState::Open)).await;
        assert_eq!(t.app.activate_batch_once().await.unwrap(), 2);
        assert_eq!(t.poll(&first).await.status(), "ACTIVE");
    }

    #[tokio::test]
    async fn a_rate_change_applies_to_the_next_round_on_another_instance() {
        let t = TestApp::new().await;
        for u in 1..=10 {
            t.issue(user(u)).await;
        }
        let other = t.twin();
        // The other instance has read the room (and cached it) before the change.
        other.public_room(t.concert).await.unwrap();
        t.change_room(
            t.concert,
            RoomPatch {
                admit_per_minute: Some(Some(18)),
                admit_interval_secs: Some(Some(10)),
                ..RoomPatch::default()
            },
        )
        .await;
        assert_eq!(
            other.activate_batch_once().await.unwrap(),
            3,
            "18 a minute in 10 s rounds"
        );
        t.change_room(
            t.concert,
            RoomPatch {
                max_active: Some(Some(4)),
                ..RoomPatch::default()
            },
        )
        .await;
        assert_eq!(
            other.activate_batch_once().await.unwrap(),
            1,
            "capped at 4 ACTIVE"
        );
        // Back to the configured defaults (100 a round, 1,000 at once): the
        // other 6 of the line go in.
        t.change_room(
            t.concert,
            RoomPatch {
                max_active: Some(None),
                admit_per_minute: Some(None),
                admit_interval_secs: Some(None),
                ..RoomPatch::default()
            },
        )
        .await;
        let room = t.app.show_room(t.concert).await.unwrap().unwrap();
        assert_eq!(room.room.settings, RoomSettings::default());
        assert_eq!(other.activate_batch_once().await.unwrap(), 6);
        let audit = t.app.room_audit(t.concert, 10).await.unwrap().unwrap();
        let fields: Vec<(&str, Option<&str>, Option<&str>)> = audit
            .iter()
            .map(|c| {
                (
                    c.field.as_str(),
                    c.old_value.as_deref(),
                    c.new_value.as_deref(),
                )
            })
            .collect();
        assert_eq!(
            fields,
            vec![
                // Newest first: the reset, then the two changes.
                ("maxActive", Some("4"), None),
                ("admitIntervalSecs", Some("10"), None),
                ("admitBatch", Some("3"), None),
                ("maxActive", None, Some("4")),
                ("admitIntervalSecs", None, Some("10")),
                ("admitBatch", None, Some("3")),
            ]
        );
    }

    #[tokio::test]
    async fn illegal_moves_and_nonsense_settings_are_refused_and_change_nothing() {
        let t = TestApp::new().await;
        let refused = t
            .app
            .change_room(
                t.concert,
                &RoomPatch {
                    max_active: Some(Some(0)),
                    ..RoomPatch::default()
                },
            )
            .await;
        assert!(matches!(
            refused,
            Err(ChangeRoomError::Rejected(RoomRejected::BadSetting(_)))
        ));
        let both = RoomPatch {
            admit_per_minute: Some(Some(60)),
            admit_batch: Some(Some(5)),
            ..RoomPatch::default()
        };
        assert!(matches!(
            t.app.change_room(t.concert, &both).await,
            Err(ChangeRoomError::Rejected(_))
        ));
        t.issue(user(1)).await;
        let scheduled = RoomPatch {
            state: Some(RoomState::Scheduled),
            sale_opens_at: Some(Some(t.clock.now().plus_secs(600))),
            ..RoomPatch::default()
        };
        assert!(
            matches!(
                t.app.change_room(t.concert, &scheduled).await,
                Err(ChangeRoomError::Rejected(_))
            ),
            "a room with fans in line is not scheduled"
        );
        let unknown = t.second_concert().await;
        let gone = crate::domain::ConcertId::new(unknown.get() + 100).unwrap();
        assert!(matches!(
            t.app.change_room(gone, &to(RoomState::Paused)).await,
            Err(ChangeRoomError::ConcertNotFound)
        ));
        let report = t.app.show_room(t.concert).await.unwrap().unwrap();
        assert_eq!(report.room.state, RoomState::Open);
        assert_eq!(report.room.settings, Default::default());
        assert!(
            t.app
                .room_audit(t.concert, 10)
                .await
                .unwrap()
                .unwrap()
                .is_empty()
        );
    }

    #[tokio::test]
    async fn a_closed_room_refuses_tokens_and_tells_the_line() {
        let t = TestApp::new().await;
        let waiting = t.issue(user(1)).await;
        t.change_room(t.concert, to(RoomState::Closed)).await;
        let refused = t
            .app
            .issue_token(user(2), t.concert, PowAnswer::Missing)
            .await;
        assert!(matches!(refused, Err(IssueTokenError::SaleClosed)));
        assert_eq!(t.poll(&waiting).await.status(), "CLOSED");
        assert_eq!(t.app.activate_batch_once().await.unwrap(), 0);
        // A closed room may open again; scheduling it again may not after a sale.
        t.change_room(t.concert, to(RoomState::Open)).await;
        assert_eq!(t.poll(&waiting).await.status(), "WAITING");
    }

    #[tokio::test]
    async fn pass_through_admits_on_arrival_while_under_the_cap() {
        let t = TestApp::new().await;
        t.change_room(
            t.concert,
            RoomPatch {
                state: Some(RoomState::PassThrough),
                max_active: Some(Some(2)),
                ..RoomPatch::default()
            },
        )
        .await;
        assert_eq!(t.issue(user(1)).await.status(), "ACTIVE");
        assert_eq!(t.issue(user(2)).await.status(), "ACTIVE");
        let third = t.issue(user(3)).await;
        assert_eq!(third.status(), "WAITING", "the cap still holds");
        let leaving = t
            .app
            .poll_token(user(1), TestApp::ticket_of(&t.issue(user(1)).await))
            .await
            .unwrap();
        assert!(
            t.app
                .leave_line(user(1), TestApp::ticket_of(&leaving))
                .await
                .unwrap()
        );
        assert_eq!(t.app.activate_batch_once().await.unwrap(), 1);
        assert_eq!(t.poll(&third).await.status(), "ACTIVE");
    }
}
