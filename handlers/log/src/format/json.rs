//! The JSON-lines format: one object per event, written with serde_json.
//!
//! The fields, in this order, are stable:
//!
//! | field | type | content |
//! |---|---|---|
//! | `timestamp` | string | RFC 3339 in UTC with microseconds, `2026-11-21T03:07:27.123456Z` (see [`crate::time`]) |
//! | `level` | string | `trace`, `debug`, `info`, `warn` or `error` |
//! | `event` | string | the event name, `llm.chat.stop` |
//! | `trace_id` | string or null | 32 lowercase hex digits (W3C), null outside any span |
//! | `span_id` | string or null | 16 lowercase hex digits |
//! | `parent_span_id` | string or null | 16 lowercase hex digits, null for a root span |
//! | `measurements` | object | name → number, raw units (`duration` etc. in nanoseconds); whole numbers are written without a fraction |
//! | `metadata` | object | key → string, integer, float or bool, in emission order |
//! | global fields | string | `service`, `environment`, `version` and any other configured field, when set |
//!
//! A value hidden by redaction becomes the marker string (`"[REDACTED]"`), whatever its type.

use std::borrow::Cow;
use std::cell::{Cell, RefCell};

use llm_telemetry_core::{Event, SpanId, TraceId, Value};
use serde::ser::{Serialize, SerializeMap, Serializer};

use crate::level::Level;
use crate::redact::{CleanValue, KeyCache, Redactor};
use crate::time::{Fraction, rfc3339};

/// The redaction state one rendering shares: rules, key verdict cache, and a count of changes.
pub(crate) struct Redaction<'a> {
    pub(crate) redactor: &'a Redactor,
    pub(crate) cache: RefCell<KeyCache>,
    pub(crate) count: Cell<u64>,
}

impl<'a> Redaction<'a> {
    /// Borrows `cache` for one rendering (moved in; give it back with [`Self::finish`]).
    pub(crate) fn new(redactor: &'a Redactor, cache: &mut KeyCache) -> Self {
        Self {
            redactor,
            cache: RefCell::new(std::mem::take(cache)),
            count: Cell::new(0),
        }
    }

    /// Returns the cache and how many keys or values were changed.
    pub(crate) fn finish(self, cache: &mut KeyCache) -> u64 {
        *cache = self.cache.into_inner();
        self.count.get()
    }

    pub(crate) fn changed(&self) {
        self.count.set(self.count.get() + 1);
    }

    /// The key text to print and whether its value is hidden.
    pub(crate) fn key(&self, key: &'static str) -> (Cow<'static, str>, bool) {
        let mut cache = self.cache.borrow_mut();
        let verdict = self.redactor.verdict(&mut cache, key);
        let text = match &verdict.clean_key {
            Some(clean) => {
                self.changed();
                Cow::Owned(clean.to_string())
            }
            None => Cow::Borrowed(key),
        };
        (text, verdict.hide_value)
    }
}

/// Everything one JSON line needs, serialized straight into the output buffer.
pub(crate) struct JsonLine<'a> {
    pub(crate) event: &'a Event<'a>,
    pub(crate) level: Level,
    pub(crate) unix_nanos: u64,
    pub(crate) redaction: &'a Redaction<'a>,
    pub(crate) globals: &'a [(String, String)],
}

/// Lowercase hex of an id, on the stack.
pub(crate) struct Hex<const N: usize>([u8; N]);

impl<const N: usize> Hex<N> {
    fn of(bytes: &[u8]) -> Self {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut out = [0u8; N];
        for (i, b) in bytes.iter().enumerate().take(N / 2) {
            out[2 * i] = DIGITS[usize::from(b >> 4)];
            out[2 * i + 1] = DIGITS[usize::from(b & 0xf)];
        }
        Self(out)
    }

    /// The hex digits.
    pub(crate) fn as_str(&self) -> &str {
        // Infallible: only ASCII hex digits were written.
        std::str::from_utf8(&self.0).unwrap_or("")
    }
}

/// The 32 hex digits of a trace id.
pub(crate) fn trace_hex(id: TraceId) -> Hex<32> {
    Hex::of(&id.to_bytes())
}

/// The 16 hex digits of a span id.
pub(crate) fn span_hex(id: SpanId) -> Hex<16> {
    Hex::of(&id.to_bytes())
}

/// A number as JSON: whole values within the `i64` range as integers (exact: the float *is* that
/// integer), the rest as floats.
pub(crate) struct Number(pub(crate) f64);

impl Serialize for Number {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let v = self.0;
        if v.fract() == 0.0 && v.abs() < I64_LIMIT {
            serializer.serialize_i64(v as i64)
        } else {
            serializer.serialize_f64(v)
        }
    }
}

