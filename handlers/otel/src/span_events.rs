//! Span events and late attributes: what happens inside a span before it ends.
//!
//! The handler hears, besides span ends, every event emitted inside a span by default (the
//! span-event patterns, default `*`): first token, rate limits, cache operations, costs and a
//! program's own (`myapp.retrieval.done`). It never hears span starts (declined in
//! `Handler::wants`, so starts cost emitters nothing), and a `stop` or `exception` is a span end
//! only when the stop/exception patterns match it. Every other name is taken *only inside a
//! span* (`Handler::only_in_span`): the bus skips an event with no span, explicit or current,
//! before the handler's queue, so a program's high-rate events outside spans never take a queue
//! slot that a span needs. `span_events(false)` attaches no span-event pattern at all; explicit
//! `span_event_patterns` replace `*` and narrow the set, under the same rules. Events inside
//! spans do take queue slots: at the token-recording level the per-token `llm.stream.token`
//! becomes one span event per token, up to the per-span limit below, the rest counted as dropped
//! span events; patterns that leave it out keep such streams off the handler's queue.
//!
//! Such an event belongs to the span that
//! was current where it was emitted; it is kept here, by span id, until that span's stop or
//! exception arrives on the same queue (events and the stop a thread emits keep their order), and
//! then becomes an OpenTelemetry span event on it: named after the event, timed by its
//! `system_time` measurement when it has one (else when the handler saw it, kept within the
//! span's start and end), its measurements and
//! metadata as attributes. Two names are special: `span.event` is a span event named by its
//! `event.name` metadata, and `span.attributes` adds its metadata to the span's attributes, a
//! key named by a `span.list` entry as a list-valued (string array) attribute (the current-span
//! helpers of the genai crate emit both).
//!
//! Bounded: at most [`MAX_PENDING_SPANS`] spans wait (the oldest is forgotten first, its events
//! counted as dropped, as the spans that never end would otherwise pile up), and at most
//! [`MAX_EVENTS_PER_SPAN`] events per span (OpenTelemetry's default event limit).

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use llm_telemetry_core::{Event, SpanContext, Value};
use llm_telemetry_genai::catalog::{self, keys};
use opentelemetry::KeyValue;
use opentelemetry_sdk::trace::SpanData;

use crate::attributes::attribute_value;

/// Most spans whose events wait for their end.
pub const MAX_PENDING_SPANS: usize = 4096;
/// Most events kept per span.
pub const MAX_EVENTS_PER_SPAN: usize = 128;
const EVENT_NAME: &str = keys::EVENT_NAME;

/// What waits for one span's end.
#[derive(Default)]
pub(crate) struct Extras {
    /// Span events, in the order they were emitted.
    pub events: Vec<opentelemetry::trace::Event>,
    /// Attributes set on the span by `span.attributes` events.
    pub attributes: Vec<KeyValue>,
    /// Events beyond [`MAX_EVENTS_PER_SPAN`].
    pub dropped: u32,
    /// When the entry was made, in arrival order (the oldest is forgotten first).
    order: u64,
}

/// The waiting extras of every open span (only the bus worker touches it: the mutex is
/// uncontended).
#[derive(Default)]
pub(crate) struct Pending {
    spans: Mutex<State>,
    /// Entries held, readable without the lock, so a span end with nothing waiting takes none.
    held: AtomicUsize,
}

#[derive(Default)]
struct State {
    by_span: HashMap<u64, Extras>,
    next_order: u64,
}

/// What recording an event did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Recorded {
    /// Kept for its span.
    Kept,
    /// Dropped: the span already holds the most events, or an older span was forgotten for it
    /// (the count of events lost).
    Dropped(u64),
}

impl Extras {
    /// Adds the events (before the span's own, such as `exception`) and attributes (replacing
    /// the span's own of the same key) to `span`.
    pub(crate) fn apply_to(self, span: &mut SpanData) {
        let own = std::mem::take(&mut span.events.events);
        span.events.events = self.events;
        // An event without its own time was stamped when the handler saw it, after its span
        // may have ended: it happened within the span.
        for event in &mut span.events.events {
            event.timestamp = event.timestamp.clamp(span.start_time, span.end_time);
        }
        span.events.events.extend(own);
        span.events.dropped_count += self.dropped;
        for attribute in self.attributes {
            span.attributes.retain(|kv| kv.key != attribute.key);
            span.attributes.push(attribute);
        }
    }
}

