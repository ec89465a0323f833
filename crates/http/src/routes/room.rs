//! A concert's waiting room: the operator's controls (`/admin/concerts/{id}/room`)
//! and what everyone may see of it (its state, sale times and lottery).

use crate::ApiState;
use crate::ErrorCode;
use crate::envelope::{Envelope, ErrorBody, ok};
use crate::error::ApiError;
use crate::extract::{Body, PathParam};
use crate::identity::Admin;
use crate::routes::admin::{concert_not_found, concert_param};
use crate::wire::{instant, parse_instant};
use axum::extract::{Query, State};
use axum::response::Response;
use boxoffice_core::domain::room::{self, RoomPhase, RoomState};
use boxoffice_core::domain::{ConcertId, Timestamp};
use boxoffice_core::use_cases::{LotteryReveal, RoomPatch, RoomReport};
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::ToSchema;

/// A change to a room; absent fields stay as they are, and a setting given
/// as `null` goes back to the configured default.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct RoomPatchBody {
    /// `SCHEDULED`, `OPEN`, `PAUSED`, `PASS_THROUGH` or `CLOSED`.
    state: Option<String>,
    /// Fans admitted a minute: sets the batch for the room's interval
    /// (`null`: the default batch).
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<u32>)]
    admit_per_minute: Option<Option<u32>>,
    /// Fans admitted per round (instead of `admitPerMinute`).
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<u32>, minimum = 1, maximum = 100_000)]
    admit_batch: Option<Option<u32>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<u64>, minimum = 1, maximum = 3600)]
    admit_interval_secs: Option<Option<u64>>,
    /// The most fans ACTIVE at once.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<u32>, minimum = 1, maximum = 1_000_000)]
    max_active: Option<Option<u32>>,
    /// How long an admission lasts, 60 to 86400 s.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<u64>, minimum = 60, maximum = 86_400)]
    active_ttl_secs: Option<Option<u64>>,
    /// A waiting fan who does not poll for this long loses their place.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<u64>, minimum = 120, maximum = 86_400)]
    abandon_after_secs: Option<Option<u64>>,
    /// RFC 3339; `null` clears it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, format = DateTime)]
    sale_opens_at: Option<Option<String>>,
    /// RFC 3339; `null` clears it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, format = DateTime)]
    sale_closes_at: Option<Option<String>>,
}

/// A field given, even as `null`, is `Some`; an absent one is `None` (by `default`).
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// The settings a room runs on.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RoomSettingsBody {
    admit_batch: u32,
    admit_interval_secs: u64,
    /// `admitBatch` a round, in rounds of `admitIntervalSecs`.
    admit_per_minute: u64,
    max_active: u32,
    active_ttl_secs: u64,
    abandon_after_secs: u64,
}

/// Head counts.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CensusBody {
    pre_queued: u64,
    waiting: u64,
    active: u64,
}

/// What the line has been seen to do.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct FlowBody {
    /// Smoothed admissions per round while fans waited (0 before any).
    admitted_per_round: f64,
    /// Share of fans who left without being admitted.
    no_show_rate: f64,
    admitted_total: u64,
    abandoned_total: u64,
    /// How long an admitted fan stays ACTIVE, smoothed over those seen to
    /// leave; `null` until some were (the estimates then use
    /// `queue.expected_checkout_secs`).
    session_secs: Option<f64>,
}

/// A concert's room.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RoomResponse {
    concert_id: i64,
    /// As the operator set it.
    state: &'static str,
    /// As it is now, the sale's times applied: `SCHEDULED` (before the
    /// opening), `OPEN`, `PAUSED`, `PASS_THROUGH` or `CLOSED`.
    effective_state: &'static str,
    sale_opens_at: Option<String>,
    sale_closes_at: Option<String>,
    /// When fans may start joining the pre-queue.
    pre_queue_opens_at: Option<String>,
    /// SHA-256 of the lottery's seed (hex), published before the draw.
    lottery_commitment: Option<String>,
    drawn_at: Option<String>,
    sold_out: bool,
    sellable_seats: u64,
    settings: RoomSettingsBody,
    /// Operator only: the cap admission applies now (`maxActive`, lowered
    /// to `queue.max_active_per_seat` per seat still sellable).
    #[serde(skip_serializing_if = "Option::is_none")]
    admitting_up_to: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    census: Option<CensusBody>,
    #[serde(skip_serializing_if = "Option::is_none")]
    flow: Option<FlowBody>,
}

