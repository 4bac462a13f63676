//! The reporter: binds every definition to its series table, attaches one bus handler per group
//! of definitions sharing the same event patterns, and renders the exposition text in either
//! format ([`Format`]): its series straight from their storage, then the self-metrics, which live
//! in a `metrics-exporter-prometheus` recorder *instance* (never the global recorder, so several
//! buses and tests coexist), refreshed first.
//!
//! ```
//! use llm_telemetry_core::{Bus, Value};
//! use llm_telemetry_genai::{catalog::{self, keys}};
//! use llm_telemetry_prometheus::{PrometheusReporter, defaults};
//!
//! let bus = Bus::new();
//! let reporter = PrometheusReporter::builder().metrics(defaults::llm_metrics()).unwrap().attach(&bus).unwrap();
//! let md = [(keys::PROVIDER, Value::Str("openai")), (keys::MODEL, Value::Str("gpt-4o"))];
//! bus.execute(&catalog::LLM_CHAT_START, &[], &md);
//! bus.execute(
//!     &catalog::LLM_CHAT_STOP,
//!     &[(keys::DURATION, 1.2e9), (keys::INPUT_TOKENS, 12.0), (keys::OUTPUT_TOKENS, 40.0)],
//!     &md,
//! );
//! let text = reporter.render();
//! assert!(text.contains("# TYPE gen_ai_client_operation_duration_seconds histogram"));
//! assert!(text.contains("llm_requests_in_flight{gen_ai_operation_name=\"chat\",gen_ai_request_model=\"gpt-4o\"} 0"));
//! // duration, input and output tokens, requests, requests in flight
//! assert_eq!(reporter.stats().series, 5);
//! reporter.detach(std::time::Duration::from_secs(1)).unwrap();
//! ```

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use llm_telemetry_core::{Bus, Deadline, Delivery, DetachError, Event, LifecycleError};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle, PrometheusRecorder};

mod render;

pub(crate) use render::RenderStream;

use crate::definition::{Measure, Metric, MetricKind, Tag};
use crate::error::{DefinitionError, ReporterError};
use crate::exposition::Format;
use crate::facade::FacadeRecorder;
use crate::instrument::{Instrument, SkipReason, record_group};
use crate::label_value::{
    DEFAULT_MAX_LABEL_VALUE_BYTES, MAX_LABEL_VALUE_BYTES, MIN_LABEL_VALUE_BYTES,
};
use crate::self_metrics::{self, BusMetrics};
use crate::series::{CardinalityStats, LabelHasher, SeriesTable};
use crate::sources::{CounterSample, CounterSource, Sources};
use crate::stats::{BusCounts, ReporterStats, ScrapeCounters, ScrapeFailure};

/// The default handler id prefix on the bus.
pub const DEFAULT_HANDLER_PREFIX: &str = "prometheus";

/// Configures a [`PrometheusReporter`]. Each added definition is validated on the spot.
#[derive(Debug)]
pub struct ReporterBuilder {
    metrics: Vec<Metric>,
    handler_prefix: String,
    delivery: Delivery,
    max_label_value_bytes: usize,
    facade_buckets: Option<Vec<f64>>,
    exemplars: bool,
}

impl Default for ReporterBuilder {
    fn default() -> Self {
        Self {
            metrics: Vec::new(),
            handler_prefix: DEFAULT_HANDLER_PREFIX.to_owned(),
            delivery: Delivery::Inline,
            max_label_value_bytes: DEFAULT_MAX_LABEL_VALUE_BYTES,
            facade_buckets: None,
            exemplars: true,
        }
    }
}

impl ReporterBuilder {
    /// Adds one definition, validating it and checking it against those with the same name
    /// (definitions may share a name, e.g. token usage split by a constant `gen_ai_token_type`
    /// tag, if they agree on kind, labels, buckets and cap).
    pub fn metric(mut self, metric: Metric) -> Result<Self, DefinitionError> {
        metric.validate()?;
        if let Some(other) = self.metrics.iter().find(|m| m.name() == metric.name()) {
            let conflict = |what| {
                Err(DefinitionError::Conflict {
                    metric: metric.name().to_owned(),
                    what,
                })
            };
            if other.kind() != metric.kind() {
                return conflict("kinds");
            }
            if !other.label_names().eq(metric.label_names()) {
                return conflict("labels");
            }
            if other.buckets() != metric.buckets() {
                return conflict("buckets");
            }
            if other.series_cap() != metric.series_cap() {
                return conflict("max_series");
            }
        }
        self.metrics.push(metric);
        Ok(self)
    }

