//! The operator's room over HTTP: states and live settings, a scheduled
//! sale with its pre-queue and verifiable lottery, sold out; the token
//! event streams; and all of it across two instances.

use crate::harness::{ADMIN_KEY, Server, spawn, spawn_cluster};
use boxoffice_core::domain::room;
use boxoffice_core::ports::Clock;
use serde_json::{Value, json};
use std::time::Duration;

fn text(v: &Value) -> String {
    v.as_str()
        .unwrap_or_else(|| panic!("not a string: {v}"))
        .to_owned()
}

/// An instant `secs` from the server's clock, as RFC 3339.
fn in_secs(s: &Server, secs: u64) -> String {
    let ms = s.clock.now().plus_secs(secs).as_millis();
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

/// Fans `users` ask for tokens for `concert`; their tickets.
async fn tickets(s: &Server, concert: i64, users: std::ops::RangeInclusive<i64>) -> Vec<String> {
    let mut out = Vec::new();
    for user in users {
        let reply = s.issue_token(user, concert).await;
        out.push(text(&reply.assert_ok(201)["token"]));
    }
    out
}

#[tokio::test]
async fn an_operator_schedules_a_sale_whose_draw_anyone_can_recompute() {
    let s = spawn().await;
    let opens = in_secs(&s, 600);
    let scheduled = s
        .patch_room(1, json!({ "state": "SCHEDULED", "saleOpensAt": opens }))
        .await;
    let room_view = scheduled.assert_ok(200);
    assert_eq!(room_view["state"], "SCHEDULED");
    let commitment = text(&room_view["lotteryCommitment"]);
    assert_eq!(commitment.len(), 64);
    let public = s.get("/api/v1/concerts/1/room", &[]).await;
    assert_eq!(
        public.assert_ok(200)["lotteryCommitment"],
        commitment.as_str()
    );
    assert!(
        public.data().get("census").is_none(),
        "head counts are the operator's"
    );
    s.get("/api/v1/concerts/1/lottery", &[])
        .await
        .assert_error(404, "LOTTERY_NOT_DRAWN");
    let fans = tickets(&s, 1, 1..=25).await;
    let first = s.poll(&fans[0]).await;
    assert_eq!(first.assert_ok(200)["status"], "PRE_QUEUE");
    assert!(first.data()["position"].is_null());
    assert!(first.headers.get("retry-after").is_some());
    // Fans keep polling until the opening; then the first round draws.
    for _ in 0..10 {
        s.clock.advance_secs(60);
        for fan in &fans {
            assert_eq!(s.poll(fan).await.assert_ok(200)["status"], "PRE_QUEUE");
        }
    }
    s.patch_room(1, json!({ "admitBatch": 5 }))
        .await
        .assert_ok(200);
    s.admit().await;
    let lottery = s.get("/api/v1/concerts/1/lottery", &[]).await;
    let reveal = lottery.assert_ok(200);
    let seed = text(&reveal["seed"]);
    assert_eq!(room::commitment_of(&seed), commitment);
    let entries: Vec<String> = reveal["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| text(&e["entryId"]))
        .collect();
    assert_eq!(entries.len(), 25);
    let mut ids = entries.clone();
    ids.sort();
    assert_eq!(
        room::draw(&seed, &ids),
        entries,
        "recomputed from the published data"
    );
    // Each fan's place is the drawn one: the first 5 ACTIVE, the rest in line.
    for fan in &fans {
        let polled = s.poll(fan).await;
        let view = polled.assert_ok(200);
        let place = entries
            .iter()
            .position(|e| *e == text(&view["lotteryEntryId"]))
            .unwrap() as u64
            + 1;
        if place <= 5 {
            assert_eq!(view["status"], "ACTIVE");
        } else {
            assert_eq!(view["position"], place - 5);
        }
    }
    let audit = s
        .get(
            "/api/v1/admin/concerts/1/room/audit",
            &[("X-Admin-Key", ADMIN_KEY)],
        )
        .await;
    let fields: Vec<String> = audit
        .assert_ok(200)
        .as_array()
        .unwrap()
        .iter()
        .map(|c| text(&c["field"]))
        .collect();
    // Newest first: the draw recorded the lottery after the state.
    assert_eq!(fields[..2], ["lottery".to_owned(), "state".to_owned()]);
    assert!(fields.contains(&"saleOpensAt".to_owned()));
}

#[tokio::test]
async fn an_operator_pauses_resumes_and_changes_the_rate_live() {
    let s = spawn().await;
    let fans = tickets(&s, 1, 1..=6).await;
    let paused = s.patch_room(1, json!({ "state": "PAUSED" })).await;
    assert_eq!(paused.assert_ok(200)["effectiveState"], "PAUSED");
    assert_eq!(s.admit().await, 0);
    let waiting = s.poll(&fans[3]).await;
    assert_eq!(waiting.assert_ok(200)["status"], "PAUSED");
    assert_eq!(waiting.data()["position"], 4, "fans keep their places");
    assert!(waiting.data()["etaSeconds"].is_null());
    let resumed = s
        .patch_room(
            1,
            json!({ "state": "OPEN", "admitPerMinute": 12, "admitIntervalSecs": 10 }),
        )
        .await;
    let settings = &resumed.assert_ok(200)["settings"];
    assert_eq!(
        (
            settings["admitBatch"].as_u64(),
            settings["admitPerMinute"].as_u64()
        ),
        (Some(2), Some(12))
    );
    assert_eq!(s.admit().await, 2);
    assert_eq!(s.poll(&fans[1]).await.assert_ok(200)["status"], "ACTIVE");
    // A fan leaves the line: the one behind moves up.
    let leaving = s
        .owner_of(&fans[2])
        .delete("/api/v1/queue/tokens/current", &[("Queue-Token", &fans[2])])
        .await;
    assert_eq!(leaving.status.as_u16(), 204);
    assert_eq!(s.poll(&fans[3]).await.assert_ok(200)["position"], 1);
    assert_eq!(s.poll(&fans[2]).await.assert_ok(200)["status"], "EXPIRED");
    // Refusals change nothing.
    s.patch_room(1, json!({ "state": "SOON" }))
        .await
        .assert_error(400, "VALIDATION_FAILED");
    s.patch_room(1, json!({ "maxActive": 0 }))
        .await
        .assert_error(400, "VALIDATION_FAILED");
    s.patch_room(1, json!({ "rate": 5 }))
        .await
        .assert_error(400, "INVALID_REQUEST_BODY");
    s.patch_room(1, json!({ "state": "SCHEDULED" }))
        .await
        .assert_error(400, "VALIDATION_FAILED");
    s.patch_room(999, json!({ "state": "PAUSED" }))
        .await
        .assert_error(404, "CONCERT_NOT_FOUND");
    let now = s
        .get(
            "/api/v1/admin/concerts/1/room",
            &[("X-Admin-Key", ADMIN_KEY)],
        )
        .await;
    let view = now.assert_ok(200);
    assert_eq!(view["state"], "OPEN");
    assert_eq!(view["settings"]["admitBatch"], 2);
    assert_eq!(view["census"]["waiting"], 3);
    // A waiting fan is told the instant too, on a round boundary.
    let first = s.poll(&fans[3]).await;
    let expected = first.assert_ok(200)["expectedAdmissionAt"]
        .as_str()
        .expect("expectedAdmissionAt")
        .to_owned();
    assert!(expected.ends_with("0.000Z"), "{expected}");
    assert!(first.data()["etaSeconds"].as_u64().is_some());
    // Settings given as null go back to the configured defaults (the
    // harness's 1,000 a round, the default 10 s interval).
    let reset = s
        .patch_room(
            1,
            json!({ "admitPerMinute": null, "admitIntervalSecs": null }),
        )
        .await;
    let settings = &reset.assert_ok(200)["settings"];
    assert_eq!(
        (
            settings["admitBatch"].as_u64(),
            settings["admitIntervalSecs"].as_u64()
        ),
        (Some(1_000), Some(10))
    );
    // Closing tells the line, and new fans get SALE_CLOSED.
    s.patch_room(1, json!({ "state": "CLOSED" }))
        .await
        .assert_ok(200);
    assert_eq!(s.poll(&fans[4]).await.assert_ok(200)["status"], "CLOSED");
    s.issue_token(50, 1).await.assert_error(409, "SALE_CLOSED");
    s.patch_room(
        1,
        json!({ "state": "SCHEDULED", "saleOpensAt": in_secs(&s, 60) }),
    )
    .await
    .assert_error(400, "VALIDATION_FAILED");
}

#[tokio::test]
async fn a_sold_out_concert_refuses_tokens_and_tells_its_line() {
    let s = spawn().await;
    let created = s
        .post(
            "/api/v1/admin/concerts",
            &[("X-Admin-Key", ADMIN_KEY)],
            json!({
                "title": "One seat", "artist": "Solo",
                "schedules": [{ "startsAt": in_secs(&s, 86_400), "venue": "Room" }],
                "seats": [{ "grade": "GA", "price": 10000, "from": 1, "to": 1 }]
            }),
        )
        .await;
    let concert = created.assert_ok(201)["concertId"].as_i64().unwrap();
    s.charge(1, 10_000).await.assert_ok(200);
    let buyer = text(&s.issue_token(1, concert).await.assert_ok(201)["token"]);
    s.admit().await;
    // Arrives once the one seat's two admissions (max_active_per_seat) are...
    // one used: let in by the next round unless the seat sells first.
    let behind = text(&s.issue_token(2, concert).await.assert_ok(201)["token"]);
    let schedules = s
        .owner_of(&buyer)
        .get(
            &format!("/api/v1/concerts/{concert}/schedules"),
            &[("Queue-Token", &buyer)],
        )
        .await;
    let schedule = schedules.assert_ok(200)[0]["scheduleId"].as_i64().unwrap();
    let hold = s.hold(&buyer, schedule, 1).await;
    let hold_id = text(&hold.assert_ok(201)["holdId"]);
    s.pay(1, &hold_id, None).await.assert_ok(201);
    assert_eq!(s.poll(&behind).await.assert_ok(200)["status"], "SOLD_OUT");
    s.issue_token(3, concert)
        .await
        .assert_error(409, "SOLD_OUT");
    let public = s
        .get(&format!("/api/v1/concerts/{concert}/room"), &[])
        .await;
    assert_eq!(public.assert_ok(200)["soldOut"], true);
}

/// Reads a token's event stream as a browser's `EventSource` would.
struct EventStream {
    response: reqwest::Response,
    buffer: String,
}

#[derive(Debug)]
struct Sse {
    id: String,
    kind: String,
    data: Value,
}

impl EventStream {
    /// Opens the stream with the credentials in the query, as `EventSource` must.
    async fn open(s: &Server, ticket: &str, last_event_id: Option<&str>) -> reqwest::Response {
        let user = crate::harness::owner(ticket);
        let url = format!(
            "{}/api/v1/queue/tokens/current/events?token={ticket}&access_token={}",
            s.base,
            s.access_token(user)
        );
        let mut request = s.http.get(url).header("Accept", "text/event-stream");
        if let Some(id) = last_event_id {
            request = request.header("Last-Event-ID", id);
        }
        request.send().await.unwrap()
    }

    async fn connect(s: &Server, ticket: &str, last_event_id: Option<&str>) -> Self {
        let response = Self::open(s, ticket, last_event_id).await;
        assert_eq!(response.status().as_u16(), 200);
        assert_eq!(
            response.headers()["content-type"],
            "text/event-stream",
            "{:?}",
            response.headers()
        );
        Self {
            response,
            buffer: String::new(),
        }
    }

    /// The next event (heartbeat comments skipped); `None` when the stream ended.
    async fn next(&mut self) -> Option<Sse> {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let (mut id, mut kind, mut data) = (String::new(), String::new(), String::new());
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("id:") {
                        id = v.trim().to_owned();
                    } else if let Some(v) = line.strip_prefix("event:") {
                        kind = v.trim().to_owned();
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.trim());
                    }
                }
                if data.is_empty() {
                    continue;
                }
                return Some(Sse {
                    id,
                    kind,
                    data: serde_json::from_str(&data).unwrap(),
                });
            }
            let chunk = tokio::time::timeout(Duration::from_secs(10), self.response.chunk())
                .await
                .expect("an event within 10 s")
                .unwrap()?;
            self.buffer.push_str(&String::from_utf8_lossy(&chunk));
        }
    }

    /// Nothing arrives within `wait`.
    async fn quiet_for(&mut self, wait: Duration) {
        let got = tokio::time::timeout(wait, self.next()).await;
        assert!(got.is_err(), "expected no event, got {got:?}");
    }
}