fn room_response(report: &RoomReport, full: bool) -> RoomResponse {
    let (room, policy) = (&report.room, &report.policy);
    let pre_queue_opens_at = match report.phase {
        RoomPhase::NotYetOpen { pre_queue_opens_at } => Some(instant(pre_queue_opens_at)),
        _ => None,
    };
    let flow = &room.flow;
    RoomResponse {
        concert_id: room.concert.get(),
        state: room.state.name(),
        effective_state: report.phase.name(),
        sale_opens_at: room.sale.opens_at.map(instant),
        sale_closes_at: room.sale.closes_at.map(instant),
        pre_queue_opens_at,
        lottery_commitment: room.lottery_commitment(),
        drawn_at: room.drawn_at.map(instant),
        sold_out: report.sellable_seats == 0,
        sellable_seats: report.sellable_seats,
        settings: RoomSettingsBody {
            admit_batch: policy.admit_batch,
            admit_interval_secs: policy.admit_interval_secs,
            admit_per_minute: u64::from(policy.admit_batch) * 60
                / policy.admit_interval_secs.max(1),
            max_active: policy.max_active,
            active_ttl_secs: policy.active_ttl_secs,
            abandon_after_secs: policy.abandon_after_secs,
        },
        admitting_up_to: full.then_some(report.admitting_up_to),
        census: report.census.filter(|_| full).map(|c| CensusBody {
            pre_queued: c.pre_queued,
            waiting: c.waiting,
            active: c.active,
        }),
        flow: full.then(|| FlowBody {
            admitted_per_round: flow.admitted_per_round_milli as f64 / 1000.0,
            no_show_rate: flow.no_show_permille as f64 / 1000.0,
            admitted_total: flow.admitted_total,
            abandoned_total: flow.abandoned_total,
            session_secs: (flow.session_ms > 0).then(|| flow.session_ms as f64 / 1000.0),
        }),
    }
}

fn instant_field(
    text: Option<Option<String>>,
    name: &str,
) -> Result<Option<Option<Timestamp>>, ApiError> {
    text.map(|value| {
        value
            .map(|t| {
                parse_instant(&t).ok_or_else(|| {
                    ApiError::validation(format!("{name} must be an RFC 3339 date-time"))
                })
            })
            .transpose()
    })
    .transpose()
}

/// Change a concert's room: move it between states, change its rate, cap
/// and lifetimes, schedule or close its sale. Applies on every instance
/// within a second; recorded in the room's audit list and published as a
/// `RoomChanged` event.
#[utoipa::path(patch, path = "/api/v1/admin/concerts/{concertId}/room", tag = "admin",
    params(("concertId" = i64, Path),
        ("X-Admin-Key" = Option<String>, Header, description = "The admin key (or an admin's Authorization: Bearer token)")),
    request_body = RoomPatchBody,
    responses((status = 200, body = Envelope<RoomResponse>),
        (status = 400, description = "VALIDATION_FAILED", body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "ROOM_TRANSITION_INVALID, ROOM_CHANGED_CONCURRENTLY", body = ErrorBody),
        (status = 429, body = ErrorBody)))]
pub(crate) async fn change(
    State(state): State<ApiState>,
    _admin: Admin,
    PathParam(concert_id): PathParam<i64>,
    Body(body): Body<RoomPatchBody>,
) -> Result<Response, ApiError> {
    let concert = concert_param(concert_id)?;
    let state_value = body
        .state
        .as_deref()
        .map(|s| {
            RoomState::parse(s).ok_or_else(|| {
                ApiError::validation(
                    "state must be SCHEDULED, OPEN, PAUSED, PASS_THROUGH or CLOSED",
                )
            })
        })
        .transpose()?;
    let patch = RoomPatch {
        state: state_value,
        admit_per_minute: body.admit_per_minute,
        admit_batch: body.admit_batch,
        admit_interval_secs: body.admit_interval_secs,
        max_active: body.max_active,
        active_ttl_secs: body.active_ttl_secs,
        abandon_after_secs: body.abandon_after_secs,
        sale_opens_at: instant_field(body.sale_opens_at, "saleOpensAt")?,
        sale_closes_at: instant_field(body.sale_closes_at, "saleClosesAt")?,
    };
    state.app.change_room(concert, &patch).await?;
    let report = state
        .app
        .show_room(concert)
        .await?
        .ok_or_else(concert_not_found)?;
    Ok(ok(room_response(&report, true)))
}

