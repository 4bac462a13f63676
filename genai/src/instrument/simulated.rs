//! [`SimulatedBackend`]: a deterministic stand-in for a real model, for tests, examples and
//! load generation. It is not a model: its text is a deterministic sequence of words chosen by
//! hashing the prompt.
//!
//! What it does simulate: token counts (about four characters per prompt token, 16 to 255
//! response tokens unless `max_tokens` cuts it, then the finish reason is `length`), latency
//! (a per-request overhead, prefill time per prompt token, decode time per generated token, with
//! [`LatencyProfile::realistic`] figures of a hosted 8B-class model), embeddings (deterministic
//! unit vectors) and failures (every n-th call rate limited or failing, as configured).

use std::num::NonZeroU64;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use super::backend::{BackendError, BackendStream, InferenceBackend, TextChunk};
use super::hash::KeyHasher;
use super::request::{Completion, EmbedRequest, Embeddings, FinishReason, GenerateRequest};

/// Latency parameters of a [`SimulatedBackend`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LatencyProfile {
    /// Fixed cost of every call (network, queueing).
    pub request_overhead: Duration,
    /// Time per prompt token before the first output token.
    pub prefill_per_token: Duration,
    /// Time per generated token.
    pub decode_per_token: Duration,
    /// Time per embedded input.
    pub embed_per_input: Duration,
}

impl LatencyProfile {
    /// No latency at all (tests).
    pub const NONE: LatencyProfile = LatencyProfile {
        request_overhead: Duration::ZERO,
        prefill_per_token: Duration::ZERO,
        decode_per_token: Duration::ZERO,
        embed_per_input: Duration::ZERO,
    };

    /// A hosted 8B-class model: 30 ms overhead, 0.25 ms per prompt token (4,000 tokens/s
    /// prefill), 12 ms per output token (about 80 tokens/s), 3 ms per embedded input.
    pub fn realistic() -> Self {
        Self {
            request_overhead: Duration::from_millis(30),
            prefill_per_token: Duration::from_micros(250),
            decode_per_token: Duration::from_millis(12),
            embed_per_input: Duration::from_millis(3),
        }
    }

    /// Every duration multiplied by `factor` (e.g. `0.1` for a fast demo). A negative or
    /// non-finite factor counts as zero.
    pub fn scaled(self, factor: f64) -> Self {
        let factor = if factor.is_finite() && factor > 0.0 {
            factor
        } else {
            0.0
        };
        let scale = |d: Duration| Duration::from_secs_f64(d.as_secs_f64() * factor);
        Self {
            request_overhead: scale(self.request_overhead),
            prefill_per_token: scale(self.prefill_per_token),
            decode_per_token: scale(self.decode_per_token),
            embed_per_input: scale(self.embed_per_input),
        }
    }
}

impl Default for LatencyProfile {
    fn default() -> Self {
        Self::NONE
    }
}

/// A failure of a [`SimulatedBackend`] call.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SimulatedError {
    /// Every `rate_limit_every`-th call is rate limited.
    #[error(
        "simulated provider `{provider}` rate limited call {call}: retry after {retry_after:?} \
         (configured with rate_limit_every)"
    )]
    RateLimited {
        /// The provider name.
        provider: String,
        /// The 1-based call number.
        call: u64,
        /// How long to wait.
        retry_after: Duration,
    },
    /// Every `fail_every`-th call fails.
    #[error(
        "simulated provider `{provider}` failed call {call} (configured with fail_every = {every})"
    )]
    Unavailable {
        /// The provider name.
        provider: String,
        /// The 1-based call number.
        call: u64,
        /// The configured period.
        every: u64,
    },
    /// An embedding request without inputs.
    #[error("embedding request for model `{model}` has no inputs: pass at least one text")]
    NoInputs {
        /// The requested model.
        model: String,
    },
}

impl BackendError for SimulatedError {
    fn error_type(&self) -> &'static str {
        match self {
            SimulatedError::RateLimited { .. } => "rate_limit",
            SimulatedError::Unavailable { .. } => "unavailable",
            SimulatedError::NoInputs { .. } => "invalid_request",
        }
    }
    fn retry_after(&self) -> Option<Duration> {
        match self {
            SimulatedError::RateLimited { retry_after, .. } => Some(*retry_after),
            _ => None,
        }
    }
}

