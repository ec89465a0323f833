//! Cancelling a reservation for a refund over HTTP: the refund and its fee,
//! the seat back on sale, the refusals and their codes, double clicks and a
//! crashed request, each refunding once. Calling a concert or one date off
//! (admin): no more holds, the room closed, every fan refunded in full once.

use crate::harness::{ADMIN_KEY, Reply, Server, spawn, start, test_settings};
use boxoffice_core::domain::idempotency::{
    ClaimOutcome, Fingerprint, IdempotencyClaim, IdempotencyKey, IdempotencyScope,
};
use boxoffice_core::domain::{ScheduleId, Timestamp, UserId};
use boxoffice_core::ports::Clock as _;
use futures::future::join_all;
use std::sync::Arc;

/// A sale of `seat` of concert 1's first date to `user`: its reservation
/// id, price and date.
struct Sale {
    reservation: String,
    price: i64,
    schedule: i64,
}

async fn buy(s: &Server, user: i64, seat: i64) -> Sale {
    s.charge(user, 500_000).await.assert_ok(200);
    let token = s.active_token(user).await;
    let schedule = s.first_schedule(&token).await;
    let hold = s.hold(&token, schedule, seat).await.assert_ok(201).clone();
    let paid = s
        .pay(user, hold["holdId"].as_str().unwrap(), None)
        .await
        .assert_ok(201)
        .clone();
    Sale {
        reservation: paid["reservationId"].as_str().unwrap().to_owned(),
        price: paid["price"].as_i64().unwrap(),
        schedule,
    }
}

async fn cancel(s: &Server, user: i64, reservation: &str, key: Option<&str>) -> Reply {
    let headers: Vec<(&str, &str)> = key.map(|k| ("Idempotency-Key", k)).into_iter().collect();
    s.fan(user)
        .post(
            &format!("/api/v1/reservations/{reservation}/cancel"),
            &headers,
            serde_json::json!({}),
        )
        .await
}

/// When `schedule` starts, as stored.
async fn starts_at(s: &Server, schedule: i64) -> Timestamp {
    s.app
        .adapters()
        .store
        .schedule(ScheduleId::new(schedule).unwrap())
        .await
        .unwrap()
        .unwrap()
        .starts_at
}

/// Moves the shared clock to `at`.
fn advance_to(s: &Server, at: Timestamp) {
    s.clock
        .advance_millis(at.as_millis() - s.clock.now().as_millis());
}

/// What the admin reads at `path`, which must answer 200.
async fn admin_get(s: &Server, path: &str) -> serde_json::Value {
    s.get(path, &[("X-Admin-Key", ADMIN_KEY)])
        .await
        .assert_ok(200)
        .clone()
}

async fn invariants(s: &Server) -> serde_json::Value {
    admin_get(s, "/api/v1/admin/invariants").await
}

#[tokio::test]
async fn a_fan_cancels_five_days_ahead_for_the_price_less_ten_percent_and_the_seat_sells_again() {
    let s = spawn().await;
    let sale = buy(&s, 1, 7).await;
    let balance = s.balance(1).await;
    // Five days before the show: inside the 10% tier (within a week), outside the 20% one.
    advance_to(
        &s,
        starts_at(&s, sale.schedule).await.minus_secs(5 * 86_400),
    );
    let reply = cancel(&s, 1, &sale.reservation, None).await;
    let body = reply.assert_ok(200);
    let fee = sale.price / 10;
    assert_eq!(body["status"], "CANCELLED");
    assert_eq!(body["reservationId"], sale.reservation.as_str());
    assert_eq!(body["seatNumber"], 7);
    assert_eq!(body["price"], sale.price);
    assert_eq!(body["fee"], fee);
    assert_eq!(body["refund"], sale.price - fee);
    assert_eq!(body["balance"], balance + sale.price - fee);
    assert!(body["cancelledAt"].is_string());
    assert_eq!(s.balance(1).await, balance + sale.price - fee);

    let listed = s.reservations(1).await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["status"], "CANCELLED");
    assert_eq!(listed[0]["refund"], sale.price - fee);
    assert_eq!(listed[0]["fee"], fee);
    assert_eq!(listed[0]["cancelledAt"], body["cancelledAt"]);

    // Seat 7 is on sale again, and sells to the next fan.
    let resale = buy(&s, 2, 7).await;
    assert_eq!(resale.schedule, sale.schedule);
    assert_eq!(s.reservations(2).await[0]["status"], "CONFIRMED");
    assert!(s.reservations(2).await[0]["cancelledAt"].is_null());

    let audit = invariants(&s).await;
    assert_eq!(audit["ok"], true, "{audit}");
    assert_eq!(audit["cancelled"], 1);
    assert_eq!(audit["refunded"], sale.price - fee);
}

