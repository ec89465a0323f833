//! The load scenarios. Each prepares what it needs through the API (with
//! its own, unrecorded, setup traffic), then runs its measured operation
//! under the chosen model.
//!
//! - `enter`: token issue, a new user each time.
//! - `poll`: token status, over a pool of WAITING tokens.
//! - `browse`: seat lists, by ACTIVE users.
//! - `hold`: holds spread over many seats (no contention).
//! - `hold-contended`: many users on the ten seats of one date.
//! - `pay`: payments of holds made during setup.
//! - `rush`: U users arrive over T seconds for one concert with S seats and
//!   go through the whole journey; see [`rush`].

use crate::client::{Api, Credential, Fan};
use crate::metrics::Recorder;
use crate::runner::{Driven, Limits, Model, drive};
use anyhow::{Context, ensure};
use futures::StreamExt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Users of one run start here, so runs against one database do not collide.
pub fn user_base() -> i64 {
    let millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    // A thousand ids per millisecond: a run that starts a second after
    // another is a million ids further, more users than any run has.
    1_000_000 + i64::try_from(millis).unwrap_or(0) * 1_000
}

/// Setup traffic goes through a client whose recorder is thrown away.
fn setup_api(api: &Api) -> Api {
    let mut setup = api.clone();
    setup.recorder = Arc::new(Recorder::new());
    setup
}

/// A signed-in fan admitted to a concert, with the ticket and the pass.
#[derive(Debug, Clone)]
pub struct Admission {
    pub fan: Fan,
    pub ticket: String,
    pub pass: String,
}

impl Admission {
    /// What booking calls send as `Queue-Token` (`--booking-credential`).
    pub fn credential(&self, api: &Api) -> &str {
        match api.booking {
            Credential::Pass => &self.pass,
            Credential::Ticket => &self.ticket,
        }
    }
}

