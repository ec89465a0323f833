//! Prometheus metrics, through the `metrics` facade and its Prometheus
//! exporter (rendered by `GET /metrics`, no listener of its own):
//!
//! - `boxoffice_http_requests_total{method, route, status}` and
//!   `boxoffice_http_request_duration_seconds{method, route}` (a histogram),
//!   counted by [`track`] for every request, by route template;
//! - `boxoffice_holds_total`, `boxoffice_payments_total`,
//!   `boxoffice_charges_total` and `boxoffice_cancellations_total{outcome}`: each attempt that reached its use
//!   case, by [`outcome`]; `boxoffice_holds_ended_total{how}`, holds that
//!   ended unpaid (`released` here, `expired` by the sweeper);
//! - `boxoffice_room_round_admitted{concert}`, a histogram of the fans each
//!   admission round made ACTIVE (recorded by the admission worker);
//! - the figures read at each scrape ([`scrape`]): per concert, the fans in
//!   the pre-queue, in line and ACTIVE, those admitted so far, the seats by
//!   status and the revenue; the outbox's backlog and lag; the open token
//!   streams and their refresh calls.
//!
//! The recorder is the process's global one, installed once.

use crate::{ApiError, ApiState};
use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use boxoffice_core::domain::delivery::DATA_PLATFORM_CONSUMER;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;
use std::time::Instant;

const REQUEST_SECONDS: &str = "boxoffice_http_request_duration_seconds";

/// From half a millisecond to ten seconds: a hold answers in about one,
/// a payment in a few, and a request past ten has failed its fan.
const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Redis answers in tenths of a millisecond when well.
const REDIS_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
];

/// Named by the Redis adapters, which record it; bucketed here.
const REDIS_COMMAND_SECONDS: &str = "boxoffice_redis_command_duration_seconds";

/// Named by the store, which records it; bucketed here.
const POOL_ACQUIRE_SECONDS: &str = "boxoffice_db_pool_acquire_seconds";

/// The exporter's handle, installing the recorder the first time.
pub(crate) fn handle() -> &'static PrometheusHandle {
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Full(REQUEST_SECONDS.to_owned()), LATENCY_BUCKETS)
            .and_then(|b| {
                b.set_buckets_for_metric(
                    Matcher::Full(POOL_ACQUIRE_SECONDS.to_owned()),
                    LATENCY_BUCKETS,
                )
            })
            .and_then(|b| {
                b.set_buckets_for_metric(
                    Matcher::Full(REDIS_COMMAND_SECONDS.to_owned()),
                    REDIS_BUCKETS,
                )
            })
            .and_then(|b| {
                b.set_buckets_for_metric(
                    Matcher::Full("boxoffice_room_round_admitted".to_owned()),
                    &[
                        0.0, 1.0, 10.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0, 5000.0,
                    ],
                )
            })
            .and_then(|b| {
                b.set_buckets_for_metric(
                    Matcher::Full("boxoffice_outbox_relay_batch_events".to_owned()),
                    &[
                        0.0, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0,
                    ],
                )
            })
            .map(PrometheusBuilder::build_recorder);
        match recorder {
            Ok(recorder) => {
                let handle = recorder.handle();
                // Fails only when a recorder is installed already; this
                // handle then renders nothing but what is set on it below.
                if metrics::set_global_recorder(recorder).is_err() {
                    tracing::warn!("a metrics recorder was installed already");
                }
                describe();
                process_metrics().describe();
                handle
            }
            Err(err) => {
                tracing::error!(error = %err, "metrics recorder not built");
                PrometheusBuilder::new().build_recorder().handle()
            }
        }
    })
}

