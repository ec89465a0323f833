//! Starting a real server for a test and talking to it.

use boxoffice_auth::dev::DevSigner;
use boxoffice_core::ports::Clock;
use boxoffice_core::testing::ManualClock;
use boxoffice_core::use_cases::App;
use boxoffice_server::config::{AuthModeSetting, Settings};
use boxoffice_server::{demo, wiring};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::sync::Arc;
use tokio::net::TcpListener;

pub const ADMIN_KEY: &str = "test-admin-key";

/// The HS256 secret test servers verify access tokens with; the harness
/// signs its fans' tokens with it, as an identity provider would.
pub const JWT_SECRET: &str = "test-secret-for-access-tokens-0123456789";

/// A running server with its own database and clock.
pub struct Server {
    pub base: String,
    pub http: reqwest::Client,
    pub clock: Arc<ManualClock>,
    pub app: App,
    /// Its token streams, refreshed every `queue.stream_refresh_ms` on real time.
    #[allow(dead_code)]
    pub streams: Arc<boxoffice_http::Streams>,
    /// The Redis key prefix of a cluster server.
    pub redis_prefix: Option<String>,
    /// Where its consumer groups read from.
    pub feed: wiring::Feed,
    /// Set when tokens enter the line through Kafka: `issue_token` then
    /// waits for the token's entry to be consumed.
    kafka_entry: bool,
    /// How fans say who they are to this server.
    pub auth_mode: AuthModeSetting,
    /// Signs fans' access tokens (with [`JWT_SECRET`]).
    signer: DevSigner,
    /// Stops the server's consumer loops when the test ends.
    _consumers: tokio_util::sync::DropGuard,
    tempdir: tempfile::TempDir,
}

/// Requests made as one fan: each carries the fan's identity (a bearer
/// token, or `Client-Id` in `trusted_header` mode).
pub struct Caller<'a> {
    server: &'a Server,
    identity: (&'static str, String),
}

impl Caller<'_> {
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<Value>,
    ) -> Reply {
        let mut all = vec![(self.identity.0, self.identity.1.as_str())];
        all.extend_from_slice(headers);
        self.server.call(method, path, &all, body).await
    }

    pub async fn get(&self, path: &str, headers: &[(&str, &str)]) -> Reply {
        self.call(reqwest::Method::GET, path, headers, None).await
    }

    pub async fn post(&self, path: &str, headers: &[(&str, &str)], body: Value) -> Reply {
        self.call(reqwest::Method::POST, path, headers, Some(body))
            .await
    }

    pub async fn delete(&self, path: &str, headers: &[(&str, &str)]) -> Reply {
        self.call(reqwest::Method::DELETE, path, headers, None)
            .await
    }
}

/// The fan a queue ticket (or pass) names: a ticket is a JWT whose `sub`
/// is its fan, readable by anyone who holds it.
pub fn owner(credential: &str) -> i64 {
    let data = jsonwebtoken::dangerous::insecure_decode::<Value>(credential)
        .unwrap_or_else(|e| panic!("not a queue ticket {credential:?}: {e}"));
    data.claims["sub"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no fan in {:?}", data.claims))
}

/// A response: status, headers and parsed JSON body.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Reply {
    pub fn data(&self) -> &Value {
        &self.body["data"]
    }

    /// Asserts an error answer with `status` and `code` in the envelope.
    pub fn assert_error(&self, status: u16, code: &str) {
        assert_eq!(self.status.as_u16(), status, "{:?}", self.body);
        assert_eq!(self.body["code"], code, "{:?}", self.body);
        assert!(self.body["message"].is_string(), "{:?}", self.body);
        assert!(self.body.get("data").is_none(), "{:?}", self.body);
    }

    /// Asserts a bot-gate refusal: the error, and a fresh challenge with it.
    pub fn assert_error_with_challenge(&self, status: u16, code: &str) {
        assert_eq!(self.status.as_u16(), status, "{:?}", self.body);
        assert_eq!(self.body["code"], code, "{:?}", self.body);
        assert!(
            self.body["challenge"]["challenge"].is_string(),
            "{:?}",
            self.body
        );
        assert!(self.body.get("data").is_none(), "{:?}", self.body);
    }

    pub fn assert_ok(&self, status: u16) -> &Value {
        assert_eq!(self.status.as_u16(), status, "{:?}", self.body);
        assert_eq!(self.body["code"], "SUCCESS", "{:?}", self.body);
        self.data()
    }
}

pub async fn spawn() -> Server {
    spawn_with(|_| {}).await
}

