//! The [`InferenceBackend`] trait and [`InstrumentedBackend`], which instruments any backend the
//! same way.
//!
//! A backend only computes; the wrapper emits `llm.generate.*`, `llm.chat.*` and `llm.embed.*`
//! around it (streams through [`crate::instrument::TracedTokens`]), names the backend's provider
//! when a request names none, and turns errors into exceptions classified by
//! [`BackendError::error_type`], emitting `llm.provider.rate_limit` first when the error carries a
//! [`BackendError::retry_after`].

use std::fmt;
use std::time::Duration;

use super::Instrumentation;
use super::call::{Traced, run_traced_failing, short_type_name};
use super::request::{ChatRequest, Completion, EmbedRequest, Embeddings, GenerateRequest};
use super::stream::{StreamItem, TracedTokens};

/// What the instrumentation needs to know about a backend's errors.
pub trait BackendError: std::error::Error + Send + Sync + 'static {
    /// A low-cardinality class for `error.type` (`rate_limit`, `timeout`, …); `"error"` by default.
    fn error_type(&self) -> &'static str {
        "error"
    }
    /// How long the provider asked to wait, when this is a rate limit.
    fn retry_after(&self) -> Option<Duration> {
        None
    }
}

/// A piece of a streamed response: its text and how many tokens it holds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TextChunk {
    /// The text.
    pub text: String,
    /// The tokens it holds (usually 1).
    pub tokens: u64,
}

impl TextChunk {
    /// A chunk of `tokens` tokens.
    pub fn new(text: impl Into<String>, tokens: u64) -> Self {
        Self {
            text: text.into(),
            tokens,
        }
    }
}

impl StreamItem for TextChunk {
    fn text(&self) -> Option<&str> {
        Some(&self.text)
    }
    fn token_count(&self) -> u64 {
        self.tokens
    }
}

/// The chunks of a streamed response, boxed so that backends and wrappers share one type.
pub type TokenIter<'a, E> = Box<dyn Iterator<Item = Result<TextChunk, E>> + Send + 'a>;

/// A streamed response: the prompt's token count, known up front, and the chunks.
pub struct BackendStream<'a, E> {
    /// Prompt tokens (`input_tokens` on the stop event).
    pub input_tokens: u64,
    /// The response, chunk by chunk.
    pub chunks: TokenIter<'a, E>,
}

impl<E> fmt::Debug for BackendStream<'_, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BackendStream")
            .field("input_tokens", &self.input_tokens)
            .finish_non_exhaustive()
    }
}

impl<E> Iterator for BackendStream<'_, E> {
    type Item = Result<TextChunk, E>;
    fn next(&mut self) -> Option<Self::Item> {
        self.chunks.next()
    }
}

/// An inference backend: anything that can generate text and embed it.
///
/// `chat` and `stream` have defaults built on `generate`: `chat` renders the conversation with
/// [`ChatRequest::prompt_text`], `stream` yields the whole completion as one chunk.
pub trait InferenceBackend: Send + Sync {
    /// The backend's error.
    type Error: BackendError;

    /// The provider name (`gen_ai.provider.name`) used when a request names none.
    fn provider(&self) -> &str;

    /// Generates a completion of `request.prompt`.
    fn generate(&self, request: &GenerateRequest) -> Result<Completion, Self::Error>;

    /// Answers a conversation.
    fn chat(&self, request: &ChatRequest) -> Result<Completion, Self::Error> {
        self.generate(&GenerateRequest {
            prompt: request.prompt_text(),
            options: request.options.clone(),
        })
    }

    /// Embeds `request.inputs`.
    fn embed(&self, request: &EmbedRequest) -> Result<Embeddings, Self::Error>;

    /// Streams a completion of `request.prompt`.
    fn stream(
        &self,
        request: &GenerateRequest,
    ) -> Result<BackendStream<'_, Self::Error>, Self::Error> {
        let completion = self.generate(request)?;
        Ok(BackendStream {
            input_tokens: completion.input_tokens,
            chunks: Box::new(std::iter::once(Ok(TextChunk::new(
                completion.text,
                completion.output_tokens,
            )))),
        })
    }
}

