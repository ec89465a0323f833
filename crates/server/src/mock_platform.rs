//! A stand-in for the external data platform, for development and tests
//! (`boxoffice dataplatform --listen ADDR`). It records every delivery by
//! event id, counts repeats, and can be told to fail or slow down:
//!
//! - `POST /events`: a delivery (the body [`HttpDataPlatform`] sends).
//!   Answers 503 while told to fail, 500 for an event id told to always
//!   fail, else 200. A repeat of a recorded id answers 200 and is counted
//!   as a duplicate, not recorded again.
//! - `HEAD /events`: a probe; 503 while told to fail all, else 200.
//! - `GET /report`: deliveries in arrival order, duplicates, failures.
//! - `PUT /behaviour`: `{"failNext": n, "failAll": bool, "refuseAll": bool,
//!   "failEventIds": [...], "delayMs": n}`: `failAll` is an outage (probes
//!   fail too), `refuseAll` a platform that answers probes but refuses
//!   every event (500).
//!
//! [`HttpDataPlatform`]: crate::dataplatform::HttpDataPlatform

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// How the platform misbehaves.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Behaviour {
    /// Answer 503 to the next `fail_next` deliveries.
    pub fail_next: u64,
    /// Answer 503 to every delivery and probe: the platform is down.
    pub fail_all: bool,
    /// Answer 500 to every delivery, but 200 to probes: the platform is up
    /// and refuses what it is sent.
    pub refuse_all: bool,
    /// Answer 500 to these event ids, always.
    pub fail_event_ids: Vec<String>,
    /// Wait this long before answering.
    pub delay_ms: u64,
}

/// What the platform has seen.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// Event ids recorded, in arrival order, each once.
    pub delivered: Vec<String>,
    /// Deliveries of an id already recorded (answered 200, not recorded again).
    pub duplicates: u64,
    /// Event ids delivered more than once.
    pub duplicated_ids: Vec<String>,
    /// Deliveries answered with an error.
    pub failed: u64,
    /// Deliveries without an `Idempotency-Key` equal to their event id.
    pub missing_idempotency_keys: u64,
    /// The `traceparent` and `x-request-id` each recorded event came with,
    /// by event id (none when it came without).
    pub traces: std::collections::BTreeMap<String, DeliveryTrace>,
}

/// The trace headers of a delivery.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryTrace {
    pub traceparent: String,
    pub request_id: String,
}

#[derive(Debug, Default)]
struct Recorder {
    behaviour: Behaviour,
    /// Event ids recorded, in arrival order, each once.
    delivered: Vec<String>,
    seen: HashSet<String>,
    /// Repeated deliveries per event id.
    repeats: HashMap<String, u64>,
    failed: u64,
    missing_idempotency_keys: u64,
    traces: std::collections::BTreeMap<String, DeliveryTrace>,
}

/// The mock platform's state; clone it to inspect or steer a running one.
#[derive(Debug, Clone, Default)]
pub struct MockPlatform {
    inner: Arc<Mutex<Recorder>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Delivery {
    event_id: String,
}

/// A probe: down while every delivery fails.
async fn probe(State(platform): State<MockPlatform>) -> StatusCode {
    if platform.with(|r| r.behaviour.fail_all) {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    }
}

impl MockPlatform {
    pub fn router(&self) -> Router {
        Router::new()
            .route("/events", post(receive).head(probe))
            .route("/report", get(report))
            .route("/behaviour", put(behave))
            .with_state(self.clone())
    }

    fn with<T>(&self, f: impl FnOnce(&mut Recorder) -> T) -> T {
        f(&mut self.inner.lock().unwrap_or_else(PoisonError::into_inner))
    }

    pub fn report(&self) -> Report {
        self.with(|r| {
            let mut duplicated_ids: Vec<String> = r.repeats.keys().cloned().collect();
            duplicated_ids.sort();
            Report {
                delivered: r.delivered.clone(),
                duplicates: r.repeats.values().sum(),
                duplicated_ids,
                failed: r.failed,
                missing_idempotency_keys: r.missing_idempotency_keys,
                traces: r.traces.clone(),
            }
        })
    }

    pub fn set_behaviour(&self, behaviour: Behaviour) {
        self.with(|r| r.behaviour = behaviour);
    }

    /// Decides the answer to one delivery and records it.
    fn take(
        &self,
        delivery: &Delivery,
        key: Option<&str>,
        trace: Option<DeliveryTrace>,
    ) -> (StatusCode, Duration) {
        self.with(|r| {
            let delay = Duration::from_millis(r.behaviour.delay_ms);
            if key != Some(delivery.event_id.as_str()) {
                r.missing_idempotency_keys += 1;
            }
            let failing = if r.behaviour.refuse_all
                || r.behaviour.fail_event_ids.contains(&delivery.event_id)
            {
                Some(StatusCode::INTERNAL_SERVER_ERROR)
            } else if r.behaviour.fail_all {
                Some(StatusCode::SERVICE_UNAVAILABLE)
            } else if r.behaviour.fail_next > 0 {
                r.behaviour.fail_next -= 1;
                Some(StatusCode::SERVICE_UNAVAILABLE)
            } else {
                None
            };
            if let Some(status) = failing {
                r.failed += 1;
                return (status, delay);
            }
            if r.seen.insert(delivery.event_id.clone()) {
                r.delivered.push(delivery.event_id.clone());
                if let Some(trace) = trace {
                    r.traces.insert(delivery.event_id.clone(), trace);
                }
            } else {
                *r.repeats.entry(delivery.event_id.clone()).or_default() += 1;
            }
            (StatusCode::OK, delay)
        })
    }
}

async fn receive(
    State(platform): State<MockPlatform>,
    headers: HeaderMap,
    Json(delivery): Json<Delivery>,
) -> StatusCode {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let trace = text("traceparent").map(|traceparent| DeliveryTrace {
        traceparent: traceparent.to_owned(),
        request_id: text("x-request-id").unwrap_or_default().to_owned(),
    });
    let (status, delay) = platform.take(&delivery, text("idempotency-key"), trace);
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    status
}

async fn report(State(platform): State<MockPlatform>) -> Json<Report> {
    Json(platform.report())
}

async fn behave(
    State(platform): State<MockPlatform>,
    Json(behaviour): Json<Behaviour>,
) -> StatusCode {
    platform.set_behaviour(behaviour);
    StatusCode::NO_CONTENT
}

/// Serves the mock platform on `listener` until the process ends.
pub async fn serve(
    listener: tokio::net::TcpListener,
    platform: MockPlatform,
) -> anyhow::Result<()> {
    axum::serve(listener, platform.router()).await?;
    Ok(())
}
