//! `boxoffice-slowloris`: a slow-header attack on one instance, for the
//! chaos suite (scripts/chaos). It opens `--sockets` connections, sends
//! each the start of a request and then one more header line every
//! `--drip-secs`, never finishing the headers, for `--secs`; meanwhile it
//! asks `/health/live` once a second on a connection of its own, as an
//! honest client would. It prints what became of the slow sockets (refused,
//! cut off by the service and after how long, still open at the end) and
//! how the honest client fared, as one JSON line, and exits non-zero when
//! the honest client was not served within `--max-honest-ms` every time.
//! Usage: `boxoffice-slowloris --help`.

// A report printer: standard output is its product.
#![allow(clippy::print_stdout)]

use anyhow::Context;
use boxoffice_loadtest::stats::percentile;
use clap::Parser;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[derive(Debug, Parser)]
#[command(
    about = "Hold slow sockets open against one instance and check an honest client is served"
)]
struct Args {
    /// The instance's address (loopback only), e.g. 127.0.0.1:8080.
    #[arg(long)]
    target: SocketAddr,
    /// Slow sockets to open.
    #[arg(long, default_value_t = 2_000)]
    sockets: usize,
    /// How long the attack lasts.
    #[arg(long, default_value_t = 20)]
    secs: u64,
    /// Seconds between the header lines each slow socket sends.
    #[arg(long, default_value_t = 2)]
    drip_secs: u64,
    /// The longest an honest `/health/live` may take, connection included.
    #[arg(long, default_value_t = 2_000)]
    max_honest_ms: u64,
}

/// What became of one slow socket.
enum Fate {
    Refused,
    /// Closed by the service after this long.
    CutOff(Duration),
    StillOpen,
}

async fn slow_socket(target: SocketAddr, until: Instant, drip: Duration) -> Fate {
    let begun = Instant::now();
    let Ok(mut socket) = TcpStream::connect(target).await else {
        return Fate::Refused;
    };
    if socket
        .write_all(b"GET /health/live HTTP/1.1\r\nHost: slowloris\r\n")
        .await
        .is_err()
    {
        return Fate::CutOff(begun.elapsed());
    }
    let mut buf = [0u8; 512];
    loop {
        let next = (Instant::now() + drip).min(until);
        // Anything the service sends (a 408, a 503) or its closing the
        // socket ends it: a slow client is not served.
        tokio::select! {
            _ = socket.read(&mut buf) => return Fate::CutOff(begun.elapsed()),
            () = tokio::time::sleep_until(next.into()) => {}
        }
        if Instant::now() >= until {
            return Fate::StillOpen;
        }
        if socket.write_all(b"X-Slow: 1\r\n").await.is_err() {
            return Fate::CutOff(begun.elapsed());
        }
    }
}

/// One honest request on a fresh connection: its status and latency.
async fn honest(client: &reqwest::Client, url: &str) -> (u16, Duration) {
    let begun = Instant::now();
    let status = match client.get(url).send().await {
        Ok(answer) => answer.status().as_u16(),
        Err(_) => 0,
    };
    (status, begun.elapsed())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    anyhow::ensure!(
        args.target.ip().is_loopback(),
        "--target must be a loopback address"
    );
    let until = Instant::now() + Duration::from_secs(args.secs);
    let drip = Duration::from_secs(args.drip_secs.max(1));
    let (refused, cut, open) = (
        Arc::new(AtomicU64::new(0)),
        Arc::new(std::sync::Mutex::new(Vec::new())),
        Arc::new(AtomicU64::new(0)),
    );
    let mut attackers = Vec::with_capacity(args.sockets);
    for _ in 0..args.sockets {
        let (refused, cut, open) = (refused.clone(), cut.clone(), open.clone());
        attackers.push(tokio::spawn(async move {
            match slow_socket(args.target, until, drip).await {
                Fate::Refused => {
                    refused.fetch_add(1, Ordering::Relaxed);
                }
                Fate::CutOff(after) => {
                    if let Ok(mut all) = cut.lock() {
                        all.push(after);
                    }
                }
                Fate::StillOpen => {
                    open.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(10))
        .build()
        .context("an HTTP client")?;
    let url = format!("http://{}/health/live", args.target);
    let mut honest_ms = Vec::new();
    let mut honest_failed = 0u64;
    // Let the slow sockets open before the first honest request.
    tokio::time::sleep(Duration::from_secs(1)).await;
    while Instant::now() < until {
        let (status, took) = honest(&client, &url).await;
        if status != 200 {
            honest_failed += 1;
        }
        honest_ms.push(took);
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    for attacker in attackers {
        let _ = attacker.await;
    }
    let mut cut = cut.lock().map(|c| c.clone()).unwrap_or_default();
    cut.sort();
    honest_ms.sort();
    let ms = |d: Duration| (d.as_secs_f64() * 10_000.0).round() / 10.0;
    let slowest_honest = honest_ms.last().copied().unwrap_or_default();
    let report = serde_json::json!({
        "sockets": args.sockets,
        "refused": refused.load(Ordering::Relaxed),
        "cutOff": cut.len(),
        "cutOffAfterMsP50": ms(percentile(&cut, 50.0)),
        "cutOffAfterMsMax": ms(cut.last().copied().unwrap_or_default()),
        "stillOpen": open.load(Ordering::Relaxed),
        "honestRequests": honest_ms.len(),
        "honestFailed": honest_failed,
        "honestMsP50": ms(percentile(&honest_ms, 50.0)),
        "honestMsMax": ms(slowest_honest),
    });
    println!("{report}");
    let too_slow = slowest_honest > Duration::from_millis(args.max_honest_ms);
    if honest_failed > 0 || honest_ms.is_empty() || too_slow {
        anyhow::bail!(
            "the honest client was not served throughout: {honest_failed} failed, slowest {} ms",
            ms(slowest_honest)
        );
    }
    Ok(())
}
