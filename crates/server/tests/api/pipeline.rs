//! The event pipeline end to end: payments, the outbox relay, Kafka (a tansu
//! broker of the test's own on a free port, so it can be stopped and
//! restarted) or the in-process inbox, the data-platform consumer group and
//! the mock data platform. These tests run the relay and the consumer as the
//! service does, in background loops on real time, and wait for outcomes.

use crate::harness::{Server, start, test_settings};
use crate::proxy::Proxy;
use boxoffice_core::domain::access::{PowAnswer, QueueCredential, Ticket};
use boxoffice_core::domain::concert::{NewSchedule, SeatBand};
use boxoffice_core::domain::{ConcertId, ScheduleId, SeatNumber, Timestamp, UserId, Won};
use boxoffice_core::testing::ManualClock;
use boxoffice_server::config::Settings;
use boxoffice_server::consumers;
use boxoffice_server::mock_platform::{Behaviour, MockPlatform};
use futures::future::join_all;
use std::net::TcpListener as StdListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// A tansu broker of the test's own. It keeps topics and offsets in
/// memory, so it cannot be restarted with its data the way Kafka can; a
/// broker outage is therefore played by a [`Proxy`] that every client
/// connection goes through (the broker advertises the proxy's address):
/// cut, the broker is unreachable exactly as a stopped one is; restored, it
/// is back with its data, as a restarted Kafka broker is.
struct Broker {
    process: Child,
    /// Where clients connect: the proxy when there is one.
    address: String,
    proxy: Option<Proxy>,
    /// With a TLS listener in front: the CA, client certificate and key
    /// files the clients use.
    tls: Option<[String; 3]>,
}

fn tansu() -> PathBuf {
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")));
    let installed = cargo_home.map(|home| home.join("bin/tansu"));
    match installed {
        Some(path) if path.exists() => path,
        _ => PathBuf::from("tansu"),
    }
}