/// A deterministic stand-in for a model, for tests, examples and load generation. Its text is
/// a deterministic word sequence chosen by hashing the prompt; it simulates token counts (about
/// four characters per prompt token; 16 to 255 response tokens unless `max_tokens` cuts the
/// response, then the finish reason is `length`), latency ([`LatencyProfile`]), unit-length
/// embeddings, and failures (every n-th call rate limited or failing, as configured).
///
/// ```
/// use std::num::NonZeroU64;
/// use llm_telemetry_genai::instrument::{GenerateRequest, InferenceBackend, SimulatedBackend, SimulatedError};
/// let backend = SimulatedBackend::new("simulated").rate_limit_every(NonZeroU64::new(2).unwrap());
/// let request = GenerateRequest::new("sim-7b", "Tell me about Rust").max_tokens(64);
/// let first = backend.generate(&request)?;
/// assert!(first.output_tokens <= 64);
/// assert_eq!(first.input_tokens, 5, "18 characters is about 5 tokens");
/// assert!(matches!(backend.generate(&request), Err(SimulatedError::RateLimited { call: 2, .. })));
/// # Ok::<(), SimulatedError>(())
/// ```
#[derive(Debug)]
pub struct SimulatedBackend {
    provider: String,
    latency: LatencyProfile,
    dimension: usize,
    rate_limit_every: Option<NonZeroU64>,
    fail_every: Option<NonZeroU64>,
    retry_after: Duration,
    calls: AtomicU64,
}

/// Words the simulated responses are made of.
const VOCABULARY: [&str; 32] = [
    "the",
    "model",
    "answer",
    "token",
    "cache",
    "latency",
    "context",
    "vector",
    "query",
    "result",
    "is",
    "a",
    "of",
    "and",
    "to",
    "in",
    "with",
    "for",
    "each",
    "request",
    "stream",
    "batch",
    "prompt",
    "search",
    "score",
    "document",
    "embedding",
    "provider",
    "budget",
    "trace",
    "span",
    "metric",
];

impl SimulatedBackend {
    /// A backend named `provider`, with no latency, 384-dimensional embeddings and no failures.
    pub fn new(provider: impl Into<String>) -> Self {
        Self {
            provider: provider.into(),
            latency: LatencyProfile::NONE,
            dimension: 384,
            rate_limit_every: None,
            fail_every: None,
            retry_after: Duration::from_secs(1),
            calls: AtomicU64::new(0),
        }
    }
    /// Sleeps as `latency` says.
    pub fn with_latency(mut self, latency: LatencyProfile) -> Self {
        self.latency = latency;
        self
    }
    /// Embedding dimension (at least 1).
    pub fn with_dimension(mut self, dimension: usize) -> Self {
        self.dimension = dimension.max(1);
        self
    }
    /// Every `n`-th call is rate limited.
    pub fn rate_limit_every(mut self, n: NonZeroU64) -> Self {
        self.rate_limit_every = Some(n);
        self
    }
    /// The `retry_after` of its rate limits (1 s by default).
    pub fn with_retry_after(mut self, retry_after: Duration) -> Self {
        self.retry_after = retry_after;
        self
    }
    /// Every `n`-th call fails (rate limits take precedence when both apply).
    pub fn fail_every(mut self, n: NonZeroU64) -> Self {
        self.fail_every = Some(n);
        self
    }
    /// Calls made so far.
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }

    /// Counts a call and decides whether it fails.
    fn admit(&self) -> Result<(), SimulatedError> {
        let call = self.calls.fetch_add(1, Ordering::Relaxed) + 1;
        let due = |every: Option<NonZeroU64>| every.filter(|n| call % n.get() == 0);
        if due(self.rate_limit_every).is_some() {
            return Err(SimulatedError::RateLimited {
                provider: self.provider.clone(),
                call,
                retry_after: self.retry_after,
            });
        }
        if let Some(n) = due(self.fail_every) {
            return Err(SimulatedError::Unavailable {
                provider: self.provider.clone(),
                call,
                every: n.get(),
            });
        }
        Ok(())
    }

    /// The deterministic response: its words and why it stopped.
    fn respond(&self, request: &GenerateRequest) -> (Vec<&'static str>, FinishReason) {
        let mut state = KeyHasher::stable().hash(request.prompt.as_bytes()) | 1;
        let natural = 16 + (state % 240);
        let (count, reason) = match request.options.max_tokens {
            Some(max) if u64::from(max) < natural => (u64::from(max), FinishReason::Length),
            _ => (natural, FinishReason::Stop),
        };
        let words = (0..count)
            .map(|_| {
                state = xorshift(state);
                VOCABULARY[(state % VOCABULARY.len() as u64) as usize]
            })
            .collect();
        (words, reason)
    }

    fn time_to_first_token(&self, input_tokens: u64) -> Duration {
        self.latency.request_overhead
            + self.latency.prefill_per_token * saturating_u32(input_tokens)
    }
}

/// Prompt tokens of `text`: about four characters per token, at least one.
fn estimate_tokens(text: &str) -> u64 {
    (text.chars().count() as u64).div_ceil(4).max(1)
}

fn saturating_u32(n: u64) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

fn xorshift(mut x: u64) -> u64 {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    x
}

fn sleep(duration: Duration) {
    if !duration.is_zero() {
        std::thread::sleep(duration);
    }
}

/// The word as it appears in the text: a leading space except for the first.
fn piece(index: usize, word: &str) -> String {
    if index == 0 {
        word.to_owned()
    } else {
        format!(" {word}")
    }
}

impl InferenceBackend for SimulatedBackend {
    type Error = SimulatedError;