/// A concert's room as its operator sees it: settings, head counts, flow.
#[utoipa::path(get, path = "/api/v1/admin/concerts/{concertId}/room", tag = "admin",
    params(("concertId" = i64, Path),
        ("X-Admin-Key" = Option<String>, Header, description = "The admin key (or an admin's Authorization: Bearer token)")),
    responses((status = 200, body = Envelope<RoomResponse>),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 429, body = ErrorBody)))]
pub(crate) async fn show(
    State(state): State<ApiState>,
    _admin: Admin,
    PathParam(concert_id): PathParam<i64>,
) -> Result<Response, ApiError> {
    let concert = concert_param(concert_id)?;
    let report = state
        .app
        .show_room(concert)
        .await?
        .ok_or_else(concert_not_found)?;
    Ok(ok(room_response(&report, true)))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct AuditQuery {
    /// At most this many changes, newest first (1 to 500, default 100).
    limit: Option<u32>,
}

/// One recorded change.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RoomChangeBody {
    changed_at: String,
    /// `state`, `admitBatch`, `admitIntervalSecs`, `maxActive`,
    /// `activeTtlSecs`, `abandonAfterSecs`, `saleOpensAt`, `saleClosesAt`
    /// or `lottery`. Times are epoch milliseconds; `null`: the default.
    field: String,
    old_value: Option<String>,
    new_value: Option<String>,
}

/// The room's audit list: every change, when, the old and the new value.
#[utoipa::path(get, path = "/api/v1/admin/concerts/{concertId}/room/audit", tag = "admin",
    params(("concertId" = i64, Path), ("limit" = Option<u32>, Query),
        ("X-Admin-Key" = Option<String>, Header, description = "The admin key (or an admin's Authorization: Bearer token)")),
    responses((status = 200, body = Envelope<Vec<RoomChangeBody>>),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 429, body = ErrorBody)))]
pub(crate) async fn audit(
    State(state): State<ApiState>,
    _admin: Admin,
    PathParam(concert_id): PathParam<i64>,
    query: Result<Query<AuditQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let concert = concert_param(concert_id)?;
    let Query(query) = query.map_err(|e| ApiError::validation(e.body_text()))?;
    let limit = query.limit.unwrap_or(100);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::validation("limit must be between 1 and 500"));
    }
    let changes = state
        .app
        .room_audit(concert, limit)
        .await?
        .ok_or_else(concert_not_found)?;
    Ok(ok(changes
        .into_iter()
        .map(|c| RoomChangeBody {
            changed_at: instant(c.changed_at),
            field: c.field,
            old_value: c.old_value,
            new_value: c.new_value,
        })
        .collect::<Vec<_>>()))
}

/// A concert's room as anyone sees it: its state, the sale's times, the
/// lottery's commitment, whether it is sold out.
#[utoipa::path(get, path = "/api/v1/concerts/{concertId}/room", tag = "catalog",
    params(("concertId" = i64, Path)),
    responses((status = 200, body = Envelope<RoomResponse>),
        (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(crate) async fn public(
    State(state): State<ApiState>,
    PathParam(concert_id): PathParam<i64>,
) -> Result<Response, ApiError> {
    let concert = concert_param(concert_id)?;
    let report = state
        .app
        .public_room(concert)
        .await?
        .ok_or_else(concert_not_found)?;
    Ok(ok(room_response(&report, false)))
}

/// One drawn entry.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct LotteryEntryBody {
    /// The entry's public id: a fan's token view shows it as `lotteryEntryId`.
    entry_id: String,
    /// 1-based place in line at the opening.
    place: u64,
}

/// A drawn lottery: everything needed to recompute the order.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct LotteryResponse {
    concert_id: i64,
    /// The secret seed, revealed: 64 hex digits.
    seed: String,
    /// SHA-256 of `seed`'s text, as published before the draw.
    commitment: String,
    /// How the order follows from the seed.
    algorithm: &'static str,
    drawn_at: String,
    entries: Vec<LotteryEntryBody>,
}

