//! API tests: the real server on port 0 over a fresh SQLite file, driven over
//! HTTP. Time is a manual clock and background steps are called directly, so
//! nothing sleeps. One binary for every area, so linking happens once.
//!
//! Layout:
//! - `harness`: spawning a server and calling it.
//! - `journey`: from queue token to paid seat, end to end.
//! - `cancellations`: cancelling for a refund, its refusals, double clicks
//!   and a crashed request; the organiser calling a concert or a date off
//!   and the refund round.
//! - `queue`: positions, admission, abandonment, expiry.
//! - `room`: the operator's room over HTTP (states, rate, scheduled sale,
//!   lottery, sold out), token event streams, and both across instances.
//! - `cluster`: two instances on one PostgreSQL and one Redis.
//! - `concurrency`: races on one seat, one balance, one hold.
//! - `connections`: the listener's timeouts and connection cap, over raw sockets.
//! - `processes`: two real `boxoffice` processes; Redis losing its data.
//! - `outages`: Redis or PostgreSQL going away and coming back (`proxy` cuts them).
//! - `errors`: every refusal answers its documented code and changes nothing.
//! - `doc_numbers`: numbers the docs state against the code that decides
//!   them (docs/API.md's error codes, README's defaults, the store suite's size).
//! - `identity`: refused access tokens, identity providers' keys, the
//!   trusted-header mode, the dev sign-in, admins.
//! - `idor`: one fan can use nothing of another's.
//! - `limits`: rate limits per fan and per address.
//! - `observability`: a real process's log (request ids, access lines, no
//!   credentials) and metrics (checked by promtool, counting a journey).
//! - `bot_gate`: proof-of-work challenges on token requests.
//! - `pages`: the browser pages as files, the console's samples, the
//!   embedded mode's admin key.
//! - `revocation` (in `cluster`): admission passes refused on another instance.
//! - `pipeline`: outbox to Kafka (plain or over mutual TLS, or the inbox) to the mock data platform,
//!   through broker outages, consumer kills, failures and dead letters.
//!   These run the relay and consumer loops on real time.

// A failed expectation in the harness is a failed test: panicking is the point.
#![allow(clippy::expect_used, clippy::unwrap_used)]

mod baskets;
mod bot_gate;
mod cancellations;
mod cluster;
mod concurrency;
mod connections;
mod doc_numbers;
mod errors;
mod harness;
mod identity;
mod idor;
mod journey;
mod limits;
mod observability;
mod outages;
mod pages;
mod pipeline;
mod processes;
mod proxy;
mod queue;
mod room;
mod startup;
mod tls;
