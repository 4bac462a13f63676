//! The resolve-once series cache of one metric: label values → the series' storage (an atomic
//! counter or gauge, or a bucket histogram, each with its exemplar slots), with the cardinality
//! cap and the overflow series. The reporter renders the series straight from this storage
//! (`crate::exposition`), in either exposition format.
//!
//! # Why this structure
//!
//! The cap bounds how many series a metric can ever hold, and series are never removed, so the
//! cache is a **fixed-capacity, insert-only, open-addressing table** of `OnceLock<Box<Series>>`
//! slots, sized to at least twice the cap (load factor ≤ ½, short linear probes):
//!
//! - **read path** (an existing series): hash the borrowed label values (foldhash, seeded per
//!   table, so hostile label values cannot aim collisions), then probe: each probe is one
//!   `Acquire` load (a plain load on x86) and a comparison of borrowed values with the stored
//!   ones. No lock, no epoch guard, no reference count, no allocation, no string formatting.
//!   This beats an `arc-swap`ped map (a guard per read and an O(n) copy per insert) and a
//!   concurrent map such as `papaya` (an epoch guard per read), and needs no `unsafe`.
//! - **insert path** (a label set seen for the first time): takes the table's mutex, probes
//!   again, and either fills an empty slot with a freshly registered series (the only place that
//!   allocates and formats label values) or, at the cap, returns the overflow series.
//! - **at the cap**, a miss re-probes once (so an insert racing with the read is found) and goes
//!   to the overflow series without taking the lock: a cardinality attack costs no allocation
//!   and no lock per event.
//!
//! Memory: `16 × slots` bytes for the table (64 KiB at the default cap of 2000), plus one boxed
//! entry per series.

use std::hash::{BuildHasher, Hash, Hasher};
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock, PoisonError};

use std::sync::Arc;

use llm_telemetry_core::SpanContext;
use metrics_exporter_prometheus::formatting::sanitize_label_value;

use crate::definition::MetricKind;
#[cfg(test)]
use crate::definition::OVERFLOW_LABEL;
use crate::exemplar::ExemplarSlot;
use crate::histogram::{self, BucketHistogram};
use crate::label_value::{KIND_CUT, KIND_FLOAT, KIND_INT, KIND_TEXT, LabelValue};

/// The storage of one series: plain atomics (one atomic operation per event), rendered by
/// `crate::exposition` straight from here, plus the exemplar slot(s) of an observation made in a
/// span (`crate::exemplar`).
pub(crate) enum SeriesHandle {
    /// Counters count events.
    Counter {
        /// Events counted.
        count: AtomicU64,
        /// The latest increment made in a span.
        exemplar: ExemplarSlot,
    },
    /// Sums and last values are float gauges (sums render as counters).
    Gauge {
        /// The value's bits.
        bits: AtomicU64,
        /// The latest increment made in a span (sums only).
        exemplar: ExemplarSlot,
    },
    /// Distributions (see the `histogram` module for why not the exporter's histogram).
    Histogram(BucketHistogram),
}

impl SeriesHandle {
    fn counter() -> Self {
        SeriesHandle::Counter {
            count: AtomicU64::new(0),
            exemplar: ExemplarSlot::default(),
        }
    }

    fn gauge() -> Self {
        SeriesHandle::Gauge {
            bits: AtomicU64::new(0f64.to_bits()),
            exemplar: ExemplarSlot::default(),
        }
    }

    /// Records one event's value into the series.
    #[cfg(test)]
    pub(crate) fn record(&self, kind: MetricKind, value: f64) {
        self.record_in(kind, value, None);
    }

