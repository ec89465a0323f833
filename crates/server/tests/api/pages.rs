//! The browser pages as files (what they do is the browser tests' part,
//! `tests/browser/`), the samples behind the console's charts, and the
//! admin key the embedded mode makes for the console.

use crate::harness::{ADMIN_KEY, spawn, spawn_with};
use reqwest::StatusCode;
use reqwest::header::{CONTENT_SECURITY_POLICY, CONTENT_TYPE, ETAG, IF_NONE_MATCH};
use serde_json::{Value, json};

#[tokio::test]
async fn the_pages_and_their_assets_are_served_under_a_strict_policy_and_revalidated_by_etag() {
    let s = spawn().await;
    let get = |path: &str| s.http.get(format!("{}{path}", s.base)).send();
    for (path, kind) in [
        ("/", "text/html; charset=utf-8"),
        ("/admin", "text/html; charset=utf-8"),
        ("/assets/app.js", "text/javascript; charset=utf-8"),
        ("/assets/admin.js", "text/javascript; charset=utf-8"),
        ("/assets/style.css", "text/css; charset=utf-8"),
    ] {
        let answer = get(path).await.unwrap();
        assert_eq!(answer.status(), StatusCode::OK, "{path}");
        assert_eq!(answer.headers()[CONTENT_TYPE], kind, "{path}");
        let policy = answer.headers()[CONTENT_SECURITY_POLICY].to_str().unwrap();
        assert!(policy.contains("script-src 'self';"), "{policy}");
        assert!(policy.contains("connect-src 'self';"), "{policy}");
        assert!(policy.contains("frame-ancestors 'none'"), "{policy}");
    }
    let page = get("/").await.unwrap().text().await.unwrap();
    assert!(
        page.contains(r#"<script type="module" src="/assets/"#),
        "{page}"
    );

    let first = get("/assets/app.js").await.unwrap();
    let etag = first.headers()[ETAG].clone();
    let again = s
        .http
        .get(format!("{}/assets/app.js", s.base))
        .header(IF_NONE_MATCH, etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    assert!(again.bytes().await.unwrap().is_empty());

    for missing in [
        "/assets/nothing.js",
        "/assets/../Cargo.toml",
        "/assets//app.js",
    ] {
        let answer = get(missing).await.unwrap();
        assert_eq!(answer.status(), StatusCode::NOT_FOUND, "{missing}");
        let body: Value = answer.json().await.unwrap();
        assert_eq!(body["code"], "NOT_FOUND", "{missing}");
    }
}

#[tokio::test]
async fn samples_chart_a_sale_from_the_kept_samples_up_to_now() {
    let s = spawn().await;
    assert!(s.app.sample_sales_if_due().await.unwrap());
    let pass = s.active_pass(7).await;
    let schedule = s.first_schedule(&pass).await;
    s.charge(7, 500_000).await.assert_ok(200);
    let hold = s.hold(&pass, schedule, 1).await;
    let hold = hold.assert_ok(201).clone();
    s.pay(7, hold["holdId"].as_str().unwrap(), None)
        .await
        .assert_ok(201);
    s.issue_token(8, 1).await.assert_ok(201);
    s.clock.advance_secs(10);
    assert!(s.app.sample_sales_if_due().await.unwrap());
    s.clock.advance_secs(3);

    let answer = s
        .get(
            "/api/v1/admin/concerts/1/samples?minutes=5",
            &[("X-Admin-Key", ADMIN_KEY)],
        )
        .await;
    let body = answer.assert_ok(200);
    assert_eq!(body["concertId"], 1);
    assert_eq!(body["intervalSecs"], 10);
    let samples = body["samples"].as_array().unwrap();
    assert_eq!(samples.len(), 3, "two kept, one taken now: {samples:?}");
    let before = &samples[0];
    assert_eq!(
        (
            &before["seatsSold"],
            &before["revenue"],
            &before["admittedTotal"]
        ),
        (&json!(0), &json!(0), &json!(0))
    );
    assert_eq!(before["seatsAvailable"], 150);
    let now = &samples[2];
    assert_eq!(now["seatsSold"], 1);
    assert_eq!(now["seatsAvailable"], 149);
    assert_eq!(now["revenue"], hold["price"]);
    assert_eq!(now["admittedTotal"], 1);
    assert_eq!((&now["waiting"], &now["active"]), (&json!(1), &json!(0)));
    let instants: Vec<&str> = samples.iter().map(|x| x["at"].as_str().unwrap()).collect();
    assert!(instants.windows(2).all(|w| w[0] < w[1]), "{instants:?}");
}

#[tokio::test]
async fn samples_refuse_a_bad_window_an_unknown_concert_and_a_caller_without_the_key() {
    let s = spawn().await;
    let admin = [("X-Admin-Key", ADMIN_KEY)];
    for query in ["minutes=0", "minutes=10081", "minutes=soon", "since=1"] {
        s.get(&format!("/api/v1/admin/concerts/1/samples?{query}"), &admin)
            .await
            .assert_error(400, "VALIDATION_FAILED");
    }
    s.get("/api/v1/admin/concerts/99/samples", &admin)
        .await
        .assert_error(404, "CONCERT_NOT_FOUND");
    s.get("/api/v1/admin/concerts/0/samples", &admin)
        .await
        .assert_error(400, "INVALID_PATH_PARAMETER");
    s.get("/api/v1/admin/concerts/1/samples", &[])
        .await
        .assert_error(401, "ADMIN_KEY_INVALID");
}

#[tokio::test]
async fn the_embedded_mode_makes_an_admin_key_beside_its_database_and_takes_only_it() {
    let s = spawn_with(|c| c.admin.api_key = String::new()).await;
    let key = std::fs::read_to_string(s.data_dir().join("admin.key")).unwrap();
    assert!(key.len() >= 64, "a long random key: {key}");
    s.get("/api/v1/admin/invariants", &[("X-Admin-Key", &key)])
        .await
        .assert_ok(200);
    s.get("/api/v1/admin/invariants", &[("X-Admin-Key", ADMIN_KEY)])
        .await
        .assert_error(401, "ADMIN_KEY_INVALID");
}

#[tokio::test]
async fn the_consoles_concert_list_is_the_catalog_and_needs_the_key() {
    let s = spawn().await;
    let public = s.get("/api/v1/concerts", &[]).await;
    let listed = s
        .get("/api/v1/admin/concerts", &[("X-Admin-Key", ADMIN_KEY)])
        .await;
    assert_eq!(listed.assert_ok(200), public.assert_ok(200));
    assert_eq!(listed.data().as_array().unwrap().len(), 3);
    s.get("/api/v1/admin/concerts", &[])
        .await
        .assert_error(401, "ADMIN_KEY_INVALID");
}
