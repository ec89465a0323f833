//! Every refusal answers in the envelope with its documented code and
//! status, and changes nothing.

use crate::harness::{ADMIN_KEY, spawn};
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn insufficient_balance_refuses_payment_and_changes_nothing() {
    let s = spawn().await;
    let token = s.active_token(1).await;
    let schedule = s.first_schedule(&token).await;
    s.charge(1, 10_000).await.assert_ok(200);
    let hold = s.hold(&token, schedule, 1).await.assert_ok(201).clone();
    s.pay(1, hold["holdId"].as_str().unwrap(), Some("k1"))
        .await
        .assert_error(409, "INSUFFICIENT_BALANCE");
    assert_eq!(s.balance(1).await, 10_000);
    assert_eq!(s.seat_status(&token, schedule, 1).await, "HELD");
    assert!(s.reservations(1).await.is_empty());
    assert_eq!(s.poll(&token).await.data()["status"], "ACTIVE");
    // The refusal is what the key answers from now on.
    s.pay(1, hold["holdId"].as_str().unwrap(), Some("k1"))
        .await
        .assert_error(409, "INSUFFICIENT_BALANCE");
}

#[tokio::test]
async fn someone_elses_hold_cannot_be_paid() {
    let s = spawn().await;
    let a = s.active_token(1).await;
    let schedule = s.first_schedule(&a).await;
    s.charge(2, 500_000).await.assert_ok(200);
    let hold = s.hold(&a, schedule, 2).await.assert_ok(201).clone();
    s.pay(2, hold["holdId"].as_str().unwrap(), None)
        .await
        .assert_error(403, "HOLD_NOT_OWNED");
    assert_eq!(s.balance(2).await, 500_000);
    assert_eq!(s.seat_status(&a, schedule, 2).await, "HELD");
}

#[tokio::test]
async fn waiting_expired_unknown_and_missing_tokens_are_turned_away() {
    let s = spawn().await;
    let waiting = s.issue_token(1, 1).await.data()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let schedules = "/api/v1/concerts/1/schedules";
    let fan = s.fan(1);
    fan.get(schedules, &[("Queue-Token", &waiting)])
        .await
        .assert_error(403, "QUEUE_TOKEN_NOT_ACTIVE");
    fan.get(schedules, &[])
        .await
        .assert_error(401, "QUEUE_TOKEN_REQUIRED");
    fan.get(schedules, &[("Queue-Token", "not-a-token")])
        .await
        .assert_error(401, "QUEUE_TOKEN_INVALID");
    // A bare token id, as tokens looked before they were signed.
    fan.get(schedules, &[("Queue-Token", &"ab".repeat(16))])
        .await
        .assert_error(401, "QUEUE_TOKEN_INVALID");
    fan.get(
        "/api/v1/queue/tokens/current",
        &[("Queue-Token", &"cd".repeat(16))],
    )
    .await
    .assert_error(401, "QUEUE_TOKEN_INVALID");
    s.hold(&waiting, 1, 1)
        .await
        .assert_error(403, "QUEUE_TOKEN_NOT_ACTIVE");
    let active = s.active_token(2).await;
    let pass = s.poll(&active).await.data()["admissionPass"]
        .as_str()
        .unwrap()
        .to_owned();
    for credential in [&active, &pass] {
        s.fan(2)
            .get(
                "/api/v1/concerts/2/schedules",
                &[("Queue-Token", credential)],
            )
            .await
            .assert_error(403, "QUEUE_TOKEN_WRONG_CONCERT");
    }
    s.clock.advance_secs(s.app.policies().queue.active_ttl_secs);
    for credential in [&active, &pass] {
        s.fan(2)
            .get(schedules, &[("Queue-Token", credential)])
            .await
            .assert_error(401, "QUEUE_TOKEN_EXPIRED");
    }
}

#[tokio::test]
async fn unknown_ids_are_not_found() {
    let s = spawn().await;
    let token = s.active_token(1).await;
    let fan = s.fan(1);
    s.issue_token(1, 999)
        .await
        .assert_error(404, "CONCERT_NOT_FOUND");
    fan.get("/api/v1/concerts/999/schedules", &[("Queue-Token", &token)])
        .await
        .assert_error(404, "CONCERT_NOT_FOUND");
    fan.get("/api/v1/schedules/999/seats", &[("Queue-Token", &token)])
        .await
        .assert_error(404, "SCHEDULE_NOT_FOUND");
    s.hold(&token, 999, 1)
        .await
        .assert_error(404, "SCHEDULE_NOT_FOUND");
    s.pay(1, "00000000-0000-4000-8000-000000000000", None)
        .await
        .assert_error(404, "HOLD_NOT_FOUND");
    fan.delete("/api/v1/holds/00000000-0000-4000-8000-000000000000", &[])
        .await
        .assert_error(404, "HOLD_NOT_FOUND");
    s.get("/api/v1/nowhere", &[])
        .await
        .assert_error(404, "NOT_FOUND");
    s.call(Method::PUT, "/api/v1/holds", &[], None)
        .await
        .assert_error(405, "METHOD_NOT_ALLOWED");
}

