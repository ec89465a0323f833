//! `boxoffice-concurrency-bench`: the store's concurrency strategies on
//! PostgreSQL, head to head. For each strategy, in a fresh schema:
//!
//! - **one seat**: N concurrent holds of the same seat (one must win);
//! - **spread**: M holds over M different seats, C in flight at a time;
//! - **one balance**: K concurrent charges of one user's balance. Charges
//!   are in the accounts port, which the redis_lock strategy does not wrap
//!   (it locks holds and payments only), so there they run as under the
//!   conditional strategy.
//!
//! It prints a Markdown table (throughput, p50/p99/max latency, outcomes)
//! and checks each scenario's invariant, failing if one is broken.
//! Usage: `cargo run --release -p boxoffice-loadtest --bin boxoffice-concurrency-bench -- --help`.

// A report printer: standard output is its product.
#![allow(clippy::print_stdout)]

use anyhow::{Context, ensure};
use boxoffice_core::domain::concert::{NewConcert, NewSchedule, SeatBand};
use boxoffice_core::domain::seat_hold::{Basket, HoldPolicy};
use boxoffice_core::domain::{EventId, HoldId, ScheduleId, SeatNumber, Timestamp, UserId, Won};
use boxoffice_core::memory::SystemClock;
use boxoffice_core::ports::{
    Booking, ChargeAttempt, ChargeOutcome, Clock, HoldAttempt, HoldOutcome, Store,
};
use boxoffice_loadtest::stats::{Summary, ms};
use boxoffice_redis::{Redis, RedisLock, RedisSettings};
use boxoffice_store::testing::fresh_pg;
use boxoffice_store::{Concurrency, LockedStore, PgStore};
use clap::Parser;
use futures::StreamExt;
use std::sync::Arc;
use std::time::{Duration, Instant};
use uuid::Uuid;

#[derive(Debug, Parser)]
#[command(about = "Measure the seat-hold and balance concurrency strategies on PostgreSQL")]
struct Args {
    /// Concurrent holds of one seat.
    #[arg(long, default_value_t = 1_000)]
    one_seat: usize,
    /// Holds spread over as many seats (a multiple of 5,000 up to 10,000 per concert pair).
    #[arg(long, default_value_t = 10_000)]
    spread: usize,
    /// Holds in flight at once in the spread scenario.
    #[arg(long, default_value_t = 64)]
    spread_concurrency: usize,
    /// Concurrent charges of one balance.
    #[arg(long, default_value_t = 1_000)]
    one_balance: usize,
    /// PostgreSQL connections per store.
    #[arg(long, default_value_t = 32)]
    pool: u32,
    /// Redis for the redis_lock strategy.
    #[arg(long, default_value = "redis://127.0.0.1:6379/0")]
    redis: String,
    /// Only these strategies (conditional, pessimistic, optimistic, redis_lock).
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
}

const STRATEGIES: [&str; 4] = ["conditional", "pessimistic", "optimistic", "redis_lock"];

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    println!(
        "| strategy | scenario | operations | wall (s) | throughput (/s) | p50 (ms) | p99 (ms) | max (ms) | outcome |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|---:|---|");
    for strategy in STRATEGIES {
        if !args.only.is_empty() && !args.only.iter().any(|s| s == strategy) {
            continue;
        }
        let (store, booking) = open(strategy, &args).await?;
        let (concert_ids, schedules) = seed(store.as_ref(), args.spread).await?;
        ensure!(!concert_ids.is_empty(), "no concert created");
        row(
            strategy,
            "one seat",
            one_seat(&booking, schedules[0], args.one_seat).await?,
        );
        row(
            strategy,
            "spread",
            spread(&booking, &schedules, &args).await?,
        );
        row(
            strategy,
            "one balance",
            one_balance(&store, args.one_balance).await?,
        );
    }
    Ok(())
}

fn row(strategy: &str, scenario: &str, (s, outcome): (Summary, String)) {
    println!(
        "| {strategy} | {scenario} | {} | {:.2} | {:.0} | {} | {} | {} | {outcome} |",
        s.operations,
        s.wall.as_secs_f64(),
        s.throughput(),
        ms(s.p50),
        ms(s.p99),
        ms(s.max)
    );
}

/// The strategy's store, and the booking port its holds go through.
async fn open(strategy: &str, args: &Args) -> anyhow::Result<(Arc<dyn Store>, Arc<dyn Booking>)> {
    let mut pg = fresh_pg().await;
    pg.max_connections = args.pool;
    pg.acquire_timeout = Duration::from_secs(60);
    let concurrency = match strategy {
        "pessimistic" => Concurrency::Pessimistic,
        "optimistic" => Concurrency::Optimistic {
            max_attempts: 1_000,
        },
        _ => Concurrency::Conditional,
    };
    let store: Arc<dyn Store> = Arc::new(PgStore::connect(&pg, concurrency).await?);
    if strategy != "redis_lock" {
        return Ok((store.clone(), store));
    }
    let redis = Redis::connect(&RedisSettings {
        url: args.redis.clone(),
        cluster: false,
        sentinel_service: String::new(),
        key_prefix: format!("bench:{}:", Uuid::new_v4().simple()),
        command_timeout: Duration::from_secs(2),
        connect_timeout: Duration::from_secs(2),
        tls: None,
    })?;
    let booking = Arc::new(LockedStore::new(
        store.clone(),
        Arc::new(RedisLock::new(redis)),
        Duration::from_secs(60),
    ));
    Ok((store, booking))
}

