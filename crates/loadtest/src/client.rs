//! The boxoffice API as the load generator calls it: every call is timed
//! and recorded under its endpoint's name. Only loopback targets are
//! accepted: a load test never leaves this machine.

use crate::metrics::Recorder;
use anyhow::{bail, ensure};
use reqwest::RequestBuilder;
use serde_json::{Value, json};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How one call ended.
#[derive(Debug, Clone)]
pub struct Answer {
    /// 0 when no HTTP answer came.
    pub status: u16,
    /// The envelope's code, or `NO_ANSWER`.
    pub code: String,
    pub data: Value,
}

impl Answer {
    pub fn ok(&self) -> bool {
        self.code == "SUCCESS"
    }

    pub fn str(&self, field: &str) -> Option<String> {
        self.data[field].as_str().map(str::to_owned)
    }
}

#[derive(Debug, Clone)]
pub struct Api {
    http: reqwest::Client,
    base: String,
    admin_key: String,
    pub recorder: Arc<Recorder>,
    /// Bounds the requests open at once, as a load balancer's pool of
    /// connections to the service would: one machine cannot hold a socket
    /// per simulated user. A request's latency includes its wait for a slot.
    slots: Arc<tokio::sync::Semaphore>,
}

/// Refuses any target that is not on this machine.
pub fn check_loopback(base: &str) -> anyhow::Result<()> {
    let url = reqwest::Url::parse(base)?;
    let host = url.host_str().unwrap_or_default().trim_matches(['[', ']']);
    let loopback = host == "localhost" || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
    ensure!(loopback, "only loopback targets are allowed, not {host}");
    Ok(())
}

impl Api {
    pub fn new(
        base: &str,
        admin_key: &str,
        recorder: Arc<Recorder>,
        max_open_requests: usize,
    ) -> anyhow::Result<Self> {
        check_loopback(base)?;
        let max_open_requests = max_open_requests.max(1);
        // As many idle connections kept as requests may be open, so that a
        // burst never closes connections only to open new ones.
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .pool_max_idle_per_host(max_open_requests)
            .build()?;
        Ok(Self {
            http,
            base: base.trim_end_matches('/').to_owned(),
            admin_key: admin_key.to_owned(),
            recorder,
            slots: Arc::new(tokio::sync::Semaphore::new(max_open_requests)),
        })
    }