    /// Adds several definitions (see [`ReporterBuilder::metric`]).
    pub fn metrics(
        mut self,
        metrics: impl IntoIterator<Item = Metric>,
    ) -> Result<Self, DefinitionError> {
        for metric in metrics {
            self = self.metric(metric)?;
        }
        Ok(self)
    }

    /// The prefix of the handler ids on the bus (default `prometheus`).
    pub fn handler_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.handler_prefix = prefix.into();
        self
    }

    /// How the handlers receive events (default [`Delivery::Inline`]: recording is a hash lookup
    /// and atomic operations, cheaper than a queue push).
    pub fn delivery(mut self, delivery: Delivery) -> Self {
        self.delivery = delivery;
        self
    }

    /// The cap on a label value's length in bytes (default [`DEFAULT_MAX_LABEL_VALUE_BYTES`],
    /// accepted [`MIN_LABEL_VALUE_BYTES`]`..=`[`MAX_LABEL_VALUE_BYTES`], checked when the
    /// reporter is built). A longer string value is cut on a UTF-8 character boundary and
    /// rendered with [`TRUNCATION_MARKER`](crate::TRUNCATION_MARKER) appended; such events are counted in
    /// `llm_telemetry_metric_label_truncated_total` and [`ReporterStats::truncated_events`].
    /// With the series cap this bounds a metric's memory and scrape size whatever the values:
    /// 2,000 series of 1 MB model names cost about 0.5 MB per label, not 2 GB.
    pub fn max_label_value_bytes(mut self, bytes: usize) -> Self {
        self.max_label_value_bytes = bytes;
        self
    }

    /// Bucket bounds for the histograms a program records through the `metrics` facade
    /// ([`PrometheusReporter::install_global_recorder`]): without them the exporter renders
    /// those as summaries. Checked when the reporter is built (finite, strictly increasing).
    /// The reporter's own distributions have their own buckets and are unaffected.
    pub fn facade_buckets(mut self, buckets: &[f64]) -> Self {
        self.facade_buckets = Some(buckets.to_vec());
        self
    }

    /// Whether counters, sums and histogram buckets keep an exemplar (default on): the trace and
    /// span id of the latest event recorded inside a span ([`Event::span`]), shown in the
    /// OpenMetrics output so that a point on a panel opens its trace. Costs a lock-free
    /// compare-and-swap and four relaxed stores per event recorded in a span, and, per histogram
    /// series, 56 bytes per bucket; off, neither.
    pub fn exemplars(mut self, on: bool) -> Self {
        self.exemplars = on;
        self
    }

    /// Builds the reporter and attaches its handlers to `bus`, one per group of definitions
    /// sharing their event patterns (see [`PrometheusReporter::handler_ids`]): the only way to
    /// attach one, and the shape every handler crate shares (`Builder → attach(&bus) → handle`
    /// with `stats`, `flush` and `detach`). On error nothing stays attached. The bus's own
    /// counters ([`Bus::stats`]) are then exported at each render.
    pub fn attach(self, bus: &Bus) -> Result<PrometheusReporter, ReporterError> {
        let reporter = self.build()?;
        reporter.attach_handlers(bus)?;
        Ok(reporter)
    }

    /// Builds the reporter without attaching it, to [`record`](PrometheusReporter::record)
    /// events by hand and [`render`](PrometheusReporter::render) them. Fails if two metric
    /// families would render clashing series names (a distribution `x` renders `x_bucket`,
    /// `x_sum` and `x_count`, so no other metric may be named so).
    pub fn build(self) -> Result<PrometheusReporter, ReporterError> {
        if !(MIN_LABEL_VALUE_BYTES..=MAX_LABEL_VALUE_BYTES).contains(&self.max_label_value_bytes) {
            return Err(ReporterError::LabelValueCap {
                bytes: self.max_label_value_bytes,
                min: MIN_LABEL_VALUE_BYTES,
                max: MAX_LABEL_VALUE_BYTES,
                default: DEFAULT_MAX_LABEL_VALUE_BYTES,
            });
        }
        for metric in self
            .metrics
            .iter()
            .filter(|m| m.kind() == MetricKind::Distribution)
        {
            for suffix in ["_bucket", "_sum", "_count"] {
                let derived = format!("{}{suffix}", metric.name());
                if self.metrics.iter().any(|m| m.name() == derived) {
                    return Err(DefinitionError::Clash {
                        metric: derived,
                        distribution: metric.name().to_owned(),
                    }
                    .into());
                }
            }
        }
        check_openmetrics_names(&self.metrics)?;
        let hasher = LabelHasher::default();
        let mut tagsets: Vec<&[Tag]> = Vec::new();
        let mut tables: Vec<TableEntry> = Vec::new();
        let mut instruments: Vec<Arc<Instrument>> = Vec::new();
        for metric in &self.metrics {
            let index = match tables.iter().position(|t| t.table.name() == metric.name()) {
                Some(i) => i,
                None => {
                    tables.push(TableEntry {
                        table: Arc::new(
                            SeriesTable::new(
                                metric.name().to_owned(),
                                metric.kind(),
                                metric.label_names().map(str::to_owned).collect(),
                                metric.series_cap(),
                                metric.buckets(),
                                hasher.clone(),
                            )
                            .with_exemplars(self.exemplars),
                        ),
                        instruments: Vec::new(),
                        // Without `# HELP`, `promtool check metrics` fails; say what it counts.
                        help: match metric.description_text() {
                            "" => default_help(metric),
                            text => text.to_owned(),
                        },
                    });
                    tables.len() - 1
                }
            };
            let tags = metric.tag_list();
            let tagset = match tagsets.iter().position(|t| {
                t.len() == tags.len() && t.iter().zip(tags).all(|(a, b)| a.same_as(b))
            }) {
                Some(i) => i,
                None => {
                    tagsets.push(tags);
                    tagsets.len() - 1
                }
            };
            // An up/down gauge is two instruments: its up events, and its down events recorded
            // negated.
            let halves = std::iter::once((metric.clone(), false))
                .chain(metric.down_part().map(|down| (down, true)));
            for (part, down) in halves {
                tables[index].instruments.push(instruments.len());
                instruments.push(Arc::new(Instrument::new(
                    part,
                    Arc::clone(&tables[index].table),
                    tagset,
                    self.max_label_value_bytes,
                    down,
                )));
            }
        }
        let mut exporter = PrometheusBuilder::new();
        if let Some(buckets) = &self.facade_buckets {
            let bad = |reason| ReporterError::FacadeBuckets {
                buckets: buckets.clone(),
                reason,
            };
            if buckets.iter().any(|b| !b.is_finite()) {
                return Err(bad(
                    "every bound must be finite (+Inf is added automatically)",
                ));
            }
            if buckets.windows(2).any(|w| w[0] >= w[1]) {
                return Err(bad("bounds must be strictly increasing"));
            }
            exporter = exporter
                .set_buckets(buckets)
                .map_err(|_| bad("at least one bound is needed"))?;
        }
        let recorder = Arc::new(exporter.build_recorder());
        let reserved: Arc<[String]> = tables
            .iter()
            .flat_map(|t| {
                let name = t.table.name();
                let derived: &[&str] = match t.table.kind() {
                    MetricKind::Distribution => &["", "_bucket", "_sum", "_count"],
                    _ => &[""],
                };
                derived.iter().map(move |suffix| format!("{name}{suffix}"))
            })
            .collect();
        let facade_refused = Arc::new(AtomicU64::new(0));
        let handle = recorder.handle();
        let table_metrics = tables
            .iter()
            .map(|t| self_metrics::TableMetrics::register(&recorder, t.table.name()))
            .collect();
        self_metrics::describe(&recorder);
        let facade_refused_metric = self_metrics::facade_refused(&recorder);
        let scrapes_failed_metric = self_metrics::scrapes_failed(&recorder);
        let mut groups: Vec<Group> = Vec::new();
        let mut by_tagset: Vec<&Arc<Instrument>> = instruments.iter().collect();
        // Adjacent instruments with the same tag set share one resolution per event.
        by_tagset.sort_by_key(|i| i.tagset);
        for instrument in by_tagset {
            let mut patterns = instrument.metric.events().to_vec();
            patterns.sort();
            patterns.dedup();
            match groups.iter_mut().find(|g| g.patterns == patterns) {
                Some(g) => g.instruments.push(Arc::clone(instrument)),
                None => groups.push(Group {
                    parsed: patterns
                        .iter()
                        .filter_map(|p| llm_telemetry_core::Pattern::parse(p).ok())
                        .collect(),
                    patterns,
                    instruments: vec![Arc::clone(instrument)],
                }),
            }
        }
        Ok(PrometheusReporter {
            inner: Arc::new(ReporterInner {
                recorder,
                handle,
                tables,
                table_metrics,
                instruments,
                groups,
                handler_prefix: self.handler_prefix,
                delivery: self.delivery,
                exemplars: self.exemplars,
                last_render_len: AtomicUsize::new(0),
                attachment: Mutex::new(Attachment::Never),
                bus_metrics: Mutex::new(BusMetrics::default()),
                sources: Mutex::new(Sources::default()),
                scrapes: ScrapeCounters::default(),
                scrapes_failed_metric,
                reserved,
                facade_refused,
                facade_refused_metric,
            }),
        })
    }
}