#[tokio::test]
async fn a_double_click_refunds_once_and_a_repeat_with_its_key_replays_the_answer() {
    let s = spawn().await;
    let sale = buy(&s, 1, 8).await;
    let balance = s.balance(1).await;
    let clicks = join_all((0..10).map(|_| cancel(&s, 1, &sale.reservation, None))).await;
    assert_eq!(
        clicks.iter().filter(|r| r.status.as_u16() == 200).count(),
        1
    );
    for refused in clicks.iter().filter(|r| r.status.as_u16() != 200) {
        refused.assert_error(409, "RESERVATION_ALREADY_CANCELLED");
    }
    assert_eq!(s.balance(1).await, balance + sale.price);

    let keyed = buy(&s, 2, 9).await;
    let first = cancel(&s, 2, &keyed.reservation, Some("cancel-9")).await;
    let again = cancel(&s, 2, &keyed.reservation, Some("cancel-9")).await;
    assert_eq!(first.assert_ok(200), again.assert_ok(200));
    // The key names this cancellation: another reservation under it is refused.
    let other = buy(&s, 2, 10).await;
    cancel(&s, 2, &other.reservation, Some("cancel-9"))
        .await
        .assert_error(422, "IDEMPOTENCY_KEY_REUSED");
    assert_eq!(invariants(&s).await["refunded"], sale.price + keyed.price);
}

#[tokio::test]
async fn bad_unknown_foreign_and_late_cancellations_are_refused_with_their_codes_and_change_nothing()
 {
    let s = spawn().await;
    let sale = buy(&s, 1, 11).await;
    let balance = s.balance(1).await;
    cancel(&s, 1, "not-a-uuid", None)
        .await
        .assert_error(400, "INVALID_PATH_PARAMETER");
    cancel(&s, 1, &uuid::Uuid::new_v4().to_string(), None)
        .await
        .assert_error(404, "RESERVATION_NOT_FOUND");
    cancel(&s, 2, &sale.reservation, None)
        .await
        .assert_error(403, "RESERVATION_NOT_OWNED");
    s.post(
        &format!("/api/v1/reservations/{}/cancel", sale.reservation),
        &[],
        serde_json::json!({}),
    )
    .await
    .assert_error(401, "AUTH_REQUIRED");
    // A day before the show is the last moment; a millisecond later is too late.
    let deadline = starts_at(&s, sale.schedule).await.minus_secs(86_400);
    advance_to(&s, deadline.plus_millis(1));
    let late = cancel(&s, 1, &sale.reservation, None).await;
    late.assert_error(409, "CANCELLATION_CLOSED");
    assert_eq!(s.balance(1).await, balance);
    assert_eq!(s.reservations(1).await[0]["status"], "CONFIRMED");
    assert_eq!(invariants(&s).await["refunded"], 0);
}

