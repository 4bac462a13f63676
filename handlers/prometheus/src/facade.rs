//! The `metrics` facade on the reporter's `/metrics`: [`FacadeRecorder`] is a `metrics::Recorder`
//! that forwards a program's own `metrics::counter!`, `gauge!` and `histogram!` calls into the
//! reporter's `PrometheusRecorder`, so they render on the same endpoint as the event metrics.
//!
//! Install it as the process's global recorder with
//! [`PrometheusReporter::install_global_recorder`](crate::PrometheusReporter::install_global_recorder),
//! or take it with [`PrometheusReporter::recorder`](crate::PrometheusReporter::recorder) to compose
//! it with another recorder (a fan-out or layer of `metrics-util`) that you install yourself.
//!
//! Names the reporter renders itself (its metrics, a distribution's `_bucket`, `_sum` and
//! `_count` series) and the `llm_telemetry_` self-metric prefix are refused: such a call gets a
//! no-op handle and is counted in `llm_telemetry_facade_refused_total`, because two writers of
//! one series would make its value whichever wrote last.
//!
//! Describe your metrics (`metrics::describe_counter!` and friends) so they get a `# HELP` line
//! (promtool's lint asks for one). Users' histograms are the exporter's: a summary unless buckets are set with
//! [`ReporterBuilder::facade_buckets`](crate::ReporterBuilder::facade_buckets), and their
//! observations wait in the exporter's buffer until the next render (a scrape) drains them.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use metrics::{Counter, Gauge, Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit};
use metrics_exporter_prometheus::PrometheusRecorder;

/// The prefix reserved for the reporter's self-metrics.
const SELF_PREFIX: &str = "llm_telemetry_";

/// A `metrics::Recorder` writing into a reporter's recorder (see the [module docs](self)).
/// Cheap to clone.
#[derive(Clone)]
pub struct FacadeRecorder {
    recorder: Arc<PrometheusRecorder>,
    /// Names the reporter renders itself.
    reserved: Arc<[String]>,
    refused: Arc<AtomicU64>,
}

impl std::fmt::Debug for FacadeRecorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FacadeRecorder")
            .field("reserved", &self.reserved)
            .field("refused", &self.refused())
            .finish()
    }
}

impl FacadeRecorder {
    pub(crate) fn new(
        recorder: Arc<PrometheusRecorder>,
        reserved: Arc<[String]>,
        refused: Arc<AtomicU64>,
    ) -> Self {
        Self {
            recorder,
            reserved,
            refused,
        }
    }

    /// Whether `name` belongs to the reporter.
    fn is_reserved(&self, name: &str) -> bool {
        name.starts_with(SELF_PREFIX) || self.reserved.iter().any(|r| r == name)
    }

    /// Registrations and descriptions refused so far (also `llm_telemetry_facade_refused_total`).
    pub fn refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }

    /// `None` (counted) when the name is the reporter's.
    fn allowed(&self, name: &str) -> Option<&PrometheusRecorder> {
        if self.is_reserved(name) {
            self.refused.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        Some(&self.recorder)
    }
}

impl Recorder for FacadeRecorder {
    fn describe_counter(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        if let Some(r) = self.allowed(key.as_str()) {
            r.describe_counter(key, unit, description);
        }
    }

    fn describe_gauge(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        if let Some(r) = self.allowed(key.as_str()) {
            r.describe_gauge(key, unit, description);
        }
    }

    fn describe_histogram(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        if let Some(r) = self.allowed(key.as_str()) {
            r.describe_histogram(key, unit, description);
        }
    }

    fn register_counter(&self, key: &Key, metadata: &Metadata<'_>) -> Counter {
        match self.allowed(key.name()) {
            Some(r) => r.register_counter(key, metadata),
            None => Counter::noop(),
        }
    }

    fn register_gauge(&self, key: &Key, metadata: &Metadata<'_>) -> Gauge {
        match self.allowed(key.name()) {
            Some(r) => r.register_gauge(key, metadata),
            None => Gauge::noop(),
        }
    }

    fn register_histogram(&self, key: &Key, metadata: &Metadata<'_>) -> Histogram {
        match self.allowed(key.name()) {
            Some(r) => r.register_histogram(key, metadata),
            None => Histogram::noop(),
        }
    }
}
