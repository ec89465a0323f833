//! Decoding rows into domain values. A value that fails validation here
//! means the database holds something the code never writes: an error, not a panic.

use crate::values::Record;
use anyhow::Context;
use boxoffice_core::domain::cancellation::CancellationPolicy;
use boxoffice_core::domain::concert::{Concert, EntryRules, Schedule};
use boxoffice_core::domain::events::{EventTrace, OutboxEvent};
use boxoffice_core::domain::reservation::{Cancellation, Reservation};
use boxoffice_core::domain::room::{Cohort, Flow, Room, RoomSettings, RoomState, SaleWindow};
use boxoffice_core::domain::sample::{SaleSample, SeatTally};
use boxoffice_core::domain::seat::{Seat, SeatState};
use boxoffice_core::domain::seat_hold::{HeldSeat, Hold, HoldStatus};
use boxoffice_core::domain::{
    ConcertId, EventId, HoldId, ReservationId, ScheduleId, SeatNumber, Timestamp, UserId, Won,
};
use boxoffice_core::ports::RoomSnapshot;

pub(crate) fn ts(row: &Record, col: &str) -> anyhow::Result<Timestamp> {
    Ok(Timestamp::from_millis(row.int(col)?))
}

pub(crate) fn opt_ts(row: &Record, col: &str) -> anyhow::Result<Option<Timestamp>> {
    Ok(row.opt_int(col)?.map(Timestamp::from_millis))
}

pub(crate) fn won(row: &Record, col: &str) -> anyhow::Result<Won> {
    Ok(Won::new(row.int(col)?))
}

/// A row of `ROOM_SNAPSHOT` (sql_store.rs).
pub(crate) fn room_snapshot(row: &Record, concert: ConcertId) -> anyhow::Result<RoomSnapshot> {
    let state = row.text("room_state")?;
    let u64_of = |col: &str| -> anyhow::Result<Option<u64>> {
        row.opt_int(col)?
            .map(|v| u64::try_from(v).with_context(|| format!("{col} = {v}")))
            .transpose()
    };
    let u32_of = |col: &str| -> anyhow::Result<Option<u32>> {
        u64_of(col)?
            .map(|v| u32::try_from(v).with_context(|| format!("{col} = {v}")))
            .transpose()
    };
    let at = |col: &str| -> anyhow::Result<Option<Timestamp>> {
        Ok(row.opt_int(col)?.map(Timestamp::from_millis))
    };
    let count = |col: &str| -> anyhow::Result<u64> {
        u64_of(col)?.with_context(|| format!("{col} is NULL"))
    };
    let bits = row
        .opt_int("proof_of_work_bits")?
        .map(u8::try_from)
        .transpose()?;
    Ok(RoomSnapshot {
        room: Room {
            concert,
            state: RoomState::parse(&state).with_context(|| format!("room state {state}"))?,
            settings: RoomSettings {
                admit_batch: u32_of("admit_batch")?,
                admit_interval_secs: u64_of("admit_interval_secs")?,
                max_active: u32_of("max_active")?,
                active_ttl_secs: u64_of("active_ttl_secs")?,
                abandon_after_secs: u64_of("abandon_after_secs")?,
            },
            sale: SaleWindow {
                opens_at: at("sale_opens_at_ms")?,
                closes_at: at("sale_closes_at_ms")?,
            },
            lottery_seed: row.opt_text("lottery_seed_hex")?,
            drawn_at: at("lottery_drawn_at_ms")?,
            flow: Flow {
                admitted_per_round_milli: count("flow_admitted_per_round_milli")?,
                no_show_permille: count("flow_no_show_permille")?,
                admitted_total: count("flow_admitted_total")?,
                abandoned_total: count("flow_abandoned_total")?,
                cohorts: cohorts_of(&row.text("flow_cohorts")?)?,
                session_ms: count("flow_session_ms")?,
                session_spread_ms: count("flow_session_spread_ms")?,
                observed_at_ms: row.int("flow_observed_at_ms")?,
            },
            version: row.int("room_version")?,
        },
        rules: EntryRules::new(bits)?,
        sellable_seats: count("sellable")?,
    })
}

