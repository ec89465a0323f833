//! Driving load: the open model (a constant arrival rate, so a slow service
//! cannot slow the load down) and the closed model (N users, each sending
//! its next request when the last one answered). Both stop by themselves at
//! a duration or a request count, whichever comes first.

use crate::metrics::Recorder;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Model {
    /// `rate` operations started per second, whatever the answers.
    Open { rate: u32 },
    /// `users` operations in flight, each starting when the previous ended.
    Closed { users: usize },
}

#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub duration: Duration,
    pub max_operations: u64,
    /// Open model: the most operations waiting for answers at once; past
    /// it, new ones are shed (counted, not sent). A rush, whose operations
    /// are whole journeys, sets it to the number of users.
    pub max_in_flight: usize,
}

/// The default bound on operations waiting at once in the open model.
pub const MAX_IN_FLIGHT: usize = 20_000;

/// How a run went, from the generator's side.
#[derive(Debug, Clone, Copy, Default)]
pub struct Driven {
    pub started: u64,
    /// Open model only: operations not started because too many were
    /// already waiting for answers (the service fell behind).
    pub shed: u64,
    pub wall: Duration,
}

/// Runs `op(i)` for i = 0, 1, 2, ... under `model` until `limits`.
pub async fn drive<F, Fut>(model: Model, limits: Limits, op: F) -> Driven
where
    F: Fn(u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let op = Arc::new(op);
    let started_at = Instant::now();
    let mut driven = match model {
        Model::Open { rate } => open(rate, limits, op).await,
        Model::Closed { users } => closed(users, limits, op).await,
    };
    driven.wall = started_at.elapsed();
    driven
}

async fn open<F, Fut>(rate: u32, limits: Limits, op: Arc<F>) -> Driven
where
    F: Fn(u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let in_flight = Arc::new(AtomicUsize::new(0));
    let begin = Instant::now();
    let (mut issued, mut shed) = (0u64, 0u64);
    let mut tasks = tokio::task::JoinSet::new();
    // Starts the operations due up to `due`, shedding those past the bound.
    let mut start_until = |due: u64, tasks: &mut tokio::task::JoinSet<()>| {
        while issued < due {
            if in_flight.load(Ordering::Relaxed) >= limits.max_in_flight {
                shed += 1;
            } else {
                let (op, in_flight) = (op.clone(), in_flight.clone());
                in_flight.fetch_add(1, Ordering::Relaxed);
                let i = issued;
                tasks.spawn(async move {
                    op(i).await;
                    in_flight.fetch_sub(1, Ordering::Relaxed);
                });
            }
            issued += 1;
        }
        issued
    };
    let due_at = |elapsed: Duration| {
        ((elapsed.as_secs_f64() * f64::from(rate)) as u64).min(limits.max_operations)
    };
    let mut started = 0;
    while begin.elapsed() < limits.duration && started < limits.max_operations {
        started = start_until(due_at(begin.elapsed()), &mut tasks);
        while tasks.try_join_next().is_some() {}
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    // What was due by the end of the window starts too: the loop's last
    // tick falls short of it, and a rush's last fans would never arrive.
    start_until(due_at(limits.duration), &mut tasks);
    // Let what was started finish: within what is left of the run's time
    // (a rush's users may queue for minutes), and at least a minute.
    let grace = limits
        .duration
        .saturating_sub(begin.elapsed())
        .max(Duration::from_secs(60));
    let _ = tokio::time::timeout(grace, async { while tasks.join_next().await.is_some() {} }).await;
    Driven {
        started: issued - shed,
        shed,
        wall: Duration::ZERO,
    }
}

async fn closed<F, Fut>(users: usize, limits: Limits, op: Arc<F>) -> Driven
where
    F: Fn(u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let next = Arc::new(AtomicU64::new(0));
    let begin = Instant::now();
    let workers: Vec<_> = (0..users.max(1))
        .map(|_| {
            let (op, next) = (op.clone(), next.clone());
            tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= limits.max_operations || begin.elapsed() >= limits.duration {
                        break;
                    }
                    op(i).await;
                }
            })
        })
        .collect();
    for worker in workers {
        let _ = worker.await;
    }
    Driven {
        started: next.load(Ordering::Relaxed).min(limits.max_operations),
        shed: 0,
        wall: Duration::ZERO,
    }
}

/// Prints a progress line every second to standard error until dropped.
pub fn progress(recorder: Arc<Recorder>, label: String) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut last = 0u64;
        let mut ticks = tokio::time::interval(Duration::from_secs(1));
        ticks.tick().await;
        loop {
            ticks.tick().await;
            let now = recorder.count();
            eprintln!(
                "[{label}] {:>5.1}s  {now:>9} requests  {:>7}/s",
                recorder.started().elapsed().as_secs_f64(),
                now - last
            );
            last = now;
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_closed_model_stops_at_the_operation_limit() {
        let count = Arc::new(AtomicU64::new(0));
        let c = count.clone();
        let limits = Limits {
            duration: Duration::from_secs(10),
            max_operations: 500,
            max_in_flight: MAX_IN_FLIGHT,
        };
        let driven = drive(Model::Closed { users: 8 }, limits, move |_| {
            let c = c.clone();
            async move {
                c.fetch_add(1, Ordering::Relaxed);
            }
        })
        .await;
        assert_eq!(count.load(Ordering::Relaxed), 500);
        assert_eq!(driven.started, 500);
    }

    #[tokio::test]
    async fn the_open_model_starts_every_operation_due_by_the_end_of_its_window() {
        let count = Arc::new(AtomicU64::new(0));
        let c = count.clone();
        // 300 arrivals over 0.3 s, as a rush of 300 fans over its window.
        let limits = Limits {
            duration: Duration::from_millis(300),
            max_operations: 300,
            max_in_flight: 300,
        };
        let driven = drive(Model::Open { rate: 1_000 }, limits, move |_| {
            let c = c.clone();
            async move {
                c.fetch_add(1, Ordering::Relaxed);
            }
        })
        .await;
        assert_eq!(count.load(Ordering::Relaxed), 300, "the last arrivals");
        assert_eq!((driven.started, driven.shed), (300, 0));
    }

    #[tokio::test]
    async fn the_open_model_keeps_its_rate_and_stops_at_the_duration() {
        let count = Arc::new(AtomicU64::new(0));
        let c = count.clone();
        let limits = Limits {
            duration: Duration::from_millis(500),
            max_operations: u64::MAX,
            max_in_flight: MAX_IN_FLIGHT,
        };
        let driven = drive(Model::Open { rate: 1_000 }, limits, move |_| {
            let c = c.clone();
            async move {
                c.fetch_add(1, Ordering::Relaxed);
            }
        })
        .await;
        let n = count.load(Ordering::Relaxed);
        assert!(
            (400..=520).contains(&n),
            "{n} operations in 0.5 s at 1,000/s"
        );
        assert_eq!(driven.shed, 0);
    }
}
