//! `boxoffice-queue-latency`: how long a fan waits between asking for a
//! token and seeing a position in line. With `queue.entry = direct` the
//! position comes with the token; with `queue.entry = kafka` it appears once
//! the `queue.entered` record is consumed, and this measures that delay.
//! Each of `--users` fans asks once (at most `--concurrency` at a time),
//! then polls every `--poll-ms` until a position shows.
//! Usage: `boxoffice-queue-latency --help`.

// A report printer: standard output is its product.
#![allow(clippy::print_stdout)]

use anyhow::{Context, ensure};
use boxoffice_loadtest::client::Api;
use boxoffice_loadtest::metrics::Recorder;
use boxoffice_loadtest::stats::{Summary, ms, percentile};
use clap::Parser;
use futures::StreamExt;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Debug, Parser)]
#[command(about = "Measure the time from token issue to a position in line")]
struct Args {
    /// The service (loopback addresses only).
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    target: String,
    /// The service's admin.api_key (to create the concert).
    #[arg(long, env = "BOXOFFICE__ADMIN__API_KEY")]
    admin_key: String,
    /// Fans, each asking once.
    #[arg(long, default_value_t = 2_000)]
    users: i64,
    /// Fans asking at once.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// How often a fan without a position polls.
    #[arg(long, default_value_t = 5)]
    poll_ms: u64,
    /// The first user id (use a fresh range per run).
    #[arg(long, default_value_t = 1)]
    first_user: i64,
    #[command(flatten)]
    fans: boxoffice_loadtest::client::FanArgs,
}

/// One fan: (time to the token's answer, time to a position).
async fn fan(
    api: &Api,
    user: i64,
    concert: i64,
    poll: Duration,
) -> anyhow::Result<(Duration, Duration)> {
    let began = Instant::now();
    let fan = api.sign_in(user);
    let issued = api.issue_token(&fan, concert).await;
    ensure!(
        issued.ok(),
        "issue failed: {} {}",
        issued.status,
        issued.code
    );
    let answered = began.elapsed();
    if !issued.data["position"].is_null() {
        return Ok((answered, answered));
    }
    let token = issued.str("token").context("no token")?;
    loop {
        tokio::time::sleep(poll).await;
        let polled = api.poll(&fan, &token).await;
        ensure!(
            polled.ok(),
            "poll failed: {} {}",
            polled.status,
            polled.code
        );
        if !polled.data["position"].is_null() {
            return Ok((answered, began.elapsed()));
        }
        ensure!(
            began.elapsed() < Duration::from_secs(60),
            "no position after 60 s"
        );
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let api = Api::new(
        &args.target,
        &args.admin_key,
        args.fans.identity()?,
        Arc::new(Recorder::default()),
        4_096,
    )?;
    let concert = api.create_concert("Queue latency", 1, 10_000).await?;
    let poll = Duration::from_millis(args.poll_ms);
    let began = Instant::now();
    let results: Vec<anyhow::Result<(Duration, Duration)>> =
        futures::stream::iter(args.first_user..args.first_user + args.users)
            .map(|user| {
                let api = &api;
                async move { fan(api, user, concert, poll).await }
            })
            .buffer_unordered(args.concurrency.max(1))
            .collect()
            .await;
    let wall = began.elapsed();
    let (mut answers, mut positions) = (Vec::new(), Vec::new());
    for result in results {
        let (answered, placed) = result?;
        answers.push(answered);
        positions.push(placed);
    }
    let answer = Summary::of(answers, wall);
    let placed = Summary::of(positions.clone(), wall);
    positions.sort_unstable();
    println!("| measure | fans | p50 | p95 | p99 | max |");
    println!("|---|---|---|---|---|---|");
    println!(
        "| token answered | {} | {} | — | {} | {} |",
        answer.operations,
        ms(answer.p50),
        ms(answer.p99),
        ms(answer.max)
    );
    println!(
        "| position shown | {} | {} | {} | {} | {} |",
        placed.operations,
        ms(placed.p50),
        ms(percentile(&positions, 95.0)),
        ms(placed.p99),
        ms(placed.max)
    );
    println!(
        "\n{} fans in {:.1} s ({:.0} fans/s), polling every {} ms",
        placed.operations,
        wall.as_secs_f64(),
        placed.throughput(),
        args.poll_ms
    );
    Ok(())
}
