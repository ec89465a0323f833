//! Recording every request of a run: when it started, how long it took, and
//! how it ended (HTTP status and the envelope's code).

use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// One request.
#[derive(Debug, Clone)]
pub struct Sample {
    /// Milliseconds since the run started.
    pub at_ms: u32,
    pub latency: Duration,
    /// 0 when no HTTP answer came (connection error, time-out).
    pub status: u16,
    pub code: String,
}

/// Every sample of a run, by endpoint.
#[derive(Debug)]
pub struct Recorder {
    started: Instant,
    samples: Mutex<BTreeMap<&'static str, Vec<Sample>>>,
}

impl Recorder {
    pub fn new() -> Self {
        Self {
            started: Instant::now(),
            samples: Mutex::default(),
        }
    }

    pub fn started(&self) -> Instant {
        self.started
    }

    pub fn record(&self, endpoint: &'static str, began: Instant, status: u16, code: &str) {
        let sample = Sample {
            at_ms: u32::try_from(began.duration_since(self.started).as_millis())
                .unwrap_or(u32::MAX),
            latency: began.elapsed(),
            status,
            code: code.to_owned(),
        };
        let mut samples = self
            .samples
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        samples.entry(endpoint).or_default().push(sample);
    }

    /// Requests recorded so far (for progress lines).
    pub fn count(&self) -> usize {
        let samples = self
            .samples
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        samples.values().map(Vec::len).sum()
    }

    pub fn take(&self) -> BTreeMap<&'static str, Vec<Sample>> {
        let mut samples = self
            .samples
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        std::mem::take(&mut *samples)
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
    pub requests: usize,
    pub throughput_per_sec: f64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    /// Answers by envelope code (`SUCCESS`, `SEAT_ALREADY_HELD`, ...; `NO_ANSWER` when none came).
    pub codes: BTreeMap<String, usize>,
    pub server_errors: usize,
}

/// One second of a run, all endpoints together (for the chart).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Second {
    pub second: u32,
    pub requests: usize,
    pub p99_ms: f64,
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1000.0 * 100.0).round() / 100.0
}

/// Figures per endpoint over a run of `wall` duration.
pub fn figures(
    samples: &BTreeMap<&'static str, Vec<Sample>>,
    wall: Duration,
) -> Vec<EndpointFigures> {
    samples
        .iter()
        .map(|(endpoint, list)| {
            let mut latencies: Vec<Duration> = list.iter().map(|s| s.latency).collect();
            latencies.sort_unstable();
            let mut codes = BTreeMap::new();
            for s in list {
                *codes.entry(s.code.clone()).or_insert(0) += 1;
            }
            EndpointFigures {
                endpoint: (*endpoint).to_owned(),
                requests: list.len(),
                throughput_per_sec: list.len() as f64 / wall.as_secs_f64().max(0.001),
                p50_ms: ms(crate::stats::percentile(&latencies, 50.0)),
                p95_ms: ms(crate::stats::percentile(&latencies, 95.0)),
                p99_ms: ms(crate::stats::percentile(&latencies, 99.0)),
                max_ms: ms(latencies.last().copied().unwrap_or_default()),
                codes,
                server_errors: list
                    .iter()
                    .filter(|s| s.status >= 500 || s.status == 0)
                    .count(),
            }
        })
        .collect()
}

/// Requests and p99 latency per second of the run, from its first recorded
/// request: a scenario's setup (admitting thousands of users, say) sends
/// only unrecorded requests and is left out.
pub fn timeline(samples: &BTreeMap<&'static str, Vec<Sample>>) -> Vec<Second> {
    let mut per_second: BTreeMap<u32, Vec<Duration>> = BTreeMap::new();
    for s in samples.values().flatten() {
        per_second
            .entry(s.at_ms / 1000)
            .or_default()
            .push(s.latency);
    }
    let first = per_second.keys().next().copied().unwrap_or(0);
    let last = per_second.keys().next_back().copied().unwrap_or(0);
    (first..=last)
        .map(|second| {
            let mut latencies = per_second.remove(&second).unwrap_or_default();
            latencies.sort_unstable();
            Second {
                second: second - first,
                requests: latencies.len(),
                p99_ms: ms(crate::stats::percentile(&latencies, 99.0)),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_and_timeline_summarise_samples() {
        let mut samples = BTreeMap::new();
        let list: Vec<Sample> = (0..200)
            .map(|i| Sample {
                at_ms: i * 10,
                latency: Duration::from_millis(u64::from(i % 100) + 1),
                status: if i == 0 { 503 } else { 201 },
                code: if i == 0 {
                    "SERVICE_UNAVAILABLE".into()
                } else {
                    "SUCCESS".into()
                },
            })
            .collect();
        samples.insert("hold", list);
        let f = figures(&samples, Duration::from_secs(2));
        assert_eq!(f[0].requests, 200);
        assert_eq!(f[0].throughput_per_sec, 100.0);
        assert_eq!(f[0].p50_ms, 50.0);
        assert_eq!(f[0].server_errors, 1);
        assert_eq!(f[0].codes["SUCCESS"], 199);
        let t = timeline(&samples);
        assert_eq!(t.len(), 2);
        assert_eq!(t[0].requests + t[1].requests, 200);
    }

    #[test]
    fn the_timeline_starts_at_the_first_recorded_request() {
        let sample = |at_ms| Sample {
            at_ms,
            latency: Duration::from_millis(1),
            status: 200,
            code: "SUCCESS".into(),
        };
        let samples = BTreeMap::from([("pay", vec![sample(95_500), sample(97_200)])]);
        let t = timeline(&samples);
        let seconds: Vec<(u32, usize)> = t.iter().map(|s| (s.second, s.requests)).collect();
        assert_eq!(seconds, vec![(0, 1), (1, 0), (2, 1)]);
    }
}
