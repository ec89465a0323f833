//! boxoffice-server: the `boxoffice` binary's library. Configuration,
//! wiring of adapters, background workers, demo data and serving, kept in a
//! library so that API tests start the real server in-process.
//!
//! Layout:
//! - [`config`]: [`config::Settings`] (defaults, TOML file, `BOXOFFICE__*` environment).
//! - [`wiring`]: picks adapters from the settings and builds the app.
//! - [`workers`]: admission, hold sweeper and outbox relay loops.
//! - [`consumers`]: the consumer loop forwarding events to the data platform.
//! - [`dataplatform`]: [`dataplatform::HttpDataPlatform`], the platform over HTTP.
//! - [`mock_platform`]: a data platform to develop and test against.
//! - [`demo`]: demo concerts for an empty database.
//! - [`serve`]: binding, serving and graceful shutdown.

pub mod config;
pub mod consumers;
pub mod dataplatform;
pub mod demo;
pub mod mock_platform;
pub mod serve;
pub mod telemetry;
pub mod wiring;
pub mod workers;
