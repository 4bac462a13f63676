//! # llm-telemetry-core
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
//! use llm_telemetry_core::{Bus, StaticSpanName, catalog::keys, metadata};
//!
//! static CHAT: StaticSpanName = StaticSpanName::new("llm.chat");
//! let bus = Bus::new();
//! bus.attach("print-stops", "llm.*.stop", |e| {
//!     println!("{} took {:?} ns", e.name(), e.measurement(keys::DURATION));
//! }).unwrap();
//!
//! let answer = bus.span(&CHAT, metadata!["gen_ai.request.model" => "llama-3.1-8b"], |span| {
//!     span.measure("output_tokens", 42.0);
//!     "forty-two"
//! });
//! assert_eq!(answer, "forty-two");
//! ```
//!
//! This crate is the bus alone, as `tracing-core` is the dispatcher alone: nothing in it knows of
//! LLMs (the catalog and helpers are `llm-telemetry-genai`), of a particular handler (each is its
//! own crate under `handlers/`) or of configuration files (the `llm-telemetry` facade composes
//! them). It depends on no async runtime, no HTTP stack and no OpenTelemetry SDK. Its own
//! [`catalog`] holds only what the bus itself emits: `telemetry.handler.failure` and the keys of
//! span phases.
//!
//! ## Where the implementation departs from the design notes, and why
//!
//! Each of these was measured against the peer the benches name; the module docs give details.
//! - **The handler lifecycle** ([`lifecycle`]): `Handler::flush` and `Handler::shutdown` take a
//!   deadline ([`Deadline`], an `Instant` or a `Duration` from now) as OpenTelemetry's
//!   `SpanProcessor` does, and `Bus::shutdown` runs the whole sequence (lanes drained, then
//!   handlers in reverse attach order) under one deadline, returning a [`LifecycleReport`]
//!   instead of a bool, so the caller learns which handler did not finish and why. Handlers stay
//!   in the table after shutdown, so `stats()` keeps counting what they drop.
//! - **Attaching** (`table.rs`): the design notes rebuild the whole dispatch table on every
//!   attach, which made 10,000 attaches take 6.5–9.3 s (every attach re-matched every handler
//!   against every registered name). The writer keeps mutable routes instead: an exact pattern is
//!   interned and reaches its one name directly, a wildcard is matched once against the
//!   registered names, a name registered later only against the wildcard handlers, and each
//!   name's subscriber list is shared between snapshots until it changes. The snapshot emitting
//!   threads read is built lazily, by the first emit after a change; its shape, and so the
//!   dispatch fast path, is unchanged. 10,000 attaches take ~13 ms
//!   (`cargo run --release -p llm-telemetry-core --example attach_many`).
//! - **Module layout** (no import circle): `nesting.rs` keeps the per-thread depth word,
//!   `snapshot.rs` the per-thread table cache, `table.rs` the routes and tables, `context.rs` the
//!   current span (and the span saved for each handler depth), `span_name.rs` the span names that
//!   patterns accept; `bus.rs` ties them together and nothing below it imports it back.
//! - **Reading the dispatch snapshot** (`snapshot.rs`): not `arc-swap`, whose load costs two or
//!   three atomic read-modify-writes, but a direct-mapped per-thread cache keyed by bus id and
//!   generation, in a thread-local with no destructor, plus a graveyard for snapshots replaced
//!   under an outer dispatch. Inline delivery counts are per-thread single-writer cells that
//!   `stats()` adds up (exact, and no shared line written per event). The dispatch fast path is
//!   inlined into `execute`, like a `tracing` macro's expansion.
//! - **The event's span context** is not copied per event: an event emitted without an explicit
//!   span reads the span current at dispatch when a handler asks (a handler that switches spans
//!   first saves it).
//! - **Queued handlers** (`ring.rs`): not one boxed `OwnedEvent` per event on a queue of pointers,
//!   but one contiguous byte ring of variable-length records (Agrona's ManyToOneRingBuffer
//!   design) that the worker reads in place and that returns to its start whenever it drains, so
//!   a queued emit allocates nothing, touches a few hot cache lines, and the queue's memory is
//!   bounded by its byte size.
//! - **Span clocks** (`context.rs`): one clock read per span boundary, the wall-clock start time
//!   derived from a once-a-second anchor; on x86-64 Linux, when the kernel itself keeps time with
//!   an invariant TSC, a calibrated TSC (`LLM_TELEMETRY_CLOCK=os` turns it off).

