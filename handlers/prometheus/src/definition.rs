//! Metric definitions as data, in the manner of Elixir's `Telemetry.Metrics`: what kind of metric,
//! which events feed it, which measurement (or function of the event) it records, which metadata
//! become labels and how, which events to keep, the unit conversion and the description.
//!
//! A [`Metric`] is plain data built with chained methods; [`Metric::validate`] checks it (the
//! reporter builder calls it when the definition is added) and every error names the metric.
//!
//! ```
//! use llm_telemetry_genai::catalog::keys;
//! use llm_telemetry_prometheus::{Conversion, Metric, Tag};
//!
//! let latency = Metric::distribution(
//!     "chat_latency_seconds",
//!     &["llm.chat.stop"],
//!     keys::DURATION,
//!     &[0.1, 0.5, 1.0, 5.0],
//! )
//! .convert(Conversion::NanosecondsToSeconds)
//! .tag(Tag::metadata(keys::MODEL).or("unknown"))
//! .keep(|e| e.str(keys::STATUS) != Some("cancelled"))
//! .description("Chat completion latency.");
//! latency.validate().unwrap();
//! ```

use std::fmt;
use std::sync::Arc;

use llm_telemetry_core::{Event, Pattern, Value};

use crate::error::DefinitionError;
use crate::sanitize::{
    is_valid_label_key, is_valid_metric_name, sanitize_label_key, sanitize_metric_name,
};

/// The default cap on label sets per metric, as in the OpenTelemetry SDK.
pub const DEFAULT_MAX_SERIES: usize = 2000;
/// The largest accepted cap on label sets per metric.
pub const MAX_SERIES_LIMIT: usize = 1_000_000;
/// The most tags one metric may have (the series key lives on the stack up to this size).
pub const MAX_TAGS: usize = 16;
/// The label that marks the overflow series of a metric past its cap.
pub const OVERFLOW_LABEL: &str = "otel_metric_overflow";

/// Computes a metric's value from a whole event.
pub type MeasureFn = Arc<dyn Fn(&Event<'_>) -> Option<f64> + Send + Sync>;
/// Computes a label value from a whole event; it may borrow the event's metadata.
pub type TagFn = Arc<dyn for<'a> Fn(&Event<'a>) -> Option<Value<'a>> + Send + Sync>;
/// Decides whether an event is recorded.
pub type Predicate = Arc<dyn Fn(&Event<'_>) -> bool + Send + Sync>;

/// The five kinds of metric.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MetricKind {
    /// Counts events (a Prometheus counter; the measurement is ignored).
    Counter,
    /// Adds up a measurement (a Prometheus counter with a float value; negative values are skipped).
    Sum,
    /// Keeps the latest measurement (a Prometheus gauge).
    LastValue,
    /// A histogram with explicit buckets; always rendered as a Prometheus histogram, never a summary.
    Distribution,
    /// A gauge that events move up and down by a step (requests in flight, bytes cached): a
    /// Prometheus gauge. See [`Metric::up_down`].
    UpDown,
}

/// Where a metric's value comes from.
#[derive(Clone)]
pub enum Measure {
    /// No value: a counter counts events.
    Count,
    /// A named measurement of the event.
    Measurement(&'static str),
    /// A function of the whole event (measurements and metadata); `None` skips the event.
    Function(MeasureFn),
}

impl fmt::Debug for Measure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Measure::Count => f.write_str("Count"),
            Measure::Measurement(key) => write!(f, "Measurement({key:?})"),
            Measure::Function(_) => f.write_str("Function(..)"),
        }
    }
}

/// A unit conversion applied to the measured value before it is recorded.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Conversion {
    /// Record as measured.
    None,
    /// Nanoseconds (the bus's native duration unit) to seconds.
    NanosecondsToSeconds,
    /// Nanoseconds to milliseconds.
    NanosecondsToMilliseconds,
    /// Nanoseconds to microseconds.
    NanosecondsToMicroseconds,
    /// Bytes to kilobytes (1000 bytes).
    BytesToKilobytes,
    /// Bytes to megabytes (1,000,000 bytes).
    BytesToMegabytes,
    /// Multiply by a finite factor.
    Scale(f64),
}