pub(crate) fn concert(row: &Record) -> anyhow::Result<Concert> {
    Ok(Concert {
        id: ConcertId::new(row.int("id")?)?,
        title: row.text("title")?,
        artist: row.text("artist")?,
    })
}

/// The concert's own cancellation policy, `None` when it follows the service's.
pub(crate) fn cancellation_policy(row: &Record) -> anyhow::Result<Option<CancellationPolicy>> {
    row.opt_text("cancellation_policy")?
        .map(|text| {
            serde_json::from_str(&text)
                .with_context(|| format!("a stored cancellation policy is invalid: {text}"))
        })
        .transpose()
}

pub(crate) fn schedule(row: &Record) -> anyhow::Result<Schedule> {
    Ok(Schedule {
        id: ScheduleId::new(row.int("id")?)?,
        concert_id: ConcertId::new(row.int("concert_id")?)?,
        starts_at: ts(row, "starts_at_ms")?,
        venue: row.text("venue")?,
        cancelled_at: opt_ts(row, "cancelled_at_ms")?,
    })
}

/// A seat's stored state (`status`, `held_until_ms`).
pub(crate) fn seat_state(row: &Record) -> anyhow::Result<SeatState> {
    let status = row.text("status")?;
    Ok(match status.as_str() {
        "AVAILABLE" => SeatState::Open,
        "SOLD" => SeatState::Sold,
        "HELD" => SeatState::HeldUntil(Timestamp::from_millis(
            row.opt_int("held_until_ms")?.unwrap_or(0),
        )),
        other => anyhow::bail!("unknown seat status {other}"),
    })
}

pub(crate) fn seat(row: &Record, now: Timestamp) -> anyhow::Result<Seat> {
    Ok(Seat {
        number: SeatNumber::new(row.int("seat_number")?)?,
        grade: row.text("grade")?,
        price: won(row, "price")?,
        status: seat_state(row)?.status_at(now),
    })
}

/// A hold from its `seat_hold` row alone, as the one seat of that row (its
/// lowest seat, at the hold's price): right for a hold of one seat. A
/// basket's seats come from `hold_seat` ([`holds`]).
pub(crate) fn hold(row: &Record) -> anyhow::Result<Hold> {
    let status = row.text("status")?;
    let price = won(row, "price")?;
    Ok(Hold {
        id: row.text("id")?.parse::<HoldId>()?,
        user_id: UserId::new(row.int("user_id")?)?,
        concert_id: ConcertId::new(row.int("concert_id")?)?,
        schedule_id: ScheduleId::new(row.int("schedule_id")?)?,
        seats: vec![HeldSeat {
            number: SeatNumber::new(row.int("seat_number")?)?,
            price,
        }],
        price,
        held_at: ts(row, "created_at_ms")?,
        expires_at: ts(row, "expires_at_ms")?,
        extended: row.int("extended")? != 0,
        status: HoldStatus::parse(&status)
            .with_context(|| format!("unknown hold status {status}"))?,
    })
}

/// Holds from rows of `seat_hold` joined to their `hold_seat` rows
/// (`held_seat`, `held_seat_price`), one row per seat, a hold's rows
/// together in seat order. A hold with no `hold_seat` row (written by the
/// binary before baskets, during a rolling deploy) is the one seat of its
/// own row.
pub(crate) fn holds(rows: &[Record]) -> anyhow::Result<Vec<Hold>> {
    let mut holds: Vec<Hold> = Vec::new();
    for row in rows {
        let id = row.text("id")?.parse::<HoldId>()?;
        let seat = row
            .opt_int("held_seat")?
            .map(|number| {
                anyhow::Ok(HeldSeat {
                    number: SeatNumber::new(number)?,
                    price: won(row, "held_seat_price")?,
                })
            })
            .transpose()?;
        match (holds.last_mut(), seat) {
            (Some(last), Some(seat)) if last.id == id => last.seats.push(seat),
            (Some(last), None) if last.id == id => {}
            (_, seat) => {
                let mut hold = hold(row)?;
                if let Some(seat) = seat {
                    hold.seats = vec![seat];
                }
                holds.push(hold);
            }
        }
    }
    Ok(holds)
}