#[tokio::test]
async fn a_cancellation_whose_instance_died_mid_request_refunds_once_when_the_fan_retries() {
    let s = spawn().await;
    let sale = buy(&s, 1, 12).await;
    let balance = s.balance(1).await;
    // The instance that took the first click claimed its key and died before
    // committing: the key is leased, with no answer and no refund.
    let key = IdempotencyKey::parse("crashed-cancel").unwrap();
    let now = s.clock.now();
    let claim = IdempotencyClaim {
        user_id: UserId::new(1).unwrap(),
        scope: IdempotencyScope::Cancellation,
        key,
        fingerprint: Fingerprint::of(IdempotencyScope::Cancellation, &[&sale.reservation]),
        now,
        lease_until: now.plus_secs(30),
    };
    let claimed = s.app.adapters().store.claim_idempotency_key(&claim).await;
    assert!(matches!(claimed.unwrap(), ClaimOutcome::Claimed(_)));
    // While the dead request's lease runs, the retry is told to wait.
    cancel(&s, 1, &sale.reservation, Some("crashed-cancel"))
        .await
        .assert_error(409, "IDEMPOTENCY_REQUEST_IN_PROGRESS");
    assert_eq!(s.balance(1).await, balance);
    // After it, the retry takes the key over and refunds, once.
    s.clock.advance_secs(31);
    let retried = cancel(&s, 1, &sale.reservation, Some("crashed-cancel")).await;
    retried.assert_ok(200);
    let repeat = cancel(&s, 1, &sale.reservation, Some("crashed-cancel")).await;
    assert_eq!(repeat.assert_ok(200), retried.data());
    assert_eq!(s.balance(1).await, balance + sale.price);
}

#[tokio::test]
async fn an_answer_lost_with_its_instance_is_replayed_by_the_next_one_without_a_second_refund() {
    let data = tempfile::tempdir().unwrap();
    let mut settings = test_settings();
    settings.database.url = format!("sqlite://{}", data.path().join("boxoffice.db").display());
    let clock = Arc::new(boxoffice_core::testing::ManualClock::default());
    let first = start(&settings, clock.clone(), tempfile::tempdir().unwrap()).await;
    let sale = buy(&first, 1, 13).await;
    let answered = cancel(&first, 1, &sale.reservation, Some("lost-answer")).await;
    let answered = answered.assert_ok(200).clone();
    let balance = first.balance(1).await;
    // The fan never saw the answer: the instance went down with it.
    drop(first);
    let second = start(&settings, clock, tempfile::tempdir().unwrap()).await;
    let retried = cancel(&second, 1, &sale.reservation, Some("lost-answer")).await;
    assert_eq!(retried.assert_ok(200), &answered);
    assert_eq!(second.balance(1).await, balance);
    let audit = invariants(&second).await;
    assert_eq!(
        (audit["ok"].clone(), audit["refunded"].clone()),
        (true.into(), sale.price.into())
    );
}

#[tokio::test]
async fn the_ledger_reconciles_top_ups_sales_and_a_cancellation_account_by_account() {
    let s = spawn().await;
    let returned = buy(&s, 1, 11).await;
    let kept = buy(&s, 2, 12).await;
    advance_to(
        &s,
        starts_at(&s, returned.schedule)
            .await
            .minus_secs(5 * 86_400),
    );
    cancel(&s, 1, &returned.reservation, None)
        .await
        .assert_ok(200);

    let ledger = admin_get(&s, "/api/v1/admin/ledger/reconcile").await;
    assert_eq!(ledger["ok"], true, "{ledger}");
    assert_eq!(ledger["problems"], serde_json::json!([]));
    // Two top-ups, two sales, one cancellation.
    assert_eq!(ledger["transactions"], 5);
    // Two fans, the top-ups account, the concert's revenue and its fees.
    assert_eq!(ledger["accounts"], 5);
    assert!(kept.price > 0);

    // The invariant check carries the same reconciliation.
    let audit = invariants(&s).await;
    assert_eq!(audit["ok"], true, "{audit}");
    assert_eq!(audit["ledger"], ledger);

    // It is the operator's: a fan is turned away.
    s.fan(1)
        .get("/api/v1/admin/ledger/reconcile", &[])
        .await
        .assert_error(401, "ADMIN_KEY_INVALID");
}

const POLICY_PATH: &str = "/api/v1/admin/concerts/1/cancellation-policy";

async fn put_policy(s: &Server, path: &str, body: serde_json::Value) -> Reply {
    s.call(
        reqwest::Method::PUT,
        path,
        &[("X-Admin-Key", ADMIN_KEY)],
        Some(body),
    )
    .await
}

