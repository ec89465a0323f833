//! `boxoffice`: concert tickets through a waiting room.
//!
//! `boxoffice` (or `boxoffice serve`) runs the service; `boxoffice migrate`
//! applies database migrations and exits.

use boxoffice_server::config::{LogFormat, Settings};
use clap::{Parser, Subcommand};
use std::io::IsTerminal;
use std::path::PathBuf;

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
    /// Run a mock data platform that records deliveries (for development and tests).
    Dataplatform {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:9100")]
        listen: String,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let mut settings = Settings::load(cli.config.as_deref())?;
    if let Some(url) = cli.database {
        settings.database.url = url;
    }
    if let Some(addr) = cli.listen {
        settings.server.listen = addr;
    }
    init_logging(settings.log.format);
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => boxoffice_server::serve::run(settings).await,
        Command::Migrate => {
            boxoffice_server::wiring::open_database(&settings).await?;
            tracing::info!(database = %settings.database.url, "migrations applied");
            Ok(())
        }
        Command::Dataplatform { listen } => {
            let listener = tokio::net::TcpListener::bind(&listen).await?;
            tracing::info!(address = %listener.local_addr()?, "mock data platform is listening");
            boxoffice_server::mock_platform::serve(listener, Default::default()).await
        }
    }
}

/// Log lines to standard output, filtered by `RUST_LOG`: JSON or text as
/// `log.format` says, and colour only on a terminal, so files and
/// collectors get no escape codes.
fn init_logging(format: LogFormat) {
    let terminal = std::io::stdout().is_terminal();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| "info,sqlx=warn,tower_http=warn".into());
    let lines = tracing_subscriber::fmt().with_env_filter(filter);
    if format.is_json(terminal) {
        lines
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .init();
    } else {
        lines.with_ansi(terminal).init();
    }
}
