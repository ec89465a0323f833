//! Rate limits over HTTP: a burst past a limit gets 429 with Retry-After,
//! and nobody else is slowed by it.

use crate::harness::{Server, spawn_with};
use serde_json::json;

#[tokio::test]
async fn a_fan_polling_in_a_burst_is_told_to_wait_and_other_fans_are_not() {
    let s = spawn_with(|c| {
        c.rate_limit.enabled = true;
        c.rate_limit.poll.per_user_per_sec = 1.0;
        c.rate_limit.poll.per_user_burst = 3;
    })
    .await;
    let mine = s.issue_token(1, 1).await.assert_ok(201)["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let theirs = s.issue_token(2, 1).await.assert_ok(201)["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut answered = Vec::new();
    for _ in 0..6 {
        answered.push(s.poll(&mine).await);
    }
    let limited: Vec<_> = answered
        .iter()
        .filter(|r| r.status.as_u16() == 429)
        .collect();
    assert!(
        limited.len() >= 2,
        "a burst of 6 over a burst allowance of 3: {answered:?}"
    );
    for reply in &limited {
        reply.assert_error(429, "RATE_LIMITED");
        let wait: u64 = reply.headers["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=2).contains(&wait), "Retry-After {wait}");
    }
    // Another fan, same address, same class: unaffected. Another class of the same fan too.
    s.poll(&theirs).await.assert_ok(200);
    s.charge(1, 1_000).await.assert_ok(200);
}

async fn from(s: &Server, ip: &str, user: i64) -> crate::harness::Reply {
    s.fan(user)
        .post(
            "/api/v1/queue/tokens",
            &[("X-Forwarded-For", ip)],
            json!({ "concertId": 1 }),
        )
        .await
}

#[tokio::test]
async fn one_address_flooding_token_requests_is_limited_by_its_forwarded_address_only() {
    let s = spawn_with(|c| {
        c.rate_limit.enabled = true;
        c.rate_limit.trusted_proxies = vec!["127.0.0.1".into()];
        c.rate_limit.exempt = vec![];
        c.rate_limit.token_issue.per_ip_per_sec = 1.0;
        c.rate_limit.token_issue.per_ip_burst = 3;
    })
    .await;
    // Many fans behind one address: the address's budget runs out.
    let mut statuses = Vec::new();
    for user in 1..=6 {
        statuses.push(from(&s, "203.0.113.50", user).await.status.as_u16());
    }
    assert_eq!(&statuses[..3], [201, 201, 201]);
    assert!(statuses[3..].iter().all(|s| *s == 429), "{statuses:?}");
    // Another address through the same proxy is served.
    from(&s, "198.51.100.9", 7).await.assert_ok(201);
    // A client cannot pick its own address: a forged entry left of the
    // proxy's is not the one limited.
    from(&s, "198.51.100.1, 203.0.113.50", 8)
        .await
        .assert_error(429, "RATE_LIMITED");
}

#[tokio::test]
async fn by_default_loopback_is_exempt_from_address_limits_so_the_load_generator_is_not_stopped() {
    let s = spawn_with(|c| {
        c.rate_limit.enabled = true;
        c.rate_limit.token_issue.per_ip_per_sec = 1.0;
        c.rate_limit.token_issue.per_ip_burst = 1;
    })
    .await;
    for user in 1..=20 {
        s.issue_token(user, 1).await.assert_ok(201);
    }
}
