//! # llm-telemetry-prometheus
//!
//! Prometheus metrics from `llm-telemetry` events, with cardinality caps and a `/metrics`
//! endpoint, in the manner of Elixir's `Telemetry.Metrics` + its Prometheus reporter.
//!
//! ```no_run
//! use llm_telemetry_core::Bus;
//! use llm_telemetry_prometheus::{PrometheusReporter, ServerConfig, defaults};
//!
//! let bus = Bus::global();
//! let reporter = PrometheusReporter::builder()
//!     .metrics(defaults::llm_metrics())?
//!     .attach(bus)?;
//! let server = reporter.serve(ServerConfig::default())?; // http://127.0.0.1:9568/metrics
//! // … at exit:
//! server.stop();
//! reporter.detach(std::time::Duration::from_secs(5))?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## Pieces
//!
//! - [`definition`]: metric definitions as validated data — [`Metric::counter`], [`Metric::sum`],
//!   [`Metric::last_value`], [`Metric::distribution`] (explicit buckets, always a real histogram,
//!   never a summary), [`Metric::up_down`] / [`Metric::up_down_by`] (a gauge events move by ±1
//!   or ± a measurement: requests in flight, bytes cached); tags and tag-value mapping ([`Tag`]), a keep/drop predicate, unit
//!   [`Conversion`] and a description. Errors ([`DefinitionError`]) name the bad definition.
//! - [`reporter`]: [`PrometheusReporter`] attaches one bus handler per group of definitions
//!   sharing their event patterns. An event updates plain atomics in its series (one atomic
//!   operation for a counter or gauge), and a render writes each family straight from them, in
//!   either [`Format`]. The self-metrics are `metrics` handles of a `metrics-exporter-prometheus`
//!   recorder **instance** (`PrometheusBuilder::build_recorder`) — never the global recorder, so
//!   several buses, reporters and tests coexist in one process — rendered by its
//!   `PrometheusHandle` after the reporter's own families. Built and attached by
//!   [`ReporterBuilder::attach`], the reporter is also the handle: [`PrometheusReporter::stats`],
//!   [`PrometheusReporter::flush`] and [`PrometheusReporter::detach`], as every handler crate
//!   has them.
//! - [`stats`]: [`ReporterStats`], what an operator asks of a running reporter (series held and
//!   refused by the caps, skipped events, events the bus delivered and dropped, scrapes served).
//! - [`series`]: the resolve-once handle cache per (metric, label values) and the cardinality cap.
//!   The hot path for an existing series is one hash of the borrowed label values, lock-free
//!   probes of a fixed-capacity insert-only table, and the handle's atomic update: no lock, no
//!   allocation, no string formatting (the module docs say why this table rather than an
//!   `arc-swap`ped or `papaya` map). Definitions of one handler group with identical tags
//!   resolve and hash the label values once per event. Past the cap (default 2000 label sets per
//!   metric, as in the OpenTelemetry SDK; [`Metric::max_series`]) new label sets go to one
//!   overflow series labelled `otel_metric_overflow="true"`, so totals stay exact and memory
//!   stays bounded.
//! - Distributions are **not** the exporter's histogram handle: that handle buffers every
//!   observation (8 bytes each) until a scrape or upkeep pass drains it, which let a burst of
//!   1,000,000 events grow the process by 62 MB in the cardinality bench, and costs about 60 ns
//!   per observation. A distribution here is a set of fixed bucket counters per series (bounded
//!   memory, two atomic operations per observation), with the exporter's label escaping. It is
//!   always a real histogram.
//! - [`label_value`]: label values as series keys — one rendered text, one series (`Int(200)`,
//!   `Str("200")` and `Float(200.0)` are one series), and string values cut at
//!   [`DEFAULT_MAX_LABEL_VALUE_BYTES`] (configurable: [`ReporterBuilder::max_label_value_bytes`])
//!   with [`TRUNCATION_MARKER`], so memory and scrape size stay bounded whatever the values.
//! - [`facade`]: [`FacadeRecorder`], the `metrics` facade on the same `/metrics`
//!   ([`PrometheusReporter::install_global_recorder`]): a program's own `metrics::counter!` /
//!   `gauge!` / `histogram!` calls render beside the event metrics.
//! - [`exposition`]: the text format 0.0.4 and **OpenMetrics 1.0** ([`Format`]), chosen from the
//!   scraper's `Accept` header ([`Format::negotiate`]; Prometheus asks for OpenMetrics), and
//!   [`PrometheusReporter::render_as`]. OpenMetrics carries **exemplars**: counters, sums and
//!   histogram buckets keep the `trace_id`/`span_id` of the latest event recorded inside a span
//!   ([`llm_telemetry_core::Event::span`]) in a small seqlock of atomics per series or bucket
//!   (no lock and no allocation when recording; a writer that finds the slot busy skips), so a
//!   latency point in Grafana opens its trace. Their timestamp is the first render that saw them.
//!   Turn them off with [`ReporterBuilder::exemplars`].
//! - [`self_metrics`]: cardinality and skip counters, and the bus's own health from
//!   [`llm_telemetry_core::Bus::stats`] (delivered/dropped/failed per handler, queue depths), refreshed
//!   at each render (their handles are registered by `register`).
//! - [`defaults`]: the default LLM metric set ([`defaults::llm_metrics`], [`defaults::basic`],
//!   [`defaults::cost_only`]) with GenAI names, labels and advised buckets.
//! - [`server`]: the `/metrics` endpoint, hyper's HTTP/1 server on a current-thread tokio
//!   runtime of its own thread (the program needs no runtime): keep-alive, `HEAD`, gzip when
//!   accepted, a request-head deadline (slow clients are cut, not queued), a write deadline, a
//!   connection cap (512 by default, then `503`), `4xx` for malformed or oversized requests, and
//!   renders shared by requests that arrive together; [`MetricsServer`] stops it.
//! - [`sanitize`]: Prometheus naming rules, property-tested.
//!
//! ## Exported names
//!
//! The default metrics are listed in [`defaults`], the self-metrics in [`self_metrics`].
//!
//! ## Choices worth knowing
//!
//! - **Skip and count, never crash.** An event lacking the measurement or a tag without default,
//!   or whose value is not finite (or negative for a sum), is skipped and counted in
//!   `llm_telemetry_metric_skipped_total{metric,reason}`; the handler never panics, so it is never
//!   detached.
//! - **Sums are float counters.** A [`MetricKind::Sum`] (e.g. `llm_cost_usd_total`) adds floats
//!   into its series' atomic bits and renders as a `counter`.
//! - **Label values are exact.** The renderer escapes `"` and newlines but reads backslashes as
//!   escapes already written; [`sanitize::prepare_label_value`] doubles them at registration, so
//!   hostile values (quotes, newlines, backslashes, unicode, 10 kB strings) read back unchanged
//!   from Prometheus (tested against a real server).
//! - **No idle expiry.** Series are never removed: the cap bounds memory instead, and the
//!   insert-only table is what keeps the read path free of locks and guards. The exporter's own
//!   idle timeout is not enabled because it would orphan the cached handles.
//! - **No upkeep thread.** Nothing buffers between scrapes (see distributions above), so there
//!   is nothing to drain.
//! - **Both formats, one series name.** OpenMetrics names a counter family without `_total` but
//!   keeps the `_total` sample name, so Prometheus stores the same series whichever format it
//!   negotiates; `le` values are written alike in both. A counter named without `_total` is
//!   declared `unknown` in OpenMetrics (its values are unchanged, it carries no exemplar).
//!   `promtool check metrics` (2.42) reads only the text format; the OpenMetrics output is checked
//!   by a real Prometheus ingesting it, exemplars included (`tests/exemplars.rs`).

