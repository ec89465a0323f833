//! Races that must have exactly one winner, and sums that must be exact.

use crate::harness::spawn;
use futures::future::join_all;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn of_200_active_fans_holding_one_seat_at_once_exactly_one_wins() {
    let s = spawn().await;
    let tokens: Vec<String> = join_all((1..=200).map(|u| s.issue_token(u, 1)))
        .await
        .iter()
        .map(|r| r.assert_ok(201)["token"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(s.admit().await, 200);
    let schedule = s.first_schedule(&tokens[0]).await;
    let replies = join_all(tokens.iter().map(|t| s.hold(t, schedule, 25))).await;
    let wins = replies.iter().filter(|r| r.status.as_u16() == 201).count();
    let lost: Vec<_> = replies
        .iter()
        .filter(|r| r.status.as_u16() != 201)
        .collect();
    assert_eq!(wins, 1);
    assert_eq!(lost.len(), 199);
    for reply in lost {
        reply.assert_error(409, "SEAT_ALREADY_HELD");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_concurrent_charges_of_1000_add_up_to_exactly_100000() {
    let s = spawn().await;
    let replies = join_all((0..100).map(|_| s.charge(5, 1_000))).await;
    assert!(replies.iter().all(|r| r.status.as_u16() == 200));
    assert_eq!(s.balance(5).await, 100_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_double_click_on_pay_without_a_key_sells_once_and_debits_once() {
    let s = spawn().await;
    let token = s.active_token(1).await;
    let schedule = s.first_schedule(&token).await;
    s.charge(1, 1_000_000).await.assert_ok(200);
    let hold = s.hold(&token, schedule, 30).await.assert_ok(201).clone();
    let hold_id = hold["holdId"].as_str().unwrap();
    let price = hold["price"].as_i64().unwrap();
    let replies = join_all((0..2).map(|_| s.pay(1, hold_id, None))).await;
    let paid = replies.iter().filter(|r| r.status.as_u16() == 201).count();
    assert_eq!(paid, 1, "{replies:?}");
    // A payment needs no queue token, so the loser can only find the hold paid.
    let other = replies.iter().find(|r| r.status.as_u16() != 201).unwrap();
    other.assert_error(409, "HOLD_ALREADY_PAID");
    assert_eq!(s.balance(1).await, 1_000_000 - price);
    assert_eq!(s.reservations(1).await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_double_click_on_pay_with_one_key_sells_once_and_both_see_one_answer() {
    let s = spawn().await;
    let token = s.active_token(1).await;
    let schedule = s.first_schedule(&token).await;
    s.charge(1, 1_000_000).await.assert_ok(200);
    let hold = s.hold(&token, schedule, 31).await.assert_ok(201).clone();
    let hold_id = hold["holdId"].as_str().unwrap();
    let price = hold["price"].as_i64().unwrap();
    let replies = join_all((0..2).map(|_| s.pay(1, hold_id, Some("click-1")))).await;
    let receipts: Vec<_> = replies
        .iter()
        .filter(|r| r.status.as_u16() == 201)
        .collect();
    assert!(!receipts.is_empty());
    for other in replies.iter().filter(|r| r.status.as_u16() != 201) {
        other.assert_error(409, "IDEMPOTENCY_REQUEST_IN_PROGRESS");
    }
    // A later repeat with the key replays the one answer.
    let replay = s.pay(1, hold_id, Some("click-1")).await;
    assert_eq!(replay.assert_ok(201), receipts[0].data());
    assert_eq!(s.balance(1).await, 1_000_000 - price);
    assert_eq!(s.reservations(1).await.len(), 1);
    // The same key for another hold is refused.
    s.pay(1, "00000000-0000-4000-8000-000000000000", Some("click-1"))
        .await
        .assert_error(422, "IDEMPOTENCY_KEY_REUSED");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_charges_with_one_key_charge_once() {
    let s = spawn().await;
    let fan = s.fan(9);
    let send = || {
        fan.post(
            "/api/v1/balance/charge",
            &[("Idempotency-Key", "topup-1")],
            json!({ "amount": 5_000 }),
        )
    };
    let replies = join_all((0..10).map(|_| send())).await;
    for r in &replies {
        assert!(
            r.status.as_u16() == 200 || r.body["code"] == "IDEMPOTENCY_REQUEST_IN_PROGRESS",
            "{r:?}"
        );
    }
    assert_eq!(send().await.assert_ok(200)["balance"], 5_000);
    assert_eq!(s.balance(9).await, 5_000);
}
