//! The event model: measurements, metadata values, the borrowed [`Event`] handlers receive and the
//! [`OwnedEvent`] the queued lane carries.
//!
//! On the inline path nothing here allocates: an [`Event`] borrows the caller's slices. A queued
//! handler needs the event to outlive the call, so the bus copies it into a record of that
//! handler's byte ring (`ring.rs`) and the worker hands the handler an [`Event`] that borrows the
//! record in place: no allocation either. [`OwnedEvent`] is the heap copy for the rest: events a
//! test captures, a span's start metadata kept for its stop event, and an event too big for its
//! ring.

use std::fmt;
use std::marker::PhantomData;

use smallvec::SmallVec;

use crate::context::SpanContext;
use crate::name::EventName;

/// Numbers attached to an event, keyed by static names (`duration` in nanoseconds, `input_tokens`, …).
pub type Measurements<'a> = &'a [(&'static str, f64)];
/// Metadata attached to an event, keyed by static names (`gen_ai.request.model`, `tenant`, …).
pub type Metadata<'a> = &'a [(&'static str, Value<'a>)];

/// One metadata value: a string, an integer, a float or a bool. Borrowed; see [`OwnedValue`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Value<'a> {
    /// A string (model name, tenant, status, …).
    Str(&'a str),
    /// A signed integer.
    Int(i64),
    /// A float.
    Float(f64),
    /// A boolean.
    Bool(bool),
}

impl<'a> Value<'a> {
    /// The string, if this is a string.
    pub fn as_str(&self) -> Option<&'a str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }
    /// The value as an integer, if it is an integer (or a whole float).
    pub fn as_i64(&self) -> Option<i64> {
        match *self {
            Value::Int(i) => Some(i),
            Value::Float(f) if f.fract() == 0.0 && f.is_finite() => Some(f as i64),
            _ => None,
        }
    }
    /// The value as a float, if it is numeric.
    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            Value::Int(i) => Some(i as f64),
            Value::Float(f) => Some(f),
            _ => None,
        }
    }
    /// The bool, if this is a bool.
    pub fn as_bool(&self) -> Option<bool> {
        match *self {
            Value::Bool(b) => Some(b),
            _ => None,
        }
    }
    /// An owned copy.
    pub fn to_owned_value(&self) -> OwnedValue {
        match *self {
            Value::Str(s) => OwnedValue::Str(s.to_owned()),
            Value::Int(i) => OwnedValue::Int(i),
            Value::Float(f) => OwnedValue::Float(f),
            Value::Bool(b) => OwnedValue::Bool(b),
        }
    }
}

impl fmt::Display for Value<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Str(s) => f.write_str(s),
            Value::Int(i) => write!(f, "{i}"),
            Value::Float(x) => write!(f, "{x}"),
            Value::Bool(b) => write!(f, "{b}"),
        }
    }
}

impl<'a> From<&'a str> for Value<'a> {
    fn from(v: &'a str) -> Self {
        Value::Str(v)
    }
}
impl<'a> From<&'a String> for Value<'a> {
    fn from(v: &'a String) -> Self {
        Value::Str(v)
    }
}
impl From<bool> for Value<'_> {
    fn from(v: bool) -> Self {
        Value::Bool(v)
    }
}
impl From<f64> for Value<'_> {
    fn from(v: f64) -> Self {
        Value::Float(v)
    }
}
impl From<f32> for Value<'_> {
    fn from(v: f32) -> Self {
        Value::Float(v as f64)
    }
}
macro_rules! int_value {
    ($($t:ty),*) => {$(
        impl From<$t> for Value<'_> {
            fn from(v: $t) -> Self {
                Value::Int(v as i64)
            }
        }
    )*};
}
int_value!(i8, i16, i32, i64, isize, u8, u16, u32);
impl<'a> From<&'a &str> for Value<'a> {
    fn from(v: &'a &str) -> Self {
        Value::Str(v)
    }
}
impl<'a> From<&'a std::borrow::Cow<'_, str>> for Value<'a> {
    fn from(v: &'a std::borrow::Cow<'_, str>) -> Self {
        Value::Str(v)
    }
}
impl From<u64> for Value<'_> {
    /// Saturates at `i64::MAX`.
    fn from(v: u64) -> Self {
        Value::Int(i64::try_from(v).unwrap_or(i64::MAX))
    }
}
impl From<usize> for Value<'_> {
    /// Saturates at `i64::MAX`.
    fn from(v: usize) -> Self {
        Value::Int(i64::try_from(v).unwrap_or(i64::MAX))
    }
}