/// How tokens join the line in a test that runs both ways.
#[derive(Debug, Clone, Copy)]
pub enum QueueMode {
    Direct,
    /// Through the Kafka broker `scripts/services` runs (or
    /// `BOXOFFICE_TEST_KAFKA`), on topics and groups of the test's own.
    Kafka,
}

/// As [`spawn_with`], with tokens joining the line as `mode` says.
pub async fn spawn_in(mode: QueueMode, tune: impl FnOnce(&mut Settings)) -> Server {
    spawn_with(|s| {
        if let QueueMode::Kafka = mode {
            let run = uuid::Uuid::new_v4().simple().to_string();
            s.kafka.brokers = std::env::var("BOXOFFICE_TEST_KAFKA")
                .unwrap_or_else(|_| "127.0.0.1:9092".to_owned());
            s.kafka.group_prefix = format!("test.{run}.");
            s.kafka.queue_entered_topic = format!("test.{run}.queue.entered");
            s.kafka.room_changed_topic = format!("test.{run}.room.changed");
            s.kafka.reservation_confirmed_topic = format!("test.{run}.reservation.confirmed");
            s.kafka.balance_charged_topic = format!("test.{run}.balance.charged");
            s.kafka.queue_entered_partitions = 1;
            s.kafka.room_changed_partitions = 1;
            s.kafka.reservation_confirmed_partitions = 1;
            s.kafka.balance_charged_partitions = 1;
            // tansu mishandles multi-record batches when a consumer resumes
            // (docs/events.md); Kafka needs no such setting.
            s.kafka.batch_num_messages = 1;
            s.kafka.poll_wait_ms = 100;
            s.queue.entry = boxoffice_server::config::QueueEntry::Kafka;
        }
        tune(s);
    })
    .await
}

/// Starts a server after `tune` adjusts the settings.
pub async fn spawn_with(tune: impl FnOnce(&mut Settings)) -> Server {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut settings = test_settings();
    settings.database.url = format!("sqlite://{}", dir.path().join("api.db").display());
    tune(&mut settings);
    start(&settings, Arc::new(ManualClock::default()), dir).await
}

/// Settings every test server starts from: bearer tokens signed with
/// [`JWT_SECRET`], and no rate limits (their own tests turn them on).
pub fn test_settings() -> Settings {
    let mut settings = Settings::default();
    settings.admin.api_key = ADMIN_KEY.into();
    settings.auth.hs256_secret = JWT_SECRET.into();
    settings.rate_limit.enabled = false;
    settings.queue.admit_batch = 1_000;
    settings.queue.max_active = 1_000;
    settings.queue.stream_refresh_ms = 100;
    // Tests fire hundreds of token requests at once to race them; the
    // budget that sheds them is tested on its own (limits.rs).
    settings.server.max_in_flight_token_issues = 0;
    settings.server.max_in_flight_polls = 0;
    settings
}

/// `n` instances sharing one PostgreSQL schema, one Redis key prefix and
/// one clock, as several processes behind a load balancer would.
pub async fn spawn_cluster(n: usize, tune: impl Fn(&mut Settings)) -> Vec<Server> {
    let pg = boxoffice_store::testing::fresh_pg().await;
    let mut settings = test_settings();
    settings.database.url = pg.url;
    settings.database.max_connections = 16;
    settings.redis.url = std::env::var("BOXOFFICE_TEST_REDIS_URL")
        .unwrap_or_else(|_| "redis://127.0.0.1:6379/0".to_owned());
    settings.redis.key_prefix = format!("test:{}:", uuid::Uuid::new_v4().simple());
    settings.redis.command_timeout_ms = 2_000;
    tune(&mut settings);
    let clock = Arc::new(ManualClock::default());
    let mut servers = Vec::with_capacity(n);
    for _ in 0..n {
        let dir = tempfile::tempdir().expect("temp dir");
        servers.push(start(&settings, clock.clone(), dir).await);
    }
    servers
}

/// Points the settings at the test Redis Cluster
/// (`BOXOFFICE_TEST_REDIS_CLUSTER_URL`, default the three nodes
/// `scripts/services` starts), for [`spawn_cluster`]'s `tune`.
pub fn on_redis_cluster(settings: &mut Settings) {
    settings.redis.url = std::env::var("BOXOFFICE_TEST_REDIS_CLUSTER_URL").unwrap_or_else(|_| {
        "redis://127.0.0.1:7101,redis://127.0.0.1:7102,redis://127.0.0.1:7103".to_owned()
    });
    settings.redis.cluster = true;
}

