//! Dependencies going away and coming back: calls that need the missing
//! service answer 503 quickly, nothing is half-written, and service resumes
//! by itself, without a restart.

use crate::harness::{Reply, Server, spawn_cluster};
use crate::proxy::Proxy;
use std::time::{Duration, Instant};

/// Retries `call` until it answers `status` (the dependency came back).
async fn until<F, Fut>(status: u16, mut call: F) -> Reply
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Reply>,
{
    let started = Instant::now();
    loop {
        let reply = call().await;
        if reply.status.as_u16() == status || started.elapsed() > Duration::from_secs(15) {
            return reply;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn timed(call: impl std::future::Future<Output = Reply>) -> (Reply, Duration) {
    let started = Instant::now();
    let reply = call.await;
    (reply, started.elapsed())
}

fn redis_upstream() -> String {
    let url = std::env::var("BOXOFFICE_TEST_REDIS_URL")
        .unwrap_or_else(|_| "redis://127.0.0.1:6379/0".to_owned());
    url.trim_start_matches("redis://")
        .split('/')
        .next()
        .unwrap_or("127.0.0.1:6379")
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_redis_down_queue_calls_fail_fast_while_money_and_payments_go_on() {
    let proxy = Proxy::start(&redis_upstream()).await;
    let addr = proxy.addr;
    let servers = spawn_cluster(1, move |s| {
        s.redis.url = format!("redis://{addr}/0");
        s.redis.command_timeout_ms = 300;
        s.redis.connect_timeout_ms = 300;
    })
    .await;
    let s: &Server = &servers[0];
    let token = s.active_token(1).await;
    let schedule = s.first_schedule(&token).await;
    s.charge(1, 300_000).await.assert_ok(200);
    let buyer = s.active_pass(2).await;
    s.charge(2, 300_000).await.assert_ok(200);
    let bought = s.hold(&buyer, schedule, 4).await.assert_ok(201).clone();

    proxy.cut().await;
    let (reply, took) = timed(s.issue_token(2, 1)).await;
    reply.assert_error(503, "SERVICE_UNAVAILABLE");
    assert!(took < Duration::from_secs(2), "took {took:?}");
    let (reply, took) = timed(s.hold(&token, schedule, 5)).await;
    reply.assert_error(503, "SERVICE_UNAVAILABLE");
    assert!(took < Duration::from_secs(2), "took {took:?}");
    s.poll(&token)
        .await
        .assert_error(503, "SERVICE_UNAVAILABLE");
    let ready = s.get("/health/ready", &[]).await;
    ready.assert_error(503, "SERVICE_UNAVAILABLE");
    assert_eq!(
        ready.body["message"],
        "not ready: the waiting room does not answer"
    );
    // Money does not need Redis, and neither does paying for a hold.
    assert_eq!(s.balance(1).await, 300_000);
    s.charge(1, 1_000).await.assert_ok(200);
    let paid = s.pay(2, bought["holdId"].as_str().unwrap(), None).await;
    assert_eq!(paid.assert_ok(201)["seatNumber"], 4);

    proxy.restore();
    until(201, || s.issue_token(2, 1)).await.assert_ok(201);
    // The token survived (Redis kept its data); the seat was never touched.
    let held = until(201, || s.hold(&token, schedule, 5)).await;
    held.assert_ok(201);
    assert_eq!(s.balance(1).await, 301_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_postgres_down_booking_and_money_fail_fast_nothing_is_half_written_and_service_resumes()
 {
    let proxy = Proxy::start("127.0.0.1:5432").await;
    let addr = proxy.addr;
    let servers = spawn_cluster(1, move |s| {
        s.database.url = s.database.url.replace("127.0.0.1:5432", &addr.to_string());
        s.database.acquire_timeout_ms = 500;
    })
    .await;
    let s: &Server = &servers[0];
    let token = s.active_token(1).await;
    let schedule = s.first_schedule(&token).await;
    s.charge(1, 300_000).await.assert_ok(200);
    let hold = s.hold(&token, schedule, 12).await.assert_ok(201).clone();

    proxy.cut().await;
    let hold_id = hold["holdId"].as_str().unwrap().to_owned();
    let (reply, took) = timed(s.pay(1, &hold_id, Some("pay-1"))).await;
    reply.assert_error(503, "SERVICE_UNAVAILABLE");
    assert!(took < Duration::from_secs(3), "took {took:?}");
    s.charge(1, 5_000)
        .await
        .assert_error(503, "SERVICE_UNAVAILABLE");
    let ready = s.get("/health/ready", &[]).await;
    ready.assert_error(503, "SERVICE_UNAVAILABLE");
    assert_eq!(
        ready.body["message"],
        "not ready: the database does not answer"
    );
    // The waiting room does not need PostgreSQL: fans keep their place in line.
    s.issue_token(2, 1).await.assert_ok(201);

    proxy.restore();
    until(200, || s.get("/health/ready", &[]))
        .await
        .assert_ok(200);
    // Nothing was half-written: the hold is still live, unpaid, and the money intact.
    assert_eq!(s.balance(1).await, 300_000);
    assert!(s.reservations(1).await.is_empty());
    let paid = until(201, || s.pay(1, &hold_id, Some("pay-1"))).await;
    assert_eq!(
        paid.assert_ok(201)["balance"],
        300_000 - hold["price"].as_i64().unwrap()
    );
    let totals = s.app.adapters().store.audit().await.unwrap().money;
    assert_eq!(
        totals.charged,
        totals.balances.checked_add(totals.paid).unwrap()
    );
}