#![warn(missing_docs)]

pub mod defaults;
pub mod definition;
pub mod error;
mod exemplar;
pub mod exposition;
pub mod facade;
mod histogram;
mod http;
mod instrument;
pub mod label_value;
pub mod page;
mod register;
pub mod reporter;
pub mod sanitize;
pub mod self_metrics;
pub mod series;
pub mod server;
pub mod sources;
pub mod stats;
pub mod tinyllm;

/// The `metrics` crate this reporter records into (same version, for users' own handles).
pub use metrics;
/// The `metrics-exporter-prometheus` crate that renders the exposition text.
pub use metrics_exporter_prometheus;

pub use definition::{
    Conversion, DEFAULT_MAX_SERIES, MAX_SERIES_LIMIT, MAX_TAGS, Measure, Metric, MetricKind,
    OVERFLOW_LABEL, Tag, TagSource,
};
pub use error::{DefinitionError, ReporterError, ServeError};
pub use exposition::Format;
pub use facade::FacadeRecorder;
pub use instrument::SkipReason;
pub use label_value::{
    DEFAULT_MAX_LABEL_VALUE_BYTES, MAX_LABEL_VALUE_BYTES, MIN_LABEL_VALUE_BYTES, TRUNCATION_MARKER,
};
pub use page::Page;
pub use reporter::{PrometheusReporter, ReporterBuilder};
pub use series::CardinalityStats;
pub use server::{DEFAULT_ADDRESS, MetricsServer, ServerConfig};
pub use sources::{CounterSample, CounterSource};
pub use stats::ReporterStats;

impl PrometheusReporter {
    /// Starts the `/metrics` endpoint for this reporter (see [`server`]).
    pub fn serve(&self, config: ServerConfig) -> Result<MetricsServer, ServeError> {
        MetricsServer::start(self.clone(), config)
    }
}
