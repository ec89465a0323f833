//! Operator endpoints, behind `X-Admin-Key` or an admin's bearer token.

use crate::ApiState;
use crate::ErrorCode;
use crate::envelope::{Envelope, ErrorBody, created, ok};
use crate::error::ApiError;
use crate::extract::{Body, PathParam, path_id};
pub(crate) use crate::identity::Admin;
use crate::wire::parse_instant;
use axum::extract::State;
use axum::response::Response;
use boxoffice_core::domain::cancellation::{CancellationPolicy, FeeTier};
use boxoffice_core::domain::concert::{EntryRules, NewSchedule, ScheduleChange, SeatBand};
use boxoffice_core::domain::ledger::{LedgerProblem, LedgerReport};
use boxoffice_core::domain::queue_token::TokenState;
use boxoffice_core::domain::{ConcertId, ScheduleId, UserId, Won};
use boxoffice_core::use_cases::{CalledOff, ConcertCancellationPolicy};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CreateConcertBody {
    #[schema(min_length = 1, max_length = 200)]
    title: String,
    #[schema(min_length = 1, max_length = 200)]
    artist: String,
    /// 1 to 100 dates.
    #[schema(min_items = 1, max_items = 100)]
    schedules: Vec<ScheduleBody>,
    /// Bands numbering the seats 1..=N (N at most 50) in order, without gaps.
    #[schema(min_items = 1, max_items = 50)]
    seats: Vec<SeatBandBody>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ScheduleBody {
    /// RFC 3339, e.g. `2030-05-01T19:00:00+09:00`.
    #[schema(format = DateTime)]
    starts_at: String,
    #[schema(min_length = 1, max_length = 200)]
    venue: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SeatBandBody {
    #[schema(min_length = 1, max_length = 200)]
    grade: String,
    /// Whole won, 1 to 10,000,000.
    #[schema(minimum = 1, maximum = 10_000_000)]
    price: i64,
    /// First seat number of the band.
    #[schema(minimum = 1, maximum = 50)]
    from: i64,
    /// Last seat number of the band (inclusive).
    #[schema(minimum = 1, maximum = 50)]
    to: i64,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CreatedConcert {
    concert_id: i64,
}

/// Every concert, for the operator's console: the same list as
/// `GET /api/v1/concerts`, also served on the admin listener.
#[utoipa::path(get, path = "/api/v1/admin/concerts", tag = "admin", operation_id = "admin_concerts",
    params(("X-Admin-Key" = Option<String>, Header, description = "The admin key (or an admin's Authorization: Bearer token)")),
    responses((status = 200, body = Envelope<Vec<crate::routes::catalog::ConcertItem>>),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 429, body = ErrorBody)))]
pub(crate) async fn concerts(
    State(state): State<ApiState>,
    _admin: Admin,
) -> Result<Response, ApiError> {
    Ok(ok(crate::routes::catalog::concert_items(&state).await?))
}

