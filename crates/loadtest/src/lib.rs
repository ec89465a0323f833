//! boxoffice-loadtest: measuring boxoffice.
//!
//! Layout:
//! - [`client`]: the API as the generator calls it (loopback targets only).
//! - [`metrics`]: every request recorded; per-endpoint figures and a per-second timeline.
//! - [`runner`]: the open (constant rate) and closed (N users) models, bounded in time and count.
//! - [`scenarios`]: enter, poll, browse, hold, hold-contended, pay and the rush.
//! - [`report`]: JSON, Markdown and an SVG chart.
//! - [`stats`]: latency percentiles and throughput of a batch of timed operations.
//! - `bin/loadtest.rs`: `boxoffice-loadtest`, the command.
//! - `bin/concurrency_bench.rs`: `boxoffice-concurrency-bench`, the store's
//!   concurrency strategies measured on PostgreSQL (docs/concurrency.md).
//! - `bin/queue_latency.rs`: `boxoffice-queue-latency`, the time from token
//!   issue to a position in line (docs/events.md).

pub mod client;
pub mod metrics;
pub mod report;
pub mod runner;
pub mod scenarios;
pub mod stats;
