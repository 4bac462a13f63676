//! # llm-telemetry
//!
//! An Elixir `:telemetry`-style event bus for LLM inference and cache operations.
//!
//! Instrumented code **emits** named events (`llm.chat.stop`, `cache.lookup.hit`, …) with
//! measurements and metadata; independently **attached handlers** turn them into OpenTelemetry
//! spans, Prometheus metrics, cost counters and logs (the `llm-telemetry-*` handler crates). The
//! instrumented code never knows which handlers exist, and a slow or panicking handler never slows
//! down or breaks it:
//!
//! - an emit nobody listens to costs one load and one branch;
//! - inline handlers run on the emitting thread; queued handlers get the event on a bounded
//!   lock-free queue drained by their own worker, and a full queue drops and counts instead of
//!   blocking;
//! - a handler that panics is detached and `telemetry.handler.failure` is emitted;
//! - spans carry W3C-compatible trace context, so a stop event alone is enough to build a
//!   finished OpenTelemetry span.
//!
//! ```
//! use llm_telemetry::{Bus, Delivery, Event, Value, catalog, catalog::keys};
//!
//! let bus = Bus::new();
//! bus.attach("print-stops", "llm.*.stop", |e: &Event<'_>| {
//!     println!("{} took {:?} ns", e.name(), e.measurement(keys::DURATION));
//! }, Delivery::Inline).unwrap();
//!
//! let answer = bus.span(&catalog::LLM_CHAT, &[(keys::MODEL, Value::Str("llama-3.1-8b"))], |span| {
//!     span.measure(keys::OUTPUT_TOKENS, 42.0);
//!     "forty-two"
//! });
//! assert_eq!(answer, "forty-two");
//! ```
//!
//! The core crate depends on no async runtime, no HTTP stack and no OpenTelemetry SDK.

#![warn(missing_docs)]

pub mod bus;
pub mod catalog;
pub mod config;
pub mod context;
pub mod error;
pub mod event;
pub mod handler;
pub mod instrument;
pub mod name;
mod queue;
mod ring;
mod snapshot;
pub mod span;
pub mod stats;
pub mod testing;

pub use bus::{Bus, MAX_DEPTH};
pub use config::{Config, ConfigError};
pub use context::{SpanContext, SpanId, TraceId, TraceParent};
pub use error::{AttachError, DetachError, NameError, PatternError, TraceParentError};
pub use event::{Event, Measurements, Metadata, OwnedEvent, OwnedValue, Value};
pub use handler::{Delivery, Handler, HandlerInfo};
pub use name::{
    EventName, MAX_EVENT_NAMES, MAX_NAME_LEN, MAX_SEGMENTS, Pattern, StaticEventName,
    validate_event_name,
};
pub use span::{
    ActiveSpan, Instrument, Instrumented, SpanFuture, SpanName, SpanRecorder, StaticSpanName,
};
pub use stats::{BusStats, HandlerStats, QueueStats};

/// Emits an event on the process-wide [`Bus::global`].
#[inline(always)]
pub fn execute<N: Into<EventName>>(
    name: N,
    measurements: Measurements<'_>,
    metadata: Metadata<'_>,
) {
    if bus::global_is_active() {
        Bus::global().execute(name, measurements, metadata)
    }
}

/// Runs `f` in a span on the process-wide [`Bus::global`] (see [`Bus::span`]).
#[inline(always)]
pub fn span<N: Into<SpanName>, T>(
    name: N,
    metadata: Metadata<'_>,
    f: impl FnOnce(&mut SpanRecorder) -> T,
) -> T {
    if bus::global_is_active() {
        Bus::global().span(name, metadata, f)
    } else {
        f(&mut SpanRecorder::disabled())
    }
}

/// Emits an event, evaluating its measurements and metadata only if someone listens (like a
/// `tracing` macro). Without a bus argument it emits on [`Bus::global`], and then costs a single
/// load when no handler is attached anywhere.
///
/// ```
/// use llm_telemetry::{Bus, emit, catalog::{self, keys}};
/// let bus = Bus::new();
/// let model = String::from("gpt-4o");
/// emit!(bus, &catalog::CACHE_LOOKUP_HIT, [keys::SIZE_BYTES => 512.0], [keys::CACHE_NAME => "prompts", keys::MODEL => &model]);
/// emit!(&catalog::CACHE_LOOKUP_MISS, [keys::SIZE_BYTES => 0], [keys::CACHE_NAME => "prompts"]);
/// ```
#[macro_export]
macro_rules! emit {
    ($name:expr, [$($mk:expr => $mv:expr),* $(,)?], [$($dk:expr => $dv:expr),* $(,)?] $(,)?) => {{
        if $crate::bus::global_is_active() {
            $crate::emit!(*$crate::Bus::global(), $name, [$($mk => $mv),*], [$($dk => $dv),*]);
        }
    }};
    ($bus:expr, $name:expr, [$($mk:expr => $mv:expr),* $(,)?], [$($dk:expr => $dv:expr),* $(,)?] $(,)?) => {{
        let bus: &$crate::Bus = &$bus;
        let name: $crate::EventName = ::core::convert::Into::into($name);
        if bus.is_listening(name) {
            bus.execute(
                name,
                &[$(($mk, ($mv) as f64)),*],
                &[$(($dk, $crate::Value::from($dv))),*],
            );
        }
    }};
}