/// Enough concerts of 100 dates x 50 seats for `seats` seats; returns their schedules.
async fn seed(store: &dyn Store, seats: usize) -> anyhow::Result<(Vec<i64>, Vec<ScheduleId>)> {
    let now = SystemClock.now();
    let per_concert = 100 * 50;
    let concerts = seats.div_ceil(per_concert).max(1);
    let band = [SeatBand {
        grade: "R".into(),
        price: Won::new(1_000),
        first: 1,
        last: 50,
    }];
    let mut ids = Vec::new();
    let mut schedules = Vec::new();
    for c in 0..concerts {
        let dates = (0..100)
            .map(|d| NewSchedule {
                starts_at: now.plus_secs(86_400 * (d + 1)),
                venue: "Bench Hall".into(),
            })
            .collect();
        let concert = NewConcert::new(&format!("Bench {c}"), "Bench", dates, &band)?;
        let id = store.create_concert(&concert, now).await?;
        ids.push(id.get());
        schedules.extend(
            store
                .schedules_with_availability(id, now)
                .await?
                .into_iter()
                .map(|s| s.schedule.id),
        );
    }
    Ok((ids, schedules))
}

fn attempt(
    user: i64,
    schedule: ScheduleId,
    seat: i64,
    now: Timestamp,
) -> anyhow::Result<HoldAttempt> {
    Ok(HoldAttempt {
        hold_id: HoldId::from_uuid(Uuid::new_v4()),
        user_id: UserId::new(user)?,
        schedule_id: schedule,
        seats: Basket::one(SeatNumber::new(seat)?),
        now,
        expires_at: now.plus_secs(300),
        limits: HoldPolicy::default().limits_at(now),
    })
}

async fn timed<T>(f: impl Future<Output = anyhow::Result<T>>) -> (Duration, anyhow::Result<T>) {
    let started = Instant::now();
    let out = f.await;
    (started.elapsed(), out)
}

async fn one_seat(
    store: &Arc<dyn Booking>,
    schedule: ScheduleId,
    n: usize,
) -> anyhow::Result<(Summary, String)> {
    let now = SystemClock.now();
    let started = Instant::now();
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                let a = attempt(i as i64 + 1, schedule, 1, now)?;
                Ok::<_, anyhow::Error>(timed(store.hold_seat(&a)).await)
            })
        })
        .collect();
    let mut latencies = Vec::with_capacity(n);
    let (mut won, mut taken, mut failed) = (0, 0, 0);
    for task in tasks {
        let (latency, outcome) = task.await.context("task")??;
        latencies.push(latency);
        match outcome {
            Ok(HoldOutcome::Held(_)) => won += 1,
            Ok(HoldOutcome::SeatTaken) => taken += 1,
            _ => failed += 1,
        }
    }
    let wall = started.elapsed();
    ensure!(won == 1, "one seat: {won} winners");
    Ok((
        Summary::of(latencies, wall),
        format!("{won} held, {taken} refused, {failed} errors"),
    ))
}

async fn spread(
    store: &Arc<dyn Booking>,
    schedules: &[ScheduleId],
    args: &Args,
) -> anyhow::Result<(Summary, String)> {
    let now = SystemClock.now();
    // Seat 1 of the first schedule was taken by the one-seat scenario: start at seat 2 there.
    let targets: Vec<(ScheduleId, i64)> = schedules
        .iter()
        .flat_map(|s| (1..=50).map(move |seat| (*s, seat)))
        .skip(1)
        .take(args.spread)
        .collect();
    let started = Instant::now();
    let results: Vec<(Duration, anyhow::Result<HoldOutcome>)> = futures::stream::iter(
        targets
            .into_iter()
            .enumerate()
            .map(|(i, (schedule, seat))| {
                let store = store.clone();
                async move {
                    match attempt(1_000_000 + i as i64, schedule, seat, now) {
                        Ok(a) => timed(store.hold_seat(&a)).await,
                        Err(e) => (Duration::ZERO, Err(e)),
                    }
                }
            }),
    )
    .buffer_unordered(args.spread_concurrency)
    .collect()
    .await;
    let wall = started.elapsed();
    let held = results
        .iter()
        .filter(|(_, r)| matches!(r, Ok(HoldOutcome::Held(_))))
        .count();
    let failed = results.len() - held;
    ensure!(failed == 0, "spread: {failed} holds of free seats failed");
    let latencies = results.into_iter().map(|(l, _)| l).collect();
    Ok((
        Summary::of(latencies, wall),
        format!("{held} held ({} in flight)", args.spread_concurrency),
    ))
}

async fn one_balance(store: &Arc<dyn Store>, n: usize) -> anyhow::Result<(Summary, String)> {
    let user = UserId::new(42)?;
    let started = Instant::now();
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move {
                let a = ChargeAttempt {
                    user_id: user,
                    amount: Won::new(1_000),
                    max_balance: Won::new(i64::MAX / 2),
                    now: SystemClock.now(),
                    event_id: EventId::from_uuid(Uuid::now_v7()),
                };
                timed(store.charge_balance(&a, None)).await
            })
        })
        .collect();
    let mut latencies = Vec::with_capacity(n);
    let mut failed = 0;
    for task in tasks {
        let (latency, outcome) = task.await.context("task")?;
        latencies.push(latency);
        if !matches!(outcome, Ok(ChargeOutcome::Charged(_))) {
            failed += 1;
        }
    }
    let wall = started.elapsed();
    let balance = store.balance(user).await?;
    let expected = (n - failed) as i64 * 1_000;
    ensure!(
        balance.amount() == expected,
        "one balance: {} won, expected {expected}",
        balance.amount()
    );
    Ok((
        Summary::of(latencies, wall),
        format!("balance exact ({} won), {failed} errors", balance.amount()),
    ))
}
