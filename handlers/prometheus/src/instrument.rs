//! One metric definition at run time: turns a matching event into a value and a label set,
//! resolves the series through the shared [`SeriesTable`](crate::series) and records into it.
//! Events that cannot be recorded are skipped and counted by reason, never a panic.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use llm_telemetry::Event;
use metrics_exporter_prometheus::PrometheusRecorder;
use smallvec::SmallVec;

use crate::definition::{MAX_TAGS, Measure, Metric, MetricKind};
use crate::series::{LabelValue, SeriesTable};

/// Why an event was skipped by a metric.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SkipReason {
    /// The event lacked the measurement (or the measure function returned `None`).
    MissingMeasurement,
    /// The event lacked a tag that has no default.
    MissingTag,
    /// The value was not finite after conversion, or negative for a sum.
    InvalidValue,
}

impl SkipReason {
    /// Every reason, in a fixed order.
    pub const ALL: [SkipReason; 3] = [
        SkipReason::MissingMeasurement,
        SkipReason::MissingTag,
        SkipReason::InvalidValue,
    ];

    /// The `reason` label value of `llm_telemetry_metric_skipped_total`.
    pub fn as_str(self) -> &'static str {
        match self {
            SkipReason::MissingMeasurement => "missing_measurement",
            SkipReason::MissingTag => "missing_tag",
            SkipReason::InvalidValue => "invalid_value",
        }
    }
}

/// A definition bound to its series table.
pub(crate) struct Instrument {
    pub(crate) metric: Metric,
    pub(crate) table: Arc<SeriesTable>,
    factor: f64,
    skipped: [AtomicU64; 3],
}

impl Instrument {
    pub(crate) fn new(metric: Metric, table: Arc<SeriesTable>) -> Self {
        let factor = metric.conversion().factor();
        Self {
            metric,
            table,
            factor,
            skipped: Default::default(),
        }
    }

    #[cold]
    fn skip(&self, reason: SkipReason) {
        self.skipped[reason as usize].fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn skipped(&self, reason: SkipReason) -> u64 {
        self.skipped[reason as usize].load(Ordering::Relaxed)
    }

    /// Records one event.
    #[inline]
    pub(crate) fn record(&self, event: &Event<'_>, recorder: &PrometheusRecorder) {
        if let Some(keep) = self.metric.predicate() {
            if !keep(event) {
                return;
            }
        }
        let kind = self.metric.kind();
        let value = match self.metric.measure() {
            Measure::Count => 1.0,
            Measure::Measurement(key) => match event.measurement(key) {
                Some(v) => v * self.factor,
                None => return self.skip(SkipReason::MissingMeasurement),
            },
            Measure::Function(f) => match f(event) {
                Some(v) => v * self.factor,
                None => return self.skip(SkipReason::MissingMeasurement),
            },
        };
        if !value.is_finite() || (kind == MetricKind::Sum && value < 0.0) {
            return self.skip(SkipReason::InvalidValue);
        }
        let mut values: SmallVec<[LabelValue<'_>; MAX_TAGS]> = SmallVec::new();
        for tag in self.metric.tag_list() {
            match tag.resolve(event) {
                Some(v) => values.push(LabelValue::from(v)),
                None => return self.skip(SkipReason::MissingTag),
            }
        }
        self.table.handle(&values, recorder).record(kind, value);
    }
}
