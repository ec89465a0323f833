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
    /// Sets the batch that admits this many a minute at the room's interval.
    pub admit_per_minute: Option<u32>,
    pub admit_batch: Option<u32>,
    pub admit_interval_secs: Option<u64>,
    pub max_active: Option<u32>,
    pub active_ttl_secs: Option<u64>,
    pub abandon_after_secs: Option<u64>,
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
        s.admit_interval_secs = patch.admit_interval_secs.or(s.admit_interval_secs);
        s.admit_batch = patch.admit_batch.or(s.admit_batch);
        s.max_active = patch.max_active.or(s.max_active);
        s.active_ttl_secs = patch.active_ttl_secs.or(s.active_ttl_secs);
        s.abandon_after_secs = patch.abandon_after_secs.or(s.abandon_after_secs);
        if let Some(per_minute) = patch.admit_per_minute {
            if patch.admit_batch.is_some() {
                return Err(bad("give admitPerMinute or admitBatch, not both"));
            }
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
        ("state", Some(old.state.name().to_owned()), Some(new.state.name().to_owned())),
        ("admitBatch", num(o.admit_batch.map(u64::from)), num(n.admit_batch.map(u64::from))),
        ("admitIntervalSecs", num(o.admit_interval_secs), num(n.admit_interval_secs)),
        ("maxActive", num(o.max_active.map(u64::from)), num(n.max_active.map(u64::from))),
        ("activeTtlSecs", num(o.active_ttl_secs), num(n.active_ttl_secs)),
        ("abandonAfterSecs", num(o.abandon_after_secs), num(n.abandon_after_secs)),
        ("saleOpensAt", at(old.sale.opens_at), at(new.sale.opens_at)),
        ("saleClosesAt", at(old.sale.closes_at), at(new.sale.closes_at)),
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