#[tokio::test]
async fn a_concerts_own_cancellation_terms_apply_to_its_fans_until_the_operator_removes_them() {
    let s = spawn().await;
    let admin = [("X-Admin-Key", ADMIN_KEY)];
    let service = s.get(POLICY_PATH, &admin).await.assert_ok(200).clone();
    assert_eq!(service["concertId"], 1);
    assert_eq!(service["own"], false);
    assert_eq!(service["deadlineSecs"], 86_400, "the service's default");

    let sale = buy(&s, 1, 14).await;
    let starts_at = starts_at(&s, sale.schedule).await;
    // Five days ahead, the service's terms would refund 90%; the concert's
    // close a week before and keep half within thirty days.
    advance_to(&s, starts_at.minus_secs(5 * 86_400));
    let own = put_policy(
        &s,
        POLICY_PATH,
        serde_json::json!({"deadlineSecs": 7 * 86_400,
                           "fees": [{"withinSecs": 30 * 86_400, "percent": 50}]}),
    )
    .await
    .assert_ok(200)
    .clone();
    assert_eq!(
        own,
        serde_json::json!({"concertId": 1, "own": true, "deadlineSecs": 604_800,
                           "fees": [{"withinSecs": 2_592_000, "percent": 50}]})
    );
    assert_eq!(s.get(POLICY_PATH, &admin).await.assert_ok(200), &own);
    let listed = s.reservations(1).await;
    assert!(listed[0]["refundIfCancelledNow"].is_null(), "{listed:?}");
    let balance = s.balance(1).await;
    cancel(&s, 1, &sale.reservation, None)
        .await
        .assert_error(409, "CANCELLATION_CLOSED");
    assert_eq!(s.balance(1).await, balance, "nothing refunded");

    // Removed, the fan cancels on the service's terms.
    let back = s
        .call(reqwest::Method::DELETE, POLICY_PATH, &admin, None)
        .await
        .assert_ok(200)
        .clone();
    assert_eq!(back, service);
    let cancelled = cancel(&s, 1, &sale.reservation, None)
        .await
        .assert_ok(200)
        .clone();
    assert_eq!(cancelled["fee"], sale.price / 10);
}

#[tokio::test]
async fn bad_cancellation_terms_are_refused_with_their_codes_and_change_nothing() {
    let s = spawn().await;
    let admin = [("X-Admin-Key", ADMIN_KEY)];
    let before = s.get(POLICY_PATH, &admin).await.assert_ok(200).clone();
    let tier =
        |within: u64, percent: u64| serde_json::json!({"withinSecs": within, "percent": percent});
    for (body, status, code) in [
        (
            serde_json::json!({"deadlineSecs": 0, "fees": [tier(60, 101)]}),
            400,
            "VALIDATION_FAILED",
        ),
        (
            serde_json::json!({"deadlineSecs": 0, "fees": [tier(0, 10)]}),
            400,
            "VALIDATION_FAILED",
        ),
        (
            serde_json::json!({"deadlineSecs": 0, "fees": vec![tier(60, 1); 5]}),
            400,
            "VALIDATION_FAILED",
        ),
        (
            serde_json::json!({"deadlineSecs": 366 * 86_400, "fees": []}),
            400,
            "VALIDATION_FAILED",
        ),
        (
            serde_json::json!({"deadlineSecs": 0, "fees": [tier(400 * 86_400, 10)]}),
            400,
            "VALIDATION_FAILED",
        ),
        (
            serde_json::json!({"deadlineSecs": -1, "fees": []}),
            400,
            "INVALID_REQUEST_BODY",
        ),
        (
            serde_json::json!({"deadlineSecs": 0, "fees": [], "refunds": "never"}),
            400,
            "INVALID_REQUEST_BODY",
        ),
        (serde_json::json!({"fees": []}), 400, "INVALID_REQUEST_BODY"),
    ] {
        put_policy(&s, POLICY_PATH, body.clone())
            .await
            .assert_error(status, code);
        assert_eq!(
            s.get(POLICY_PATH, &admin).await.assert_ok(200),
            &before,
            "{body}"
        );
    }
    let terms = serde_json::json!({"deadlineSecs": 0, "fees": []});
    put_policy(
        &s,
        "/api/v1/admin/concerts/999/cancellation-policy",
        terms.clone(),
    )
    .await
    .assert_error(404, "CONCERT_NOT_FOUND");
    s.get("/api/v1/admin/concerts/999/cancellation-policy", &admin)
        .await
        .assert_error(404, "CONCERT_NOT_FOUND");
    s.call(
        reqwest::Method::DELETE,
        "/api/v1/admin/concerts/999/cancellation-policy",
        &admin,
        None,
    )
    .await
    .assert_error(404, "CONCERT_NOT_FOUND");
    put_policy(
        &s,
        "/api/v1/admin/concerts/x/cancellation-policy",
        terms.clone(),
    )
    .await
    .assert_error(400, "INVALID_PATH_PARAMETER");
    s.call(reqwest::Method::PUT, POLICY_PATH, &[], Some(terms))
        .await
        .assert_error(401, "ADMIN_KEY_INVALID");
}

