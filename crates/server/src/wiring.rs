//! The one place that picks adapters from the configuration and assembles
//! the application.

use crate::config::Settings;
use anyhow::bail;
use boxoffice_core::memory::in_process_app;
use boxoffice_core::ports::{Clock, Store};
use boxoffice_core::use_cases::App;
use boxoffice_http::ApiState;
use boxoffice_store::{Concurrency, SqliteStore};
use std::sync::Arc;

/// Opens the store named by `url`, creating the directory of a SQLite file.
pub async fn open_store(url: &str) -> anyhow::Result<Arc<dyn Store>> {
    if let Some(path) = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
    {
        let file = path.split('?').next().unwrap_or(path);
        if let Some(dir) = std::path::Path::new(file).parent()
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(dir)?;
        }
        return Ok(Arc::new(
            SqliteStore::connect(url, Concurrency::Conditional).await?,
        ));
    }
    bail!("unsupported database url {url:?}: use sqlite://path/to/file.db")
}

/// The application on the configured store with the in-process waiting
/// room, ranking and event bus (the embedded mode).
pub async fn build_app(settings: &Settings, clock: Arc<dyn Clock>) -> anyhow::Result<App> {
    let store = open_store(&settings.database.url).await?;
    let app = in_process_app(store, clock, settings.policies());
    app.restore_ranking().await?;
    Ok(app)
}

/// The HTTP state for `app`.
pub fn api_state(settings: &Settings, app: App) -> ApiState {
    ApiState {
        app,
        admin_key: settings.admin_key().map(Arc::from),
    }
}