/// Add a concert with its dates and seat layout.
#[utoipa::path(post, path = "/api/v1/admin/concerts", tag = "admin",
    params(("X-Admin-Key" = Option<String>, Header, description = "The admin key (or an admin's Authorization: Bearer token)")),
    request_body = CreateConcertBody,
    responses((status = 201, body = Envelope<CreatedConcert>),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub(crate) async fn create_concert(
    State(state): State<ApiState>,
    _admin: Admin,
    Body(body): Body<CreateConcertBody>,
) -> Result<Response, ApiError> {
    let schedules = body
        .schedules
        .into_iter()
        .map(|s| {
            let starts_at = parse_instant(&s.starts_at)
                .ok_or_else(|| ApiError::validation("startsAt must be an RFC 3339 date-time"))?;
            Ok(NewSchedule {
                starts_at,
                venue: s.venue,
            })
        })
        .collect::<Result<Vec<_>, ApiError>>()?;
    let bands: Vec<SeatBand> = body
        .seats
        .into_iter()
        .map(|b| SeatBand {
            grade: b.grade,
            price: Won::new(b.price),
            first: b.from,
            last: b.to,
        })
        .collect();
    let id = state
        .app
        .create_concert(&body.title, &body.artist, schedules, &bands)
        .await?;
    Ok(created(CreatedConcert {
        concert_id: id.get(),
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct UpdateConcertBody {
    #[schema(min_length = 1, max_length = 200)]
    title: Option<String>,
    #[schema(min_length = 1, max_length = 200)]
    artist: Option<String>,
    /// Dates to move or rehouse; only dates none of whose seats is held or sold.
    #[serde(default)]
    #[schema(max_items = 100)]
    schedules: Vec<ScheduleChangeBody>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct ScheduleChangeBody {
    #[schema(minimum = 1)]
    schedule_id: i64,
    /// RFC 3339, e.g. `2030-05-01T19:00:00+09:00`.
    #[schema(format = DateTime)]
    starts_at: Option<String>,
    #[schema(min_length = 1, max_length = 200)]
    venue: Option<String>,
}

/// Change a concert: its title and artist at any time, a date's time and
/// venue only while none of its seats is held or sold. All or nothing.
#[utoipa::path(patch, path = "/api/v1/admin/concerts/{concertId}", tag = "admin",
    params(("concertId" = i64, Path),
        ("X-Admin-Key" = Option<String>, Header, description = "The admin key (or an admin's Authorization: Bearer token)")),
    request_body = UpdateConcertBody,
    responses((status = 200, body = Envelope<crate::routes::catalog::ConcertItem>),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "SCHEDULE_ON_SALE", body = ErrorBody), (status = 429, body = ErrorBody)))]
pub(crate) async fn update_concert(
    State(state): State<ApiState>,
    _admin: Admin,
    PathParam(concert_id): PathParam<i64>,
    Body(body): Body<UpdateConcertBody>,
) -> Result<Response, ApiError> {
    let concert = concert_param(concert_id)?;
    if body.schedules.len() > 100 {
        return Err(ApiError::validation("at most 100 schedules per change"));
    }
    let schedules = body
        .schedules
        .into_iter()
        .map(|s| {
            let schedule_id =
                ScheduleId::new(s.schedule_id).map_err(|e| ApiError::validation(e.to_string()))?;
            let starts_at = s
                .starts_at
                .map(|at| {
                    parse_instant(&at).ok_or_else(|| {
                        ApiError::validation("startsAt must be an RFC 3339 date-time")
                    })
                })
                .transpose()?;
            Ok(ScheduleChange {
                schedule_id,
                starts_at,
                venue: s.venue,
            })
        })
        .collect::<Result<Vec<_>, ApiError>>()?;
    state
        .app
        .update_concert(
            concert,
            body.title.as_deref(),
            body.artist.as_deref(),
            schedules,
        )
        .await?;
    let items = crate::routes::catalog::concert_items(&state).await?;
    let item = items
        .into_iter()
        .find(|c| c.concert_id == concert.get())
        .ok_or_else(concert_not_found)?;
    Ok(ok(item))
}

/// The invariant check: what the store and the waiting room say about
/// double sales, negative balances, money conservation, events per sale and
/// admission order. `ok` is true when nothing is violated.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct InvariantsResponse {
    ok: bool,
    violations: Vec<String>,
    reservations: u64,
    /// Of which cancelled.
    cancelled: u64,
    charged: i64,
    balances: i64,
    paid: i64,
    /// Refunds of cancellations: charged + refunded = balances + paid.
    refunded: i64,
    seats_sold_twice: u64,
    negative_balances: u64,
    sales_out_of_step: u64,
    reservations_without_one_event: u64,
    admission_inversions: u64,
    /// The double-entry ledger's reconciliation (also at
    /// `/api/v1/admin/ledger/reconcile`); its problems are among `violations`.
    ledger: LedgerResponse,
}

/// The double-entry ledger, reconciled account by account: every transaction
/// sums to zero, every fan's balance is their postings, the top-ups account
/// is minus all charges, and each concert's revenue and fees are what its
/// sales and cancellations say.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct LedgerResponse {
    ok: bool,
    transactions: u64,
    accounts: u64,
    /// What does not balance (at most 100 of each kind).
    problems: Vec<LedgerProblemItem>,
}

/// One thing that does not balance.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct LedgerProblemItem {
    /// `UNBALANCED`, `FAN_BALANCE`, `TOP_UPS`, `REVENUE` or `FEES`.
    kind: &'static str,
    /// The transaction (UNBALANCED), the fan (FAN_BALANCE), or the concert
    /// (REVENUE, FEES) concerned; absent for TOP_UPS.
    #[serde(skip_serializing_if = "Option::is_none")]
    subject: Option<String>,
    /// What the ledger's postings add up to.
    posted: i64,
    /// What the balances, sales and cancellations say it should be.
    expected: i64,
    /// The same, in words.
    message: String,
}