impl Conversion {
    /// The factor the value is multiplied by.
    pub fn factor(self) -> f64 {
        match self {
            Conversion::None => 1.0,
            Conversion::NanosecondsToSeconds => 1e-9,
            Conversion::NanosecondsToMilliseconds => 1e-6,
            Conversion::NanosecondsToMicroseconds => 1e-3,
            Conversion::BytesToKilobytes => 1e-3,
            Conversion::BytesToMegabytes => 1e-6,
            Conversion::Scale(f) => f,
        }
    }
}

/// Where a label value comes from.
#[derive(Clone)]
pub enum TagSource {
    /// A metadata key of the event.
    Metadata(&'static str),
    /// A function of the event (tag-value mapping); `None` means missing.
    Derived(TagFn),
    /// The same value for every event (e.g. `gen_ai_token_type="input"`).
    Constant(Box<str>),
}

impl fmt::Debug for TagSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TagSource::Metadata(key) => write!(f, "Metadata({key:?})"),
            TagSource::Derived(_) => f.write_str("Derived(..)"),
            TagSource::Constant(v) => write!(f, "Constant({v:?})"),
        }
    }
}

/// One label of a metric: its name, where its value comes from, and what to use when the event
/// lacks it (without a default, such an event is skipped and counted).
#[derive(Clone, Debug)]
pub struct Tag {
    label: String,
    source: TagSource,
    default: Option<Box<str>>,
}

impl Tag {
    /// A label from a metadata key, named by the sanitized key (`gen_ai.request.model` →
    /// `gen_ai_request_model`).
    pub fn metadata(key: &'static str) -> Self {
        Self {
            label: sanitize_label_key(key),
            source: TagSource::Metadata(key),
            default: None,
        }
    }

    /// A label computed from the event (tag-value mapping), e.g. a status derived from the phase.
    pub fn derived(
        label: impl Into<String>,
        f: impl for<'a> Fn(&Event<'a>) -> Option<Value<'a>> + Send + Sync + 'static,
    ) -> Self {
        Self {
            label: label.into(),
            source: TagSource::Derived(Arc::new(f)),
            default: None,
        }
    }

    /// A label with a fixed value.
    pub fn constant(label: impl Into<String>, value: impl Into<Box<str>>) -> Self {
        Self {
            label: label.into(),
            source: TagSource::Constant(value.into()),
            default: None,
        }
    }

    /// Renames the label.
    pub fn label(mut self, label: impl Into<String>) -> Self {
        self.label = label.into();
        self
    }

    /// The value to use when the event lacks this tag, instead of skipping the event.
    pub fn or(mut self, default: impl Into<Box<str>>) -> Self {
        self.default = Some(default.into());
        self
    }

    /// The label name.
    pub fn label_name(&self) -> &str {
        &self.label
    }

    /// Where the value comes from.
    pub fn source(&self) -> &TagSource {
        &self.source
    }

    /// Whether `other` always resolves to the same label and value as this tag.
    pub(crate) fn same_as(&self, other: &Tag) -> bool {
        let same_source = match (&self.source, &other.source) {
            (TagSource::Metadata(a), TagSource::Metadata(b)) => a == b,
            (TagSource::Derived(a), TagSource::Derived(b)) => Arc::ptr_eq(a, b),
            (TagSource::Constant(a), TagSource::Constant(b)) => a == b,
            _ => false,
        };
        same_source && self.label == other.label && self.default == other.default
    }

    /// Resolves the value for one event; `None` if missing and without a default.
    #[inline]
    pub fn resolve<'s, 'a: 's>(&'s self, event: &Event<'a>) -> Option<Value<'s>> {
        let found = match &self.source {
            TagSource::Metadata(key) => metadata_value(event, key),
            TagSource::Derived(f) => f(event),
            TagSource::Constant(v) => return Some(Value::Str(v)),
        };
        match found {
            Some(v) => Some(v),
            None => self.default.as_deref().map(Value::Str),
        }
    }
}