fn describe() {
    metrics::describe_counter!(
        "boxoffice_http_requests_total",
        "Answered requests, by method, route template and status."
    );
    metrics::describe_histogram!(
        REQUEST_SECONDS,
        metrics::Unit::Seconds,
        "Time to answer a request (to its headers), by method and route template."
    );
    metrics::describe_counter!(
        "boxoffice_http_shed_total",
        "Requests answered 503 at once because their class had its budget of requests in flight."
    );
    metrics::describe_counter!(
        "boxoffice_http_connections_refused_total",
        "Connections answered 503 and closed because the listener had server.max_connections open."
    );
    metrics::describe_counter!(
        "boxoffice_holds_total",
        "Hold attempts, by outcome: held, or the refusal's error code."
    );
    metrics::describe_counter!(
        "boxoffice_holds_ended_total",
        "Holds that ended unpaid, by how: released by their fan, or expired (marked by the sweeper)."
    );
    // Both series exist from the start: a dashboard and `rate()` see 0,
    // not nothing, before the first hold ends.
    for how in ["released", "expired"] {
        metrics::counter!("boxoffice_holds_ended_total", "how" => how).increment(0);
    }
    metrics::describe_counter!(
        "boxoffice_organiser_refunds_total",
        "Reservations of called-off dates this instance's refund round refunded in full."
    );
    metrics::counter!("boxoffice_organiser_refunds_total").increment(0);
    metrics::describe_counter!(
        "boxoffice_waitlist_offers_total",
        "Waiting-list offers, by what happened: offered (a returned seat held for the next fan), bought, or lapsed (passed on unpaid). Counted by this instance's offer round."
    );
    for what in ["offered", "bought", "lapsed"] {
        metrics::counter!("boxoffice_waitlist_offers_total", "what" => what).increment(0);
    }
    metrics::describe_histogram!(
        "boxoffice_room_round_admitted",
        "Fans one admission round of a concert made ACTIVE (rounds this instance ran)."
    );
    metrics::describe_counter!(
        "boxoffice_payments_total",
        "Payment attempts, by outcome: paid, or the refusal's error code."
    );
    metrics::describe_counter!(
        "boxoffice_cancellations_total",
        "Reservation cancellations, by outcome: cancelled, or the refusal's error code."
    );
    metrics::describe_counter!(
        "boxoffice_charges_total",
        "Balance charges, by outcome: charged, or the refusal's error code."
    );
    metrics::describe_gauge!(
        "boxoffice_room_fans",
        "Fans in a concert's room now, by state: pre_queued, waiting, active."
    );
    metrics::describe_counter!(
        "boxoffice_room_abandoned_total",
        "Fans a concert's room lost while they waited: they stopped polling for abandonAfterSecs."
    );
    metrics::describe_counter!(
        "boxoffice_room_admitted_total",
        "Fans a concert's room has admitted."
    );
    metrics::describe_gauge!(
        "boxoffice_seats",
        "A concert's seats over all its dates, by status: available, held, sold."
    );
    metrics::describe_counter!(
        "boxoffice_revenue_won_total",
        "Whole won taken by a concert's reservations."
    );
    metrics::describe_gauge!(
        "boxoffice_outbox_unpublished",
        "Events committed but not yet published."
    );
    metrics::describe_gauge!(
        "boxoffice_outbox_lag_seconds",
        metrics::Unit::Seconds,
        "Age of the oldest unpublished event."
    );
    metrics::describe_gauge!(
        "boxoffice_token_streams_open",
        "Token event streams open on this instance."
    );
    metrics::describe_gauge!(
        "boxoffice_dead_letters",
        "Dead letters not replayed, by consumer group."
    );
    metrics::describe_histogram!(
        "boxoffice_outbox_relay_batch_events",
        "Events one relay step published (0 when the outbox was empty)."
    );
    metrics::describe_counter!(
        "boxoffice_platform_deliveries_total",
        "Delivery attempts to the data platform, by outcome: delivered, skipped (a repeat), retried, dead_lettered."
    );
    metrics::describe_histogram!(
        REDIS_COMMAND_SECONDS,
        metrics::Unit::Seconds,
        "Time a Redis command (a script: EVALSHA) or pipeline took, by command."
    );
    metrics::describe_counter!(
        "boxoffice_redis_errors_total",
        "Redis commands that failed (no answer, a dropped connection, an error reply), by command."
    );
    metrics::describe_gauge!(
        "boxoffice_kafka_producer_queue_messages",
        "Records in the Kafka producer's queue, not yet acknowledged by the brokers."
    );
    metrics::describe_counter!(
        "boxoffice_kafka_producer_errors_total",
        "Failed Kafka produce requests (all brokers' txerrs) since the producer was made."
    );
    metrics::describe_gauge!(
        "boxoffice_kafka_consumer_lag",
        "Records a consumer group's member has yet to read, by group, topic and partition."
    );
    metrics::describe_gauge!(
        "boxoffice_db_pool_size",
        "The most PostgreSQL connections this instance's pool may open (database.max_connections)."
    );
    metrics::describe_gauge!(
        "boxoffice_db_pool_connections",
        "PostgreSQL connections of this instance's pool, by state: idle, in_use (read every second)."
    );
    metrics::describe_histogram!(
        POOL_ACQUIRE_SECONDS,
        metrics::Unit::Seconds,
        "Time a statement waited for a pooled database connection (a transaction: for its connection and BEGIN)."
    );
    metrics::describe_counter!(
        "boxoffice_token_stream_refresh_calls_total",
        "Waiting-room calls made to refresh the token streams (one per concert with streams per refresh)."
    );
}