impl From<LedgerReport> for LedgerResponse {
    fn from(report: LedgerReport) -> Self {
        LedgerResponse {
            ok: report.ok(),
            transactions: report.transactions,
            accounts: report.accounts,
            problems: report.problems.into_iter().map(problem_item).collect(),
        }
    }
}

fn problem_item(problem: LedgerProblem) -> LedgerProblemItem {
    let (kind, message) = (problem.kind(), problem.to_string());
    let (subject, posted, expected) = match problem {
        LedgerProblem::Unbalanced { transaction, sum } => (Some(transaction), sum, 0),
        LedgerProblem::FanBalance {
            user,
            balance,
            posted,
        } => (Some(user.to_string()), posted, balance),
        LedgerProblem::TopUps { posted, charged } => (None, posted, -charged),
        LedgerProblem::Revenue {
            concert,
            posted,
            sold,
        } => (Some(concert.to_string()), posted, sold),
        LedgerProblem::Fees {
            concert,
            posted,
            kept,
        } => (Some(concert.to_string()), posted, kept),
    };
    LedgerProblemItem {
        kind,
        subject,
        posted,
        expected,
        message,
    }
}

/// Reconcile the double-entry ledger against the balances, sales and
/// cancellations, account by account.
#[utoipa::path(get, path = "/api/v1/admin/ledger/reconcile", tag = "admin",
    params(("X-Admin-Key" = Option<String>, Header, description = "The admin key (or an admin's Authorization: Bearer token)")),
    responses((status = 200, body = Envelope<LedgerResponse>),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub(crate) async fn reconcile_ledger(
    State(state): State<ApiState>,
    _admin: Admin,
) -> Result<Response, ApiError> {
    let report = state.app.reconcile_ledger().await?;
    Ok(ok(LedgerResponse::from(report)))
}

/// Check the service's invariants (used after every load test).
#[utoipa::path(get, path = "/api/v1/admin/invariants", tag = "admin",
    params(("X-Admin-Key" = Option<String>, Header, description = "The admin key (or an admin's Authorization: Bearer token)")),
    responses((status = 200, body = Envelope<InvariantsResponse>),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub(crate) async fn invariants(
    State(state): State<ApiState>,
    _admin: Admin,
) -> Result<Response, ApiError> {
    let report = state.app.check_invariants().await?;
    let store = report.store;
    Ok(crate::envelope::ok(InvariantsResponse {
        ok: report.violations.is_empty(),
        violations: report.violations,
        reservations: store.reservations,
        cancelled: store.cancelled,
        charged: store.money.charged.amount(),
        balances: store.money.balances.amount(),
        paid: store.money.paid.amount(),
        refunded: store.money.refunded.amount(),
        seats_sold_twice: store.seats_sold_twice,
        negative_balances: store.negative_balances,
        sales_out_of_step: store.sales_out_of_step,
        reservations_without_one_event: store.reservations_without_one_event,
        admission_inversions: report.admission_inversions,
        ledger: report.ledger.into(),
    }))
}

/// A concert's bot gate.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct EntryRulesBody {
    /// Leading zero bits the proof-of-work answer of every token request
    /// must have, 1 to 30; `null`: no challenge.
    #[schema(minimum = 1, maximum = 30)]
    proof_of_work_bits: Option<u8>,
}

pub(crate) fn concert_param(id: i64) -> Result<ConcertId, ApiError> {
    path_id(ConcertId::new(id))
}

pub(crate) fn concert_not_found() -> ApiError {
    ApiError::new(ErrorCode::CONCERT_NOT_FOUND, "no such concert")
}

/// Set a concert's bot gate. Applies on this instance at once, on every
/// instance within a second.
#[utoipa::path(put, path = "/api/v1/admin/concerts/{concertId}/entry-rules", tag = "admin",
    params(("concertId" = i64, Path),
        ("X-Admin-Key" = Option<String>, Header, description = "The admin key (or an admin's Authorization: Bearer token)")),
    request_body = EntryRulesBody,
    responses((status = 200, body = Envelope<EntryRulesBody>),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 429, body = ErrorBody)))]
