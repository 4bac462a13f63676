//! The resolve-once series cache of one metric: label values → the series' storage (a registered
//! `metrics` counter or gauge handle, or a bucket histogram), with the cardinality cap and the
//! overflow series.
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
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock, PoisonError};

use std::sync::Arc;

use metrics::{Counter, Gauge, Key, Label, Recorder};
use metrics_exporter_prometheus::PrometheusRecorder;
use metrics_exporter_prometheus::formatting::sanitize_label_value;

use crate::definition::{MetricKind, OVERFLOW_LABEL};
use crate::histogram::{self, BucketHistogram};
use crate::label_value::{KIND_CUT, KIND_FLOAT, KIND_INT, KIND_TEXT, LabelValue};

/// The storage of one series.
///
/// Counters and gauges are registered `metrics` handles of the reporter's recorder, which renders
/// them; the hot path updates a plain atomic next to the handle, and [`SeriesHandle::sync`]
/// copies it into the handle before each render. That keeps the per-event cost to one atomic
/// operation, without the handle's dynamic call and its second (generation) atomic.
pub(crate) enum SeriesHandle {
    /// Counters count events.
    Counter {
        /// Events counted.
        count: AtomicU64,
        /// The recorder's handle.
        handle: Counter,
    },
    /// Sums and last values are float gauges (sums are re-typed as counters at render).
    Gauge {
        /// The value's bits.
        bits: AtomicU64,
        /// The recorder's handle.
        handle: Gauge,
    },
    /// Distributions (see the `histogram` module for why not the exporter's histogram).
    Histogram(BucketHistogram),
}

impl SeriesHandle {
    fn counter(handle: Counter) -> Self {
        SeriesHandle::Counter {
            count: AtomicU64::new(0),
            handle,
        }
    }

    fn gauge(handle: Gauge) -> Self {
        SeriesHandle::Gauge {
            bits: AtomicU64::new(0f64.to_bits()),
            handle,
        }
    }

    /// Records one event's value into the series.
    #[inline]
    pub(crate) fn record(&self, kind: MetricKind, value: f64) {
        match (self, kind) {
            (SeriesHandle::Counter { count, .. }, _) => {
                count.fetch_add(1, Ordering::Relaxed);
            }
            (SeriesHandle::Gauge { bits, .. }, MetricKind::Sum | MetricKind::UpDown) => {
                histogram::add_f64(bits, value)
            }
            (SeriesHandle::Gauge { bits, .. }, _) => bits.store(value.to_bits(), Ordering::Relaxed),
            (SeriesHandle::Histogram(h), _) => h.record(value),
        }
    }

