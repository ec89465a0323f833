//! OTLP export (built with `--features otlp`): a real `boxoffice` process
//! sends its request spans to a collector, as children of the caller's
//! `traceparent`, stamps the events a request writes with that request's
//! own span, and flushes the spans when it stops.

// A failed expectation in a helper is a failed test: panicking is the point.
#![allow(clippy::expect_used)]

use axum::body::Bytes;
use axum::routing::post;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The caller's trace and span, as a gateway in front would send them.
const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN: &str = "00f067aa0ba902b7";

fn bytes_of(hex: &str) -> Vec<u8> {
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex"))
        .collect()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_spans_reach_the_collector_as_children_of_the_callers_trace_and_events_name_the_request_span()
 {
    // A collector that keeps every body POSTed to /v1/traces.
    let received: Arc<Mutex<Vec<Bytes>>> = Arc::default();
    let kept = received.clone();
    let collector = axum::Router::new().route(
        "/v1/traces",
        post(move |body: Bytes| {
            let kept = kept.clone();
            async move {
                kept.lock().expect("lock").push(body);
                ""
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let endpoint = format!("http://{}/v1/traces", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, collector).await });

    let dir = tempfile::tempdir().expect("temp dir");
    let port = free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_boxoffice"))
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .current_dir(dir.path())
        .env(
            "BOXOFFICE__DATABASE__URL",
            format!("sqlite://{}", dir.path().join("otlp.db").display()),
        )
        .env("BOXOFFICE__LOG__OTLP_ENDPOINT", &endpoint)
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .spawn()
        .expect("start boxoffice");
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let started = Instant::now();
    loop {
        if let Ok(r) = http.get(format!("{base}/health/ready")).send().await
            && r.status().is_success()
        {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "boxoffice did not become ready"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let concerts = http
        .get(format!("{base}/api/v1/concerts"))
        .header("traceparent", format!("00-{TRACE_ID}-{CALLER_SPAN}-01"))
        .send()
        .await
        .expect("concerts");
    assert_eq!(concerts.status().as_u16(), 200);
    // A charge writes an event: its traceparent is passed on to the relay.
    let session: serde_json::Value = http
        .post(format!("{base}/api/v1/dev/sessions"))
        .json(&serde_json::json!({ "userId": 41 }))
        .send()
        .await
        .expect("sign in")
        .json()
        .await
        .expect("session");
    let bearer = session["data"]["accessToken"]
        .as_str()
        .expect("an access token");
    let charged = http
        .post(format!("{base}/api/v1/balance/charge"))
        .bearer_auth(bearer)
        .header("traceparent", format!("00-{TRACE_ID}-{CALLER_SPAN}-01"))
        .json(&serde_json::json!({ "amount": 10_000 }))
        .send()
        .await
        .expect("charge");
    assert_eq!(charged.status().as_u16(), 200);

    // Stopped at once, the process must still send what it batched.
    let stopped = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(stopped.success());
    let exit = child.wait().expect("wait");
    assert!(exit.success(), "boxoffice stopped with {exit}");

    let bodies = received.lock().expect("lock").clone();
    assert!(!bodies.is_empty(), "nothing reached the collector");
    let all: Vec<u8> = bodies.iter().flat_map(|b| b.to_vec()).collect();
    // The protobuf carries ids as raw bytes: the request span is in the
    // caller's trace, with the caller's span as its parent, and is named
    // after the request.
    assert!(contains(&all, &bytes_of(TRACE_ID)), "no span of the trace");
    assert!(
        contains(&all, &bytes_of(CALLER_SPAN)),
        "no span with the caller's span as parent"
    );
    assert!(contains(&all, b"/api/v1/concerts"), "no request span");
    assert!(contains(&all, b"boxoffice"), "no service name");

    // The charge's event names the charge's own exported span, in the
    // caller's trace, not the caller's span.
    let db = sqlx::SqlitePool::connect(&format!(
        "sqlite://{}",
        dir.path().join("otlp.db").display()
    ))
    .await
    .expect("open the database");
    let stamped: Vec<String> =
        sqlx::query_scalar("SELECT traceparent FROM outbox WHERE traceparent IS NOT NULL")
            .fetch_all(&db)
            .await
            .expect("outbox rows");
    let [traceparent] = stamped.as_slice() else {
        panic!("one event should carry a trace: {stamped:?}")
    };
    let fields: Vec<&str> = traceparent.split('-').collect();
    assert_eq!(fields[1], TRACE_ID, "{traceparent}");
    assert_ne!(fields[2], CALLER_SPAN, "{traceparent}");
    assert!(
        contains(&all, &bytes_of(fields[2])),
        "the event's parent {} is not an exported span",
        fields[2]
    );
}
