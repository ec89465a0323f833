//! TLS to every dependency: PostgreSQL (`sslmode`), Redis (`rediss://`,
//! with a CA and a client certificate), the data platform (`https://`
//! behind a private CA) and Kafka (librdkafka built with OpenSSL). Each
//! asks for TLS where it cannot be had too, and the service refuses to
//! start, naming the setting.
//!
//! Certificates are made here with `rcgen`: a CA, and a server certificate
//! for `localhost` and 127.0.0.1 signed by it. The local PostgreSQL has
//! `ssl = on` with Debian's self-signed certificate for `localhost`.

use crate::harness::{start, test_settings};
use boxoffice_core::domain::events::OutboxEvent;
use boxoffice_core::ports::DataPlatform;
use boxoffice_core::testing::ManualClock;
use boxoffice_server::config::{KafkaSecurity, SettingError, SettingErrorKind, Settings};
use boxoffice_server::dataplatform::HttpDataPlatform;
use boxoffice_server::wiring;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A CA and a server certificate it signed, as PEM files in a folder.
pub(crate) struct Certs {
    dir: tempfile::TempDir,
    ca_cert_der: Vec<u8>,
    server_cert_der: Vec<u8>,
    server_key_der: Vec<u8>,
}

impl Certs {
    pub(crate) fn new() -> Self {
        use rcgen::{
            BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose,
        };
        let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(DnType::CommonName, "boxoffice test CA");
        ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca_key = KeyPair::generate().unwrap();
        let ca_cert = ca.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca, ca_key);
        let leaf = |name: &str| {
            let mut params =
                CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
                    .unwrap();
            params.distinguished_name.push(DnType::CommonName, name);
            let key = KeyPair::generate().unwrap();
            let cert = params.signed_by(&key, &issuer).unwrap();
            (cert, key)
        };
        let (server, server_key) = leaf("boxoffice test server");
        let (client, client_key) = leaf("boxoffice test client");
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in [
            ("ca.pem", ca_cert.pem()),
            ("server.pem", server.pem()),
            ("server.key", server_key.serialize_pem()),
            ("client.pem", client.pem()),
            ("client.key", client_key.serialize_pem()),
        ] {
            std::fs::write(dir.path().join(name), text).unwrap();
        }
        Self {
            ca_cert_der: ca_cert.der().to_vec(),
            server_cert_der: server.der().to_vec(),
            server_key_der: server_key.serialize_der(),
            dir,
        }
    }

    pub(crate) fn path(&self, name: &str) -> String {
        self.dir.path().join(name).display().to_string()
    }

    /// A TLS listener's side with the server certificate; with
    /// `client_certificates`, it also asks for a client certificate the CA
    /// signed and refuses the handshake without one.
    pub(crate) fn acceptor(&self, client_certificates: bool) -> tokio_rustls::TlsAcceptor {
        use tokio_rustls::rustls::{
            self, RootCertStore,
            pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer},
            server::WebPkiClientVerifier,
        };
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .unwrap();
        let builder = if client_certificates {
            let mut roots = RootCertStore::empty();
            roots
                .add(CertificateDer::from(self.ca_cert_der.clone()))
                .unwrap();
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .unwrap();
            builder.with_client_cert_verifier(verifier)
        } else {
            builder.with_no_client_auth()
        };
        let config = builder
            .with_single_cert(
                vec![CertificateDer::from(self.server_cert_der.clone())],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.server_key_der.clone())),
            )
            .unwrap();
        tokio_rustls::TlsAcceptor::from(Arc::new(config))
    }
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// The setting error a failed start carries.
fn setting_error(result: anyhow::Result<wiring::Service>) -> SettingError {
    match result {
        Ok(_) => panic!("the service started"),
        Err(err) => err
            .chain()
            .find_map(|e| e.downcast_ref::<SettingError>())
            .cloned()
            .unwrap_or_else(|| panic!("not a setting error: {err:#}")),
    }
}

async fn build(settings: &Settings) -> anyhow::Result<wiring::Service> {
    wiring::build(settings, Arc::new(ManualClock::default())).await
}

// --- PostgreSQL ---

