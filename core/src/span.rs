//! Spans: `prefix.start`, then `prefix.stop` or `prefix.exception`, sharing one span context.
//!
//! Three ways in, all on [`Bus`]:
//! - [`Bus::span`] / [`Bus::try_span`] run a closure inside a span (a returned `Err` or a panic
//!   emits `exception`; a panic then resumes unwinding);
//! - [`Bus::start_span`] returns an [`ActiveSpan`] to stop by hand (streams, callbacks); dropping
//!   it unstopped emits `stop` with `status = "cancelled"`;
//! - [`Bus::span_async`] / [`Bus::try_span_async`] wrap a future, making the span current on every
//!   poll, so no async runtime is needed. [`Instrument`] carries an existing context into a future.
//!
//! Measurements follow `:telemetry`: start `{monotonic_time, system_time}`, stop
//! `{duration, monotonic_time}` plus what the code recorded, exception `{duration, monotonic_time}`
//! plus `exception.type` and `exception.message` metadata. The bus's `duration` and
//! `monotonic_time` appear exactly once: what the code records under those names is dropped.
//! Stop and exception repeat the start metadata, so a stop event alone is enough to build a
//! finished span. A span nobody listens to costs three loads: no ids, no clock reads, no context
//! switch.
//!
//! A span someone listens to reads the telemetry clock once at each end (a calibrated TSC on
//! x86-64 Linux when the kernel trusts it, the OS monotonic clock otherwise; see
//! [`crate::context`]): its wall-clock start
//! (`system_time`, [`SpanContext::start_unix_nanos`]) comes from the start reading through
//! [`context::unix_nanos_at`]'s anchor, and the stop's `monotonic_time` minus its `duration` is
//! exactly the start's `monotonic_time`. The start event is built only when someone listens to
//! `.start` (the OpenTelemetry handler does not), the closure form borrows the bus instead of
//! cloning it, and a stop with nothing recorded passes the start metadata through as it is.
//!
//! A trace's first local span (no parent, or a remote one) copies the values of the carried
//! metadata keys ([`crate::baggage::carry`]) into its context's baggage; its descendants inherit
//! that context's baggage. With no key carried, this costs one relaxed load per recorded span.

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use smallvec::SmallVec;

use crate::baggage::{self, Baggage};
use crate::bus::{Bus, panic_message};
use crate::catalog::keys;
use crate::context::{self, SpanContext, monotonic_now, unix_nanos_at_monotonic};
use crate::event::{Event, Metadata, OwnedEvent, OwnedValue, Value};
use crate::name::EventName;
pub use crate::span_name::{SpanName, StaticSpanName};