/// 2^63: whole floats below it in magnitude convert to `i64` exactly.
pub(crate) const I64_LIMIT: f64 = 9_223_372_036_854_775_808.0;

struct Clean<'a>(CleanValue<'a>);

impl Serialize for Clean<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match &self.0 {
            CleanValue::Redacted(text) => serializer.serialize_str(text),
            CleanValue::Value(Value::Str(s)) => serializer.serialize_str(s),
            CleanValue::Value(Value::Int(i)) => serializer.serialize_i64(*i),
            CleanValue::Value(Value::Float(f)) => Number(*f).serialize(serializer),
            CleanValue::Value(Value::Bool(b)) => serializer.serialize_bool(*b),
        }
    }
}

/// An event's measurements as a JSON object, redacted.
pub(crate) struct Measurements<'a> {
    pub(crate) event: &'a Event<'a>,
    pub(crate) redaction: &'a Redaction<'a>,
}

impl Serialize for Measurements<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let redaction = self.redaction;
        let measurements = self.event.measurements();
        let mut map = serializer.serialize_map(Some(measurements.len()))?;
        for (key, value) in measurements {
            let (key, hide) = redaction.key(key);
            if hide {
                redaction.changed();
                map.serialize_entry(key.as_ref(), redaction.redactor.marker())?;
            } else {
                map.serialize_entry(key.as_ref(), &Number(*value))?;
            }
        }
        map.end()
    }
}

/// An event's metadata as a JSON object, redacted.
pub(crate) struct Metadata<'a> {
    pub(crate) event: &'a Event<'a>,
    pub(crate) redaction: &'a Redaction<'a>,
}

impl Serialize for Metadata<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let redaction = self.redaction;
        let metadata = self.event.metadata();
        let mut map = serializer.serialize_map(Some(metadata.len()))?;
        for (key, value) in metadata {
            let (key, hide) = redaction.key(key);
            let clean = redaction.redactor.clean_value(hide, *value);
            if matches!(clean, CleanValue::Redacted(_)) {
                redaction.changed();
            }
            map.serialize_entry(key.as_ref(), &Clean(clean))?;
        }
        map.end()
    }
}

/// An RFC 3339 timestamp, formatted on the stack.
struct Timestamp(u64);

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let (buf, len) = rfc3339(self.0, Fraction::Micros);
        // Infallible: the formatter writes ASCII only.
        serializer.serialize_str(std::str::from_utf8(&buf[..len]).unwrap_or(""))
    }
}

impl Serialize for JsonLine<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(8 + self.globals.len()))?;
        map.serialize_entry("timestamp", &Timestamp(self.unix_nanos))?;
        map.serialize_entry("level", self.level.as_str())?;
        let (name, _) = self.redaction.key(self.event.name().as_str());
        map.serialize_entry("event", name.as_ref())?;
        match self.event.span() {
            Some(span) => {
                map.serialize_entry("trace_id", trace_hex(span.trace_id).as_str())?;
                map.serialize_entry("span_id", span_hex(span.span_id).as_str())?;
                match span.parent_span_id {
                    Some(parent) => {
                        map.serialize_entry("parent_span_id", span_hex(parent).as_str())?
                    }
                    None => map.serialize_entry("parent_span_id", &())?,
                }
            }
            None => {
                map.serialize_entry("trace_id", &())?;
                map.serialize_entry("span_id", &())?;
                map.serialize_entry("parent_span_id", &())?;
            }
        }
        map.serialize_entry(
            "measurements",
            &Measurements {
                event: self.event,
                redaction: self.redaction,
            },
        )?;
        map.serialize_entry(
            "metadata",
            &Metadata {
                event: self.event,
                redaction: self.redaction,
            },
        )?;
        for (key, value) in self.globals {
            map.serialize_entry(key, value)?;
        }
        map.end()
    }
}

/// Appends one JSON object (no newline) to `out`; returns how many keys or values were redacted.
pub(crate) fn write(
    out: &mut Vec<u8>,
    event: &Event<'_>,
    level: Level,
    unix_nanos: u64,
    redactor: &Redactor,
    cache: &mut KeyCache,
    globals: &[(String, String)],
) -> u64 {
    let redaction = Redaction::new(redactor, cache);
    let line = JsonLine {
        event,
        level,
        unix_nanos,
        redaction: &redaction,
        globals,
    };
    // Serializing into a Vec cannot fail on I/O, and every value here is serializable
    // (non-finite floats become null); on the impossible error the partial object is dropped.
    let start = out.len();
    if serde_json::to_writer(&mut *out, &line).is_err() {
        out.truncate(start);
        out.extend_from_slice(b"{}");
    }
    redaction.finish(cache)
}
