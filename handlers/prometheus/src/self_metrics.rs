//! The crate's self-metrics, refreshed at every render:
//!
//! | metric | type | labels | meaning |
//! |---|---|---|---|
//! | `llm_telemetry_metric_series` | gauge | `metric` | label sets held (without the overflow series) |
//! | `llm_telemetry_metric_series_limit` | gauge | `metric` | the cap |
//! | `llm_telemetry_metric_overflow_total` | counter | `metric` | events recorded into the overflow series |
//! | `llm_telemetry_metric_label_truncated_total` | counter | `metric` | events recorded with a label value cut at the label value cap |
//! | `llm_telemetry_metric_skipped_total` | counter | `metric`, `reason` | events skipped: `missing_measurement`, `missing_tag`, `invalid_value` |
//! | `llm_telemetry_handler_events_total` | counter | `handler`, `outcome` | per bus handler: `delivered`, `dropped`, `failed` |
//! | `llm_telemetry_handler_attached` | gauge | `handler` | 1 while attached, 0 once detached after a failure |
//! | `llm_telemetry_queue_depth` | gauge | `handler` | events waiting in a queued handler's queue |
//! | `llm_telemetry_queue_capacity` | gauge | `handler` | that queue's capacity |
//! | `llm_telemetry_facade_refused_total` | counter | — | `metrics` facade calls refused because the name is the reporter's |
//! | `llm_telemetry_non_finite_measurements_total` | counter | — | NaN/infinite measurements the bus removed |
//! | `llm_telemetry_depth_exceeded_total` | counter | — | events dropped for nesting deeper than the bus allows |
//! | `llm_telemetry_handler_failures_total` | counter | — | handlers that panicked (and were detached) |
//! | `llm_telemetry_scrapes_failed_total` | counter | `reason` | `/metrics` scrapes that failed: `write_timeout`, `disconnected`, `malformed` |
//!
//! The bus rows come from [`llm_telemetry_core::Bus::stats`] of the bus the reporter is attached to, so
//! they cover every handler on that bus, not only this crate's.

use std::collections::HashMap;

use llm_telemetry_core::BusStats;
use metrics::{Counter, Gauge, KeyName, Recorder};
use metrics_exporter_prometheus::PrometheusRecorder;

use crate::instrument::SkipReason;
use crate::register::{counter, gauge};
use crate::series::CardinalityStats;
use crate::stats::ScrapeFailure;

/// Writes the `# HELP` lines of the self-metrics.
pub(crate) fn describe(recorder: &PrometheusRecorder) {
    let help: [(&'static str, &'static str, bool); 14] = [
        (
            "llm_telemetry_metric_series",
            "Label sets held per metric, without the overflow series.",
            false,
        ),
        (
            "llm_telemetry_metric_series_limit",
            "The cap on label sets per metric.",
            false,
        ),
        (
            "llm_telemetry_metric_overflow_total",
            "Events recorded into a metric's overflow series (otel_metric_overflow=\"true\") because its cap was reached.",
            true,
        ),
        (
            "llm_telemetry_metric_label_truncated_total",
            "Events recorded with a label value longer than the label value cap, cut and marked.",
            true,
        ),
        (
            "llm_telemetry_metric_skipped_total",
            "Events a metric skipped, by reason.",
            true,
        ),
        (
            "llm_telemetry_handler_events_total",
            "Events per bus handler, by outcome (delivered, dropped, failed).",
            true,
        ),
        (
            "llm_telemetry_handler_attached",
            "1 while a bus handler is attached, 0 once it was detached after a failure.",
            false,
        ),
        (
            "llm_telemetry_queue_depth",
            "Events waiting in a queued handler's queue.",
            false,
        ),
        (
            "llm_telemetry_queue_capacity",
            "The capacity of a queued handler's queue.",
            false,
        ),
        (
            "llm_telemetry_facade_refused_total",
            "metrics facade registrations refused because the name is one the reporter renders itself.",
            true,
        ),
        (
            "llm_telemetry_non_finite_measurements_total",
            "NaN or infinite measurements the bus removed before delivery.",
            true,
        ),
        (
            "llm_telemetry_depth_exceeded_total",
            "Events the bus dropped because handlers nested emits too deeply.",
            true,
        ),
        (
            "llm_telemetry_handler_failures_total",
            "Bus handlers that panicked and were detached.",
            true,
        ),
        (
            "llm_telemetry_scrapes_failed_total",
            "/metrics scrapes that failed, by reason (write_timeout, disconnected, malformed).",
            true,
        ),
    ];
    for (name, text, is_counter) in help {
        if is_counter {
            recorder.describe_counter(KeyName::from_const_str(name), None, text.into());
        } else {
            recorder.describe_gauge(KeyName::from_const_str(name), None, text.into());
        }
    }
}

