//! The boxoffice API as the load generator calls it: every call is timed
//! and recorded under its endpoint's name. Only loopback targets are
//! accepted: a load test never leaves this machine.
//!
//! Fans sign in the way they would with an identity provider: the
//! generator signs each fan's access token itself with the service's
//! `auth.hs256_secret`, so signing in costs the service no request. A fan
//! that meets a concert's bot gate solves the challenge, as a browser would.

use crate::metrics::Recorder;
use anyhow::{Context, bail, ensure};
use boxoffice_auth::dev::DevSigner;
use reqwest::RequestBuilder;
use serde_json::{Value, json};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How the generator's fans say who they are.
#[derive(Debug, Clone)]
pub enum Identity {
    /// Bearer tokens signed with the service's HS256 secret.
    Jwt(Arc<DevSigner>),
    /// `Client-Id`, for a service in `auth.mode = "trusted_header"`.
    TrustedHeader,
}

/// How the generator's fans sign in (shared by the commands).
#[derive(Debug, Clone, clap::Args)]
pub struct FanArgs {
    /// The service's `auth.hs256_secret`: fans' access tokens are signed with it.
    #[arg(long, env = "BOXOFFICE__AUTH__HS256_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<String>,
    /// The service's `auth.issuer`, if it checks one.
    #[arg(long, env = "BOXOFFICE__AUTH__ISSUER", default_value = "")]
    pub jwt_issuer: String,
    /// The service's `auth.audience`, if it checks one.
    #[arg(long, env = "BOXOFFICE__AUTH__AUDIENCE", default_value = "")]
    pub jwt_audience: String,
    /// Send `Client-Id` instead (a service in `auth.mode = "trusted_header"`);
    /// any secret given is then unused.
    #[arg(long)]
    pub trusted_header: bool,
}

impl FanArgs {
    pub fn identity(&self) -> anyhow::Result<Identity> {
        if self.trusted_header {
            return Ok(Identity::TrustedHeader);
        }
        let Some(secret) = &self.jwt_secret else {
            bail!("give --jwt-secret (the service's auth.hs256_secret) or --trusted-header");
        };
        let non_empty = |s: &str| Some(s.to_owned()).filter(|s| !s.is_empty());
        Ok(Identity::Jwt(Arc::new(DevSigner::new(
            secret.as_bytes(),
            non_empty(&self.jwt_issuer),
            non_empty(&self.jwt_audience),
            6 * 3600,
        ))))
    }
}

/// A signed-in fan: their id and the header that says so.
#[derive(Debug, Clone)]
pub struct Fan {
    pub user: i64,
    header: (&'static str, String),
}

/// What a booking call sends as `Queue-Token`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credential {
    /// The admission pass (checked by the service without Redis).
    Pass,
    /// The queue ticket (checked against the waiting room).
    Ticket,
}