pub(crate) fn reservation(row: &Record) -> anyhow::Result<Reservation> {
    Ok(Reservation {
        id: row.text("id")?.parse::<ReservationId>()?,
        user_id: UserId::new(row.int("user_id")?)?,
        concert_id: ConcertId::new(row.int("concert_id")?)?,
        schedule_id: ScheduleId::new(row.int("schedule_id")?)?,
        seat_number: SeatNumber::new(row.int("seat_number")?)?,
        price: won(row, "price")?,
        hold_id: row.text("hold_id")?.parse::<HoldId>()?,
        confirmed_at: ts(row, "confirmed_at_ms")?,
        cancellation: match row.text("status")?.as_str() {
            "CONFIRMED" => None,
            "CANCELLED" => Some(Cancellation {
                at: ts(row, "cancelled_at_ms")?,
                refund: won(row, "refund")?,
                fee: won(row, "fee")?,
            }),
            other => anyhow::bail!("unknown reservation status {other}"),
        },
    })
}

pub(crate) fn event(row: &Record) -> anyhow::Result<OutboxEvent> {
    Ok(OutboxEvent {
        id: row.text("id")?.parse::<EventId>()?,
        event_type: row.text("event_type")?,
        schema_version: u16::try_from(row.int("schema_version")?)?,
        aggregate_key: row.text("aggregate_key")?,
        payload: row.text("payload")?,
        created_at: ts(row, "created_at_ms")?,
        trace: trace(row)?,
    })
}

/// The `traceparent` and `request_id` columns, when the row has them set.
pub(crate) fn trace(row: &Record) -> anyhow::Result<Option<EventTrace>> {
    Ok(
        match (row.opt_text("traceparent")?, row.opt_text("request_id")?) {
            (Some(traceparent), request_id) => Some(EventTrace {
                traceparent,
                request_id: request_id.unwrap_or_default(),
            }),
            _ => None,
        },
    )
}

/// The trace to store with an event: its own, or the current request's.
pub(crate) fn trace_args(event: &OutboxEvent) -> [crate::values::Val; 2] {
    let trace = event.trace.clone().or_else(|| {
        boxoffice_trace::current().map(|c| EventTrace {
            traceparent: c.traceparent.to_string(),
            request_id: c.request_id,
        })
    });
    match trace {
        Some(t) => [t.traceparent.into(), t.request_id.into()],
        None => [crate::values::Val::NullText, crate::values::Val::NullText],
    }
}

/// A flow's cohorts as stored: a JSON array of `[admitted_at_ms, fans
/// still ACTIVE, fans admitted]`.
pub(crate) fn cohorts_text(cohorts: &[Cohort]) -> String {
    let pairs: Vec<(i64, u64, u64)> = cohorts
        .iter()
        .map(|c| (c.at_ms, c.fans, c.admitted))
        .collect();
    serde_json::to_string(&pairs).unwrap_or_else(|_| "[]".to_owned())
}

fn cohorts_of(text: &str) -> anyhow::Result<Vec<Cohort>> {
    let triples: Vec<(i64, u64, u64)> =
        serde_json::from_str(text).with_context(|| format!("flow_cohorts {text:?}"))?;
    Ok(triples
        .into_iter()
        .map(|(at_ms, fans, admitted)| Cohort {
            at_ms,
            fans,
            admitted,
        })
        .collect())
}

pub(crate) fn sale_sample(row: &Record, concert: ConcertId) -> anyhow::Result<SaleSample> {
    let count = |col: &str| -> anyhow::Result<u64> { Ok(u64::try_from(row.int(col)?)?) };
    Ok(SaleSample {
        concert,
        at: ts(row, "at_ms")?,
        pre_queued: count("pre_queued")?,
        waiting: count("waiting")?,
        active: count("active")?,
        admitted_total: count("admitted_total")?,
        seats: SeatTally {
            available: count("seats_available")?,
            held: count("seats_held")?,
            sold: count("seats_sold")?,
            revenue: won(row, "revenue")?,
        },
    })
}