/// How many of the server's connections for `application` use TLS, and how many do not.
fn pg_connections_by_tls(application: &str) -> (u32, u32) {
    let url = std::env::var("BOXOFFICE_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://root@127.0.0.1:5432/root".to_owned());
    let out = Command::new("psql")
        .arg(&url)
        .args(["-At", "-c"])
        .arg(format!(
            "SELECT count(*) FILTER (WHERE s.ssl), count(*) FILTER (WHERE NOT s.ssl)
               FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid)
              WHERE a.application_name = '{application}'"
        ))
        .output()
        .expect("psql");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let (tls, plain) = text.trim().split_once('|').expect("two counts");
    (tls.parse().unwrap(), plain.parse().unwrap())
}

async fn pg_settings(query: &str) -> (Settings, String) {
    let pg = boxoffice_store::testing::fresh_pg().await;
    let application = format!("boxoffice-tls-{}", uuid::Uuid::new_v4().simple());
    let mut settings = test_settings();
    settings.database.url = format!("{}&application_name={application}&{query}", pg.url);
    settings.database.max_connections = 4;
    (settings, application)
}

const SNAKEOIL: &str = "/etc/ssl/certs/ssl-cert-snakeoil.pem";

#[tokio::test]
async fn postgres_with_sslmode_require_serves_a_fan_over_tls_connections_only_and_disable_over_plain_ones()
 {
    let (settings, application) = pg_settings("sslmode=require").await;
    let server = start(
        &settings,
        Arc::new(ManualClock::default()),
        tempfile::tempdir().unwrap(),
    )
    .await;
    let token = server.active_token(1).await;
    let schedule = server.first_schedule(&token).await;
    server.hold(&token, schedule, 1).await.assert_ok(201);
    let (tls, plain) = pg_connections_by_tls(&application);
    assert!(tls > 0, "no TLS connection from the service");
    assert_eq!(plain, 0, "a connection without TLS");
    // The same server without TLS asked for: the count tells the two apart.
    let (settings, application) = pg_settings("sslmode=disable").await;
    let service = build(&settings).await.expect("sslmode=disable");
    service.app.list_concerts().await.expect("a query");
    let (tls, plain) = pg_connections_by_tls(&application);
    assert_eq!(tls, 0, "TLS without being asked for");
    assert!(plain > 0, "no connection seen");
}

#[tokio::test]
async fn postgres_with_verify_full_trusts_only_its_root_file_and_the_named_host_naming_database_url_otherwise()
 {
    let (mut settings, application) =
        pg_settings(&format!("sslmode=verify-full&sslrootcert={SNAKEOIL}")).await;
    // The certificate is for localhost, so the same server by address fails.
    let by_address = setting_error(build(&settings).await);
    assert_eq!(by_address.key, "database.url");
    assert_eq!(by_address.kind, SettingErrorKind::Invalid, "{by_address}");
    assert!(
        by_address.problem.contains("127.0.0.1:5432"),
        "{by_address}"
    );
    settings.database.url = settings.database.url.replace("@127.0.0.1:", "@localhost:");
    // sqlx trusts Mozilla's roots, built into the binary, plus sslrootcert.
    // Debian's snakeoil certificate is not among Mozilla's roots, so a CA
    // file that does not sign it must be refused: sslrootcert is the one
    // that trusts it.
    let other_ca = Certs::new();
    let mut wrong_root = settings.clone();
    wrong_root.database.url = wrong_root
        .database
        .url
        .replace(SNAKEOIL, &other_ca.path("ca.pem"));
    let untrusted = setting_error(build(&wrong_root).await);
    assert_eq!(untrusted.key, "database.url");
    assert_eq!(untrusted.kind, SettingErrorKind::Invalid, "{untrusted}");
    let service = build(&settings)
        .await
        .expect("verify-full against localhost");
    service.app.list_concerts().await.expect("a query over TLS");
    assert!(pg_connections_by_tls(&application).0 > 0);
}

#[tokio::test]
async fn an_unreachable_postgres_is_named_with_its_host_and_cause_and_may_come_back() {
    let mut settings = test_settings();
    let port = free_port();
    settings.database.url = format!("postgres://root@127.0.0.1:{port}/boxoffice");
    let err = setting_error(build(&settings).await);
    assert_eq!(err.key, "database.url");
    assert_eq!(err.kind, SettingErrorKind::Unreachable);
    assert!(err.problem.contains(&format!("127.0.0.1:{port}")), "{err}");
    assert!(err.problem.to_lowercase().contains("refused"), "{err}");
}