#[tokio::test]
async fn malformed_requests_answer_in_the_envelope_and_change_nothing() {
    let s = spawn().await;
    let token = s.active_token(1).await;
    let schedule = s.first_schedule(&token).await;
    let raw = |path: &str, headers: Vec<(&'static str, String)>, body: &str| {
        let mut req = s
            .http
            .post(format!("{}{path}", s.base))
            .body(body.to_owned());
        for (k, v) in headers {
            req = req.header(k, v);
        }
        async move {
            let res = req.send().await.unwrap();
            let status = res.status().as_u16();
            let body: serde_json::Value = res.json().await.unwrap();
            (status, body["code"].as_str().unwrap().to_owned())
        }
    };
    let json_ct = ("Content-Type", "application/json".to_owned());
    let bearer = ("Authorization", format!("Bearer {}", s.access_token(1)));
    let tok = ("Queue-Token", token.clone());
    assert_eq!(
        raw(
            "/api/v1/holds",
            vec![json_ct.clone(), bearer.clone(), tok.clone()],
            "{\"scheduleId\": 1,"
        )
        .await,
        (400, "MALFORMED_JSON".into())
    );
    assert_eq!(
        raw("/api/v1/holds", vec![bearer.clone(), tok.clone()], "{}").await,
        (415, "UNSUPPORTED_MEDIA_TYPE".into())
    );
    assert_eq!(
        raw(
            "/api/v1/holds",
            vec![json_ct.clone(), bearer.clone(), tok.clone()],
            "{\"scheduleId\": \"x\", \"seatNumber\": 1}"
        )
        .await,
        (400, "INVALID_REQUEST_BODY".into())
    );
    // A struct's fields as an array, in order, are not an object: refused,
    // and nothing is charged or held (checked at the end).
    assert_eq!(
        raw(
            "/api/v1/balance/charge",
            vec![json_ct.clone(), bearer.clone()],
            "[1]"
        )
        .await,
        (400, "INVALID_REQUEST_BODY".into())
    );
    assert_eq!(
        raw(
            "/api/v1/holds",
            vec![json_ct.clone(), bearer.clone(), tok.clone()],
            &format!("[{schedule}, 1]")
        )
        .await,
        (400, "INVALID_REQUEST_BODY".into())
    );
    assert_eq!(
        raw(
            "/api/v1/balance/charge",
            vec![
                ("Content-Type", "application/json; charset=utf-8".into()),
                bearer.clone()
            ],
            " \n {\"amount\": \"1\"}"
        )
        .await,
        (400, "INVALID_REQUEST_BODY".into()),
        "a charset is allowed and leading blanks are skipped"
    );
    s.hold(&token, schedule, 51)
        .await
        .assert_error(400, "VALIDATION_FAILED");
    s.hold(&token, schedule, 0)
        .await
        .assert_error(400, "VALIDATION_FAILED");
    s.pay(1, "not-a-uuid", None)
        .await
        .assert_error(400, "VALIDATION_FAILED");
    s.charge(1, 0).await.assert_error(400, "VALIDATION_FAILED");
    s.charge(1, -5).await.assert_error(400, "VALIDATION_FAILED");
    let fan = s.fan(1);
    fan.post(
        "/api/v1/balance/charge",
        &[("Idempotency-Key", "has space")],
        json!({ "amount": 5 }),
    )
    .await
    .assert_error(400, "INVALID_IDEMPOTENCY_KEY");
    fan.post(
        "/api/v1/balance/charge",
        &[("Idempotency-Key", "a"), ("Idempotency-Key", "b")],
        json!({ "amount": 5 }),
    )
    .await
    .assert_error(400, "DUPLICATE_HEADER");
    fan.get("/api/v1/schedules/abc/seats", &[("Queue-Token", &token)])
        .await
        .assert_error(400, "INVALID_PATH_PARAMETER");
    fan.get("/api/v1/concerts/0/schedules", &[("Queue-Token", &token)])
        .await
        .assert_error(400, "INVALID_PATH_PARAMETER");
    let huge = "x".repeat(100 * 1024);
    let res = s
        .http
        .post(format!("{}/api/v1/holds", s.base))
        .header("Content-Type", "application/json")
        .header("Authorization", format!("Bearer {}", s.access_token(1)))
        .header("Queue-Token", &token)
        .body(format!("{{\"pad\": \"{huge}\"}}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 413);
    assert_eq!(
        res.json::<serde_json::Value>().await.unwrap()["code"],
        "PAYLOAD_TOO_LARGE"
    );
    // Nothing of the above changed anything.
    assert_eq!(s.balance(1).await, 0);
    assert_eq!(s.seat_status(&token, schedule, 1).await, "AVAILABLE");
}

#[tokio::test]
async fn the_balance_stops_at_its_limit() {
    let s = spawn().await;
    let max = s.app.policies().balance.max.amount();
    s.charge(1, max).await.assert_ok(200);
    s.charge(1, 1)
        .await
        .assert_error(409, "BALANCE_LIMIT_EXCEEDED");
    s.charge(2, max + 1)
        .await
        .assert_error(400, "VALIDATION_FAILED");
    assert_eq!(s.balance(1).await, max);
    assert_eq!(s.balance(2).await, 0);
}

#[tokio::test]
async fn one_live_hold_per_fan_by_default() {
    let s = spawn().await;
    let token = s.active_token(1).await;
    let schedule = s.first_schedule(&token).await;
    s.hold(&token, schedule, 1).await.assert_ok(201);
    s.hold(&token, schedule, 2)
        .await
        .assert_error(409, "HOLD_LIMIT_REACHED");
    assert_eq!(s.seat_status(&token, schedule, 2).await, "AVAILABLE");
}

#[tokio::test]
async fn an_empty_balance_holds_fewer_seats_and_a_fan_who_keeps_letting_holds_go_is_stopped() {
    let s = crate::harness::spawn_with(|c| {
        c.holds.max_per_user = 3;
        c.holds.max_unfunded = 1;
        c.holds.max_lapsed = 2;
    })
    .await;
    let token = s.active_token(1).await;
    let schedule = s.first_schedule(&token).await;
    let first = s.hold(&token, schedule, 1).await.assert_ok(201)["holdId"]
        .as_str()
        .unwrap()
        .to_owned();
    s.hold(&token, schedule, 2)
        .await
        .assert_error(409, "UNFUNDED_HOLD_LIMIT_REACHED");
    s.charge(1, 1_000).await.assert_ok(200);
    s.hold(&token, schedule, 2).await.assert_ok(201);
    // Holding and releasing the same seat over and over.
    let release = |hold: String| {
        let s = &s;
        async move {
            s.fan(1)
                .delete(&format!("/api/v1/holds/{hold}"), &[])
                .await
                .assert_ok(200);
        }
    };
    release(first).await;
    let again = s.hold(&token, schedule, 1).await.assert_ok(201)["holdId"]
        .as_str()
        .unwrap()
        .to_owned();
    release(again).await;
    s.hold(&token, schedule, 1)
        .await
        .assert_error(409, "TOO_MANY_LAPSED_HOLDS");
    // The seat is free for everyone else meanwhile.
    let other = s.active_token(2).await;
    s.hold(&other, schedule, 1).await.assert_ok(201);
}

#[tokio::test]
async fn admin_endpoints_need_the_key_and_a_valid_concert() {
    let s = spawn().await;
    let body = || {
        json!({
            "title": "X", "artist": "Y",
            "schedules": [{ "startsAt": "2031-01-01T19:00:00Z", "venue": "Hall" }],
            "seats": [{ "grade": "A", "price": 1000, "from": 1, "to": 10 }]
        })
    };
    s.post("/api/v1/admin/concerts", &[], body())
        .await
        .assert_error(401, "ADMIN_KEY_INVALID");
    // The key is checked before the body is looked at.
    s.post("/api/v1/admin/concerts", &[], json!({}))
        .await
        .assert_error(401, "ADMIN_KEY_INVALID");
    s.post(
        "/api/v1/admin/concerts",
        &[("X-Admin-Key", "wrong")],
        body(),
    )
    .await
    .assert_error(401, "ADMIN_KEY_INVALID");
    let mut gap = body();
    gap["seats"] = json!([{ "grade": "A", "price": 1000, "from": 2, "to": 10 }]);
    s.post("/api/v1/admin/concerts", &[("X-Admin-Key", ADMIN_KEY)], gap)
        .await
        .assert_error(400, "VALIDATION_FAILED");
    let mut bad_date = body();
    bad_date["schedules"][0]["startsAt"] = json!("next friday");
    s.post(
        "/api/v1/admin/concerts",
        &[("X-Admin-Key", ADMIN_KEY)],
        bad_date,
    )
    .await
    .assert_error(400, "VALIDATION_FAILED");
    assert_eq!(
        s.get("/api/v1/concerts", &[])
            .await
            .data()
            .as_array()
            .unwrap()
            .len(),
        3
    );
    let disabled = crate::harness::spawn_with(|c| {
        c.admin.api_key = String::new();
        c.admin.generate_key = false;
    })
    .await;
    disabled
        .post("/api/v1/admin/concerts", &[("X-Admin-Key", "")], body())
        .await
        .assert_error(403, "ADMIN_DISABLED");
}