    /// Records one event's value into the series; `span`, the event's span when exemplars are
    /// on, becomes the exemplar of a counter, a sum or the histogram bucket the value falls in.
    #[inline]
    pub(crate) fn record_in(&self, kind: MetricKind, value: f64, span: Option<&SpanContext>) {
        match (self, kind) {
            (SeriesHandle::Counter { count, exemplar }, _) => {
                count.fetch_add(1, Ordering::Relaxed);
                if let Some(span) = span {
                    exemplar.record(span, 1.0);
                }
            }
            (SeriesHandle::Gauge { bits, exemplar }, MetricKind::Sum | MetricKind::UpDown) => {
                histogram::add_f64(bits, value);
                if let Some(span) = span {
                    exemplar.record(span, value);
                }
            }
            (SeriesHandle::Gauge { bits, .. }, _) => bits.store(value.to_bits(), Ordering::Relaxed),
            (SeriesHandle::Histogram(h), _) => h.record(value, span),
        }
    }
}

/// Hashes label values, seeded randomly per reporter (so hostile label values cannot aim
/// collisions) and shared by all its tables, so definitions with the same tags hash once.
#[derive(Clone, Default)]
pub(crate) struct LabelHasher(foldhash::fast::RandomState);

impl LabelHasher {
    #[inline]
    pub(crate) fn hash(&self, values: &[LabelValue<'_>]) -> u64 {
        let mut h = self.0.build_hasher();
        for v in values {
            h.write_u64(v.kind);
            if v.kind == KIND_TEXT || v.kind == KIND_CUT {
                v.text.hash(&mut h);
            } else {
                h.write_u64(v.number);
            }
        }
        h.finish()
    }
}

/// One stored label value, comparable with a borrowed [`LabelValue`] without allocating: the
/// canonical key (see [`crate::label_value`]), so equal keys are exactly equal rendered texts.
#[derive(Debug, PartialEq)]
enum KeyPart {
    Text(Box<str>),
    Int(i64),
    Float(u64),
    /// The kept prefix of a value cut at the cap.
    Cut(Box<str>),
}

impl KeyPart {
    fn from_value(value: &LabelValue<'_>) -> Self {
        match value.kind {
            KIND_INT => KeyPart::Int(value.number as i64),
            KIND_FLOAT => KeyPart::Float(value.number),
            KIND_CUT => KeyPart::Cut(value.text.into()),
            _ => KeyPart::Text(value.text.into()),
        }
    }

    #[inline]
    fn matches(&self, value: &LabelValue<'_>) -> bool {
        match (self, value.kind) {
            (KeyPart::Text(a), KIND_TEXT) | (KeyPart::Cut(a), KIND_CUT) => {
                bytes_eq(a.as_bytes(), value.text.as_bytes())
            }
            (KeyPart::Int(a), KIND_INT) => *a as u64 == value.number,
            (KeyPart::Float(a), KIND_FLOAT) => *a == value.number,
            _ => false,
        }
    }
}

/// Byte equality compared a word at a time, inline: label values are short, and a call to
/// `memcmp` per comparison showed up in profiles of the hot path.
#[inline]
fn bytes_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let word = |chunk: &[u8]| {
        <[u8; 8]>::try_from(chunk)
            .map(u64::from_ne_bytes)
            .unwrap_or(0)
    };
    let mut a_words = a.chunks_exact(8);
    let mut b_words = b.chunks_exact(8);
    for (x, y) in (&mut a_words).zip(&mut b_words) {
        if word(x) != word(y) {
            return false;
        }
    }
    let (a_rest, b_rest) = (a_words.remainder(), b_words.remainder());
    a_rest.iter().zip(b_rest).all(|(x, y)| x == y)
}

/// Formats labels as the exposition formats write them: `key="escaped value"`, joined by `,`.
fn render_labels(keys: &[String], values: &[LabelValue<'_>]) -> Box<str> {
    let mut out = String::new();
    for (k, v) in keys.iter().zip(values) {
        if !out.is_empty() {
            out.push(',');
        }
        out.push_str(k);
        out.push_str("=\"");
        out.push_str(&sanitize_label_value(&v.render()));
        out.push('"');
    }
    out.into_boxed_str()
}

struct Series {
    hash: u64,
    key: Box<[KeyPart]>,
    handle: SeriesHandle,
    /// `key="value"` pairs, escaped and joined by `,`, as rendered.
    rendered_labels: Box<str>,
}

/// A snapshot of one metric's cardinality.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CardinalityStats {
    /// The metric name.
    pub metric: String,
    /// Label sets held (not counting the overflow series).
    pub series: usize,
    /// The cap.
    pub max_series: usize,
    /// Whether the overflow series exists.
    pub overflowed: bool,
    /// Events recorded into the overflow series.
    pub overflow_events: u64,
    /// Events recorded with a label value cut at the label value cap
    /// ([`crate::ReporterBuilder::max_label_value_bytes`]).
    pub truncated_events: u64,
}