/// Fans `users`, signed in, admitted (ACTIVE) to `concert`.
pub async fn admitted(api: &Api, concert: i64, users: &[i64]) -> anyhow::Result<Vec<Admission>> {
    let api = setup_api(api);
    let tokens: Vec<Option<Admission>> = futures::stream::iter(users.iter().map(|&u| {
        let api = api.clone();
        async move {
            let fan = api.sign_in(u);
            let ticket = api.issue_token(&fan, concert).await.str("token")?;
            let started = Instant::now();
            while started.elapsed() < Duration::from_secs(120) {
                let view = api.poll(&fan, &ticket).await;
                if view.data["status"] == "ACTIVE" {
                    let pass = view.str("admissionPass")?;
                    return Some(Admission { fan, ticket, pass });
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            None
        }
    }))
    .buffered(256)
    .collect()
    .await;
    let tokens: Vec<Admission> = tokens.into_iter().flatten().collect();
    ensure!(
        tokens.len() == users.len(),
        "only {} of {} users were admitted: start the service with a large queue.admit_batch and queue.max_active",
        tokens.len(),
        users.len()
    );
    Ok(tokens)
}

async fn schedule_ids(api: &Api, who: &Admission, concert: i64) -> anyhow::Result<Vec<i64>> {
    let answer = setup_api(api)
        .schedules(&who.fan, who.credential(api), concert)
        .await;
    ensure!(answer.ok(), "listing schedules: {}", answer.code);
    Ok(answer
        .data
        .as_array()
        .context("schedules")?
        .iter()
        .filter_map(|s| s["scheduleId"].as_i64())
        .collect())
}

pub async fn enter(api: Api, model: Model, limits: Limits) -> anyhow::Result<Driven> {
    let base = user_base();
    Ok(drive(model, limits, move |i| {
        let api = api.clone();
        async move {
            let fan = api.sign_in(base + i as i64);
            api.issue_token(&fan, 1).await;
        }
    })
    .await)
}

/// `pool` fans from user `base` on, in line for concert 2, each with its
/// queue ticket.
async fn in_line(api: &Api, base: i64, pool: usize) -> anyhow::Result<Vec<(Fan, String)>> {
    let setup = setup_api(api);
    let tokens: Vec<(Fan, String)> = futures::stream::iter((0..pool as i64).map(|u| {
        let setup = setup.clone();
        async move {
            let fan = setup.sign_in(base + u);
            let ticket = setup.issue_token(&fan, 2).await.str("token")?;
            Some((fan, ticket))
        }
    }))
    .buffered(256)
    .filter_map(|t| async move { t })
    .collect()
    .await;
    ensure!(!tokens.is_empty(), "no token issued");
    Ok(tokens)
}

pub async fn poll(api: Api, model: Model, limits: Limits, pool: usize) -> anyhow::Result<Driven> {
    let tokens = Arc::new(in_line(&api, user_base(), pool).await?);
    Ok(drive(model, limits, move |i| {
        let (api, tokens) = (api.clone(), tokens.clone());
        async move {
            let (fan, ticket) = &tokens[i as usize % tokens.len()];
            api.poll(fan, ticket).await;
        }
    })
    .await)
}

/// What wrk's scripts (`scripts/wrk/`) send, one line per fan,
/// tab-separated, the sign-in header's name and value first:
/// - `enter.txt`: `fans` new fans, for token issue on concert 1;
/// - `poll.txt`: `pool` fans in line for concert 2, then their ticket;
/// - `seats.txt`: `pool` fans admitted to concert 1, then their admission
///   pass and a date of the concert (the dates in turn).
///
/// Records nothing: its requests (tokens, admissions) are setup, and the
/// users are new to the service.
pub async fn wrk_fixtures(
    api: Api,
    dir: &std::path::Path,
    fans: usize,
    pool: usize,
) -> anyhow::Result<()> {
    use std::fmt::Write as _;
    std::fs::create_dir_all(dir)?;
    let line = |fan: &Fan, rest: &[&str]| {
        let (name, value) = api.header_of(fan);
        let mut line = format!("{name}\t{value}");
        for field in rest {
            let _ = write!(line, "\t{field}");
        }
        line.push('\n');
        line
    };
    let base = user_base();
    let mut enter = String::new();
    for u in 0..fans as i64 {
        enter.push_str(&line(&api.sign_in(base + u), &[]));
    }
    std::fs::write(dir.join("enter.txt"), enter)?;
    let mut poll = String::new();
    let base = base + fans as i64;
    for (fan, ticket) in in_line(&api, base, pool).await? {
        poll.push_str(&line(&fan, &[&ticket]));
    }
    std::fs::write(dir.join("poll.txt"), poll)?;
    // Users after the ones above, so that none is in line twice.
    let base = base + pool as i64;
    let ids: Vec<i64> = (0..pool as i64).map(|u| base + u).collect();
    let admitted = admitted(&api, 1, &ids).await?;
    let schedules = schedule_ids(&api, &admitted[0], 1).await?;
    let mut seats = String::new();
    for (i, who) in admitted.iter().enumerate() {
        let schedule = schedules[i % schedules.len()].to_string();
        seats.push_str(&line(&who.fan, &[&who.pass, &schedule]));
    }
    std::fs::write(dir.join("seats.txt"), seats)?;
    Ok(())
}

/// `pool` signed-in fans, new to the service, taken in turn.
fn fans(api: &Api, pool: usize) -> Arc<Vec<Fan>> {
    let base = user_base();
    Arc::new(
        (0..pool.max(1) as i64)
            .map(|u| api.sign_in(base + u))
            .collect(),
    )
}

/// The balance query, the fans taken in turn.
pub async fn balance(
    api: Api,
    model: Model,
    limits: Limits,
    pool: usize,
) -> anyhow::Result<Driven> {
    let fans = fans(&api, pool);
    Ok(drive(model, limits, move |i| {
        let (api, fans) = (api.clone(), fans.clone());
        async move {
            api.balance(&fans[i as usize % fans.len()]).await;
        }
    })
    .await)
}

/// Charges of 1 won, each under an idempotency key of its own (one durable
/// commit each: the key is written with the charge), the fans taken in turn.
pub async fn charge(api: Api, model: Model, limits: Limits, pool: usize) -> anyhow::Result<Driven> {
    let fans = fans(&api, pool);
    let run = user_base();
    Ok(drive(model, limits, move |i| {
        let (api, fans) = (api.clone(), fans.clone());
        async move {
            let fan = &fans[i as usize % fans.len()];
            api.charge(fan, 1, &format!("load-charge-{run}-{i}")).await;
        }
    })
    .await)
}

pub async fn browse(
    api: Api,
    model: Model,
    limits: Limits,
    users: usize,
) -> anyhow::Result<Driven> {
    let base = user_base();
    let ids: Vec<i64> = (0..users as i64).map(|u| base + u).collect();
    let fans = Arc::new(admitted(&api, 1, &ids).await?);
    let schedules = Arc::new(schedule_ids(&api, &fans[0], 1).await?);
    Ok(drive(model, limits, move |i| {
        let (api, fans, schedules) = (api.clone(), fans.clone(), schedules.clone());
        async move {
            let schedule = schedules[i as usize % schedules.len()];
            let who = &fans[i as usize % fans.len()];
            api.seats(&who.fan, who.credential(&api), schedule).await;
        }
    })
    .await)
}

/// The most holds or payments one `hold`/`pay` run makes: ten concerts of
/// 100 dates of 50 seats.
const MAX_HOLDERS: usize = 50_000;

/// Seats of one load-test concert: 100 dates (the most a concert may have)
/// of 50 seats.
const SEATS_PER_CONCERT: usize = 5_000;

/// A user with an ACTIVE token, and a free seat of their token's concert
/// that is theirs alone to take.
struct Holder {
    who: Admission,
    schedule: i64,
    seat: i64,
    /// The first date of the user's concert, where contended holds go.
    first_schedule: i64,
}

/// `holds` holders, over as many fresh concerts as they need.
async fn holders(api: &Api, holds: usize, price: i64) -> anyhow::Result<Vec<Holder>> {
    let base = user_base();
    let mut all = Vec::with_capacity(holds);
    for first in (0..holds).step_by(SEATS_PER_CONCERT) {
        let n = (holds - first).min(SEATS_PER_CONCERT);
        let concert = api
            .create_concert("Load test", n.div_ceil(50) as u32, price)
            .await?;
        let ids: Vec<i64> = (first..first + n).map(|u| base + u as i64).collect();
        let admissions = admitted(api, concert, &ids).await?;
        let schedules = schedule_ids(api, &admissions[0], concert).await?;
        for (k, who) in admissions.into_iter().enumerate() {
            all.push(Holder {
                who,
                schedule: schedules[(k / 50) % schedules.len()],
                seat: 1 + (k % 50) as i64,
                first_schedule: schedules[0],
            });
        }
    }
    Ok(all)
}

fn holder_count(limits: &Limits) -> usize {
    usize::try_from(limits.max_operations)
        .unwrap_or(MAX_HOLDERS)
        .min(MAX_HOLDERS)
}

pub async fn hold(
    api: Api,
    model: Model,
    limits: Limits,
    contended: bool,
) -> anyhow::Result<Driven> {
    let users = Arc::new(holders(&api, holder_count(&limits), 1_000).await?);
    let limits = Limits {
        max_operations: users.len() as u64,
        ..limits
    };
    Ok(drive(model, limits, move |i| {
        let (api, users) = (api.clone(), users.clone());
        async move {
            let holder = &users[i as usize];
            let (schedule, seat) = if contended {
                (holder.first_schedule, 1 + (i % 10) as i64)
            } else {
                (holder.schedule, holder.seat)
            };
            let who = &holder.who;
            api.hold(&who.fan, who.credential(&api), schedule, seat)
                .await;
        }
    })
    .await)
}

pub async fn pay(api: Api, model: Model, limits: Limits) -> anyhow::Result<Driven> {
    let users = holders(&api, holder_count(&limits), 1_000).await?;
    let setup = setup_api(&api);
    let holds: Vec<Option<(Fan, String)>> = futures::stream::iter(users.into_iter().map(|h| {
        let setup = setup.clone();
        async move {
            let fan = &h.who.fan;
            setup
                .charge(fan, 1_000, &format!("load-charge-{}", fan.user))
                .await;
            let hold = setup
                .hold(fan, h.who.credential(&setup), h.schedule, h.seat)
                .await;
            Some((h.who.fan, hold.str("holdId")?))
        }
    }))
    .buffered(128)
    .collect()
    .await;
    let holds: Arc<Vec<(Fan, String)>> = Arc::new(holds.into_iter().flatten().collect());
    let limits = Limits {
        max_operations: holds.len() as u64,
        ..limits
    };
    Ok(drive(model, limits, move |i| {
        let (api, holds) = (api.clone(), holds.clone());
        async move {
            let (fan, hold) = &holds[i as usize];
            api.pay(fan, hold, &format!("load-pay-{hold}")).await;
        }
    })
    .await)
}

/// What a rush achieved.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RushOutcome {
    pub users: usize,
    pub seats: usize,
    /// Seats sold and kept.
    pub sold: u64,
    /// Fans who bought and kept at least one seat (with baskets, fewer than
    /// the seats sold).
    pub buyers: u64,
    /// Seconds from the first arrival to the last sale, if every seat sold.
    pub sold_out_after_secs: Option<f64>,
    /// Fans without a seat at the end (those who cancelled among them).
    pub users_without_seat: u64,
    pub gave_up: u64,
    /// Buyers who cancelled for a refund right after paying (`--rush-cancel-percent`).
    pub cancelled: u64,
    /// The sale was scheduled: every fan arrived in its pre-queue.
    pub scheduled: bool,
    /// How far each estimate a fan was given (`expectedAdmissionAt`, on
    /// every answer while they had a place) was from their admission, as a
    /// share of the real wait from that answer on (at least a second).
    /// Both ends are the server's clock: the answer's instant is its
    /// `expiresAt` less the room's abandon-after, the admission its pass's
    /// expiry less the active TTL, so late answers do not count as error.
    pub eta_error: Option<Spread>,
    /// The same for each fan's first estimate only.
    pub eta_error_first: Option<Spread>,
    /// Milliseconds from the last sale to each fan still waiting being
    /// told SOLD_OUT (on their next poll, as `pollAfterSecs` paced it),
    /// both on the service's clock (the payment's `confirmedAt`, the
    /// answer's `expiresAt` less the abandon-after).
    pub sold_out_notice_ms: Option<Spread>,
    /// Fans admitted whose arrival (the ticket's `arr`) was after the
    /// opening, and the pairs of them admitted out of arrival order, by the
    /// admission instants the ACTIVE tokens carry (expiry less the active TTL).
    pub fifo_fans: u64,
    pub fifo_inversions: u64,
    /// Milliseconds from each buyer's arrival (the ticket's `arr`) to their
    /// payment's confirmation, both on the service's clock.
    pub arrival_to_seat_ms: Option<Spread>,
}

/// A distribution's size and quantiles.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct Spread {
    pub count: usize,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
}

