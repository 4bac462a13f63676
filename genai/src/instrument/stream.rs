//! Streaming wrappers: [`TracedTokens`] over an [`Iterator`] and [`TracedStream`] over a
//! [`futures_core::Stream`], both ending a [`GenerationSpan`], and the calls that make them
//! (`GenerationSpan::stream`, `GenerationSpan::stream_async`, `Instrumentation::stream_generate`).
//!
//! The span is current while the inner iterator or stream runs. The first item emits
//! `llm.stream.first_token` with `time_to_first_token` (nanoseconds since the span started); at
//! `verbose`, every item emits `llm.stream.token`. The end emits the span's stop event with
//! `output_tokens`, `tokens_per_second`, `time_per_output_token`, `time_to_first_token`, the
//! response length and (at `detailed`) the text. Dropping the wrapper before the end emits stop
//! with `status = "cancelled"` and the counts so far. An `Err` item ends the span with an
//! exception; later items pass through untraced.

use std::borrow::Cow;
use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use smallvec::SmallVec;

use super::Instrumentation;
use super::call::short_type_name;
use super::generation::{GenerationSpan, StreamLabels};
use super::names::{INTER_TOKEN_LATENCY, LLM_STREAM_TOKEN, TOKEN_INDEX};
use super::request::{FinishReason, GenerateRequest};
use crate::catalog::{self, keys};
use llm_telemetry_core::context::{self, ContextGuard, SpanContext};
use llm_telemetry_core::event::Value;

/// One item of a token stream, as the wrappers see it.
///
/// Implemented for text (`String`, `&str`, `Box<str>`, `Arc<str>`, `Cow<str>`), token ids
/// (`u32`), and `Result<T, E>` of those (an `Err` ends the span with an exception).
pub trait StreamItem {
    /// The item's text, if it has any (for `output.value` and `response_length`).
    fn text(&self) -> Option<&str>;
    /// How many output tokens the item carries (1 by default).
    fn token_count(&self) -> u64 {
        1
    }
    /// `Some((exception type, message))` when the item is an error.
    fn error(&self) -> Option<(String, String)> {
        None
    }
}

impl StreamItem for String {
    fn text(&self) -> Option<&str> {
        Some(self)
    }
}
impl StreamItem for &str {
    fn text(&self) -> Option<&str> {
        Some(self)
    }
}
impl StreamItem for Box<str> {
    fn text(&self) -> Option<&str> {
        Some(self)
    }
}
impl StreamItem for Arc<str> {
    fn text(&self) -> Option<&str> {
        Some(self)
    }
}
impl StreamItem for Cow<'_, str> {
    fn text(&self) -> Option<&str> {
        Some(self)
    }
}
impl StreamItem for u32 {
    fn text(&self) -> Option<&str> {
        None
    }
}
impl<T: StreamItem, E: fmt::Display> StreamItem for Result<T, E> {
    fn text(&self) -> Option<&str> {
        self.as_ref().ok().and_then(StreamItem::text)
    }
    fn token_count(&self) -> u64 {
        self.as_ref().map_or(0, StreamItem::token_count)
    }
    fn error(&self) -> Option<(String, String)> {
        match self {
            Ok(item) => item.error(),
            Err(error) => Some((short_type_name::<E>(), error.to_string())),
        }
    }
}

/// The bookkeeping both wrappers share.
#[derive(Debug)]
struct StreamState {
    /// `None` once the span has ended.
    span: Option<GenerationSpan>,
    items: u64,
    tokens: u64,
    chars: usize,
    /// The response so far, kept only when recorded at `detailed` or above.
    text: Option<String>,
    first_at: Option<Instant>,
    last_at: Option<Instant>,
    finish_reason: Option<FinishReason>,
}

impl StreamState {
    fn new(mut span: GenerationSpan) -> Self {
        let keep_text = span.is_recording() && span.level.records_content();
        if let Some(recorder) = span.recorder() {
            // The stop event says the response was streamed, whatever the request said.
            recorder.set(keys::STREAMING, true);
        }
        Self {
            span: Some(span),
            items: 0,
            tokens: 0,
            chars: 0,
            text: keep_text.then(String::new),
            first_at: None,
            last_at: None,
            finish_reason: None,
        }
    }