/// Calls off `path` (`{concertId}` or `{concertId}/schedules/{scheduleId}`) as the admin.
async fn call_off(s: &Server, path: &str) -> Reply {
    s.post(
        &format!("/api/v1/admin/concerts/{path}/cancel"),
        &[("X-Admin-Key", ADMIN_KEY)],
        serde_json::json!({}),
    )
    .await
}

#[tokio::test]
async fn calling_a_concert_off_refunds_every_fan_in_full_once_past_the_deadline_and_closes_its_room()
 {
    let s = spawn().await;
    let first = buy(&s, 1, 7).await;
    let second = buy(&s, 2, 8).await;
    s.charge(3, 500_000).await.assert_ok(200);
    let token = s.active_token(3).await;
    let pending = s
        .hold(&token, first.schedule, 9)
        .await
        .assert_ok(201)
        .clone();
    let before = [s.balance(1).await, s.balance(2).await, s.balance(3).await];
    // An hour before the show: past the fans' own deadline (a day).
    advance_to(&s, starts_at(&s, first.schedule).await.minus_secs(3_600));
    cancel(&s, 1, &first.reservation, None)
        .await
        .assert_error(409, "CANCELLATION_CLOSED");

    let called = call_off(&s, "1").await.assert_ok(200).clone();
    assert_eq!(called["concertId"], 1);
    assert!(
        called["calledOff"]
            .as_array()
            .expect("dates")
            .contains(&first.schedule.into()),
        "{called}"
    );
    assert_eq!(called["releasedHolds"], 1);
    assert_eq!(called["roomClosed"], true);
    let room = admin_get(&s, "/api/v1/admin/concerts/1/room").await;
    assert_eq!(room["state"], "CLOSED", "{room}");
    s.pay(3, pending["holdId"].as_str().unwrap(), None)
        .await
        .assert_error(409, "HOLD_EXPIRED");

    // Until the round reaches it, the fan is shown the date called off and
    // a full refund, with no deadline.
    let listed = s.reservations(1).await;
    assert!(listed[0]["dateCancelledAt"].is_string(), "{listed:?}");
    assert!(listed[0]["cancellableUntil"].is_null(), "{listed:?}");
    assert_eq!(
        listed[0]["refundIfCancelledNow"],
        serde_json::json!({ "refund": first.price, "fee": 0 })
    );
    // The refund round: each reservation once, in full.
    assert_eq!(s.app.refund_called_off_once(500).await.unwrap(), 2);
    assert_eq!(s.app.refund_called_off_once(500).await.unwrap(), 0);
    assert_eq!(s.balance(1).await, before[0] + first.price);
    assert_eq!(s.balance(2).await, before[1] + second.price);
    assert_eq!(
        s.balance(3).await,
        before[2],
        "the released hold cost nothing"
    );
    for (fan, sale) in [(1, &first), (2, &second)] {
        let listed = s.reservations(fan).await;
        assert_eq!(listed[0]["status"], "CANCELLED");
        assert_eq!(
            (&listed[0]["refund"], &listed[0]["fee"]),
            (&sale.price.into(), &0.into())
        );
        cancel(&s, fan, &sale.reservation, None)
            .await
            .assert_error(409, "RESERVATION_ALREADY_CANCELLED");
    }
    let again = call_off(&s, "1").await.assert_ok(200).clone();
    assert_eq!(again["calledOff"], serde_json::json!([]));
    assert_eq!(again["releasedHolds"], 0);
    assert_eq!(s.app.refund_called_off_once(500).await.unwrap(), 0);
    let audit = invariants(&s).await;
    assert_eq!(audit["ok"], true, "{audit}");
    assert_eq!(audit["cancelled"], 2);
    assert_eq!(audit["refunded"], first.price + second.price);
}