/// An owned metadata value, for data that must outlive the emitting call.
#[derive(Clone, Debug, PartialEq)]
pub enum OwnedValue {
    /// A string.
    Str(String),
    /// A signed integer.
    Int(i64),
    /// A float.
    Float(f64),
    /// A boolean.
    Bool(bool),
}

impl OwnedValue {
    /// Borrows it as a [`Value`].
    pub fn as_value(&self) -> Value<'_> {
        match self {
            OwnedValue::Str(s) => Value::Str(s),
            OwnedValue::Int(i) => Value::Int(*i),
            OwnedValue::Float(f) => Value::Float(*f),
            OwnedValue::Bool(b) => Value::Bool(*b),
        }
    }
}

impl<'a, T: Into<Value<'a>>> From<T> for OwnedValue {
    fn from(v: T) -> Self {
        v.into().to_owned_value()
    }
}

/// One event as a handler sees it: name, measurements, metadata and span context, all borrowed.
///
/// It belongs to the handler's thread (neither `Send` nor `Sync`): an event emitted without an
/// explicit span looks its span up on that thread when [`Event::span`] is called. Keep
/// [`Event::to_owned_event`] for anything that leaves the call.
#[derive(Clone, Copy)]
pub struct Event<'a> {
    name: EventName,
    measurements: Measurements<'a>,
    metadata: Metadata<'a>,
    span: EventSpan<'a>,
    /// Not `Send`/`Sync`: an event emitted without an explicit span reads it from the handler
    /// thread's state when asked.
    _thread_bound: PhantomData<*const ()>,
}

/// The span context of an [`Event`]: the bus lends its own copy (building the event then costs
/// one pointer instead of a 56-byte copy); [`Event::new`] keeps one by value.
#[derive(Clone, Copy, Debug)]
enum EventSpan<'a> {
    None,
    Owned(SpanContext),
    Borrowed(&'a SpanContext),
    /// The span current on this thread when the dispatch at this handler depth began, read only
    /// when asked for (`context::span_at`).
    Current(u8),
}

impl fmt::Debug for Event<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Event")
            .field("name", &self.name.as_str())
            .field("measurements", &self.measurements)
            .field("metadata", &self.metadata)
            .field("span", &self.span())
            .finish()
    }
}

impl<'a> Event<'a> {
    #[inline(always)]
    fn with_span(
        name: EventName,
        measurements: Measurements<'a>,
        metadata: Metadata<'a>,
        span: EventSpan<'a>,
    ) -> Self {
        Self {
            name,
            measurements,
            metadata,
            span,
            _thread_bound: PhantomData,
        }
    }

    /// What the bus builds: the span context borrowed from the dispatching frame.
    #[inline(always)]
    pub(crate) fn borrowing(
        name: EventName,
        measurements: Measurements<'a>,
        metadata: Metadata<'a>,
        span: Option<&'a SpanContext>,
    ) -> Self {
        let span = span.map_or(EventSpan::None, EventSpan::Borrowed);
        Self::with_span(name, measurements, metadata, span)
    }

    /// What the bus builds for an event emitted without an explicit span: handlers run at
    /// `depth` on this thread.
    #[inline(always)]
    pub(crate) fn in_current_span(
        name: EventName,
        measurements: Measurements<'a>,
        metadata: Metadata<'a>,
        depth: u8,
    ) -> Self {
        Self::with_span(name, measurements, metadata, EventSpan::Current(depth))
    }