#![warn(missing_docs)]

pub mod attachment;
pub mod baggage;
pub mod bound;
pub mod bus;
pub mod calendar;
pub mod catalog;
pub mod category;
pub mod clock;
pub mod context;
pub mod error;
pub mod event;
pub mod handler;
pub mod lifecycle;
pub mod name;
mod nesting;
pub mod patterns;
mod queue;
mod ring;
mod snapshot;
pub mod span;
mod span_name;
pub mod stats;
mod sync;
mod table;
pub mod testing;
pub mod text;

/// Hooks for the loom model checks (`tests/loom.rs`); compiled only under `--cfg loom`.
#[cfg(loom)]
#[doc(hidden)]
pub mod loom_hooks;

pub use attachment::Attachment;
pub use baggage::Baggage;
pub use bound::{BindGuard, Bound, BoundContext, bind, unbind};
pub use bus::{Bus, MAX_DEPTH, panic_message};
pub use calendar::UtcDate;
pub use category::{Category, CategoryRules, Severity};
pub use clock::{Clock, ManualClock, SystemClock};
pub use context::{SpanContext, SpanId, TraceId, TraceParent};
pub use error::{AttachError, DetachError, NameError, PatternError, TraceParentError};
pub use event::{Event, Measurements, Metadata, OwnedEvent, OwnedValue, Value};
pub use handler::{Delivery, Handler, HandlerInfo};
pub use lifecycle::{
    DEFAULT_SHUTDOWN_TIMEOUT, Deadline, LifecycleError, LifecycleReport, Unfinished,
};
pub use name::{
    EventName, MAX_EVENT_NAMES, MAX_NAME_LEN, MAX_SEGMENTS, Pattern, StaticEventName,
    validate_event_name,
};
pub use patterns::{IntoPatterns, PatternItem};
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
/// use llm_telemetry_core::{Bus, StaticEventName, emit};
/// static HIT: StaticEventName = StaticEventName::new("cache.lookup.hit");
/// static MISS: StaticEventName = StaticEventName::new("cache.lookup.miss");
/// let bus = Bus::new();
/// let model = String::from("gpt-4o");
/// emit!(bus, &HIT, ["size_bytes" => 512.0], ["cache.name" => "prompts", "gen_ai.request.model" => &model]);
/// emit!(&MISS, ["size_bytes" => 0], ["cache.name" => "prompts"]);
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

/// Builds event metadata, a [`Metadata`] slice: `metadata![key => value, …]`, each value turned
/// into a [`Value`] with `Value::from` (strings, `&String`, integers, floats, bools).
///
/// ```
/// use llm_telemetry_core::{Metadata, Value, metadata};
/// let tenant = String::from("acme");
/// let md: Metadata<'_> = metadata!["gen_ai.request.model" => "gpt-4o", "tenant" => &tenant, "n" => 3, "stream" => true];
/// assert_eq!(md[0], ("gen_ai.request.model", Value::Str("gpt-4o")));
/// assert_eq!(md[2], ("n", Value::Int(3)));
/// assert!(metadata![].is_empty());
/// ```
#[macro_export]
macro_rules! metadata {
    () => {{
        let empty: $crate::Metadata<'static> = &[];
        empty
    }};
    ($($key:expr => $value:expr),+ $(,)?) => {
        &[$(($key, $crate::Value::from($value))),+]
    };
}

/// Builds event measurements, a [`Measurements`] slice: `measurements![key => value, …]`, each
/// value converted `as f64` (so integers need no `.0`).
///
/// ```
/// use llm_telemetry_core::{Measurements, measurements};
/// let tokens: u32 = 42;
/// let m: Measurements<'_> = measurements!["output_tokens" => tokens, "duration" => 1.5e6];
/// assert_eq!(m, [("output_tokens", 42.0), ("duration", 1.5e6)]);
/// assert!(measurements![].is_empty());
/// ```
#[macro_export]
macro_rules! measurements {
    () => {{
        let empty: $crate::Measurements<'static> = &[];
        empty
    }};
    ($($key:expr => $value:expr),+ $(,)?) => {
        &[$(($key, ($value) as f64)),+]
    };
}
