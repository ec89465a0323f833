//! Fan B, signed in as themselves, tries every route with fan A's things:
//! ticket, pass, hold, balance, reservations and idempotency keys. Nothing
//! of A's is obtained, used or changed.

use crate::harness::spawn;
use serde_json::json;

#[tokio::test]
async fn a_signed_in_fan_can_use_nothing_of_another_fans() {
    let s = spawn().await;
    // Fan A (1): admitted, charged with a keyed charge, one seat bought, one held.
    let ticket_a = s.active_token(1).await;
    let pass_a = s.poll(&ticket_a).await.data()["admissionPass"]
        .as_str()
        .unwrap()
        .to_owned();
    let schedule = s.first_schedule(&ticket_a).await;
    let a = s.fan(1);
    a.post(
        "/api/v1/balance/charge",
        &[("Idempotency-Key", "topup")],
        json!({ "amount": 300_000 }),
    )
    .await
    .assert_ok(200);
    let bought = s.hold(&pass_a, schedule, 1).await.assert_ok(201)["holdId"]
        .as_str()
        .unwrap()
        .to_owned();
    let receipt = s
        .pay(1, &bought, Some("pay-a"))
        .await
        .assert_ok(201)
        .clone();
    // Paying ended A's admission: A queues again and holds another seat.
    let ticket_a = s.active_token(1).await;
    let pass_a = s.poll(&ticket_a).await.data()["admissionPass"]
        .as_str()
        .unwrap()
        .to_owned();
    let held = s.hold(&pass_a, schedule, 2).await.assert_ok(201)["holdId"]
        .as_str()
        .unwrap()
        .to_owned();
    let balance_a = s.balance(1).await;

    // Fan B (2): signed in, admitted, with money of their own.
    let b = s.fan(2);
    let ticket_b = s.active_token(2).await;
    s.charge(2, 500_000).await.assert_ok(200);

    // A's ticket and pass are refused to B on every route that takes one.
    for credential in [&ticket_a, &pass_a] {
        let q = [("Queue-Token", credential.as_str())];
        b.get("/api/v1/concerts/1/schedules", &q)
            .await
            .assert_error(403, "QUEUE_TOKEN_NOT_YOURS");
        b.get(&format!("/api/v1/schedules/{schedule}/seats"), &q)
            .await
            .assert_error(403, "QUEUE_TOKEN_NOT_YOURS");
        b.post(
            "/api/v1/holds",
            &q,
            json!({ "scheduleId": schedule, "seatNumber": 3 }),
        )
        .await
        .assert_error(403, "QUEUE_TOKEN_NOT_YOURS");
    }
    b.get(
        "/api/v1/queue/tokens/current",
        &[("Queue-Token", &ticket_a)],
    )
    .await
    .assert_error(403, "QUEUE_TOKEN_NOT_YOURS");
    // Asking for a token gives B their own, never A's.
    let mine = s.issue_token(2, 1).await.assert_ok(201)["token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(mine, ticket_b);
    assert_eq!(crate::harness::owner(&mine), 2);

    // A's hold: B can neither release it nor pay for it, with or without a token.
    let path = format!("/api/v1/holds/{held}");
    b.delete(&path, &[])
        .await
        .assert_error(403, "HOLD_NOT_OWNED");
    b.delete(&path, &[("Queue-Token", &ticket_a)])
        .await
        .assert_error(403, "HOLD_NOT_OWNED");
    s.pay(2, &held, None)
        .await
        .assert_error(403, "HOLD_NOT_OWNED");
    b.post(
        "/api/v1/payments",
        &[("Queue-Token", &ticket_a)],
        json!({ "holdId": held }),
    )
    .await
    .assert_error(403, "HOLD_NOT_OWNED");

    // A's idempotency keys are A's: B's "pay-a" and "topup" are B's own commands.
    s.pay(2, &bought, Some("pay-a"))
        .await
        .assert_error(403, "HOLD_NOT_OWNED");
    let topped = b
        .post(
            "/api/v1/balance/charge",
            &[("Idempotency-Key", "topup")],
            json!({ "amount": 1_000 }),
        )
        .await;
    assert_eq!(topped.assert_ok(200)["balance"], 501_000);

    // B's balance and reservations are B's.
    assert_eq!(
        b.get("/api/v1/balance", &[]).await.assert_ok(200)["balance"],
        501_000
    );
    assert!(
        b.get("/api/v1/reservations", &[])
            .await
            .assert_ok(200)
            .as_array()
            .unwrap()
            .is_empty()
    );

    // Nothing of A's moved.
    assert_eq!(s.balance(1).await, balance_a);
    let reservations = s.reservations(1).await;
    assert_eq!(reservations.len(), 1);
    assert_eq!(reservations[0]["reservationId"], receipt["reservationId"]);
    assert_eq!(s.seat_status(&pass_a, schedule, 2).await, "HELD");
    assert_eq!(s.seat_status(&pass_a, schedule, 3).await, "AVAILABLE");
    assert_eq!(s.poll(&ticket_a).await.data()["status"], "ACTIVE");
    // A can still do what B could not.
    a.delete(&path, &[]).await.assert_ok(200);
}