// --- Redis ---

/// A Redis that speaks TLS only, asking clients for a certificate.
struct TlsRedis {
    child: Child,
    port: u16,
}

impl Drop for TlsRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl TlsRedis {
    fn start(certs: &Certs) -> Self {
        let port = free_port();
        let child = Command::new("redis-server")
            .args([
                "--port",
                "0",
                "--tls-port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
            ])
            .args(["--tls-cert-file", &certs.path("server.pem")])
            .args(["--tls-key-file", &certs.path("server.key")])
            .args(["--tls-ca-cert-file", &certs.path("ca.pem")])
            .args([
                "--tls-auth-clients",
                "yes",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server (Debian's is built with TLS)");
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "TLS Redis did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Self { child, port }
    }
}

#[tokio::test]
async fn rediss_with_a_ca_and_a_client_certificate_carries_the_waiting_room() {
    let certs = Certs::new();
    let redis = TlsRedis::start(&certs);
    let mut settings = test_settings();
    let dir = tempfile::tempdir().unwrap();
    settings.database.url = format!("sqlite://{}", dir.path().join("tls.db").display());
    settings.redis.url = format!("rediss://127.0.0.1:{}/0", redis.port);
    settings.redis.ca_file = certs.path("ca.pem");
    settings.redis.cert_file = certs.path("client.pem");
    settings.redis.key_file = certs.path("client.key");
    settings.redis.command_timeout_ms = 2_000;
    settings.redis.connect_timeout_ms = 2_000;
    let server = start(&settings, Arc::new(ManualClock::default()), dir).await;
    let issued = server.issue_token(1, 1).await;
    issued.assert_ok(201);
    let token = server.active_token(2).await;
    let schedule = server.first_schedule(&token).await;
    server.hold(&token, schedule, 1).await.assert_ok(201);
    // The line lives in that Redis: its keys are there.
    let keys = Command::new("redis-cli")
        .args(["--tls", "--cacert", &certs.path("ca.pem")])
        .args([
            "--cert",
            &certs.path("client.pem"),
            "--key",
            &certs.path("client.key"),
        ])
        .args([
            "-p",
            &redis.port.to_string(),
            "--scan",
            "--pattern",
            "boxoffice:*",
        ])
        .output()
        .expect("redis-cli");
    assert!(
        !String::from_utf8_lossy(&keys.stdout).trim().is_empty(),
        "no waiting-room key in the TLS Redis"
    );
}

#[tokio::test]
async fn rediss_refusing_the_certificate_or_missing_the_client_one_stops_the_start_naming_redis_url()
 {
    let certs = Certs::new();
    let redis = TlsRedis::start(&certs);
    let mut settings = test_settings();
    settings.redis.url = format!("rediss://127.0.0.1:{}/0", redis.port);
    settings.redis.connect_timeout_ms = 2_000;
    // The system's roots do not know our CA.
    let untrusted = setting_error(build(&settings).await);
    assert_eq!(untrusted.key, "redis.url");
    assert_eq!(untrusted.kind, SettingErrorKind::Invalid);
    assert!(untrusted.problem.contains("refused"), "{untrusted}");
    // Trusted, but the server wants a client certificate.
    settings.redis.ca_file = certs.path("ca.pem");
    let anonymous = setting_error(build(&settings).await);
    assert_eq!(anonymous.key, "redis.url");
    assert_eq!(anonymous.kind, SettingErrorKind::Invalid);
}

#[test]
fn redis_certificate_files_need_rediss_and_must_be_readable() {
    let mut settings = test_settings();
    settings.redis.url = "redis://127.0.0.1:6379/0".into();
    settings.redis.ca_file = "/nonexistent/ca.pem".into();
    let plain = setting_of(settings.validate());
    assert_eq!(plain.key, "redis.ca_file");
    assert!(plain.problem.contains("rediss://"), "{plain}");
    settings.redis.url = "rediss://127.0.0.1:6379/0".into();
    let missing = setting_of(settings.validate());
    assert_eq!(missing.key, "redis.ca_file");
    assert!(missing.problem.contains("/nonexistent/ca.pem"), "{missing}");
}

fn setting_of(result: anyhow::Result<()>) -> SettingError {
    let err = result.expect_err("accepted");
    err.chain()
        .find_map(|e| e.downcast_ref::<SettingError>())
        .cloned()
        .unwrap_or_else(|| panic!("not a setting error: {err:#}"))
}

// --- The data platform ---

/// An HTTPS endpoint with the test certificate that answers 200 and
/// keeps each request's body.
async fn https_platform(certs: &Certs) -> (u16, tokio::sync::mpsc::UnboundedReceiver<String>) {
    let acceptor = certs.acceptor(false);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            let tx = tx.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                if let Some(body) = read_request(&mut tls).await {
                    let _ = tx.send(body);
                    let _ = tls
                        .write_all(
                            b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
                        )
                        .await;
                    let _ = tls.shutdown().await;
                }
            });
        }
    });
    (port, rx)
}

