//! What a handler is: the [`Handler`] trait, how it wants its events delivered ([`Delivery`]) and
//! what `list_handlers` reports about it ([`HandlerInfo`]).
//!
//! Any `Fn(&Event) + Send + Sync + 'static` closure is a handler. A handler's own state (its
//! config, in `:telemetry` terms) lives in the closure or the struct implementing the trait.

use std::time::Instant;

use crate::event::Event;
use crate::lifecycle::LifecycleError;
use crate::name::EventName;

/// Something that receives events.
///
/// Inline handlers run on the emitting thread and must be fast; anything that does I/O should be
/// attached with [`Delivery::Queued`]. A panic inside `handle` is caught: the handler is detached
/// from all its events and `telemetry.handler.failure` is emitted.
///
/// ```
/// use llm_telemetry_core::Bus;
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use std::sync::Arc;
///
/// let bus = Bus::new();
/// let tokens = Arc::new(AtomicU64::new(0));
/// let sink = tokens.clone();
/// bus.attach("count-tokens", "llm.chat.stop", move |e| {
///     let n = e.measurement("output_tokens").unwrap_or(0.0);
///     sink.fetch_add(n as u64, Ordering::Relaxed);
/// }).unwrap();
/// ```
///
/// A handler that holds anything (a batch, a buffered writer, a connection) overrides
/// [`Handler::flush`] and [`Handler::shutdown`], as OpenTelemetry's `SpanProcessor` does with
/// `force_flush` and `shutdown`: [`crate::Bus::flush`] and [`crate::Bus::shutdown`] call them
/// with one deadline for all handlers, after the queued lanes have drained.
pub trait Handler: Send + Sync + 'static {
    /// Handles one event.
    fn handle(&self, event: &Event<'_>);

    /// Whether the handler receives events named `name` at all, among the names its patterns
    /// match. Asked once per name, when the handler is attached or a name is first seen, never
    /// per event: a declined name costs the handler nothing, not even a queue slot, and an
    /// event nobody else wants is not built (`is_listening` is false). A log handler declines
    /// the names its level discards. The answer must depend only on the name and stay the same
    /// while the handler is attached; it is asked under the bus's writer lock, so it must not
    /// call into the bus. The default takes every name the patterns match.
    ///
    /// ```
    /// use llm_telemetry_core::{Bus, Delivery, Event, EventName, Handler};
    /// struct StopsOnly;
    /// impl Handler for StopsOnly {
    ///     fn handle(&self, e: &Event<'_>) {
    ///         assert_eq!(e.name().phase(), "stop");
    ///     }
    ///     fn wants(&self, name: EventName) -> bool {
    ///         name.phase() == "stop"
    ///     }
    /// }
    /// let bus = Bus::new();
    /// bus.attach_with("stops", "app.*", StopsOnly, Delivery::Inline).unwrap();
    /// assert!(bus.is_listening(EventName::new("app.job.stop").unwrap()));
    /// assert!(!bus.is_listening(EventName::new("app.job.start").unwrap()));
    /// ```
    fn wants(&self, name: EventName) -> bool {
        let _ = name;
        true
    }

    /// Whether the handler takes events named `name` (a name it [`Handler::wants`]) only when
    /// they are emitted inside a span: an event of that name with no span (no explicit one, and
    /// none current on the emitting thread) is then skipped for this handler, before its queue,
    /// so it costs the handler nothing, not even a queue slot, and is counted neither as
    /// delivered nor as dropped. Asked once per name with [`Handler::wants`], under the same
    /// rules (the answer depends only on the name, no calls into the bus), and stored as one bit
    /// of the route; a route without it pays nothing per event. The default is false: every
    /// event of a wanted name is delivered. The OpenTelemetry handler answers true for the
    /// events it turns into span events.
    ///
    /// ```
    /// use llm_telemetry_core::{context, Bus, Delivery, Event, EventName, Handler, SpanContext};
    /// use std::sync::atomic::{AtomicU64, Ordering};
    /// use std::sync::Arc;
    /// struct InSpan(Arc<AtomicU64>);
    /// impl Handler for InSpan {
    ///     fn handle(&self, _: &Event<'_>) {
    ///         self.0.fetch_add(1, Ordering::Relaxed);
    ///     }
    ///     fn only_in_span(&self, _: EventName) -> bool {
    ///         true
    ///     }
    /// }
    /// let bus = Bus::new();
    /// let seen = Arc::new(AtomicU64::new(0));
    /// bus.attach_with("in-span", "app.*", InSpan(seen.clone()), Delivery::Inline).unwrap();
    /// let name = EventName::new("app.step.done").unwrap();
    /// bus.execute(name, &[], &[]); // no span: skipped
    /// {
    ///     let _inside = context::enter(Some(SpanContext::new_root()));
    ///     bus.execute(name, &[], &[]); // delivered
    /// }
    /// assert_eq!(seen.load(Ordering::Relaxed), 1);
    /// ```
    fn only_in_span(&self, name: EventName) -> bool {
        let _ = name;
        false
    }

    /// Pushes out whatever the handler holds (a partial batch, buffered lines) and returns by
    /// `deadline`. The default does nothing: a handler that holds nothing has nothing to flush.
    fn flush(&self, deadline: Instant) -> Result<(), LifecycleError> {
        let _ = deadline;
        Ok(())
    }

    /// Flushes, then releases what the handler holds (export threads, connections, files), and
    /// returns by `deadline` whether or not its destination answered; what it could not deliver
    /// is counted as dropped. Called once, by [`crate::Bus::shutdown`]. The default does nothing.
    fn shutdown(&self, deadline: Instant) -> Result<(), LifecycleError> {
        let _ = deadline;
        Ok(())
    }
}