impl Spread {
    fn of(mut values: Vec<f64>) -> Option<Spread> {
        if values.is_empty() {
            return None;
        }
        values.sort_by(f64::total_cmp);
        let at = |q: f64| values[((values.len() - 1) as f64 * q).round() as usize];
        Some(Spread {
            count: values.len(),
            p50: at(0.5),
            p90: at(0.9),
            p99: at(0.99),
            max: at(1.0),
        })
    }
}

/// An estimate as given: when (the server's clock, epoch ms) and the
/// admission instant it expected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct Promise {
    at_ms: i64,
    expected_ms: i64,
}

/// What one fan of a rush saw, for the checks made after it (and, with
/// `--rush-dump`, written out a line each).
#[derive(Debug, Clone, Default, serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct Seen {
    /// The ticket's arrival instant (epoch ms).
    arrival_ms: Option<i64>,
    pre_queued: bool,
    /// Every estimate the fan was given, in order.
    promises: Vec<Promise>,
    /// When the fan was admitted (epoch ms), from their pass.
    admitted_ms: Option<i64>,
    told_sold_out_ms: Option<i64>,
    /// When the fan's payment was confirmed (epoch ms, the service's clock).
    bought_ms: Option<i64>,
}

fn epoch_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// The `arr` claim of a queue ticket (a JWT anyone holding it can read).
fn ticket_arrival(ticket: &str) -> Option<i64> {
    jsonwebtoken::dangerous::insecure_decode::<serde_json::Value>(ticket)
        .ok()?
        .claims["arr"]
        .as_i64()
}