struct TableEntry {
    table: Arc<SeriesTable>,
    /// Indexes into `instruments` of the definitions sharing this table.
    instruments: Vec<usize>,
    /// The `# HELP` text.
    help: String,
}

struct Group {
    patterns: Vec<String>,
    parsed: Vec<llm_telemetry_core::Pattern>,
    instruments: Vec<Arc<Instrument>>,
}

/// Where the reporter's handlers are.
enum Attachment {
    /// Built with [`ReporterBuilder::build`]: never attached.
    Never,
    /// Attached to `bus` under `ids`.
    Attached { bus: Bus, ids: Vec<String> },
    /// Detached; the bus's counts for its handlers as of the detach (the bus forgets them).
    Detached(BusCounts),
}

struct ReporterInner {
    recorder: Arc<PrometheusRecorder>,
    handle: PrometheusHandle,
    tables: Vec<TableEntry>,
    table_metrics: Vec<self_metrics::TableMetrics>,
    instruments: Vec<Arc<Instrument>>,
    groups: Vec<Group>,
    handler_prefix: String,
    delivery: Delivery,
    exemplars: bool,
    /// The length of the last render: the next one reserves that much at once.
    last_render_len: AtomicUsize,
    attachment: Mutex<Attachment>,
    bus_metrics: Mutex<BusMetrics>,
    /// Counters kept by other handlers, read at every render.
    sources: Mutex<Sources>,
    scrapes: ScrapeCounters,
    /// `llm_telemetry_scrapes_failed_total`, by reason.
    scrapes_failed_metric: [metrics::Counter; 3],
    /// Names the `metrics` facade may not write (see [`crate::facade`]).
    reserved: Arc<[String]>,
    /// Facade registrations refused.
    facade_refused: Arc<AtomicU64>,
    facade_refused_metric: metrics::Counter,
}

