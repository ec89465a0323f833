//! Recording every request of a run: how long it took, in an HDR histogram
//! per endpoint and one per second, and how it ended (HTTP status and the
//! envelope's code). Nothing is kept per request, so memory stays flat
//! however long the run.

use hdrhistogram::Histogram;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Latencies from 1 µs to an hour, to three significant digits (0.1 %).
const SIGNIFICANT_DIGITS: u8 = 3;
const LONGEST_US: u64 = 3_600_000_000;

// The bounds and digits are constants hdrhistogram accepts (1 µs to an
// hour, 2 or 3 digits): it cannot refuse them.
#[allow(clippy::expect_used)]
fn histogram(digits: u8) -> Histogram<u64> {
    Histogram::new_with_bounds(1, LONGEST_US, digits).expect("valid histogram bounds")
}

fn micros(latency: Duration) -> u64 {
    u64::try_from(latency.as_micros())
        .unwrap_or(u64::MAX)
        .clamp(1, LONGEST_US)
}

/// What one endpoint's requests came to: an HDR histogram of their
/// latencies (a fixed few kilobytes however many requests, so a
/// million-fan rush keeps no sample list), their answers by code, how
/// many got a 5xx or no answer, and how many of those were a 5xx other
/// than 503: a request that failed rather than one refused to be retried.
#[derive(Debug, Clone)]
pub struct EndpointRecord {
    pub latency: Histogram<u64>,
    pub codes: BTreeMap<String, u64>,
    pub server_errors: u64,
    pub failed: u64,
}

impl EndpointRecord {
    fn new() -> Self {
        Self {
            latency: histogram(SIGNIFICANT_DIGITS),
            codes: BTreeMap::new(),
            server_errors: 0,
            failed: 0,
        }
    }
}

/// Everything a run recorded: per endpoint, and per second of the run
/// (from the recorder's start) for the chart, all endpoints together, at
/// two significant digits.
#[derive(Debug, Default)]
pub struct Recorded {
    pub endpoints: BTreeMap<&'static str, EndpointRecord>,
    pub seconds: BTreeMap<u32, Histogram<u64>>,
}

impl Recorded {
    /// Adds one request that `began` at `at` (since the run's start),
    /// answered `status` (0: no answer) with envelope `code`.
    pub fn add(
        &mut self,
        endpoint: &'static str,
        at: Duration,
        latency: Duration,
        status: u16,
        code: &str,
    ) {
        let us = micros(latency);
        let record = self
            .endpoints
            .entry(endpoint)
            .or_insert_with(EndpointRecord::new);
        record.latency.saturating_record(us);
        match record.codes.get_mut(code) {
            Some(n) => *n += 1,
            None => {
                record.codes.insert(code.to_owned(), 1);
            }
        }
        if status >= 500 || status == 0 {
            record.server_errors += 1;
        }
        if status >= 500 && status != 503 {
            record.failed += 1;
        }
        let second = u32::try_from(at.as_secs()).unwrap_or(u32::MAX);
        self.seconds
            .entry(second)
            .or_insert_with(|| histogram(2))
            .saturating_record(us);
    }

    /// Requests recorded.
    pub fn count(&self) -> u64 {
        self.endpoints.values().map(|e| e.latency.len()).sum()
    }
}

/// Every request of a run, as it is answered.
#[derive(Debug)]
pub struct Recorder {
    started: Instant,
    recorded: Mutex<Recorded>,
}

impl Recorder {
    pub fn new() -> Self {
        Self {
            started: Instant::now(),
            recorded: Mutex::default(),
        }
    }

    pub fn started(&self) -> Instant {
        self.started
    }

    fn recorded(&self) -> std::sync::MutexGuard<'_, Recorded> {
        self.recorded
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub fn record(&self, endpoint: &'static str, began: Instant, status: u16, code: &str) {
        let (at, latency) = (began.duration_since(self.started), began.elapsed());
        self.recorded().add(endpoint, at, latency, status, code);
    }

    /// Requests recorded so far (for progress lines).
    pub fn count(&self) -> u64 {
        self.recorded().count()
    }

    pub fn take(&self) -> Recorded {
        std::mem::take(&mut *self.recorded())
    }
}

impl Default for Recorder {
    fn default() -> Self {
        Self::new()
    }
}

/// Per-endpoint figures of a run.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EndpointFigures {
    pub endpoint: String,
    pub requests: u64,
    pub throughput_per_sec: f64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
    /// Answers by envelope code (`SUCCESS`, `SEAT_ALREADY_HELD`, ...; `NO_ANSWER` when none came).
    pub codes: BTreeMap<String, u64>,
    /// Answered 5xx, or not at all.
    pub server_errors: u64,
    /// Answered a 5xx other than 503 `SERVICE_UNAVAILABLE`: failed, where
    /// a 503 refuses cleanly and asks for a retry.
    pub failed: u64,
}

/// One second of a run, all endpoints together (for the chart).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Second {
    pub second: u32,
    pub requests: u64,
    pub p99_ms: f64,
}

/// Milliseconds, to two decimals, of a histogram's value in µs.
fn ms(us: u64) -> f64 {
    (us as f64 / 10.0).round() / 100.0
}

