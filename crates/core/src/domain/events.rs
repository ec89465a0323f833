//! Events that other systems learn of. They are written to the outbox in the
//! same transaction as the change they describe, then relayed.
//!
//! Payloads are JSON with camelCase fields; `schema_version` is bumped on any
//! incompatible change (schemas in docs/events.md).

use super::cancellation::{CancellationReceipt, Canceller};
use super::reservation::Reservation;
use super::{ConcertId, EventId, ReservationId, ScheduleId, Timestamp, UserId, Won};
use serde::{Deserialize, Serialize};

pub const RESERVATION_CONFIRMED: &str = "ReservationConfirmed";
/// A fan cancelled a reservation for a refund. Keyed by reservation id and
/// published to the same topic as `ReservationConfirmed`, so a consumer
/// sees a reservation's confirmation before its cancellation.
pub const RESERVATION_CANCELLED: &str = "ReservationCancelled";
pub const BALANCE_CHARGED: &str = "BalanceCharged";
/// A request to join a concert's line, in queue-entry-through-Kafka mode.
/// Not an outbox event: it goes straight to the `queue.entered` topic,
/// because issuing tokens must not write SQL rows.
pub const QUEUE_ENTERED: &str = "QueueEntered";
/// A concert's room moved or had its settings changed (topic `room.changed`).
pub const ROOM_CHANGED: &str = "RoomChanged";

/// An event as stored in the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxEvent {
    pub id: EventId,
    pub event_type: String,
    pub schema_version: u16,
    /// The aggregate the event is about (reservation id, user id): the
    /// partition key, so that events of one aggregate stay in order.
    pub aggregate_key: String,
    pub payload: String,
    pub created_at: Timestamp,
    /// The request that wrote it, when one did: stamped by the store and
    /// passed on as Kafka and HTTP headers (docs/events.md).
    pub trace: Option<EventTrace>,
}