impl ReporterInner {
    fn attachment(&self) -> MutexGuard<'_, Attachment> {
        // Nothing panics while the lock is held; stay usable regardless.
        self.attachment
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The bus and handler ids, while attached.
    fn attached(&self) -> Option<(Bus, Vec<String>)> {
        match &*self.attachment() {
            Attachment::Attached { bus, ids } => Some((bus.clone(), ids.clone())),
            Attachment::Never | Attachment::Detached(_) => None,
        }
    }
}

impl Drop for ReporterInner {
    fn drop(&mut self) {
        let attachment = self
            .attachment
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner);
        if let Attachment::Attached { bus, ids } = attachment {
            for id in ids.iter() {
                let _ = bus.detach(id);
            }
        }
    }
}

/// Turns bus events into Prometheus metrics. Cheap to clone (a shared handle); dropping the last
/// clone detaches it from its bus.
#[derive(Clone)]
pub struct PrometheusReporter {
    inner: Arc<ReporterInner>,
}

impl std::fmt::Debug for PrometheusReporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PrometheusReporter")
            .field(
                "metrics",
                &self
                    .inner
                    .tables
                    .iter()
                    .map(|t| t.table.name())
                    .collect::<Vec<_>>(),
            )
            .field("handler_ids", &self.handler_ids())
            .finish()
    }
}