fn parse_ms(text: &str) -> Option<i64> {
    let at =
        time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).ok()?;
    i64::try_from(at.unix_timestamp_nanos() / 1_000_000).ok()
}

/// What the fans saw, judged.
#[derive(Debug, Default)]
struct Judged {
    eta_error: Option<Spread>,
    eta_error_first: Option<Spread>,
    sold_out_notice_ms: Option<Spread>,
    fifo_fans: u64,
    fifo_inversions: u64,
    arrival_to_seat_ms: Option<Spread>,
}

/// An estimate's error against an admission at `admitted_ms`: the gap as a
/// share of the wait that followed it (at least a second).
fn promise_error(promise: &Promise, admitted_ms: i64) -> f64 {
    let waited = (admitted_ms - promise.at_ms).max(1_000) as f64;
    (admitted_ms - promise.expected_ms).abs() as f64 / waited
}

/// The checks made on what the fans saw.
fn judge(seen: &[Seen], last_sale_ms: Option<i64>) -> Judged {
    let admitted = || {
        seen.iter()
            .filter_map(|s| Some((s.admitted_ms?, s.promises.as_slice())))
    };
    let eta_error = admitted()
        .flat_map(|(at, promises)| promises.iter().map(move |p| promise_error(p, at)))
        .collect();
    let eta_error_first = admitted()
        .filter_map(|(at, promises)| Some(promise_error(promises.first()?, at)))
        .collect();
    let notice = last_sale_ms.map_or_else(Vec::new, |sale| {
        seen.iter()
            .filter_map(|s| Some((s.told_sold_out_ms? - sale).max(0) as f64))
            .collect()
    });
    let fifo: Vec<(i64, i64)> = seen
        .iter()
        .filter(|s| !s.pre_queued)
        .filter_map(|s| Some((s.arrival_ms?, s.admitted_ms?)))
        .collect();
    let to_seat = seen
        .iter()
        .filter_map(|s| Some((s.bought_ms? - s.arrival_ms?).max(0) as f64))
        .collect();
    Judged {
        arrival_to_seat_ms: Spread::of(to_seat),
        eta_error: Spread::of(eta_error),
        eta_error_first: Spread::of(eta_error_first),
        sold_out_notice_ms: Spread::of(notice),
        fifo_fans: fifo.len() as u64,
        fifo_inversions: boxoffice_core::domain::room::admission_inversions(&fifo),
    }
}