pub async fn start(settings: &Settings, clock: Arc<ManualClock>, dir: tempfile::TempDir) -> Server {
    let service = wiring::build(settings, clock.clone()).await.expect("app");
    let app = service.app.clone();
    let consumers = tokio_util::sync::CancellationToken::new();
    let kafka_entry = settings.queue.entry == boxoffice_server::config::QueueEntry::Kafka;
    if kafka_entry {
        tokio::spawn(boxoffice_server::consumers::admit_queue_entries(
            app.clone(),
            service
                .feed
                .queue_entries()
                .expect("queue-entry subscription"),
            std::time::Duration::ZERO,
            consumers.clone(),
        ));
    }
    demo::seed_if_empty(&app, clock.as_ref())
        .await
        .expect("demo data");
    let state = wiring::api_state(settings, &service);
    if let Some(keys) = boxoffice_server::workers::jwks_of(&service) {
        tokio::spawn(boxoffice_server::workers::jwks_refresh(
            keys,
            std::time::Duration::from_secs(settings.auth.jwks_refresh_secs),
            consumers.clone(),
        ));
    }
    tokio::spawn(boxoffice_server::workers::revocation_feed(
        app.clone(),
        std::time::Duration::from_millis(settings.auth.pass_revocation_poll_ms),
        consumers.clone(),
    ));
    let streams = service.streams.clone();
    let stop_streams = consumers.clone();
    let refreshing = streams.clone();
    tokio::spawn(async move {
        tokio::select! {
            () = refreshing.run() => {}
            () = stop_streams.cancelled() => {}
        }
    });
    let router = boxoffice_http::router(state);
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let stop = consumers.clone();
    let serving = boxoffice_server::serve::Serving::of(settings);
    tokio::spawn(async move {
        boxoffice_server::serve::http(listener, router, stop, serving)
            .await
            .expect("serve");
    });
    Server {
        base,
        // A request that hangs fails its test instead of the whole run.
        http: reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(60))
            .build()
            .expect("http client"),
        clock,
        app,
        streams,
        redis_prefix: Some(settings.redis.key_prefix.clone())
            .filter(|_| !settings.redis.url.is_empty()),
        feed: service.feed,
        kafka_entry,
        auth_mode: settings.auth.mode,
        signer: DevSigner::new(
            JWT_SECRET.as_bytes(),
            Some(settings.auth.issuer.clone()).filter(|s| !s.is_empty()),
            Some(settings.auth.audience.clone()).filter(|s| !s.is_empty()),
            3_600,
        ),
        _consumers: consumers.drop_guard(),
        tempdir: dir,
    }
}

