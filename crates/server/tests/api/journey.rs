//! The whole journey, end to end over HTTP.

use crate::harness::spawn;
use serde_json::json;

#[tokio::test]
async fn a_fan_goes_from_queue_token_to_a_paid_seat() {
    let s = spawn().await;
    let concerts = s.get("/api/v1/concerts", &[]).await;
    assert_eq!(concerts.assert_ok(200).as_array().unwrap().len(), 3);

    // Enter the waiting room.
    let issued = s.issue_token(7, 1).await;
    let view = issued.assert_ok(201);
    assert_eq!(view["status"], "WAITING");
    assert_eq!(view["position"], 1);
    assert_eq!(view["concertId"], 1);
    assert!(view["etaSeconds"].as_u64().unwrap() > 0);
    let token = view["token"].as_str().unwrap().to_owned();
    // A signed ticket naming its fan, not a bare random string.
    assert_eq!(token.split('.').count(), 3, "{token}");
    assert_eq!(crate::harness::owner(&token), 7);
    assert!(view["admissionPass"].is_null());

    // Admitted at the next round.
    assert_eq!(s.admit().await, 1);
    let polled = s.poll(&token).await;
    let view = polled.assert_ok(200);
    assert_eq!(view["status"], "ACTIVE");
    assert!(view["position"].is_null());
    let pass = view["admissionPass"].as_str().unwrap().to_owned();
    assert_eq!(crate::harness::owner(&pass), 7);

    // Browse, with the pass.
    let fan = s.fan(7);
    let schedules = fan
        .get("/api/v1/concerts/1/schedules", &[("Queue-Token", &pass)])
        .await;
    let dates = schedules.assert_ok(200).as_array().unwrap().clone();
    assert_eq!(dates.len(), 3);
    assert_eq!(dates[0]["availableSeats"], 50);
    let schedule = dates[0]["scheduleId"].as_i64().unwrap();
    let seats = fan
        .get(
            &format!("/api/v1/schedules/{schedule}/seats"),
            &[("Queue-Token", &pass)],
        )
        .await;
    let seats = seats.assert_ok(200).as_array().unwrap().clone();
    assert_eq!(seats.len(), 50);
    assert_eq!(seats[0]["seatNumber"], 1);
    assert_eq!(seats[0]["status"], "AVAILABLE");
    let price = seats[14]["price"].as_i64().unwrap();

    // Money in, seat held, paid.
    let charged = fan
        .post(
            "/api/v1/balance/charge",
            &[("Idempotency-Key", "charge-1")],
            json!({ "amount": 200_000 }),
        )
        .await;
    assert_eq!(charged.assert_ok(200)["balance"], 200_000);
    let held = s.hold(&pass, schedule, 15).await;
    let hold = held.assert_ok(201).clone();
    assert_eq!(hold["seatNumber"], 15);
    assert_eq!(hold["price"], price);
    assert_eq!(s.seat_status(&token, schedule, 15).await, "HELD");
    let paid = s
        .pay(7, hold["holdId"].as_str().unwrap(), Some("pay-1"))
        .await;
    let receipt = paid.assert_ok(201).clone();
    assert_eq!(receipt["seatNumber"], 15);
    assert_eq!(receipt["balance"], 200_000 - price);
    assert_eq!(s.balance(7).await, 200_000 - price);

    // The token ended with the payment, and the pass with it; the
    // reservation is listed.
    assert_eq!(s.poll(&token).await.assert_ok(200)["status"], "EXPIRED");
    fan.get("/api/v1/concerts/1/schedules", &[("Queue-Token", &pass)])
        .await
        .assert_error(401, "QUEUE_TOKEN_EXPIRED");
    let mine = s.reservations(7).await;
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0]["reservationId"], receipt["reservationId"]);
    assert_eq!(mine[0]["seatNumber"], 15);
    // It says which concert and which date, as the dates list showed them.
    assert_eq!(mine[0]["title"], concerts.data()[0]["title"]);
    assert_eq!(mine[0]["artist"], concerts.data()[0]["artist"]);
    let date = dates
        .iter()
        .find(|d| d["scheduleId"] == mine[0]["scheduleId"])
        .unwrap();
    assert_eq!(mine[0]["startsAt"], date["startsAt"]);
    assert_eq!(mine[0]["venue"], date["venue"]);

    // Once the outbox is relayed, the concert is popular.
    s.app.relay_outbox_once(100).await.unwrap();
    let popular = s.get("/api/v1/concerts/popular", &[]).await;
    let popular = popular.assert_ok(200).as_array().unwrap().clone();
    assert_eq!(popular.len(), 1);
    assert_eq!(popular[0]["rank"], 1);
    assert_eq!(popular[0]["concertId"], 1);
    assert_eq!(popular[0]["reservations"], 1);

    // The books balance.
    let audit = s
        .get(
            "/api/v1/admin/invariants",
            &[("X-Admin-Key", crate::harness::ADMIN_KEY)],
        )
        .await;
    let audit = audit.assert_ok(200);
    assert_eq!(audit["ok"], true, "{audit:?}");
    assert_eq!(audit["reservations"], 1);
    assert_eq!(audit["paid"], price);

    // The seat is sold to the next fan.
    let next = s.active_token(8).await;
    assert_eq!(s.seat_status(&next, schedule, 15).await, "SOLD");
    s.hold(&next, schedule, 15)
        .await
        .assert_error(409, "SEAT_ALREADY_SOLD");
}