pub(crate) async fn set_entry_rules(
    State(state): State<ApiState>,
    _admin: Admin,
    PathParam(concert_id): PathParam<i64>,
    Body(body): Body<EntryRulesBody>,
) -> Result<Response, ApiError> {
    let concert = concert_param(concert_id)?;
    let rules = EntryRules::new(body.proof_of_work_bits)
        .map_err(|e| ApiError::validation(e.to_string()))?;
    if !state.app.set_entry_rules(concert, rules).await? {
        return Err(concert_not_found());
    }
    Ok(ok(body))
}

/// A concert's bot gate.
#[utoipa::path(get, path = "/api/v1/admin/concerts/{concertId}/entry-rules", tag = "admin",
    params(("concertId" = i64, Path),
        ("X-Admin-Key" = Option<String>, Header, description = "The admin key (or an admin's Authorization: Bearer token)")),
    responses((status = 200, body = Envelope<EntryRulesBody>),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 429, body = ErrorBody)))]
pub(crate) async fn entry_rules(
    State(state): State<ApiState>,
    _admin: Admin,
    PathParam(concert_id): PathParam<i64>,
) -> Result<Response, ApiError> {
    let concert = concert_param(concert_id)?;
    let rules = state
        .app
        .show_entry_rules(concert)
        .await?
        .ok_or_else(concert_not_found)?;
    Ok(ok(EntryRulesBody {
        proof_of_work_bits: rules.proof_of_work_bits,
    }))
}

/// The longest a cancellation deadline or fee window may be: a year.
const MAX_POLICY_SECS: u64 = 365 * 24 * 3_600;

/// A concert's own cancellation terms.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct CancellationPolicyBody {
    /// Fans may cancel until this many seconds before their date starts
    /// (0: until the show); at most a year.
    #[schema(maximum = 31_536_000)]
    deadline_secs: u64,
    /// At most 4 tiers; the highest `percent` among those whose window holds
    /// the time left to the show is kept as a fee; none: free.
    #[schema(max_items = 4)]
    fees: Vec<FeeTierBody>,
}

/// `percent` of the price is kept when cancelling less than `withinSecs`
/// before the show.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct FeeTierBody {
    #[schema(minimum = 1, maximum = 31_536_000)]
    within_secs: u64,
    #[schema(maximum = 100)]
    percent: u8,
}

/// The cancellation terms a concert's reservations follow.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CancellationPolicyResponse {
    concert_id: i64,
    /// True: the concert's own terms; false: the service's
    /// (`cancellation.*`), which a PUT replaces and a DELETE restores.
    own: bool,
    deadline_secs: u64,
    fees: Vec<FeeTierBody>,
}

impl CancellationPolicyResponse {
    fn of(concert: ConcertId, found: ConcertCancellationPolicy) -> Self {
        CancellationPolicyResponse {
            concert_id: concert.get(),
            own: found.own,
            deadline_secs: found.policy.deadline_secs,
            fees: found
                .policy
                .tiers()
                .map(|t| FeeTierBody {
                    within_secs: t.within_secs,
                    percent: t.percent,
                })
                .collect(),
        }
    }
}