    fn provider(&self) -> &str {
        &self.provider
    }

    fn generate(&self, request: &GenerateRequest) -> Result<Completion, SimulatedError> {
        self.admit()?;
        let input_tokens = estimate_tokens(&request.prompt);
        let (words, reason) = self.respond(request);
        let output_tokens = words.len() as u64;
        sleep(
            self.time_to_first_token(input_tokens)
                + self.latency.decode_per_token * saturating_u32(output_tokens),
        );
        Ok(Completion::new(words.join(" "), input_tokens, output_tokens).finish_reason(reason))
    }

    fn embed(&self, request: &EmbedRequest) -> Result<Embeddings, SimulatedError> {
        self.admit()?;
        if request.inputs.is_empty() {
            return Err(SimulatedError::NoInputs {
                model: request.model.clone(),
            });
        }
        sleep(
            self.latency.request_overhead
                + self.latency.embed_per_input * saturating_u32(request.inputs.len() as u64),
        );
        let hasher = KeyHasher::stable();
        let vectors = request
            .inputs
            .iter()
            .map(|input| {
                let mut state = hasher.hash(input.as_bytes()) | 1;
                let mut vector: Vec<f32> = (0..self.dimension)
                    .map(|_| {
                        state = xorshift(state);
                        // Top 24 bits → [-1, 1).
                        ((state >> 40) as f32 / (1u64 << 23) as f32) - 1.0
                    })
                    .collect();
                let norm = vector.iter().map(|x| x * x).sum::<f32>().sqrt();
                if norm > 0.0 {
                    vector.iter_mut().for_each(|x| *x /= norm);
                }
                vector
            })
            .collect();
        Ok(Embeddings {
            vectors,
            input_tokens: request.inputs.iter().map(|s| estimate_tokens(s)).sum(),
            pooling: request.pooling.unwrap_or_default(),
        })
    }

    /// Streams one word per token: the first after the prefill time, then one per decode step.
    fn stream(
        &self,
        request: &GenerateRequest,
    ) -> Result<BackendStream<'_, SimulatedError>, SimulatedError> {
        self.admit()?;
        let input_tokens = estimate_tokens(&request.prompt);
        let (words, _reason) = self.respond(request);
        let first_delay = self.time_to_first_token(input_tokens);
        let decode = self.latency.decode_per_token;
        let chunks = words.into_iter().enumerate().map(move |(index, word)| {
            sleep(if index == 0 {
                first_delay + decode
            } else {
                decode
            });
            Ok(TextChunk::new(piece(index, word), 1))
        });
        Ok(BackendStream {
            input_tokens,
            chunks: Box::new(chunks),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn responses_are_deterministic_and_respect_max_tokens() {
        let backend = SimulatedBackend::new("sim");
        let request = GenerateRequest::new("m", "What is a span?");
        let a = backend.generate(&request).unwrap();
        let b = backend.generate(&request).unwrap();
        assert_eq!(a, b);
        assert!((16..256).contains(&a.output_tokens));
        assert_eq!(a.text.split(' ').count() as u64, a.output_tokens);
        let short = backend.generate(&request.clone().max_tokens(3)).unwrap();
        assert_eq!(short.output_tokens, 3);
        assert_eq!(short.finish_reason, FinishReason::Length);
    }

    #[test]
    fn stream_matches_generate() {
        let backend = SimulatedBackend::new("sim");
        let request = GenerateRequest::new("m", "Stream me");
        let whole = backend.generate(&request).unwrap();
        let streamed: String = backend
            .stream(&request)
            .unwrap()
            .map(|chunk| chunk.unwrap().text)
            .collect();
        assert_eq!(streamed, whole.text);
    }

    #[test]
    fn embeddings_are_unit_vectors() {
        let backend = SimulatedBackend::new("sim").with_dimension(8);
        let out = backend.embed(&EmbedRequest::new("e", ["a", "b"])).unwrap();
        assert_eq!(out.dimension(), 8);
        for v in &out.vectors {
            let norm: f32 = v.iter().map(|x| x * x).sum::<f32>().sqrt();
            assert!((norm - 1.0).abs() < 1e-4, "norm {norm}");
        }
        assert_ne!(out.vectors[0], out.vectors[1]);
    }

    #[test]
    fn failures_follow_the_configured_periods() {
        let backend = SimulatedBackend::new("sim")
            .rate_limit_every(NonZeroU64::new(3).unwrap())
            .fail_every(NonZeroU64::new(2).unwrap());
        let request = GenerateRequest::new("m", "p");
        let outcomes: Vec<_> = (0..6)
            .map(|_| backend.generate(&request).err().map(|e| e.error_type()))
            .collect();
        assert_eq!(
            outcomes,
            [
                None,
                Some("unavailable"),
                Some("rate_limit"),
                Some("unavailable"),
                None,
                Some("rate_limit")
            ]
        );
        assert_eq!(backend.calls(), 6);
    }
}
