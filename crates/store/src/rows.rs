//! Decoding rows into domain values. Values that fail validation here mean
//! the database holds something the code never writes: an error, not a panic.

use anyhow::Context;
use boxoffice_core::domain::concert::{Concert, Schedule};
use boxoffice_core::domain::events::OutboxEvent;
use boxoffice_core::domain::reservation::Reservation;
use boxoffice_core::domain::seat_hold::{Hold, HoldStatus};
use boxoffice_core::domain::{
    ConcertId, EventId, HoldId, ReservationId, ScheduleId, SeatNumber, Timestamp, UserId, Won,
};
use sqlx::Row;
use sqlx::sqlite::SqliteRow;

fn int(row: &SqliteRow, col: &str) -> anyhow::Result<i64> {
    row.try_get::<i64, _>(col)
        .with_context(|| format!("column {col}"))
}

fn text(row: &SqliteRow, col: &str) -> anyhow::Result<String> {
    row.try_get::<String, _>(col)
        .with_context(|| format!("column {col}"))
}

pub(crate) fn ts(row: &SqliteRow, col: &str) -> anyhow::Result<Timestamp> {
    Ok(Timestamp::from_millis(int(row, col)?))
}

pub(crate) fn won(row: &SqliteRow, col: &str) -> anyhow::Result<Won> {
    Ok(Won::new(int(row, col)?))
}

pub(crate) fn concert(row: &SqliteRow) -> anyhow::Result<Concert> {
    Ok(Concert {
        id: ConcertId::new(int(row, "id")?)?,
        title: text(row, "title")?,
        artist: text(row, "artist")?,
    })
}

pub(crate) fn schedule(row: &SqliteRow) -> anyhow::Result<Schedule> {
    Ok(Schedule {
        id: ScheduleId::new(int(row, "id")?)?,
        concert_id: ConcertId::new(int(row, "concert_id")?)?,
        starts_at: ts(row, "starts_at_ms")?,
        venue: text(row, "venue")?,
    })
}

pub(crate) fn hold(row: &SqliteRow) -> anyhow::Result<Hold> {
    let status = text(row, "status")?;
    Ok(Hold {
        id: text(row, "id")?.parse::<HoldId>()?,
        user_id: UserId::new(int(row, "user_id")?)?,
        concert_id: ConcertId::new(int(row, "concert_id")?)?,
        schedule_id: ScheduleId::new(int(row, "schedule_id")?)?,
        seat_number: SeatNumber::new(int(row, "seat_number")?)?,
        price: won(row, "price")?,
        expires_at: ts(row, "expires_at_ms")?,
        status: HoldStatus::parse(&status)
            .with_context(|| format!("unknown hold status {status}"))?,
    })
}

pub(crate) fn reservation(row: &SqliteRow) -> anyhow::Result<Reservation> {
    Ok(Reservation {
        id: text(row, "id")?.parse::<ReservationId>()?,
        user_id: UserId::new(int(row, "user_id")?)?,
        concert_id: ConcertId::new(int(row, "concert_id")?)?,
        schedule_id: ScheduleId::new(int(row, "schedule_id")?)?,
        seat_number: SeatNumber::new(int(row, "seat_number")?)?,
        price: won(row, "price")?,
        hold_id: text(row, "hold_id")?.parse::<HoldId>()?,
        confirmed_at: ts(row, "confirmed_at_ms")?,
    })
}

pub(crate) fn event(row: &SqliteRow) -> anyhow::Result<OutboxEvent> {
    Ok(OutboxEvent {
        id: text(row, "id")?.parse::<EventId>()?,
        event_type: text(row, "event_type")?,
        schema_version: u16::try_from(int(row, "schema_version")?)?,
        aggregate_key: text(row, "aggregate_key")?,
        payload: text(row, "payload")?,
        created_at: ts(row, "created_at_ms")?,
    })
}