/// Concert 1's dates, as its fan with `token` lists them.
async fn dates_of_concert_1(s: &Server, token: &str) -> serde_json::Value {
    s.owner_of(token)
        .get("/api/v1/concerts/1/schedules", &[("Queue-Token", token)])
        .await
        .assert_ok(200)
        .clone()
}

#[tokio::test]
async fn a_called_off_date_lists_as_cancelled_takes_no_hold_and_the_concerts_other_dates_sell_on() {
    let s = spawn().await;
    let token = s.active_token(1).await;
    let dates = dates_of_concert_1(&s, &token).await;
    let (first, second) = (
        dates[0]["scheduleId"].as_i64().unwrap(),
        dates[1]["scheduleId"].as_i64().unwrap(),
    );
    let called = call_off(&s, &format!("1/schedules/{first}"))
        .await
        .assert_ok(200)
        .clone();
    assert_eq!(called["calledOff"], serde_json::json!([first]));
    assert_eq!(called["roomClosed"], false);
    let dates = dates_of_concert_1(&s, &token).await;
    assert_eq!(dates[0]["availableSeats"], 0);
    assert!(dates[0]["cancelledAt"].is_string(), "{dates}");
    assert!(dates[1].get("cancelledAt").is_none(), "{dates}");
    s.hold(&token, first, 3)
        .await
        .assert_error(409, "SCHEDULE_CANCELLED");
    s.hold(&token, second, 3).await.assert_ok(201);
}

#[tokio::test]
async fn calling_off_an_unknown_concert_or_another_concerts_date_is_refused_and_changes_nothing() {
    let s = spawn().await;
    call_off(&s, "999")
        .await
        .assert_error(404, "CONCERT_NOT_FOUND");
    call_off(&s, "0")
        .await
        .assert_error(400, "INVALID_PATH_PARAMETER");
    let token = s.active_token(1).await;
    let first = s.first_schedule(&token).await;
    // Concert 2's dates are not concert 1's.
    let other = admin_get(&s, "/api/v1/admin/concerts").await;
    assert!(other.as_array().expect("concerts").len() >= 2, "{other}");
    call_off(&s, &format!("2/schedules/{first}"))
        .await
        .assert_error(404, "SCHEDULE_NOT_FOUND");
    s.post(
        "/api/v1/admin/concerts/1/cancel",
        &[],
        serde_json::json!({}),
    )
    .await
    .assert_error(401, "ADMIN_KEY_INVALID");
    s.hold(&token, first, 3).await.assert_ok(201);
    assert_eq!(s.app.refund_called_off_once(500).await.unwrap(), 0);
}

#[tokio::test]
async fn a_date_on_sale_unknown_or_called_off_has_no_waiting_list_and_leaving_one_not_joined_is_refused()
 {
    let s = spawn().await;
    let token = s.active_token(1).await;
    let first = s.first_schedule(&token).await;
    let fan = s.fan(7);
    let path = format!("/api/v1/schedules/{first}/waitlist");
    fan.post(&path, &[], serde_json::json!({}))
        .await
        .assert_error(409, "SCHEDULE_NOT_SOLD_OUT");
    fan.delete(&path, &[])
        .await
        .assert_error(404, "NOT_ON_WAITLIST");
    fan.post(
        "/api/v1/schedules/999999/waitlist",
        &[],
        serde_json::json!({}),
    )
    .await
    .assert_error(404, "SCHEDULE_NOT_FOUND");
    fan.post("/api/v1/schedules/0/waitlist", &[], serde_json::json!({}))
        .await
        .assert_error(400, "INVALID_PATH_PARAMETER");
    s.post(&path, &[], serde_json::json!({}))
        .await
        .assert_error(401, "AUTH_REQUIRED");
    call_off(&s, &format!("1/schedules/{first}"))
        .await
        .assert_ok(200);
    fan.post(&path, &[], serde_json::json!({}))
        .await
        .assert_error(409, "SCHEDULE_CANCELLED");
    let listed = fan.get("/api/v1/waitlist", &[]).await;
    assert_eq!(listed.assert_ok(200)["entries"], serde_json::json!([]));
}