/// `users` users arrive evenly over `arrival` for one concert with `seats`
/// seats (a multiple of 50). Each enters, polls until ACTIVE (when
/// `pollAfterSecs` says, at most every `poll_max`), lists the dates and
/// seats, holds a free seat (on a lost race it looks again, up to 5 times),
/// charges the price and pays; a fan who gives up after admission leaves
/// the line, handing the admission back. A fan told SOLD_OUT stops; once every seat
/// is sold the fans not in line stop, and those in line poll on until
/// told. With `opens_after`, the sale is scheduled to open
/// that long after the concert is made, so fans arriving before wait in
/// its pre-queue and are drawn into line at the opening. With
/// `cancel_percent`, that share of the buyers (by user id) cancel their
/// reservations for a refund as soon as they are paid, and the seats go back
/// on sale to the fans still looking; a seat counts as sold once a fan keeps
/// it. With `max_basket` above 1, fan `u` holds a basket of
/// `1 + u % max_basket` free seats of one date together (fewer when fewer
/// are free) and pays for it in one payment.
/// With `dump`, what every fan saw is written there, a JSON line each.
#[allow(clippy::too_many_arguments)]
pub async fn rush(
    api: Api,
    users: usize,
    arrival: Duration,
    seats: usize,
    limit: Duration,
    poll_max: Duration,
    pow_bits: Option<u8>,
    opens_after: Option<Duration>,
    cancel_percent: u8,
    max_basket: u8,
    dump: Option<&std::path::Path>,
) -> anyhow::Result<(Driven, RushOutcome)> {
    let dates = seats.div_ceil(50).clamp(1, 100) as u32;
    let concert = api.create_concert("Rush", dates, 100_000).await?;
    if let Some(bits) = pow_bits {
        api.gate(concert, bits).await?;
    }
    if let Some(after) = opens_after {
        let opens_at = epoch_ms() + i64::try_from(after.as_millis()).unwrap_or(i64::MAX);
        api.schedule_sale(concert, opens_at).await?;
    }
    let settings = api.room(concert).await?["settings"].clone();
    let millis_of = |key: &str| {
        settings[key]
            .as_i64()
            .map(|secs| secs * 1000)
            .with_context(|| format!("the room's {key}"))
    };
    let (active_ttl_ms, abandon_after_ms) =
        (millis_of("activeTtlSecs")?, millis_of("abandonAfterSecs")?);
    let seen = Arc::new(std::sync::Mutex::new(Vec::with_capacity(users)));
    let base = user_base();
    let sold = Arc::new(AtomicU64::new(0));
    let buyers = Arc::new(AtomicU64::new(0));
    let gave_up = Arc::new(AtomicU64::new(0));
    let cancelled = Arc::new(AtomicU64::new(0));
    let sold_out = Arc::new(AtomicBool::new(false));
    let last_sale_ms = Arc::new(AtomicU64::new(0));
    let begin = Instant::now();
    let rate = (users as f64 / arrival.as_secs_f64().max(0.001)).ceil() as u32;
    let state = (
        sold.clone(),
        buyers.clone(),
        gave_up.clone(),
        cancelled.clone(),
        sold_out.clone(),
        last_sale_ms.clone(),
        seen.clone(),
    );
    let driven = drive(
        Model::Open { rate: rate.max(1) },
        Limits {
            duration: limit,
            max_operations: users as u64,
            // Every user is one long journey: none may be shed.
            max_in_flight: users,
        },
        move |i| {
            let api = api.clone();
            let (sold, buyers, gave_up, cancelled, sold_out, last_sale_ms, seen) = state.clone();
            async move {
                let ctx = Journeying {
                    concert,
                    seats: seats as u64,
                    begin,
                    limit,
                    poll_max,
                    active_ttl_ms,
                    abandon_after_ms,
                    cancel_percent,
                    max_basket: max_basket.max(1),
                };
                let mut fan_seen = Seen::default();
                let outcome =
                    journey(&api, base + i as i64, &ctx, &sold, &sold_out, &mut fan_seen).await;
                if let Journey::Bought { confirmed_ms } = &outcome {
                    fan_seen.bought_ms = *confirmed_ms;
                }
                if let Ok(mut all) = seen.lock() {
                    all.push(fan_seen);
                }
                match outcome {
                    Journey::Bought { confirmed_ms } => {
                        buyers.fetch_add(1, Ordering::Relaxed);
                        let at = confirmed_ms.unwrap_or_else(epoch_ms);
                        last_sale_ms.fetch_max(u64::try_from(at).unwrap_or(0), Ordering::Relaxed);
                    }
                    Journey::GaveUp => {
                        gave_up.fetch_add(1, Ordering::Relaxed);
                    }
                    Journey::Cancelled => {
                        cancelled.fetch_add(1, Ordering::Relaxed);
                    }
                    Journey::SoldOut => {}
                }
            }
        },
    )
    .await;
    let sold = sold.load(Ordering::Relaxed);
    let buyers = buyers.load(Ordering::Relaxed);
    let last_sale = last_sale_ms.load(Ordering::Relaxed) as i64;
    let all_sold = sold as usize >= dates as usize * 50;
    let seen: Vec<Seen> = seen.lock().map(|s| s.clone()).unwrap_or_default();
    if let Some(path) = dump {
        let mut lines = String::new();
        for fan in &seen {
            lines.push_str(&serde_json::to_string(fan)?);
            lines.push('\n');
        }
        std::fs::write(path, lines).with_context(|| format!("writing {}", path.display()))?;
    }
    let judged = judge(&seen, all_sold.then_some(last_sale));
    let started_ms = epoch_ms() - i64::try_from(begin.elapsed().as_millis()).unwrap_or(0);
    let outcome = RushOutcome {
        users,
        seats: dates as usize * 50,
        sold,
        buyers,
        sold_out_after_secs: all_sold.then(|| (last_sale - started_ms).max(0) as f64 / 1000.0),
        users_without_seat: (users as u64).saturating_sub(buyers),
        gave_up: gave_up.load(Ordering::Relaxed),
        cancelled: cancelled.load(Ordering::Relaxed),
        scheduled: opens_after.is_some(),
        eta_error: judged.eta_error,
        eta_error_first: judged.eta_error_first,
        sold_out_notice_ms: judged.sold_out_notice_ms,
        fifo_fans: judged.fifo_fans,
        fifo_inversions: judged.fifo_inversions,
        arrival_to_seat_ms: judged.arrival_to_seat_ms,
    };
    Ok((driven, outcome))
}

