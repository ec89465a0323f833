//! Where the process's log lines, and with the `otlp` feature its request
//! spans, go.
//!
//! Lines go to standard output, filtered by `RUST_LOG`: JSON or text as
//! `log.format` says, and colour only on a terminal, so files and
//! collectors get no escape codes. With `log.otlp_endpoint` set (and the
//! `otlp` feature built in), each request's span is also exported over
//! OTLP/HTTP, as a child of the caller's `traceparent`, so a tracing
//! backend shows boxoffice's part of a sale under the trace id the log
//! lines, the outbox rows and the Kafka records carry; those then name
//! the request span as their parent (decision 0022).

use crate::config::LogSettings;
use tracing_subscriber::Layer;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// What must be flushed before the process ends.
#[must_use = "shut it down at exit, or the last spans are lost"]
pub struct Telemetry {
    #[cfg(feature = "otlp")]
    provider: Option<opentelemetry_sdk::trace::SdkTracerProvider>,
}

impl std::fmt::Debug for Telemetry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let exporting = {
            #[cfg(feature = "otlp")]
            {
                self.provider.is_some()
            }
            #[cfg(not(feature = "otlp"))]
            {
                false
            }
        };
        f.debug_struct("Telemetry")
            .field("exporting", &exporting)
            .finish()
    }
}

impl Telemetry {
    /// Sends the spans still batched and stops the exporter (blocking, at
    /// most the exporter's timeout).
    pub fn shutdown(self) {
        #[cfg(feature = "otlp")]
        if let Some(provider) = self.provider
            && let Err(err) = provider.shutdown()
        {
            tracing::warn!(error = %err, "the last request spans could not be exported");
        }
    }
}

/// Installs the process's subscriber: the lines, and the OTLP export when
/// `log.otlp_endpoint` is set.
pub fn init(log: &LogSettings, stdout_is_terminal: bool) -> anyhow::Result<Telemetry> {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| "info,sqlx=warn,tower_http=warn".into());
    let lines = tracing_subscriber::fmt::layer();
    let lines = if log.format.is_json(stdout_is_terminal) {
        lines
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .boxed()
    } else {
        lines.with_ansi(stdout_is_terminal).boxed()
    };
    let registry = tracing_subscriber::registry().with(lines);
    #[cfg(feature = "otlp")]
    {
        let (spans, provider) = if log.otlp_endpoint.is_empty() {
            (None, None)
        } else {
            let (layer, provider) = otlp::layer(&log.otlp_endpoint)?;
            (Some(layer), Some(provider))
        };
        registry.with(spans).with(filter).try_init()?;
        Ok(Telemetry { provider })
    }
    #[cfg(not(feature = "otlp"))]
    {
        registry.with(filter).try_init()?;
        Ok(Telemetry {})
    }
}

/// OTLP export of request spans.
#[cfg(feature = "otlp")]
pub mod otlp {
    use anyhow::Context as _;
    use boxoffice_trace::TraceParent;
    use opentelemetry::trace::{
        SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState, TracerProvider as _,
    };
    use opentelemetry_otlp::WithExportConfig;
    use opentelemetry_sdk::trace::SdkTracerProvider;
    use std::time::Duration;
    use tracing_opentelemetry::OpenTelemetrySpanExt;

    /// How long one export may take; spans are batched on a thread of the
    /// exporter's own, never on a request's.
    const EXPORT_TIMEOUT: Duration = Duration::from_secs(5);

    /// The layer that records spans for `endpoint`, and the provider that
    /// batches and sends them. Request spans become children of the
    /// request's `traceparent` from then on.
    pub fn layer<S>(
        endpoint: &str,
    ) -> anyhow::Result<(
        tracing_opentelemetry::OpenTelemetryLayer<S, opentelemetry_sdk::trace::Tracer>,
        SdkTracerProvider,
    )>
    where
        S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    {
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_endpoint(endpoint)
            .with_timeout(EXPORT_TIMEOUT)
            .build()
            .with_context(|| format!("log.otlp_endpoint = {endpoint:?}"))?;
        let provider = SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_resource(
                opentelemetry_sdk::Resource::builder()
                    .with_service_name("boxoffice")
                    .build(),
            )
            .build();
        let tracer = provider.tracer("boxoffice");
        boxoffice_http::set_request_span_hook(boxoffice_http::RequestSpanHook { adopt, span_id });
        Ok((tracing_opentelemetry::layer().with_tracer(tracer), provider))
    }

    /// Makes the request span a child of the caller's span (or of the id
    /// made up for a request that came without one), sampled as the caller
    /// asked.
    fn adopt(span: &tracing::Span, parent: &TraceParent) {
        let flags = if parent.sampled() {
            TraceFlags::SAMPLED
        } else {
            TraceFlags::default()
        };
        let remote = SpanContext::new(
            TraceId::from_bytes(parent.trace_id_bytes()),
            SpanId::from_bytes(parent.parent_id_bytes()),
            flags,
            true,
            TraceState::default(),
        );
        let _ = span.set_parent(opentelemetry::Context::new().with_remote_span_context(remote));
    }

    /// The id the span is exported under; none for a span that is not
    /// recorded (filtered out, or the trace is not sampled).
    fn span_id(span: &tracing::Span) -> Option<[u8; 8]> {
        let context = span.context();
        let own = context.span().span_context().clone();
        (own.is_valid() && own.is_sampled()).then(|| own.span_id().to_bytes())
    }
}