impl PrometheusReporter {
    /// A builder with no metrics (add [`crate::defaults::llm_metrics`] or your own).
    pub fn builder() -> ReporterBuilder {
        ReporterBuilder::default()
    }

    /// The ids this reporter's handlers have (or will have) on the bus: one per group of
    /// definitions sharing the same event patterns, `<prefix>:<patterns joined by ','>`.
    pub fn handler_ids(&self) -> Vec<String> {
        self.inner
            .groups
            .iter()
            .map(|g| format!("{}:{}", self.inner.handler_prefix, g.patterns.join(",")))
            .collect()
    }

    /// Attaches one handler per group to `bus` (what [`ReporterBuilder::attach`] does after
    /// building). On error nothing stays attached.
    fn attach_handlers(&self, bus: &Bus) -> Result<(), ReporterError> {
        let mut ids: Vec<String> = Vec::new();
        for (group, id) in self.inner.groups.iter().zip(self.handler_ids()) {
            let instruments: Box<[Arc<Instrument>]> = group.instruments.iter().cloned().collect();
            let exemplars = self.inner.exemplars;
            let patterns: Vec<&str> = group.patterns.iter().map(String::as_str).collect();
            let handler = move |event: &Event<'_>| {
                record_group(&instruments, event, exemplars);
            };
            if let Err(e) = bus.attach_with(id.clone(), &patterns, handler, self.inner.delivery) {
                for done in &ids {
                    let _ = bus.detach(done);
                }
                return Err(e.into());
            }
            ids.push(id);
        }
        *self.inner.attachment() = Attachment::Attached {
            bus: bus.clone(),
            ids,
        };
        Ok(())
    }

    /// Waits until every event emitted before the call is recorded, by `deadline` (an
    /// `Instant`, or a `Duration` from now): with queued delivery
    /// ([`ReporterBuilder::delivery`]) that is until the handlers' lanes have drained; inline,
    /// events are recorded as they are emitted and there is nothing to wait for. `/metrics`
    /// renders what is recorded. A reporter not attached (built with
    /// [`ReporterBuilder::build`], or detached) is [`LifecycleError::AlreadyShutDown`].
    pub fn flush(&self, deadline: impl Into<Deadline>) -> Result<(), LifecycleError> {
        let deadline = deadline.into();
        let Some((bus, ids)) = self.inner.attached() else {
            return Err(LifecycleError::AlreadyShutDown);
        };
        let mut result = Ok(());
        for id in &ids {
            match bus.flush_handler(id, deadline) {
                Ok(Ok(())) => {}
                Ok(Err(e)) => result = result.and(Err(e)),
                // Detached by the bus after a failure: nothing of it left to flush.
                Err(DetachError::NotFound(_)) => {}
            }
        }
        result
    }

    /// Detaches the reporter's handlers from their bus, letting queued lanes deliver what they
    /// hold first, all by `deadline` (an `Instant`, or a `Duration` from now). What was recorded
    /// stays readable and renderable, and [`PrometheusReporter::stats`] keeps the bus's counts
    /// as of the detach. A reporter not attached (built with [`ReporterBuilder::build`], or
    /// detached already) is [`LifecycleError::AlreadyShutDown`].
    ///
    /// Takes `&self`, as every handler handle of the workspace does (`OtelHandler`,
    /// `CostTracker`, `LogHandle`, `TracingBridge`): the handle outlives the detach, so its
    /// frozen stats can still be read and what it recorded rendered, and a handle that is
    /// shared (cloned, or held inside the facade's `Telemetry`) can be detached without being
    /// moved out; a second call says [`LifecycleError::AlreadyShutDown`].
    pub fn detach(&self, deadline: impl Into<Deadline>) -> Result<(), LifecycleError> {
        let deadline = deadline.into();
        let (bus, ids) = {
            let mut attachment = self.inner.attachment();
            let Attachment::Attached { bus, ids } = &*attachment else {
                return Err(LifecycleError::AlreadyShutDown);
            };
            let (bus, ids) = (bus.clone(), ids.clone());
            *attachment = Attachment::Detached(BusCounts::of(&bus.stats(), &ids));
            (bus, ids)
        };
        let mut result = Ok(());
        for id in &ids {
            match bus.detach_and_shutdown(id, deadline) {
                Ok(Ok(())) => {}
                Ok(Err(e)) => result = result.and(Err(e)),
                // Detached by the bus after a failure already.
                Err(DetachError::NotFound(_)) => {}
            }
        }
        result
    }

    /// A snapshot of what the reporter did: series held and refused by the caps, events
    /// skipped, events the bus delivered or dropped, scrapes served (see [`ReporterStats`]).
    /// Per-metric numbers are in [`PrometheusReporter::cardinality`].
    pub fn stats(&self) -> ReporterStats {
        let inner = &self.inner;
        let mut stats = ReporterStats {
            metrics: inner.tables.len() as u64,
            ..ReporterStats::default()
        };
        for entry in &inner.tables {
            let cardinality = entry.table.stats();
            stats.series += cardinality.series as u64;
            stats.overflow_events += cardinality.overflow_events;
            stats.metrics_at_cap += u64::from(cardinality.overflowed);
            stats.truncated_events += cardinality.truncated_events;
        }
        for instrument in &inner.instruments {
            stats.skipped_missing_measurement += instrument.skipped(SkipReason::MissingMeasurement);
            stats.skipped_missing_tag += instrument.skipped(SkipReason::MissingTag);
            stats.skipped_invalid_value += instrument.skipped(SkipReason::InvalidValue);
        }
        let bus = match &*inner.attachment() {
            Attachment::Never => BusCounts::default(),
            Attachment::Attached { bus, ids } => BusCounts::of(&bus.stats(), ids),
            Attachment::Detached(kept) => *kept,
        };
        stats.events = bus.delivered;
        stats.dropped = bus.dropped;
        stats.failed = bus.failed;
        (stats.scrapes_served, stats.scrapes_failed) = inner.scrapes.get();
        stats
    }

    /// The scrape counters the `/metrics` endpoint bumps.
    pub(crate) fn scrapes(&self) -> &ScrapeCounters {
        &self.inner.scrapes
    }

    /// Shows counters kept by another handler on this reporter's `/metrics`: `source` is read
    /// at every render (never on an emitting thread) and each sample set as a counter of its
    /// own (see [`crate::sources`]). The facade's `Telemetry` uses it for the OpenTelemetry
    /// handler's export health.
    pub fn add_counter_source(
        &self,
        source: impl Fn() -> Vec<CounterSample> + Send + Sync + 'static,
    ) {
        let source: CounterSource = Box::new(source);
        self.inner
            .sources
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .add(source);
    }

    /// Records one event directly, without a bus (what the attached handlers do).
    pub fn record(&self, event: &Event<'_>) {
        for group in &self.inner.groups {
            if group.parsed.iter().any(|p| p.matches(&event.name())) {
                record_group(&group.instruments, event, self.inner.exemplars);
            }
        }
    }

    /// Renders every metric in the Prometheus text exposition format (version 0.0.4), after
    /// refreshing the self-metrics (cardinality, skipped events, the bus's handler counters).
    /// Same as `render_as(Format::Text)`.
    pub fn render(&self) -> String {
        self.render_as(Format::Text)
    }

    /// Renders every metric in `format` ([`Format::Text`] or [`Format::OpenMetrics`], the
    /// latter with exemplars and its final `# EOF`), after refreshing the self-metrics. The
    /// reporter's metrics come first, in definition order, each family from its series' atomics;
    /// then the self-metrics.
    pub fn render_as(&self, format: Format) -> String {
        let mut stream = RenderStream::new(self.clone(), format);
        let mut out = String::with_capacity(self.last_render_len() + 256);
        while stream.next_part(&mut out, usize::MAX) {}
        out
    }

    /// The length in bytes of the last complete render (0 before the first).
    pub(crate) fn last_render_len(&self) -> usize {
        self.inner.last_render_len.load(Ordering::Relaxed)
    }

    /// The underlying `metrics-exporter-prometheus` handle: the self-metrics (its `render`
    /// shows their values as of the last [`PrometheusReporter::render`]). The reporter's own
    /// metrics are not in it (they are rendered from their own storage); prefer `render`.
    pub fn prometheus_handle(&self) -> &PrometheusHandle {
        &self.inner.handle
    }

    /// Series held and overflowed events, per metric name.
    pub fn cardinality(&self) -> Vec<CardinalityStats> {
        self.inner.tables.iter().map(|t| t.table.stats()).collect()
    }

    /// Events a metric skipped for `reason` (summed over definitions sharing the name).
    pub fn skipped(&self, metric: &str, reason: SkipReason) -> u64 {
        self.inner
            .tables
            .iter()
            .filter(|t| t.table.name() == metric)
            .flat_map(|t| t.instruments.iter())
            .map(|&i| self.inner.instruments[i].skipped(reason))
            .sum()
    }

    /// A `metrics::Recorder` that writes a program's own `metrics::counter!`, `gauge!` and
    /// `histogram!` calls into this reporter, so they render on the same `/metrics`; names the
    /// reporter renders itself are refused (see [`crate::facade`]). Install it yourself, or
    /// compose it with another recorder; [`PrometheusReporter::install_global_recorder`] does
    /// the common case.
    pub fn recorder(&self) -> FacadeRecorder {
        FacadeRecorder::new(
            Arc::clone(&self.inner.recorder),
            Arc::clone(&self.inner.reserved),
            Arc::clone(&self.inner.facade_refused),
        )
    }

    /// Installs [`PrometheusReporter::recorder`] as the process's global `metrics` recorder, so
    /// every `metrics::counter!` / `gauge!` / `histogram!` of the program (and of its libraries)
    /// appears on this reporter's `/metrics`. Once per process: fails with
    /// [`ReporterError::GlobalRecorderTaken`] if a global recorder is already installed.
    ///
    /// ```
    /// use llm_telemetry_core::Bus;
    /// use llm_telemetry_prometheus::{PrometheusReporter, defaults, metrics};
    ///
    /// let bus = Bus::new();
    /// let reporter = PrometheusReporter::builder()
    ///     .metrics(defaults::llm_metrics())?
    ///     .facade_buckets(&[0.1, 1.0, 10.0])
    ///     .attach(&bus)?;
    /// reporter.install_global_recorder()?;
    /// metrics::counter!("jobs_done_total", "queue" => "emails").increment(3);
    /// metrics::histogram!("job_seconds").record(0.25);
    /// let text = reporter.render();
    /// assert!(text.contains("jobs_done_total{queue=\"emails\"} 3"));
    /// assert!(text.contains("# TYPE job_seconds histogram"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn install_global_recorder(&self) -> Result<(), ReporterError> {
        metrics::set_global_recorder(self.recorder())
            .map_err(|_| ReporterError::GlobalRecorderTaken)
    }

    pub(crate) fn refresh_self_metrics(&self) {
        let inner = &self.inner;
        inner
            .facade_refused_metric
            .absolute(inner.facade_refused.load(Ordering::Relaxed));
        for (counter, reason) in inner.scrapes_failed_metric.iter().zip(ScrapeFailure::ALL) {
            counter.absolute(inner.scrapes.failed_for(reason));
        }
        for (entry, metrics) in inner.tables.iter().zip(&inner.table_metrics) {
            let skipped = |reason| {
                entry
                    .instruments
                    .iter()
                    .map(|&i| inner.instruments[i].skipped(reason))
                    .sum::<u64>()
            };
            metrics.refresh(&entry.table.stats(), skipped);
        }
        if let Some((bus, _)) = inner.attached() {
            let stats = bus.stats();
            inner
                .bus_metrics
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .refresh(&inner.recorder, &stats);
        }
        inner
            .sources
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .refresh(&inner.recorder);
    }
}

