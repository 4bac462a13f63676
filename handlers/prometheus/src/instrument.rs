//! One metric definition at run time: turns a matching event into a value and a label set
//! (canonical label values, cut at the reporter's cap: see [`crate::label_value`]), resolves the
//! series through the shared [`SeriesTable`](crate::series) and records into it. Events that
//! cannot be recorded are skipped and counted by reason, never a panic. The down half of an
//! up/down gauge is an instrument of its own that records the negated value.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use llm_telemetry_core::{Event, SpanContext};
use smallvec::SmallVec;

use crate::definition::{MAX_TAGS, Measure, Metric, MetricKind};
use crate::label_value::LabelValue;
use crate::series::SeriesTable;

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
    /// The conversion factor, negated for the down half of an up/down gauge.
    factor: f64,
    /// The cap on label value length, in bytes.
    max_label_bytes: usize,
    skipped: [AtomicU64; 3],
}

/// What resolving an event's label values found.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Resolved {
    /// A tag without default is missing.
    Missing,
    /// Every value, none cut.
    Whole,
    /// Every value, at least one cut at the cap.
    Cut,
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
    // (tag set id, what resolving found, hash if every tag resolved) of what `values` holds.
    let mut current: Option<(usize, Resolved, u64)> = None;
    for instrument in instruments {
        let Some(value) = instrument.value(event) else {
            continue;
        };
        let (resolved, hash) = match current {
            Some((tagset, resolved, hash)) if tagset == instrument.tagset => (resolved, hash),
            _ => {
                let resolved = instrument.resolve_into(event, &mut values);
                let hash = match resolved {
                    Resolved::Missing => 0,
                    _ => instrument.table.hasher().hash(&values),
                };
                current = Some((instrument.tagset, resolved, hash));
                (resolved, hash)
            }
        };
        if resolved == Resolved::Missing {
            instrument.skip(SkipReason::MissingTag);
            continue;
        }
        let kind = instrument.metric.kind();
        let span = match kind {
            MetricKind::LastValue => None,
            _ => span.get_or_insert_with(|| event.span()).as_ref(),
        };
        instrument
            .table
            .handle_hashed(hash, &values)
            .record_in(kind, value, span);
        if resolved == Resolved::Cut {
            instrument.table.count_truncated();
        }
    }
}

impl Instrument {
    /// Binds `metric` to `table`; `down` is the down half of an up/down gauge (recorded
    /// negated), `max_label_bytes` the cap on label value length.
    pub(crate) fn new(
        metric: Metric,
        table: Arc<SeriesTable>,
        tagset: usize,
        max_label_bytes: usize,
        down: bool,
    ) -> Self {
        let factor = metric.conversion().factor();
        Self {
            metric,
            table,
            tagset,
            factor: if down { -factor } else { factor },
            max_label_bytes,
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

    /// Fills `values` with the label values of `event` (canonical, cut at the cap).
    #[inline]
    fn resolve_into<'s, 'a: 's>(
        &'s self,
        event: &Event<'a>,
        values: &mut SmallVec<[LabelValue<'s>; MAX_TAGS]>,
    ) -> Resolved {
        values.clear();
        let mut cut = false;
        for tag in self.metric.tag_list() {
            match tag.resolve(event) {
                Some(v) => {
                    let value = LabelValue::new(v, self.max_label_bytes);
                    cut |= value.is_cut();
                    values.push(value);
                }
                None => return Resolved::Missing,
            }
        }
        if cut { Resolved::Cut } else { Resolved::Whole }
    }
}