fn free_port() -> u16 {
    StdListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

impl Broker {
    async fn start() -> Self {
        Self::launch(Front::None).await
    }

    /// A broker reached only through a proxy the test can cut.
    async fn behind_proxy() -> Self {
        Self::launch(Front::Proxy).await
    }

    /// A broker reached only over TLS with a client certificate, both
    /// signed by `certs`' CA: a TLS listener ends it in front of tansu,
    /// which advertises the listener, so every connection of every client
    /// (bootstrap, producer, group coordinator, fetches) is TLS.
    async fn behind_tls(certs: &crate::tls::Certs) -> Self {
        let mut broker = Self::launch(Front::Tls(certs.acceptor(true))).await;
        broker.tls = Some(["ca.pem", "client.pem", "client.key"].map(|f| certs.path(f)));
        broker
    }

    async fn launch(front: Front) -> Self {
        let listen = format!("127.0.0.1:{}", free_port());
        let proxy = match front {
            Front::None => None,
            Front::Proxy => Some(Proxy::start(&listen).await),
            Front::Tls(acceptor) => Some(Proxy::start_tls(&listen, acceptor).await),
        };
        let address = proxy
            .as_ref()
            .map_or_else(|| listen.clone(), |p| p.addr.to_string());
        let process = Command::new(tansu())
            .args(["broker", "--storage-engine", "memory://tansu/"])
            .args(["--listener-url", &format!("tcp://{listen}")])
            .args(["--advertised-listener-url", &format!("tcp://{address}")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("tansu must be installed: run scripts/services");
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(&listen).is_err() {
            assert!(Instant::now() < deadline, "tansu did not start");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Self {
            process,
            address,
            proxy,
            tls: None,
        }
    }

    fn address(&self) -> String {
        self.address.clone()
    }

    async fn go_down(&self) {
        self.proxy.as_ref().expect("a proxied broker").cut().await;
    }

    fn come_back(&self) {
        self.proxy.as_ref().expect("a proxied broker").restore();
    }
}

/// What stands in front of a test broker.
enum Front {
    None,
    Proxy,
    Tls(tokio_rustls::TlsAcceptor),
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

/// The mock data platform, served in-process on a free port.
async fn platform() -> (MockPlatform, String) {
    let platform = MockPlatform::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/events", listener.local_addr().expect("addr"));
    let served = platform.clone();
    tokio::spawn(boxoffice_server::mock_platform::serve(listener, served));
    (platform, url)
}

/// Settings for a pipeline test: fast retries, PostgreSQL, and Kafka at
/// `broker` (or the in-process inbox when `None`).
async fn settings(broker: Option<&Broker>, platform_url: &str) -> Settings {
    let mut s = test_settings();
    s.database.url = boxoffice_store::testing::fresh_pg().await.url;
    s.database.max_connections = 16;
    if let Some(broker) = broker {
        s.kafka.brokers = broker.address();
        if let Some([ca, cert, key]) = &broker.tls {
            s.kafka.security_protocol = boxoffice_server::config::KafkaSecurity::Ssl;
            s.kafka.ssl_ca_file = ca.clone();
            s.kafka.ssl_cert_file = cert.clone();
            s.kafka.ssl_key_file = key.clone();
        }
        // tansu mishandles multi-record batches when a consumer resumes
        // (docs/events.md); Kafka needs no such setting.
        s.kafka.batch_num_messages = 1;
        s.kafka.delivery_timeout_ms = 3_000;
        s.kafka.poll_wait_ms = 200;
        s.kafka.session_timeout_ms = 6_000;
    }
    s.dataplatform.url = platform_url.to_owned();
    s.dataplatform.timeout_ms = 1_000;
    s.dataplatform.max_attempts = 8;
    s.dataplatform.initial_backoff_ms = 20;
    s.dataplatform.max_backoff_ms = 200;
    s.dataplatform.idle_poll_ms = 50;
    s.dataplatform.probe_interval_ms = 100;
    // These tests sell every seat as fast as fans arrive: nobody may be left
    // waiting by the two-per-sellable-seat cap as the last seats go.
    s.queue.max_active_per_seat = 0;
    s
}

async fn server(settings: &Settings) -> Server {
    let dir = tempfile::tempdir().expect("temp dir");
    start(settings, Arc::new(ManualClock::default()), dir).await
}

/// The relay, as the service runs it, until cancelled.
fn relay(server: &Server, stop: &CancellationToken) -> JoinHandle<()> {
    let (app, stop) = (server.app.clone(), stop.clone());
    tokio::spawn(async move {
        while !stop.is_cancelled() {
            // Failures (the broker is down) are retried on the next round.
            let _ = app.relay_outbox_once(100).await;
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
}

/// The data-platform consumer group member, as the service runs it.
fn consumer(server: &Server, stop: &CancellationToken) -> JoinHandle<()> {
    let subscription = server.feed.data_platform().expect("subscription");
    tokio::spawn(consumers::forward_to_platform(
        server.app.clone(),
        subscription,
        Duration::from_millis(50),
        stop.clone(),
    ))
}

/// A concert with `seats` seats over dates of 50, every one of them bought
/// by its own user: `seats` payments, each through a token, a hold and a charge.
async fn sell_out(server: &Server, seats: usize, first_user: i64) -> usize {
    let app = &server.app;
    let dates = seats.div_ceil(50);
    let starts = Timestamp::from_millis(1_900_000_000_000);
    let concert = app
        .create_concert(
            "Pipeline",
            "The Relays",
            (0..dates)
                .map(|d| NewSchedule {
                    starts_at: starts.plus_secs(86_400 * d as u64),
                    venue: "Hall".into(),
                })
                .collect(),
            &[SeatBand {
                grade: "R".into(),
                price: Won::new(10_000),
                first: 1,
                last: 50,
            }],
        )
        .await
        .expect("concert");
    // Fans are admitted as they arrive, with no admission round each (500
    // rounds at once would compete with the sales for connections).
    server
        .app
        .change_room(
            concert,
            &boxoffice_core::use_cases::RoomPatch {
                state: Some(boxoffice_core::domain::room::RoomState::PassThrough),
                ..Default::default()
            },
        )
        .await
        .expect("pass-through room");
    let schedules: Vec<ScheduleId> = server
        .app
        .adapters()
        .store
        .schedules_with_availability(concert, starts)
        .await
        .expect("schedules")
        .iter()
        .map(|s| s.schedule.id)
        .collect();
    let buyers = (0..seats).map(|i| {
        let user = UserId::new(first_user + i as i64).expect("user");
        buy(
            server,
            concert,
            user,
            schedules[i / 50],
            (i % 50 + 1) as i64,
        )
    });
    let tokens = join_all(buyers).await;
    tokens.iter().filter(|paid| **paid).count()
}

async fn buy(
    server: &Server,
    concert: ConcertId,
    user: UserId,
    schedule: ScheduleId,
    seat: i64,
) -> bool {
    let app = &server.app;
    app.charge_balance(user, Won::new(10_000), None)
        .await
        .expect("charge");
    let token = app
        .issue_token(user, concert, PowAnswer::Missing)
        .await
        .expect("token")
        .token;
    let ticket = QueueCredential::Ticket(Ticket {
        token: token.token,
        user,
        concert,
        issued_at: token.issued_at,
        epoch: token.epoch,
    });
    let hold = app
        .hold_seat(user, ticket, schedule, SeatNumber::new(seat).expect("seat"))
        .await
        .expect("hold");
    app.pay_for_hold(user, hold.id, None).await.is_ok()
}

/// The token id a queue ticket names (its `tid` claim).
fn ticket_id(ticket: &str) -> String {
    let data =
        jsonwebtoken::dangerous::insecure_decode::<serde_json::Value>(ticket).expect("a ticket");
    data.claims["tid"].as_str().expect("tid").to_owned()
}

/// Waits until the platform has recorded `n` deliveries.
async fn delivered(platform: &MockPlatform, n: usize, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let report = platform.report();
        if report.delivered.len() >= n {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "only {} of {n} delivered: {report:?}",
            report.delivered.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn payments_made_while_the_broker_is_down_reach_the_platform_exactly_once() {
    let broker = Broker::behind_proxy().await;
    let (platform, url) = platform().await;
    let server = server(&settings(Some(&broker), &url).await).await;
    let stop = CancellationToken::new();
    let (relay, consumer) = (relay(&server, &stop), consumer(&server, &stop));

    // Some sales before the outage, so the producer has an identity to lose.
    assert_eq!(sell_out(&server, 10, 10_001).await, 10);
    delivered(&platform, 10, Duration::from_secs(60)).await;

    broker.go_down().await;
    let paid = sell_out(&server, 500, 1).await;
    assert_eq!(paid, 500, "every payment succeeds");
    tokio::time::sleep(Duration::from_secs(1)).await;
    let lag = server.app.outbox_lag().await.expect("lag");
    let waiting = lag.backlog.unpublished;
    assert!(waiting >= 500, "events wait in the outbox: {lag:?}");
    assert_eq!(platform.report().delivered.len(), 10);

    broker.come_back();
    delivered(&platform, 510, Duration::from_secs(120)).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let report = platform.report();
    assert_eq!(report.delivered.len(), 510);
    assert_eq!(report.duplicates, 0, "{report:?}");
    assert_eq!(report.missing_idempotency_keys, 0);
    let invariants = server.app.check_invariants().await.expect("invariants");
    assert!(invariants.violations.is_empty(), "{invariants:?}");
    assert_eq!(invariants.store.reservations, 510);
    assert_eq!(
        server
            .app
            .outbox_lag()
            .await
            .expect("lag")
            .backlog
            .unpublished,
        0
    );
    stop.cancel();
    let _ = tokio::join!(relay, consumer);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_consumer_killed_mid_stream_resumes_without_losing_or_repeating() {
    let broker = Broker::start().await;
    let (platform, url) = platform().await;
    let server = server(&settings(Some(&broker), &url).await).await;
    platform.set_behaviour(Behaviour {
        delay_ms: 5,
        ..Behaviour::default()
    });
    let stop = CancellationToken::new();
    let relay = relay(&server, &stop);
    let first = consumer(&server, &stop);
    assert_eq!(sell_out(&server, 300, 1).await, 300);
    delivered(&platform, 60, Duration::from_secs(60)).await;
    // A hard kill, at whatever await point the consumer is in.
    first.abort();
    let _ = first.await;
    let at_kill = platform.report().delivered.len();
    assert!(at_kill < 300, "killed mid-stream, after {at_kill}");

    let second = consumer(&server, &stop);
    delivered(&platform, 300, Duration::from_secs(120)).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let report = platform.report();
    assert_eq!(report.delivered.len(), 300, "nothing lost");
    // Events the first member had delivered but not committed come again and
    // are skipped by the ledger. The one repeat the ledger cannot prevent is
    // a request the kill cut off after the platform took it and before the
    // ledger recorded it; it carries the same Idempotency-Key, so the
    // platform records it once (docs/events.md).
    assert!(report.duplicates <= 1, "{report:?}");
    stop.cancel();
    let _ = tokio::join!(relay, second);
}

/// Retries through a failing spell, then a dead letter listed and replayed
/// over the admin API.
async fn failures_are_retried_and_dead_letters_replayed(broker: Option<&Broker>) {
    let (platform, url) = platform().await;
    let server = server(&settings(broker, &url).await).await;
    let stop = CancellationToken::new();
    let (relay, consumer) = (relay(&server, &stop), consumer(&server, &stop));

    // A spell of failures: every delivery is retried until it goes through.
    platform.set_behaviour(Behaviour {
        fail_next: 6,
        ..Behaviour::default()
    });
    assert_eq!(sell_out(&server, 50, 1).await, 50);
    delivered(&platform, 50, Duration::from_secs(60)).await;
    let report = platform.report();
    assert_eq!(report.failed, 6, "{report:?}");
    assert_eq!(report.duplicates, 0);
    let admin = [("X-Admin-Key", crate::harness::ADMIN_KEY)];
    let listed = server.get("/api/v1/admin/dead-letters", &admin).await;
    assert_eq!(listed.assert_ok(200).as_array().map(Vec::len), Some(0));

    // The platform down for longer than the retry budget (8 attempts, at
    // most 200 ms apart): the breaker opens, nothing is dead-lettered, and
    // the sale is delivered once the platform is back.
    platform.set_behaviour(Behaviour {
        fail_all: true,
        ..Behaviour::default()
    });
    assert_eq!(sell_out(&server, 1, 900).await, 1);
    tokio::time::sleep(Duration::from_secs(4)).await;
    let listed = server.get("/api/v1/admin/dead-letters", &admin).await;
    assert_eq!(listed.assert_ok(200).as_array().map(Vec::len), Some(0));
    assert!(
        platform.report().failed < 6 + 8,
        "attempts were not spent on an outage"
    );
    platform.set_behaviour(Behaviour::default());
    delivered(&platform, 51, Duration::from_secs(30)).await;

    // A platform that answers but keeps refusing the event: a poison
    // message, dead-lettered.
    platform.set_behaviour(Behaviour {
        refuse_all: true,
        ..Behaviour::default()
    });
    assert_eq!(sell_out(&server, 1, 1_000).await, 1);
    let deadline = Instant::now() + Duration::from_secs(30);
    let letter = loop {
        let listed = server.get("/api/v1/admin/dead-letters", &admin).await;
        if let Some(letter) = listed.assert_ok(200).as_array().and_then(|l| l.first()) {
            break letter.clone();
        }
        assert!(Instant::now() < deadline, "no dead letter");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(letter["eventType"], "ReservationConfirmed");
    assert_eq!(letter["attempts"], 8);
    assert_eq!(letter["consumer"], "boxoffice.dataplatform");
    assert!(
        letter["lastError"]
            .as_str()
            .is_some_and(|e| e.contains("500")),
        "{letter}"
    );
    assert!(letter["replayedAt"].is_null());
    let replay = format!("/api/v1/admin/dead-letters/{}/replay", letter["id"]);

    // Replaying while the platform still fails keeps the letter.
    let refused = server.post(&replay, &admin, serde_json::json!({})).await;
    refused.assert_error(502, "DELIVERY_FAILED");
    server
        .post(&replay, &[], serde_json::json!({}))
        .await
        .assert_error(401, "ADMIN_KEY_INVALID");

    platform.set_behaviour(Behaviour::default());
    let replayed = server.post(&replay, &admin, serde_json::json!({})).await;
    assert!(replayed.assert_ok(200)["replayedAt"].is_string());
    server
        .post(&replay, &admin, serde_json::json!({}))
        .await
        .assert_error(409, "DEAD_LETTER_ALREADY_REPLAYED");
    server
        .post(
            "/api/v1/admin/dead-letters/999999/replay",
            &admin,
            serde_json::json!({}),
        )
        .await
        .assert_error(404, "DEAD_LETTER_NOT_FOUND");
    let report = platform.report();
    assert_eq!(report.delivered.len(), 52, "{report:?}");
    assert_eq!(
        report.delivered.last().map(String::as_str),
        letter["eventId"].as_str()
    );
    assert_eq!(report.duplicates, 0);

    // Three more poison messages: listed a page at a time by filter, then
    // replayed in bulk, once.
    platform.set_behaviour(Behaviour {
        refuse_all: true,
        ..Behaviour::default()
    });
    assert_eq!(sell_out(&server, 3, 1_100).await, 3);
    let waiting = "/api/v1/admin/dead-letters?state=waiting&eventType=ReservationConfirmed";
    let deadline = Instant::now() + Duration::from_secs(60);
    while server
        .get(waiting, &admin)
        .await
        .assert_ok(200)
        .as_array()
        .map(Vec::len)
        != Some(3)
    {
        assert!(Instant::now() < deadline, "three dead letters");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut paged = Vec::new();
    let mut page = format!("{waiting}&limit=2");
    loop {
        let listed = server.get(&page, &admin).await.assert_ok(200).clone();
        let ids: Vec<i64> = listed
            .as_array()
            .map(|l| l.iter().filter_map(|d| d["id"].as_i64()).collect())
            .unwrap_or_default();
        let Some(last) = ids.last() else { break };
        page = format!("{waiting}&limit=2&before={last}");
        paged.extend(ids);
    }
    assert_eq!(paged.len(), 3, "two pages, nothing repeated: {paged:?}");
    assert!(paged.windows(2).all(|w| w[0] > w[1]), "newest first");
    let replayed_before = server
        .get("/api/v1/admin/dead-letters?state=replayed", &admin)
        .await
        .assert_ok(200)
        .clone();
    assert_eq!(replayed_before.as_array().map(Vec::len), Some(1));
    server
        .get("/api/v1/admin/dead-letters?state=lost", &admin)
        .await
        .assert_error(400, "VALIDATION_FAILED");
    server
        .get("/api/v1/admin/dead-letters?limit=1001", &admin)
        .await
        .assert_error(400, "VALIDATION_FAILED");

    let bulk = "/api/v1/admin/dead-letters/replay";
    let filter = serde_json::json!({"eventType": "ReservationConfirmed"});
    let failing = server
        .post(bulk, &admin, filter.clone())
        .await
        .assert_ok(200)
        .clone();
    assert_eq!(failing["replayed"], serde_json::json!([]));
    assert_eq!(
        failing["failed"].as_array().map(Vec::len),
        Some(3),
        "{failing}"
    );
    platform.set_behaviour(Behaviour::default());
    let done = server
        .post(bulk, &admin, filter.clone())
        .await
        .assert_ok(200)
        .clone();
    let mut oldest_first = paged.clone();
    oldest_first.reverse();
    assert_eq!(done["replayed"], serde_json::json!(oldest_first), "{done}");
    let again = server
        .post(bulk, &admin, filter)
        .await
        .assert_ok(200)
        .clone();
    assert_eq!(again["replayed"], serde_json::json!([]), "nothing twice");
    server
        .post(bulk, &admin, serde_json::json!({"limit": 0}))
        .await
        .assert_error(400, "VALIDATION_FAILED");
    server
        .post(bulk, &admin, serde_json::json!({"failedFrom": "yesterday"}))
        .await
        .assert_error(400, "VALIDATION_FAILED");
    let report = platform.report();
    assert_eq!(report.delivered.len(), 55, "{report:?}");
    assert_eq!(report.duplicates, 0);
    stop.cancel();
    let _ = tokio::join!(relay, consumer);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn through_kafka_failures_are_retried_and_dead_letters_replayed() {
    let broker = Broker::start().await;
    failures_are_retried_and_dead_letters_replayed(Some(&broker)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn in_process_failures_are_retried_and_dead_letters_replayed() {
    failures_are_retried_and_dead_letters_replayed(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_outbox_lag_is_exposed_as_a_metric() {
    let (_platform, url) = platform().await;
    let server = server(&settings(None, &url).await).await;
    assert_eq!(sell_out(&server, 2, 1).await, 2);
    let text = server
        .http
        .get(format!("{}/metrics", server.base))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    // Two charges, two sales and the room's change wait: no relay runs in this test.
    assert!(text.contains("boxoffice_outbox_unpublished 5\n"), "{text}");
    assert!(text.contains("boxoffice_outbox_lag_seconds "), "{text}");
    let admin = [("X-Admin-Key", crate::harness::ADMIN_KEY)];
    let outbox = server.get("/api/v1/admin/outbox", &admin).await;
    assert_eq!(outbox.assert_ok(200)["unpublished"], 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn queue_entries_through_kafka_are_placed_and_admitted_in_topic_order() {
    use boxoffice_core::ports::Subscription;
    use boxoffice_server::config::QueueEntry;
    use futures::StreamExt;

    let broker = Broker::start().await;
    let (_platform, url) = platform().await;
    let mut s = settings(Some(&broker), &url).await;
    s.queue.entry = QueueEntry::Kafka;
    s.queue.admit_batch = 100;
    let server = server(&s).await;
    let stop = CancellationToken::new();
    let entries = tokio::spawn(consumers::admit_queue_entries(
        server.app.clone(),
        server.feed.queue_entries().expect("subscription"),
        Duration::ZERO,
        stop.clone(),
    ));

    // 1,000 fans ask at once; each gets a WAITING token with no position yet.
    let issued: Vec<(i64, String)> = futures::stream::iter(1..=1_000_i64)
        .map(|user| {
            let server = &server;
            async move {
                let reply = server.issue_token(user, 1).await;
                let data = reply.assert_ok(201);
                assert_eq!(data["status"], "WAITING", "{data}");
                let token = data["token"].as_str().expect("token").to_owned();
                (user, token)
            }
        })
        .buffer_unordered(64)
        .collect()
        .await;

    // The topic's order, read by a group of the test's own.
    let kafka = boxoffice_server::wiring::kafka_settings(&s);
    let mut reader = boxoffice_kafka::KafkaSubscription::new(
        &kafka,
        &format!("test-reader-{}", uuid::Uuid::new_v4().simple()),
        &kafka.queue_entered.name,
    )
    .expect("reader");
    let mut topic_order = Vec::with_capacity(1_000);
    let deadline = Instant::now() + Duration::from_secs(60);
    while topic_order.len() < 1_000 {
        assert!(
            Instant::now() < deadline,
            "only {} records",
            topic_order.len()
        );
        if let Some(record) = reader.next().await.expect("record") {
            let body: serde_json::Value =
                serde_json::from_str(&record.event.payload).expect("payload");
            // The record names the ticket's id, never the signed ticket.
            let id = body["ticketId"].as_str().expect("ticket id");
            assert_eq!(id.len(), 32, "{body}");
            assert!(body.get("token").is_none(), "{body}");
            topic_order.push(id.to_owned());
        }
    }

    // Every token gets a position once consumed; the line is the topic.
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut line = vec![String::new(); 1_000];
    for (_, token) in &issued {
        let position = loop {
            let polled = server.poll(token).await;
            if let Some(p) = polled.assert_ok(200)["position"].as_u64() {
                break p;
            }
            assert!(Instant::now() < deadline, "{token} never got a position");
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        line[usize::try_from(position).expect("position") - 1] = ticket_id(token);
    }
    assert_eq!(line, topic_order, "the line's order is the topic's order");
    let ticket_of: std::collections::HashMap<String, String> = issued
        .iter()
        .map(|(_, ticket)| (ticket_id(ticket), ticket.clone()))
        .collect();
    let topic_order: Vec<String> = topic_order.iter().map(|id| ticket_of[id].clone()).collect();

    // Admission takes them in that order, 100 per round.
    for round in 0..10 {
        assert_eq!(server.admit().await, 100);
        let first = &topic_order[round * 100];
        let last = &topic_order[round * 100 + 99];
        assert_eq!(server.poll(first).await.assert_ok(200)["status"], "ACTIVE");
        assert_eq!(server.poll(last).await.assert_ok(200)["status"], "ACTIVE");
        if let Some(next) = topic_order.get(round * 100 + 100) {
            assert_eq!(server.poll(next).await.assert_ok(200)["status"], "WAITING");
        }
    }
    let invariants = server.app.check_invariants().await.expect("invariants");
    assert_eq!(invariants.admission_inversions, 0);
    stop.cancel();
    let _ = entries.await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn with_the_broker_unreachable_new_tokens_answer_503_until_it_returns() {
    use boxoffice_server::config::QueueEntry;

    let broker = Broker::behind_proxy().await;
    let (_platform, url) = platform().await;
    let mut s = settings(Some(&broker), &url).await;
    s.queue.entry = QueueEntry::Kafka;
    s.kafka.delivery_timeout_ms = 1_000;
    // The harness runs the queue-entry consumer and waits for positions.
    let server = server(&s).await;
    let first = server.issue_token(1, 1).await;
    let first = first.assert_ok(201)["token"]
        .as_str()
        .expect("token")
        .to_owned();

    broker.go_down().await;
    let ask = || async {
        server
            .fan(2)
            .post(
                "/api/v1/queue/tokens",
                &[],
                serde_json::json!({ "concertId": 1 }),
            )
            .await
    };
    ask().await.assert_error(503, "SERVICE_UNAVAILABLE");
    // A fan already in line keeps their place.
    assert_eq!(server.poll(&first).await.assert_ok(200)["position"], 1);

    broker.come_back();
    // Asking again publishes the entry again (the client reconnects first).
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let reply = ask().await;
        if reply.status.as_u16() == 201 {
            break;
        }
        reply.assert_error(503, "SERVICE_UNAVAILABLE");
        assert!(Instant::now() < deadline, "the broker never came back");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let placed = server.issue_token(2, 1).await;
    assert_eq!(placed.assert_ok(201)["position"], 2);
}

/// A payment's W3C `traceparent` and `x-request-id` ride its
/// `ReservationConfirmed` event from the request through the outbox, Kafka
/// (or the inbox) and the consumer to the platform's headers; a request
/// without them gets a trace of its own, also carried through.
async fn a_payment_s_trace_reaches_the_platform(broker: Option<&Broker>) {
    let (platform, url) = platform().await;
    let server = server(&settings(broker, &url).await).await;
    let stop = CancellationToken::new();
    let relay = relay(&server, &stop);
    let consumer = consumer(&server, &stop);
    const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let mut paid = Vec::new();
    for (user, seat, headers) in [
        (
            7_i64,
            1_i64,
            vec![
                ("traceparent", TRACEPARENT),
                ("x-request-id", "journey-7-pay"),
            ],
        ),
        (8, 2, vec![]),
    ] {
        let token = server.active_token(user).await;
        let schedule = server.first_schedule(&token).await;
        let hold = server.hold(&token, schedule, seat).await.assert_ok(201)["holdId"]
            .as_str()
            .expect("hold id")
            .to_owned();
        server.charge(user, 1_000_000).await.assert_ok(200);
        let reply = server
            .fan(user)
            .post(
                "/api/v1/payments",
                &headers,
                serde_json::json!({ "holdId": hold }),
            )
            .await;
        reply.assert_ok(201);
        let request_id = reply.headers["x-request-id"]
            .to_str()
            .expect("id")
            .to_owned();
        paid.push(request_id);
    }
    delivered(&platform, 2, Duration::from_secs(30)).await;
    if broker.is_some() {
        // librdkafka reports every second: the relay's producer and the group's lag.
        tokio::time::sleep(Duration::from_millis(2_500)).await;
        let metrics = server
            .http
            .get(format!("{}/metrics", server.base))
            .header("X-Admin-Key", crate::harness::ADMIN_KEY)
            .send()
            .await
            .expect("metrics")
            .text()
            .await
            .expect("text");
        assert!(
            metrics.contains("boxoffice_kafka_producer_queue_messages "),
            "{metrics}"
        );
        let delivered: f64 = metrics
            .lines()
            .find_map(|l| {
                l.strip_prefix("boxoffice_platform_deliveries_total{outcome=\"delivered\"} ")?
                    .parse()
                    .ok()
            })
            .unwrap_or_else(|| panic!("no delivered count in {metrics}"));
        assert!(delivered >= 2.0, "{delivered}");
        assert!(
            metrics
                .lines()
                .any(|l| l.starts_with("boxoffice_kafka_consumer_lag{")
                    && l.contains("group=\"boxoffice.dataplatform\"")),
            "{metrics}"
        );
    }
    stop.cancel();
    let _ = tokio::join!(relay, consumer);
    let report = platform.report();
    let traces: Vec<_> = report.traces.values().cloned().collect();
    assert_eq!(traces.len(), 2, "{report:?}");
    let traced = traces
        .iter()
        .find(|t| t.request_id == "journey-7-pay")
        .unwrap_or_else(|| panic!("the payment's request id did not arrive: {traces:?}"));
    assert_eq!(traced.traceparent, TRACEPARENT);
    let fresh = traces
        .iter()
        .find(|t| t.request_id == paid[1])
        .unwrap_or_else(|| panic!("the made-up request id did not arrive: {traces:?}"));
    let trace_id = fresh.traceparent.split('-').nth(1).expect("a trace id");
    assert_eq!(trace_id.len(), 32, "{fresh:?}");
    assert_ne!(fresh.traceparent, TRACEPARENT);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn through_kafka_a_payment_s_trace_and_request_id_reach_the_platform_and_the_clients_report_queue_and_lag()
 {
    let broker = Broker::start().await;
    a_payment_s_trace_reaches_the_platform(Some(&broker)).await;
}

/// Every connection to the broker is TLS with a client certificate (the
/// listener refuses a handshake without one), so the payment's event
/// reaching the platform shows `kafka.security_protocol = "ssl"` and its
/// files at work in the relay's producer and the consumer group alike.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn through_kafka_over_mutual_tls_a_payment_s_event_reaches_the_platform() {
    let certs = crate::tls::Certs::new();
    let broker = Broker::behind_tls(&certs).await;
    a_payment_s_trace_reaches_the_platform(Some(&broker)).await;
}

/// The broker's TLS listener refuses a client that does not trust its
/// certificate, and one that brings no certificate of its own: nothing is
/// published, and the publish says so (the relay keeps the event for a
/// later round). The same client with the right files publishes, so the
/// refusals are the handshake's. It goes first, so the topic exists when
/// the others try.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_tls_a_client_that_distrusts_the_broker_or_has_no_certificate_publishes_nothing() {
    use boxoffice_core::ports::EventBus;
    let certs = crate::tls::Certs::new();
    let stranger = crate::tls::Certs::new();
    let broker = Broker::behind_tls(&certs).await;
    let settings = |ca: String, cert: String, key: String| {
        let mut settings = test_settings();
        settings.kafka.brokers = broker.address();
        settings.kafka.security_protocol = boxoffice_server::config::KafkaSecurity::Ssl;
        settings.kafka.delivery_timeout_ms = 2_000;
        settings.kafka.ssl_ca_file = ca;
        settings.kafka.ssl_cert_file = cert;
        settings.kafka.ssl_key_file = key;
        settings.validate().expect("valid settings");
        boxoffice_server::wiring::kafka_settings(&settings)
    };
    let publisher = |kafka| boxoffice_kafka::KafkaPublisher::new(kafka, vec![]).expect("a client");
    let event = crate::tls::an_event();
    // The right files: the topic is made and the event goes out, over TLS.
    let trusted = settings(
        certs.path("ca.pem"),
        certs.path("client.pem"),
        certs.path("client.key"),
    );
    boxoffice_kafka::ensure_topics(&trusted, &[])
        .await
        .expect("topics made over TLS");
    let deadline = Instant::now() + Duration::from_secs(20);
    while let Err(err) = publisher(trusted.clone()).publish(&event).await {
        assert!(
            Instant::now() < deadline,
            "the trusted client failed: {err:#}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The same broker and topic, refused at the handshake.
    let distrusting = publisher(settings(
        stranger.path("ca.pem"),
        certs.path("client.pem"),
        certs.path("client.key"),
    ));
    assert!(
        distrusting.publish(&event).await.is_err(),
        "published while trusting another CA"
    );
    let anonymous = publisher(settings(certs.path("ca.pem"), String::new(), String::new()));
    assert!(
        anonymous.publish(&event).await.is_err(),
        "published without a client certificate"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn in_process_a_payment_s_trace_and_request_id_reach_the_platform() {
    a_payment_s_trace_reaches_the_platform(None).await;
}
