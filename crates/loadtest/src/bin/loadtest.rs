//! `boxoffice-loadtest`: replays load against a running boxoffice on this
//! machine, reports per-endpoint throughput and latency (JSON, Markdown, an
//! SVG chart), then checks the service's invariants. A violated invariant,
//! a 5xx or an unanswered request fails the run (exit code 1).
//! Usage: `boxoffice-loadtest --help`.

// A report printer: standard output is its product.
#![allow(clippy::print_stdout)]

use boxoffice_loadtest::client::{Api, Credential};
use boxoffice_loadtest::metrics::{Recorder, figures, timeline};
use boxoffice_loadtest::report::Report;
use boxoffice_loadtest::runner::{Limits, MAX_IN_FLIGHT, Model, progress};
use boxoffice_loadtest::scenarios;
use clap::{Parser, ValueEnum};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Scenario {
    Enter,
    Poll,
    Browse,
    Hold,
    HoldContended,
    Pay,
    /// `GET /api/v1/balance`, --pool fans in turn.
    Balance,
    /// `POST /api/v1/balance/charge` of 1 won with a fresh idempotency
    /// key each, --pool fans in turn.
    Charge,
    Rush,
    /// Writes the fans wrk's scripts send (`scripts/wrk/`) into --out:
    /// --rush-users new fans for token issue, --pool fans in line and
    /// --pool admitted fans; sends no load.
    WrkFixtures,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum BookingCredential {
    Pass,
    Ticket,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ModelKind {
    Open,
    Closed,
}

#[derive(Debug, Parser)]
#[command(about = "Load boxoffice on this machine and check its invariants afterwards")]
struct Args {
    /// The service (loopback addresses only). Several instances,
    /// comma-separated, get the requests in turn, as behind a round-robin
    /// load balancer.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    target: String,
    /// The service's admin.api_key (for setup and the invariant check).
    #[arg(long, env = "BOXOFFICE__ADMIN__API_KEY")]
    admin_key: String,
    #[arg(long, value_enum)]
    scenario: Scenario,
    /// Open: a constant arrival rate; closed: a fixed number of users.
    #[arg(long, value_enum, default_value = "closed")]
    model: ModelKind,
    /// Operations started per second (open model).
    #[arg(long, default_value_t = 1_000)]
    rate: u32,
    /// Users sending back to back (closed model).
    #[arg(long, default_value_t = 64)]
    users: usize,
    /// Stop after this many seconds. A rush starts every fan within
    /// --rush-arrival-secs, then gives the fans still in a journey what is
    /// left of this (at least a minute) to finish: it may not be shorter
    /// than the arrival window.
    #[arg(long, default_value_t = 10)]
    duration_secs: u64,
    /// Stop after this many operations. `hold`, `hold-contended` and `pay`
    /// give each operation its own user and seat, 50,000 at most.
    #[arg(long, default_value_t = 1_000_000)]
    max_operations: u64,
    /// Tokens polled (poll), active users (browse), fans (balance, charge)
    /// or fans in line and admitted (wrk-fixtures).
    #[arg(long, default_value_t = 2_000)]
    pool: usize,
    /// Rush: how many users arrive.
    #[arg(long, default_value_t = 10_000)]
    rush_users: usize,
    /// Rush: over how many seconds they arrive.
    #[arg(long, default_value_t = 10)]
    rush_arrival_secs: u64,
    /// Rush: how many seats the concert has (a multiple of 50, at most 5,000).
    #[arg(long, default_value_t = 1_000)]
    rush_seats: usize,
    /// Rush: the longest a waiting user goes between polls; below that the
    /// service's `pollAfterSecs` decides (1 s near the front, 30 s far back).
    #[arg(long, default_value_t = 30)]
    rush_poll_max_secs: u64,
    /// The most requests open at once (sockets are finite on one machine),
    /// as a load balancer's connection pool would bound them. A request's
    /// latency includes its wait for a slot.
    #[arg(long, default_value_t = 2_048)]
    max_open_requests: usize,
    /// The mock data platform's report (`http://HOST:PORT/report`, from
    /// `boxoffice dataplatform`). When given, the run waits for deliveries to
    /// settle and fails unless every reservation reached the platform exactly
    /// once. Start the platform and the database fresh for the run.
    #[arg(long)]
    data_platform_report: Option<String>,
    /// Where report.json, report.md and chart.svg go.
    #[arg(long, default_value = "bench-results/latest")]
    out: PathBuf,
    #[command(flatten)]
    fans: boxoffice_loadtest::client::FanArgs,
    /// What dates, seats and holds are called with: the admission pass
    /// (checked by the service on its own) or the queue ticket (checked
    /// against the waiting room).
    #[arg(long, value_enum, default_value = "pass")]
    booking_credential: BookingCredential,
    /// Rush: put a proof-of-work bot gate of this many bits on the concert;
    /// every fan solves a challenge before entering.
    #[arg(long)]
    rush_pow_bits: Option<u8>,
    /// Rush: schedule the sale to open this many seconds after the concert
    /// is made; fans arriving before wait in its pre-queue and are drawn
    /// into line at the opening. Make it longer than --rush-arrival-secs
    /// for everyone to be pre-queued.
    #[arg(long)]
    rush_opens_after_secs: Option<u64>,
    /// Rush: this percentage of the buyers (0 to 100, by user id) cancel
    /// for a refund as soon as they have paid; their seats go back on sale.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u8).range(0..=100))]
    rush_cancel_percent: u8,
    /// Rush: the largest basket a fan holds; fan `u` asks for `1 + u % N`
    /// seats of one date together and pays for them at once (1: one seat
    /// each). At most the service's holds.max_seats_per_order and its
    /// sales.max_tickets_per_user_per_concert (both 4 by default).
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u8).range(1..=10))]
    rush_max_basket: u8,
    /// Rush: write what every fan saw (arrival, estimates, admission,
    /// sold-out notice; JSON, a line each) to this file, for analysis.
    #[arg(long)]
    rush_dump: Option<PathBuf>,
    /// Faults are injected during the run (scripts/chaos): answers 503 and
    /// requests left unanswered are expected and reported, and only other
    /// 5xx, broken invariants and lost or repeated deliveries fail it.
    #[arg(long)]
    faults: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let recorder = Arc::new(Recorder::new());
    let mut api = Api::new(
        &args.target,
        &args.admin_key,
        args.fans.identity()?,
        recorder.clone(),
        args.max_open_requests,
    )?;
    api.booking = match args.booking_credential {
        BookingCredential::Pass => Credential::Pass,
        BookingCredential::Ticket => Credential::Ticket,
    };
    let model = match args.model {
        ModelKind::Open => Model::Open { rate: args.rate },
        ModelKind::Closed => Model::Closed { users: args.users },
    };
    let limits = Limits {
        duration: Duration::from_secs(args.duration_secs),
        max_operations: args.max_operations,
        max_in_flight: MAX_IN_FLIGHT,
    };
    if matches!(args.scenario, Scenario::Rush) && args.duration_secs < args.rush_arrival_secs {
        anyhow::bail!(
            "--duration-secs {} is shorter than --rush-arrival-secs {}: the last fans would never arrive",
            args.duration_secs,
            args.rush_arrival_secs
        );
    }
    api.check_target().await?;
    let label = format!("{:?}", args.scenario).to_lowercase();
    let ticker = progress(recorder.clone(), label.clone());
    let mut rush = None;
    let driven = match args.scenario {
        Scenario::Enter => scenarios::enter(api.clone(), model, limits).await?,
        Scenario::Poll => scenarios::poll(api.clone(), model, limits, args.pool).await?,
        Scenario::Browse => {
            scenarios::browse(api.clone(), model, limits, args.pool.min(5_000)).await?
        }
        Scenario::Hold => scenarios::hold(api.clone(), model, limits, false).await?,
        Scenario::HoldContended => scenarios::hold(api.clone(), model, limits, true).await?,
        Scenario::Pay => scenarios::pay(api.clone(), model, limits).await?,
        Scenario::Balance => scenarios::balance(api.clone(), model, limits, args.pool).await?,
        Scenario::Charge => scenarios::charge(api.clone(), model, limits, args.pool).await?,
        Scenario::WrkFixtures => {
            ticker.abort();
            scenarios::wrk_fixtures(api, &args.out, args.rush_users, args.pool).await?;
            eprintln!("wrote wrk's fans into {}", args.out.display());
            return Ok(());
        }
        Scenario::Rush => {
            let (driven, outcome) = scenarios::rush(
                api.clone(),
                args.rush_users,
                Duration::from_secs(args.rush_arrival_secs),
                args.rush_seats,
                limits.duration,
                Duration::from_secs(args.rush_poll_max_secs),
                args.rush_pow_bits,
                args.rush_opens_after_secs.map(Duration::from_secs),
                args.rush_cancel_percent,
                args.rush_max_basket,
                args.rush_dump.as_deref(),
            )
            .await?;
            rush = Some(serde_json::to_value(&outcome)?);
            driven
        }
    };
    ticker.abort();
    let samples = recorder.take();
    let endpoints = figures(&samples, driven.wall);
    let invariants = api.invariants().await?;
    let mut failures = Vec::new();
    if invariants["ok"] != true {
        failures.push(format!("invariants violated: {}", invariants["violations"]));
    }
    let mut data_platform = None;
    if let Some(url) = &args.data_platform_report {
        let (report, reservations) = api
            .settled_deliveries(url, Duration::from_secs(120))
            .await?;
        let delivered = report["delivered"].as_array().map_or(0, Vec::len) as u64;
        if delivered != reservations {
            failures.push(format!(
                "{reservations} reservations but {delivered} deliveries to the data platform"
            ));
        }
        if report["duplicatedIds"]
            .as_array()
            .is_some_and(|d| !d.is_empty())
        {
            failures.push(format!(
                "events delivered more than once: {}",
                report["duplicatedIds"]
            ));
        }
        data_platform = Some(serde_json::json!({
            "reservations": reservations,
            "delivered": delivered,
            "duplicates": report["duplicates"],
            "failedAttempts": report["failed"],
        }));
    }
    let server_errors: u64 = endpoints.iter().map(|e| e.server_errors).sum();
    let failed: u64 = endpoints.iter().map(|e| e.failed).sum();
    if failed > 0 {
        failures.push(format!("{failed} requests answered a 5xx other than 503"));
    } else if server_errors > 0 && !args.faults {
        failures.push(format!(
            "{server_errors} requests answered 5xx or not at all"
        ));
    }
    let report = Report {
        scenario: label,
        model: match (args.scenario, model) {
            // Fans arrive on a schedule whatever the answers: an open model.
            (Scenario::Rush, _) => format!(
                "open, {} fans arriving over {} s",
                args.rush_users, args.rush_arrival_secs
            ),
            (_, Model::Open { rate }) => format!("open, {rate}/s"),
            (_, Model::Closed { users }) => format!("closed, {users} users"),
        },
        target: args.target.clone(),
        command: std::env::args().collect::<Vec<_>>().join(" "),
        wall_secs: driven.wall.as_secs_f64(),
        started_operations: driven.started,
        shed_operations: driven.shed,
        endpoints,
        timeline: timeline(&samples),
        invariants,
        data_platform,
        rush,
        failures,
    };
    report.write(&args.out)?;
    println!("{}", report.markdown());
    if !report.failures.is_empty() {
        std::process::exit(1);
    }
    Ok(())
}