/// Instruments any [`InferenceBackend`]: every call goes through the helpers of
/// [`Instrumentation`], so every backend emits the same events with the same keys.
///
/// ```
/// use llm_telemetry_core::{Bus, testing::Capture};
/// use llm_telemetry_genai::instrument::{GenerateRequest, InferenceBackend, Instrumentation, InstrumentedBackend, SimulatedBackend, TelemetryLevel};
/// let bus = Bus::new();
/// let capture = Capture::attach(&bus, ["llm.generate.stop"]).unwrap();
/// let backend = InstrumentedBackend::new(
///     SimulatedBackend::new("simulated"),
///     Instrumentation::new(&bus, TelemetryLevel::Basic),
/// );
/// let completion = backend.generate(&GenerateRequest::new("sim-7b", "Hello").max_tokens(32))?;
/// let stop = &capture.events()[0];
/// assert_eq!(stop.measurement("output_tokens"), Some(completion.output_tokens as f64));
/// assert_eq!(stop.str("gen_ai.provider.name"), Some("simulated"));
/// # Ok::<(), llm_telemetry_genai::instrument::SimulatedError>(())
/// ```
#[derive(Clone, Debug)]
pub struct InstrumentedBackend<B> {
    backend: B,
    telemetry: Instrumentation,
}

impl<B: InferenceBackend> InstrumentedBackend<B> {
    /// Wraps `backend`, emitting through `telemetry`.
    pub fn new(backend: B, telemetry: Instrumentation) -> Self {
        Self { backend, telemetry }
    }
    /// The wrapped backend.
    pub fn inner(&self) -> &B {
        &self.backend
    }
    /// The instrumentation it emits through.
    pub fn telemetry(&self) -> &Instrumentation {
        &self.telemetry
    }
    /// Unwraps the backend.
    pub fn into_inner(self) -> B {
        self.backend
    }

    /// Runs `f` with `span` current; on error, emits the rate limit (if any) and the exception.
    fn run<S: Traced, T>(
        &self,
        span: S,
        f: impl FnOnce() -> Result<T, B::Error>,
        finish: impl FnOnce(S, &T),
    ) -> Result<T, B::Error> {
        run_traced_failing(span, f, finish, |span, error| self.fail(span, error))
    }

    fn fail<S: Traced>(&self, span: S, error: &B::Error) {
        if let Some(retry_after) = error.retry_after() {
            let _entered = span.enter_span();
            self.telemetry
                .rate_limited(self.backend.provider(), retry_after);
        }
        span.fail_span(
            error.error_type(),
            &short_type_name::<B::Error>(),
            &error.to_string(),
        );
    }
}

impl<B: InferenceBackend> InferenceBackend for InstrumentedBackend<B> {
    type Error = B::Error;

    fn provider(&self) -> &str {
        self.backend.provider()
    }

    fn generate(&self, request: &GenerateRequest) -> Result<Completion, B::Error> {
        let span = self
            .telemetry
            .start_generate_as(request, Some(self.backend.provider()), false);
        self.run(
            span,
            || self.backend.generate(request),
            |span, c| span.finish(c),
        )
    }

    fn chat(&self, request: &ChatRequest) -> Result<Completion, B::Error> {
        let span = self
            .telemetry
            .start_chat_as(request, Some(self.backend.provider()));
        self.run(
            span,
            || self.backend.chat(request),
            |span, c| span.finish(c),
        )
    }

    fn embed(&self, request: &EmbedRequest) -> Result<Embeddings, B::Error> {
        let span = self
            .telemetry
            .start_embed_as(request, Some(self.backend.provider()));
        self.run(
            span,
            || self.backend.embed(request),
            |span, e| span.finish(e),
        )
    }

    /// Streams through [`TracedTokens`]: first-token event, stream rates on stop, cancelled stop
    /// when the caller drops the stream early.
    fn stream(&self, request: &GenerateRequest) -> Result<BackendStream<'_, B::Error>, B::Error> {
        let mut span =
            self.telemetry
                .start_generate_as(request, Some(self.backend.provider()), true);
        let started = {
            let _entered = span.enter();
            self.backend.stream(request)
        };
        match started {
            Ok(stream) => {
                span.set_input_tokens(stream.input_tokens);
                let input_tokens = stream.input_tokens;
                let chunks: TracedTokens<TokenIter<'_, B::Error>> = span.stream(stream.chunks);
                Ok(BackendStream {
                    input_tokens,
                    chunks: Box::new(chunks),
                })
            }
            Err(error) => {
                self.fail(span, &error);
                Err(error)
            }
        }
    }
}