/// How one call ended.
#[derive(Debug, Clone)]
pub struct Answer {
    /// 0 when no HTTP answer came.
    pub status: u16,
    /// The envelope's code, or `NO_ANSWER`.
    pub code: String,
    pub data: Value,
    /// A bot-gate refusal's fresh challenge.
    pub challenge: Value,
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
    /// The instances, each request to the next in turn, as a round-robin
    /// load balancer would spread them.
    bases: Arc<[String]>,
    next: Arc<std::sync::atomic::AtomicUsize>,
    admin_key: String,
    identity: Identity,
    /// What booking calls send as `Queue-Token`.
    pub booking: Credential,
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
        identity: Identity,
        recorder: Arc<Recorder>,
        max_open_requests: usize,
    ) -> anyhow::Result<Self> {
        let bases: Vec<String> = base
            .split(',')
            .map(|b| b.trim().trim_end_matches('/').to_owned())
            .filter(|b| !b.is_empty())
            .collect();
        ensure!(!bases.is_empty(), "no target given");
        for base in &bases {
            check_loopback(base)?;
        }
        let max_open_requests = max_open_requests.max(1);
        // As many idle connections kept as requests may be open, so that a
        // burst never closes connections only to open new ones.
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .pool_max_idle_per_host(max_open_requests)
            .build()?;
        Ok(Self {
            http,
            bases: bases.into(),
            next: Arc::default(),
            admin_key: admin_key.to_owned(),
            identity,
            booking: Credential::Pass,
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
                        challenge: body["challenge"].clone(),
                    },
                    // A 204 carries no body by design.
                    Err(_) => Answer {
                        status,
                        code: if status == 204 {
                            "SUCCESS"
                        } else {
                            "NOT_AN_ENVELOPE"
                        }
                        .into(),
                        data: Value::Null,
                        challenge: Value::Null,
                    },
                }
            }
            Err(_) => Answer {
                status: 0,
                code: "NO_ANSWER".into(),
                data: Value::Null,
                challenge: Value::Null,
            },
        };
        if record {
            self.recorder
                .record(endpoint, began, answer.status, &answer.code);
        }
        answer
    }

    /// `path` on the next instance in turn.
    fn url(&self, path: &str) -> String {
        let turn = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        format!("{}{path}", self.bases[turn % self.bases.len()])
    }

    /// Signs `user` in: an access token made here, no request.
    pub fn sign_in(&self, user: i64) -> Fan {
        let header = match &self.identity {
            Identity::TrustedHeader => ("Client-Id", user.to_string()),
            Identity::Jwt(signer) => {
                let now = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map(|d| i64::try_from(d.as_millis()).unwrap_or(0))
                    .unwrap_or(0);
                let token = signer
                    .sign(&user.to_string(), now)
                    .map(|t| t.token)
                    .unwrap_or_default();
                ("Authorization", format!("Bearer {token}"))
            }
        };
        Fan { user, header }
    }

    /// The header that signs `fan` in (`Authorization` or `Client-Id`) and
    /// its value, for clients other than this one (wrk's scripts).
    pub fn header_of<'f>(&self, fan: &'f Fan) -> (&'static str, &'f str) {
        (fan.header.0, &fan.header.1)
    }

    fn as_fan(&self, req: RequestBuilder, fan: &Fan) -> RequestBuilder {
        req.header(fan.header.0, &fan.header.1)
    }

    /// Asks for a queue token. A concert's bot gate answers with a
    /// challenge; the fan solves it (recorded as `pow-solve`) and asks again.
    pub async fn issue_token(&self, fan: &Fan, concert: i64) -> Answer {
        let mut answer = self.issue_token_once(fan, concert, None).await;
        for _ in 0..3 {
            if !answer.code.starts_with("PROOF_OF_WORK") {
                break;
            }
            let (Some(challenge), Some(bits)) = (
                answer.challenge["challenge"].as_str().map(str::to_owned),
                answer.challenge["difficultyBits"].as_u64(),
            ) else {
                break;
            };
            let began = Instant::now();
            let nonce = tokio::task::spawn_blocking({
                let challenge = challenge.clone();
                move || {
                    boxoffice_core::domain::access::solve(
                        &challenge,
                        u8::try_from(bits).unwrap_or(0),
                    )
                }
            })
            .await
            .unwrap_or_default();
            self.recorder.record("pow-solve", began, 200, "SUCCESS");
            answer = self
                .issue_token_once(fan, concert, Some((challenge, nonce)))
                .await;
        }
        answer
    }

    async fn issue_token_once(
        &self,
        fan: &Fan,
        concert: i64,
        pow: Option<(String, String)>,
    ) -> Answer {
        let mut body = json!({ "concertId": concert });
        if let Some((challenge, nonce)) = pow {
            body["proofOfWork"] = json!({ "challenge": challenge, "nonce": nonce });
        }
        let req = self
            .as_fan(self.http.post(self.url("/api/v1/queue/tokens")), fan)
            .json(&body);
        self.send("enter", req, true).await
    }

    pub async fn poll(&self, fan: &Fan, ticket: &str) -> Answer {
        let req = self
            .as_fan(self.http.get(self.url("/api/v1/queue/tokens/current")), fan)
            .header("Queue-Token", ticket);
        self.send("poll", req, true).await
    }

    /// Leaves the line, or gives up an admission, as the "leave" button does.
    pub async fn leave(&self, fan: &Fan, ticket: &str) -> Answer {
        let req = self
            .as_fan(
                self.http.delete(self.url("/api/v1/queue/tokens/current")),
                fan,
            )
            .header("Queue-Token", ticket);
        self.send("leave", req, true).await
    }

    pub async fn schedules(&self, fan: &Fan, credential: &str, concert: i64) -> Answer {
        let req = self
            .as_fan(
                self.http
                    .get(self.url(&format!("/api/v1/concerts/{concert}/schedules"))),
                fan,
            )
            .header("Queue-Token", credential);
        self.send("schedules", req, true).await
    }

    pub async fn seats(&self, fan: &Fan, credential: &str, schedule: i64) -> Answer {
        let req = self
            .as_fan(
                self.http
                    .get(self.url(&format!("/api/v1/schedules/{schedule}/seats"))),
                fan,
            )
            .header("Queue-Token", credential);
        self.send("seats", req, true).await
    }

    pub async fn hold(&self, fan: &Fan, credential: &str, schedule: i64, seat: i64) -> Answer {
        let req = self
            .as_fan(self.http.post(self.url("/api/v1/holds")), fan)
            .header("Queue-Token", credential)
            .json(&json!({ "scheduleId": schedule, "seatNumber": seat }));
        self.send("hold", req, true).await
    }

    /// Holds `seats` of `schedule` together, all or none.
    pub async fn hold_basket(
        &self,
        fan: &Fan,
        credential: &str,
        schedule: i64,
        seats: &[i64],
    ) -> Answer {
        let req = self
            .as_fan(self.http.post(self.url("/api/v1/holds")), fan)
            .header("Queue-Token", credential)
            .json(&json!({ "scheduleId": schedule, "seatNumbers": seats }));
        self.send("hold", req, true).await
    }

    /// The fan's prepaid balance.
    pub async fn balance(&self, fan: &Fan) -> Answer {
        let req = self.as_fan(self.http.get(self.url("/api/v1/balance")), fan);
        self.send("balance", req, true).await
    }

    pub async fn charge(&self, fan: &Fan, amount: i64, key: &str) -> Answer {
        let req = self
            .as_fan(self.http.post(self.url("/api/v1/balance/charge")), fan)
            .header("Idempotency-Key", key)
            .json(&json!({ "amount": amount }));
        self.send("charge", req, true).await
    }

    /// Pays for a hold: the fan's identity is all it takes.
    pub async fn pay(&self, fan: &Fan, hold_id: &str, key: &str) -> Answer {
        let req = self
            .as_fan(self.http.post(self.url("/api/v1/payments")), fan)
            .header("Idempotency-Key", key)
            .json(&json!({ "holdId": hold_id }));
        self.send("pay", req, true).await
    }

    /// Cancels a reservation for a refund, under `key`.
    pub async fn cancel(&self, fan: &Fan, reservation_id: &str, key: &str) -> Answer {
        let req = self
            .as_fan(
                self.http
                    .post(self.url(&format!("/api/v1/reservations/{reservation_id}/cancel"))),
                fan,
            )
            .header("Idempotency-Key", key)
            .json(&json!({}));
        self.send("cancel", req, true).await
    }

    /// Puts a bot gate of `bits` on `concert` (not recorded).
    pub async fn gate(&self, concert: i64, bits: u8) -> anyhow::Result<()> {
        let req = self
            .http
            .put(self.url(&format!("/api/v1/admin/concerts/{concert}/entry-rules")))
            .header("X-Admin-Key", &self.admin_key)
            .json(&json!({ "proofOfWorkBits": bits }));
        let answer = self.send("admin", req, false).await;
        ensure!(
            answer.ok(),
            "setting the bot gate failed: {} {}",
            answer.status,
            answer.code
        );
        Ok(())
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

    /// Schedules the concert's sale to open at `opens_at_ms` (epoch ms):
    /// fans who come before wait in its pre-queue and are drawn at the opening.
    pub async fn schedule_sale(&self, concert: i64, opens_at_ms: i64) -> anyhow::Result<()> {
        let opens =
            time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(opens_at_ms) * 1_000_000)?
                .format(&time::format_description::well_known::Rfc3339)?;
        self.change_room(
            concert,
            json!({ "state": "SCHEDULED", "saleOpensAt": opens }),
        )
        .await
        .context("scheduling the sale")
    }

    /// Changes the concert's room as the operator does (`PATCH .../room`).
    pub async fn change_room(&self, concert: i64, change: Value) -> anyhow::Result<()> {
        let req = self
            .http
            .patch(self.url(&format!("/api/v1/admin/concerts/{concert}/room")))
            .header("X-Admin-Key", &self.admin_key)
            .json(&change);
        let answer = self.send("admin", req, false).await;
        ensure!(
            answer.ok(),
            "changing the room failed: {} {}",
            answer.status,
            answer.code
        );
        Ok(())
    }

    /// Opens the fan's token event stream (Server-Sent Events) on `http`,
    /// which should have no overall timeout: the stream stays open.
    pub async fn open_events(
        &self,
        http: &reqwest::Client,
        fan: &Fan,
        ticket: &str,
    ) -> reqwest::Result<reqwest::Response> {
        self.as_fan(
            http.get(self.url("/api/v1/queue/tokens/current/events")),
            fan,
        )
        .header("Queue-Token", ticket)
        .send()
        .await?
        .error_for_status()
    }

    /// The service's `/metrics` text.
    pub async fn metrics(&self) -> anyhow::Result<String> {
        let res = self
            .http
            .get(self.url("/metrics"))
            .send()
            .await?
            .error_for_status()?;
        Ok(res.text().await?)
    }

    /// The concert's room as anyone sees it (not recorded).
    pub async fn room(&self, concert: i64) -> anyhow::Result<Value> {
        let req = self
            .http
            .get(self.url(&format!("/api/v1/concerts/{concert}/room")));
        let answer = self.send("admin", req, false).await;
        ensure!(
            answer.ok(),
            "reading the room failed: {} {}",
            answer.status,
            answer.code
        );
        Ok(answer.data)
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

    /// Fails with a plain message when nothing answers at a target, or
    /// something that is not boxoffice does, before any load is sent.
    pub async fn check_target(&self) -> anyhow::Result<()> {
        for base in self.bases.iter() {
            let url = format!("{base}/health/live");
            let answer = self
                .http
                .get(&url)
                .timeout(Duration::from_secs(5))
                .send()
                .await;
            match answer {
                Err(err) if err.is_connect() || err.is_timeout() => bail!(
                    "nothing answers at {base}: start boxoffice first (README, \"Run and test\"), \
                     or point --target at it ({err})"
                ),
                Err(err) => bail!("{url} could not be asked: {err}"),
                Ok(reply) if !reply.status().is_success() => bail!(
                    "{url} answered {}: is boxoffice running at {base}?",
                    reply.status()
                ),
                Ok(_) => {}
            }
        }
        Ok(())
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
    use super::*;

    #[test]
    fn only_loopback_targets_are_allowed() {
        assert!(check_loopback("http://127.0.0.1:8080").is_ok());
        assert!(check_loopback("http://127.3.2.1:8080").is_ok());
        assert!(check_loopback("http://localhost:8080").is_ok());
        assert!(check_loopback("http://[::1]:8080").is_ok());
        assert!(check_loopback("http://10.0.0.5:8080").is_err());
        assert!(check_loopback("http://example.com").is_err());
    }

    #[test]
    fn several_targets_take_the_requests_in_turn_and_each_must_be_loopback() {
        let api = |targets: &str| {
            Api::new(
                targets,
                "key",
                Identity::TrustedHeader,
                Arc::new(Recorder::new()),
                4,
            )
        };
        let two = api("http://127.0.0.1:1, http://127.0.0.1:2/").unwrap();
        let urls: Vec<String> = (0..4).map(|_| two.url("/x")).collect();
        assert_eq!(
            urls,
            [
                "http://127.0.0.1:1/x",
                "http://127.0.0.1:2/x",
                "http://127.0.0.1:1/x",
                "http://127.0.0.1:2/x"
            ]
        );
        assert!(api("http://127.0.0.1:1,http://10.0.0.5:2").is_err());
        assert!(api(" , ").is_err());
    }
}
