//! [`TracedFuture`]: the async form of the closure helpers. It makes its span current on every
//! poll (no async runtime needed), ends it with stop on `Ok` and with an exception on `Err` or a
//! panicking poll, and, dropped before it completes, emits stop with `status = "cancelled"`.

use std::fmt;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::pin::Pin;
use std::task::{Context, Poll};

use super::Instrumentation;
use super::call::{Traced, short_type_name};
use super::embedding::EmbeddingSpan;
use super::generation::GenerationSpan;
use super::request::{ChatRequest, Completion, EmbedRequest, Embeddings, GenerateRequest};
use super::request_span::RequestSpan;
use llm_telemetry_core::bus::panic_message;
use llm_telemetry_core::event::Metadata;

pin_project_lite::pin_project! {
    /// A future of `Result` inside a helper span ([`Instrumentation::generate_async`] and
    /// friends). The span is current on every poll (no async runtime needed); `Ok` ends it with
    /// stop, `Err` or a panicking poll with an exception, and dropping the future before it
    /// completes emits stop with `status = "cancelled"`.
    ///
    /// ```
    /// use std::future::Future;
    /// use std::pin::pin;
    /// use std::task::{Context, Poll, Waker};
    /// use llm_telemetry_core::{Bus, testing::Capture};
    /// use llm_telemetry_genai::instrument::{Completion, GenerateRequest, Instrumentation, TelemetryLevel};
    ///
    /// let bus = Bus::new();
    /// let capture = Capture::attach(&bus, ["llm.generate.*"]).unwrap();
    /// let telemetry = Instrumentation::new(&bus, TelemetryLevel::Basic);
    /// let call = telemetry.generate_async(
    ///     &GenerateRequest::new("m", "p"),
    ///     async { Ok::<_, String>(Completion::new("done", 2, 1)) },
    /// );
    /// // Any executor will do; this one polls once.
    /// let mut call = pin!(call);
    /// let Poll::Ready(Ok(done)) = call.as_mut().poll(&mut Context::from_waker(Waker::noop())) else { panic!() };
    /// assert_eq!(done.text, "done");
    /// assert_eq!(capture.names(), ["llm.generate.start", "llm.generate.stop"]);
    /// ```
    #[derive(Debug)]
    #[must_use = "futures do nothing unless polled"]
    pub struct TracedFuture<F, S> {
        #[pin]
        inner: F,
        span: Option<S>,
    }
}

impl<F, S> TracedFuture<F, S> {
    fn new(span: S, inner: F) -> Self {
        Self {
            inner,
            span: Some(span),
        }
    }
}

/// Polls `inner` with the span current and ends the span when it completes.
fn poll_traced<F, S, T, E>(
    inner: Pin<&mut F>,
    span: &mut Option<S>,
    cx: &mut Context<'_>,
    finish: impl FnOnce(S, &T),
) -> Poll<Result<T, E>>
where
    F: Future<Output = Result<T, E>>,
    S: Traced,
    E: fmt::Display,
{
    let polled = {
        let _entered = span.as_ref().map(Traced::enter_span);
        catch_unwind(AssertUnwindSafe(|| inner.poll(cx)))
    };
    match polled {
        Ok(Poll::Pending) => Poll::Pending,
        Ok(Poll::Ready(result)) => {
            if let Some(span) = span.take() {
                match &result {
                    Ok(value) => finish(span, value),
                    Err(error) => {
                        let kind = short_type_name::<E>();
                        span.fail_span(&kind, &kind, &error.to_string());
                    }
                }
            }
            Poll::Ready(result)
        }
        Err(payload) => {
            if let Some(span) = span.take() {
                span.fail_span("panic", "panic", &panic_message(&payload));
            }
            resume_unwind(payload)
        }
    }
}

impl<F, E> Future for TracedFuture<F, GenerationSpan>
where
    F: Future<Output = Result<Completion, E>>,
    E: fmt::Display,
{
    type Output = F::Output;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        poll_traced(this.inner, this.span, cx, |span, c| span.finish(c))
    }
}

impl<F, E> Future for TracedFuture<F, EmbeddingSpan>
where
    F: Future<Output = Result<Embeddings, E>>,
    E: fmt::Display,
{
    type Output = F::Output;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        poll_traced(this.inner, this.span, cx, |span, e| span.finish(e))
    }
}

impl<F, T, E> Future for TracedFuture<F, RequestSpan>
where
    F: Future<Output = Result<T, E>>,
    E: fmt::Display,
{
    type Output = F::Output;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        poll_traced(this.inner, this.span, cx, |span, _| span.finish())
    }
}

impl Instrumentation {
    /// [`Instrumentation::generate`] for a future: starts the `llm.generate` span now.
    pub fn generate_async<F, E>(
        &self,
        request: &GenerateRequest,
        future: F,
    ) -> TracedFuture<F, GenerationSpan>
    where
        F: Future<Output = Result<Completion, E>>,
        E: fmt::Display,
    {
        TracedFuture::new(self.start_generate(request), future)
    }

    /// [`Instrumentation::chat`] for a future: starts the `llm.chat` span now.
    pub fn chat_async<F, E>(
        &self,
        request: &ChatRequest,
        future: F,
    ) -> TracedFuture<F, GenerationSpan>
    where
        F: Future<Output = Result<Completion, E>>,
        E: fmt::Display,
    {
        TracedFuture::new(self.start_chat(request), future)
    }

    /// [`Instrumentation::embed`] for a future: starts the `llm.embed` span now.
    pub fn embed_async<F, E>(
        &self,
        request: &EmbedRequest,
        future: F,
    ) -> TracedFuture<F, EmbeddingSpan>
    where
        F: Future<Output = Result<Embeddings, E>>,
        E: fmt::Display,
    {
        TracedFuture::new(self.start_embed(request), future)
    }

    /// [`Instrumentation::try_request`] for a future: starts the `llm.request` span now; helpers
    /// called while the future is polled become its children.
    pub fn request_async<F, T, E>(
        &self,
        operation: &str,
        attributes: Metadata<'_>,
        future: F,
    ) -> TracedFuture<F, RequestSpan>
    where
        F: Future<Output = Result<T, E>>,
        E: fmt::Display,
    {
        TracedFuture::new(self.start_request(operation, attributes), future)
    }
}
