//! `boxoffice-stream-fanout`: what open token event streams cost the
//! waiting room. `--streams` fans take a token for one concert and each
//! opens `GET /api/v1/queue/tokens/current/events`; the line moves one
//! place a second (one admitted a round, a round a second), so every stream
//! has news every second. Over `--hold-secs` it counts the events the fans receive and
//! reads the service's `/metrics` before and after: the waiting-room calls
//! the streams cost (`boxoffice_token_stream_refresh_calls_total`) against
//! the streams open. One instance's streams share one refresh per concert,
//! so the calls per second should not grow with the streams.
//! Usage: `boxoffice-stream-fanout --help`.

// A report printer: standard output is its product.
#![allow(clippy::print_stdout)]

use anyhow::{Context, ensure};
use boxoffice_loadtest::client::Api;
use boxoffice_loadtest::metrics::Recorder;
use clap::Parser;
use futures::StreamExt;
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

#[derive(Debug, Parser)]
#[command(about = "Measure what open token event streams cost the waiting room")]
struct Args {
    /// The service (loopback addresses only).
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    target: String,
    /// The service's admin.api_key (to create the concert and set its room).
    #[arg(long, env = "BOXOFFICE__ADMIN__API_KEY")]
    admin_key: String,
    /// Fans, each with one stream open.
    #[arg(long, default_value_t = 10_000)]
    streams: i64,
    /// How long the streams are held open and measured.
    #[arg(long, default_value_t = 30)]
    hold_secs: u64,
    /// Tokens asked for, and streams opened, at once.
    #[arg(long, default_value_t = 256)]
    concurrency: usize,
    /// The first user id (use a fresh range per run).
    #[arg(long, default_value_t = 5_000_000)]
    first_user: i64,
    /// The service's Redis (production mode): the window's commands and CPU
    /// are read from its INFO, Lua scripts' own commands included.
    #[arg(long)]
    redis_url: Option<String>,
    #[command(flatten)]
    fans: boxoffice_loadtest::client::FanArgs,
}

/// What the fans' streams received.
#[derive(Default)]
struct Received {
    events: AtomicU64,
    heartbeats: AtomicU64,
    /// Streams that ended: their fan was admitted (the line moves).
    ended: AtomicU64,
    /// Streams that failed to open, or broke.
    broken: AtomicU64,
    /// Why the first of them did.
    first_failure: std::sync::Mutex<Option<String>>,
}

impl Received {
    fn broke(&self, why: String) {
        self.broken.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut first) = self.first_failure.lock() {
            first.get_or_insert(why);
        }
    }
}

