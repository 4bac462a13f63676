//! [`OtelHandlerBuilder`]: explicit settings, then [`OtelHandlerBuilder::attach`], which resolves
//! them against the environment and the config file, starts the export thread and attaches the
//! span handler to a bus's queued lane.
//!
//! Precedence, per setting: a builder call, then the environment (see [`crate::config::vars`]),
//! then the config file, then the default.

use std::fmt::Display;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use llm_telemetry_core::{Bus, Delivery, Pattern};
use opentelemetry_sdk::trace::SpanExporter;

use crate::config::{
    self, Compression, Conventions, OtelConfig, Processor, Protocol, Settings, SpanNaming,
};
use crate::convert::Converter;
use crate::error::OtelError;
use crate::exporter::{ExporterSource, Factory, user_factory};
use crate::handler::{OtelHandler, SpanHandler, is_simple};
use crate::otlp::otlp_factory;
use crate::pipeline::Pipeline;
use crate::sampler::Sampler;
use crate::span_events::Pending;
use crate::stats::{Counters, add};
use crate::warn::{WarnSink, Warner, stderr_sink};
use crate::worker::{self, WorkerSetup};

/// Configures and attaches the OpenTelemetry handler.
///
/// ```no_run
/// use llm_telemetry_core::Bus;
/// use llm_telemetry_otel::{OtelHandler, Protocol};
/// use std::time::Duration;
///
/// let bus = Bus::new();
/// let otel = OtelHandler::builder()
///     .endpoint("http://127.0.0.1:4317")
///     .protocol(Protocol::Grpc)
///     .service_name("inference-api")
///     .attach(&bus)?;
/// // … instrumented code emits spans on `bus` …
/// otel.shutdown(Duration::from_secs(5));
/// # Ok::<(), llm_telemetry_otel::OtelError>(())
/// ```
#[derive(Clone, Default)]
pub struct OtelHandlerBuilder {
    settings: Settings,
    factory: Option<Factory>,
    warn_sink: Option<WarnSink>,
    warn_interval: Option<Duration>,
}

impl std::fmt::Debug for OtelHandlerBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OtelHandlerBuilder")
            .field("endpoint", &self.settings.endpoint)
            .field("protocol", &self.settings.protocol)
            .field("service_name", &self.settings.service_name)
            .field("config_file", &self.settings.config_file)
            .field("custom_exporter", &self.factory.is_some())
            .finish()
    }
}

impl OtelHandler {
    /// A builder with nothing set explicitly.
    pub fn builder() -> OtelHandlerBuilder {
        OtelHandlerBuilder::default()
    }
}