    fn enter(&self) -> ContextGuard {
        match &self.span {
            Some(span) => span.enter(),
            None => context::enter(context::current()),
        }
    }

    fn context(&self) -> Option<SpanContext> {
        self.span.as_ref().and_then(GenerationSpan::context)
    }

    fn on_item<T: StreamItem + ?Sized>(&mut self, item: &T) {
        let Some(span) = &self.span else { return };
        let Some(started) = span.started else {
            // Nobody listens: nothing to measure.
            return;
        };
        if let Some((kind, message)) = item.error() {
            if let Some(mut span) = self.span.take() {
                self.record(&mut span);
                span.fail(&kind, &message);
            }
            return;
        }
        let now = Instant::now();
        if self.first_at.is_none() {
            self.first_at = Some(now);
            emit_first_token(span, now.saturating_duration_since(started).as_nanos());
        }
        if span.level.records_tokens() {
            let since = now.saturating_duration_since(self.last_at.unwrap_or(started));
            emit_token(span, self.items, since.as_nanos(), item.text());
        }
        self.last_at = Some(now);
        self.items += 1;
        self.tokens = self.tokens.saturating_add(item.token_count());
        if let Some(text) = item.text() {
            self.chars += text.chars().count();
            if let Some(buffer) = &mut self.text {
                buffer.push_str(text);
            }
        }
    }

    fn on_end(&mut self) {
        if let Some(mut span) = self.span.take() {
            self.record(&mut span);
            let reason = self
                .finish_reason
                .take()
                .unwrap_or_else(|| span.finish_reason_for(self.tokens));
            if let Some(recorder) = span.recorder() {
                recorder.set(keys::FINISH_REASONS, reason.as_str());
            }
            span.call.stop_ok();
        }
    }

    /// Puts the counts and rates so far on the span's recorder.
    fn record(&mut self, span: &mut GenerationSpan) {
        if !span.is_recording() {
            return;
        }
        span.record_tokens(self.tokens);
        span.record_response(self.text.as_deref(), self.chars);
        let (Some(started), Some(recorder)) = (span.started, span.call.recorder()) else {
            return;
        };
        let end = self.last_at.unwrap_or_else(Instant::now);
        let seconds = end.saturating_duration_since(started).as_secs_f64();
        if seconds > 0.0 && self.tokens > 0 {
            recorder.measure(keys::TOKENS_PER_SECOND, self.tokens as f64 / seconds);
        }
        if let Some(first) = self.first_at {
            recorder.measure(
                keys::TIME_TO_FIRST_TOKEN,
                first.saturating_duration_since(started).as_nanos() as f64,
            );
            if self.tokens > 1 {
                let decode = end.saturating_duration_since(first).as_nanos() as f64;
                recorder.measure(
                    keys::TIME_PER_OUTPUT_TOKEN,
                    decode / (self.tokens - 1) as f64,
                );
            }
        }
    }
}

impl Drop for StreamState {
    fn drop(&mut self) {
        if let Some(mut span) = self.span.take() {
            self.record(&mut span);
            // Dropping the unfinished span emits stop with `status = "cancelled"`.
            drop(span);
        }
    }
}

/// Emits `llm.stream.first_token` in the generation's span.
fn emit_first_token(span: &GenerationSpan, nanos: u128) {
    let Some(labels) = &span.stream_labels else {
        return;
    };
    if !labels.bus.is_listening(&catalog::LLM_STREAM_FIRST_TOKEN) {
        return;
    }
    let mut metadata: SmallVec<[(&'static str, Value<'_>); 4]> = SmallVec::new();
    push_labels(&mut metadata, labels);
    emit_in_span(
        span,
        &catalog::LLM_STREAM_FIRST_TOKEN,
        &[(keys::TIME_TO_FIRST_TOKEN, nanos as f64)],
        &metadata,
    );
}