fn cancellation_policy(body: &CancellationPolicyBody) -> Result<CancellationPolicy, ApiError> {
    let too_long = |secs: u64| secs > MAX_POLICY_SECS;
    if too_long(body.deadline_secs) || body.fees.iter().any(|t| too_long(t.within_secs)) {
        return Err(ApiError::validation(
            "a deadline or fee window is at most a year (31536000 seconds)",
        ));
    }
    let tiers: Vec<FeeTier> = body
        .fees
        .iter()
        .map(|t| FeeTier {
            within_secs: t.within_secs,
            percent: t.percent,
        })
        .collect();
    CancellationPolicy::new(body.deadline_secs, &tiers)
        .map_err(|e| ApiError::validation(e.to_string()))
}

/// The terms of `concert` as they stand after a change that found it.
async fn policy_reply(state: &ApiState, concert: ConcertId) -> Result<Response, ApiError> {
    let found = state
        .app
        .cancellation_policy_of(concert)
        .await?
        .ok_or_else(concert_not_found)?;
    Ok(ok(CancellationPolicyResponse::of(concert, found)))
}

/// Give a concert its own cancellation deadline and fees, replacing the
/// service's for it. The next cancellation applies them.
#[utoipa::path(put, path = "/api/v1/admin/concerts/{concertId}/cancellation-policy", tag = "admin",
    params(("concertId" = i64, Path),
        ("X-Admin-Key" = Option<String>, Header, description = "The admin key (or an admin's Authorization: Bearer token)")),
    request_body = CancellationPolicyBody,
    responses((status = 200, body = Envelope<CancellationPolicyResponse>),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 429, body = ErrorBody)))]
pub(crate) async fn set_cancellation_policy(
    State(state): State<ApiState>,
    _admin: Admin,
    PathParam(concert_id): PathParam<i64>,
    Body(body): Body<CancellationPolicyBody>,
) -> Result<Response, ApiError> {
    let concert = concert_param(concert_id)?;
    let policy = cancellation_policy(&body)?;
    if !state
        .app
        .set_cancellation_policy(concert, Some(policy))
        .await?
    {
        return Err(concert_not_found());
    }
    policy_reply(&state, concert).await
}

/// Return a concert to the service's cancellation terms.
#[utoipa::path(delete, path = "/api/v1/admin/concerts/{concertId}/cancellation-policy", tag = "admin",
    params(("concertId" = i64, Path),
        ("X-Admin-Key" = Option<String>, Header, description = "The admin key (or an admin's Authorization: Bearer token)")),
    responses((status = 200, body = Envelope<CancellationPolicyResponse>),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 429, body = ErrorBody)))]
pub(crate) async fn remove_cancellation_policy(
    State(state): State<ApiState>,
    _admin: Admin,
    PathParam(concert_id): PathParam<i64>,
) -> Result<Response, ApiError> {
    let concert = concert_param(concert_id)?;
    if !state.app.set_cancellation_policy(concert, None).await? {
        return Err(concert_not_found());
    }
    policy_reply(&state, concert).await
}

/// The cancellation terms a concert's reservations follow now.
#[utoipa::path(get, path = "/api/v1/admin/concerts/{concertId}/cancellation-policy", tag = "admin",
    params(("concertId" = i64, Path),
        ("X-Admin-Key" = Option<String>, Header, description = "The admin key (or an admin's Authorization: Bearer token)")),
    responses((status = 200, body = Envelope<CancellationPolicyResponse>),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 429, body = ErrorBody)))]
pub(crate) async fn show_cancellation_policy(
    State(state): State<ApiState>,
    _admin: Admin,
    PathParam(concert_id): PathParam<i64>,
) -> Result<Response, ApiError> {
    policy_reply(&state, concert_param(concert_id)?).await
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RevokedResponse {
    concert_id: i64,
    user_id: i64,
    /// What the fan's token was: `PRE_QUEUE`, `WAITING` or `ACTIVE`.
    was: &'static str,
}

/// What calling off came to. The refunds follow on the refund round of
/// every instance, each reservation in full and once.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CalledOffResponse {
    concert_id: i64,
    /// The dates this call cancelled; empty when each was already.
    called_off: Vec<i64>,
    /// Live holds on them, released: they can no longer be paid.
    released_holds: u64,
    /// Whether the concert's room is closed (a whole concert's only).
    room_closed: bool,
}

