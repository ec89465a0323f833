//! [`HttpDataPlatform`]: the `DataPlatform` port over HTTP. Each event is
//! one `POST` of a JSON envelope to `dataplatform.url`, carrying the event
//! id as `Idempotency-Key` so that the platform can drop a repeat: the one
//! repeat our own ledger cannot prevent is a crash between the platform's
//! answer and our record of it (docs/events.md). Any answer but 2xx, and
//! no answer within the timeout, is a failed attempt.

use anyhow::{Context, bail};
use async_trait::async_trait;
use boxoffice_core::domain::events::OutboxEvent;
use boxoffice_core::ports::DataPlatform;
use serde::Serialize;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct HttpDataPlatform {
    http: reqwest::Client,
    url: String,
}

/// What the platform receives.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PlatformEvent {
    pub event_id: String,
    pub event_type: String,
    pub schema_version: u16,
    pub aggregate_key: String,
    pub created_at_ms: i64,
    pub payload: serde_json::Value,
}

impl HttpDataPlatform {
    /// `ca`: PEM certificates to trust besides the built-in roots (a
    /// platform behind a private CA).
    pub fn new(url: &str, timeout: Duration, ca: Option<&[u8]>) -> anyhow::Result<Self> {
        let mut builder = reqwest::Client::builder().timeout(timeout);
        if let Some(pem) = ca {
            let roots = reqwest::Certificate::from_pem_bundle(pem)
                .context("reading the data platform's CA certificates")?;
            if roots.is_empty() {
                bail!("no PEM certificate in the data platform's CA file");
            }
            for root in roots {
                builder = builder.add_root_certificate(root);
            }
        }
        let http = builder
            .build()
            .context("building the data platform client")?;
        Ok(Self {
            http,
            url: url.to_owned(),
        })
    }
}

#[async_trait]
impl DataPlatform for HttpDataPlatform {
    async fn deliver(&self, event: &OutboxEvent) -> anyhow::Result<()> {
        let body = PlatformEvent {
            event_id: event.id.to_string(),
            event_type: event.event_type.clone(),
            schema_version: event.schema_version,
            aggregate_key: event.aggregate_key.clone(),
            created_at_ms: event.created_at.as_millis(),
            payload: serde_json::from_str(&event.payload).context("event payload is not JSON")?,
        };
        let mut request = self
            .http
            .post(&self.url)
            .header("Idempotency-Key", &body.event_id);
        if let Some(trace) = &event.trace {
            request = request
                .header("traceparent", &trace.traceparent)
                .header("x-request-id", &trace.request_id);
        }
        let response = request
            .json(&body)
            .send()
            .await
            .with_context(|| format!("posting to the data platform at {}", self.url))?;
        let status = response.status();
        if !status.is_success() {
            let text = response.text().await.unwrap_or_default();
            let text: String = text.chars().take(200).collect();
            bail!("the data platform answered {status}: {text}");
        }
        Ok(())
    }

    /// A `HEAD` of the delivery URL: any answer below 500 (a 405 too)
    /// means the platform is up.
    async fn probe(&self) -> anyhow::Result<()> {
        let response = self
            .http
            .head(&self.url)
            .send()
            .await
            .with_context(|| format!("probing the data platform at {}", self.url))?;
        let status = response.status();
        if status.is_server_error() {
            bail!("the data platform answered {status} to a probe");
        }
        Ok(())
    }
}