/// Emits `llm.stream.token` (verbose level) in the generation's span.
fn emit_token(span: &GenerationSpan, index: u64, nanos_since_previous: u128, text: Option<&str>) {
    let Some(labels) = &span.stream_labels else {
        return;
    };
    if !labels.bus.is_listening(&LLM_STREAM_TOKEN) {
        return;
    }
    let mut metadata: SmallVec<[(&'static str, Value<'_>); 4]> = SmallVec::new();
    push_labels(&mut metadata, labels);
    if let Some(text) = text {
        metadata.push((keys::OUTPUT, Value::Str(text)));
    }
    emit_in_span(
        span,
        &LLM_STREAM_TOKEN,
        &[
            (TOKEN_INDEX, index as f64),
            (INTER_TOKEN_LATENCY, nanos_since_previous as f64),
        ],
        &metadata,
    );
}

fn push_labels<'a>(
    metadata: &mut SmallVec<[(&'static str, Value<'a>); 4]>,
    labels: &'a StreamLabels,
) {
    metadata.push((keys::MODEL, Value::Str(&labels.model)));
    if let Some(provider) = &labels.provider {
        metadata.push((keys::PROVIDER, Value::Str(provider)));
    }
    if let Some(tenant) = &labels.tenant {
        metadata.push((keys::TENANT, Value::Str(tenant)));
    }
}

