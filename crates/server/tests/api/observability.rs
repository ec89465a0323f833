//! What an operator sees of a real `boxoffice` process. Its log: request
//! ids kept or made and echoed, one JSON access line per request naming the
//! route template, the status, the fan and the request id, and no
//! credential anywhere, even at trace level. Its metrics: valid for
//! `promtool check metrics`, and counting what a journey did.

use serde_json::{Value, json};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const ADMIN_KEY: &str = "logs-admin-key-0123456789";

/// A `boxoffice` process on SQLite whose standard output goes to a file.
struct Logged {
    child: Child,
    base: String,
    log: std::path::PathBuf,
    dir: tempfile::TempDir,
}

impl Logged {
    async fn start(rust_log: &str) -> Self {
        Self::start_with(rust_log, &[]).await
    }

    /// Started with `settings` as extra environment variables.
    async fn start_with(rust_log: &str, settings: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("stdout.log");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(env!("CARGO_BIN_EXE_boxoffice"))
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .current_dir(dir.path())
            .env("BOXOFFICE__ADMIN__API_KEY", ADMIN_KEY)
            .env("BOXOFFICE__QUEUE__ADMIT_INTERVAL_SECS", "1")
            .env("RUST_LOG", rust_log)
            .envs(settings.iter().copied())
            .stdout(std::fs::File::create(&log).unwrap())
            .stderr(Stdio::null())
            .spawn()
            .expect("start boxoffice");
        let logged = Self {
            child,
            base: format!("http://127.0.0.1:{port}"),
            log,
            dir,
        };
        let http = reqwest::Client::new();
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(20) {
            if let Ok(r) = http
                .get(format!("{}/health/ready", logged.base))
                .send()
                .await
                && r.status().is_success()
            {
                return logged;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("boxoffice did not become ready");
    }

    /// Stops the process and returns what it wrote.
    fn stop(mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        std::fs::read_to_string(&self.log).unwrap()
    }
}

impl Drop for Logged {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One call: the answer's `x-request-id` and JSON body.
async fn call(
    http: &reqwest::Client,
    request: reqwest::RequestBuilder,
) -> (u16, Option<String>, Value) {
    let answer = http.execute(request.build().unwrap()).await.unwrap();
    let status = answer.status().as_u16();
    let id = answer
        .headers()
        .get("x-request-id")
        .map(|v| v.to_str().unwrap().to_owned());
    (status, id, answer.json().await.unwrap_or(Value::Null))
}

/// The access lines of a JSON log, by request id.
fn access_lines(log: &str) -> Vec<Value> {
    log.lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|line| line["target"] == "boxoffice::access")
        .collect()
}

/// The `data` of an answer that must succeed.
async fn data(http: &reqwest::Client, request: reqwest::RequestBuilder) -> Value {
    let (status, _, body) = call(http, request).await;
    assert!((200..300).contains(&status), "{status} {body}");
    body["data"].clone()
}

/// A fan signed in with the dev sign-in, in line for `concert` and
/// admitted: their access token, queue ticket and admission pass.
async fn admitted_fan(
    http: &reqwest::Client,
    base: &str,
    user: i64,
    concert: i64,
) -> (String, String, String) {
    let url = |path: &str| format!("{base}{path}");
    let session = data(
        http,
        http.post(url("/api/v1/dev/sessions"))
            .json(&json!({ "userId": user })),
    )
    .await;
    let token = session["accessToken"].as_str().unwrap().to_owned();
    let joined = data(
        http,
        http.post(url("/api/v1/queue/tokens"))
            .bearer_auth(&token)
            .json(&json!({ "concertId": concert })),
    )
    .await;
    let ticket = joined["token"].as_str().unwrap().to_owned();
    let started = Instant::now();
    loop {
        let view = data(
            http,
            http.get(url("/api/v1/queue/tokens/current"))
                .bearer_auth(&token)
                .header("Queue-Token", &ticket),
        )
        .await;
        if let Some(pass) = view["admissionPass"].as_str() {
            return (token, ticket, pass.to_owned());
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "never admitted: {view}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_id_is_kept_or_made_echoed_in_the_answer_and_its_error_body_and_one_access_line_names_route_status_fan_id_and_trace()
 {
    let s = Logged::start("info").await;
    let http = reqwest::Client::new();
    let url = |path: &str| format!("{}{path}", s.base);

    let (status, id, body) = call(
        &http,
        http.get(url("/api/v1/concerts/99/room"))
            .header("x-request-id", "trace-me-1"),
    )
    .await;
    assert_eq!(status, 404);
    assert_eq!(id.as_deref(), Some("trace-me-1"));
    assert_eq!(body["requestId"], "trace-me-1");

    let (_, made, body) = call(&http, http.get(url("/api/v1/nowhere"))).await;
    let made = made.expect("an id is made when none came");
    assert_eq!(made.len(), 36, "a UUID: {made}");
    assert_eq!(body["requestId"], made.as_str());

    for unusable in ["two words", &"x".repeat(129)] {
        let (_, id, _) = call(
            &http,
            http.get(url("/api/v1/concerts"))
                .header("x-request-id", unusable),
        )
        .await;
        assert_ne!(id.as_deref(), Some(unusable));
        assert_eq!(id.unwrap().len(), 36);
    }

    let (_, _, session) = call(
        &http,
        http.post(url("/api/v1/dev/sessions"))
            .json(&json!({ "userId": 4242 })),
    )
    .await;
    let token = session["data"]["accessToken"].as_str().unwrap().to_owned();
    let (status, id, body) = call(
        &http,
        http.get(url("/api/v1/balance?ignored=1"))
            .bearer_auth(&token)
            .header("x-request-id", "balance-1")
            .header(
                "traceparent",
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            ),
    )
    .await;
    assert_eq!((status, id.as_deref()), (200, Some("balance-1")));
    assert!(
        body.get("requestId").is_none(),
        "a success has no requestId"
    );

    let lines = access_lines(&s.stop());
    let line_of = |id: &str| {
        let found: Vec<&Value> = lines
            .iter()
            .filter(|l| l["span"]["request_id"] == id)
            .collect();
        assert_eq!(found.len(), 1, "one access line for {id}: {lines:?}");
        found[0].clone()
    };
    let missing = line_of("trace-me-1");
    assert_eq!(missing["status"], 404);
    assert_eq!(missing["span"]["method"], "GET");
    assert_eq!(
        missing["span"]["route"],
        "/api/v1/concerts/{concertId}/room"
    );
    assert!(missing["latency_ms"].as_f64().unwrap() >= 0.0);
    assert_eq!(line_of(&made)["span"]["route"], "unmatched");
    let balance = line_of("balance-1");
    assert_eq!(balance["status"], 200);
    assert_eq!(balance["span"]["route"], "/api/v1/balance");
    assert_eq!(balance["span"]["user_id"], 4242);
    // The caller's trace names the line; a request without one gets its own.
    assert_eq!(
        balance["span"]["trace_id"],
        "4bf92f3577b34da6a3ce929d0e0e4736"
    );
    let own = missing["span"]["trace_id"].as_str().unwrap_or_default();
    assert_eq!(own.len(), 32, "{missing}");
    assert_ne!(own, "4bf92f3577b34da6a3ce929d0e0e4736");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_credential_reaches_the_log_of_a_whole_journey_even_at_trace_level() {
    let s = Logged::start("trace").await;
    let http = reqwest::Client::new();
    let url = |path: &str| format!("{}{path}", s.base);

    let (token, ticket, pass) = admitted_fan(&http, &s.base, 5151, 1).await;
    // The stream takes its credentials in the query, as a browser sends them.
    let stream = http
        .get(url(&format!(
            "/api/v1/queue/tokens/current/events?token={ticket}&access_token={token}"
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status().as_u16(), 200);
    drop(stream);
    let charge_key = "charge-key-secret-9f2c";
    data(
        &http,
        http.post(url("/api/v1/balance/charge"))
            .bearer_auth(&token)
            .header("Idempotency-Key", charge_key)
            .json(&json!({ "amount": 200_000 })),
    )
    .await;
    let hold = data(
        &http,
        http.post(url("/api/v1/holds"))
            .bearer_auth(&token)
            .header("Queue-Token", &pass)
            .json(&json!({ "scheduleId": 1, "seatNumber": 20 })),
    )
    .await;
    let pay_key = "pay-key-secret-41d7";
    data(
        &http,
        http.post(url("/api/v1/payments"))
            .bearer_auth(&token)
            .header("Idempotency-Key", pay_key)
            .json(&json!({ "holdId": hold["holdId"] })),
    )
    .await;
    data(
        &http,
        http.get(url("/api/v1/admin/invariants"))
            .header("X-Admin-Key", ADMIN_KEY),
    )
    .await;

    let log = s.stop();
    assert!(
        access_lines(&log).len() >= 7,
        "the journey was logged at trace level"
    );
    let signature = |jwt: &str| jwt.rsplit('.').next().unwrap().to_owned();
    for (what, secret) in [
        ("the access token", signature(&token)),
        ("the queue ticket", signature(&ticket)),
        ("the admission pass", signature(&pass)),
        ("the charge's idempotency key", charge_key.to_owned()),
        ("the payment's idempotency key", pay_key.to_owned()),
        ("the admin key", ADMIN_KEY.to_owned()),
    ] {
        let leaks: Vec<&str> = log.lines().filter(|l| l.contains(&secret)).collect();
        assert!(leaks.is_empty(), "{what} is in the log: {leaks:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_metrics_pass_promtool_and_count_a_journeys_requests_outcomes_seats_and_revenue() {
    // Holds that end in seconds, swept every second, so one can expire.
    let s = Logged::start_with(
        "warn",
        &[
            ("BOXOFFICE__HOLDS__TTL_SECS", "3"),
            ("BOXOFFICE__HOLDS__SWEEP_INTERVAL_SECS", "1"),
        ],
    )
    .await;
    let http = reqwest::Client::new();
    let url = |path: &str| format!("{}{path}", s.base);
    let (token, _, pass) = admitted_fan(&http, &s.base, 6161, 2).await;
    data(
        &http,
        http.post(url("/api/v1/balance/charge"))
            .bearer_auth(&token)
            .json(&json!({ "amount": 500_000 })),
    )
    .await;
    let schedule = data(
        &http,
        http.get(url("/api/v1/concerts/2/schedules"))
            .bearer_auth(&token)
            .header("Queue-Token", &pass),
    )
    .await[0]["scheduleId"]
        .clone();
    let hold_seat = |seat: u32| {
        http.post(url("/api/v1/holds"))
            .bearer_auth(&token)
            .header("Queue-Token", &pass)
            .json(&json!({ "scheduleId": schedule, "seatNumber": seat }))
    };
    // One hold let go, one left to expire, one paid (a fan may have one
    // live hold at a time).
    let released = data(&http, hold_seat(2)).await;
    data(
        &http,
        http.delete(url(&format!(
            "/api/v1/holds/{}",
            released["holdId"].as_str().unwrap()
        )))
        .bearer_auth(&token),
    )
    .await;
    data(&http, hold_seat(3)).await;
    let swept = Instant::now();
    while !scrape(&http, &s.base)
        .await
        .contains(r#"boxoffice_holds_ended_total{how="expired"} 1"#)
    {
        assert!(
            swept.elapsed() < Duration::from_secs(20),
            "the hold on seat 3 was never swept"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let hold = data(
        &http,
        http.post(url("/api/v1/holds"))
            .bearer_auth(&token)
            .header("Queue-Token", &pass)
            .json(&json!({ "scheduleId": schedule, "seatNumber": 1 })),
    )
    .await;
    data(
        &http,
        http.post(url("/api/v1/payments"))
            .bearer_auth(&token)
            .json(&json!({ "holdId": hold["holdId"] })),
    )
    .await;

    let (status, _, _) = call(
        &http,
        http.post(url("/api/v1/payments"))
            .bearer_auth(&token)
            .json(&json!({ "holdId": "6f1d0c3a-2b4e-4f5a-8c7d-9e0f1a2b3c4d" })),
    )
    .await;
    assert_eq!(status, 404);

    let text = scrape(&http, &s.base).await;
    let file = s.dir.path().join("metrics.txt");
    std::fs::write(&file, &text).unwrap();
    let checked = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::fs::File::open(&file).unwrap())
        .output()
        .expect("promtool (Debian's prometheus package; scripts/test installs it)");
    assert!(
        checked.status.success(),
        "promtool check metrics: {}{}",
        String::from_utf8_lossy(&checked.stdout),
        String::from_utf8_lossy(&checked.stderr)
    );
    let value = |series: &str| -> f64 {
        text.lines()
            .find_map(|line| {
                line.strip_prefix(series)
                    .and_then(|v| v.trim().parse().ok())
            })
            .unwrap_or_else(|| panic!("no {series} in\n{text}"))
    };
    assert_eq!(value(r#"boxoffice_seats{concert="2",status="sold"}"#), 1.0);
    assert_eq!(value(r#"boxoffice_holds_total{outcome="held"}"#), 3.0);
    assert_eq!(value(r#"boxoffice_holds_ended_total{how="released"}"#), 1.0);
    assert_eq!(value(r#"boxoffice_holds_ended_total{how="expired"}"#), 1.0);
    // Concert 2's rounds admitted its one fan, however many rounds ran.
    assert_eq!(
        value(r#"boxoffice_room_round_admitted_sum{concert="2"}"#),
        1.0
    );
    assert!(value(r#"boxoffice_room_round_admitted_count{concert="2"}"#) >= 1.0);
    assert_eq!(value(r#"boxoffice_charges_total{outcome="charged"}"#), 1.0);
    assert_eq!(value(r#"boxoffice_payments_total{outcome="paid"}"#), 1.0);
    assert_eq!(
        value(r#"boxoffice_payments_total{outcome="HOLD_NOT_FOUND"}"#),
        1.0,
        "a refusal counts by its code"
    );
    assert_eq!(
        value(r#"boxoffice_revenue_won_total{concert="2"}"#),
        hold["price"].as_f64().unwrap()
    );
    assert_eq!(value(r#"boxoffice_room_admitted_total{concert="2"}"#), 1.0);
    assert_eq!(
        value(r#"boxoffice_room_abandoned_total{concert="2"}"#),
        0.0,
        "the fan kept polling"
    );
    assert_eq!(
        value(r#"boxoffice_room_fans{concert="2",state="active"}"#),
        0.0,
        "the payment ended the admission"
    );
    assert_eq!(
        value(
            r#"boxoffice_http_requests_total{method="POST",route="/api/v1/payments",status="201"}"#
        ),
        1.0
    );
    // Labelled by route template, never by the path itself.
    assert_eq!(
        value(
            r#"boxoffice_http_requests_total{method="GET",route="/api/v1/concerts/{concertId}/schedules",status="200"}"#
        ),
        1.0
    );
    assert!(!text.contains("/api/v1/concerts/2/schedules"), "{text}");
    // The relay has run, whether or not it found events.
    assert!(value("boxoffice_outbox_relay_batch_events_count ") >= 1.0);
    // The process itself, in Prometheus' standard names.
    assert!(value("process_resident_memory_bytes ") > 0.0);
    assert!(value("process_open_fds ") > 0.0);
    assert!(
        value("process_cpu_seconds_total ") >= 0.0,
        "counted in whole seconds"
    );
    assert_eq!(
        value(
            r#"boxoffice_http_request_duration_seconds_count{method="POST",route="/api/v1/holds"}"#
        ),
        3.0
    );
    assert!(
        value(
            r#"boxoffice_http_requests_total{method="GET",route="/api/v1/queue/tokens/current",status="200"}"#
        ) >= 1.0
    );
    let _ = s.stop();
}

/// With PostgreSQL: the pool's size and use, and how long transactions
/// waited for a connection; and the dead letters gauge, at 0.
#[tokio::test]
async fn on_postgres_and_redis_the_metrics_show_the_pool_the_dead_letters_and_redis_latency() {
    let server = crate::harness::spawn_cluster(1, |_| {}).await.remove(0);
    let token = server.active_token(1).await;
    let schedule = server.first_schedule(&token).await;
    server.hold(&token, schedule, 1).await.assert_ok(201);
    // The pool is read every second.
    tokio::time::sleep(std::time::Duration::from_millis(1_200)).await;
    let text = server
        .http
        .get(format!("{}/metrics", server.base))
        .header("X-Admin-Key", crate::harness::ADMIN_KEY)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let value = |series: &str| -> f64 {
        text.lines()
            .find_map(|line| line.strip_prefix(series)?.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {series} in\n{text}"))
    };
    // Other tests' pools share this process's recorder: the last one read wins.
    assert!(value("boxoffice_db_pool_size ") >= 1.0);
    let idle = value("boxoffice_db_pool_connections{state=\"idle\"}");
    let in_use = value("boxoffice_db_pool_connections{state=\"in_use\"}");
    assert!(idle + in_use >= 1.0, "the pool holds a connection");
    assert!(
        value("boxoffice_db_pool_acquire_seconds_count ") >= 1.0,
        "the hold waited for one"
    );
    assert!(
        text.contains("boxoffice_db_pool_acquire_seconds_bucket{le=\"0.005\"}"),
        "buckets"
    );
    assert_eq!(
        value("boxoffice_dead_letters{consumer=\"boxoffice.dataplatform\"}"),
        0.0
    ); // Redis: the waiting room's scripts, timed.
    assert!(value("boxoffice_redis_command_duration_seconds_count{command=\"EVALSHA\"}") >= 1.0);
    assert!(
        text.contains(
            "boxoffice_redis_command_duration_seconds_bucket{command=\"EVALSHA\",le=\"0.0001\"}"
        ),
        "buckets"
    );
}

async fn scrape(http: &reqwest::Client, base: &str) -> String {
    http.get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}
