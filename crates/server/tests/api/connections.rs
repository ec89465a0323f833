//! The listener against slow and greedy clients, over raw sockets: headers
//! that never end, bodies that never arrive, idle keep-alive connections,
//! and more connections than the cap.

use crate::harness::{Server, spawn_with};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn connect(s: &Server) -> TcpStream {
    TcpStream::connect(s.base.trim_start_matches("http://"))
        .await
        .unwrap()
}

/// Reads one whole answer (headers and a `content-length` body), or what
/// came before the server closed; empty when it closed without a word.
async fn read_answer(stream: &mut TcpStream) -> String {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let read = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut chunk))
            .await
            .expect("an answer or a close within 10 s");
        match read {
            Ok(0) | Err(_) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
        let text = String::from_utf8_lossy(&buf);
        if let Some(end) = text.find("\r\n\r\n") {
            let length = text[..end]
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length: ")
                        .map(str::to_owned)
                })
                .and_then(|l| l.trim().parse::<usize>().ok());
            if length.is_some_and(|length| buf.len() >= end + 4 + length) {
                break;
            }
        }
    }
    String::from_utf8_lossy(&buf).into_owned()
}

/// Waits until the server closes `stream`; how long that took.
async fn closed_after(stream: &mut TcpStream) -> Duration {
    let began = Instant::now();
    let mut chunk = [0u8; 256];
    loop {
        let read = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut chunk))
            .await
            .expect("the server closes the connection within 10 s");
        if matches!(read, Ok(0) | Err(_)) {
            return began.elapsed();
        }
    }
}

const LIVE: &[u8] = b"GET /health/live HTTP/1.1\r\nhost: test\r\n\r\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn headers_that_never_end_and_idle_keep_alive_connections_are_closed_while_others_are_served()
{
    let s = spawn_with(|s| s.server.header_read_timeout_ms = 400).await;
    let mut slow = connect(&s).await;
    slow.write_all(b"GET /health/live HTTP/1.1\r\nhost: test\r\n")
        .await
        .unwrap();
    let mut idle = connect(&s).await;
    idle.write_all(LIVE).await.unwrap();
    assert!(read_answer(&mut idle).await.starts_with("HTTP/1.1 200"));
    // Meanwhile another client is served at once.
    let began = Instant::now();
    let live = s.http.get(format!("{}/health/live", s.base)).send().await;
    assert_eq!(live.unwrap().status().as_u16(), 200);
    assert!(began.elapsed() < Duration::from_millis(300));
    let (slow_closed, idle_closed) = (closed_after(&mut slow).await, closed_after(&mut idle).await);
    assert!(slow_closed < Duration::from_secs(3), "{slow_closed:?}");
    assert!(idle_closed < Duration::from_secs(3), "{idle_closed:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_never_arrives_is_answered_408_in_the_envelope_and_charges_nothing() {
    let s = spawn_with(|s| s.server.body_read_timeout_ms = 300).await;
    let mut stream = connect(&s).await;
    let head = format!(
        "POST /api/v1/balance/charge HTTP/1.1\r\nhost: test\r\ncontent-type: application/json\r\n\
         authorization: Bearer {}\r\ncontent-length: 13\r\n\r\n{{\"amo",
        s.access_token(1)
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let began = Instant::now();
    let answer = read_answer(&mut stream).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("\"code\":\"REQUEST_TIMEOUT\""), "{answer}");
    assert!(began.elapsed() < Duration::from_secs(3));
    assert_eq!(s.balance(1).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_the_cap_sockets_that_never_send_a_request_make_room_and_busy_ones_get_a_quick_503() {
    const CAP: usize = 20;
    let s = spawn_with(|s| {
        s.server.max_connections = CAP as u32;
        s.server.header_read_timeout_ms = 60_000;
    })
    .await;
    // Ten times the cap in sockets that never finish their headers.
    let mut slow = Vec::new();
    for _ in 0..CAP * 10 {
        let mut stream = connect(&s).await;
        stream.write_all(b"GET / HTTP/1.1\r\n").await.unwrap();
        slow.push(stream);
    }
    // A client that sends a whole request is still served: the oldest
    // unfinished sockets were closed to make room.
    let mut served = connect(&s).await;
    served.write_all(LIVE).await.unwrap();
    assert!(read_answer(&mut served).await.starts_with("HTTP/1.1 200"));
    drop(served);

    // Connections that each sent a request and stay open are not closed
    // for a newcomer: once the cap is all of them, the next is told so.
    let mut statuses = Vec::new();
    let mut kept = Vec::new();
    for _ in 0..CAP + 5 {
        let mut stream = connect(&s).await;
        stream.write_all(LIVE).await.unwrap();
        let answer = read_answer(&mut stream).await;
        let refused = answer.starts_with("HTTP/1.1 503");
        statuses.push(answer);
        kept.push(stream);
        if refused {
            break;
        }
    }
    let refused = statuses.last().unwrap();
    assert!(refused.starts_with("HTTP/1.1 503"), "{statuses:?}");
    assert!(refused.contains("retry-after: 1"), "{refused}");
    assert!(
        refused.contains("\"code\":\"SERVICE_UNAVAILABLE\""),
        "{refused}"
    );
    let served = statuses
        .iter()
        .filter(|a| a.starts_with("HTTP/1.1 200"))
        .count();
    // The earlier client's connection may still count for a moment.
    assert!(
        (CAP - 1..=CAP).contains(&served),
        "{served} served before the refusal"
    );
    assert!(slow.len() == CAP * 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_uri_and_a_bloated_head_are_refused_in_the_envelope_and_charge_nothing() {
    let s = spawn_with(|_| {}).await;
    let charge = |query: &str| {
        s.http
            .post(format!("{}/api/v1/balance/charge{query}", s.base))
            .bearer_auth(s.access_token(1))
            .json(&serde_json::json!({ "amount": 5_000 }))
    };
    let refused = |answer: reqwest::Response| async move {
        let status = answer.status().as_u16();
        let body: serde_json::Value = answer.json().await.unwrap();
        (status, body["code"].as_str().unwrap_or_default().to_owned())
    };
    // Just under 8 KiB of path and query is read; just over is not.
    let under = format!("?pad={}", "x".repeat(8 * 1024 - 100));
    let answered = charge(&under).send().await.unwrap();
    assert_eq!(answered.status().as_u16(), 200);
    let over = format!("?pad={}", "x".repeat(8 * 1024));
    let answer = charge(&over).send().await.unwrap();
    assert_eq!(refused(answer).await, (414, "URI_TOO_LONG".to_owned()));
    // More than 100 header fields.
    let mut many = charge("");
    for i in 0..120 {
        many = many.header(format!("x-pad-{i}"), "1");
    }
    let answer = many.send().await.unwrap();
    assert_eq!(refused(answer).await, (431, "HEADERS_TOO_LARGE".to_owned()));
    // Few fields, but more than 32 KiB of them.
    let answer = charge("")
        .header("x-pad", "y".repeat(40 * 1024))
        .send()
        .await
        .unwrap();
    assert_eq!(refused(answer).await, (431, "HEADERS_TOO_LARGE".to_owned()));
    // Only the first charge, the one under every limit, was made.
    assert_eq!(s.balance(1).await, 5_000);
}