impl Pending {
    /// Keeps `event`, emitted inside the span `context`, for that span's end.
    pub(crate) fn record(&self, event: &Event<'_>, context: &SpanContext) -> Recorded {
        let mut state = self.spans.lock().unwrap_or_else(PoisonError::into_inner);
        let mut lost = 0;
        let span = context.span_id.to_u64();
        if !state.by_span.contains_key(&span) && state.by_span.len() >= MAX_PENDING_SPANS {
            let oldest = state
                .by_span
                .iter()
                .min_by_key(|(_, e)| e.order)
                .map(|(id, _)| *id);
            if let Some(extras) = oldest.and_then(|id| state.by_span.remove(&id)) {
                lost += (extras.events.len() + extras.attributes.len()) as u64;
            }
        }
        let order = state.next_order;
        state.next_order += 1;
        let extras = state.by_span.entry(span).or_insert_with(|| Extras {
            order,
            ..Extras::default()
        });
        let name = event.name().as_str();
        if name == catalog::SPAN_ATTRIBUTES.as_str() {
            let metadata = event.metadata();
            let is_list = |key: &str| {
                metadata
                    .iter()
                    .any(|(k, v)| *k == keys::LIST_ATTRIBUTE && v.as_str() == Some(key))
            };
            for (key, value) in metadata {
                if *key == keys::LIST_ATTRIBUTE {
                    continue;
                }
                let value = match value.as_str().filter(|_| is_list(key)) {
                    Some(json) => list_value(key, json),
                    None => attribute_value(key, value),
                };
                extras.attributes.retain(|kv| kv.key.as_str() != *key);
                extras.attributes.push(KeyValue::new(*key, value));
            }
        } else if extras.events.len() >= MAX_EVENTS_PER_SPAN {
            extras.dropped += 1;
            lost += 1;
        } else {
            extras.events.push(span_event(event));
        }
        self.held.store(state.by_span.len(), Ordering::Relaxed);
        if lost == 0 {
            Recorded::Kept
        } else {
            Recorded::Dropped(lost)
        }
    }

    /// Takes what waits for the span `context` (it is ending).
    pub(crate) fn take(&self, context: &SpanContext) -> Option<Extras> {
        if self.held.load(Ordering::Relaxed) == 0 {
            return None;
        }
        let mut state = self.spans.lock().unwrap_or_else(PoisonError::into_inner);
        let extras = state.by_span.remove(&context.span_id.to_u64());
        self.held.store(state.by_span.len(), Ordering::Relaxed);
        extras
    }
}

/// A list-valued attribute from a JSON array of strings (each redacted like any string value);
/// not such an array: the text as it is, redacted.
fn list_value(key: &'static str, json: &str) -> opentelemetry::Value {
    match serde_json::from_str::<Vec<String>>(json) {
        Ok(items) => opentelemetry::Value::Array(opentelemetry::Array::String(
            items
                .iter()
                .map(|item| match attribute_value(key, &Value::Str(item)) {
                    opentelemetry::Value::String(s) => s,
                    other => other.to_string().into(),
                })
                .collect(),
        )),
        Err(_) => attribute_value(key, &Value::Str(json)),
    }
}

/// The OpenTelemetry span event of `event`.
fn span_event(event: &Event<'_>) -> opentelemetry::trace::Event {
    let name = event.name().as_str();
    let recorded = name == catalog::SPAN_EVENT.as_str();
    let name = if recorded {
        event.str(EVENT_NAME).unwrap_or(name).to_owned()
    } else {
        name.to_owned()
    };
    let time = event
        .measurement(keys::SYSTEM_TIME)
        .filter(|t| t.is_finite() && *t > 0.0)
        .map(|t| UNIX_EPOCH + Duration::from_nanos(t as u64))
        .unwrap_or_else(SystemTime::now);
    let mut attributes: Vec<KeyValue> = Vec::new();
    for (key, value) in event.measurements() {
        if *key == keys::SYSTEM_TIME || *key == keys::MONOTONIC_TIME {
            continue;
        }
        attributes.push(KeyValue::new(*key, *value));
    }
    for (key, value) in event.metadata() {
        if recorded && *key == EVENT_NAME {
            continue;
        }
        attributes.push(KeyValue::new(*key, attribute_value(key, value)));
    }
    opentelemetry::trace::Event::new(name, time, attributes, 0)
}
