//! [`Telemetry`]: every handler a [`Config`] asks for, attached in one call, ended in one call.
//!
//! [`Config::attach`] attaches the log, Prometheus (with its `/metrics` endpoint), cost and
//! OpenTelemetry handlers that the configuration enables, each from its own settings, and
//! returns one handle. [`Telemetry::shutdown`] ends them all under one deadline
//! ([`Bus::shutdown`]: queued lanes drained, then each handler shut down in reverse attach
//! order), then stops the `/metrics` endpoint. [`Config::telemetry`] does the same with room to
//! adjust each handler's builder first (a log rate limit, extra budgets, extra metrics). The
//! `/metrics` endpoint also serves `/inspect` ([`Telemetry::inspect`], [`crate::inspect`]).
//!
//! ```no_run
//! use std::time::Duration;
//! use llm_telemetry::{Bus, Config};
//!
//! let config = Config::from_env()?;
//! let bus = Bus::new();
//! let mut telemetry = config.attach(&bus)?;
//! let instrumentation = telemetry.instrumentation();
//! // … serve requests, emitting through `instrumentation` …
//! let report = telemetry.shutdown(Duration::from_secs(5));
//! if !report.is_complete() {
//!     eprintln!("telemetry did not finish: {report}");
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::time::Duration;

use llm_telemetry_core::{Bus, Deadline, LifecycleReport};
use llm_telemetry_cost::{CostTracker, CostTrackerBuilder, PriceTable};
use llm_telemetry_genai::instrument::Instrumentation;
use llm_telemetry_log::{LogHandle, Logger, LoggerBuilder, Sink};
use llm_telemetry_otel::{OtelHandler, OtelHandlerBuilder, OtelStats};
use llm_telemetry_prometheus::{
    CounterSample, MetricsServer, Page, PrometheusReporter, ReporterBuilder, ServerConfig, defaults,
};
use thiserror::Error;

use crate::config::{Config, LogFormat};
use crate::inspect::{ExporterView, INSPECT_PATH, Inspector};