/// Counts and times every request by its route template (`unmatched` for
/// a path no route knows, so that scanners cannot grow the label set).
pub(crate) async fn track(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = request.method().as_str().to_owned();
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    metrics::counter!(
        "boxoffice_http_requests_total",
        "method" => method.clone(),
        "route" => route.clone(),
        "status" => status
    )
    .increment(1);
    metrics::histogram!(REQUEST_SECONDS, "method" => method, "route" => route)
        .record(started.elapsed().as_secs_f64());
    response
}

/// Counts one attempt at a booking or money step by its outcome: `success`,
/// or the code of its refusal (`SEAT_ALREADY_HELD`, `INSUFFICIENT_BALANCE`,
/// `SERVICE_UNAVAILABLE`...), a label set as small and stable as the codes.
pub(crate) fn outcome<T>(
    metric: &'static str,
    result: &Result<T, ApiError>,
    success: &'static str,
) {
    let outcome = match result {
        Ok(_) => success,
        Err(err) => err.code.as_str(),
    };
    metrics::counter!(metric, "outcome" => outcome).increment(1);
}

/// Sets what a scrape reads now, then renders every metric.
pub(crate) async fn scrape(state: &ApiState) -> anyhow::Result<String> {
    let handle = handle();
    for live in state.app.sales_now().await? {
        let sale = live.sample;
        let concert = sale.concert.to_string();
        let fans = |state: &'static str| metrics::gauge!("boxoffice_room_fans", "concert" => concert.clone(), "state" => state);
        fans("pre_queued").set(count(sale.pre_queued));
        fans("waiting").set(count(sale.waiting));
        fans("active").set(count(sale.active));
        metrics::counter!("boxoffice_room_admitted_total", "concert" => concert.clone())
            .absolute(sale.admitted_total);
        metrics::counter!("boxoffice_room_abandoned_total", "concert" => concert.clone())
            .absolute(live.abandoned_total);
        let seats = |status: &'static str| metrics::gauge!("boxoffice_seats", "concert" => concert.clone(), "status" => status);
        seats("available").set(count(sale.seats.available));
        seats("held").set(count(sale.seats.held));
        seats("sold").set(count(sale.seats.sold));
        metrics::counter!("boxoffice_revenue_won_total", "concert" => concert.clone())
            .absolute(u64::try_from(sale.seats.revenue.amount()).unwrap_or(0));
    }
    let lag = state.app.outbox_lag().await?;
    metrics::gauge!("boxoffice_outbox_unpublished").set(count(lag.backlog.unpublished));
    metrics::gauge!("boxoffice_outbox_lag_seconds").set(lag.lag_ms as f64 / 1_000.0);
    dead_letters(state.app.unreplayed_dead_letters().await?);
    // The process: CPU seconds, resident memory, open descriptors, threads.
    process_metrics().collect();
    metrics::gauge!("boxoffice_token_streams_open").set(count(state.streams.open() as u64));
    metrics::counter!("boxoffice_token_stream_refresh_calls_total")
        .absolute(state.streams.refresh_calls());
    Ok(handle.render())
}

/// The standard `process_*` series (Prometheus' client conventions), read from `/proc`.
fn process_metrics() -> &'static metrics_process::Collector {
    static COLLECTOR: OnceLock<metrics_process::Collector> = OnceLock::new();
    COLLECTOR.get_or_init(metrics_process::Collector::default)
}

/// Sets each consumer group's gauge, at 0 for the data-platform group
/// and for any group seen before that has none left.
fn dead_letters(counts: Vec<(String, u64)>) {
    static SEEN: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
    let mut seen = SEEN
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if seen.is_empty() {
        seen.push(DATA_PLATFORM_CONSUMER.to_owned());
    }
    for (consumer, _) in &counts {
        if !seen.contains(consumer) {
            seen.push(consumer.clone());
        }
    }
    for consumer in seen.iter() {
        let letters = counts
            .iter()
            .find(|(c, _)| c == consumer)
            .map_or(0, |(_, n)| *n);
        metrics::gauge!("boxoffice_dead_letters", "consumer" => consumer.clone())
            .set(count(letters));
    }
}

/// A count as a gauge's value (exact up to 2^53).
fn count(n: u64) -> f64 {
    n as f64
}