impl Server {
    /// The folder of its SQLite file and what the embedded mode keeps beside it.
    #[allow(dead_code)]
    pub fn data_dir(&self) -> &std::path::Path {
        self.tempdir.path()
    }

    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<Value>,
    ) -> Reply {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        let res = req.send().await.expect("request");
        let status = res.status();
        let headers = res.headers().clone();
        let text = res.text().await.expect("body");
        // 204 No Content has no body.
        let body = if text.is_empty() && status == StatusCode::NO_CONTENT {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON ({status}): {text:?}"))
        };
        Reply {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&self, path: &str, headers: &[(&str, &str)]) -> Reply {
        self.call(reqwest::Method::GET, path, headers, None).await
    }

    pub async fn post(&self, path: &str, headers: &[(&str, &str)], body: Value) -> Reply {
        self.call(reqwest::Method::POST, path, headers, Some(body))
            .await
    }

    /// Requests as `user`.
    pub fn fan(&self, user: i64) -> Caller<'_> {
        let identity = match self.auth_mode {
            AuthModeSetting::Jwt => (
                "Authorization",
                format!("Bearer {}", self.access_token(user)),
            ),
            AuthModeSetting::TrustedHeader => ("Client-Id", user.to_string()),
        };
        Caller {
            server: self,
            identity,
        }
    }

    /// Requests as the fan `credential` (a ticket or pass) was issued to.
    pub fn owner_of(&self, credential: &str) -> Caller<'_> {
        self.fan(owner(credential))
    }

    /// An access token for `user`, valid for an hour from the server's clock.
    pub fn access_token(&self, user: i64) -> String {
        self.signer
            .sign(&user.to_string(), self.clock.now().as_millis())
            .expect("sign")
            .token
    }

    /// Asks for a token as `user`. When tokens enter the line through
    /// Kafka, a WAITING token has no position until its entry is consumed:
    /// this then waits for it and answers with the token as polled, so that
    /// tests read positions alike in both modes.
    pub async fn issue_token(&self, user: i64, concert: i64) -> Reply {
        let reply = self
            .fan(user)
            .post("/api/v1/queue/tokens", &[], json!({ "concertId": concert }))
            .await;
        let waiting = reply.body["data"]["status"] == "WAITING";
        if !self.kafka_entry || !waiting || !reply.body["data"]["position"].is_null() {
            return reply;
        }
        let token = reply.body["data"]["token"]
            .as_str()
            .expect("token")
            .to_owned();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            let polled = self.poll(&token).await;
            if !polled.body["data"]["position"].is_null() {
                return Reply {
                    status: reply.status,
                    headers: polled.headers,
                    body: polled.body,
                };
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the entry of {token} was never consumed"
            );
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    }

    /// Polls `ticket` as the fan it was issued to.
    pub async fn poll(&self, ticket: &str) -> Reply {
        self.owner_of(ticket)
            .get("/api/v1/queue/tokens/current", &[("Queue-Token", ticket)])
            .await
    }

    /// A ticket for `user` on concert 1, admitted.
    pub async fn active_token(&self, user: i64) -> String {
        let token = self.issue_token(user, 1).await.assert_ok(201)["token"]
            .as_str()
            .expect("token")
            .to_owned();
        self.admit().await;
        token
    }

    /// The admission pass of `user`'s admitted ticket on concert 1.
    pub async fn active_pass(&self, user: i64) -> String {
        let ticket = self.active_token(user).await;
        self.poll(&ticket).await.assert_ok(200)["admissionPass"]
            .as_str()
            .expect("an admission pass")
            .to_owned()
    }

    /// Changes concert `concert`'s room as the admin.
    pub async fn patch_room(&self, concert: i64, body: Value) -> Reply {
        self.call(
            reqwest::Method::PATCH,
            &format!("/api/v1/admin/concerts/{concert}/room"),
            &[("X-Admin-Key", ADMIN_KEY)],
            Some(body),
        )
        .await
    }

    pub async fn admit(&self) -> u64 {
        self.app.activate_batch_once().await.expect("admission")
    }

    /// The first date of concert 1, seen with `token` by its fan.
    pub async fn first_schedule(&self, token: &str) -> i64 {
        let schedules = self
            .owner_of(token)
            .get("/api/v1/concerts/1/schedules", &[("Queue-Token", token)])
            .await;
        schedules.assert_ok(200)[0]["scheduleId"]
            .as_i64()
            .expect("schedule id")
    }

    pub async fn charge(&self, user: i64, amount: i64) -> Reply {
        self.fan(user)
            .post("/api/v1/balance/charge", &[], json!({ "amount": amount }))
            .await
    }

    pub async fn balance(&self, user: i64) -> i64 {
        self.fan(user)
            .get("/api/v1/balance", &[])
            .await
            .assert_ok(200)["balance"]
            .as_i64()
            .expect("balance")
    }

    /// Holds a seat with `token` (ticket or pass), as the fan it was issued to.
    pub async fn hold(&self, token: &str, schedule: i64, seat: i64) -> Reply {
        self.owner_of(token)
            .post(
                "/api/v1/holds",
                &[("Queue-Token", token)],
                json!({ "scheduleId": schedule, "seatNumber": seat }),
            )
            .await
    }

    /// Pays for `hold_id` as `user` (a payment takes no queue token).
    pub async fn pay(&self, user: i64, hold_id: &str, key: Option<&str>) -> Reply {
        let headers: Vec<(&str, &str)> = key.map(|k| ("Idempotency-Key", k)).into_iter().collect();
        self.fan(user)
            .post("/api/v1/payments", &headers, json!({ "holdId": hold_id }))
            .await
    }

    /// The seat list of `schedule`, asked with `credential` (ticket or pass) by its fan.
    pub async fn seats(&self, credential: &str, schedule: i64) -> Reply {
        self.owner_of(credential)
            .get(
                &format!("/api/v1/schedules/{schedule}/seats"),
                &[("Queue-Token", credential)],
            )
            .await
    }

    /// A seat's status, seen with `token` by its fan.
    pub async fn seat_status(&self, token: &str, schedule: i64, seat: i64) -> String {
        let seats = self.seats(token, schedule).await;
        seats.assert_ok(200)[(seat - 1) as usize]["status"]
            .as_str()
            .expect("status")
            .to_owned()
    }

    pub async fn reservations(&self, user: i64) -> Vec<Value> {
        self.fan(user)
            .get("/api/v1/reservations", &[])
            .await
            .assert_ok(200)
            .as_array()
            .expect("list")
            .clone()
    }
}