/// Why [`Config::attach`] failed. Nothing it attached before the failure stays attached.
#[derive(Debug, Error)]
pub enum TelemetryError {
    /// The log handler.
    #[error("attaching the log handler: {0}")]
    Log(#[from] llm_telemetry_log::LogError),
    /// The Prometheus reporter's definitions or attach.
    #[error(transparent)]
    Prometheus(#[from] llm_telemetry_prometheus::ReporterError),
    /// The Prometheus metric definitions.
    #[error("the Prometheus metric definitions: {0}")]
    Metrics(#[from] llm_telemetry_prometheus::DefinitionError),
    /// The `/metrics` endpoint.
    #[error(transparent)]
    Serve(#[from] llm_telemetry_prometheus::ServeError),
    /// The cost tracker's settings.
    #[error("building the cost tracker: {0}")]
    Cost(#[from] llm_telemetry_cost::BuildError),
    /// The bus refused a handler (duplicate id, bus shut down).
    #[error("attaching a handler: {0}")]
    Attach(#[from] llm_telemetry_core::AttachError),
    /// The OpenTelemetry handler.
    #[error(transparent)]
    Otel(#[from] llm_telemetry_otel::OtelError),
}

type Adjust<B> = Box<dyn FnOnce(B) -> B>;

/// [`Config::telemetry`]: the handlers a configuration enables, each builder adjustable before
/// [`TelemetryBuilder::attach`].
#[must_use = "nothing is attached until attach()"]
pub struct TelemetryBuilder<'c> {
    config: &'c Config,
    log: Option<Adjust<LoggerBuilder>>,
    prometheus: Option<Adjust<ReporterBuilder>>,
    cost: Option<Adjust<CostTrackerBuilder>>,
    otel: Option<Adjust<OtelHandlerBuilder>>,
    global_metrics_recorder: bool,
}

impl<'c> TelemetryBuilder<'c> {
    fn new(config: &'c Config) -> Self {
        Self {
            config,
            log: None,
            prometheus: None,
            cost: None,
            otel: None,
            global_metrics_recorder: true,
        }
    }

    /// Whether [`TelemetryBuilder::attach`] installs the Prometheus reporter's `metrics` facade
    /// recorder as the process's global recorder (default on, when `/metrics` is served), so the
    /// program's own `metrics::counter!` / `gauge!` / `histogram!` calls appear on the same
    /// `/metrics`. A recorder can be installed once per process: when another one already is,
    /// attach still succeeds, says so once on stderr, and
    /// [`Telemetry::installed_metrics_recorder`] reads false. Turn it off to compose the
    /// recorder ([`PrometheusReporter::recorder`]) with your own instead.
    pub fn global_metrics_recorder(mut self, install: bool) -> Self {
        self.global_metrics_recorder = install;
        self
    }

    /// Adjusts the log handler's builder (after the configuration is applied to it).
    pub fn log(mut self, adjust: impl FnOnce(LoggerBuilder) -> LoggerBuilder + 'static) -> Self {
        self.log = Some(Box::new(adjust));
        self
    }

    /// Adjusts the Prometheus reporter's builder (it starts with the default LLM metrics).
    pub fn prometheus(
        mut self,
        adjust: impl FnOnce(ReporterBuilder) -> ReporterBuilder + 'static,
    ) -> Self {
        self.prometheus = Some(Box::new(adjust));
        self
    }

    /// Adjusts the cost tracker's builder (it starts with the built-in price table and the
    /// configured budgets).
    pub fn cost(
        mut self,
        adjust: impl FnOnce(CostTrackerBuilder) -> CostTrackerBuilder + 'static,
    ) -> Self {
        self.cost = Some(Box::new(adjust));
        self
    }

    /// Adjusts the OpenTelemetry handler's builder.
    pub fn otel(
        mut self,
        adjust: impl FnOnce(OtelHandlerBuilder) -> OtelHandlerBuilder + 'static,
    ) -> Self {
        self.otel = Some(Box::new(adjust));
        self
    }

    /// Attaches every handler the configuration enables to `bus`, in the order log,
    /// Prometheus, cost, OpenTelemetry (so shutdown, in reverse, ends the exporter first and
    /// the logger last). On an error, what was attached is shut down again.
    pub fn attach(self, bus: &Bus) -> Result<Telemetry, TelemetryError> {
        let mut telemetry = Telemetry {
            bus: bus.clone(),
            instrumentation: self.config.instrumentation(bus),
            logger: None,
            metrics: None,
            cost: None,
            otel: None,
            metrics_url: None,
            installed_metrics_recorder: false,
            inspector: Inspector::new(bus, self.config),
        };
        match self.attach_into(&mut telemetry) {
            Ok(()) => Ok(telemetry),
            Err(e) => {
                telemetry.detach_all();
                Err(e)
            }
        }
    }

    fn attach_into(self, telemetry: &mut Telemetry) -> Result<(), TelemetryError> {
        let config = self.config;
        let bus = telemetry.bus.clone();
        let service = config.tracing.service_name.clone();
        if config.writes_logs() {
            let mut builder = Logger::builder()
                .sink(Sink::stderr())
                .level(config.log.level)
                .sample_rate(config.log.sample_rate)
                .service(service.clone());
            if let Some(version) = &config.tracing.service_version {
                builder = builder.version(version.clone());
            }
            builder = match config.log.format {
                LogFormat::Json => builder.json(),
                LogFormat::Console => builder.console(),
            };
            if let Some(adjust) = self.log {
                builder = adjust(builder);
            }
            telemetry.logger = Some(builder.attach(&bus)?);
        }
        if config.serves_metrics() {
            let mut builder = PrometheusReporter::builder()
                .metrics(defaults::llm_metrics())?
                .max_label_value_bytes(config.metrics.max_label_value_bytes);
            if config.metrics.tinyllm {
                builder = builder.metrics(llm_telemetry_prometheus::tinyllm::tinyllm_metrics())?;
            }
            if let Some(adjust) = self.prometheus {
                builder = adjust(builder);
            }
            let reporter = builder.attach(&bus)?;
            let _ = telemetry.inspector.reporter.set(reporter.clone());
            let inspector = telemetry.inspector.clone();
            let page = Page::new(INSPECT_PATH, "application/json", move || {
                inspector.document().to_string()
            });
            let server_config = ServerConfig::at(config.metrics.listen.to_string()).page(page);
            let server = match reporter.serve(server_config) {
                Ok(server) => server,
                Err(e) => {
                    // Nothing was recorded yet: nothing to wait for.
                    let _ = reporter.detach(Duration::ZERO);
                    return Err(e.into());
                }
            };
            telemetry.metrics_url = Some(server.url());
            if self.global_metrics_recorder {
                match reporter.install_global_recorder() {
                    Ok(()) => telemetry.installed_metrics_recorder = true,
                    // Another recorder owns the facade: the program chose it, so attach goes on.
                    Err(e) => eprintln!(
                        "llm-telemetry: {e}; the program's own `metrics::` calls will not appear \
                         on {} (turn TelemetryBuilder::global_metrics_recorder off to compose the \
                         reporter's recorder with yours)",
                        server.url()
                    ),
                }
            }
            telemetry.metrics = Some((reporter, Some(server)));
        }
        if config.tracks_cost() {
            let mut builder = CostTracker::builder()
                .prices(PriceTable::builtin())
                .settings(&config.cost)?;
            if let Some(adjust) = self.cost {
                builder = adjust(builder);
            }
            telemetry.cost = Some(builder.attach(&bus)?);
        }
        if let Some(mut builder) = config.otel_builder() {
            if let Some(adjust) = self.otel {
                builder = adjust(builder);
            }
            let otel = builder.attach(&bus)?;
            if let Some((reporter, _)) = &telemetry.metrics {
                // Export health on `/metrics`, read at every scrape.
                let reader = otel.stats_reader();
                let handler = otel.handler_id().to_owned();
                reporter.add_counter_source(move || export_health(&reader.read(), &handler));
            }
            let _ = telemetry.inspector.exporter.set(ExporterView {
                handler: otel.handler_id().to_owned(),
                reader: otel.stats_reader(),
            });
            telemetry.otel = Some(otel);
        }
        Ok(())
    }
}

/// The OpenTelemetry handler's export health as Prometheus counters: spans exported, spans
/// dropped past the bus queue by reason (the bus queue's own drops are
/// `llm_telemetry_handler_events_total{outcome="dropped"}`), and export calls that failed.
fn export_health(stats: &OtelStats, handler: &str) -> Vec<CounterSample> {
    let dropped = |reason: &'static str, value: u64| {
        CounterSample::new(
            "llm_telemetry_spans_dropped_total",
            "Spans the OpenTelemetry handler dropped past its bus queue, by reason.",
            value,
        )
        .label("handler", handler)
        .label("reason", reason)
    };
    vec![
        CounterSample::new(
            "llm_telemetry_spans_exported_total",
            "Spans the collector accepted.",
            stats.exported,
        )
        .label("handler", handler),
        dropped("export_queue_full", stats.dropped_queue_full),
        dropped("export_failed", stats.dropped_export_failed),
        dropped("no_exporter", stats.dropped_no_exporter),
        dropped("after_shutdown", stats.dropped_after_shutdown),
        dropped("shutdown_deadline", stats.dropped_at_deadline),
        CounterSample::new(
            "llm_telemetry_span_exports_failed_total",
            "Export calls that failed, timed out or panicked (each drops its batch).",
            stats.failed_exports,
        )
        .label("handler", handler),
    ]
}

/// Every handler a [`Config`] enabled, attached to one bus: read their stats while running, end
/// them with [`Telemetry::shutdown`].
pub struct Telemetry {
    bus: Bus,
    instrumentation: Instrumentation,
    logger: Option<LogHandle>,
    metrics: Option<(PrometheusReporter, Option<MetricsServer>)>,
    cost: Option<CostTracker>,
    otel: Option<OtelHandler>,
    metrics_url: Option<String>,
    installed_metrics_recorder: bool,
    inspector: Inspector,
}

impl std::fmt::Debug for Telemetry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Telemetry")
            .field("log", &self.logger.is_some())
            .field("metrics", &self.metrics_url())
            .field("cost", &self.cost.is_some())
            .field("otel", &self.otel.is_some())
            .finish()
    }
}

impl Telemetry {
    /// The bus the handlers are attached to.
    pub fn bus(&self) -> &Bus {
        &self.bus
    }

    /// The instrumentation helpers, on this bus at the configured level.
    pub fn instrumentation(&self) -> Instrumentation {
        self.instrumentation.clone()
    }

    /// The log handler, when `log.enabled`.
    pub fn logger(&self) -> Option<&LogHandle> {
        self.logger.as_ref()
    }

    /// The Prometheus reporter, when `metrics.enabled`.
    pub fn metrics(&self) -> Option<&PrometheusReporter> {
        self.metrics.as_ref().map(|(reporter, _)| reporter)
    }

    /// Where `/metrics` is served (`http://…/metrics`), when it is (or was, before
    /// [`Telemetry::shutdown`]).
    pub fn metrics_url(&self) -> Option<String> {
        self.metrics_url.clone()
    }

    /// Whether attach installed the reporter's recorder as the process's global `metrics`
    /// recorder ([`TelemetryBuilder::global_metrics_recorder`]).
    pub fn installed_metrics_recorder(&self) -> bool {
        self.installed_metrics_recorder
    }

    /// The cost tracker, when `cost.enabled`.
    pub fn cost(&self) -> Option<&CostTracker> {
        self.cost.as_ref()
    }

    /// The OpenTelemetry handler, when spans are exported.
    pub fn otel(&self) -> Option<&OtelHandler> {
        self.otel.as_ref()
    }

    /// What the handlers are doing now, as the JSON document `/inspect` serves beside
    /// `/metrics` (see [`crate::inspect`]): handlers with their delivery counts and queues,
    /// each metric's cardinality and overflow, the span exporter's state, the configuration
    /// in force. [`crate::inspect::render_text`] prints it for people.
    pub fn inspect(&self) -> serde_json::Value {
        self.inspector.document()
    }

    /// Flushes every handler on the bus (lanes drained, then each handler's flush) by
    /// `deadline`.
    pub fn flush(&self, deadline: impl Into<Deadline>) -> LifecycleReport {
        self.bus.flush(deadline)
    }

    /// Ends every handler on the bus under one `deadline` ([`Bus::shutdown`]), then stops the
    /// `/metrics` endpoint. With a collector that accepts and never answers, this returns at
    /// the deadline; the report names what did not finish.
    pub fn shutdown(&mut self, deadline: impl Into<Deadline>) -> LifecycleReport {
        let report = self.bus.shutdown(deadline);
        if let Some((_, server)) = &mut self.metrics {
            if let Some(server) = server.take() {
                server.stop();
            }
        }
        report
    }

    /// Detaches what was attached, in reverse attach order, after a failed attach: every
    /// handle has the same `detach(deadline)`, and nothing was emitted yet, so no wait.
    fn detach_all(&mut self) {
        if let Some(otel) = self.otel.take() {
            let _ = otel.detach(Duration::ZERO);
        }
        if let Some(cost) = self.cost.take() {
            let _ = cost.detach(Duration::ZERO);
        }
        if let Some((reporter, server)) = self.metrics.take() {
            if let Some(server) = server {
                server.stop();
            }
            let _ = reporter.detach(Duration::ZERO);
        }
        if let Some(logger) = self.logger.take() {
            let _ = logger.detach(Duration::ZERO);
        }
    }
}

impl Config {
    /// Attaches every handler this configuration enables to `bus` (see [`Telemetry`]).
    pub fn attach(&self, bus: &Bus) -> Result<Telemetry, TelemetryError> {
        self.telemetry().attach(bus)
    }

    /// [`Config::attach`] with room to adjust each handler's builder first.
    pub fn telemetry(&self) -> TelemetryBuilder<'_> {
        TelemetryBuilder::new(self)
    }
}