    /// Copies the value into the recorder's handle (before a render).
    fn sync(&self) {
        match self {
            SeriesHandle::Counter { count, handle } => {
                handle.absolute(count.load(Ordering::Relaxed))
            }
            SeriesHandle::Gauge { bits, handle } => {
                handle.set(f64::from_bits(bits.load(Ordering::Relaxed)))
            }
            SeriesHandle::Histogram(_) => {}
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

/// Formats labels as the exporter does: `key="escaped value"`.
fn render_labels(labels: &[Label]) -> Box<[String]> {
    labels
        .iter()
        .map(|l| format!("{}=\"{}\"", l.key(), sanitize_label_value(l.value())))
        .collect()
}

struct Series {
    hash: u64,
    key: Box<[KeyPart]>,
    handle: SeriesHandle,
    /// `key="value"` pairs, escaped, for histograms (rendered by this crate); empty otherwise.
    rendered_labels: Box<[String]>,
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
}

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
        }
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
    pub(crate) fn handle(
        &self,
        values: &[LabelValue<'_>],
        recorder: &PrometheusRecorder,
    ) -> &SeriesHandle {
        self.handle_hashed(self.hasher.hash(values), values, recorder)
    }

    /// The hasher (shared by every table of a reporter).
    #[inline]
    pub(crate) fn hasher(&self) -> &LabelHasher {
        &self.hasher
    }

    /// Like `handle`, with the hash already computed by the table's [`LabelHasher`].
    #[inline]
    pub(crate) fn handle_hashed(
        &self,
        hash: u64,
        values: &[LabelValue<'_>],
        recorder: &PrometheusRecorder,
    ) -> &SeriesHandle {
        match self.probe(hash, values) {
            Ok(series) => &series.handle,
            Err(_) => self.miss(hash, values, recorder),
        }
    }

    pub(crate) fn kind(&self) -> MetricKind {
        self.kind
    }

    /// Counts one event recorded with a label value cut at the cap.
    #[cold]
    pub(crate) fn count_truncated(&self) {
        self.truncated_events.fetch_add(1, Ordering::Relaxed);
    }

    #[cold]
    #[inline(never)]
    fn miss(
        &self,
        hash: u64,
        values: &[LabelValue<'_>],
        recorder: &PrometheusRecorder,
    ) -> &SeriesHandle {
        if self.len.load(Ordering::Acquire) >= self.cap {
            // Full: an insert that raced with our first probe is visible now (it published the
            // slot before bumping `len`); otherwise this label set overflows, without the lock.
            return match self.probe(hash, values) {
                Ok(series) => &series.handle,
                Err(_) => self.overflow(recorder),
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
            return self.overflow(recorder);
        }
        let labels: Vec<Label> = self
            .labels
            .iter()
            .zip(values)
            .map(|(k, v)| Label::new(k.clone(), v.render()))
            .collect();
        let rendered_labels = match self.kind {
            MetricKind::Distribution => render_labels(&labels),
            _ => Box::default(),
        };
        let handle = self.register(Key::from_parts(self.name.clone(), labels), recorder);
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
            None => self.overflow(recorder),
        }
    }

    fn overflow(&self, recorder: &PrometheusRecorder) -> &SeriesHandle {
        self.overflow_events.fetch_add(1, Ordering::Relaxed);
        self.overflow.get_or_init(|| {
            let key = Key::from_parts(self.name.clone(), vec![Label::new(OVERFLOW_LABEL, "true")]);
            self.register(key, recorder)
        })
    }

    fn register(&self, key: Key, recorder: &PrometheusRecorder) -> SeriesHandle {
        let metadata = metrics::Metadata::new(module_path!(), metrics::Level::INFO, None);
        match self.kind {
            MetricKind::Counter => {
                SeriesHandle::counter(recorder.register_counter(&key, &metadata))
            }
            MetricKind::Sum | MetricKind::LastValue | MetricKind::UpDown => {
                SeriesHandle::gauge(recorder.register_gauge(&key, &metadata))
            }
            MetricKind::Distribution => {
                SeriesHandle::Histogram(BucketHistogram::new(Arc::clone(&self.bounds)))
            }
        }
    }

    /// Copies every counter and gauge value into the recorder's handles (before a render).
    pub(crate) fn sync(&self) {
        if self.kind == MetricKind::Distribution {
            return;
        }
        for series in self.slots.iter().filter_map(OnceLock::get) {
            series.handle.sync();
        }
        if let Some(overflow) = self.overflow.get() {
            overflow.sync();
        }
    }

    /// Writes the histogram family of a distribution (nothing before its first series).
    pub(crate) fn render_histograms(&self, out: &mut String, help: &str) {
        if self.len.load(Ordering::Acquire) == 0 && self.overflow.get().is_none() {
            return;
        }
        histogram::render_header(out, &self.name, help);
        for series in self.slots.iter().filter_map(OnceLock::get) {
            if let SeriesHandle::Histogram(h) = &series.handle {
                h.render(out, &self.name, &series.rendered_labels);
            }
        }
        if let Some(SeriesHandle::Histogram(h)) = self.overflow.get() {
            h.render(out, &self.name, &[format!("{OVERFLOW_LABEL}=\"true\"")]);
        }
        out.push('\n');
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
    use llm_telemetry_core::Value;
    use metrics_exporter_prometheus::PrometheusBuilder;

    fn lv(value: Value<'_>) -> LabelValue<'_> {
        LabelValue::new(value, crate::label_value::DEFAULT_MAX_LABEL_VALUE_BYTES)
    }

    #[test]
    fn caches_caps_and_overflows() {
        let recorder = PrometheusBuilder::new().build_recorder();
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
                    .handle(&[lv(Value::Str(&model))], &recorder)
                    .record(MetricKind::Counter, 1.0);
            }
        }
        let stats = table.stats();
        assert_eq!(stats.series, 3);
        assert!(stats.overflowed);
        assert_eq!(stats.overflow_events, 14);
        table.sync();
        let text = recorder.handle().render();
        assert!(text.contains("c_total{model=\"m0\"} 2"), "{text}");
        assert!(
            text.contains("c_total{otel_metric_overflow=\"true\"} 14"),
            "{text}"
        );
        assert!(!text.contains("m3"), "{text}");
        // A cached label set keeps its own series after the cap.
        table
            .handle(&[lv(Value::Str("m1"))], &recorder)
            .record(MetricKind::Counter, 1.0);
        table.sync();
        assert!(
            recorder
                .handle()
                .render()
                .contains("c_total{model=\"m1\"} 3")
        );
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
        let recorder = PrometheusBuilder::new().build_recorder();
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
            table
                .handle(&[lv(v)], &recorder)
                .record(MetricKind::LastValue, 7.0);
            table
                .handle(&[lv(v)], &recorder)
                .record(MetricKind::LastValue, 8.0);
        }
        // Their text twins are the same series.
        for v in ["1", "true", "2.5", "s"] {
            table
                .handle(&[lv(Value::Str(v))], &recorder)
                .record(MetricKind::LastValue, 8.0);
        }
        assert_eq!(table.stats().series, 4);
        table.sync();
        let text = recorder.handle().render();
        for label in ["v=\"1\"", "v=\"true\"", "v=\"2.5\"", "v=\"s\""] {
            assert!(text.contains(&format!("g{{{label}}} 8")), "{text}");
        }
    }

    #[test]
    fn concurrent_inserts_keep_totals_exact_and_respect_the_cap() {
        let recorder = PrometheusBuilder::new().build_recorder();
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
                let (table, recorder) = (&table, &recorder);
                s.spawn(move || {
                    for i in 0..2000 {
                        let key = format!("k{}", (i * 7 + t) % 120);
                        table
                            .handle(&[lv(Value::Str(&key))], recorder)
                            .record(MetricKind::Counter, 1.0);
                    }
                });
            }
        });
        assert_eq!(table.stats().series, 50);
        table.sync();
        let text = recorder.handle().render();
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
