//! Events as Kafka records: the key is the aggregate id, the value the JSON
//! payload, and the event's id, type, schema version and creation time ride
//! in headers, so consumers can deduplicate and decode without parsing the
//! payload first.

use anyhow::{Context, anyhow};
use boxoffice_core::domain::events::{EventTrace, OutboxEvent};
use boxoffice_core::domain::{EventId, Timestamp};
use rdkafka::Message;
use rdkafka::message::{Header, Headers, OwnedHeaders};

pub(crate) const EVENT_ID: &str = "event-id";
pub(crate) const EVENT_TYPE: &str = "event-type";
pub(crate) const SCHEMA_VERSION: &str = "schema-version";
pub(crate) const CREATED_AT_MS: &str = "created-at-ms";
pub(crate) const DEAD_LETTER_ERROR: &str = "dead-letter-error";
/// W3C Trace Context, as in HTTP: the request that wrote the event.
pub(crate) const TRACEPARENT: &str = "traceparent";
pub(crate) const REQUEST_ID: &str = "x-request-id";

pub(crate) fn headers(event: &OutboxEvent) -> OwnedHeaders {
    let id = event.id.to_string();
    let version = event.schema_version.to_string();
    let created = event.created_at.as_millis().to_string();
    let headers = OwnedHeaders::new_with_capacity(6)
        .insert(Header {
            key: EVENT_ID,
            value: Some(&id),
        })
        .insert(Header {
            key: EVENT_TYPE,
            value: Some(&event.event_type),
        })
        .insert(Header {
            key: SCHEMA_VERSION,
            value: Some(&version),
        })
        .insert(Header {
            key: CREATED_AT_MS,
            value: Some(&created),
        });
    match &event.trace {
        None => headers,
        Some(trace) => headers
            .insert(Header {
                key: TRACEPARENT,
                value: Some(&trace.traceparent),
            })
            .insert(Header {
                key: REQUEST_ID,
                value: Some(&trace.request_id),
            }),
    }
}

fn header<'m, M: Message>(message: &'m M, key: &str) -> anyhow::Result<&'m str> {
    let headers = message
        .headers()
        .ok_or_else(|| anyhow!("record has no headers"))?;
    let value = headers
        .iter()
        .find(|h| h.key == key)
        .and_then(|h| h.value)
        .ok_or_else(|| anyhow!("record has no {key} header"))?;
    std::str::from_utf8(value).with_context(|| format!("{key} header is not UTF-8"))
}

/// Decodes a record written by [`headers`] and the publisher.
pub(crate) fn event<M: Message>(message: &M) -> anyhow::Result<OutboxEvent> {
    let text = |bytes: Option<&[u8]>, what: &str| -> anyhow::Result<String> {
        let bytes = bytes.ok_or_else(|| anyhow!("record has no {what}"))?;
        Ok(std::str::from_utf8(bytes)
            .with_context(|| format!("record {what} is not UTF-8"))?
            .to_owned())
    };
    Ok(OutboxEvent {
        id: header(message, EVENT_ID)?.parse::<EventId>()?,
        event_type: header(message, EVENT_TYPE)?.to_owned(),
        schema_version: header(message, SCHEMA_VERSION)?.parse()?,
        aggregate_key: text(message.key(), "key")?,
        payload: text(message.payload(), "value")?,
        created_at: Timestamp::from_millis(header(message, CREATED_AT_MS)?.parse()?),
        // Records written before traces were kept have neither header.
        trace: header(message, TRACEPARENT)
            .ok()
            .map(|traceparent| EventTrace {
                traceparent: traceparent.to_owned(),
                request_id: header(message, REQUEST_ID).unwrap_or_default().to_owned(),
            }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rdkafka::message::{OwnedMessage, Timestamp as KafkaTimestamp};
    use uuid::Uuid;

    #[test]
    fn an_event_survives_the_trip_through_a_record() {
        let sent = OutboxEvent {
            id: EventId::from_uuid(Uuid::now_v7()),
            event_type: "ReservationConfirmed".to_owned(),
            schema_version: 1,
            aggregate_key: Uuid::new_v4().to_string(),
            payload: r#"{"seatNumber":7}"#.to_owned(),
            created_at: Timestamp::from_millis(1_893_456_000_123),
            trace: Some(EventTrace {
                traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".to_owned(),
                request_id: "journey-7".to_owned(),
            }),
        };
        let record = OwnedMessage::new(
            Some(sent.payload.clone().into_bytes()),
            Some(sent.aggregate_key.clone().into_bytes()),
            "reservation.confirmed".to_owned(),
            KafkaTimestamp::NotAvailable,
            0,
            42,
            Some(headers(&sent)),
        );
        assert_eq!(event(&record).unwrap_or_else(|e| panic!("{e}")), sent);
        let untraced = OutboxEvent {
            trace: None,
            ..sent
        };
        let record = OwnedMessage::new(
            Some(untraced.payload.clone().into_bytes()),
            Some(untraced.aggregate_key.clone().into_bytes()),
            "reservation.confirmed".to_owned(),
            KafkaTimestamp::NotAvailable,
            0,
            43,
            Some(headers(&untraced)),
        );
        assert_eq!(event(&record).unwrap_or_else(|e| panic!("{e}")), untraced);
    }

    #[test]
    fn a_record_without_headers_is_refused() {
        let record = OwnedMessage::new(
            Some(b"{}".to_vec()),
            Some(b"k".to_vec()),
            "t".to_owned(),
            KafkaTimestamp::NotAvailable,
            0,
            0,
            None,
        );
        assert!(event(&record).is_err());
    }
}
