//! Holding several seats together over HTTP (`"seatNumbers"`): all or none,
//! one payment for the basket, a reservation per seat, the bad baskets and
//! their codes, and the purchase limit counting every seat.

use crate::harness::{ADMIN_KEY, Reply, Server, spawn};
use serde_json::{Value, json};

async fn hold_basket(s: &Server, token: &str, body: Value) -> Reply {
    s.owner_of(token)
        .post("/api/v1/holds", &[("Queue-Token", token)], body)
        .await
}

/// The seats of `schedule` in `status`, seen with `token`.
async fn seats_in(s: &Server, token: &str, schedule: i64, status: &str) -> Vec<i64> {
    s.seats(token, schedule)
        .await
        .assert_ok(200)
        .as_array()
        .expect("seats")
        .iter()
        .filter(|seat| seat["status"] == status)
        .map(|seat| seat["seatNumber"].as_i64().expect("seat number"))
        .collect()
}

#[tokio::test]
async fn a_fan_holds_a_basket_pays_for_it_once_and_gets_a_reservation_per_seat() {
    let s = spawn().await;
    s.charge(1, 1_000_000).await.assert_ok(200);
    let token = s.active_token(1).await;
    let schedule = s.first_schedule(&token).await;
    let seats = s.seats(&token, schedule).await.assert_ok(200).clone();
    let prices: Vec<i64> = (6..9)
        .map(|i| seats[i]["price"].as_i64().expect("price"))
        .collect();
    let total: i64 = prices.iter().sum();
    let held = hold_basket(
        &s,
        &token,
        json!({ "scheduleId": schedule, "seatNumbers": [9, 7, 8] }),
    )
    .await
    .assert_ok(201)
    .clone();
    assert_eq!(held["seatNumbers"], json!([7, 8, 9]));
    assert_eq!(held["seatNumber"], 7);
    assert_eq!(held["price"], total);
    assert_eq!(seats_in(&s, &token, schedule, "HELD").await, vec![7, 8, 9]);
    let listed = s
        .fan(1)
        .get("/api/v1/holds", &[])
        .await
        .assert_ok(200)
        .clone();
    assert_eq!(listed["holds"][0]["seatNumbers"], json!([7, 8, 9]));

    let hold_id = held["holdId"].as_str().unwrap();
    let paid = s.pay(1, hold_id, None).await.assert_ok(201).clone();
    assert_eq!(paid["price"], total);
    assert_eq!(paid["balance"], 1_000_000 - total);
    let sold: Vec<(i64, i64)> = paid["reservations"]
        .as_array()
        .expect("reservations")
        .iter()
        .map(|r| {
            (
                r["seatNumber"].as_i64().unwrap(),
                r["price"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(sold, vec![(7, prices[0]), (8, prices[1]), (9, prices[2])]);
    assert_eq!(
        paid["reservationId"],
        paid["reservations"][0]["reservationId"]
    );
    assert_eq!(s.balance(1).await, 1_000_000 - total);
    let mine = s.reservations(1).await;
    assert_eq!(mine.len(), 3);
    assert!(mine.iter().all(|r| r["status"] == "CONFIRMED"));
    s.pay(1, hold_id, None)
        .await
        .assert_error(409, "HOLD_ALREADY_PAID");
    let audit = s
        .get("/api/v1/admin/invariants", &[("X-Admin-Key", ADMIN_KEY)])
        .await
        .assert_ok(200)
        .clone();
    assert_eq!(audit["ok"], true, "{audit}");
    assert_eq!(audit["ledger"]["ok"], true, "{audit}");
}

#[tokio::test]
async fn bad_baskets_are_refused_with_their_codes_and_hold_nothing() {
    let s = spawn().await;
    let token = s.active_token(1).await;
    let schedule = s.first_schedule(&token).await;
    let refused = [
        (
            json!({ "scheduleId": schedule, "seatNumber": 7, "seatNumbers": [8] }),
            400,
            "VALIDATION_FAILED",
        ),
        (json!({ "scheduleId": schedule }), 400, "VALIDATION_FAILED"),
        (
            json!({ "scheduleId": schedule, "seatNumbers": [] }),
            400,
            "VALIDATION_FAILED",
        ),
        (
            json!({ "scheduleId": schedule, "seatNumbers": [7, 7] }),
            400,
            "VALIDATION_FAILED",
        ),
        (
            json!({ "scheduleId": schedule, "seatNumbers": [7, 51] }),
            400,
            "VALIDATION_FAILED",
        ),
        (
            json!({ "scheduleId": schedule, "seatNumbers": [1, 2, 3, 4, 5] }),
            400,
            "TOO_MANY_SEATS",
        ),
        (
            json!({ "scheduleId": schedule, "seatNumbers": ["7"] }),
            400,
            "INVALID_REQUEST_BODY",
        ),
        (
            json!({ "scheduleId": schedule, "seatNumbers": 7 }),
            400,
            "INVALID_REQUEST_BODY",
        ),
    ];
    for (body, status, code) in refused {
        hold_basket(&s, &token, body)
            .await
            .assert_error(status, code);
    }
    assert!(seats_in(&s, &token, schedule, "HELD").await.is_empty());
    // A basket with a seat someone else holds is refused whole.
    let other = s.active_token(2).await;
    s.hold(&other, schedule, 8).await.assert_ok(201);
    hold_basket(
        &s,
        &token,
        json!({ "scheduleId": schedule, "seatNumbers": [7, 8, 9] }),
    )
    .await
    .assert_error(409, "SEAT_ALREADY_HELD");
    assert_eq!(seats_in(&s, &token, schedule, "HELD").await, vec![8]);
    // Its free seats are still the fan's to take.
    hold_basket(
        &s,
        &token,
        json!({ "scheduleId": schedule, "seatNumbers": [7, 9] }),
    )
    .await
    .assert_ok(201);
}

#[tokio::test]
async fn a_basket_over_the_purchase_limit_is_refused_whole() {
    // The default limit: four seats of a concert per fan, held and bought.
    let s = spawn().await;
    s.charge(1, 1_000_000).await.assert_ok(200);
    let token = s.active_token(1).await;
    let schedule = s.first_schedule(&token).await;
    let held = hold_basket(
        &s,
        &token,
        json!({ "scheduleId": schedule, "seatNumbers": [1, 2, 3] }),
    )
    .await
    .assert_ok(201)
    .clone();
    s.pay(1, held["holdId"].as_str().unwrap(), None)
        .await
        .assert_ok(201);
    let token = s.active_token(1).await;
    hold_basket(
        &s,
        &token,
        json!({ "scheduleId": schedule, "seatNumbers": [4, 5] }),
    )
    .await
    .assert_error(409, "PURCHASE_LIMIT_REACHED");
    assert!(seats_in(&s, &token, schedule, "HELD").await.is_empty());
    s.hold(&token, schedule, 4).await.assert_ok(201);
}