/// `event.value(key)` (the last entry wins), skipping the string comparison when the key is the
/// same static string (the usual case: both sides use a `catalog::keys` constant).
#[inline]
fn metadata_value<'a>(event: &Event<'a>, key: &str) -> Option<Value<'a>> {
    event
        .metadata()
        .iter()
        .rev()
        .find(|(k, _)| {
            k.len() == key.len() && (std::ptr::eq(k.as_ptr(), key.as_ptr()) || *k == key)
        })
        .map(|(_, v)| *v)
}

/// One metric definition. See the [module docs](self).
#[derive(Clone)]
pub struct Metric {
    name: String,
    kind: MetricKind,
    events: Vec<String>,
    /// The events that lower an up/down gauge (empty for every other kind).
    down_events: Vec<String>,
    measure: Measure,
    conversion: Conversion,
    tags: Vec<Tag>,
    keep: Option<Predicate>,
    description: String,
    buckets: Vec<f64>,
    max_series: usize,
}

impl fmt::Debug for Metric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Metric")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("events", &self.events)
            .field("down_events", &self.down_events)
            .field("measure", &self.measure)
            .field("conversion", &self.conversion)
            .field("tags", &self.tags)
            .field("keep", &self.keep.as_ref().map(|_| ".."))
            .field("buckets", &self.buckets)
            .field("max_series", &self.max_series)
            .finish()
    }
}

impl Metric {
    fn new(name: &str, kind: MetricKind, events: &[&str], measure: Measure) -> Self {
        Self {
            name: name.to_owned(),
            kind,
            events: events.iter().map(|e| (*e).to_owned()).collect(),
            down_events: Vec::new(),
            measure,
            conversion: Conversion::None,
            tags: Vec::new(),
            keep: None,
            description: String::new(),
            buckets: Vec::new(),
            max_series: DEFAULT_MAX_SERIES,
        }
    }

    /// A counter of the events matching `events` (names or patterns such as `llm.*.stop`).
    pub fn counter(name: &str, events: &[&str]) -> Self {
        Self::new(name, MetricKind::Counter, events, Measure::Count)
    }

    /// A running total of `measurement` (rendered as a counter; name it `…_total`).
    pub fn sum(name: &str, events: &[&str], measurement: &'static str) -> Self {
        Self::new(
            name,
            MetricKind::Sum,
            events,
            Measure::Measurement(measurement),
        )
    }

    /// The latest value of `measurement` (a gauge).
    pub fn last_value(name: &str, events: &[&str], measurement: &'static str) -> Self {
        Self::new(
            name,
            MetricKind::LastValue,
            events,
            Measure::Measurement(measurement),
        )
    }

    /// A histogram of `measurement` with explicit bucket upper bounds (strictly increasing).
    pub fn distribution(
        name: &str,
        events: &[&str],
        measurement: &'static str,
        buckets: &[f64],
    ) -> Self {
        let mut metric = Self::new(
            name,
            MetricKind::Distribution,
            events,
            Measure::Measurement(measurement),
        );
        metric.buckets = buckets.to_vec();
        metric
    }

    /// A gauge that each `up` event raises by one and each `down` event lowers by one, e.g.
    /// requests in flight from span start (`llm.*.start`) and end (`llm.*.stop`,
    /// `llm.*.exception`). Labels are resolved on each event, so the up and the down event of
    /// one thing must carry the same label values (span stop events repeat the start metadata).
    /// A down event whose up event happened before the reporter attached leaves the gauge
    /// below its true level (possibly negative): it counts events, not states.
    ///
    /// ```
    /// use llm_telemetry_prometheus::Metric;
    /// let in_flight = Metric::up_down(
    ///     "requests_in_flight",
    ///     &["llm.chat.start"],
    ///     &["llm.chat.stop", "llm.chat.exception"],
    /// );
    /// in_flight.validate().unwrap();
    /// ```
    pub fn up_down(name: &str, up: &[&str], down: &[&str]) -> Self {
        let mut metric = Self::new(name, MetricKind::UpDown, up, Measure::Count);
        metric.down_events = down.iter().map(|e| (*e).to_owned()).collect();
        metric
    }