#[tokio::test]
async fn token_events_arrive_in_order_and_resume_from_the_last_event_id() {
    let s = spawn().await;
    s.patch_room(1, json!({ "admitBatch": 1 }))
        .await
        .assert_ok(200);
    let fans = tickets(&s, 1, 1..=3).await;
    let mut stream = EventStream::connect(&s, &fans[2], None).await;
    let first = stream.next().await.unwrap();
    assert_eq!(
        (
            first.kind.as_str(),
            &first.data["status"],
            &first.data["position"]
        ),
        ("status", &json!("WAITING"), &json!(3))
    );
    s.admit().await;
    let moved = stream.next().await.unwrap();
    assert_eq!(
        (moved.kind.as_str(), &moved.data["position"]),
        ("position", &json!(2))
    );
    assert!(
        moved.id > first.id,
        "ids grow: {} then {}",
        first.id,
        moved.id
    );
    drop(stream);
    // Reconnecting with the last id: nothing is repeated...
    let mut resumed = EventStream::connect(&s, &fans[2], Some(&moved.id)).await;
    resumed.quiet_for(Duration::from_millis(500)).await;
    // ...and what changes arrives, a pause as a status.
    s.patch_room(1, json!({ "state": "PAUSED" }))
        .await
        .assert_ok(200);
    let paused = resumed.next().await.unwrap();
    assert_eq!(
        (paused.kind.as_str(), &paused.data["status"]),
        ("status", &json!("PAUSED"))
    );
    s.patch_room(1, json!({ "state": "OPEN" }))
        .await
        .assert_ok(200);
    let back = resumed.next().await.unwrap();
    assert_eq!(back.data["status"], "WAITING");
    s.admit().await;
    s.admit().await;
    let mut last = resumed.next().await.unwrap();
    while last.data["status"] != "ACTIVE" {
        last = resumed.next().await.unwrap();
    }
    assert!(last.data["admissionPass"].is_string());
    assert!(
        resumed.next().await.is_none(),
        "the stream ends once ACTIVE"
    );
    let after = EventStream::open(&s, &fans[2], Some(&last.id)).await;
    assert_eq!(
        after.status().as_u16(),
        204,
        "nothing more will come: EventSource stops"
    );
    // Without credentials the stream is refused like any call.
    let bare = s
        .http
        .get(format!("{}/api/v1/queue/tokens/current/events", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(bare.status().as_u16(), 401);
}

#[tokio::test]
async fn streams_and_rate_changes_work_across_instances() {
    let servers = spawn_cluster(2, |_| {}).await;
    let (a, b) = (&servers[0], &servers[1]);
    a.patch_room(1, json!({ "admitBatch": 1 }))
        .await
        .assert_ok(200);
    let fans = tickets(a, 1, 1..=4).await;
    // A stream on B sees the rounds A runs.
    let mut on_b = EventStream::connect(b, &fans[1], None).await;
    assert_eq!(on_b.next().await.unwrap().data["position"], 2);
    a.admit().await;
    assert_eq!(on_b.next().await.unwrap().data["position"], 1);
    // A rate change made on A applies to B's next round.
    a.patch_room(1, json!({ "admitBatch": 3 }))
        .await
        .assert_ok(200);
    assert_eq!(b.admit().await, 3);
    let mut active = on_b.next().await.unwrap();
    while active.data["status"] != "ACTIVE" {
        active = on_b.next().await.unwrap();
    }
    // A pause made on B stops A's rounds.
    let more = tickets(a, 1, 10..=11).await;
    b.patch_room(1, json!({ "state": "PAUSED" }))
        .await
        .assert_ok(200);
    assert_eq!(a.admit().await, 0);
    assert_eq!(a.poll(&more[0]).await.assert_ok(200)["status"], "PAUSED");
}

#[tokio::test]
async fn a_scheduled_sale_is_drawn_once_when_two_instances_open_it_together() {
    let servers = spawn_cluster(2, |_| {}).await;
    let (a, b) = (&servers[0], &servers[1]);
    a.patch_room(
        1,
        json!({ "state": "SCHEDULED", "saleOpensAt": in_secs(a, 60) }),
    )
    .await
    .assert_ok(200);
    let mut fans = tickets(a, 1, 1..=20).await;
    fans.extend(tickets(b, 1, 21..=40).await);
    a.clock.advance_secs(60);
    let (x, y) = tokio::join!(a.app.activate_batch_once(), b.app.activate_batch_once());
    let admitted = x.unwrap() + y.unwrap();
    assert_eq!(
        admitted, 40,
        "everyone drawn and admitted once, by one round or two"
    );
    let reveal = b.get("/api/v1/concerts/1/lottery", &[]).await;
    let entries = reveal.assert_ok(200)["entries"].as_array().unwrap().len();
    assert_eq!(entries, 40);
    let audit = a
        .get(
            "/api/v1/admin/concerts/1/room/audit",
            &[("X-Admin-Key", ADMIN_KEY)],
        )
        .await;
    let draws = audit
        .assert_ok(200)
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["field"] == "lottery")
        .count();
    assert_eq!(draws, 1);
    let invariants = a
        .get("/api/v1/admin/invariants", &[("X-Admin-Key", ADMIN_KEY)])
        .await;
    assert_eq!(invariants.assert_ok(200)["admissionInversions"], 0);
}