impl From<(ConcertId, CalledOff)> for CalledOffResponse {
    fn from((concert, called): (ConcertId, CalledOff)) -> Self {
        Self {
            concert_id: concert.get(),
            called_off: called.called_off.iter().map(|id| id.get()).collect(),
            released_holds: called.released_holds,
            room_closed: called.room_closed,
        }
    }
}

/// Call a concert off: every date of it stops selling at once (its live
/// holds are released), its room closes, and every reservation is refunded
/// in full to its fan's balance by the refund round, whatever the
/// cancellation deadline. Calling off again changes nothing and answers the
/// same way with no new dates.
#[utoipa::path(post, path = "/api/v1/admin/concerts/{concertId}/cancel", tag = "admin",
    params(("concertId" = i64, Path),
        ("X-Admin-Key" = Option<String>, Header, description = "The admin key (or an admin's Authorization: Bearer token)")),
    responses((status = 200, body = Envelope<CalledOffResponse>),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, description = "CONCERT_NOT_FOUND", body = ErrorBody), (status = 429, body = ErrorBody)))]
pub(crate) async fn call_off_concert(
    State(state): State<ApiState>,
    _admin: Admin,
    PathParam(concert_id): PathParam<i64>,
) -> Result<Response, ApiError> {
    let concert = concert_param(concert_id)?;
    let called = state.app.call_off(concert, None).await?;
    Ok(ok(CalledOffResponse::from((concert, called))))
}

/// Call one date of a concert off: as calling off the concert, for that
/// date alone; the room and the other dates go on.
#[utoipa::path(post, path = "/api/v1/admin/concerts/{concertId}/schedules/{scheduleId}/cancel", tag = "admin",
    params(("concertId" = i64, Path), ("scheduleId" = i64, Path),
        ("X-Admin-Key" = Option<String>, Header, description = "The admin key (or an admin's Authorization: Bearer token)")),
    responses((status = 200, body = Envelope<CalledOffResponse>),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, description = "CONCERT_NOT_FOUND, SCHEDULE_NOT_FOUND", body = ErrorBody),
        (status = 429, body = ErrorBody)))]
pub(crate) async fn call_off_date(
    State(state): State<ApiState>,
    _admin: Admin,
    PathParam((concert_id, schedule_id)): PathParam<(i64, i64)>,
) -> Result<Response, ApiError> {
    let concert = concert_param(concert_id)?;
    let schedule = path_id(ScheduleId::new(schedule_id))?;
    let called = state.app.call_off(concert, Some(schedule)).await?;
    Ok(ok(CalledOffResponse::from((concert, called))))
}

/// End one fan's place for a concert: their token expires, and their
/// admission pass stops working on every instance within
/// `auth.pass_revocation_poll_ms`.
#[utoipa::path(delete, path = "/api/v1/admin/concerts/{concertId}/admissions/{userId}", tag = "admin",
    params(("concertId" = i64, Path), ("userId" = i64, Path),
        ("X-Admin-Key" = Option<String>, Header, description = "The admin key (or an admin's Authorization: Bearer token)")),
    responses((status = 200, body = Envelope<RevokedResponse>),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, description = "ADMISSION_NOT_FOUND: the fan holds no live token", body = ErrorBody),
        (status = 429, body = ErrorBody)))]
pub(crate) async fn revoke_admission(
    State(state): State<ApiState>,
    _admin: Admin,
    PathParam((concert_id, user_id)): PathParam<(i64, i64)>,
) -> Result<Response, ApiError> {
    let concert = concert_param(concert_id)?;
    let user = path_id(UserId::new(user_id))?;
    let ended = state
        .app
        .revoke_admission(concert, user)
        .await?
        .ok_or_else(|| {
            ApiError::new(
                ErrorCode::ADMISSION_NOT_FOUND,
                "this fan holds no live token for this concert",
            )
        })?;
    Ok(ok(RevokedResponse {
        concert_id: concert.get(),
        user_id: user.get(),
        was: match ended.state {
            TokenState::Active { .. } => "ACTIVE",
            TokenState::PreQueue { .. } => "PRE_QUEUE",
            TokenState::Waiting { .. } | TokenState::Expired { .. } => "WAITING",
        },
    }))
}
