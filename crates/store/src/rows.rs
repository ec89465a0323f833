//! Decoding rows into domain values. A value that fails validation here
//! means the database holds something the code never writes: an error, not a panic.

use crate::values::Record;
use anyhow::Context;
use boxoffice_core::domain::concert::{Concert, Schedule};
use boxoffice_core::domain::events::OutboxEvent;
use boxoffice_core::domain::reservation::Reservation;
use boxoffice_core::domain::seat::{Seat, SeatState};
use boxoffice_core::domain::seat_hold::{Hold, HoldStatus};
use boxoffice_core::domain::{
    ConcertId, EventId, HoldId, ReservationId, ScheduleId, SeatNumber, Timestamp, UserId, Won,
};

pub(crate) fn ts(row: &Record, col: &str) -> anyhow::Result<Timestamp> {
    Ok(Timestamp::from_millis(row.int(col)?))
}

pub(crate) fn won(row: &Record, col: &str) -> anyhow::Result<Won> {
    Ok(Won::new(row.int(col)?))
}

pub(crate) fn concert(row: &Record) -> anyhow::Result<Concert> {
    Ok(Concert {
        id: ConcertId::new(row.int("id")?)?,
        title: row.text("title")?,
        artist: row.text("artist")?,
    })
}

pub(crate) fn schedule(row: &Record) -> anyhow::Result<Schedule> {
    Ok(Schedule {
        id: ScheduleId::new(row.int("id")?)?,
        concert_id: ConcertId::new(row.int("concert_id")?)?,
        starts_at: ts(row, "starts_at_ms")?,
        venue: row.text("venue")?,
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

pub(crate) fn hold(row: &Record) -> anyhow::Result<Hold> {
    let status = row.text("status")?;
    Ok(Hold {
        id: row.text("id")?.parse::<HoldId>()?,
        user_id: UserId::new(row.int("user_id")?)?,
        concert_id: ConcertId::new(row.int("concert_id")?)?,
        schedule_id: ScheduleId::new(row.int("schedule_id")?)?,
        seat_number: SeatNumber::new(row.int("seat_number")?)?,
        price: won(row, "price")?,
        expires_at: ts(row, "expires_at_ms")?,
        status: HoldStatus::parse(&status)
            .with_context(|| format!("unknown hold status {status}"))?,
    })
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
    })
}
