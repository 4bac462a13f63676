//! The console format: one readable line per event, for people watching a terminal.
//!
//! ```text
//! 2023-11-14T22:13:20.012Z  INFO llm.chat.stop duration=12.346ms input_tokens=42 gen_ai.request.model=gpt-4o trace=4bf92f35 span=00f067aa service=api
//! ```
//!
//! Time (UTC, milliseconds), level, event name, measurements with units, metadata, the first 8
//! hex digits of the trace and span ids, then the global fields. Durations (`duration`,
//! `time_to_first_token`, `time_per_output_token`, all nanoseconds) are shown in milliseconds and
//! `retry_after` in seconds; `monotonic_time` and `system_time` are left out (they are clock
//! readings, not measurements of the work). Strings holding spaces, quotes, `=` or control
//! characters are quoted with Rust escapes. With colour on, the level is coloured, the event name
//! bold and keys dimmed (ANSI escapes).

use std::io::Write;

use llm_telemetry_core::{Event, Value};
use llm_telemetry_genai::catalog::keys;

use crate::format::json::{I64_LIMIT, Redaction, span_hex, trace_hex};
use crate::level::Level;
use crate::redact::{CleanValue, KeyCache, Redactor};
use crate::time::{Fraction, write_rfc3339};

const RESET: &str = "\x1b[0m";
const BOLD: &str = "\x1b[1m";
const DIM: &str = "\x1b[2m";

fn level_colour(level: Level) -> &'static str {
    match level {
        Level::Trace => "\x1b[35m",
        Level::Debug => "\x1b[34m",
        Level::Info => "\x1b[32m",
        Level::Warn => "\x1b[33m",
        Level::Error => "\x1b[31m",
    }
}

/// How a measurement is shown.
enum Unit {
    /// Nanoseconds, shown as milliseconds.
    NanosAsMillis,
    /// Seconds.
    Seconds,
    /// A plain number.
    Plain,
    /// Not shown on the console.
    Hidden,
}

fn unit_of(key: &str) -> Unit {
    match key {
        keys::DURATION | keys::TIME_TO_FIRST_TOKEN | keys::TIME_PER_OUTPUT_TOKEN => {
            Unit::NanosAsMillis
        }
        keys::RETRY_AFTER => Unit::Seconds,
        keys::MONOTONIC_TIME | keys::SYSTEM_TIME => Unit::Hidden,
        _ => Unit::Plain,
    }
}

/// Appends one console line (no newline) to `out`; returns how many keys or values were redacted.
#[allow(clippy::too_many_arguments)]
pub(crate) fn write(
    out: &mut Vec<u8>,
    event: &Event<'_>,
    level: Level,
    unix_nanos: u64,
    redactor: &Redactor,
    cache: &mut KeyCache,
    globals: &[(String, String)],
    colour: bool,
) -> u64 {
    let redaction = Redaction::new(redactor, cache);
    let paint = |out: &mut Vec<u8>, code: &str| {
        if colour {
            out.extend_from_slice(code.as_bytes());
        }
    };
    write_rfc3339(out, unix_nanos, Fraction::Millis);
    out.push(b' ');
    paint(out, level_colour(level));
    out.extend_from_slice(level.label().as_bytes());
    paint(out, RESET);
    out.push(b' ');
    let (name, _) = redaction.key(event.name().as_str());
    paint(out, BOLD);
    out.extend_from_slice(name.as_bytes());
    paint(out, RESET);

    let key = |out: &mut Vec<u8>, key: &str| {
        out.push(b' ');
        paint(out, DIM);
        out.extend_from_slice(key.as_bytes());
        out.push(b'=');
        paint(out, RESET);
    };
    for (name, value) in event.measurements() {
        let unit = unit_of(name);
        if matches!(unit, Unit::Hidden) {
            continue;
        }
        let (clean_name, hide) = redaction.key(name);
        key(out, &clean_name);
        if hide {
            redaction.changed();
            out.extend_from_slice(redactor.marker().as_bytes());
            continue;
        }
        match unit {
            Unit::NanosAsMillis => {
                let _ = write!(out, "{:.3}ms", value / 1e6);
            }
            Unit::Seconds => {
                write_number(out, *value);
                out.push(b's');
            }
            Unit::Plain | Unit::Hidden => write_number(out, *value),
        }
    }
    for (name, value) in event.metadata() {
        let (clean_name, hide) = redaction.key(name);
        let clean = redactor.clean_value(hide, *value);
        if matches!(clean, CleanValue::Redacted(_)) {
            redaction.changed();
        }
        key(out, &clean_name);
        match clean {
            CleanValue::Redacted(text) => write_text(out, &text),
            CleanValue::Value(Value::Str(s)) => write_text(out, s),
            CleanValue::Value(Value::Int(i)) => {
                let _ = write!(out, "{i}");
            }
            CleanValue::Value(Value::Float(f)) => write_number(out, f),
            CleanValue::Value(Value::Bool(b)) => {
                let _ = write!(out, "{b}");
            }
        }
    }
    if let Some(span) = event.span() {
        key(out, "trace");
        out.extend_from_slice(&trace_hex(span.trace_id).as_str().as_bytes()[..8]);
        key(out, "span");
        out.extend_from_slice(&span_hex(span.span_id).as_str().as_bytes()[..8]);
    }
    for (name, value) in globals {
        key(out, name);
        write_text(out, value);
    }
    redaction.finish(cache)
}

/// Whole numbers without a fraction, the rest in Rust's shortest round-trip form.
fn write_number(out: &mut Vec<u8>, value: f64) {
    if value.fract() == 0.0 && value.abs() < I64_LIMIT {
        let _ = write!(out, "{}", value as i64);
    } else {
        let _ = write!(out, "{value}");
    }
}

/// A string as-is, or quoted with escapes when it would not read as one token.
fn write_text(out: &mut Vec<u8>, text: &str) {
    let plain = !text.is_empty()
        && !text
            .bytes()
            .any(|b| b <= b' ' || b == b'"' || b == b'=' || b == b'\\' || b == 0x7f);
    if plain {
        out.extend_from_slice(text.as_bytes());
    } else {
        let _ = write!(out, "{text:?}");
    }
}