/// What the code inside a span adds to its stop (or exception) event.
///
/// Values are copied only while the span is recorded; check [`SpanRecorder::is_recording`] before
/// computing anything expensive.
#[derive(Debug, Default)]
pub struct SpanRecorder {
    context: Option<SpanContext>,
    // Plain `Vec`s: empty ones cost nothing to create or move, and allocate only when the
    // code records something in a span someone listens to.
    measurements: Vec<(&'static str, f64)>,
    metadata: Vec<(&'static str, OwnedValue)>,
}

impl SpanRecorder {
    /// A recorder for a span nobody listens to.
    pub fn disabled() -> Self {
        Self::new(None)
    }

    fn new(context: Option<SpanContext>) -> Self {
        Self {
            context,
            ..Self::default()
        }
    }
    /// Whether anyone listens to this span (if not, `measure` and `set` do nothing).
    pub fn is_recording(&self) -> bool {
        self.context.is_some()
    }
    /// The span's context, when recorded (e.g. to build a `traceparent` for an outgoing call).
    pub fn context(&self) -> Option<SpanContext> {
        self.context
    }
    /// Adds a measurement to the stop event. `duration` and `monotonic_time` are the bus's own:
    /// recorded under those names, a value is ignored.
    pub fn measure(&mut self, key: &'static str, value: f64) {
        if self.is_recording() {
            self.measurements.push((key, value));
        }
    }
    /// Adds a metadata value to the stop event (overrides a start value of the same key).
    pub fn set<'v>(&mut self, key: &'static str, value: impl Into<Value<'v>>) {
        if self.is_recording() {
            self.metadata.push((key, value.into().to_owned_value()));
        }
    }
}

/// `base` plus the carried keys' non-empty string values in `metadata` (the last value of a key
/// wins).
#[inline(never)]
fn carried_baggage(base: Baggage, metadata: Metadata<'_>) -> Baggage {
    let mut out = base;
    for key in baggage::carried() {
        let value = metadata
            .iter()
            .rev()
            .find(|(k, _)| std::ptr::eq(*k, key) || *k == key)
            .and_then(|(_, v)| match v {
                // An empty value names nothing: the trace carries none.
                Value::Str(s) if !s.is_empty() => Some(*s),
                _ => None,
            });
        if let Some(value) = value {
            out = out.with(key, value);
        }
    }
    out
}

/// How a span's result decides between stop and exception.
pub trait SpanOutcome<T> {
    /// `Some((type, message))` when `value` is a failure.
    fn failure(value: &T) -> Option<(String, String)>;
}

/// Every result is a success (used by [`Bus::span`] and [`Bus::span_async`]).
#[derive(Debug)]
pub struct AlwaysOk;
impl<T> SpanOutcome<T> for AlwaysOk {
    fn failure(_: &T) -> Option<(String, String)> {
        None
    }
}

/// `Err(e)` is a failure, typed by `E` and described by its `Display`.
#[derive(Debug)]
pub struct ErrIsException;
impl<T, E: fmt::Display> SpanOutcome<Result<T, E>> for ErrIsException {
    fn failure(value: &Result<T, E>) -> Option<(String, String)> {
        match value {
            Ok(_) => None,
            Err(e) => Some((short_type_name::<E>(), e.to_string())),
        }
    }
}

/// `my_crate::error::BackendError` → `BackendError` (generic arguments kept): the
/// `exception.type` of an error.
pub fn short_type_name<E: ?Sized>() -> String {
    let full = std::any::type_name::<E>();
    let base = full.split('<').next().unwrap_or(full);
    let short = base.rsplit("::").next().unwrap_or(base);
    format!("{short}{}", &full[base.len()..])
}

/// One live span: its names, context, start time and start metadata. It does not hold the bus:
/// [`Bus::span`] lends its own, an [`ActiveSpan`] keeps a clone next to it.
struct Live<'m> {
    name: SpanName,
    context: SpanContext,
    /// [`context::monotonic_now`] at the start.
    started_monotonic: u64,
    start_metadata: StartMetadata<'m>,
}

enum StartMetadata<'m> {
    Borrowed(Metadata<'m>),
    Owned(OwnedEvent),
}