/// The `# HELP` text of a metric defined without a description.
fn default_help(metric: &Metric) -> String {
    if metric.kind() == MetricKind::UpDown {
        let by = match metric.measure() {
            Measure::Measurement(key) => key.to_string(),
            Measure::Count => "one".to_owned(),
            Measure::Function(_) => "a computed value".to_owned(),
        };
        return format!(
            "Gauge raised by {by} on {} events and lowered on {} events",
            metric.events().join(", "),
            metric.down_events().join(", ")
        );
    }
    let what = match (metric.kind(), metric.measure()) {
        (MetricKind::Counter, _) => "count of".to_owned(),
        (kind, Measure::Measurement(key)) => format!("{} of {key} from", kind_text(kind)),
        (kind, _) => format!("{} computed from", kind_text(kind)),
    };
    format!(
        "{} {} events",
        capitalize(&what),
        metric.events().join(", ")
    )
}

fn kind_text(kind: MetricKind) -> &'static str {
    match kind {
        MetricKind::Counter => "count",
        MetricKind::Sum => "sum",
        MetricKind::LastValue => "last value",
        MetricKind::Distribution => "distribution",
        MetricKind::UpDown => "up/down gauge",
    }
}

fn capitalize(text: &str) -> String {
    let mut chars = text.chars();
    chars
        .next()
        .map(|c| c.to_ascii_uppercase().to_string() + chars.as_str())
        .unwrap_or_default()
}