    /// Builds an event (the bus does this; useful to test a handler directly).
    pub fn new(
        name: EventName,
        measurements: Measurements<'a>,
        metadata: Metadata<'a>,
        span: Option<SpanContext>,
    ) -> Self {
        let span = span.map_or(EventSpan::None, EventSpan::Owned);
        Self::with_span(name, measurements, metadata, span)
    }
    /// The event's name.
    pub fn name(&self) -> EventName {
        self.name
    }
    /// All measurements, in emission order.
    pub fn measurements(&self) -> Measurements<'a> {
        self.measurements
    }
    /// All metadata, in emission order.
    pub fn metadata(&self) -> Metadata<'a> {
        self.metadata
    }
    /// The span this event belongs to: for `start`/`stop`/`exception` the span itself, for any
    /// other event the span that was current when it was emitted.
    pub fn span(&self) -> Option<SpanContext> {
        match self.span {
            EventSpan::None => None,
            EventSpan::Owned(span) => Some(span),
            EventSpan::Borrowed(span) => Some(*span),
            EventSpan::Current(depth) => crate::context::span_at(depth),
        }
    }
    /// Whether the event belongs to a span ([`Event::span`] is `Some`), without copying it.
    pub fn has_span(&self) -> bool {
        match self.span {
            EventSpan::None => false,
            EventSpan::Owned(_) | EventSpan::Borrowed(_) => true,
            EventSpan::Current(depth) => crate::context::span_at(depth).is_some(),
        }
    }
    /// One measurement by key: the last, if repeated (a later value overrides an earlier one,
    /// the rule [`Event::value`] and [`OwnedEvent`] follow too).
    pub fn measurement(&self, key: &str) -> Option<f64> {
        last_of(self.measurements, key).copied()
    }
    /// One metadata value by key: the last, if repeated (later values override earlier ones, as
    /// a span's stop metadata overrides its start metadata; [`Event::measurement`] follows the
    /// same rule).
    pub fn value(&self, key: &str) -> Option<Value<'a>> {
        last_of(self.metadata, key).copied()
    }
    /// One string metadata value by key.
    pub fn str(&self, key: &str) -> Option<&'a str> {
        self.value(key).and_then(|v| v.as_str())
    }
    /// The bytes of all its string metadata values (what an owned copy stores).
    pub(crate) fn string_bytes(&self) -> usize {
        self.metadata
            .iter()
            .map(|(_, v)| v.as_str().map_or(0, str::len))
            .fold(0usize, usize::saturating_add)
    }

    /// An owned copy, for keeping the event beyond the handler call. Its
    /// [`OwnedEvent::depth`] is the nesting depth the event was emitted at: called inside a
    /// handler (inline or queued), the depth of the dispatch running it; elsewhere 0.
    pub fn to_owned_event(&self) -> OwnedEvent {
        OwnedEvent::from_event(self, crate::nesting::emitted_depth())
    }
}

/// Where one metadata value of an [`OwnedEvent`] lives.
#[derive(Clone, Copy, Debug)]
enum Slot {
    Str { start: usize, len: usize },
    Int(i64),
    Float(f64),
    Bool(bool),
}