impl Live<'_> {
    /// Starts a span if anyone listens to any of its phases: one clock read, one id draw, and
    /// the start event only when someone listens to `.start`.
    #[inline]
    fn begin<'m>(bus: &Bus, name: SpanName, metadata: Metadata<'m>) -> Option<Live<'m>> {
        if !bus.has_handlers() {
            return None;
        }
        let start_heard = bus.is_listening(name.start);
        if !(start_heard || bus.is_listening(name.stop) || bus.is_listening(name.exception)) {
            return None;
        }
        let started_monotonic = monotonic_now();
        let parent = context::current();
        let mut context = SpanContext::child_starting_at(
            parent.as_ref(),
            unix_nanos_at_monotonic(started_monotonic),
        );
        // A trace's first local span fixes the carried values for every span of the trace.
        if baggage::any_carried() && parent.is_none_or(|p| p.is_remote) {
            context.baggage = carried_baggage(context.baggage, metadata);
        }
        if start_heard {
            bus.execute_in_span(
                name.start,
                &[
                    (keys::MONOTONIC_TIME, started_monotonic as f64),
                    (keys::SYSTEM_TIME, context.start_unix_nanos as f64),
                ],
                metadata,
                Some(context),
            );
        }
        Some(Live {
            name,
            context,
            started_monotonic,
            start_metadata: StartMetadata::Borrowed(metadata),
        })
    }

    fn into_owned(self) -> Live<'static> {
        let owned = match self.start_metadata {
            StartMetadata::Borrowed(md) => {
                OwnedEvent::from_event(&Event::new(self.name.start, &[], md, Some(self.context)), 0)
            }
            StartMetadata::Owned(o) => o,
        };
        Live {
            name: self.name,
            context: self.context,
            started_monotonic: self.started_monotonic,
            start_metadata: StartMetadata::Owned(owned),
        }
    }

    /// Emits stop (`failure == None`) or exception on `bus`. Reads the clock only if someone
    /// listens; passes the start metadata through untouched when nothing replaces or extends it.
    #[inline]
    fn finish(
        &self,
        bus: &Bus,
        recorder: &SpanRecorder,
        extra: &[(&'static str, Value<'_>)],
        failure: Option<(&str, &str)>,
    ) {
        let name = match failure {
            None => self.name.stop,
            Some(_) => self.name.exception,
        };
        if !bus.is_listening(name) {
            return;
        }
        let now = monotonic_now();
        let times = [
            (
                keys::DURATION,
                now.saturating_sub(self.started_monotonic) as f64,
            ),
            (keys::MONOTONIC_TIME, now as f64),
        ];
        if failure.is_none()
            && extra.is_empty()
            && recorder.metadata.is_empty()
            && recorder.measurements.is_empty()
        {
            // The common case: the stop event is the start metadata plus two times.
            self.with_start_metadata(|md| {
                bus.execute_in_span(name, &times, md, Some(self.context))
            });
            return;
        }
        self.finish_merged(bus, name, times, recorder, extra, failure);
    }

    /// [`Live::finish`] when the recorder, `extra` or a failure add to the stop event.
    #[inline(never)]
    fn finish_merged(
        &self,
        bus: &Bus,
        name: EventName,
        times: [(&'static str, f64); 2],
        recorder: &SpanRecorder,
        extra: &[(&'static str, Value<'_>)],
        failure: Option<(&str, &str)>,
    ) {
        let mut measurements: SmallVec<[(&'static str, f64); 12]> = SmallVec::new();
        measurements.extend_from_slice(&times);
        // The bus's `duration` and `monotonic_time` win: one of each, whatever the code recorded
        // under those names.
        measurements.extend(
            recorder
                .measurements
                .iter()
                .copied()
                .filter(|(k, _)| !times.iter().any(|(t, _)| t == k)),
        );
        let emit = |start: &[(&'static str, Value<'_>)]| {
            // Start metadata first, then what the code recorded, then `extra`; a later value
            // replaces an earlier one of the same key, so each key appears once.
            let overridden = |key: &str| {
                recorder.metadata.iter().any(|(k, _)| *k == key)
                    || extra.iter().any(|(k, _)| *k == key)
            };
            let mut metadata: SmallVec<[(&'static str, Value<'_>); 24]> = SmallVec::new();
            metadata.extend(start.iter().copied().filter(|(k, _)| !overridden(k)));
            metadata.extend(
                recorder
                    .metadata
                    .iter()
                    .filter(|(k, _)| !extra.iter().any(|(e, _)| e == k))
                    .map(|(k, v)| (*k, v.as_value())),
            );
            metadata.extend_from_slice(extra);
            if let Some((kind, message)) = failure {
                metadata.push((keys::EXCEPTION_TYPE, Value::Str(kind)));
                metadata.push((keys::EXCEPTION_MESSAGE, Value::Str(message)));
            }
            bus.execute_in_span(name, &measurements, &metadata, Some(self.context));
        };
        self.with_start_metadata(emit);
    }

    /// Calls `f` with the start metadata, borrowed or from the owned copy.
    fn with_start_metadata<R>(&self, f: impl FnOnce(Metadata<'_>) -> R) -> R {
        match &self.start_metadata {
            StartMetadata::Borrowed(md) => f(md),
            StartMetadata::Owned(owned) => owned.with_event(|e| f(e.metadata())),
        }
    }
}

impl Bus {
    /// Runs `f` inside a span named `name`, emitting start before and stop after.
    ///
    /// A panic in `f` emits exception, then resumes unwinding.
    ///
    /// ```
    /// use llm_telemetry_core::{Bus, StaticSpanName, testing::Capture, Value};
    /// static LLM_CHAT: StaticSpanName = StaticSpanName::new("llm.chat");
    /// let bus = Bus::new();
    /// let capture = Capture::attach(&bus, ["llm.chat.*"]).unwrap();
    /// let reply = bus.span(&LLM_CHAT, &[("gen_ai.request.model", Value::Str("m"))], |span| {
    ///     span.measure("output_tokens", 12.0);
    ///     "hello"
    /// });
    /// assert_eq!(reply, "hello");
    /// assert_eq!(capture.names(), ["llm.chat.start", "llm.chat.stop"]);
    /// ```
    #[inline(always)]
    pub fn span<N, T>(
        &self,
        name: N,
        metadata: Metadata<'_>,
        f: impl FnOnce(&mut SpanRecorder) -> T,
    ) -> T
    where
        N: Into<SpanName>,
    {
        if !self.has_handlers() {
            return f(&mut SpanRecorder::disabled());
        }
        self.run_span::<T, AlwaysOk>(name.into(), metadata, f)
    }

    /// Like [`Bus::span`] for fallible work: `Err(e)` emits exception with `exception.type` set
    /// to `E`'s type name and `exception.message` to its `Display`.
    #[inline(always)]
    pub fn try_span<N, T, E>(
        &self,
        name: N,
        metadata: Metadata<'_>,
        f: impl FnOnce(&mut SpanRecorder) -> Result<T, E>,
    ) -> Result<T, E>
    where
        N: Into<SpanName>,
        E: fmt::Display,
    {
        if !self.has_handlers() {
            return f(&mut SpanRecorder::disabled());
        }
        self.run_span::<Result<T, E>, ErrIsException>(name.into(), metadata, f)
    }

    #[inline(never)]
    fn run_span<T, O: SpanOutcome<T>>(
        &self,
        name: SpanName,
        metadata: Metadata<'_>,
        f: impl FnOnce(&mut SpanRecorder) -> T,
    ) -> T {
        let Some(live) = Live::begin(self, name, metadata) else {
            return f(&mut SpanRecorder::new(None));
        };
        let mut recorder = SpanRecorder::new(Some(live.context));
        let result = {
            let _entered = context::enter(Some(live.context));
            catch_unwind(AssertUnwindSafe(|| f(&mut recorder)))
        };
        match result {
            Ok(value) => {
                match O::failure(&value) {
                    None => live.finish(self, &recorder, &[], None),
                    Some((kind, message)) => {
                        live.finish(self, &recorder, &[], Some((&kind, &message)))
                    }
                }
                value
            }
            Err(payload) => {
                let message = panic_message(&payload);
                live.finish(self, &recorder, &[], Some(("panic", &message)));
                resume_unwind(payload)
            }
        }
    }

    /// Starts a span to stop by hand. Dropping it unstopped emits stop with
    /// `status = "cancelled"`.
    ///
    /// ```
    /// use llm_telemetry_core::{Bus, StaticSpanName};
    /// static LLM_GENERATE: StaticSpanName = StaticSpanName::new("llm.generate");
    /// let bus = Bus::new();
    /// let mut span = bus.start_span(&LLM_GENERATE, &[]);
    /// span.recorder().measure("output_tokens", 3.0);
    /// span.stop();
    /// ```
    pub fn start_span<N: Into<SpanName>>(&self, name: N, metadata: Metadata<'_>) -> ActiveSpan {
        let live = Live::begin(self, name.into(), metadata).map(|live| OwnedLive {
            bus: self.clone(),
            live: live.into_owned(),
        });
        let recorder = SpanRecorder::new(live.as_ref().map(|l| l.live.context));
        ActiveSpan { live, recorder }
    }

    /// Wraps `future` in a span: start when this is called, the span current on every poll,
    /// stop when it completes, exception if a poll panics, stop with `status = "cancelled"` if it
    /// is dropped unfinished.
    pub fn span_async<N, F>(
        &self,
        name: N,
        metadata: Metadata<'_>,
        future: F,
    ) -> SpanFuture<F, AlwaysOk>
    where
        N: Into<SpanName>,
        F: Future,
    {
        SpanFuture::new(self.start_span(name, metadata), future)
    }

    /// Like [`Bus::span_async`] for a future of `Result`: `Err` emits exception.
    pub fn try_span_async<N, F, T, E>(
        &self,
        name: N,
        metadata: Metadata<'_>,
        future: F,
    ) -> SpanFuture<F, ErrIsException>
    where
        N: Into<SpanName>,
        F: Future<Output = Result<T, E>>,
        E: fmt::Display,
    {
        SpanFuture::new(self.start_span(name, metadata), future)
    }
}

/// A span started with [`Bus::start_span`].
pub struct ActiveSpan {
    live: Option<OwnedLive>,
    recorder: SpanRecorder,
}

/// A live span that owns its start metadata and a handle on its bus.
struct OwnedLive {
    bus: Bus,
    live: Live<'static>,
}

impl OwnedLive {
    fn finish(
        self,
        recorder: &SpanRecorder,
        extra: &[(&'static str, Value<'_>)],
        failure: Option<(&str, &str)>,
    ) {
        self.live.finish(&self.bus, recorder, extra, failure);
    }
}

impl ActiveSpan {
    /// The span's context, when recorded.
    pub fn context(&self) -> Option<SpanContext> {
        self.live.as_ref().map(|l| l.live.context)
    }
    /// Whether anyone listens to this span.
    pub fn is_recording(&self) -> bool {
        self.live.is_some()
    }
    /// Where to add stop measurements and metadata.
    pub fn recorder(&mut self) -> &mut SpanRecorder {
        &mut self.recorder
    }
    /// The bus the span belongs to, when recorded.
    pub fn bus(&self) -> Option<&Bus> {
        self.live.as_ref().map(|l| &l.bus)
    }
    /// When the span started (`None` when not recorded).
    pub fn started(&self) -> Option<Instant> {
        self.live
            .as_ref()
            .map(|l| context::instant_at(l.live.started_monotonic))
    }
    /// Makes this span current until the guard drops (events emitted meanwhile carry it).
    #[must_use = "the span is current only while the guard lives"]
    pub fn enter(&self) -> context::ContextGuard {
        match &self.live {
            Some(live) => context::enter(Some(live.live.context)),
            None => context::enter(context::current()),
        }
    }
    /// Emits stop with the recorded measurements and metadata.
    pub fn stop(mut self) {
        if let Some(live) = self.live.take() {
            live.finish(&self.recorder, &[], None);
        }
    }
    /// Emits stop with extra metadata (e.g. `status`).
    pub fn stop_with(mut self, metadata: Metadata<'_>) {
        if let Some(live) = self.live.take() {
            live.finish(&self.recorder, metadata, None);
        }
    }
    /// Emits exception with `exception.type = kind` and `exception.message = message`.
    pub fn exception(mut self, kind: &str, message: &str) {
        if let Some(live) = self.live.take() {
            live.finish(&self.recorder, &[], Some((kind, message)));
        }
    }
}

impl Drop for ActiveSpan {
    fn drop(&mut self) {
        if let Some(live) = self.live.take() {
            live.finish(
                &self.recorder,
                &[(keys::STATUS, Value::Str(keys::STATUS_CANCELLED))],
                None,
            );
        }
    }
}

impl fmt::Debug for ActiveSpan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ActiveSpan")
            .field("context", &self.context())
            .finish()
    }
}

pin_project_lite::pin_project! {
    /// A future inside a span: see [`Bus::span_async`].
    pub struct SpanFuture<F, O> {
        #[pin]
        inner: F,
        span: Option<ActiveSpan>,
        outcome: PhantomData<fn() -> O>,
    }
}

impl<F, O> SpanFuture<F, O> {
    fn new(span: ActiveSpan, inner: F) -> Self {
        Self {
            inner,
            span: Some(span),
            outcome: PhantomData,
        }
    }
}

impl<F, O> Future for SpanFuture<F, O>
where
    F: Future,
    O: SpanOutcome<F::Output>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let context = this.span.as_ref().and_then(ActiveSpan::context);
        let polled = {
            let _entered = context.map(|c| context::enter(Some(c)));
            let inner = this.inner;
            catch_unwind(AssertUnwindSafe(|| inner.poll(cx)))
        };
        match polled {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(value)) => {
                if let Some(span) = this.span.take() {
                    match O::failure(&value) {
                        None => span.stop(),
                        Some((kind, message)) => span.exception(&kind, &message),
                    }
                }
                Poll::Ready(value)
            }
            Err(payload) => {
                if let Some(span) = this.span.take() {
                    span.exception("panic", &panic_message(&payload));
                }
                resume_unwind(payload)
            }
        }
    }
}

pin_project_lite::pin_project! {
    /// A future that makes a span context current on every poll: see [`Instrument`].
    pub struct Instrumented<F> {
        #[pin]
        inner: F,
        context: Option<SpanContext>,
    }
}

impl<F: Future> Future for Instrumented<F> {
    type Output = F::Output;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let _entered = context::enter(*this.context);
        this.inner.poll(cx)
    }
}

/// Carries a span context into a future, for work spawned onto another task or thread.
///
/// ```
/// use llm_telemetry_core::{Instrument, context};
/// let fut = async { context::current() };
/// let _carried = fut.in_current_span(); // captures this thread's current span now
/// ```
pub trait Instrument: Future + Sized {
    /// Makes `context` current on every poll.
    fn in_span_context(self, context: Option<SpanContext>) -> Instrumented<Self> {
        Instrumented {
            inner: self,
            context,
        }
    }
    /// Captures the current span now and makes it current on every poll.
    fn in_current_span(self) -> Instrumented<Self> {
        self.in_span_context(context::current())
    }
}

impl<F: Future> Instrument for F {}