fn lottery_response(concert: ConcertId, reveal: LotteryReveal) -> LotteryResponse {
    LotteryResponse {
        concert_id: concert.get(),
        commitment: reveal.commitment,
        seed: reveal.seed,
        algorithm: room::LOTTERY_ALGORITHM,
        drawn_at: instant(reveal.drawn_at),
        entries: reveal
            .entries
            .into_iter()
            .zip(1..)
            .map(|(entry_id, place)| LotteryEntryBody { entry_id, place })
            .collect(),
    }
}

/// The pre-queue's draw, once the sale has opened: the revealed seed, its
/// commitment, and every entry's place. 404 `LOTTERY_NOT_DRAWN` before.
#[utoipa::path(get, path = "/api/v1/concerts/{concertId}/lottery", tag = "catalog",
    params(("concertId" = i64, Path)),
    responses((status = 200, body = Envelope<LotteryResponse>),
        (status = 400, body = ErrorBody),
        (status = 404, description = "CONCERT_NOT_FOUND, LOTTERY_NOT_DRAWN", body = ErrorBody)))]
pub(crate) async fn lottery(
    State(state): State<ApiState>,
    PathParam(concert_id): PathParam<i64>,
) -> Result<Response, ApiError> {
    let concert = concert_param(concert_id)?;
    if state.app.public_room(concert).await?.is_none() {
        return Err(concert_not_found());
    }
    let reveal = state.app.lottery(concert).await?.ok_or_else(|| {
        ApiError::new(
            ErrorCode::LOTTERY_NOT_DRAWN,
            "this concert's pre-queue has not been drawn (no scheduled sale, or not opened yet)",
        )
    })?;
    Ok(ok(lottery_response(concert, reveal)))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SamplesQuery {
    /// The samples of the last this many minutes (1 to 10080, default 60).
    minutes: Option<u32>,
}

/// A concert's sale over time, for the operator's charts.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SamplesBody {
    concert_id: i64,
    /// Seconds between kept samples (`console.sample_interval_secs`).
    interval_secs: u64,
    /// Oldest first; the last was taken for this answer.
    samples: Vec<SampleBody>,
}

/// A sale's figures at one instant.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SampleBody {
    at: String,
    pre_queued: u64,
    waiting: u64,
    active: u64,
    /// Fans admitted so far (the room's `admittedTotal`).
    admitted_total: u64,
    seats_available: u64,
    seats_held: u64,
    seats_sold: u64,
    /// Whole won taken by the concert's reservations.
    revenue: i64,
}

/// The concert's samples: its line, ACTIVE fans, seats and revenue over time.
#[utoipa::path(get, path = "/api/v1/admin/concerts/{concertId}/samples", tag = "admin",
    params(("concertId" = i64, Path), ("minutes" = Option<u32>, Query),
        ("X-Admin-Key" = Option<String>, Header, description = "The admin key (or an admin's Authorization: Bearer token)")),
    responses((status = 200, body = Envelope<SamplesBody>),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 429, body = ErrorBody)))]
pub(crate) async fn samples(
    State(state): State<ApiState>,
    _admin: Admin,
    PathParam(concert_id): PathParam<i64>,
    query: Result<Query<SamplesQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let concert = concert_param(concert_id)?;
    let Query(query) = query.map_err(|e| ApiError::validation(e.body_text()))?;
    let minutes = query.minutes.unwrap_or(60);
    if !(1..=7 * 24 * 60).contains(&minutes) {
        return Err(ApiError::validation("minutes must be between 1 and 10080"));
    }
    let samples = state
        .app
        .sale_samples(concert, minutes)
        .await?
        .ok_or_else(concert_not_found)?;
    Ok(ok(SamplesBody {
        concert_id: concert.get(),
        interval_secs: state.app.policies().samples.interval_secs,
        samples: samples
            .into_iter()
            .map(|s| SampleBody {
                at: instant(s.at),
                pre_queued: s.pre_queued,
                waiting: s.waiting,
                active: s.active,
                admitted_total: s.admitted_total,
                seats_available: s.seats.available,
                seats_held: s.seats.held,
                seats_sold: s.seats.sold,
                revenue: s.seats.revenue.amount(),
            })
            .collect(),
    }))
}
