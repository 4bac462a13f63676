//! One metric definition at run time: turns a matching event into a value and a label set,
//! resolves the series through the shared [`SeriesTable`](crate::series) and records into it.
//! Events that cannot be recorded are skipped and counted by reason, never a panic.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use llm_telemetry_core::{Event, SpanContext};
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
    /// Identifies the definition's tag list: instruments with the same id resolve the same
    /// label values from an event, so a group resolves and hashes them once.
    pub(crate) tagset: usize,
    factor: f64,
    skipped: [AtomicU64; 3],
}

/// Records one event into every instrument of a handler group (sorted by tag set), resolving
/// and hashing each distinct tag set once (all tables of a reporter share one hasher). The label
/// values live in one stack buffer that is filled in place, never moved. With `exemplars`, the
/// event's span (read once, only if an instrument records) becomes the exemplar of what counters,
/// sums and histograms record.
#[inline]
pub(crate) fn record_group(instruments: &[Arc<Instrument>], event: &Event<'_>, exemplars: bool) {
    let mut values: SmallVec<[LabelValue<'_>; MAX_TAGS]> = SmallVec::new();
    // The event's span: read at the first record, when exemplars are on.
    let mut span: Option<Option<SpanContext>> = (!exemplars).then_some(None);
    // (tag set id, hash if every tag resolved) of what `values` holds.
    let mut current: Option<(usize, Option<u64>)> = None;
    for instrument in instruments {
        let Some(value) = instrument.value(event) else {
            continue;
        };
        let hash = match current {
            Some((tagset, hash)) if tagset == instrument.tagset => hash,
            _ => {
                let hash = instrument
                    .resolve_into(event, &mut values)
                    .then(|| instrument.table.hasher().hash(&values));
                current = Some((instrument.tagset, hash));
                hash
            }
        };
        match hash {
            Some(hash) => {
                let kind = instrument.metric.kind();
                let span = match kind {
                    MetricKind::LastValue => None,
                    _ => span.get_or_insert_with(|| event.span()).as_ref(),
                };
                instrument
                    .table
                    .handle_hashed(hash, &values)
                    .record_in(kind, value, span)
            }
            None => instrument.skip(SkipReason::MissingTag),
        }
    }
}

impl Instrument {
    pub(crate) fn new(metric: Metric, table: Arc<SeriesTable>, tagset: usize) -> Self {
        let factor = metric.conversion().factor();
        Self {
            metric,
            table,
            tagset,
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

    /// The value to record for `event`, or `None` (counted) if it is filtered out or unusable.
    #[inline]
    fn value(&self, event: &Event<'_>) -> Option<f64> {
        if let Some(keep) = self.metric.predicate() {
            if !keep(event) {
                return None;
            }
        }
        let value = match self.metric.measure() {
            Measure::Count => Some(1.0),
            Measure::Measurement(key) => event.measurement(key),
            Measure::Function(f) => f(event),
        }
        .map(|v| v * self.factor);
        let Some(value) = value else {
            self.skip(SkipReason::MissingMeasurement);
            return None;
        };
        if !value.is_finite() || (self.metric.kind() == MetricKind::Sum && value < 0.0) {
            self.skip(SkipReason::InvalidValue);
            return None;
        }
        Some(value)
    }

    /// Fills `values` with the label values of `event`; false if a tag without default is
    /// missing.
    #[inline]
    fn resolve_into<'s, 'a: 's>(
        &'s self,
        event: &Event<'a>,
        values: &mut SmallVec<[LabelValue<'s>; MAX_TAGS]>,
    ) -> bool {
        values.clear();
        for tag in self.metric.tag_list() {
            match tag.resolve(event) {
                Some(v) => values.push(LabelValue::from(v)),
                None => return false,
            }
        }
        true
    }
}