#[tokio::test]
async fn an_unpaid_hold_gives_its_seat_back_when_it_expires() {
    let s = spawn().await;
    let a = s.active_token(1).await;
    let b = s.active_token(2).await;
    let schedule = s.first_schedule(&a).await;
    s.charge(1, 500_000).await.assert_ok(200);
    let hold = s.hold(&a, schedule, 3).await.assert_ok(201).clone();
    s.hold(&b, schedule, 3)
        .await
        .assert_error(409, "SEAT_ALREADY_HELD");

    s.clock.advance_secs(300);
    assert_eq!(s.seat_status(&b, schedule, 3).await, "AVAILABLE");
    s.pay(1, hold["holdId"].as_str().unwrap(), None)
        .await
        .assert_error(409, "HOLD_EXPIRED");
    assert_eq!(s.balance(1).await, 500_000);
    assert!(s.reservations(1).await.is_empty());
    s.hold(&b, schedule, 3).await.assert_ok(201);
    // The sweeper tidies the old hold; the new one stands.
    assert_eq!(s.app.release_expired_holds_once(100).await.unwrap(), 1);
    assert_eq!(s.seat_status(&b, schedule, 3).await, "HELD");
}

#[tokio::test]
async fn a_holder_can_release_a_hold_and_the_seat_returns_at_once() {
    let s = spawn().await;
    let a = s.active_token(1).await;
    let b = s.active_token(2).await;
    let schedule = s.first_schedule(&a).await;
    let hold = s.hold(&a, schedule, 9).await.assert_ok(201).clone();
    let path = format!("/api/v1/holds/{}", hold["holdId"].as_str().unwrap());
    s.fan(2)
        .delete(&path, &[])
        .await
        .assert_error(403, "HOLD_NOT_OWNED");
    let released = s.fan(1).delete(&path, &[]).await;
    assert_eq!(released.assert_ok(200)["released"], true);
    s.fan(1)
        .delete(&path, &[])
        .await
        .assert_error(409, "HOLD_NOT_LIVE");
    s.hold(&b, schedule, 9).await.assert_ok(201);
}

