//! A concert's bot gate over HTTP: each token request answers a fresh
//! proof-of-work challenge; missing, wrong, replayed and expired answers
//! are refused, each with a new challenge.

use crate::harness::{ADMIN_KEY, Reply, Server, spawn};
use boxoffice_core::domain::access::solve;
use serde_json::{Value, json};

async fn gate(s: &Server, bits: Value) -> Reply {
    s.call(
        reqwest::Method::PUT,
        "/api/v1/admin/concerts/1/entry-rules",
        &[("X-Admin-Key", ADMIN_KEY)],
        Some(json!({ "proofOfWorkBits": bits })),
    )
    .await
}

async fn ask(s: &Server, user: i64, answer: Option<(&str, &str)>) -> Reply {
    let mut body = json!({ "concertId": 1 });
    if let Some((challenge, nonce)) = answer {
        body["proofOfWork"] = json!({ "challenge": challenge, "nonce": nonce });
    }
    s.fan(user).post("/api/v1/queue/tokens", &[], body).await
}

/// The challenge a refusal carries.
fn fresh(reply: &Reply) -> String {
    assert_eq!(
        reply.body["challenge"]["required"], true,
        "{:?}",
        reply.body
    );
    reply.body["challenge"]["challenge"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn a_gated_concert_takes_a_solved_challenge_once_and_refuses_every_other_answer() {
    let s = spawn().await;
    gate(&s, json!(31))
        .await
        .assert_error(400, "VALIDATION_FAILED");
    gate(&s, json!(0))
        .await
        .assert_error(400, "VALIDATION_FAILED");
    assert_eq!(
        gate(&s, json!(10)).await.assert_ok(200)["proofOfWorkBits"],
        10
    );

    let missing = ask(&s, 1, None).await;
    missing.assert_error_with_challenge(403, "PROOF_OF_WORK_REQUIRED");
    assert_eq!(missing.body["challenge"]["difficultyBits"], 10);
    let challenge = fresh(&missing);
    let nonce = solve(&challenge, 10);
    // A nonce that does not solve it.
    let wrong = (0..)
        .map(|n: u64| n.to_string())
        .find(|n| !boxoffice_core::domain::access::solves(&challenge, n, 10))
        .unwrap();
    ask(&s, 1, Some((&challenge, &wrong)))
        .await
        .assert_error_with_challenge(403, "PROOF_OF_WORK_REQUIRED");
    // Fan 1's solved challenge is no answer for fan 2.
    ask(&s, 2, Some((&challenge, &nonce)))
        .await
        .assert_error_with_challenge(403, "PROOF_OF_WORK_REQUIRED");
    // A challenge the service did not sign is no answer.
    ask(&s, 1, Some(("eyJhbGciOiJIUzI1NiJ9.e30.x", "0")))
        .await
        .assert_error_with_challenge(403, "PROOF_OF_WORK_REQUIRED");

    let admitted = ask(&s, 1, Some((&challenge, &nonce))).await;
    assert_eq!(admitted.assert_ok(201)["position"], 1);
    // The same answer again: replayed.
    let replayed = ask(&s, 1, Some((&challenge, &nonce))).await;
    replayed.assert_error_with_challenge(403, "PROOF_OF_WORK_REPLAYED");
    assert_ne!(fresh(&replayed), challenge);

    // A challenge solved too late.
    let issued = s
        .fan(3)
        .post("/api/v1/queue/challenges", &[], json!({ "concertId": 1 }))
        .await;
    let late = issued.assert_ok(200)["challenge"]
        .as_str()
        .unwrap()
        .to_owned();
    let late_nonce = solve(&late, 10);
    s.clock
        .advance_secs(boxoffice_core::use_cases::CHALLENGE_TTL_SECS);
    ask(&s, 3, Some((&late, &late_nonce)))
        .await
        .assert_error_with_challenge(403, "PROOF_OF_WORK_EXPIRED");

    // Other concerts, and this one once the gate is lifted, need nothing.
    s.fan(4)
        .post("/api/v1/queue/tokens", &[], json!({ "concertId": 2 }))
        .await
        .assert_ok(201);
    gate(&s, Value::Null).await.assert_ok(200);
    ask(&s, 4, None).await.assert_ok(201);
    let none = s
        .fan(4)
        .post("/api/v1/queue/challenges", &[], json!({ "concertId": 1 }))
        .await;
    assert_eq!(none.assert_ok(200)["required"], false);
}