/// The names a metric renders in OpenMetrics, its family first: a counter `foo_total` or `foo`
/// is the family `foo` writing `foo_total` (and reserving `foo_created`), a histogram `bar`
/// writes `bar_bucket`, `bar_count`, `bar_sum` (and reserves `bar_created`), a gauge its name.
fn openmetrics_names(metric: &Metric) -> Vec<String> {
    let name = metric.name();
    match metric.kind() {
        MetricKind::Counter | MetricKind::Sum => {
            let family = name.strip_suffix("_total").unwrap_or(name);
            vec![
                family.to_owned(),
                format!("{family}_total"),
                format!("{family}_created"),
            ]
        }
        MetricKind::Distribution => {
            let mut names = vec![name.to_owned()];
            names.extend(
                ["_bucket", "_count", "_sum", "_created"]
                    .iter()
                    .map(|suffix| format!("{name}{suffix}")),
            );
            names
        }
        MetricKind::LastValue | MetricKind::UpDown => vec![name.to_owned()],
    }
}

/// Refuses two differently named metrics that would render a name in common in OpenMetrics
/// (definitions sharing one name are checked to agree by [`ReporterBuilder::metric`]).
fn check_openmetrics_names(metrics: &[Metric]) -> Result<(), DefinitionError> {
    let mut seen: Vec<(String, &str)> = Vec::new();
    for metric in metrics {
        if seen.iter().any(|(_, owner)| *owner == metric.name()) {
            continue;
        }
        let names = openmetrics_names(metric);
        for name in &names {
            if let Some((_, owner)) = seen.iter().find(|(n, _)| n == name) {
                let (metric, other) = if *owner < metric.name() {
                    (owner.to_string(), metric.name().to_owned())
                } else {
                    (metric.name().to_owned(), owner.to_string())
                };
                return Err(DefinitionError::NameClash {
                    metric,
                    other,
                    name: name.clone(),
                });
            }
        }
        seen.extend(names.into_iter().map(|n| (n, metric.name())));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reporter_is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<PrometheusReporter>();
    }

    #[test]
    fn metrics_without_description_get_a_help_text() {
        let m = Metric::sum("spend_total", &["llm.cost.calculated"], "cost_usd");
        assert_eq!(
            default_help(&m),
            "Sum of cost_usd from llm.cost.calculated events"
        );
        let m = Metric::counter("c_total", &["a.b", "a.c"]);
        assert_eq!(default_help(&m), "Count of a.b, a.c events");
    }

    #[test]
    fn names_clashing_with_histogram_series_are_rejected() {
        let err = PrometheusReporter::builder()
            .metric(Metric::distribution("latency", &["a.b"], "d", &[1.0]))
            .unwrap()
            .metric(Metric::counter("latency_count", &["a.b"]))
            .unwrap()
            .build()
            .unwrap_err();
        assert!(err.to_string().contains("latency_count"), "{err}");
        assert!(matches!(
            err,
            ReporterError::Definition(DefinitionError::Clash { .. })
        ));
    }

    #[test]
    fn conflicting_definitions_are_rejected() {
        let a = Metric::counter("x_total", &["a.b"]).tags(&["m"]);
        let b = Metric::counter("x_total", &["a.c"]).tags(&["n"]);
        let e = PrometheusReporter::builder()
            .metric(a.clone())
            .unwrap()
            .metric(b)
            .unwrap_err();
        assert_eq!(
            e,
            DefinitionError::Conflict {
                metric: "x_total".into(),
                what: "labels"
            }
        );
        let c = Metric::sum("x_total", &["a.c"], "v").tags(&["m"]);
        let e = PrometheusReporter::builder()
            .metric(a)
            .unwrap()
            .metric(c)
            .unwrap_err();
        assert!(matches!(e, DefinitionError::Conflict { what: "kinds", .. }));
    }
}