/// The counter of refused `metrics` facade calls.
pub(crate) fn facade_refused(recorder: &PrometheusRecorder) -> Counter {
    counter(recorder, "llm_telemetry_facade_refused_total", &[])
}

/// The counters of failed scrapes, indexed like [`ScrapeFailure::ALL`].
pub(crate) fn scrapes_failed(recorder: &PrometheusRecorder) -> [Counter; 3] {
    ScrapeFailure::ALL.map(|reason| {
        counter(
            recorder,
            "llm_telemetry_scrapes_failed_total",
            &[("reason", reason.as_str())],
        )
    })
}

/// The self-metric handles of one metric name.
pub(crate) struct TableMetrics {
    series: Gauge,
    limit: Gauge,
    overflow: Counter,
    truncated: Counter,
    skipped: [Counter; 3],
}

impl TableMetrics {
    pub(crate) fn register(recorder: &PrometheusRecorder, metric: &str) -> Self {
        let l = [("metric", metric)];
        Self {
            series: gauge(recorder, "llm_telemetry_metric_series", &l),
            limit: gauge(recorder, "llm_telemetry_metric_series_limit", &l),
            overflow: counter(recorder, "llm_telemetry_metric_overflow_total", &l),
            truncated: counter(recorder, "llm_telemetry_metric_label_truncated_total", &l),
            skipped: SkipReason::ALL.map(|r| {
                counter(
                    recorder,
                    "llm_telemetry_metric_skipped_total",
                    &[("metric", metric), ("reason", r.as_str())],
                )
            }),
        }
    }

    pub(crate) fn refresh(&self, stats: &CardinalityStats, skipped: impl Fn(SkipReason) -> u64) {
        self.series.set(stats.series as f64);
        self.limit.set(stats.max_series as f64);
        self.overflow.absolute(stats.overflow_events);
        self.truncated.absolute(stats.truncated_events);
        for (counter, reason) in self.skipped.iter().zip(SkipReason::ALL) {
            counter.absolute(skipped(reason));
        }
    }
}

struct HandlerMetrics {
    delivered: Counter,
    dropped: Counter,
    failed: Counter,
    attached: Gauge,
    queue: Option<(Gauge, Gauge)>,
}

/// The bus-level self-metric handles, registered as handlers appear.
#[derive(Default)]
pub(crate) struct BusMetrics {
    handlers: HashMap<String, HandlerMetrics>,
    bus: Option<[Counter; 3]>,
}

impl BusMetrics {
    pub(crate) fn refresh(&mut self, recorder: &PrometheusRecorder, stats: &BusStats) {
        let bus = self.bus.get_or_insert_with(|| {
            [
                "llm_telemetry_non_finite_measurements_total",
                "llm_telemetry_depth_exceeded_total",
                "llm_telemetry_handler_failures_total",
            ]
            .map(|name| counter(recorder, name, &[]))
        });
        bus[0].absolute(stats.non_finite_measurements);
        bus[1].absolute(stats.depth_exceeded);
        bus[2].absolute(stats.handler_failures);
        for h in &stats.handlers {
            let m = self.handlers.entry(h.id.clone()).or_insert_with(|| {
                let id = h.id.as_str();
                let events = |outcome| {
                    counter(
                        recorder,
                        "llm_telemetry_handler_events_total",
                        &[("handler", id), ("outcome", outcome)],
                    )
                };
                HandlerMetrics {
                    delivered: events("delivered"),
                    dropped: events("dropped"),
                    failed: events("failed"),
                    attached: gauge(
                        recorder,
                        "llm_telemetry_handler_attached",
                        &[("handler", id)],
                    ),
                    queue: None,
                }
            });
            m.delivered.absolute(h.delivered);
            m.dropped.absolute(h.dropped);
            m.failed.absolute(h.failed);
            m.attached.set(if h.attached { 1.0 } else { 0.0 });
            if let Some(q) = h.queue {
                let (depth, capacity) = m.queue.get_or_insert_with(|| {
                    let l = [("handler", h.id.as_str())];
                    (
                        gauge(recorder, "llm_telemetry_queue_depth", &l),
                        gauge(recorder, "llm_telemetry_queue_capacity", &l),
                    )
                });
                depth.set(q.depth as f64);
                capacity.set(q.capacity as f64);
            }
        }
    }
}