#[tokio::test]
async fn a_fan_lists_their_live_holds_and_extends_one_once_keeping_the_seat_past_its_first_expiry()
{
    let s = spawn().await;
    let a = s.active_token(1).await;
    let schedule = s.first_schedule(&a).await;
    s.charge(1, 500_000).await.assert_ok(200);
    let hold = s.hold(&a, schedule, 11).await.assert_ok(201).clone();
    assert_eq!(hold["extended"], false);
    assert!(hold["heldAt"].as_str().unwrap() < hold["expiresAt"].as_str().unwrap());
    let listed = s.fan(1).get("/api/v1/holds", &[]).await;
    assert_eq!(listed.assert_ok(200)["holds"], serde_json::json!([hold]));
    let others = s.fan(2).get("/api/v1/holds", &[]).await;
    assert_eq!(others.assert_ok(200)["holds"], serde_json::json!([]));

    let id = hold["holdId"].as_str().unwrap();
    let path = format!("/api/v1/holds/{id}/extend");
    s.fan(2)
        .post(&path, &[], json!({}))
        .await
        .assert_error(403, "HOLD_NOT_OWNED");
    s.fan(1)
        .post("/api/v1/holds/not-a-uuid/extend", &[], json!({}))
        .await
        .assert_error(400, "INVALID_PATH_PARAMETER");
    s.fan(1)
        .post(
            "/api/v1/holds/00000000-0000-4000-8000-000000000000/extend",
            &[],
            json!({}),
        )
        .await
        .assert_error(404, "HOLD_NOT_FOUND");
    s.clock.advance_secs(250);
    let extended = s.fan(1).post(&path, &[], json!({})).await;
    let extended = extended.assert_ok(200).clone();
    assert_eq!(extended["extended"], true);
    assert_eq!(extended["heldAt"], hold["heldAt"]);
    assert!(extended["expiresAt"].as_str().unwrap() > hold["expiresAt"].as_str().unwrap());
    s.fan(1)
        .post(&path, &[], json!({}))
        .await
        .assert_error(409, "HOLD_ALREADY_EXTENDED");

    // 60 s past the first expiry the seat is still held, and can be paid.
    s.clock.advance_secs(110);
    assert_eq!(s.app.release_expired_holds_once(100).await.unwrap(), 0);
    let listed = s.fan(1).get("/api/v1/holds", &[]).await;
    assert_eq!(
        listed.assert_ok(200)["holds"],
        serde_json::json!([extended])
    );
    s.pay(1, id, None).await.assert_ok(201);
    let listed = s.fan(1).get("/api/v1/holds", &[]).await;
    assert_eq!(listed.assert_ok(200)["holds"], serde_json::json!([]));
    s.fan(1)
        .post(&path, &[], json!({}))
        .await
        .assert_error(409, "HOLD_NOT_LIVE");
}

#[tokio::test]
async fn a_fan_buys_up_to_the_concerts_ticket_limit_and_no_more() {
    let s = spawn().await;
    s.charge(1, 5_000_000).await.assert_ok(200);
    // Four seats (the default limit), one at a time: a payment ends the
    // token, so the fan enters the line again for each.
    for seat in 1..=4 {
        let token = s.active_token(1).await;
        let schedule = s.first_schedule(&token).await;
        let hold = s.hold(&token, schedule, seat).await.assert_ok(201).clone();
        s.pay(1, hold["holdId"].as_str().unwrap(), None)
            .await
            .assert_ok(201);
    }
    let token = s.active_token(1).await;
    let schedule = s.first_schedule(&token).await;
    s.hold(&token, schedule, 5)
        .await
        .assert_error(409, "PURCHASE_LIMIT_REACHED");
    assert_eq!(s.reservations(1).await.len(), 4);
    // Another fan is not held to the first one's purchases.
    let other = s.active_token(2).await;
    s.hold(&other, schedule, 5).await.assert_ok(201);
}

#[tokio::test]
async fn an_admin_renames_a_concert_and_moves_a_date_until_a_seat_of_it_is_held() {
    let s = spawn().await;
    let patch = |body: serde_json::Value| {
        s.call(
            reqwest::Method::PATCH,
            "/api/v1/admin/concerts/1",
            &[("X-Admin-Key", crate::harness::ADMIN_KEY)],
            Some(body),
        )
    };
    // Warm the cached list: the change must show at once.
    s.get("/api/v1/concerts", &[]).await.assert_ok(200);
    let token = s.active_token(1).await;
    let schedule = s.first_schedule(&token).await;
    let renamed = patch(json!({
        "title": "Renamed Tour",
        "schedules": [{ "scheduleId": schedule, "venue": "New Arena", "startsAt": "2031-03-01T19:00:00Z" }]
    }))
    .await;
    assert_eq!(renamed.assert_ok(200)["title"], "Renamed Tour");
    let listed = s.get("/api/v1/concerts", &[]).await;
    assert_eq!(listed.data()[0]["title"], "Renamed Tour");
    let dates = s
        .fan(1)
        .get(
            "/api/v1/concerts/1/schedules",
            &[("Queue-Token", token.as_str())],
        )
        .await;
    let date = dates
        .assert_ok(200)
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["scheduleId"] == schedule)
        .unwrap()
        .clone();
    assert_eq!(date["venue"], "New Arena");
    assert_eq!(date["startsAt"], "2031-03-01T19:00:00.000Z");

    s.hold(&token, schedule, 2).await.assert_ok(201);
    patch(
        json!({ "title": "Nope", "schedules": [{ "scheduleId": schedule, "venue": "Elsewhere" }] }),
    )
    .await
    .assert_error(409, "SCHEDULE_ON_SALE");
    let listed = s.get("/api/v1/concerts", &[]).await;
    assert_eq!(
        listed.data()[0]["title"],
        "Renamed Tour",
        "a refused change changes nothing"
    );
    patch(json!({}))
        .await
        .assert_error(400, "VALIDATION_FAILED");
    patch(json!({ "title": " " }))
        .await
        .assert_error(400, "VALIDATION_FAILED");
    patch(json!({ "title": "x", "colour": "red" }))
        .await
        .assert_error(400, "INVALID_REQUEST_BODY");
    patch(json!({ "schedules": [{ "scheduleId": 999_999, "venue": "Park" }] }))
        .await
        .assert_error(404, "SCHEDULE_NOT_FOUND");
    s.call(
        reqwest::Method::PATCH,
        "/api/v1/admin/concerts/999",
        &[("X-Admin-Key", crate::harness::ADMIN_KEY)],
        Some(json!({ "title": "x" })),
    )
    .await
    .assert_error(404, "CONCERT_NOT_FOUND");
    s.call(
        reqwest::Method::PATCH,
        "/api/v1/admin/concerts/1",
        &[],
        Some(json!({ "title": "x" })),
    )
    .await
    .assert_error(401, "ADMIN_KEY_INVALID");
}