/// The latency at quantile `q` (0 to 1) in ms: the highest value the
/// histogram cannot tell from it (so never below the true percentile, and
/// at most 0.1 % above it).
fn quantile_ms(h: &Histogram<u64>, q: f64) -> f64 {
    if h.is_empty() {
        return 0.0;
    }
    ms(h.highest_equivalent(h.value_at_quantile(q)))
}

/// Figures per endpoint over a run of `wall` duration.
pub fn figures(recorded: &Recorded, wall: Duration) -> Vec<EndpointFigures> {
    recorded
        .endpoints
        .iter()
        .map(|(endpoint, record)| {
            let h = &record.latency;
            EndpointFigures {
                endpoint: (*endpoint).to_owned(),
                requests: h.len(),
                throughput_per_sec: h.len() as f64 / wall.as_secs_f64().max(0.001),
                p50_ms: quantile_ms(h, 0.50),
                p95_ms: quantile_ms(h, 0.95),
                p99_ms: quantile_ms(h, 0.99),
                p999_ms: quantile_ms(h, 0.999),
                max_ms: if h.is_empty() {
                    0.0
                } else {
                    ms(h.highest_equivalent(h.max()))
                },
                codes: record.codes.clone(),
                server_errors: record.server_errors,
                failed: record.failed,
            }
        })
        .collect()
}

/// Requests and p99 latency per second of the run, from its first recorded
/// request: a scenario's setup (admitting thousands of users, say) sends
/// only unrecorded requests and is left out.
pub fn timeline(recorded: &Recorded) -> Vec<Second> {
    let seconds = &recorded.seconds;
    let first = seconds.keys().next().copied().unwrap_or(0);
    let last = seconds.keys().next_back().copied().unwrap_or(0);
    (first..=last)
        .map(|second| match seconds.get(&second) {
            Some(h) => Second {
                second: second - first,
                requests: h.len(),
                p99_ms: quantile_ms(h, 0.99),
            },
            None => Second {
                second: second - first,
                requests: 0,
                p99_ms: 0.0,
            },
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms_d(ms: u64) -> Duration {
        Duration::from_millis(ms)
    }

    #[test]
    fn figures_and_timeline_summarise_what_was_recorded() {
        let mut recorded = Recorded::default();
        for i in 0..200u64 {
            let (status, code) = if i == 0 {
                (503, "SERVICE_UNAVAILABLE")
            } else {
                (201, "SUCCESS")
            };
            recorded.add("hold", ms_d(i * 10), ms_d(i % 100 + 1), status, code);
        }
        recorded.add("pay", ms_d(1_500), ms_d(3), 0, "NO_ANSWER");
        recorded.add("pay", ms_d(1_600), ms_d(3), 500, "INTERNAL_ERROR");
        let f = figures(&recorded, Duration::from_secs(2));
        let hold = f.iter().find(|e| e.endpoint == "hold").expect("hold");
        assert_eq!(hold.requests, 200);
        assert_eq!(hold.throughput_per_sec, 100.0);
        // Within the histogram's 0.1 %, never below the true value.
        assert!((50.0..=50.05).contains(&hold.p50_ms), "{}", hold.p50_ms);
        assert!((99.0..=99.1).contains(&hold.p99_ms), "{}", hold.p99_ms);
        assert!((100.0..=100.1).contains(&hold.max_ms), "{}", hold.max_ms);
        // A 503 refuses; it is not a failure.
        assert_eq!((hold.server_errors, hold.failed), (1, 0));
        assert_eq!(hold.codes["SUCCESS"], 199);
        let pay = f.iter().find(|e| e.endpoint == "pay").expect("pay");
        // No answer is a server error; only the 500 failed.
        assert_eq!((pay.requests, pay.server_errors, pay.failed), (2, 2, 1));
        assert_eq!(recorded.count(), 202);
        let t = timeline(&recorded);
        assert_eq!(t.len(), 2);
        assert_eq!(t[0].requests + t[1].requests, 202);
    }

    #[test]
    fn the_timeline_starts_at_the_first_recorded_request_and_keeps_empty_seconds() {
        let mut recorded = Recorded::default();
        recorded.add("pay", ms_d(95_500), ms_d(1), 200, "SUCCESS");
        recorded.add("pay", ms_d(97_200), ms_d(1), 200, "SUCCESS");
        let t = timeline(&recorded);
        let seconds: Vec<(u32, u64)> = t.iter().map(|s| (s.second, s.requests)).collect();
        assert_eq!(seconds, vec![(0, 1), (1, 0), (2, 1)]);
    }

    #[test]
    fn latencies_outside_the_histogram_are_kept_at_its_bounds() {
        let mut recorded = Recorded::default();
        recorded.add("enter", ms_d(0), Duration::ZERO, 201, "SUCCESS");
        recorded.add("enter", ms_d(0), Duration::from_secs(7_200), 201, "SUCCESS");
        let f = figures(&recorded, Duration::from_secs(1));
        assert_eq!(f[0].requests, 2);
        assert!(f[0].max_ms >= 3_600_000.0, "{}", f[0].max_ms);
    }
}