/// The series cache of one metric name. See the [module docs](self).
pub(crate) struct SeriesTable {
    name: String,
    kind: MetricKind,
    labels: Box<[String]>,
    slots: Box<[OnceLock<Box<Series>>]>,
    mask: usize,
    len: AtomicUsize,
    cap: usize,
    insert_lock: Mutex<()>,
    overflow: OnceLock<SeriesHandle>,
    overflow_events: AtomicU64,
    truncated_events: AtomicU64,
    hasher: LabelHasher,
    /// Bucket bounds, for distributions.
    bounds: Arc<[f64]>,
    /// Whether histogram series get per-bucket exemplar slots.
    exemplars: bool,
}

/// The labels of the overflow series, as rendered.
const OVERFLOW_LABELS: &str = "otel_metric_overflow=\"true\"";

impl SeriesTable {
    pub(crate) fn new(
        name: String,
        kind: MetricKind,
        labels: Vec<String>,
        cap: usize,
        bounds: &[f64],
        hasher: LabelHasher,
    ) -> Self {
        let size = (cap.saturating_mul(2)).next_power_of_two().max(8);
        Self {
            name,
            kind,
            labels: labels.into_boxed_slice(),
            slots: (0..size).map(|_| OnceLock::new()).collect(),
            mask: size - 1,
            len: AtomicUsize::new(0),
            cap,
            insert_lock: Mutex::new(()),
            overflow: OnceLock::new(),
            overflow_events: AtomicU64::new(0),
            truncated_events: AtomicU64::new(0),
            hasher,
            bounds: Arc::from(bounds),
            exemplars: true,
        }
    }