/// An event that owns its data: what [`crate::testing::Capture`] records, what a span keeps of
/// its start metadata, and how the queued lane carries an event too big for its ring.
#[derive(Clone)]
pub struct OwnedEvent {
    name: EventName,
    measurements: Vec<(&'static str, f64)>,
    metadata: Vec<(&'static str, Slot)>,
    strings: Vec<u8>,
    span: Option<SpanContext>,
    depth: u8,
}

impl OwnedEvent {
    /// An owned copy of `event`, emitted at handler nesting depth `depth`. Allocates exactly
    /// [`OwnedEvent::heap_bytes_for`] bytes besides the struct itself.
    pub(crate) fn from_event(event: &Event<'_>, depth: u8) -> Self {
        let string_bytes = event.string_bytes();
        let mut strings = Vec::with_capacity(string_bytes);
        let metadata = event
            .metadata
            .iter()
            .map(|(k, v)| {
                let slot = match *v {
                    Value::Str(s) => {
                        let start = strings.len();
                        strings.extend_from_slice(s.as_bytes());
                        Slot::Str {
                            start,
                            len: s.len(),
                        }
                    }
                    Value::Int(i) => Slot::Int(i),
                    Value::Float(f) => Slot::Float(f),
                    Value::Bool(b) => Slot::Bool(b),
                };
                (*k, slot)
            })
            .collect();
        Self {
            name: event.name,
            measurements: event.measurements.to_vec(),
            metadata,
            strings,
            span: event.span(),
            depth,
        }
    }

    /// The bytes [`OwnedEvent::from_event`] would take on the heap for `event` (the struct
    /// included): what the queued lane charges a spilled event against its budget.
    pub(crate) fn heap_bytes_for(event: &Event<'_>) -> usize {
        let strings = event.string_bytes();
        size_of::<Self>()
            .saturating_add(
                event
                    .measurements
                    .len()
                    .saturating_mul(size_of::<(&'static str, f64)>()),
            )
            .saturating_add(
                event
                    .metadata
                    .len()
                    .saturating_mul(size_of::<(&'static str, Slot)>()),
            )
            .saturating_add(strings)
    }

    fn slot_value(&self, slot: Slot) -> Value<'_> {
        match slot {
            Slot::Str { start, len } => {
                let bytes = self.strings.get(start..start + len).unwrap_or_default();
                // Infallible: the bytes were copied from a `&str` whole, so they are valid UTF-8.
                Value::Str(std::str::from_utf8(bytes).unwrap_or(""))
            }
            Slot::Int(i) => Value::Int(i),
            Slot::Float(f) => Value::Float(f),
            Slot::Bool(b) => Value::Bool(b),
        }
    }

    /// Calls `f` with a borrowed [`Event`] view (no allocation for up to 16 metadata entries).
    pub fn with_event<R>(&self, f: impl FnOnce(&Event<'_>) -> R) -> R {
        let metadata: SmallVec<[(&'static str, Value<'_>); 16]> = self
            .metadata
            .iter()
            .map(|(k, slot)| (*k, self.slot_value(*slot)))
            .collect();
        f(&Event::borrowing(
            self.name,
            &self.measurements,
            &metadata,
            self.span.as_ref(),
        ))
    }

    /// The event's name.
    pub fn name(&self) -> EventName {
        self.name
    }
    /// All measurements.
    pub fn measurements(&self) -> &[(&'static str, f64)] {
        &self.measurements
    }
    /// One measurement by key: the last, if repeated (as [`Event::measurement`]).
    pub fn measurement(&self, key: &str) -> Option<f64> {
        last_of(&self.measurements, key).copied()
    }
    /// One metadata value by key: the last, if repeated (as [`Event::value`]).
    pub fn value(&self, key: &str) -> Option<Value<'_>> {
        last_of(&self.metadata, key).map(|slot| self.slot_value(*slot))
    }
    /// One string metadata value by key.
    pub fn str(&self, key: &str) -> Option<&str> {
        self.value(key).and_then(|v| v.as_str())
    }
    /// Every metadata entry, in emission order.
    pub fn metadata(&self) -> impl Iterator<Item = (&'static str, Value<'_>)> + '_ {
        self.metadata
            .iter()
            .map(|(k, slot)| (*k, self.slot_value(*slot)))
    }
    /// The span context the event carried.
    pub fn span(&self) -> Option<SpanContext> {
        self.span
    }
    /// The handler nesting depth the event was emitted at (0 = from instrumented code).
    pub fn depth(&self) -> u8 {
        self.depth
    }
}

impl fmt::Debug for OwnedEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OwnedEvent")
            .field("name", &self.name.as_str())
            .field("measurements", &self.measurements)
            .field("metadata", &self.metadata().collect::<Vec<_>>())
            .field("span", &self.span)
            .finish()
    }
}

/// The value of the last `(key, value)` pair named `key`: the one rule for repeated keys that
/// [`Event`] and [`OwnedEvent`] lookups share (a later value overrides an earlier one).
#[inline]
fn last_of<'p, V>(pairs: &'p [(&str, V)], key: &str) -> Option<&'p V> {
    pairs
        .iter()
        .rev()
        .find(|(k, _)| key_eq(k, key))
        .map(|(_, v)| v)
}

/// Key equality, cheap in the common cases: keys of other lengths differ without a call, and a
/// key spelled with the same constant as the lookup (`keys::MODEL` on both sides: one address in
/// the binary) is equal without comparing bytes. `memcmp` runs only for equal lengths at
/// different addresses.
#[inline(always)]
fn key_eq(a: &str, b: &str) -> bool {
    a.len() == b.len() && (std::ptr::eq(a.as_ptr(), b.as_ptr()) || a.as_bytes() == b.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owned_event_round_trips() {
        let name = EventName::new("test.owned.event").unwrap();
        let long = "x".repeat(1000);
        let metadata = [
            ("model", Value::Str("gpt-4o")),
            ("n", Value::Int(-3)),
            ("t", Value::Float(0.5)),
            ("stream", Value::Bool(true)),
            ("prompt", Value::Str(&long)),
            ("unicode", Value::Str("héllo 🌍")),
        ];
        let event = Event::new(name, &[("duration", 12.0)], &metadata, None);
        let owned = event.to_owned_event();
        assert_eq!(owned.str("model"), Some("gpt-4o"));
        assert_eq!(owned.str("prompt"), Some(long.as_str()));
        assert_eq!(owned.str("unicode"), Some("héllo 🌍"));
        assert_eq!(owned.value("n"), Some(Value::Int(-3)));
        assert_eq!(owned.measurement("duration"), Some(12.0));
        owned.with_event(|e| {
            assert_eq!(e.metadata(), &metadata[..]);
            assert_eq!(e.name(), name);
        });
    }

    #[test]
    fn later_metadata_overrides_earlier() {
        let name = EventName::new("test.owned.override").unwrap();
        let md = [
            ("status", Value::Str("ok")),
            ("status", Value::Str("cancelled")),
        ];
        let e = Event::new(name, &[], &md, None);
        assert_eq!(e.str("status"), Some("cancelled"));
        assert_eq!(e.to_owned_event().str("status"), Some("cancelled"));
    }
}