#[tokio::test]
async fn an_admin_adds_a_concert_that_fans_can_then_queue_for() {
    let s = spawn().await;
    // Warm the cached concert list; adding a concert must invalidate it.
    assert_eq!(
        s.get("/api/v1/concerts", &[])
            .await
            .data()
            .as_array()
            .unwrap()
            .len(),
        3
    );
    let body = json!({
        "title": "New Year Gala",
        "artist": "City Orchestra",
        "schedules": [{ "startsAt": "2031-01-01T19:00:00+09:00", "venue": "Arts Center" }],
        "seats": [
            { "grade": "VIP", "price": 200000, "from": 1, "to": 5 },
            { "grade": "A", "price": 80000, "from": 6, "to": 20 }
        ]
    });
    let created = s
        .post(
            "/api/v1/admin/concerts",
            &[("X-Admin-Key", crate::harness::ADMIN_KEY)],
            body,
        )
        .await;
    let concert = created.assert_ok(201)["concertId"].as_i64().unwrap();
    let listed = s.get("/api/v1/concerts", &[]).await;
    assert_eq!(listed.data().as_array().unwrap().len(), 4);
    assert_eq!(listed.data()[3]["title"], "New Year Gala");
    let token = s.issue_token(1, concert).await.assert_ok(201)["token"]
        .as_str()
        .unwrap()
        .to_owned();
    s.admit().await;
    let dates = s
        .fan(1)
        .get(
            &format!("/api/v1/concerts/{concert}/schedules"),
            &[("Queue-Token", &token)],
        )
        .await;
    let dates = dates.assert_ok(200).as_array().unwrap().clone();
    assert_eq!(dates.len(), 1);
    assert_eq!(dates[0]["availableSeats"], 20);
    assert_eq!(dates[0]["startsAt"], "2031-01-01T10:00:00.000Z");
    assert_eq!(dates[0]["venue"], "Arts Center");
}

#[tokio::test]
async fn health_probes_and_the_api_description_answer() {
    let s = spawn().await;
    assert_eq!(
        s.get("/health/live", &[]).await.assert_ok(200)["status"],
        "UP"
    );
    assert_eq!(
        s.get("/health/ready", &[]).await.assert_ok(200)["status"],
        "UP"
    );
    let spec = s.get("/openapi.json", &[]).await;
    assert_eq!(spec.status.as_u16(), 200);
    // What is served is docs/openapi.json, which the http crate's snapshot
    // test holds to the code and scripts/test validates as OpenAPI 3.1.
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/openapi.json");
    let documented: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert_eq!(spec.body, documented);
    assert_eq!(spec.body["openapi"], "3.1.0");
    let payment = &spec.body["paths"]["/api/v1/payments"]["post"]["responses"];
    for status in ["201", "409", "503"] {
        assert!(
            payment[status].is_object(),
            "the payment documents {status}"
        );
    }
    let docs = s
        .http
        .get(format!("{}/docs/", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(docs.status().as_u16(), 200);
    assert!(docs.text().await.unwrap().contains("swagger"));
}
