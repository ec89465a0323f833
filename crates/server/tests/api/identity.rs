//! Who is calling, over HTTP: access tokens refused on every fan endpoint,
//! the keys identity providers publish (a JWKS with two keys and a
//! rotation, an Ed25519 PEM key), the trusted-header mode with every
//! earlier call unchanged, the development sign-in, and admins.

use crate::harness::{
    ADMIN_KEY, JWT_SECRET, Reply, Server, spawn_cluster, spawn_with, start, test_settings,
};
use boxoffice_core::ports::Clock;
use boxoffice_server::config::{AuthModeSetting, DevSignIn};
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use reqwest::Method;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn key_file(name: &str) -> String {
    format!("{}/../auth/test-keys/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn private_key(name: &str) -> EncodingKey {
    let pem = std::fs::read(key_file(name)).unwrap();
    match name {
        n if n.starts_with("ed25519") => EncodingKey::from_ed_pem(&pem).unwrap(),
        _ => EncodingKey::from_rsa_pem(&pem).unwrap(),
    }
}

fn now_secs(s: &Server) -> i64 {
    s.clock.now().as_millis() / 1000
}

/// An access token for `claims`, as an identity provider would sign it.
fn signed(alg: Algorithm, kid: Option<&str>, key: &EncodingKey, claims: &Value) -> String {
    let mut header = Header::new(alg);
    header.kid = kid.map(str::to_owned);
    encode(&header, claims, key).unwrap()
}

fn claims(s: &Server, sub: &str) -> Value {
    json!({ "sub": sub, "iss": "https://id.test", "aud": "boxoffice", "exp": now_secs(s) + 600 })
}

/// A request to make: method, path, headers besides the identity, body.
type Endpoint = (Method, String, Vec<(&'static str, String)>, Option<Value>);

/// Every fan endpoint, with what each needs besides the identity.
fn fan_endpoints(ticket: &str, pass: &str, schedule: i64, hold: &str) -> Vec<Endpoint> {
    let q = |t: &str| vec![("Queue-Token", t.to_owned())];
    vec![
        (
            Method::POST,
            "/api/v1/queue/tokens".into(),
            vec![],
            Some(json!({ "concertId": 1 })),
        ),
        (
            Method::POST,
            "/api/v1/queue/challenges".into(),
            vec![],
            Some(json!({ "concertId": 1 })),
        ),
        (
            Method::GET,
            "/api/v1/queue/tokens/current".into(),
            q(ticket),
            None,
        ),
        (
            Method::GET,
            "/api/v1/concerts/1/schedules".into(),
            q(pass),
            None,
        ),
        (
            Method::GET,
            format!("/api/v1/schedules/{schedule}/seats"),
            q(pass),
            None,
        ),
        (
            Method::POST,
            "/api/v1/holds".into(),
            q(pass),
            Some(json!({ "scheduleId": schedule, "seatNumber": 2 })),
        ),
        (
            Method::DELETE,
            format!("/api/v1/holds/{hold}"),
            vec![],
            None,
        ),
        (
            Method::POST,
            "/api/v1/payments".into(),
            vec![],
            Some(json!({ "holdId": hold })),
        ),
        (Method::GET, "/api/v1/balance".into(), vec![], None),
        (
            Method::POST,
            "/api/v1/balance/charge".into(),
            vec![],
            Some(json!({ "amount": 1_000 })),
        ),
        (Method::GET, "/api/v1/reservations".into(), vec![], None),
    ]
}

async fn call_with(s: &Server, endpoint: &Endpoint, authorization: Option<&str>) -> Reply {
    let (method, path, extra, body) = endpoint;
    let mut headers: Vec<(&str, &str)> = extra.iter().map(|(k, v)| (*k, v.as_str())).collect();
    if let Some(value) = authorization {
        headers.push(("Authorization", value));
    }
    s.call(method.clone(), path, &headers, body.clone()).await
}

#[tokio::test]
async fn every_fan_endpoint_refuses_a_missing_forged_expired_misaddressed_or_confused_token_and_changes_nothing()
 {
    let s = spawn_with(|c| {
        c.auth.issuer = "https://id.test".into();
        c.auth.audience = "boxoffice".into();
        // An RS256 key too, for the algorithm-confusion attempt.
        c.auth.public_key_file = key_file("rsa-a.pub.pem");
    })
    .await;
    // Fan 1: admitted, charged, holding seat 1.
    let ticket = s.active_token(1).await;
    let pass = s.poll(&ticket).await.data()["admissionPass"]
        .as_str()
        .unwrap()
        .to_owned();
    let schedule = s.first_schedule(&ticket).await;
    s.charge(1, 200_000).await.assert_ok(200);
    let hold = s.hold(&pass, schedule, 1).await.assert_ok(201)["holdId"]
        .as_str()
        .unwrap()
        .to_owned();

    let secs = now_secs(&s);
    let hs = |claims: &Value, secret: &[u8]| {
        signed(
            Algorithm::HS256,
            None,
            &EncodingKey::from_secret(secret),
            claims,
        )
    };
    let good = claims(&s, "1");
    let mut expired = good.clone();
    expired["exp"] = json!(secs - 31);
    let mut wrong_issuer = good.clone();
    wrong_issuer["iss"] = json!("https://evil.test");
    let mut wrong_audience = good.clone();
    wrong_audience["aud"] = json!("another-service");
    let payload = hs(&good, JWT_SECRET.as_bytes())
        .split('.')
        .nth(1)
        .unwrap()
        .to_owned();
    let rsa_public = std::fs::read(key_file("rsa-a.pub.pem")).unwrap();
    let refusals: Vec<(String, Option<String>, &str)> = vec![
        ("no token".into(), None, "AUTH_REQUIRED"),
        (
            "not bearer".into(),
            Some(format!("Basic {}", "dXNlcjpwYXNz")),
            "AUTH_INVALID",
        ),
        (
            "another secret".into(),
            Some(hs(&good, b"someone-else's-secret-0123456789abc")),
            "AUTH_INVALID",
        ),
        (
            "expired".into(),
            Some(hs(&expired, JWT_SECRET.as_bytes())),
            "AUTH_EXPIRED",
        ),
        (
            "wrong issuer".into(),
            Some(hs(&wrong_issuer, JWT_SECRET.as_bytes())),
            "AUTH_INVALID",
        ),
        (
            "wrong audience".into(),
            Some(hs(&wrong_audience, JWT_SECRET.as_bytes())),
            "AUTH_INVALID",
        ),
        (
            "alg none".into(),
            Some(format!("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{payload}.")),
            "AUTH_INVALID",
        ),
        (
            "HS256 signed with the RSA public key".into(),
            Some(hs(&good, &rsa_public)),
            "AUTH_INVALID",
        ),
    ];
    let endpoints = fan_endpoints(&ticket, &pass, schedule, &hold);
    for (what, token, code) in &refusals {
        let authorization = token.as_ref().map(|t| {
            if t.starts_with("Basic ") {
                t.clone()
            } else {
                format!("Bearer {t}")
            }
        });
        for endpoint in &endpoints {
            let reply = call_with(&s, endpoint, authorization.as_deref()).await;
            assert_eq!(
                reply.status.as_u16(),
                401,
                "{what} on {} {}: {:?}",
                endpoint.0,
                endpoint.1,
                reply.body
            );
            assert_eq!(
                reply.body["code"], *code,
                "{what} on {} {}",
                endpoint.0, endpoint.1
            );
            let challenge = reply
                .headers
                .get("www-authenticate")
                .map(|v| v.to_str().unwrap().to_owned());
            assert!(
                challenge
                    .as_deref()
                    .is_some_and(|c| c.starts_with("Bearer")),
                "{what}: {challenge:?}"
            );
        }
    }
    // The genuine token is accepted: the refusals were about the tokens.
    let fine = call_with(
        &s,
        &endpoints[8],
        Some(&format!("Bearer {}", hs(&good, JWT_SECRET.as_bytes()))),
    )
    .await;
    assert_eq!(fine.assert_ok(200)["balance"], 200_000);
    // Nothing changed: the balance, the hold, the seats, the sales, the token.
    assert_eq!(s.balance(1).await, 200_000);
    assert_eq!(s.seat_status(&pass, schedule, 1).await, "HELD");
    assert_eq!(s.seat_status(&pass, schedule, 2).await, "AVAILABLE");
    assert!(s.reservations(1).await.is_empty());
    assert_eq!(s.poll(&ticket).await.data()["status"], "ACTIVE");
}

/// A JWKS document served over HTTP, swappable mid-test.
struct IdentityProvider {
    url: String,
    jwks: Arc<Mutex<Value>>,
}

impl IdentityProvider {
    async fn start(keys: &[(&str, &str)]) -> Self {
        let jwks = Arc::new(Mutex::new(Self::document(keys)));
        let shared = jwks.clone();
        let app = axum::Router::new().route(
            "/certs",
            axum::routing::get(move || {
                let doc = shared.lock().unwrap().clone();
                async move { axum::Json(doc) }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/certs", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { url, jwks }
    }

    /// A JWKS of the RSA test keys `(kid, file)`.
    fn document(keys: &[(&str, &str)]) -> Value {
        let keys: Vec<Jwk> = keys
            .iter()
            .map(|(kid, file)| {
                let mut jwk = Jwk::from_encoding_key(&private_key(file), Algorithm::RS256).unwrap();
                jwk.common.key_id = Some((*kid).to_owned());
                jwk
            })
            .collect();
        json!({ "keys": keys })
    }

    fn publish(&self, keys: &[(&str, &str)]) {
        *self.jwks.lock().unwrap() = Self::document(keys);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_jwks_url_serves_two_keys_picks_them_by_kid_and_follows_a_rotation() {
    let idp = IdentityProvider::start(&[("2026-a", "rsa-a.key.pem")]).await;
    let url = idp.url.clone();
    let s = spawn_with(move |c| {
        c.auth.jwks_url = url;
        c.auth.jwks_refresh_secs = 1;
        // The identity provider's keys only.
        c.auth.hs256_secret = String::new();
        c.auth.dev_sign_in = DevSignIn::Off;
    })
    .await;
    let balance = |key: &'static str, kid: &'static str| {
        let token = signed(
            Algorithm::RS256,
            Some(kid),
            &private_key(key),
            &json!({ "sub": "42", "exp": now_secs(&s) + 600 }),
        );
        let s = &s;
        async move {
            s.get(
                "/api/v1/balance",
                &[("Authorization", &format!("Bearer {token}"))],
            )
            .await
        }
    };
    balance("rsa-a.key.pem", "2026-a").await.assert_ok(200);
    // The provider adds a second key: a token naming it makes the service fetch the JWKS again.
    idp.publish(&[("2026-a", "rsa-a.key.pem"), ("2026-b", "rsa-b.key.pem")]);
    balance("rsa-b.key.pem", "2026-b").await.assert_ok(200);
    balance("rsa-a.key.pem", "2026-a").await.assert_ok(200);
    // A key signing under the other's kid is no key of its own.
    balance("rsa-b.key.pem", "2026-a")
        .await
        .assert_error(401, "AUTH_INVALID");
    // The old key is retired: within a refresh, its tokens stop working; the new one goes on.
    idp.publish(&[("2026-b", "rsa-b.key.pem")]);
    let retired = Instant::now();
    loop {
        let reply = balance("rsa-a.key.pem", "2026-a").await;
        if reply.status.as_u16() == 401 {
            reply.assert_error(401, "AUTH_INVALID");
            break;
        }
        assert!(
            retired.elapsed() < Duration::from_secs(5),
            "the retired key still works"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    balance("rsa-b.key.pem", "2026-b").await.assert_ok(200);
    // An HS256 token is refused: no secret was configured, whatever the JWKS holds.
    let hs = signed(
        Algorithm::HS256,
        None,
        &EncodingKey::from_secret(JWT_SECRET.as_bytes()),
        &json!({ "sub": "42", "exp": now_secs(&s) + 600 }),
    );
    s.get(
        "/api/v1/balance",
        &[("Authorization", &format!("Bearer {hs}"))],
    )
    .await
    .assert_error(401, "AUTH_INVALID");
}

#[tokio::test]
async fn an_ed25519_public_key_file_verifies_eddsa_tokens_and_string_subjects_get_their_own_ids() {
    let s = spawn_with(|c| c.auth.public_key_file = key_file("ed25519.pub.pem")).await;
    let token = |sub: &str| {
        let t = signed(
            Algorithm::EdDSA,
            None,
            &private_key("ed25519.key.pem"),
            &json!({ "sub": sub, "exp": now_secs(&s) + 600 }),
        );
        format!("Bearer {t}")
    };
    let keycloak = token("f47ac10b-58cc-4372-a567-0e02b2c3d479");
    let auth0 = token("auth0|5f7c8ec7c33c6c004bbafe82");
    let charge = |bearer: String, amount: i64| {
        let s = &s;
        async move {
            s.post(
                "/api/v1/balance/charge",
                &[("Authorization", &bearer)],
                json!({ "amount": amount }),
            )
            .await
        }
    };
    assert_eq!(
        charge(keycloak.clone(), 7_000).await.assert_ok(200)["balance"],
        7_000
    );
    assert_eq!(
        charge(auth0.clone(), 5_000).await.assert_ok(200)["balance"],
        5_000
    );
    // The same subject is the same fan on every call.
    assert_eq!(
        charge(keycloak, 1_000).await.assert_ok(200)["balance"],
        8_000
    );
    // The HS256 secret of the test servers is still accepted beside the key file.
    assert_eq!(s.balance(1).await, 0);
}

#[tokio::test]
async fn in_trusted_header_mode_every_earlier_call_works_unchanged() {
    let s = spawn_with(|c| c.auth.mode = AuthModeSetting::TrustedHeader).await;
    // The calls of the earlier walk-through, byte for byte: Client-Id, or the Queue-Token alone.
    let issued = s
        .post(
            "/api/v1/queue/tokens",
            &[("Client-Id", "1001")],
            json!({ "concertId": 1 }),
        )
        .await;
    let token = issued.assert_ok(201)["token"].as_str().unwrap().to_owned();
    s.admit().await;
    let polled = s
        .get("/api/v1/queue/tokens/current", &[("Queue-Token", &token)])
        .await;
    assert_eq!(polled.assert_ok(200)["status"], "ACTIVE");
    let dates = s
        .get("/api/v1/concerts/1/schedules", &[("Queue-Token", &token)])
        .await;
    let schedule = dates.assert_ok(200)[0]["scheduleId"].as_i64().unwrap();
    s.get(
        &format!("/api/v1/schedules/{schedule}/seats"),
        &[("Queue-Token", &token)],
    )
    .await
    .assert_ok(200);
    s.post(
        "/api/v1/balance/charge",
        &[("Client-Id", "1001"), ("Idempotency-Key", "c1")],
        json!({ "amount": 200_000 }),
    )
    .await
    .assert_ok(200);
    let hold = s
        .post(
            "/api/v1/holds",
            &[("Queue-Token", &token)],
            json!({ "scheduleId": schedule, "seatNumber": 7 }),
        )
        .await;
    let hold_id = hold.assert_ok(201)["holdId"].as_str().unwrap().to_owned();
    let paid = s
        .post(
            "/api/v1/payments",
            &[("Queue-Token", &token), ("Idempotency-Key", "p1")],
            json!({ "holdId": hold_id }),
        )
        .await;
    paid.assert_ok(201);
    assert_eq!(
        s.get("/api/v1/reservations", &[("Client-Id", "1001")])
            .await
            .assert_ok(200)
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        s.get("/api/v1/queue/tokens/current", &[("Queue-Token", &token)])
            .await
            .data()["status"],
        "EXPIRED"
    );
    // A gateway's Client-Id is checked against the ticket; two identities are refused.
    let other = s
        .post(
            "/api/v1/queue/tokens",
            &[("Client-Id", "1002")],
            json!({ "concertId": 1 }),
        )
        .await;
    let other = other.assert_ok(201)["token"].as_str().unwrap().to_owned();
    s.get(
        "/api/v1/queue/tokens/current",
        &[("Client-Id", "1001"), ("Queue-Token", &other)],
    )
    .await
    .assert_error(403, "QUEUE_TOKEN_NOT_YOURS");
    s.get(
        "/api/v1/balance",
        &[("Client-Id", "1001"), ("Client-Id", "1002")],
    )
    .await
    .assert_error(400, "DUPLICATE_HEADER");
    s.get("/api/v1/balance", &[])
        .await
        .assert_error(401, "CLIENT_ID_REQUIRED");
    s.get("/api/v1/balance", &[("Client-Id", "abc")])
        .await
        .assert_error(400, "INVALID_CLIENT_ID");
    s.get("/api/v1/balance", &[("Client-Id", "0")])
        .await
        .assert_error(400, "INVALID_CLIENT_ID");
    // A bearer token means nothing here: the gateway is the one who knows.
    s.get(
        "/api/v1/balance",
        &[("Authorization", &format!("Bearer {}", s.access_token(1001)))],
    )
    .await
    .assert_error(401, "CLIENT_ID_REQUIRED");
}

#[tokio::test]
async fn in_jwt_mode_a_client_id_header_is_no_identity() {
    let s = crate::harness::spawn().await;
    s.charge(2, 9_000).await.assert_ok(200);
    s.get("/api/v1/balance", &[("Client-Id", "2")])
        .await
        .assert_error(401, "AUTH_REQUIRED");
    // Signed in as 1 and claiming to be 2: the token decides.
    assert_eq!(
        s.fan(1)
            .get("/api/v1/balance", &[("Client-Id", "2")])
            .await
            .assert_ok(200)["balance"],
        0
    );
    s.fan(1)
        .get("/api/v1/balance", &[("Authorization", "Bearer x")])
        .await
        .assert_error(400, "DUPLICATE_HEADER");
}

async fn dev_sign_in(s: &Server, user: i64) -> Reply {
    s.post("/api/v1/dev/sessions", &[], json!({ "userId": user }))
        .await
}

#[tokio::test]
async fn the_embedded_dev_sign_in_works_across_restarts_and_refuses_when_off() {
    let data = tempfile::tempdir().unwrap();
    let mut settings = test_settings();
    settings.database.url = format!("sqlite://{}", data.path().join("boxoffice.db").display());
    settings.auth.hs256_secret = String::new();
    settings.auth.dev_sign_in = DevSignIn::Auto;
    let clock = Arc::new(boxoffice_core::testing::ManualClock::default());
    let first = start(&settings, clock.clone(), tempfile::tempdir().unwrap()).await;
    let session = dev_sign_in(&first, 1001).await;
    let session = session.assert_ok(201).clone();
    assert_eq!(session["tokenType"], "Bearer");
    let bearer = format!("Bearer {}", session["accessToken"].as_str().unwrap());
    first
        .get("/api/v1/balance", &[("Authorization", &bearer)])
        .await
        .assert_ok(200);
    let secret = wiring_secret(&settings);
    assert!(secret.len() >= 32);
    // Started again on the same data directory: the same secret, so the session holds.
    let second = start(&settings, clock, tempfile::tempdir().unwrap()).await;
    second
        .get("/api/v1/balance", &[("Authorization", &bearer)])
        .await
        .assert_ok(200);
    assert_eq!(wiring_secret(&settings), secret);
    dev_sign_in(&second, 0)
        .await
        .assert_error(400, "VALIDATION_FAILED");
    dev_sign_in(&second, 1 << 52)
        .await
        .assert_error(400, "VALIDATION_FAILED");

    let off = spawn_with(|c| c.auth.dev_sign_in = DevSignIn::Off).await;
    dev_sign_in(&off, 1001)
        .await
        .assert_error(403, "DEV_SIGN_IN_DISABLED");
}

fn wiring_secret(settings: &boxoffice_server::config::Settings) -> String {
    let path = boxoffice_server::wiring::generated_secret_path(settings).unwrap();
    std::fs::read_to_string(path).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dev_sign_in_is_off_by_default_on_postgresql() {
    let servers = spawn_cluster(1, |c| c.auth.dev_sign_in = DevSignIn::Auto).await;
    dev_sign_in(&servers[0], 1001)
        .await
        .assert_error(403, "DEV_SIGN_IN_DISABLED");
}

#[tokio::test]
async fn an_access_token_with_the_admin_role_opens_the_admin_api_and_one_without_does_not() {
    let s = spawn_with(|c| {
        c.auth.admin_claim = "realm_access.roles".into();
        c.admin.api_key = String::new();
    })
    .await;
    let token = |roles: Value| {
        let claims = json!({ "sub": "ops-1", "exp": now_secs(&s) + 600, "realm_access": { "roles": roles } });
        format!(
            "Bearer {}",
            signed(
                Algorithm::HS256,
                None,
                &EncodingKey::from_secret(JWT_SECRET.as_bytes()),
                &claims
            )
        )
    };
    s.get(
        "/api/v1/admin/invariants",
        &[("Authorization", &token(json!(["boxoffice-admin"])))],
    )
    .await
    .assert_ok(200);
    s.get(
        "/api/v1/admin/invariants",
        &[("Authorization", &token(json!(["offline_access"])))],
    )
    .await
    .assert_error(403, "ADMIN_ROLE_REQUIRED");
    s.get("/api/v1/admin/invariants", &[("X-Admin-Key", ADMIN_KEY)])
        .await
        .assert_error(401, "ADMIN_KEY_INVALID");
}

#[tokio::test]
async fn guessing_the_admin_key_is_cut_off_after_a_few_tries_from_one_address() {
    let s = spawn_with(|c| {
        c.rate_limit.enabled = true;
        c.rate_limit.failures_per_minute = 5;
        c.rate_limit.failures_burst = 5;
        c.rate_limit.trusted_proxies = vec!["127.0.0.1".into()];
        c.rate_limit.exempt = vec![];
    })
    .await;
    let from = |ip: &'static str, key: &'static str| {
        let s = &s;
        async move {
            s.get(
                "/api/v1/admin/invariants",
                &[("X-Forwarded-For", ip), ("X-Admin-Key", key)],
            )
            .await
        }
    };
    let mut refused = 0;
    let began = Instant::now();
    for attempt in 0..50 {
        let reply = from("203.0.113.7", "guess").await;
        match reply.status.as_u16() {
            401 => reply.assert_error(401, "ADMIN_KEY_INVALID"),
            429 => {
                reply.assert_error(429, "RATE_LIMITED");
                assert!(reply.headers.contains_key("retry-after"));
                refused = 50 - attempt;
                break;
            }
            other => panic!("unexpected {other}: {:?}", reply.body),
        }
    }
    assert!(
        refused > 40,
        "the sixth guess onwards is refused ({refused} of 50)"
    );
    assert!(began.elapsed() < Duration::from_secs(5));
    // Even the right key is refused from that address for now; another address is fine.
    from("203.0.113.7", ADMIN_KEY)
        .await
        .assert_error(429, "RATE_LIMITED");
    from("198.51.100.1", ADMIN_KEY).await.assert_ok(200);
}

#[tokio::test]
async fn the_admin_api_metrics_and_console_can_live_on_a_listener_of_their_own() {
    let mut settings = test_settings();
    let dir = tempfile::tempdir().unwrap();
    settings.database.url = format!("sqlite://{}", dir.path().join("split.db").display());
    let clock = Arc::new(boxoffice_core::testing::ManualClock::default());
    let service = boxoffice_server::wiring::build(&settings, clock)
        .await
        .unwrap();
    let state = boxoffice_server::wiring::api_state(&settings, &service);
    let serve = |router: axum::Router| async move {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let stop = tokio_util::sync::CancellationToken::new();
        let serving =
            boxoffice_server::serve::Serving::of(&boxoffice_server::config::Settings::default());
        tokio::spawn(boxoffice_server::serve::http(
            listener, router, stop, serving,
        ));
        base
    };
    let public = serve(boxoffice_http::public_router(state.clone())).await;
    let admin = serve(boxoffice_http::admin_router(state)).await;
    let http = reqwest::Client::new();
    let get = |base: &str, path: &str| {
        http.get(format!("{base}{path}"))
            .header("X-Admin-Key", ADMIN_KEY)
            .send()
    };
    assert_eq!(
        get(&public, "/api/v1/admin/invariants")
            .await
            .unwrap()
            .status()
            .as_u16(),
        404
    );
    assert_eq!(
        get(&public, "/metrics").await.unwrap().status().as_u16(),
        404
    );
    assert_eq!(
        get(&public, "/api/v1/concerts")
            .await
            .unwrap()
            .status()
            .as_u16(),
        200
    );
    assert_eq!(
        get(&admin, "/api/v1/admin/invariants")
            .await
            .unwrap()
            .status()
            .as_u16(),
        200
    );
    assert_eq!(
        get(&admin, "/metrics").await.unwrap().status().as_u16(),
        200
    );
    assert_eq!(
        get(&admin, "/api/v1/concerts")
            .await
            .unwrap()
            .status()
            .as_u16(),
        404
    );
    // The console is served with the API it calls; both serve the assets.
    for (base, path, status) in [
        (&public, "/", 200),
        (&public, "/admin", 404),
        (&admin, "/admin", 200),
        (&admin, "/", 404),
        (&public, "/assets/api.js", 200),
        (&admin, "/assets/api.js", 200),
        // The console lists the concerts from the admin API.
        (&admin, "/api/v1/admin/concerts", 200),
        (&public, "/api/v1/admin/concerts", 404),
    ] {
        let answer = get(base, path).await.unwrap().status().as_u16();
        assert_eq!(answer, status, "{path} on {base}");
    }
}

#[tokio::test]
async fn cors_lets_the_configured_origins_in_and_no_others() {
    let s =
        spawn_with(|c| c.server.cors_allowed_origins = vec!["https://shop.example".into()]).await;
    let preflight = |origin: &'static str| {
        s.http
            .request(Method::OPTIONS, format!("{}/api/v1/balance", s.base))
            .header("Origin", origin)
            .header("Access-Control-Request-Method", "GET")
            .header("Access-Control-Request-Headers", "authorization")
            .send()
    };
    let allowed = preflight("https://shop.example").await.unwrap();
    assert_eq!(
        allowed.headers()["access-control-allow-origin"],
        "https://shop.example"
    );
    let other = preflight("https://evil.example").await.unwrap();
    assert!(other.headers().get("access-control-allow-origin").is_none());
}

#[tokio::test]
async fn a_server_that_trusts_only_an_rsa_key_refuses_hs256_tokens_signed_with_that_public_key_everywhere()
 {
    let s = spawn_with(|c| {
        c.auth.hs256_secret = String::new();
        c.auth.dev_sign_in = DevSignIn::Off;
        c.auth.public_key_file = key_file("rsa-a.pub.pem");
    })
    .await;
    let claims = json!({ "sub": "1", "exp": now_secs(&s) + 600 });
    let genuine = signed(
        Algorithm::RS256,
        None,
        &private_key("rsa-a.key.pem"),
        &claims,
    );
    let rsa_public = std::fs::read(key_file("rsa-a.pub.pem")).unwrap();
    let confused = signed(
        Algorithm::HS256,
        None,
        &EncodingKey::from_secret(&rsa_public),
        &claims,
    );
    let genuine = format!("Bearer {genuine}");
    // A fan admitted with the genuine RS256 token, for the credentials the calls need.
    let issued = s
        .post(
            "/api/v1/queue/tokens",
            &[("Authorization", &genuine)],
            json!({ "concertId": 1 }),
        )
        .await;
    let ticket = issued.assert_ok(201)["token"].as_str().unwrap().to_owned();
    s.admit().await;
    let polled = s
        .get(
            "/api/v1/queue/tokens/current",
            &[("Authorization", &genuine), ("Queue-Token", &ticket)],
        )
        .await;
    let pass = polled.assert_ok(200)["admissionPass"]
        .as_str()
        .unwrap()
        .to_owned();
    let hold = "00000000-0000-4000-8000-000000000000";
    for endpoint in &fan_endpoints(&ticket, &pass, 1, hold) {
        let reply = call_with(&s, endpoint, Some(&format!("Bearer {confused}"))).await;
        assert_eq!(
            reply.status.as_u16(),
            401,
            "{} {}: {:?}",
            endpoint.0,
            endpoint.1,
            reply.body
        );
        assert_eq!(
            reply.body["code"], "AUTH_INVALID",
            "{} {}",
            endpoint.0, endpoint.1
        );
    }
}
