//! `boxoffice`: concert tickets through a waiting room.
//!
//! `boxoffice` (or `boxoffice serve`) runs the service; `boxoffice migrate`
//! applies database migrations and exits; `boxoffice check-config` prints
//! the effective configuration, secrets masked.
//!
//! A failure to start is printed as one plain message (no backtrace) that
//! names the setting at fault and where it came from; the exit code tells
//! a wrong setting (78) from a dependency that did not answer (69).

use boxoffice_server::config::{SettingError, Settings, origin_of};
use clap::{Parser, Subcommand};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

#[derive(Debug, Parser)]
#[command(
    name = "boxoffice",
    version,
    about = "Concert tickets through a waiting room"
)]
struct Cli {
    /// TOML configuration file (see boxoffice.example.toml).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    /// Database URL, e.g. sqlite://data/boxoffice.db (overrides database.url).
    #[arg(long, global = true)]
    database: Option<String>,
    /// Address to listen on (overrides server.listen).
    #[arg(long, global = true)]
    listen: Option<String>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the HTTP service (the default).
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Check the configuration and print it, secrets masked; exit 78 if it is wrong.
    CheckConfig,
    /// Run a mock data platform that records deliveries (for development and tests).
    Dataplatform {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:9100")]
        listen: String,
    },
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let file = cli.config.clone();
    let mut flags = Vec::new();
    if cli.database.is_some() {
        flags.push("database.url");
    }
    if cli.listen.is_some() {
        flags.push("server.listen");
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(err) => return fail(&anyhow::Error::new(err), file.as_deref(), &flags),
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => fail(&err, file.as_deref(), &flags),
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let settings = Settings::load_adjusted(cli.config.as_deref(), |settings| {
        if let Some(url) = cli.database {
            settings.database.url = url;
        }
        if let Some(addr) = cli.listen {
            settings.server.listen = addr;
        }
    })?;
    let command = cli.command.unwrap_or(Command::Serve);
    if let Command::CheckConfig = command {
        let shown = settings.to_masked_toml()?;
        let mut out = std::io::stdout().lock();
        std::io::Write::write_all(&mut out, shown.as_bytes())?;
        return Ok(());
    }
    let telemetry =
        boxoffice_server::telemetry::init(&settings.log, std::io::stdout().is_terminal())?;
    let outcome = match command {
        Command::Serve => boxoffice_server::serve::run(settings).await,
        Command::Migrate => boxoffice_server::wiring::open_database(&settings)
            .await
            .map(|_| tracing::info!("migrations applied")),
        Command::CheckConfig => Ok(()),
        Command::Dataplatform { listen } => mock_platform(&listen).await,
    };
    // The exporter's shutdown blocks until the last spans are sent.
    let _ = tokio::task::spawn_blocking(move || telemetry.shutdown()).await;
    outcome
}

async fn mock_platform(listen: &str) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(listen).await?;
    tracing::info!(address = %listener.local_addr()?, "mock data platform is listening");
    boxoffice_server::mock_platform::serve(listener, Default::default()).await
}

/// Prints why the process stops, on standard error and without a
/// backtrace, and picks the exit code.
fn fail(err: &anyhow::Error, file: Option<&Path>, flags: &[&str]) -> std::process::ExitCode {
    let mut stderr = std::io::stderr().lock();
    let code = match err.chain().find_map(|e| e.downcast_ref::<SettingError>()) {
        Some(setting) => {
            let _ = writeln!(stderr, "boxoffice: {err:#}");
            if setting.key.contains('.') && !setting.key.contains(' ') {
                let origin = origin_of(&setting.key, file, flags);
                let _ = writeln!(stderr, "  ({}: from {origin})", setting.key);
            }
            setting.exit_code()
        }
        None => {
            let _ = writeln!(stderr, "boxoffice: {err:#}");
            1
        }
    };
    std::process::ExitCode::from(u8::try_from(code).unwrap_or(1))
}
