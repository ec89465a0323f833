//! What an operator sees when the service cannot start: one plain message
//! on standard error that names the setting and where it was set, no
//! backtrace, and an exit code that says whether to try again; and what
//! `boxoffice check-config` prints.

use std::process::{Command, Output};

fn boxoffice(args: &[&str], env: &[(&str, &str)]) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_boxoffice"));
    command
        .args(args)
        .current_dir(dir.path())
        // A backtrace is asked for; a setting error must still print none.
        .env("RUST_BACKTRACE", "1")
        .env("RUST_LOG", "warn")
        .env(
            "BOXOFFICE__DATABASE__URL",
            format!("sqlite://{}", dir.path().join("start.db").display()),
        )
        .env("BOXOFFICE__SERVER__LISTEN", "127.0.0.1:0");
    for (name, value) in env {
        command.env(name, value);
    }
    command.output().expect("run boxoffice")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn assert_no_backtrace(text: &str) {
    assert!(!text.contains("stack backtrace"), "{text}");
    assert!(!text.contains("Stack backtrace"), "{text}");
    assert!(!text.contains("panicked"), "{text}");
}

#[test]
fn a_bad_listen_address_names_server_listen_and_its_environment_variable_and_exits_78() {
    let out = boxoffice(&["serve"], &[("BOXOFFICE__SERVER__LISTEN", "nonsense")]);
    let text = stderr(&out);
    assert_eq!(out.status.code(), Some(78), "{text}");
    assert!(text.contains("server.listen = \"nonsense\""), "{text}");
    assert!(text.contains("BOXOFFICE__SERVER__LISTEN"), "{text}");
    assert_no_backtrace(&text);
    assert_eq!(text.lines().count(), 2, "{text}");
}

#[test]
fn a_setting_from_the_file_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("boxoffice.toml");
    std::fs::write(&file, "[redis]\nurl = \"not a url\"\n").unwrap();
    let out = boxoffice(&["--config", file.to_str().unwrap(), "serve"], &[]);
    let text = stderr(&out);
    assert_eq!(out.status.code(), Some(78), "{text}");
    assert!(text.contains("redis.url"), "{text}");
    assert!(text.contains(&file.display().to_string()), "{text}");
    assert_no_backtrace(&text);
}

#[test]
fn an_unreachable_postgres_names_database_url_its_host_and_the_cause_and_exits_69() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("postgres://root:hunter2@127.0.0.1:{port}/boxoffice");
    let out = boxoffice(
        &["serve"],
        &[
            ("BOXOFFICE__DATABASE__URL", &url),
            (
                "BOXOFFICE__AUTH__HS256_SECRET",
                "a-shared-secret-of-at-least-32-bytes!",
            ),
        ],
    );
    let text = stderr(&out);
    assert_eq!(out.status.code(), Some(69), "{text}");
    assert!(text.contains("database.url"), "{text}");
    assert!(text.contains(&format!("127.0.0.1:{port}")), "{text}");
    assert!(text.to_lowercase().contains("refused"), "{text}");
    assert!(
        !text.contains("hunter2"),
        "the password was printed: {text}"
    );
    assert_no_backtrace(&text);
}

#[test]
fn a_value_of_the_wrong_type_is_refused_with_its_key_and_no_backtrace() {
    let out = boxoffice(&["serve"], &[("BOXOFFICE__QUEUE__ADMIT_BATCH", "many")]);
    let text = stderr(&out);
    assert_eq!(out.status.code(), Some(78), "{text}");
    assert!(text.contains("admit_batch"), "{text}");
    assert_no_backtrace(&text);
}

#[test]
fn check_config_prints_the_effective_settings_with_every_secret_masked() {
    let secrets = [
        ("BOXOFFICE__ADMIN__API_KEY", "admin-key-that-must-not-show"),
        (
            "BOXOFFICE__AUTH__HS256_SECRET",
            "hs256-secret-that-must-not-show-0123456789",
        ),
        (
            "BOXOFFICE__DATABASE__URL",
            "postgres://app:db-password-that-must-not-show@db.internal:5432/boxoffice?sslmode=require&password=query-password-that-must-not-show",
        ),
        (
            "BOXOFFICE__DATAPLATFORM__URL",
            "https://ingest:platform-password-that-must-not-show@platform.internal/events",
        ),
        (
            "BOXOFFICE__AUTH__JWKS_URL",
            "https://keys:jwks-password-that-must-not-show@idp.internal/jwks.json",
        ),
        (
            "BOXOFFICE__REDIS__URL",
            "rediss://:redis-password-that-must-not-show@cache.internal:6380/0",
        ),
        ("BOXOFFICE__KAFKA__BROKERS", "kafka.internal:9093"),
        ("BOXOFFICE__KAFKA__SECURITY_PROTOCOL", "sasl_ssl"),
        ("BOXOFFICE__KAFKA__SASL_MECHANISM", "SCRAM-SHA-512"),
        ("BOXOFFICE__KAFKA__SASL_USERNAME", "boxoffice"),
        (
            "BOXOFFICE__KAFKA__SASL_PASSWORD",
            "sasl-password-that-must-not-show",
        ),
        ("BOXOFFICE__QUEUE__ADMIT_BATCH", "77"),
    ];
    let out = boxoffice(&["check-config"], &secrets);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        !text.contains("must-not-show"),
        "a secret was printed:\n{text}"
    );
    let shown: toml::Table = text.parse().expect("TOML");
    assert_eq!(shown["queue"]["admit_batch"].as_integer(), Some(77));
    assert_eq!(
        shown["database"]["url"].as_str(),
        Some(
            "postgres://app:********@db.internal:5432/boxoffice?sslmode=require&password=********"
        )
    );
    assert_eq!(
        shown["redis"]["url"].as_str(),
        Some("rediss://:********@cache.internal:6380/0")
    );
    assert_eq!(shown["kafka"]["sasl_password"].as_str(), Some("********"));
    assert_eq!(
        shown["dataplatform"]["url"].as_str(),
        Some("https://ingest:********@platform.internal/events")
    );
    assert_eq!(
        shown["auth"]["jwks_url"].as_str(),
        Some("https://keys:********@idp.internal/jwks.json")
    );
    assert_eq!(shown["kafka"]["sasl_username"].as_str(), Some("boxoffice"));
    assert_eq!(shown["admin"]["api_key"].as_str(), Some("********"));
    // Nothing was connected to: the hosts above do not exist.
}

#[test]
fn check_config_refuses_a_wrong_setting_with_exit_78() {
    let out = boxoffice(
        &["check-config"],
        &[("BOXOFFICE__KAFKA__SECURITY_PROTOCOL", "sasl_ssl")],
    );
    let text = stderr(&out);
    assert_eq!(out.status.code(), Some(78), "{text}");
    assert!(text.contains("kafka.sasl_mechanism"), "{text}");
    assert!(
        text.contains("(kafka.sasl_mechanism: from the built-in default)"),
        "{text}"
    );
    assert!(out.stdout.is_empty());
}