impl OtelHandlerBuilder {
    /// The OTLP base URL, like `OTEL_EXPORTER_OTLP_ENDPOINT` (which it replaces): for HTTP,
    /// `v1/traces` is appended to its path (`http://host:4318` → `http://host:4318/v1/traces`,
    /// `https://host/otlp` → `https://host/otlp/v1/traces`); gRPC uses it as given. To give
    /// the complete traces URL, use [`OtelHandlerBuilder::traces_endpoint`].
    pub fn endpoint(mut self, url: impl Into<String>) -> Self {
        self.settings.endpoint = Some(url.into());
        self
    }
    /// The complete traces URL, used exactly as given, like
    /// `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` (which it replaces); wins over
    /// [`OtelHandlerBuilder::endpoint`].
    pub fn traces_endpoint(mut self, url: impl Into<String>) -> Self {
        self.settings.traces_endpoint = Some(url.into());
        self
    }
    /// A Phoenix collector endpoint in Phoenix's forms, like `PHOENIX_COLLECTOR_ENDPOINT`
    /// (which it replaces): a base URL that gets `/v1/traces` unless it ends with it, Phoenix
    /// Cloud's `https://app.phoenix.arize.com/s/<space>`, or a bare `host:port` (`host:4317`
    /// means gRPC when no protocol is set). Loses to the other two endpoint settings.
    pub fn phoenix_endpoint(mut self, url: impl Into<String>) -> Self {
        self.settings.phoenix_endpoint = Some(url.into());
        self
    }
    /// Body compression (`OTEL_EXPORTER_OTLP_COMPRESSION`): gzip is sent as
    /// `Content-Encoding: gzip` over HTTP and `grpc-encoding: gzip` over gRPC.
    pub fn compression(mut self, compression: Compression) -> Self {
        self.settings.compression = Some(compression);
        self
    }
    /// A PEM file of the CA certificate(s) that verify an `https://` collector, instead of the
    /// platform's root certificates (`OTEL_EXPORTER_OTLP_CERTIFICATE`).
    pub fn certificate(mut self, pem_file: impl Into<PathBuf>) -> Self {
        self.settings.certificate = Some(pem_file.into());
        self
    }
    /// A PEM file of the client certificate (chain) sent for mTLS; needs
    /// [`OtelHandlerBuilder::client_key`] (`OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE`).
    pub fn client_certificate(mut self, pem_file: impl Into<PathBuf>) -> Self {
        self.settings.client_certificate = Some(pem_file.into());
        self
    }
    /// A PEM file of the client's private key for mTLS (`OTEL_EXPORTER_OTLP_CLIENT_KEY`).
    pub fn client_key(mut self, pem_file: impl Into<PathBuf>) -> Self {
        self.settings.client_key = Some(pem_file.into());
        self
    }
    /// The OTLP transport.
    pub fn protocol(mut self, protocol: Protocol) -> Self {
        self.settings.protocol = Some(protocol);
        self
    }
    /// Headers (gRPC metadata) sent with every export; replaces `OTEL_EXPORTER_OTLP_HEADERS`.
    pub fn headers<K: Into<String>, V: Into<String>>(
        mut self,
        headers: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        self.settings.headers = Some(
            headers
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        );
        self
    }
    /// The longest one export may take.
    pub fn export_timeout(mut self, timeout: Duration) -> Self {
        self.settings.export_timeout = Some(timeout);
        self
    }
    /// `service.name`.
    pub fn service_name(mut self, name: impl Into<String>) -> Self {
        self.settings.service_name = Some(name.into());
        self
    }
    /// `service.version`.
    pub fn service_version(mut self, version: impl Into<String>) -> Self {
        self.settings.service_version = Some(version.into());
        self
    }
    /// `deployment.environment.name` (also written as `deployment.environment`).
    pub fn deployment_environment(mut self, environment: impl Into<String>) -> Self {
        self.settings.deployment_environment = Some(environment.into());
        self
    }
    /// Extra resource attributes; replaces `OTEL_RESOURCE_ATTRIBUTES`.
    pub fn resource_attributes<K: Into<String>, V: Into<String>>(
        mut self,
        attributes: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        self.settings.resource_attributes = Some(
            attributes
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        );
        self
    }
    /// The Phoenix project of spans without a tenant.
    pub fn project_name(mut self, project: impl Into<String>) -> Self {
        self.settings.project_name = Some(project.into());
        self
    }
    /// The sampler.
    pub fn sampler(mut self, sampler: Sampler) -> Self {
        self.settings.sampler = Some(sampler);
        self
    }
    /// Batch (default) or simple.
    pub fn processor(mut self, processor: Processor) -> Self {
        self.settings.processor = Some(processor);
        self
    }
    /// Spans waiting for export at most (`OTEL_BSP_MAX_QUEUE_SIZE`).
    pub fn max_queue_size(mut self, spans: usize) -> Self {
        self.settings.max_queue_size = Some(spans);
        self
    }
    /// A partial batch leaves after this long (`OTEL_BSP_SCHEDULE_DELAY`).
    pub fn scheduled_delay(mut self, delay: Duration) -> Self {
        self.settings.scheduled_delay = Some(delay);
        self
    }
    /// Spans per export at most (`OTEL_BSP_MAX_EXPORT_BATCH_SIZE`).
    pub fn max_export_batch_size(mut self, spans: usize) -> Self {
        self.settings.max_export_batch_size = Some(spans);
        self
    }
    /// Which attribute conventions are written.
    pub fn conventions(mut self, conventions: Conventions) -> Self {
        self.settings.conventions = Some(conventions);
        self
    }
    /// Replace `input.value` with `__REDACTED__` (`OPENINFERENCE_HIDE_INPUTS`).
    pub fn hide_inputs(mut self, hide: bool) -> Self {
        self.settings.hide_inputs = Some(hide);
        self
    }
    /// Replace `output.value` with `__REDACTED__` (`OPENINFERENCE_HIDE_OUTPUTS`).
    pub fn hide_outputs(mut self, hide: bool) -> Self {
        self.settings.hide_outputs = Some(hide);
        self
    }
    /// Cut `input.value` / `output.value` to at most `bytes` (on a character boundary).
    pub fn max_value_length(mut self, bytes: usize) -> Self {
        self.settings.max_value_length = Some(bytes);
        self
    }
    /// Whether spans with a `tenant` go to their tenant's project (default true).
    pub fn tenant_projects(mut self, enabled: bool) -> Self {
        self.settings.tenants_enabled = Some(enabled);
        self
    }
    /// The tenant project name template (`{prefix}`, `{tenant}`, `{service}`).
    pub fn tenant_project_template(mut self, template: impl Into<String>) -> Self {
        self.settings.tenant_template = Some(template.into());
        self
    }
    /// The template's `{prefix}`.
    pub fn tenant_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.settings.tenant_prefix = Some(prefix.into());
        self
    }
    /// Most per-tenant exporters alive at once (default 100).
    pub fn tenant_max_entries(mut self, entries: usize) -> Self {
        self.settings.tenant_max_entries = Some(entries);
        self
    }
    /// How long an unused per-tenant exporter lives (default 1 hour).
    pub fn tenant_ttl(mut self, ttl: Duration) -> Self {
        self.settings.tenant_ttl = Some(ttl);
        self
    }
    /// How span names are chosen.
    pub fn span_naming(mut self, naming: SpanNaming) -> Self {
        self.settings.span_naming = Some(naming);
        self
    }
    /// Names spans of the event prefix `prefix` (`llm.chat`) `name`, whatever the naming.
    pub fn span_name(mut self, prefix: impl Into<String>, name: impl Into<String>) -> Self {
        self.settings.span_names.push((prefix.into(), name.into()));
        self
    }
    /// Puts `prefix` before the operation name of request spans (`llm.request`, see
    /// `Instrumentation::start_request`): `pmd.` exports a `hybrid_search` request as
    /// `pmd.hybrid_search`, PMD's `pmd.{operation}` naming, without a name per call. A
    /// [`OtelHandlerBuilder::span_name`] for `llm.request` wins over it.
    pub fn request_span_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.settings.request_span_prefix = Some(prefix.into());
        self
    }
    /// The stop/exception patterns to attach to (default `*.stop`, `*.exception`, `*.*.stop`,
    /// `*.*.exception`, `*.*.*.stop`, `*.*.*.exception`): the span ends that become spans. A
    /// `stop` or `exception` event these do not match is neither a span nor a span event, and
    /// no `start` event is ever heard, so span starts cost the emitter nothing.
    pub fn patterns<S: Into<String>>(mut self, patterns: impl IntoIterator<Item = S>) -> Self {
        self.settings.patterns = Some(patterns.into_iter().map(Into::into).collect());
        self
    }
    /// Whether events emitted inside a span (first token, rate limits, cache operations, a
    /// program's own `myapp.retrieval.done`: every name but span starts and ends) become span
    /// events on it, and whether `span.attributes` events add attributes to it (default true;
    /// `LLM_TELEMETRY_OTEL_SPAN_EVENTS`, the facade's `tracing.span_events`). The handler takes
    /// these names only inside a span ([`llm_telemetry_core::Handler::only_in_span`]): an event
    /// emitted outside every span is skipped by the bus before the handler's queue, so a
    /// program's high-rate events outside spans cost the handler nothing and never crowd out
    /// spans. Off, the handler hears span ends only. Bounded: at most 128 events per span (the
    /// rest counted in `span_events_dropped`) and 4,096 spans waiting for their end.
    pub fn span_events(mut self, enabled: bool) -> Self {
        self.settings.span_events = Some(enabled);
        self
    }
    /// The events that become span events while [`OtelHandlerBuilder::span_events`] is on
    /// (default [`crate::config::DEFAULT_SPAN_EVENT_PATTERNS`], `*`: every event). A list
    /// replaces the default and narrows it: only events matching one of these patterns become
    /// span events (`myapp.retrieval.*` plus
    /// [`crate::config::CATALOG_SPAN_EVENT_PATTERNS`] keeps the catalog's and one of the
    /// program's). Whatever they match, span starts are never heard and span ends are chosen
    /// by [`OtelHandlerBuilder::patterns`] alone, and every match is taken only inside a span,
    /// as with the default. With span events off these patterns are not attached at all.
    pub fn span_event_patterns<S: Into<String>>(
        mut self,
        patterns: impl IntoIterator<Item = S>,
    ) -> Self {
        self.settings.span_event_patterns = Some(patterns.into_iter().map(Into::into).collect());
        self
    }
    /// The capacity of the handler's queue on the bus (default
    /// [`crate::config::DEFAULT_QUEUE_CAPACITY`], 131,072 stop events).
    pub fn queue_capacity(mut self, events: usize) -> Self {
        self.settings.queue_capacity = Some(events);
        self
    }
    /// The handler id on the bus (default `llm-telemetry-otel`).
    pub fn handler_id(mut self, id: impl Into<String>) -> Self {
        self.settings.handler_id = Some(id.into());
        self
    }
    /// A JSON config file (default: `LLM_TELEMETRY_OTEL_CONFIG`, if set).
    pub fn config_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.settings.config_file = Some(path.into());
        self
    }
    /// Whether the environment is read at all (default true; tests turn it off).
    pub fn read_env(mut self, read: bool) -> Self {
        self.settings.read_env = Some(read);
        self
    }
    /// Exports through `exporter` instead of OTLP: every project shares this one instance
    /// (cloned), so per-tenant resources are set on the clones.
    pub fn exporter<E: SpanExporter + Clone + 'static>(self, exporter: E) -> Self {
        self.exporter_factory(move || Ok::<E, std::convert::Infallible>(exporter.clone()))
    }
    /// Exports through exporters made by `factory`: called once for the default project and once
    /// per tenant (the handler then sets each one's resource). A factory error for a tenant drops
    /// that tenant's spans and counts a failed initialisation.
    pub fn exporter_factory<E, F, Err>(mut self, factory: F) -> Self
    where
        E: SpanExporter + 'static,
        F: Fn() -> Result<E, Err> + Send + Sync + 'static,
        Err: Display,
    {
        self.factory = Some(user_factory(factory));
        self
    }
    /// Where the rate-limited warnings go (default: stderr).
    pub fn on_warning(mut self, sink: impl Fn(&str) + Send + Sync + 'static) -> Self {
        self.warn_sink = Some(Arc::new(sink));
        self
    }
    /// At most one warning per `interval` (default one minute).
    pub fn warning_interval(mut self, interval: Duration) -> Self {
        self.warn_interval = Some(interval);
        self
    }

    /// The configuration these settings resolve to, without attaching anything.
    pub fn resolve(&self) -> Result<OtelConfig, OtelError> {
        Ok(config::resolve(&self.settings)?)
    }

    /// Resolves the configuration, starts the export thread and attaches the handler to `bus`
    /// (queued delivery, stop and exception events only).
    pub fn attach(self, bus: &Bus) -> Result<OtelHandler, OtelError> {
        let config = Arc::new(config::resolve(&self.settings)?);
        let source = match self.factory {
            Some(f) => ExporterSource::PerProject(f),
            None => ExporterSource::Shared(otlp_factory(&config).map_err(|reason| {
                OtelError::Exporter {
                    endpoint: config.endpoint.clone(),
                    reason,
                }
            })?),
        };
        let counters = Arc::new(Counters::default());
        let sink = self.warn_sink.unwrap_or_else(stderr_sink);
        // Settings ignored as the specification says: each is written once, now.
        for warning in &config.warnings {
            sink(warning);
            add(&counters.config_warnings, 1);
        }
        let warner = Arc::new(Warner::new(
            sink,
            self.warn_interval.unwrap_or(Duration::from_secs(60)),
        ));
        // The channel holds full batches: `max_queue_size` spans in all, at least two batches.
        let batches = (config.batch.max_queue_size / config.batch.max_export_batch_size).max(2);
        let (sender, receiver) = crossbeam_channel::bounded(batches);
        let pipeline = Arc::new(Pipeline::new(config.batch.max_export_batch_size));
        let thread = worker::start(
            WorkerSetup {
                config: config.clone(),
                source,
                counters: counters.clone(),
                warner: warner.clone(),
                pipeline: pipeline.clone(),
            },
            receiver,
        )
        .map_err(|reason| OtelError::Exporter {
            endpoint: config.endpoint.clone(),
            reason,
        })?;
        let thread = Arc::new(Mutex::new(Some(thread)));
        let shut_down = Arc::new(AtomicBool::new(false));
        let handler = SpanHandler {
            thread: thread.clone(),
            shut_down: shut_down.clone(),
            converter: Converter::new(&config),
            span_events: config.span_events.then(Pending::default),
            // A pattern that does not parse fails the attach below, with its reason.
            ends: config
                .patterns
                .iter()
                .filter_map(|p| Pattern::parse(p).ok())
                .collect(),
            sampler: config.sampler,
            tenants: config.tenants.enabled,
            simple: is_simple(&config),
            export_wait: config.export_timeout + Duration::from_secs(1),
            sender: sender.clone(),
            counters: counters.clone(),
            warner,
            pipeline,
        };
        let mut patterns: Vec<&str> = config.patterns.iter().map(String::as_str).collect();
        if config.span_events {
            patterns.extend(config.span_event_patterns.iter().map(String::as_str));
        }
        let attached = bus.attach_with(
            config.handler_id.clone(),
            &patterns,
            handler,
            Delivery::Queued {
                capacity: config.queue_capacity,
            },
        );
        if let Err(e) = attached {
            let (answer, _) = crossbeam_channel::bounded(1);
            let _ = sender.try_send(crate::worker::Message::Shutdown(answer));
            let handle = thread.lock().unwrap_or_else(PoisonError::into_inner).take();
            if let Some(handle) = handle {
                let _ = handle.join();
            }
            return Err(e.into());
        }
        Ok(OtelHandler::new(
            bus.clone(),
            config,
            sender,
            counters,
            shut_down,
        ))
    }
}
