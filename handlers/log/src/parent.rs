//! `tracing` → bus (feature `tracing`): [`TracingParentLayer`], a `tracing-subscriber` layer that
//! makes the entered `tracing` span the bus's current span, so every bus span started inside it
//! (`bus.span(..)`, the genai helpers) takes it as parent. With the bus → `tracing` bridge
//! ([`crate::bridge`]) a service that mixes both gets one coherent trace: the bus's spans are
//! children of the request's `tracing` span, and the bridge's events carry their ids.
//!
//! The bus picks a span's parent from the thread's current span context
//! ([`llm_telemetry_core::context::current`]); this layer sets it with
//! [`llm_telemetry_core::context::enter`] when a `tracing` span is entered, and restores the
//! previous one when it is exited. So the core needs no hook and pays nothing when the layer is
//! not installed. A `tracing` span's context is worked out once, at its first entry, and kept in
//! the span's extensions:
//!
//! - with feature `tracing-opentelemetry` and a `tracing_opentelemetry` layer in the same
//!   subscriber, it is the span's OpenTelemetry context: the bus spans get its trace id and its
//!   span id as parent, and the two exporters' spans form one trace;
//! - otherwise, new ids: a child of the enclosing `tracing` span's context (or of the bus span
//!   current when the `tracing` span was entered), so the bus spans of one request share one
//!   trace id (which the bridge's and the logger's lines show); the `tracing` span itself is not
//!   exported, so in a trace viewer the bus spans appear under a parent that is not there.
//!
//! A `tracing` span that does not continue the bus's current trace is entered the way a remote
//! parent is (`is_remote`): the first bus span under it starts the bus's part of the trace and
//! fixes the values every span of it carries (the tenant, which decides an exported trace's
//! project), exactly as under a `traceparent` from another service.
//!
//! No loop: the layer only reacts to spans being entered and exited; it emits nothing on the bus,
//! and ignores `tracing` events (the bridge's included), so bus → `tracing` → bus cannot cycle.
//! Entering and exiting are expected in nesting order on a thread (as `tracing` guarantees for
//! guards and instrumented futures); a span exited out of order is dropped from the layer's stack
//! without restoring anything.

use std::cell::RefCell;

use llm_telemetry_core::SpanContext;
use llm_telemetry_core::context::{self, ContextGuard};
use tracing::span::Id;
use tracing::{Dispatch, Subscriber};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::LookupSpan;

thread_local! {
    /// The `tracing` spans this layer entered on this thread, innermost last, each with the
    /// guard that restores the bus's previous current span.
    static ENTERED: RefCell<Vec<(Id, ContextGuard)>> = const { RefCell::new(Vec::new()) };
}

/// The bus context of a `tracing` span, kept in its extensions.
#[derive(Clone, Copy, Debug)]
struct BusParent(SpanContext);

/// Makes the entered `tracing` span the parent of the bus's spans (see the module docs).
///
/// ```
/// use llm_telemetry_log::TracingParentLayer;
/// use tracing_subscriber::layer::SubscriberExt;
/// let subscriber = tracing_subscriber::registry().with(TracingParentLayer::new());
/// tracing::subscriber::with_default(subscriber, || {
///     let request = tracing::info_span!("request");
///     let _entered = request.enter();
///     // A bus span started here is a child of `request`.
///     assert!(llm_telemetry_core::context::current().is_some());
/// });
/// assert!(llm_telemetry_core::context::current().is_none());
/// ```
#[derive(Debug, Default)]
pub struct TracingParentLayer {
    /// The dispatcher this layer belongs to, for reading OpenTelemetry contexts.
    #[cfg(feature = "tracing-opentelemetry")]
    dispatch: std::sync::OnceLock<tracing::dispatcher::WeakDispatch>,
}

impl TracingParentLayer {
    /// The layer. With feature `tracing-opentelemetry`, add it to the same subscriber as the
    /// `tracing_opentelemetry` layer (in either order).
    pub fn new() -> Self {
        Self::default()
    }

