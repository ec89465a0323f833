//! One module per area of the API. Handlers parse, call one use case and
//! shape the answer; the rules live in the use cases.

pub mod account;
pub mod admin;
pub mod catalog;
pub mod dev;
pub mod events;
pub mod health;
pub mod holds;
pub mod payments;
pub mod queue;
pub mod room;
pub mod waitlist;