/// One HTTP/1.1 request's body, read by its content-length.
async fn read_request(stream: &mut (impl AsyncReadExt + Unpin)) -> Option<String> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&buf).to_string();
        if let Some(end) = text.find("\r\n\r\n") {
            let length: usize = text[..end]
                .lines()
                .find_map(|l| {
                    let (name, value) = l.split_once(':')?;
                    name.eq_ignore_ascii_case("content-length")
                        .then(|| value.trim().parse().ok())?
                })
                .unwrap_or(0);
            if buf.len() >= end + 4 + length {
                return Some(String::from_utf8_lossy(&buf[end + 4..end + 4 + length]).to_string());
            }
        }
    }
}

pub(crate) fn an_event() -> OutboxEvent {
    OutboxEvent {
        id: boxoffice_core::domain::EventId::from_uuid(uuid::Uuid::now_v7()),
        event_type: "ReservationConfirmed".into(),
        schema_version: 1,
        aggregate_key: "42".into(),
        payload: r#"{"reservationId":42}"#.into(),
        created_at: boxoffice_core::domain::Timestamp::from_millis(1_700_000_000_000),
        trace: None,
    }
}

#[tokio::test]
async fn the_data_platform_over_https_behind_a_private_ca_receives_events_and_an_unknown_ca_is_a_failed_attempt()
 {
    let certs = Certs::new();
    let (port, mut received) = https_platform(&certs).await;
    let url = format!("https://localhost:{port}/events");
    let ca = std::fs::read(certs.path("ca.pem")).unwrap();
    let trusted = HttpDataPlatform::new(&url, Duration::from_secs(5), Some(&ca)).unwrap();
    let event = an_event();
    trusted.deliver(&event).await.expect("delivered over TLS");
    let body = received.recv().await.expect("a request");
    assert!(body.contains(&event.id.to_string()), "{body}");
    let untrusted = HttpDataPlatform::new(&url, Duration::from_secs(5), None).unwrap();
    let err = untrusted
        .deliver(&an_event())
        .await
        .expect_err("an unknown CA");
    assert!(
        format!("{err:#}").to_lowercase().contains("certificate"),
        "{err:#}"
    );
    assert!(
        received.try_recv().is_err(),
        "a request reached the platform"
    );
}

#[test]
fn a_data_platform_ca_needs_https_and_a_readable_file() {
    let mut settings = test_settings();
    settings.dataplatform.url = "http://127.0.0.1:9100/events".into();
    settings.dataplatform.ca_file = SNAKEOIL.into();
    assert_eq!(setting_of(settings.validate()).key, "dataplatform.ca_file");
    settings.dataplatform.url = "https://127.0.0.1:9100/events".into();
    settings.validate().expect("https with a CA");
    settings.dataplatform.ca_file = "/nonexistent.pem".into();
    assert_eq!(setting_of(settings.validate()).key, "dataplatform.ca_file");
}

// --- Kafka ---

fn kafka_settings(certs: &Certs, protocol: KafkaSecurity) -> Settings {
    let mut settings = test_settings();
    settings.kafka.brokers = format!("127.0.0.1:{}", free_port());
    settings.kafka.security_protocol = protocol;
    settings.kafka.ssl_ca_file = certs.path("ca.pem");
    settings
}