/// Where an event came from, for following it across systems.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventTrace {
    /// W3C Trace Context `traceparent` of the request.
    pub traceparent: String,
    /// The request's `x-request-id`.
    pub request_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReservationConfirmed {
    pub reservation_id: ReservationId,
    pub user_id: UserId,
    pub concert_id: ConcertId,
    pub schedule_id: ScheduleId,
    pub seat_number: u8,
    pub price: Won,
    pub confirmed_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReservationCancelled {
    pub reservation_id: ReservationId,
    pub user_id: UserId,
    pub concert_id: ConcertId,
    pub schedule_id: ScheduleId,
    pub seat_number: u8,
    /// What the seat was bought for: `refund` + `fee`.
    pub price: Won,
    /// Paid back to the fan's balance.
    pub refund: Won,
    /// Kept.
    pub fee: Won,
    pub cancelled_at: Timestamp,
    /// `FAN`, or `ORGANISER` when the date was called off; events written
    /// before the organiser could cancel read as `FAN`.
    #[serde(default)]
    pub cancelled_by: Canceller,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BalanceCharged {
    pub user_id: UserId,
    pub amount: Won,
    pub balance: Won,
    pub charged_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QueueEntered {
    pub concert_id: ConcertId,
    pub user_id: UserId,
    /// The id of the reserved token (32 hex digits), placed in line when
    /// this entry is consumed. Not a credential: every call with a token
    /// needs its signed ticket, which never leaves the fan and the service.
    /// Version 1 named this field `token`; both versions decode.
    #[serde(alias = "token")]
    pub ticket_id: String,
    pub requested_at: Timestamp,
}

/// A room's state and settings after a change, and what changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RoomChanged {
    pub concert_id: ConcertId,
    /// `SCHEDULED`, `OPEN`, `PAUSED`, `PASS_THROUGH` or `CLOSED`.
    pub state: String,
    pub previous_state: String,
    /// Why: `operator` for an admin's change, `sale opened` for the draw.
    pub reason: String,
    /// The fields that changed, by their API names.
    pub changed: Vec<String>,
    pub admit_batch: u32,
    pub admit_interval_secs: u64,
    pub max_active: u32,
    pub active_ttl_secs: u64,
    pub abandon_after_secs: u64,
    pub sale_opens_at: Option<Timestamp>,
    pub sale_closes_at: Option<Timestamp>,
    pub changed_at: Timestamp,
}

/// A decoded event, for handlers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DomainEvent {
    ReservationConfirmed(ReservationConfirmed),
    ReservationCancelled(ReservationCancelled),
    BalanceCharged(BalanceCharged),
    QueueEntered(QueueEntered),
    RoomChanged(RoomChanged),
}

impl DomainEvent {
    /// Decodes a stored event; `None` for a type or version this build does not know.
    pub fn decode(event: &OutboxEvent) -> Option<DomainEvent> {
        match (event.event_type.as_str(), event.schema_version) {
            (RESERVATION_CONFIRMED, 1) => serde_json::from_str(&event.payload)
                .ok()
                .map(DomainEvent::ReservationConfirmed),
            (RESERVATION_CANCELLED, 1) => serde_json::from_str(&event.payload)
                .ok()
                .map(DomainEvent::ReservationCancelled),
            (BALANCE_CHARGED, 1) => serde_json::from_str(&event.payload)
                .ok()
                .map(DomainEvent::BalanceCharged),
            (QUEUE_ENTERED, 1 | 2) => serde_json::from_str(&event.payload)
                .ok()
                .map(DomainEvent::QueueEntered),
            (ROOM_CHANGED, 1) => serde_json::from_str(&event.payload)
                .ok()
                .map(DomainEvent::RoomChanged),
            _ => None,
        }
    }
}

pub fn reservation_confirmed(id: EventId, reservation: &Reservation) -> OutboxEvent {
    let body = ReservationConfirmed {
        reservation_id: reservation.id,
        user_id: reservation.user_id,
        concert_id: reservation.concert_id,
        schedule_id: reservation.schedule_id,
        seat_number: reservation.seat_number.get(),
        price: reservation.price,
        confirmed_at: reservation.confirmed_at,
    };
    OutboxEvent {
        id,
        event_type: RESERVATION_CONFIRMED.to_owned(),
        schema_version: 1,
        aggregate_key: reservation.id.to_string(),
        payload: to_json(&body),
        created_at: reservation.confirmed_at,
        trace: None,
    }
}

pub fn reservation_cancelled(
    id: EventId,
    user_id: UserId,
    receipt: &CancellationReceipt,
) -> OutboxEvent {
    let body = ReservationCancelled {
        reservation_id: receipt.reservation_id,
        user_id,
        concert_id: receipt.concert_id,
        schedule_id: receipt.schedule_id,
        seat_number: receipt.seat_number.get(),
        price: receipt.price,
        refund: receipt.refund,
        fee: receipt.fee,
        cancelled_at: receipt.cancelled_at,
        cancelled_by: receipt.by,
    };
    OutboxEvent {
        id,
        event_type: RESERVATION_CANCELLED.to_owned(),
        schema_version: 1,
        aggregate_key: receipt.reservation_id.to_string(),
        payload: to_json(&body),
        created_at: receipt.cancelled_at,
        trace: None,
    }
}

pub fn balance_charged(id: EventId, body: BalanceCharged) -> OutboxEvent {
    OutboxEvent {
        id,
        event_type: BALANCE_CHARGED.to_owned(),
        schema_version: 1,
        aggregate_key: body.user_id.to_string(),
        payload: to_json(&body),
        created_at: body.charged_at,
        trace: None,
    }
}

/// Keyed by concert, so each concert's entries keep their order in one partition.
pub fn queue_entered(id: EventId, body: QueueEntered) -> OutboxEvent {
    OutboxEvent {
        id,
        event_type: QUEUE_ENTERED.to_owned(),
        schema_version: 2,
        aggregate_key: body.concert_id.to_string(),
        payload: to_json(&body),
        created_at: body.requested_at,
        trace: None,
    }
}

/// Keyed by concert, so a room's changes stay in order.
pub fn room_changed(id: EventId, body: RoomChanged) -> OutboxEvent {
    OutboxEvent {
        id,
        event_type: ROOM_CHANGED.to_owned(),
        schema_version: 1,
        aggregate_key: body.concert_id.to_string(),
        payload: to_json(&body),
        created_at: body.changed_at,
        trace: None,
    }
}

fn to_json<T: Serialize>(body: &T) -> String {
    // These payloads are plain structs of numbers and strings; serialising
    // them cannot fail, and an empty object would still be decodable as "unknown".
    serde_json::to_string(body).unwrap_or_else(|_| "{}".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{HoldId, SeatNumber};
    use uuid::Uuid;

    #[test]
    fn a_reservation_event_round_trips_and_is_keyed_by_reservation() {
        let reservation = Reservation {
            id: ReservationId::from_uuid(Uuid::from_u128(7)),
            user_id: UserId::new(3).unwrap(),
            concert_id: ConcertId::new(1).unwrap(),
            schedule_id: ScheduleId::new(2).unwrap(),
            seat_number: SeatNumber::new(12).unwrap(),
            price: Won::new(50_000),
            hold_id: HoldId::from_uuid(Uuid::from_u128(9)),
            confirmed_at: Timestamp::from_millis(1_000),
            cancellation: None,
        };
        let event = reservation_confirmed(EventId::from_uuid(Uuid::from_u128(1)), &reservation);
        assert_eq!(event.aggregate_key, reservation.id.to_string());
        assert!(event.payload.contains("\"seatNumber\":12"));
        match DomainEvent::decode(&event) {
            Some(DomainEvent::ReservationConfirmed(body)) => {
                assert_eq!(body.concert_id, reservation.concert_id);
                assert_eq!(body.price, Won::new(50_000));
            }
            other => panic!("decoded {other:?}"),
        }
    }

    #[test]
    fn a_cancellation_event_round_trips_under_its_reservations_key() {
        let receipt = CancellationReceipt {
            reservation_id: ReservationId::from_uuid(Uuid::from_u128(7)),
            concert_id: ConcertId::new(1).unwrap(),
            schedule_id: ScheduleId::new(2).unwrap(),
            seat_number: SeatNumber::new(12).unwrap(),
            price: Won::new(50_000),
            refund: Won::new(45_000),
            fee: Won::new(5_000),
            balance: Won::new(45_000),
            cancelled_at: Timestamp::from_millis(2_000),
            by: Canceller::Organiser,
        };
        let event = reservation_cancelled(
            EventId::from_uuid(Uuid::from_u128(1)),
            UserId::new(3).unwrap(),
            &receipt,
        );
        assert_eq!(event.aggregate_key, receipt.reservation_id.to_string());
        match DomainEvent::decode(&event) {
            Some(DomainEvent::ReservationCancelled(body)) => {
                assert_eq!(body.user_id, UserId::new(3).unwrap());
                assert_eq!((body.refund, body.fee), (Won::new(45_000), Won::new(5_000)));
                assert_eq!(body.cancelled_at, Timestamp::from_millis(2_000));
                assert_eq!(body.cancelled_by, Canceller::Organiser);
            }
            other => panic!("decoded {other:?}"),
        }
        // An event written before `cancelledBy` existed reads as the fan's.
        let mut old: serde_json::Value = serde_json::from_str(&event.payload).unwrap();
        old.as_object_mut().unwrap().remove("cancelledBy");
        let old_event = OutboxEvent {
            payload: old.to_string(),
            ..event
        };
        match DomainEvent::decode(&old_event) {
            Some(DomainEvent::ReservationCancelled(body)) => {
                assert_eq!(body.cancelled_by, Canceller::Fan);
            }
            other => panic!("decoded {other:?}"),
        }
    }

    #[test]
    fn queue_entries_of_both_versions_decode_to_the_ticket_id() {
        let v1 = OutboxEvent {
            id: EventId::from_uuid(Uuid::from_u128(1)),
            event_type: QUEUE_ENTERED.to_owned(),
            schema_version: 1,
            aggregate_key: "1".to_owned(),
            payload: r#"{"concertId":1,"userId":2,"token":"ab","requestedAt":5}"#.to_owned(),
            created_at: Timestamp::from_millis(5),
            trace: None,
        };
        let v2 = queue_entered(
            v1.id,
            QueueEntered {
                concert_id: ConcertId::new(1).unwrap(),
                user_id: UserId::new(2).unwrap(),
                ticket_id: "ab".to_owned(),
                requested_at: Timestamp::from_millis(5),
            },
        );
        assert_eq!(v2.schema_version, 2);
        assert!(v2.payload.contains("\"ticketId\":\"ab\""));
        for event in [v1, v2] {
            match DomainEvent::decode(&event) {
                Some(DomainEvent::QueueEntered(entry)) => assert_eq!(entry.ticket_id, "ab"),
                other => panic!("decoded {other:?}"),
            }
        }
    }

    #[test]
    fn unknown_versions_are_not_guessed_at() {
        let mut event = balance_charged(
            EventId::from_uuid(Uuid::from_u128(1)),
            BalanceCharged {
                user_id: UserId::new(1).unwrap(),
                amount: Won::new(5),
                balance: Won::new(5),
                charged_at: Timestamp::from_millis(0),
            },
        );
        assert!(DomainEvent::decode(&event).is_some());
        event.schema_version = 2;
        assert_eq!(DomainEvent::decode(&event), None);
    }
}
