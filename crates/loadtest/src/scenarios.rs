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

pub async fn poll(api: Api, model: Model, limits: Limits, pool: usize) -> anyhow::Result<Driven> {
    let base = user_base();
    let setup = setup_api(&api);
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
    let tokens = Arc::new(tokens);
    Ok(drive(model, limits, move |i| {
        let (api, tokens) = (api.clone(), tokens.clone());
        async move {
            let (fan, ticket) = &tokens[i as usize % tokens.len()];
            api.poll(fan, ticket).await;
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
    pub sold: u64,
    /// Seconds from the first arrival to the last sale, if every seat sold.
    pub sold_out_after_secs: Option<f64>,
    pub users_without_seat: u64,
    pub gave_up: u64,
}

/// `users` users arrive evenly over `arrival` for one concert with `seats`
/// seats (a multiple of 50). Each enters, polls until ACTIVE (as advised by
/// its ETA, at most once a second, at least every `poll_max`), lists the dates and
/// seats, holds a free seat (on a lost race it looks again, up to 5 times),
/// charges the price and pays. Users stop once every seat is sold.
pub async fn rush(
    api: Api,
    users: usize,
    arrival: Duration,
    seats: usize,
    limit: Duration,
    poll_max: Duration,
    pow_bits: Option<u8>,
) -> anyhow::Result<(Driven, RushOutcome)> {
    let dates = seats.div_ceil(50).clamp(1, 100) as u32;
    let concert = api.create_concert("Rush", dates, 100_000).await?;
    if let Some(bits) = pow_bits {
        api.gate(concert, bits).await?;
    }
    let base = user_base();
    let sold = Arc::new(AtomicU64::new(0));
    let gave_up = Arc::new(AtomicU64::new(0));
    let sold_out = Arc::new(AtomicBool::new(false));
    let last_sale_ms = Arc::new(AtomicU64::new(0));
    let begin = Instant::now();
    let rate = (users as f64 / arrival.as_secs_f64().max(0.001)).ceil() as u32;
    let state = (
        sold.clone(),
        gave_up.clone(),
        sold_out.clone(),
        last_sale_ms.clone(),
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
            let (sold, gave_up, sold_out, last_sale_ms) = state.clone();
            async move {
                let ctx = Journeying {
                    concert,
                    seats: seats as u64,
                    begin,
                    limit,
                    poll_max,
                };
                let outcome = journey(&api, base + i as i64, &ctx, &sold, &sold_out).await;
                match outcome {
                    Journey::Bought => {
                        let ms = begin.elapsed().as_millis() as u64;
                        last_sale_ms.fetch_max(ms, Ordering::Relaxed);
                    }
                    Journey::GaveUp => {
                        gave_up.fetch_add(1, Ordering::Relaxed);
                    }
                    Journey::SoldOut => {}
                }
            }
        },
    )
    .await;
    let sold = sold.load(Ordering::Relaxed);
    let outcome = RushOutcome {
        users,
        seats: dates as usize * 50,
        sold,
        sold_out_after_secs: (sold as usize >= dates as usize * 50)
            .then(|| last_sale_ms.load(Ordering::Relaxed) as f64 / 1000.0),
        users_without_seat: users as u64 - sold,
        gave_up: gave_up.load(Ordering::Relaxed),
    };
    Ok((driven, outcome))
}

enum Journey {
    Bought,
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
}

async fn journey(
    api: &Api,
    user: i64,
    ctx: &Journeying,
    sold: &AtomicU64,
    sold_out: &AtomicBool,
) -> Journey {
    let (concert, seats, begin, limit) = (ctx.concert, ctx.seats, ctx.begin, ctx.limit);
    let alive = || begin.elapsed() < limit && !sold_out.load(Ordering::Relaxed);
    let fan = api.sign_in(user);
    let Some(ticket) = api.issue_token(&fan, concert).await.str("token") else {
        return Journey::GaveUp;
    };
    // Wait in line.
    let pass = loop {
        if !alive() {
            return Journey::SoldOut;
        }
        let view = api.poll(&fan, &ticket).await;
        match view.data["status"].as_str() {
            Some("ACTIVE") => match view.str("admissionPass") {
                Some(pass) => break pass,
                None => return Journey::GaveUp,
            },
            Some("WAITING") => {
                let eta = Duration::from_secs(view.data["etaSeconds"].as_u64().unwrap_or(1));
                tokio::time::sleep(eta.clamp(Duration::from_secs(1), ctx.poll_max)).await;
            }
            _ => return Journey::GaveUp,
        }
    };
    let token = match api.booking {
        Credential::Pass => pass,
        Credential::Ticket => ticket,
    };
    // Find a free seat and hold it.
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
        let Some(&seat) = free.get(user as usize % free.len().max(1)) else {
            continue;
        };
        let held = api.hold(&fan, &token, schedule, seat).await;
        if held.ok() {
            hold = held.str("holdId").zip(held.data["price"].as_i64());
            break;
        }
    }
    let Some((hold_id, price)) = hold else {
        return Journey::GaveUp;
    };
    if !api
        .charge(&fan, price, &format!("rush-charge-{user}"))
        .await
        .ok()
    {
        return Journey::GaveUp;
    }
    if api
        .pay(&fan, &hold_id, &format!("rush-pay-{user}"))
        .await
        .ok()
    {
        if sold.fetch_add(1, Ordering::Relaxed) + 1 >= seats {
            sold_out.store(true, Ordering::Relaxed);
        }
        Journey::Bought
    } else {
        Journey::GaveUp
    }
}