/// Counts the events of one open stream until it ends (after ACTIVE).
async fn read(mut stream: reqwest::Response, received: &Received) {
    let mut pending = Vec::new();
    loop {
        match stream.chunk().await {
            Ok(Some(bytes)) => pending.extend_from_slice(&bytes),
            Ok(None) => {
                received.ended.fetch_add(1, Ordering::Relaxed);
                return;
            }
            Err(err) => return received.broke(format!("a stream failed: {err}")),
        }
        // Whole lines only; a line split across chunks waits for its end.
        while let Some(end) = pending.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = pending.drain(..=end).collect();
            if line.starts_with(b"event:") {
                received.events.fetch_add(1, Ordering::Relaxed);
            } else if line.starts_with(b":") {
                received.heartbeats.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// Redis's commands processed and CPU seconds used so far.
async fn redis_work(url: &str) -> anyhow::Result<(f64, f64)> {
    let client = redis::Client::open(url)?;
    let mut conn = client.get_multiplexed_async_connection().await?;
    let info: String = redis::cmd("INFO").arg("all").query_async(&mut conn).await?;
    let field = |name: &str| -> anyhow::Result<f64> {
        info.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(':')?.trim().parse().ok())
            .with_context(|| format!("{name} not in Redis INFO"))
    };
    Ok((
        field("total_commands_processed")?,
        field("used_cpu_user")? + field("used_cpu_sys")?,
    ))
}

/// A counter or gauge's value in a Prometheus text exposition.
fn metric(text: &str, name: &str) -> anyhow::Result<f64> {
    text.lines()
        .find_map(|line| {
            line.strip_prefix(name)?
                .strip_prefix(' ')?
                .trim()
                .parse()
                .ok()
        })
        .with_context(|| format!("{name} not in /metrics"))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let api = Api::new(
        &args.target,
        &args.admin_key,
        args.fans.identity()?,
        Arc::new(Recorder::default()),
        args.concurrency.max(1),
    )?;
    let concert = api.create_concert("Stream fan-out", 1, 10_000).await?;
    api.change_room(concert, json!({ "admitIntervalSecs": 1, "admitBatch": 1 }))
        .await?;
    let users = args.first_user..args.first_user + args.streams;
    let began = Instant::now();
    let tickets: Vec<(i64, String)> = futures::stream::iter(users)
        .map(|user| {
            let api = &api;
            async move {
                let issued = api.issue_token(&api.sign_in(user), concert).await;
                issued.str("token").map(|t| (user, t))
            }
        })
        .buffer_unordered(args.concurrency.max(1))
        .filter_map(|t| async { t })
        .collect()
        .await;
    ensure!(
        tickets.len() as i64 == args.streams,
        "only {} of {} tokens issued",
        tickets.len(),
        args.streams
    );
    let issued_in = began.elapsed();
    // Streams need a client without an overall timeout.
    let streams_http = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()?;
    let received = Arc::new(Received::default());
    let opened: Vec<reqwest::Response> = futures::stream::iter(tickets)
        .map(|(user, ticket)| {
            let (api, http) = (&api, &streams_http);
            async move { api.open_events(http, &api.sign_in(user), &ticket).await }
        })
        .buffer_unordered(args.concurrency.max(1))
        .filter_map(|r| {
            let received = received.clone();
            async move {
                match r {
                    Ok(stream) => Some(stream),
                    Err(err) => {
                        received.broke(format!("a stream did not open: {err}"));
                        None
                    }
                }
            }
        })
        .collect()
        .await;
    let opened_in = began.elapsed() - issued_in;
    let readers: Vec<_> = opened
        .into_iter()
        .map(|stream| {
            let received = received.clone();
            tokio::spawn(async move { read(stream, &received).await })
        })
        .collect();
    // Let the first events (each stream's current view) arrive first.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let before = api.metrics().await?;
    let redis_before = match &args.redis_url {
        Some(url) => Some(redis_work(url).await?),
        None => None,
    };
    let (events0, beats0) = (
        received.events.load(Ordering::Relaxed),
        received.heartbeats.load(Ordering::Relaxed),
    );
    let window = Instant::now();
    tokio::time::sleep(Duration::from_secs(args.hold_secs)).await;
    let after = api.metrics().await?;
    let redis_after = match &args.redis_url {
        Some(url) => Some(redis_work(url).await?),
        None => None,
    };
    let secs = window.elapsed().as_secs_f64();
    let events = received.events.load(Ordering::Relaxed) - events0;
    let beats = received.heartbeats.load(Ordering::Relaxed) - beats0;
    let open = metric(&after, "boxoffice_token_streams_open")?;
    let calls = metric(&after, "boxoffice_token_stream_refresh_calls_total")?
        - metric(&before, "boxoffice_token_stream_refresh_calls_total")?;
    for reader in &readers {
        reader.abort();
    }
    let per_second = calls / secs;
    println!("| measure | value |");
    println!("|---|---|");
    println!(
        "| tokens issued, streams opened | {} in {:.1} s, {} in {:.1} s |",
        args.streams,
        issued_in.as_secs_f64(),
        args.streams - received.broken.load(Ordering::Relaxed) as i64,
        opened_in.as_secs_f64()
    );
    println!("| streams open on the instance (`/metrics`) | {open:.0} |");
    println!(
        "| streams ended (their fan admitted), broken | {}, {} |",
        received.ended.load(Ordering::Relaxed),
        received.broken.load(Ordering::Relaxed)
    );
    println!("| window | {secs:.1} s |");
    println!("| waiting-room calls for the streams | {calls:.0}: {per_second:.2}/s |");
    println!(
        "| waiting-room calls per stream per second | {:.6} |",
        per_second / open.max(1.0)
    );
    println!(
        "| events received | {events}: {:.0}/s, {:.2} per stream per second |",
        events as f64 / secs,
        events as f64 / secs / open.max(1.0)
    );
    println!("| heartbeats received | {beats} |");
    if let (Some((commands0, cpu0)), Some((commands1, cpu1))) = (redis_before, redis_after) {
        println!(
            "| Redis, the whole service (streams, admission rounds) | {:.0} commands/s (Lua scripts' own included), {:.0} % of a core |",
            (commands1 - commands0) / secs,
            (cpu1 - cpu0) / secs * 100.0
        );
    }
    let first_failure = received.first_failure.lock().ok().and_then(|f| f.clone());
    ensure!(
        received.broken.load(Ordering::Relaxed) == 0,
        "some streams failed; the first: {}",
        first_failure.unwrap_or_default()
    );
    Ok(())
}