#[test]
fn kafka_clients_are_made_with_ssl_and_sasl_ssl_settings() {
    let certs = Certs::new();
    let mut settings = kafka_settings(&certs, KafkaSecurity::Ssl);
    settings.kafka.ssl_cert_file = certs.path("client.pem");
    settings.kafka.ssl_key_file = certs.path("client.key");
    settings.validate().unwrap();
    let kafka = wiring::kafka_settings(&settings);
    let property = |kafka: &boxoffice_kafka::KafkaSettings, name: &str| {
        kafka
            .client_properties
            .0
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    };
    assert_eq!(
        property(&kafka, "security.protocol").as_deref(),
        Some("ssl")
    );
    assert_eq!(
        property(&kafka, "ssl.ca.location"),
        Some(certs.path("ca.pem"))
    );
    assert_eq!(
        property(&kafka, "ssl.certificate.location"),
        Some(certs.path("client.pem"))
    );
    // Without OpenSSL in librdkafka, security.protocol=ssl is refused here.
    boxoffice_kafka::KafkaPublisher::new(kafka.clone(), vec![]).expect("an SSL client");
    // librdkafka reads the CA file as the client is made: one that is not
    // PEM fails then, which shows the properties reach it.
    let not_pem = certs.dir.path().join("not-a-certificate.pem");
    std::fs::write(&not_pem, "not a certificate").unwrap();
    let mut broken = kafka;
    for (name, value) in &mut broken.client_properties.0 {
        if name == "ssl.ca.location" {
            *value = not_pem.display().to_string();
        }
    }
    assert!(
        boxoffice_kafka::KafkaPublisher::new(broken, vec![]).is_err(),
        "a CA file that is not PEM was accepted"
    );
    let mut sasl = kafka_settings(&certs, KafkaSecurity::SaslSsl);
    sasl.kafka.sasl_mechanism = "SCRAM-SHA-512".into();
    sasl.kafka.sasl_username = "boxoffice".into();
    sasl.kafka.sasl_password = "s3cret-password".into();
    sasl.validate().unwrap();
    let kafka = wiring::kafka_settings(&sasl);
    assert!(
        !format!("{kafka:?}").contains("s3cret-password"),
        "the password in Debug"
    );
    assert_eq!(
        property(&kafka, "security.protocol").as_deref(),
        Some("sasl_ssl")
    );
    assert_eq!(
        property(&kafka, "sasl.mechanisms").as_deref(),
        Some("SCRAM-SHA-512")
    );
    assert_eq!(
        property(&kafka, "sasl.password").as_deref(),
        Some("s3cret-password")
    );
    boxoffice_kafka::KafkaPublisher::new(kafka, vec![]).expect("a SASL_SSL client");
}

#[test]
fn kafka_security_settings_that_cannot_work_are_named() {
    let certs = Certs::new();
    let mut plaintext = kafka_settings(&certs, KafkaSecurity::Plaintext);
    assert_eq!(setting_of(plaintext.validate()).key, "kafka.ssl_ca_file");
    plaintext.kafka.ssl_ca_file.clear();
    plaintext.kafka.sasl_username = "boxoffice".into();
    assert_eq!(setting_of(plaintext.validate()).key, "kafka.sasl_mechanism");
    let mut missing = kafka_settings(&certs, KafkaSecurity::Ssl);
    missing.kafka.ssl_ca_file = "/nonexistent/ca.pem".into();
    assert_eq!(setting_of(missing.validate()).key, "kafka.ssl_ca_file");
    let mut sasl = kafka_settings(&certs, KafkaSecurity::SaslSsl);
    sasl.kafka.sasl_mechanism = "GSSAPI".into();
    sasl.kafka.sasl_username = "u".into();
    sasl.kafka.sasl_password = "p".into();
    assert_eq!(setting_of(sasl.validate()).key, "kafka.sasl_mechanism");
    sasl.kafka.sasl_mechanism = "PLAIN".into();
    sasl.kafka.sasl_password.clear();
    assert_eq!(setting_of(sasl.validate()).key, "kafka.sasl_username");
}