impl<F> Handler for F
where
    F: Fn(&Event<'_>) + Send + Sync + 'static,
{
    fn handle(&self, event: &Event<'_>) {
        self(event)
    }
}

/// How a handler receives its events: the options of `attach`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Delivery {
    /// Called on the emitting thread, in attach order (`:telemetry` semantics).
    Inline,
    /// Put on a bounded lock-free queue of `capacity` events that a dedicated worker thread
    /// drains. When the queue is full the event is dropped for this handler and counted in
    /// [`crate::BusStats`]; the emitter never blocks.
    ///
    /// The queue is one contiguous byte ring of `capacity` × 256 bytes, rounded up to a power of
    /// two, at least 64 KiB and at most 1 GiB (a typical LLM stop event, with a span context and
    /// five short metadata values, takes 200 to 260 bytes). Only the pages events reach are
    /// touched, and a handler that keeps up keeps reusing the first few KiB. An event is refused
    /// when `capacity` events are waiting, or when its bytes do not fit (events much larger than
    /// 256 bytes on average fill the bytes first). An event larger than 1/8 of the ring (at most
    /// 16 KiB) is copied to the heap instead, its pointer queued; such events in flight may take
    /// the ring's size again (at least 16 MiB) before they too are refused. Capacities above
    /// 4,194,304 events count as 4,194,304.
    Queued {
        /// The most events waiting at once (the handler's current event not included).
        capacity: usize,
    },
}

impl Delivery {
    /// A queue of the default capacity, [`Delivery::DEFAULT_CAPACITY`].
    pub const fn queued() -> Self {
        Delivery::Queued {
            capacity: Self::DEFAULT_CAPACITY,
        }
    }

    /// The default queue capacity: 16,384 events, a 4 MiB byte ring (see [`Delivery::Queued`]
    /// for the sizing rule), of which a handler that keeps up touches only the first few KiB.
    pub const DEFAULT_CAPACITY: usize = 16_384;
}

/// One attached handler, as `list_handlers` reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HandlerInfo {
    /// The id given at attach.
    pub id: String,
    /// The names and patterns it is attached to, as written.
    pub patterns: Vec<String>,
    /// How it receives events.
    pub delivery: Delivery,
}
