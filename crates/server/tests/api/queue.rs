//! The waiting room over HTTP: positions, admission, abandonment, expiry.
//! Every case runs twice: tokens entering the line directly, and through
//! the `queue.entered` Kafka topic (`queue.entry = kafka`).

use crate::harness::{QueueMode, spawn_in};

/// Runs each named case once per [`QueueMode`].
macro_rules! in_both_modes {
    ($($case:ident),+ $(,)?) => {
        $(
            mod $case {
                use crate::harness::QueueMode;

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn direct() {
                    super::$case(QueueMode::Direct).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn through_kafka() {
                    super::$case(QueueMode::Kafka).await;
                }
            }
        )+
    };
}

in_both_modes!(
    positions_are_1_to_n_in_arrival_order_and_a_repeat_keeps_the_token,
    admission_respects_the_batch_and_the_cap,
    abandoned_tokens_are_skipped_and_active_tokens_time_out,
    paying_expires_the_token_at_once,
);

async fn positions_are_1_to_n_in_arrival_order_and_a_repeat_keeps_the_token(mode: QueueMode) {
    let s = spawn_in(mode, |_| {}).await;
    let mut tokens = Vec::new();
    for user in 1..=5 {
        let view = s.issue_token(user, 2).await;
        let view = view.assert_ok(201);
        assert_eq!(view["position"], user);
        tokens.push(view["token"].as_str().unwrap().to_owned());
    }
    let again = s.issue_token(3, 2).await;
    assert_eq!(again.assert_ok(201)["token"], tokens[2].as_str());
    assert_eq!(again.data()["position"], 3);
    // Lines are per concert.
    assert_eq!(s.issue_token(3, 1).await.assert_ok(201)["position"], 1);
    let distinct: std::collections::HashSet<_> = tokens.iter().collect();
    assert_eq!(distinct.len(), 5);
}

async fn admission_respects_the_batch_and_the_cap(mode: QueueMode) {
    let s = spawn_in(mode, |c| {
        c.queue.admit_batch = 2;
        c.queue.max_active = 3;
    })
    .await;
    let mut tokens = Vec::new();
    for user in 1..=5 {
        tokens.push(
            s.issue_token(user, 1).await.assert_ok(201)["token"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    assert_eq!(s.admit().await, 2);
    assert_eq!(s.admit().await, 1);
    assert_eq!(s.admit().await, 0);
    let statuses: Vec<String> = futures::future::join_all(tokens.iter().map(|t| s.poll(t)))
        .await
        .iter()
        .map(|r| r.data()["status"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        statuses,
        ["ACTIVE", "ACTIVE", "ACTIVE", "WAITING", "WAITING"]
    );
    assert_eq!(s.poll(&tokens[3]).await.data()["position"], 1);
    // A WAITING token may not browse.
    s.fan(5)
        .get(
            "/api/v1/concerts/1/schedules",
            &[("Queue-Token", &tokens[4])],
        )
        .await
        .assert_error(403, "QUEUE_TOKEN_NOT_ACTIVE");
}

async fn abandoned_tokens_are_skipped_and_active_tokens_time_out(mode: QueueMode) {
    let s = spawn_in(mode, |c| {
        c.queue.abandon_after_secs = 30;
        c.queue.active_ttl_secs = 120;
        c.queue.admit_batch = 1;
    })
    .await;
    let quiet = s.issue_token(1, 1).await.data()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let keen = s.issue_token(2, 1).await.data()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    s.clock.advance_secs(20);
    s.poll(&keen).await.assert_ok(200);
    s.clock.advance_secs(15);
    // `quiet` stopped polling 35 s ago: abandoned, so `keen` is first and admitted.
    assert_eq!(s.poll(&keen).await.data()["position"], 1);
    assert_eq!(s.admit().await, 1);
    assert_eq!(s.poll(&keen).await.data()["status"], "ACTIVE");
    assert_eq!(s.poll(&quiet).await.data()["status"], "EXPIRED");
    s.fan(1)
        .get("/api/v1/concerts/1/schedules", &[("Queue-Token", &quiet)])
        .await
        .assert_error(401, "QUEUE_TOKEN_EXPIRED");
    s.clock.advance_secs(120);
    assert_eq!(s.poll(&keen).await.data()["status"], "EXPIRED");
    // Asking again after expiry gives a new token.
    let fresh = s.issue_token(2, 1).await;
    assert_ne!(fresh.data()["token"], keen.as_str());
    assert_eq!(fresh.data()["status"], "WAITING");
}

async fn paying_expires_the_token_at_once(mode: QueueMode) {
    let s = spawn_in(mode, |_| {}).await;
    let token = s.active_token(1).await;
    let schedule = s.first_schedule(&token).await;
    s.charge(1, 200_000).await.assert_ok(200);
    let hold = s.hold(&token, schedule, 20).await.assert_ok(201).clone();
    s.pay(1, hold["holdId"].as_str().unwrap(), None)
        .await
        .assert_ok(201);
    assert_eq!(s.poll(&token).await.data()["status"], "EXPIRED");
    s.hold(&token, schedule, 21)
        .await
        .assert_error(401, "QUEUE_TOKEN_EXPIRED");
}