    async fn send(&self, endpoint: &'static str, req: RequestBuilder, record: bool) -> Answer {
        // Timed from before the wait for a slot, so that a service that falls
        // behind shows in the latencies, not only in the request count (no
        // coordinated omission).
        let began = Instant::now();
        let _slot = self.slots.acquire().await.ok();
        let answer = match req.send().await {
            Ok(res) => {
                let status = res.status().as_u16();
                match res.json::<Value>().await {
                    Ok(body) => Answer {
                        status,
                        code: body["code"]
                            .as_str()
                            .unwrap_or("NOT_AN_ENVELOPE")
                            .to_owned(),
                        data: body["data"].clone(),
                    },
                    Err(_) => Answer {
                        status,
                        code: "NOT_AN_ENVELOPE".into(),
                        data: Value::Null,
                    },
                }
            }
            Err(_) => Answer {
                status: 0,
                code: "NO_ANSWER".into(),
                data: Value::Null,
            },
        };
        if record {
            self.recorder
                .record(endpoint, began, answer.status, &answer.code);
        }
        answer
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn issue_token(&self, user: i64, concert: i64) -> Answer {
        let req = self
            .http
            .post(self.url("/api/v1/queue/tokens"))
            .header("Client-Id", user)
            .json(&json!({ "concertId": concert }));
        self.send("enter", req, true).await
    }

    pub async fn poll(&self, token: &str) -> Answer {
        let req = self
            .http
            .get(self.url("/api/v1/queue/tokens/current"))
            .header("Queue-Token", token);
        self.send("poll", req, true).await
    }

    pub async fn schedules(&self, token: &str, concert: i64) -> Answer {
        let req = self
            .http
            .get(self.url(&format!("/api/v1/concerts/{concert}/schedules")))
            .header("Queue-Token", token);
        self.send("schedules", req, true).await
    }

    pub async fn seats(&self, token: &str, schedule: i64) -> Answer {
        let req = self
            .http
            .get(self.url(&format!("/api/v1/schedules/{schedule}/seats")))
            .header("Queue-Token", token);
        self.send("seats", req, true).await
    }

    pub async fn hold(&self, token: &str, schedule: i64, seat: i64) -> Answer {
        let req = self
            .http
            .post(self.url("/api/v1/holds"))
            .header("Queue-Token", token)
            .json(&json!({ "scheduleId": schedule, "seatNumber": seat }));
        self.send("hold", req, true).await
    }

    pub async fn charge(&self, user: i64, amount: i64, key: &str) -> Answer {
        let req = self
            .http
            .post(self.url("/api/v1/balance/charge"))
            .header("Client-Id", user)
            .header("Idempotency-Key", key)
            .json(&json!({ "amount": amount }));
        self.send("charge", req, true).await
    }

    pub async fn pay(&self, token: &str, hold_id: &str, key: &str) -> Answer {
        let req = self
            .http
            .post(self.url("/api/v1/payments"))
            .header("Queue-Token", token)
            .header("Idempotency-Key", key)
            .json(&json!({ "holdId": hold_id }));
        self.send("pay", req, true).await
    }

    /// Adds a concert of `dates` dates x 50 seats (not recorded). Returns its id.
    pub async fn create_concert(&self, title: &str, dates: u32, price: i64) -> anyhow::Result<i64> {
        let schedules: Vec<Value> = (0..dates)
            .map(|d| {
                let starts = format!("2031-{:02}-{:02}T19:00:00Z", 1 + (d / 28) % 12, 1 + d % 28);
                json!({ "startsAt": starts, "venue": format!("Load Hall {d}") })
            })
            .collect();
        let req = self
            .http
            .post(self.url("/api/v1/admin/concerts"))
            .header("X-Admin-Key", &self.admin_key)
            .json(&json!({
                "title": title, "artist": "Load Test",
                "schedules": schedules,
                "seats": [{ "grade": "R", "price": price, "from": 1, "to": 50 }]
            }));
        let answer = self.send("admin", req, false).await;
        if !answer.ok() {
            bail!(
                "creating a concert failed: {} {}",
                answer.status,
                answer.code
            );
        }
        answer.data["concertId"]
            .as_i64()
            .ok_or_else(|| anyhow::anyhow!("no concertId in {:?}", answer.data))
    }

    /// The service's invariant report (not recorded).
    /// Waits until the mock data platform at `report_url` (its `GET /report`)
    /// has as many deliveries as the service has reservations, or `within`
    /// passes; returns the platform's report and the reservation count.
    pub async fn settled_deliveries(
        &self,
        report_url: &str,
        within: Duration,
    ) -> anyhow::Result<(Value, u64)> {
        check_loopback(report_url)?;
        let deadline = Instant::now() + within;
        loop {
            let reservations = self.invariants().await?["reservations"]
                .as_u64()
                .unwrap_or(0);
            let report: Value = self.http.get(report_url).send().await?.json().await?;
            let delivered = report["delivered"].as_array().map_or(0, Vec::len) as u64;
            if delivered >= reservations || Instant::now() >= deadline {
                return Ok((report, reservations));
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    pub async fn invariants(&self) -> anyhow::Result<Value> {
        let req = self
            .http
            .get(self.url("/api/v1/admin/invariants"))
            .header("X-Admin-Key", &self.admin_key);
        let answer = self.send("admin", req, false).await;
        if !answer.ok() {
            bail!("invariant check failed: {} {}", answer.status, answer.code);
        }
        Ok(answer.data)
    }
}

#[cfg(test)]
mod tests {
    use super::check_loopback;

    #[test]
    fn only_loopback_targets_are_allowed() {
        assert!(check_loopback("http://127.0.0.1:8080").is_ok());
        assert!(check_loopback("http://127.3.2.1:8080").is_ok());
        assert!(check_loopback("http://localhost:8080").is_ok());
        assert!(check_loopback("http://[::1]:8080").is_ok());
        assert!(check_loopback("http://10.0.0.5:8080").is_err());
        assert!(check_loopback("http://example.com").is_err());
    }
}