fn emit_in_span(
    span: &GenerationSpan,
    name: impl Into<llm_telemetry_core::name::EventName>,
    measurements: &[(&'static str, f64)],
    metadata: &[(&'static str, Value<'_>)],
) {
    let Some(labels) = &span.stream_labels else {
        return;
    };
    match span.context() {
        Some(context) => labels
            .bus
            .execute_in_span(name, measurements, metadata, Some(context)),
        None => labels.bus.execute(name, measurements, metadata),
    }
}

/// The accessors the iterator and the stream wrapper share (both keep a `state: StreamState`).
macro_rules! stream_accessors {
    ($ty:ident<$param:ident>) => {
        impl<$param> $ty<$param> {
            /// Overrides the finish reason reported at the end (by default `length` when
            /// `max_tokens` tokens were produced, else `stop`).
            pub fn set_finish_reason(&mut self, reason: FinishReason) {
                self.state.finish_reason = Some(reason);
            }
            /// The span's context, while it is recorded and not yet ended.
            pub fn context(&self) -> Option<SpanContext> {
                self.state.context()
            }
            /// Output tokens counted so far (0 when nothing is recorded: nobody listens).
            pub fn tokens_so_far(&self) -> u64 {
                self.state.tokens
            }
        }
    };
}

/// An iterator of streamed tokens inside a generation span.
///
/// - The span is current while the inner iterator runs.
/// - The first item emits `llm.stream.first_token` with `time_to_first_token` (nanoseconds since
///   the span started); at `verbose`, every item emits `llm.stream.token`.
/// - The end emits the span's stop event with `output_tokens`, `tokens_per_second`,
///   `time_per_output_token`, `time_to_first_token`, the response length, the finish reason and
///   (at `detailed`) the text.
/// - Dropping it before the end emits stop with `status = "cancelled"` and the counts so far.
/// - An `Err` item ends the span with an exception; later items pass through untraced.
///
/// ```
/// use llm_telemetry_core::{Bus, testing::Capture};
/// use llm_telemetry_genai::instrument::{GenerateRequest, Instrumentation, TelemetryLevel};
/// let bus = Bus::new();
/// let capture = Capture::attach(&bus, ["llm.*"]).unwrap();
/// let telemetry = Instrumentation::new(&bus, TelemetryLevel::Basic);
///
/// let mut span = telemetry.start_generate(&GenerateRequest::new("m", "hi").streaming(true));
/// span.set_input_tokens(2);
/// let mut tokens = span.stream(vec!["a", "b", "c"]);
/// assert_eq!(tokens.next(), Some("a"));
/// drop(tokens); // the client went away
///
/// let stop = &capture.named("llm.generate.stop")[0];
/// assert_eq!(stop.str("status"), Some("cancelled"));
/// assert_eq!(stop.measurement("output_tokens"), Some(1.0));
/// ```
#[derive(Debug)]
pub struct TracedTokens<I> {
    inner: I,
    state: StreamState,
}

impl<I> TracedTokens<I> {
    fn new(span: GenerationSpan, inner: I) -> Self {
        Self {
            inner,
            state: StreamState::new(span),
        }
    }
}

stream_accessors!(TracedTokens<I>);

impl<I> Iterator for TracedTokens<I>
where
    I: Iterator,
    I::Item: StreamItem,
{
    type Item = I::Item;

    fn next(&mut self) -> Option<I::Item> {
        let item = {
            let _entered = self.state.enter();
            self.inner.next()
        };
        match &item {
            Some(item) => self.state.on_item(item),
            None => self.state.on_end(),
        }
        item
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.inner.size_hint()
    }
}

pin_project_lite::pin_project! {
    /// A [`futures_core::Stream`] of streamed tokens inside a generation span, with the same
    /// events as [`TracedTokens`]. No async runtime is involved: the span is made current on
    /// each poll.
    #[derive(Debug)]
    pub struct TracedStream<S> {
        #[pin]
        inner: S,
        state: StreamState,
    }
}

impl<S> TracedStream<S> {
    fn new(span: GenerationSpan, inner: S) -> Self {
        Self {
            inner,
            state: StreamState::new(span),
        }
    }
}

stream_accessors!(TracedStream<S>);

impl<S> futures_core::Stream for TracedStream<S>
where
    S: futures_core::Stream,
    S::Item: StreamItem,
{
    type Item = S::Item;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<S::Item>> {
        let this = self.project();
        let polled = {
            let _entered = this.state.enter();
            this.inner.poll_next(cx)
        };
        match &polled {
            Poll::Ready(Some(item)) => this.state.on_item(item),
            Poll::Ready(None) => this.state.on_end(),
            Poll::Pending => {}
        }
        polled
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.inner.size_hint()
    }
}

impl GenerationSpan {
    /// Wraps an iterator of streamed tokens: see [`TracedTokens`].
    pub fn stream<I>(self, tokens: I) -> TracedTokens<I::IntoIter>
    where
        I: IntoIterator,
        I::Item: StreamItem,
    {
        TracedTokens::new(self, tokens.into_iter())
    }

    /// Wraps a [`futures_core::Stream`] of streamed tokens: see [`TracedStream`].
    pub fn stream_async<S>(self, tokens: S) -> TracedStream<S>
    where
        S: futures_core::Stream,
        S::Item: StreamItem,
    {
        TracedStream::new(self, tokens)
    }
}

impl Instrumentation {
    /// Starts an `llm.generate` span marked `streaming = true` and wraps `tokens` in it.
    ///
    /// ```
    /// use llm_telemetry_core::{Bus, testing::Capture};
    /// use llm_telemetry_genai::instrument::{GenerateRequest, Instrumentation, TelemetryLevel};
    /// let bus = Bus::new();
    /// let capture = Capture::attach(&bus, ["llm.*"]).unwrap();
    /// let telemetry = Instrumentation::new(&bus, TelemetryLevel::Detailed);
    /// let request = GenerateRequest::new("m", "Count to three");
    /// let text: String = telemetry.stream_generate(&request, ["one", " two", " three"]).collect();
    /// assert_eq!(text, "one two three");
    /// assert_eq!(capture.names(), ["llm.generate.start", "llm.stream.first_token", "llm.generate.stop"]);
    /// ```
    pub fn stream_generate<I>(
        &self,
        request: &GenerateRequest,
        tokens: I,
    ) -> TracedTokens<I::IntoIter>
    where
        I: IntoIterator,
        I::Item: StreamItem,
    {
        self.start_generate_as(request, None, true).stream(tokens)
    }
}