enum Journey {
    /// With the sale's instant as the service recorded it.
    Bought {
        confirmed_ms: Option<i64>,
    },
    /// Bought, then cancelled for a refund: the seat went back on sale.
    Cancelled,
    SoldOut,
    GaveUp,
}

/// What every journey of a rush shares.
struct Journeying {
    concert: i64,
    seats: u64,
    begin: Instant,
    limit: Duration,
    /// The longest a waiting user sleeps between polls.
    poll_max: Duration,
    /// The room's active TTL: an ACTIVE token's expiry less this is its admission.
    active_ttl_ms: i64,
    /// The room's abandon-after: a waiting token's expiry less this is
    /// the instant of the answer that carried it.
    abandon_after_ms: i64,
    /// The share of buyers, by user id, who cancel once paid.
    cancel_percent: u8,
    /// The largest basket a fan holds (fan `u` asks for `1 + u % max_basket`).
    max_basket: u8,
}

async fn journey(
    api: &Api,
    user: i64,
    ctx: &Journeying,
    sold: &AtomicU64,
    sold_out: &AtomicBool,
    seen: &mut Seen,
) -> Journey {
    let (concert, seats, begin, limit) = (ctx.concert, ctx.seats, ctx.begin, ctx.limit);
    let alive = || begin.elapsed() < limit && !sold_out.load(Ordering::Relaxed);
    let fan = api.sign_in(user);
    let mut view = api.issue_token(&fan, concert).await;
    // No answer, or a refusal to retry (a shed request, a rate limit, both
    // answered with `Retry-After: 1`): ask again, as a fan's page does.
    while (view.status == 0 || view.status >= 500 || view.status == 429) && alive() {
        tokio::time::sleep(Duration::from_secs(1)).await;
        view = api.issue_token(&fan, concert).await;
    }
    if view.code == "SOLD_OUT" {
        return Journey::SoldOut;
    }
    let Some(ticket) = view.str("token") else {
        return Journey::GaveUp;
    };
    seen.arrival_ms = ticket_arrival(&ticket);
    seen.pre_queued = view.data["status"] == "PRE_QUEUE";
    // Wait in line, checking again when the service says. A fan still
    // waiting when the last seat sells goes on until told so.
    let pass = loop {
        if begin.elapsed() >= limit {
            return Journey::SoldOut;
        }
        match view.data["status"].as_str() {
            Some("ACTIVE") => match view.str("admissionPass") {
                Some(pass) => {
                    // The token's own expiry, to the millisecond (the
                    // pass's is to the second).
                    seen.admitted_ms = view
                        .str("expiresAt")
                        .and_then(|at| parse_ms(&at))
                        .map(|expiry| expiry - ctx.active_ttl_ms);
                    break pass;
                }
                None => return Journey::GaveUp,
            },
            Some("WAITING" | "PRE_QUEUE" | "PAUSED") => {
                let expected = view.str("expectedAdmissionAt").and_then(|at| parse_ms(&at));
                let answered = view.str("expiresAt").and_then(|at| parse_ms(&at));
                if let (Some(expected_ms), Some(expires_ms)) = (expected, answered) {
                    seen.promises.push(Promise {
                        at_ms: expires_ms - ctx.abandon_after_ms,
                        expected_ms,
                    });
                }
                let after = Duration::from_secs(view.data["pollAfterSecs"].as_u64().unwrap_or(1));
                tokio::time::sleep(after.clamp(Duration::from_secs(1), ctx.poll_max)).await;
            }
            Some("SOLD_OUT" | "CLOSED") => {
                // The answer's instant on the service's clock, as for estimates.
                let answered = view.str("expiresAt").and_then(|at| parse_ms(&at));
                seen.told_sold_out_ms =
                    Some(answered.map_or_else(epoch_ms, |at| at - ctx.abandon_after_ms));
                return Journey::SoldOut;
            }
            _ if view.status == 0 || view.status >= 500 || view.status == 429 => {
                // No answer, or a refusal to retry: try again shortly.
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            _ => return Journey::GaveUp,
        }
        view = api.poll(&fan, &ticket).await;
    };
    let token = match api.booking {
        Credential::Pass => pass,
        Credential::Ticket => ticket.clone(),
    };
    // Find free seats and hold them together.
    let wanted = 1 + user.rem_euclid(i64::from(ctx.max_basket)) as usize;
    let mut hold = None;
    for _ in 0..5 {
        if !alive() {
            return Journey::SoldOut;
        }
        let dates = api.schedules(&fan, &token, concert).await;
        let open: Vec<i64> = dates
            .data
            .as_array()
            .map(|list| {
                list.iter()
                    .filter(|d| d["availableSeats"].as_u64().unwrap_or(0) > 0)
                    .filter_map(|d| d["scheduleId"].as_i64())
                    .collect()
            })
            .unwrap_or_default();
        if dates.ok() && open.is_empty() {
            if sold.load(Ordering::Relaxed) >= seats {
                sold_out.store(true, Ordering::Relaxed);
            }
            // Seats may be held but unpaid: look again shortly.
            tokio::time::sleep(Duration::from_millis(500)).await;
            continue;
        }
        let Some(&schedule) = open.get(user as usize % open.len().max(1)) else {
            continue;
        };
        let list = api.seats(&fan, &token, schedule).await;
        let free: Vec<i64> = list
            .data
            .as_array()
            .map(|l| {
                l.iter()
                    .filter(|s| s["status"] == "AVAILABLE")
                    .filter_map(|s| s["seatNumber"].as_i64())
                    .collect()
            })
            .unwrap_or_default();
        if free.is_empty() {
            continue;
        }
        // A run of free seats (by number) from a place of the fan's own.
        let start = user as usize % free.len();
        let basket: Vec<i64> = free
            .iter()
            .cycle()
            .skip(start)
            .take(wanted.min(free.len()))
            .copied()
            .collect();
        let held = if basket.len() == 1 {
            api.hold(&fan, &token, schedule, basket[0]).await
        } else {
            api.hold_basket(&fan, &token, schedule, &basket).await
        };
        if held.ok() {
            hold = held
                .str("holdId")
                .zip(held.data["price"].as_i64())
                .map(|(id, price)| (id, price, basket.len() as u64));
            break;
        }
    }
    // A fan who gives up once admitted says so, handing the admission
    // back: one who just closed the tab would keep it for the room's
    // active TTL, and on a nearly sold-out concert (ACTIVE fans capped per
    // sellable seat) a crowd of those would keep the line from moving.
    let Some((hold_id, price, held_seats)) = hold else {
        api.leave(&fan, &ticket).await;
        return Journey::GaveUp;
    };
    if !api
        .charge(&fan, price, &format!("rush-charge-{user}"))
        .await
        .ok()
    {
        api.leave(&fan, &ticket).await;
        return Journey::GaveUp;
    }
    let paid = api.pay(&fan, &hold_id, &format!("rush-pay-{user}")).await;
    // A canceller returns the seat before it counts as sold, so the rush
    // ends only once every seat has a buyer who kept it.
    let cancels = user.rem_euclid(100) < i64::from(ctx.cancel_percent);
    let mut kept = held_seats;
    if paid.ok() && cancels {
        // Every seat of the basket goes back, each its own cancellation.
        let reservations: Vec<String> = paid.data["reservations"]
            .as_array()
            .map(|list| {
                list.iter()
                    .filter_map(|r| r["reservationId"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        for reservation in &reservations {
            let answer = api
                .cancel(
                    &fan,
                    reservation,
                    &format!("rush-cancel-{user}-{reservation}"),
                )
                .await;
            if answer.ok() {
                kept = kept.saturating_sub(1);
            }
        }
        if kept == 0 {
            return Journey::Cancelled;
        }
    }
    if paid.ok() {
        if sold.fetch_add(kept, Ordering::Relaxed) + kept >= seats {
            sold_out.store(true, Ordering::Relaxed);
        }
        Journey::Bought {
            confirmed_ms: paid.str("confirmedAt").and_then(|at| parse_ms(&at)),
        }
    } else {
        api.leave(&fan, &ticket).await;
        Journey::GaveUp
    }
}

#[cfg(test)]
mod tests {
    use super::{Promise, Seen, judge};

    fn fan(arrival_ms: i64, admitted_ms: i64) -> Seen {
        Seen {
            arrival_ms: Some(arrival_ms),
            admitted_ms: Some(admitted_ms),
            ..Seen::default()
        }
    }

    #[test]
    fn fans_admitted_out_of_arrival_order_are_counted_and_the_drawn_pre_queue_is_not() {
        let in_order = [fan(1, 100), fan(2, 100), fan(3, 200)];
        assert_eq!(judge(&in_order, None).fifo_inversions, 0);
        // The third arrival was let in before the second: one inversion.
        let broken = [fan(1, 100), fan(2, 300), fan(3, 200)];
        let judged = judge(&broken, None);
        assert_eq!((judged.fifo_fans, judged.fifo_inversions), (3, 1));
        // The pre-queue is drawn, not in arrival order: left out of the count.
        let drawn = Seen {
            pre_queued: true,
            ..fan(0, 900)
        };
        assert_eq!(judge(&[drawn, fan(5, 100)], None).fifo_fans, 1);
    }

    #[test]
    fn each_estimate_is_judged_against_the_wait_that_followed_it() {
        // Promised at 0 for 8 s, admitted at 10 s: 2 s off a 10 s wait.
        // Promised again at 6 s for 9 s: 1 s off the 4 s that followed (not
        // off the whole 10 s).
        let admitted = Seen {
            promises: vec![
                Promise {
                    at_ms: 0,
                    expected_ms: 8_000,
                },
                Promise {
                    at_ms: 6_000,
                    expected_ms: 9_000,
                },
            ],
            admitted_ms: Some(10_000),
            ..Seen::default()
        };
        // Never admitted: nothing to judge.
        let turned_away = Seen {
            promises: vec![Promise {
                at_ms: 0,
                expected_ms: 1_000,
            }],
            ..Seen::default()
        };
        let judged = judge(&[admitted, turned_away], None);
        let every = judged.eta_error.unwrap();
        assert_eq!(every.count, 2);
        assert!((every.max - 0.25).abs() < 1e-9, "{every:?}");
        let right = Promise {
            at_ms: 6_000,
            expected_ms: 10_000,
        };
        assert!(super::promise_error(&right, 10_000).abs() < 1e-9);
        let first = judged.eta_error_first.unwrap();
        assert_eq!(first.count, 1);
        assert!((first.p50 - 0.2).abs() < 1e-9, "{first:?}");
    }

    #[test]
    fn a_wait_under_a_second_is_judged_as_a_second() {
        let quick = Seen {
            promises: vec![Promise {
                at_ms: 0,
                expected_ms: 300,
            }],
            admitted_ms: Some(100),
            ..Seen::default()
        };
        let error = judge(&[quick], None).eta_error.unwrap();
        assert!((error.p50 - 0.2).abs() < 1e-9, "{error:?}");
    }

    #[test]
    fn sold_out_notices_count_from_the_last_sale() {
        let told = Seen {
            told_sold_out_ms: Some(61_500),
            ..Seen::default()
        };
        let notice = judge(&[told], Some(60_000)).sold_out_notice_ms.unwrap();
        assert_eq!((notice.count, notice.max), (1, 1_500.0));
    }

    #[test]
    fn the_time_to_a_seat_runs_from_arrival_to_payment_for_buyers_only() {
        let buyer = |arrival_ms, bought_ms| Seen {
            bought_ms: Some(bought_ms),
            ..fan(arrival_ms, arrival_ms + 10)
        };
        let looker = fan(5, 50);
        let spread = judge(&[buyer(1_000, 4_000), buyer(2_000, 3_000), looker], None)
            .arrival_to_seat_ms
            .unwrap();
        assert_eq!(
            (spread.count, spread.p50, spread.max),
            (2, 3_000.0, 3_000.0)
        );
        assert_eq!(spread.p90, 3_000.0);
        let none = judge(&[fan(1, 2)], None).arrival_to_seat_ms;
        assert!(none.is_none());
    }
}