    /// Whether histogram series keep an exemplar per bucket (default on; the reporter turns it
    /// off when exemplars are off, saving the slots' memory).
    pub(crate) fn with_exemplars(mut self, exemplars: bool) -> Self {
        self.exemplars = exemplars;
        self
    }

    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// Finds the series of `values`, or the first empty slot's index.
    #[inline]
    fn probe(&self, hash: u64, values: &[LabelValue<'_>]) -> Result<&Series, usize> {
        let mut i = hash as usize & self.mask;
        for _ in 0..self.slots.len() {
            match self.slots[i].get() {
                None => return Err(i),
                Some(s)
                    if s.hash == hash
                        && s.key.len() == values.len()
                        && s.key.iter().zip(values).all(|(k, v)| k.matches(v)) =>
                {
                    return Ok(s);
                }
                Some(_) => i = (i + 1) & self.mask,
            }
        }
        // Unreachable in practice: at most `cap` ≤ slots/2 slots are ever filled.
        Err(usize::MAX)
    }

    /// The handle for `values`: cached, newly registered, or the overflow series past the cap.
    #[cfg(test)]
    pub(crate) fn handle(&self, values: &[LabelValue<'_>]) -> &SeriesHandle {
        self.handle_hashed(self.hasher.hash(values), values)
    }

    /// The hasher (shared by every table of a reporter).
    #[inline]
    pub(crate) fn hasher(&self) -> &LabelHasher {
        &self.hasher
    }

    /// Like `handle`, with the hash already computed by the table's [`LabelHasher`].
    #[inline]
    pub(crate) fn handle_hashed(&self, hash: u64, values: &[LabelValue<'_>]) -> &SeriesHandle {
        match self.probe(hash, values) {
            Ok(series) => &series.handle,
            Err(_) => self.miss(hash, values),
        }
    }

    /// Counts one event recorded with a label value cut at the cap.
    #[cold]
    pub(crate) fn count_truncated(&self) {
        self.truncated_events.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn kind(&self) -> MetricKind {
        self.kind
    }

    #[cold]
    #[inline(never)]
    fn miss(&self, hash: u64, values: &[LabelValue<'_>]) -> &SeriesHandle {
        if self.len.load(Ordering::Acquire) >= self.cap {
            // Full: an insert that raced with our first probe is visible now (it published the
            // slot before bumping `len`); otherwise this label set overflows, without the lock.
            return match self.probe(hash, values) {
                Ok(series) => &series.handle,
                Err(_) => self.overflow(),
            };
        }
        let _guard = self
            .insert_lock
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let slot = match self.probe(hash, values) {
            Ok(series) => return &series.handle,
            Err(slot) => slot,
        };
        if self.len.load(Ordering::Relaxed) >= self.cap || slot == usize::MAX {
            return self.overflow();
        }
        let rendered_labels = render_labels(&self.labels, values);
        let handle = self.new_handle();
        let series = Box::new(Series {
            hash,
            key: values.iter().map(KeyPart::from_value).collect(),
            handle,
            rendered_labels,
        });
        // The slot was empty under the insert lock, and only inserts (which hold the lock) fill
        // slots, so `set` succeeds; fall back to whatever is there if it ever did not.
        let _ = self.slots[slot].set(series);
        self.len.fetch_add(1, Ordering::Release);
        match self.slots[slot].get() {
            Some(series) => &series.handle,
            None => self.overflow(),
        }
    }

    fn overflow(&self) -> &SeriesHandle {
        self.overflow_events.fetch_add(1, Ordering::Relaxed);
        self.overflow.get_or_init(|| self.new_handle())
    }

    fn new_handle(&self) -> SeriesHandle {
        match self.kind {
            MetricKind::Counter => SeriesHandle::counter(),
            MetricKind::Sum | MetricKind::LastValue | MetricKind::UpDown => SeriesHandle::gauge(),
            MetricKind::Distribution => SeriesHandle::Histogram(BucketHistogram::new(
                Arc::clone(&self.bounds),
                self.exemplars,
            )),
        }
    }

    /// Calls `each` with the rendered labels and the storage of every series from position
    /// `from` on (`0`: all), the overflow series last, until `each` breaks: returns the position to resume from (`Some`), or `None` once every series
    /// (the overflow series last) was visited. Positions are the table's slots, which never
    /// move, so a render resumed later visits each series at most once; a series inserted
    /// meanwhile behind the position waits for the next render.
    pub(crate) fn for_each_series_from(
        &self,
        from: usize,
        mut each: impl FnMut(&str, &SeriesHandle) -> ControlFlow<()>,
    ) -> Option<usize> {
        for (i, slot) in self.slots.iter().enumerate().skip(from) {
            if let Some(series) = slot.get() {
                if each(&series.rendered_labels, &series.handle).is_break() {
                    return Some(i + 1);
                }
            }
        }
        if from <= self.slots.len() {
            if let Some(overflow) = self.overflow.get() {
                // The last series: whether `each` breaks or not, nothing is left.
                let _ = each(OVERFLOW_LABELS, overflow);
            }
        }
        None
    }

    /// Whether the table holds no series yet (not even the overflow series).
    pub(crate) fn is_empty(&self) -> bool {
        self.len.load(Ordering::Acquire) == 0 && self.overflow.get().is_none()
    }

    /// The cardinality snapshot.
    pub(crate) fn stats(&self) -> CardinalityStats {
        CardinalityStats {
            metric: self.name.clone(),
            series: self.len.load(Ordering::Acquire),
            max_series: self.cap,
            overflowed: self.overflow.get().is_some(),
            overflow_events: self.overflow_events.load(Ordering::Relaxed),
            truncated_events: self.truncated_events.load(Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exposition::{Format, write_table_from};
    use llm_telemetry_core::Value;

    fn lv(value: Value<'_>) -> LabelValue<'_> {
        LabelValue::new(value, crate::label_value::DEFAULT_MAX_LABEL_VALUE_BYTES)
    }

    /// The table rendered in the text format.
    fn render(table: &SeriesTable) -> String {
        let mut out = String::new();
        let _ = write_table_from(&mut out, table, "help", Format::Text, 0, 0, usize::MAX);
        out
    }

    #[test]
    fn the_overflow_labels_name_the_overflow_label() {
        assert_eq!(OVERFLOW_LABELS, format!("{OVERFLOW_LABEL}=\"true\""));
    }

    #[test]
    fn caches_caps_and_overflows() {
        let table = SeriesTable::new(
            "c_total".into(),
            MetricKind::Counter,
            vec!["model".into()],
            3,
            &[],
            LabelHasher::default(),
        );
        for i in 0..10 {
            let model = format!("m{i}");
            for _ in 0..2 {
                table
                    .handle(&[lv(Value::Str(&model))])
                    .record(MetricKind::Counter, 1.0);
            }
        }
        let stats = table.stats();
        assert_eq!(stats.series, 3);
        assert!(stats.overflowed);
        assert_eq!(stats.overflow_events, 14);
        let text = render(&table);
        assert!(text.contains("c_total{model=\"m0\"} 2"), "{text}");
        assert!(
            text.contains("c_total{otel_metric_overflow=\"true\"} 14"),
            "{text}"
        );
        assert!(!text.contains("m3"), "{text}");
        // A cached label set keeps its own series after the cap.
        table
            .handle(&[lv(Value::Str("m1"))])
            .record(MetricKind::Counter, 1.0);
        assert!(render(&table).contains("c_total{model=\"m1\"} 3"));
    }

    #[test]
    fn bytes_eq_matches_slice_equality() {
        let samples = [
            "",
            "a",
            "abcdefgh",
            "abcdefgi",
            "abcdefghi",
            "abcdefghj",
            "héllo 🌍 wörld!!",
        ];
        for a in samples {
            for b in samples {
                assert_eq!(bytes_eq(a.as_bytes(), b.as_bytes()), a == b, "{a:?} {b:?}");
            }
        }
    }

    #[test]
    fn typed_values_key_by_their_text() {
        let table = SeriesTable::new(
            "g".into(),
            MetricKind::LastValue,
            vec!["v".into()],
            10,
            &[],
            LabelHasher::default(),
        );
        for v in [
            Value::Int(1),
            Value::Bool(true),
            Value::Float(2.5),
            Value::Str("s"),
        ] {
            table.handle(&[lv(v)]).record(MetricKind::LastValue, 7.0);
            table.handle(&[lv(v)]).record(MetricKind::LastValue, 8.0);
        }
        // Their text twins are the same series.
        for v in ["1", "true", "2.5", "s"] {
            table
                .handle(&[lv(Value::Str(v))])
                .record(MetricKind::LastValue, 8.0);
        }
        assert_eq!(table.stats().series, 4);
        let text = render(&table);
        for label in ["v=\"1\"", "v=\"true\"", "v=\"2.5\"", "v=\"s\""] {
            assert!(text.contains(&format!("g{{{label}}} 8")), "{text}");
        }
    }

    #[test]
    fn concurrent_inserts_keep_totals_exact_and_respect_the_cap() {
        let table = SeriesTable::new(
            "c_total".into(),
            MetricKind::Counter,
            vec!["k".into()],
            50,
            &[],
            LabelHasher::default(),
        );
        std::thread::scope(|s| {
            for t in 0..4 {
                let table = &table;
                s.spawn(move || {
                    for i in 0..2000 {
                        let key = format!("k{}", (i * 7 + t) % 120);
                        table
                            .handle(&[lv(Value::Str(&key))])
                            .record(MetricKind::Counter, 1.0);
                    }
                });
            }
        });
        assert_eq!(table.stats().series, 50);
        let text = render(&table);
        let total: u64 = text
            .lines()
            .filter(|l| l.starts_with("c_total{"))
            .map(|l| l.rsplit(' ').next().unwrap().parse::<u64>().unwrap())
            .sum();
        assert_eq!(total, 8000);
        assert_eq!(
            text.lines().filter(|l| l.starts_with("c_total{")).count(),
            51
        );
    }
}