    /// The bus context of span `id`: kept from its first entry, else worked out now.
    fn context_of<S>(&self, id: &Id, ctx: &Context<'_, S>) -> Option<SpanContext>
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        let span = ctx.span(id)?;
        if let Some(BusParent(kept)) = span.extensions().get::<BusParent>() {
            return Some(*kept);
        }
        let current = context::current();
        let made = self
            .opentelemetry_context(id, current)
            .unwrap_or_else(|| minted(&span, current));
        span.extensions_mut().insert(BusParent(made));
        Some(made)
    }

    /// The span's OpenTelemetry context, when a `tracing_opentelemetry` layer keeps one.
    #[cfg(feature = "tracing-opentelemetry")]
    fn opentelemetry_context(&self, id: &Id, current: Option<SpanContext>) -> Option<SpanContext> {
        use llm_telemetry_core::{SpanId, TraceId};
        use opentelemetry::trace::TraceContextExt;
        let dispatch = self.dispatch.get()?.upgrade()?;
        let otel = tracing_opentelemetry::get_otel_context(id, &dispatch)?;
        let otel_span = otel.span();
        let otel = otel_span.span_context();
        if !otel.is_valid() {
            return None;
        }
        let trace_id = TraceId::from_bytes(otel.trace_id().to_bytes())?;
        let span_id = SpanId::from_bytes(otel.span_id().to_bytes())?;
        Some(foreign(
            trace_id,
            span_id,
            otel.trace_flags().to_u8(),
            current,
        ))
    }

    #[cfg(not(feature = "tracing-opentelemetry"))]
    fn opentelemetry_context(
        &self,
        _id: &Id,
        _current: Option<SpanContext>,
    ) -> Option<SpanContext> {
        None
    }
}

#[cfg(feature = "tracing-opentelemetry")]
/// A parent context for the bus made from a `tracing` span's ids: in the bus's current trace it
/// continues it (its carried values too); otherwise it is a remote-like parent (see the module
/// docs).
fn foreign(
    trace_id: llm_telemetry_core::TraceId,
    span_id: llm_telemetry_core::SpanId,
    trace_flags: u8,
    current: Option<SpanContext>,
) -> SpanContext {
    let same_trace = current.filter(|c| c.trace_id == trace_id);
    SpanContext {
        trace_id,
        span_id,
        parent_span_id: None,
        start_unix_nanos: 0,
        trace_flags,
        is_remote: same_trace.is_none_or(|c| c.is_remote),
        baggage: same_trace.map(|c| c.baggage).unwrap_or_default(),
    }
}

/// New ids for a `tracing` span without an OpenTelemetry context: a child of the enclosing
/// `tracing` span's bus context, else of the bus's current span, else a new trace.
fn minted<'a, S>(
    span: &tracing_subscriber::registry::SpanRef<'a, S>,
    current: Option<SpanContext>,
) -> SpanContext
where
    S: LookupSpan<'a>,
{
    let parent = span
        .parent()
        .and_then(|p| p.extensions().get::<BusParent>().map(|b| b.0))
        .or(current);
    let mut made = SpanContext::new_child(parent.as_ref());
    made.is_remote = parent.is_none_or(|p| p.is_remote);
    made
}

impl<S> Layer<S> for TracingParentLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_register_dispatch(&self, dispatch: &Dispatch) {
        #[cfg(feature = "tracing-opentelemetry")]
        let _ = self.dispatch.set(dispatch.downgrade());
        #[cfg(not(feature = "tracing-opentelemetry"))]
        let _ = dispatch;
    }

    fn on_enter(&self, id: &Id, ctx: Context<'_, S>) {
        let Some(bus_context) = self.context_of(id, &ctx) else {
            return;
        };
        let guard = context::enter(Some(bus_context));
        ENTERED.with(|entered| entered.borrow_mut().push((id.clone(), guard)));
    }

    fn on_exit(&self, id: &Id, _ctx: Context<'_, S>) {
        ENTERED.with(|entered| {
            let mut entered = entered.borrow_mut();
            match entered.iter().rposition(|(entered_id, _)| entered_id == id) {
                // The innermost: dropping its guard restores the bus's previous span.
                Some(last) if last + 1 == entered.len() => drop(entered.pop()),
                // Out of order: restoring its "previous" would undo inner spans still entered.
                Some(middle) => std::mem::forget(entered.remove(middle)),
                None => {}
            }
        });
    }
}