    /// Like [`Metric::up_down`], moving the gauge by `measurement` instead of one: e.g. bytes
    /// cached, raised by `size_bytes` of `cache.entry.put` and lowered by that of
    /// `cache.entry.evicted`. An event without the measurement is skipped and counted.
    pub fn up_down_by(name: &str, up: &[&str], down: &[&str], measurement: &'static str) -> Self {
        let mut metric = Self::up_down(name, up, down);
        metric.measure = Measure::Measurement(measurement);
        metric
    }

    /// Takes the value from a function of the whole event instead of one measurement
    /// (`None` skips the event and counts it as a missing measurement).
    pub fn measure_with(
        mut self,
        f: impl Fn(&Event<'_>) -> Option<f64> + Send + Sync + 'static,
    ) -> Self {
        self.measure = Measure::Function(Arc::new(f));
        self
    }

    /// Sets the unit conversion.
    pub fn convert(mut self, conversion: Conversion) -> Self {
        self.conversion = conversion;
        self
    }

    /// Adds a tag.
    pub fn tag(mut self, tag: Tag) -> Self {
        self.tags.push(tag);
        self
    }

    /// Adds one tag per metadata key (labels named by the sanitized keys; missing → skipped).
    pub fn tags(mut self, keys: &[&'static str]) -> Self {
        self.tags.extend(keys.iter().map(|k| Tag::metadata(k)));
        self
    }

    /// Records only events for which `f` returns true.
    pub fn keep(mut self, f: impl Fn(&Event<'_>) -> bool + Send + Sync + 'static) -> Self {
        self.keep = Some(Arc::new(f));
        self
    }

    /// Skips events for which `f` returns true.
    pub fn drop_if(mut self, f: impl Fn(&Event<'_>) -> bool + Send + Sync + 'static) -> Self {
        self.keep = Some(Arc::new(move |e: &Event<'_>| !f(e)));
        self
    }

    /// Sets the `# HELP` text.
    pub fn description(mut self, text: impl Into<String>) -> Self {
        self.description = text.into();
        self
    }

    /// Sets the cap on label sets (default [`DEFAULT_MAX_SERIES`]); past it, new label sets go to
    /// one overflow series labelled `otel_metric_overflow="true"`.
    pub fn max_series(mut self, max_series: usize) -> Self {
        self.max_series = max_series;
        self
    }

    /// The metric name.
    pub fn name(&self) -> &str {
        &self.name
    }
    /// The kind.
    pub fn kind(&self) -> MetricKind {
        self.kind
    }
    /// The event names and patterns it listens to.
    pub fn events(&self) -> &[String] {
        &self.events
    }
    /// The events that lower an up/down gauge ([`Metric::up_down`]); empty for other kinds.
    pub fn down_events(&self) -> &[String] {
        &self.down_events
    }
    /// The down half of an up/down gauge: the same definition listening to its down events
    /// (the reporter records it with the opposite sign).
    pub(crate) fn down_part(&self) -> Option<Metric> {
        if self.kind != MetricKind::UpDown || self.down_events.is_empty() {
            return None;
        }
        let mut down = self.clone();
        down.events = std::mem::take(&mut down.down_events);
        Some(down)
    }
    /// Where the value comes from.
    pub fn measure(&self) -> &Measure {
        &self.measure
    }
    /// The unit conversion.
    pub fn conversion(&self) -> Conversion {
        self.conversion
    }
    /// The tags, in label order.
    pub fn tag_list(&self) -> &[Tag] {
        &self.tags
    }
    /// The label names, in order.
    pub fn label_names(&self) -> impl Iterator<Item = &str> {
        self.tags.iter().map(|t| t.label.as_str())
    }
    /// The keep predicate, if any.
    pub fn predicate(&self) -> Option<&Predicate> {
        self.keep.as_ref()
    }
    /// The `# HELP` text.
    pub fn description_text(&self) -> &str {
        &self.description
    }
    /// The histogram buckets (distributions only).
    pub fn buckets(&self) -> &[f64] {
        &self.buckets
    }
    /// The cap on label sets.
    pub fn series_cap(&self) -> usize {
        self.max_series
    }

    /// Checks the definition against the Prometheus rules and this crate's limits.
    pub fn validate(&self) -> Result<(), DefinitionError> {
        let metric = || self.name.clone();
        if !is_valid_metric_name(&self.name) {
            return Err(DefinitionError::InvalidName {
                metric: metric(),
                suggestion: sanitize_metric_name(&self.name),
            });
        }
        if self.name.starts_with("llm_telemetry_") {
            return Err(DefinitionError::ReservedName { metric: metric() });
        }
        if self.events.is_empty() {
            return Err(DefinitionError::NoEvents { metric: metric() });
        }
        for pattern in self.events.iter().chain(&self.down_events) {
            if let Err(e) = Pattern::parse(pattern) {
                return Err(DefinitionError::InvalidEvent {
                    metric: metric(),
                    pattern: pattern.clone(),
                    reason: e.to_string(),
                });
            }
        }
        if let Some(pattern) = self.down_events.iter().find(|d| self.events.contains(d)) {
            return Err(DefinitionError::UpAndDown {
                metric: metric(),
                pattern: pattern.clone(),
            });
        }
        if self.tags.len() > MAX_TAGS {
            return Err(DefinitionError::TooManyTags {
                metric: metric(),
                count: self.tags.len(),
                max: MAX_TAGS,
            });
        }
        for (i, tag) in self.tags.iter().enumerate() {
            if !is_valid_label_key(&tag.label) {
                return Err(DefinitionError::InvalidLabel {
                    metric: metric(),
                    label: tag.label.clone(),
                    suggestion: sanitize_label_key(&tag.label),
                });
            }
            if matches!(tag.label.as_str(), "le" | "quantile" | OVERFLOW_LABEL) {
                return Err(DefinitionError::ReservedLabel {
                    metric: metric(),
                    label: tag.label.clone(),
                });
            }
            if self.tags[..i].iter().any(|t| t.label == tag.label) {
                return Err(DefinitionError::DuplicateLabel {
                    metric: metric(),
                    label: tag.label.clone(),
                });
            }
        }
        if !(1..=MAX_SERIES_LIMIT).contains(&self.max_series) {
            return Err(DefinitionError::InvalidCardinality {
                metric: metric(),
                max_series: self.max_series,
                max: MAX_SERIES_LIMIT,
            });
        }
        if !self.conversion.factor().is_finite() || self.conversion.factor() == 0.0 {
            return Err(DefinitionError::InvalidBuckets {
                metric: metric(),
                buckets: vec![self.conversion.factor()],
                reason: "the conversion factor must be finite and non-zero",
            });
        }
        match self.kind {
            MetricKind::Distribution => self.validate_buckets(),
            _ if !self.buckets.is_empty() => Err(DefinitionError::InvalidBuckets {
                metric: metric(),
                buckets: self.buckets.clone(),
                reason: "only distributions have buckets",
            }),
            _ => Ok(()),
        }
    }

    fn validate_buckets(&self) -> Result<(), DefinitionError> {
        let bad = |reason| {
            Err(DefinitionError::InvalidBuckets {
                metric: self.name.clone(),
                buckets: self.buckets.clone(),
                reason,
            })
        };
        if self.buckets.is_empty() {
            return bad(
                "a distribution needs at least one bucket (it is never rendered as a summary)",
            );
        }
        if self.buckets.iter().any(|b| !b.is_finite()) {
            return bad("every bucket bound must be finite (+Inf is added automatically)");
        }
        if self.buckets.windows(2).any(|w| w[0] >= w[1]) {
            return bad("bucket bounds must be strictly increasing");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(m: Metric) -> DefinitionError {
        m.validate().expect_err("definition should be rejected")
    }

    #[test]
    fn errors_name_the_bad_definition() {
        let e = err(Metric::counter("bad.name", &["llm.chat.stop"]));
        assert_eq!(
            e,
            DefinitionError::InvalidName {
                metric: "bad.name".into(),
                suggestion: "bad_name".into()
            }
        );
        assert!(e.to_string().contains("bad.name"));
        let e = err(Metric::counter("c_total", &["llm..stop"]));
        assert!(
            matches!(e, DefinitionError::InvalidEvent { ref metric, .. } if metric == "c_total")
        );
        let e = err(Metric::counter("c_total", &[]));
        assert!(matches!(e, DefinitionError::NoEvents { .. }));
        let e = err(Metric::counter("c_total", &["a.b"]).tag(Tag::constant("le", "x")));
        assert!(matches!(e, DefinitionError::ReservedLabel { .. }));
        let e = err(Metric::counter("c_total", &["a.b"]).tag(Tag::constant("bad-label", "x")));
        assert!(
            matches!(e, DefinitionError::InvalidLabel { ref suggestion, .. } if suggestion == "bad_label")
        );
        let e = err(Metric::counter("c_total", &["a.b"]).tags(&["model", "model"]));
        assert!(matches!(e, DefinitionError::DuplicateLabel { .. }));
        let e = err(Metric::counter("c_total", &["a.b"]).max_series(0));
        assert!(matches!(e, DefinitionError::InvalidCardinality { .. }));
        let e = err(Metric::up_down("g", &["a.start", "a.stop"], &["a.stop"]));
        assert_eq!(
            e,
            DefinitionError::UpAndDown {
                metric: "g".into(),
                pattern: "a.stop".into()
            }
        );
        let e = err(Metric::up_down("g", &["a.start"], &["a..stop"]));
        assert!(
            matches!(e, DefinitionError::InvalidEvent { ref pattern, .. } if pattern == "a..stop")
        );
        let e = err(Metric::counter("llm_telemetry_x", &["a.b"]));
        assert!(matches!(e, DefinitionError::ReservedName { .. }));
        const MANY: [&str; 17] = [
            "a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l", "m", "n", "o", "p", "q",
        ];
        let e = err(Metric::counter("c_total", &["a.b"]).tags(&MANY));
        assert!(matches!(e, DefinitionError::TooManyTags { count: 17, .. }));
    }

    #[test]
    fn buckets_are_checked() {
        for (buckets, what) in [
            (vec![], "at least one"),
            (vec![1.0, 1.0], "strictly increasing"),
            (vec![2.0, 1.0], "strictly increasing"),
            (vec![1.0, f64::INFINITY], "finite"),
            (vec![f64::NAN], "finite"),
        ] {
            let e = err(Metric::distribution("h", &["a.b"], "x", &buckets));
            assert!(e.to_string().contains(what), "{e}");
            assert!(e.to_string().contains("\"h\""), "{e}");
        }
        let e = err(Metric::sum("s_total", &["a.b"], "x").convert(Conversion::Scale(f64::NAN)));
        assert!(e.to_string().contains("conversion"));
        Metric::distribution("h", &["a.b"], "x", &[0.5, 1.0])
            .validate()
            .unwrap();
    }

    #[test]
    fn tags_resolve_with_defaults_derivations_and_constants() {
        let name = llm_telemetry_core::EventName::new("test.tags.resolve").unwrap();
        let md = [
            ("gen_ai.request.model", Value::Str("m1")),
            ("n", Value::Int(3)),
        ];
        let e = Event::new(name, &[], &md, None);
        assert_eq!(
            Tag::metadata("gen_ai.request.model").label_name(),
            "gen_ai_request_model"
        );
        assert_eq!(
            Tag::metadata("gen_ai.request.model").resolve(&e),
            Some(Value::Str("m1"))
        );
        assert_eq!(Tag::metadata("tenant").resolve(&e), None);
        assert_eq!(
            Tag::metadata("tenant").or("none").resolve(&e),
            Some(Value::Str("none"))
        );
        assert_eq!(Tag::constant("k", "v").resolve(&e), Some(Value::Str("v")));
        let derived = Tag::derived("phase", |e| Some(Value::Str(e.name().phase())));
        assert_eq!(derived.resolve(&e), Some(Value::Str("resolve")));
        assert_eq!(Tag::metadata("n").resolve(&e), Some(Value::Int(3)));
    }
}
