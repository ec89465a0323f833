//! Two real `boxoffice` processes behind an imaginary load balancer, sharing
//! one PostgreSQL schema and one Redis prefix, with their own workers and
//! the system clock; and what survives when Redis loses its data.

use crate::harness::{JWT_SECRET, Reply, spawn_cluster};
use boxoffice_auth::dev::DevSigner;
use serde_json::{Value, json};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running `boxoffice` process, killed when dropped.
struct Process {
    child: Child,
    base: String,
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

async fn start(database: &str, redis_prefix: &str) -> Process {
    let port = free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_boxoffice"))
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .env("BOXOFFICE__DATABASE__URL", database)
        .env(
            "BOXOFFICE__REDIS__URL",
            std::env::var("BOXOFFICE_TEST_REDIS_URL")
                .unwrap_or_else(|_| "redis://127.0.0.1:6379/0".to_owned()),
        )
        .env("BOXOFFICE__REDIS__KEY_PREFIX", redis_prefix)
        .env("BOXOFFICE__AUTH__HS256_SECRET", JWT_SECRET)
        .env("BOXOFFICE__QUEUE__ADMIT_INTERVAL_SECS", "1")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .expect("start boxoffice");
    let process = Process {
        child,
        base: format!("http://127.0.0.1:{port}"),
    };
    let http = reqwest::Client::new();
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(20) {
        if let Ok(r) = http
            .get(format!("{}/health/ready", process.base))
            .send()
            .await
            && r.status().is_success()
        {
            return process;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("boxoffice on port {port} did not become ready");
}

async fn call(
    base: &str,
    method: reqwest::Method,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<Value>,
) -> Reply {
    let mut req = reqwest::Client::new().request(method, format!("{base}{path}"));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    if let Some(body) = body {
        req = req.json(&body);
    }
    let res = req.send().await.unwrap();
    let status = res.status();
    Reply {
        status,
        headers: res.headers().clone(),
        body: res.json().await.unwrap(),
    }
}

/// `Authorization: Bearer ...` for `user`, signed as the identity provider would.
fn bearer(user: i64) -> String {
    let now = i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap();
    let signer = DevSigner::new(JWT_SECRET.as_bytes(), None, None, 3_600);
    format!(
        "Bearer {}",
        signer.sign(&user.to_string(), now).unwrap().token
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_share_the_line_the_seats_and_the_money() {
    let pg = boxoffice_store::testing::fresh_pg().await;
    let prefix = format!("test:{}:", uuid::Uuid::new_v4().simple());
    let a = start(&pg.url, &prefix).await;
    let b = start(&pg.url, &prefix).await;
    use reqwest::Method as M;

    // The demo catalog was seeded once for both.
    let concerts = call(&b.base, M::GET, "/api/v1/concerts", &[], None).await;
    assert_eq!(concerts.assert_ok(200).as_array().unwrap().len(), 3);
    let fan = bearer(7);
    let me = ("Authorization", fan.as_str());

    let token = call(
        &a.base,
        M::POST,
        "/api/v1/queue/tokens",
        &[me],
        Some(json!({"concertId": 1})),
    )
    .await
    .assert_ok(201)["token"]
        .as_str()
        .unwrap()
        .to_owned();
    // Admitted by whichever process's worker claims the next round; seen by both.
    let started = Instant::now();
    loop {
        let polled = call(
            &b.base,
            M::GET,
            "/api/v1/queue/tokens/current",
            &[me, ("Queue-Token", &token)],
            None,
        )
        .await;
        if polled.assert_ok(200)["status"] == "ACTIVE" {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "never admitted"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    call(
        &b.base,
        M::POST,
        "/api/v1/balance/charge",
        &[me],
        Some(json!({"amount": 200000})),
    )
    .await
    .assert_ok(200);
    let schedules = call(
        &a.base,
        M::GET,
        "/api/v1/concerts/1/schedules",
        &[me, ("Queue-Token", &token)],
        None,
    )
    .await;
    let schedule = schedules.assert_ok(200)[0]["scheduleId"].as_i64().unwrap();
    let hold = call(
        &a.base,
        M::POST,
        "/api/v1/holds",
        &[me, ("Queue-Token", &token)],
        Some(json!({"scheduleId": schedule, "seatNumber": 20})),
    )
    .await;
    let hold_id = hold.assert_ok(201)["holdId"].as_str().unwrap().to_owned();
    // A payment needs the hold's owner, not the queue token.
    let paid = call(
        &b.base,
        M::POST,
        "/api/v1/payments",
        &[me],
        Some(json!({"holdId": hold_id})),
    )
    .await;
    let price = paid.assert_ok(201)["price"].as_i64().unwrap();
    let balance = call(&a.base, M::GET, "/api/v1/balance", &[me], None).await;
    assert_eq!(balance.assert_ok(200)["balance"], 200_000 - price);
    let polled = call(
        &a.base,
        M::GET,
        "/api/v1/queue/tokens/current",
        &[me, ("Queue-Token", &token)],
        None,
    )
    .await;
    assert_eq!(polled.assert_ok(200)["status"], "EXPIRED");
    // The outbox relay of one process ranks the concert for both.
    let started = Instant::now();
    loop {
        let popular = call(&b.base, M::GET, "/api/v1/concerts/popular", &[], None).await;
        if popular.assert_ok(200).as_array().unwrap().len() == 1 {
            assert_eq!(popular.data()[0]["reservations"], 1);
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "never ranked");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_redis_loses_its_data_fans_poll_back_in_line_and_holds_stay_payable_by_their_owner() {
    let servers = spawn_cluster(1, |_| {}).await;
    let s = &servers[0];
    let token = s.active_token(1).await;
    let schedule = s.first_schedule(&token).await;
    s.charge(1, 200_000).await.assert_ok(200);
    let hold = s.hold(&token, schedule, 8).await.assert_ok(201).clone();

    // Redis restarts empty (only this test's keys are removed).
    let prefix = s
        .redis_prefix
        .clone()
        .expect("a cluster server has a Redis prefix");
    let client = redis::Client::open("redis://127.0.0.1:6379/0").unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    // SCAN, not KEYS: the shared Redis may hold many other keys, and KEYS
    // would block it for everyone else.
    let mut cursor: u64 = 0;
    loop {
        let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(format!("{prefix}*"))
            .arg("COUNT")
            .arg(1_000)
            .query_async(&mut conn)
            .await
            .unwrap();
        if !keys.is_empty() {
            let _: () = redis::cmd("UNLINK")
                .arg(keys)
                .query_async(&mut conn)
                .await
                .unwrap();
        }
        cursor = next;
        if cursor == 0 {
            break;
        }
    }

    // The token is gone, but its ticket names an older epoch of the room:
    // the poll brings the fan back, waiting for the heal window.
    let back = s.poll(&token).await;
    let back = back.assert_ok(200);
    assert_eq!(
        (back["status"].as_str(), back["position"].as_i64()),
        (Some("WAITING"), None)
    );
    // The hold and the balance are in PostgreSQL: the fan pays with no token at all.
    assert_eq!(s.balance(1).await, 200_000);
    let paid = s.pay(1, hold["holdId"].as_str().unwrap(), None).await;
    assert_eq!(
        paid.assert_ok(201)["balance"],
        200_000 - hold["price"].as_i64().unwrap()
    );
    // The payment ended the token it came back with.
    assert_eq!(s.poll(&token).await.assert_ok(200)["status"], "EXPIRED");
    // Nobody is admitted during the window, then the newcomer is.
    let newcomer = s.issue_token(2, 1).await.assert_ok(201)["token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(s.admit().await, 0);
    s.clock
        .advance_secs(s.app.policies().queue.heal_window_secs);
    s.poll(&newcomer).await.assert_ok(200);
    assert_eq!(s.admit().await, 1);
    // The newcomer, admitted, sees the seat sold.
    assert_eq!(s.seat_status(&newcomer, schedule, 8).await, "SOLD");
}
