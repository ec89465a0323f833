//! boxoffice-loadtest: measuring boxoffice.
//!
//! Layout:
//! - [`stats`]: latency percentiles and throughput of a batch of timed operations.
//! - `bin/concurrency_bench.rs`: `boxoffice-concurrency-bench`, the store's
//!   concurrency strategies measured on PostgreSQL (docs/concurrency.md).

pub mod stats;
