//! Typed instrumentation helpers: emit the [`crate::catalog`] correctly without writing a single
//! metadata key by hand.
//!
//! Everything starts from an [`Instrumentation`] handle: a [`Bus`] plus a [`TelemetryLevel`]
//! (and the [`KeyHasher`] cache keys are hashed with). There is no global state; clone the handle
//! wherever it is needed (a clone is one reference-count increment).
//!
//! | helper | emits |
//! |---|---|
//! | [`Instrumentation::generate`], [`Instrumentation::start_generate`] | `llm.generate.*` |
//! | [`Instrumentation::chat`], [`Instrumentation::start_chat`] | `llm.chat.*` |
//! | [`Instrumentation::embed`], [`Instrumentation::start_embed`] | `llm.embed.*` |
//! | [`Instrumentation::request`], [`Instrumentation::start_request`] | `llm.request.*` (a parent span) |
//! | [`Instrumentation::generate_async`], `chat_async`, `embed_async`, `request_async` | the same, around a future ([`TracedFuture`]) |
//! | [`GenerationSpan::stream`], [`GenerationSpan::stream_async`] | `llm.stream.first_token`, then the stop event with stream rates |
//! | [`Instrumentation::cache`] | `cache.lookup.{hit,miss}`, `cache.entry.{put,evicted}` |
//! | [`Instrumentation::start_provider_request`], [`Instrumentation::rate_limited`], [`Instrumentation::auth_refreshed`] | `llm.provider.*` |
//! | [`Instrumentation::set_span_attribute`], [`Instrumentation::record_span_event`] | `span.attributes`, `span.event` in the current span |
//! | [`InstrumentedBackend`] | all of the above around any [`InferenceBackend`] |
//!
//! Every helper first asks the bus whether anyone listens; when nobody does (or the level is
//! `disabled`) it builds no metadata, reads no clock and allocates nothing.
//!
//! ```
//! use llm_telemetry_core::{Bus, testing::Capture};
//! use llm_telemetry_genai::instrument::{Completion, GenerateRequest, Instrumentation, TelemetryLevel};
//!
//! let bus = Bus::new();
//! let capture = Capture::attach(&bus, ["llm.*"]).unwrap();
//! let telemetry = Instrumentation::new(&bus, TelemetryLevel::Detailed);
//!
//! let request = GenerateRequest::new("llama-3.1-8b", "Why is the sky blue?").max_tokens(64);
//! let completion = telemetry.generate(&request, || {
//!     Ok::<_, std::io::Error>(Completion::new("Rayleigh scattering.", 7, 4))
//! })?;
//!
//! let stop = &capture.named("llm.generate.stop")[0];
//! assert_eq!(stop.measurement("output_tokens"), Some(4.0));
//! assert_eq!(stop.str("output.value"), Some("Rayleigh scattering."));
//! # Ok::<(), std::io::Error>(())
//! ```

mod backend;
mod cache;
mod call;
mod current;
mod embedding;
mod future;
mod generation;
mod hash;
mod level;
pub mod names;
mod provider;
mod request;
mod request_span;
mod simulated;
mod stream;

pub use backend::{
    BackendError, BackendStream, InferenceBackend, InstrumentedBackend, TextChunk, TokenIter,
};
pub use cache::CacheTelemetry;
pub use embedding::EmbeddingSpan;
pub use future::TracedFuture;
pub use generation::GenerationSpan;
pub use hash::{HexHash, KeyHasher};
pub use level::{ParseLevelError, TelemetryLevel};
pub use provider::{ProviderRequestSpan, error_type_for_status};
pub use request::{
    ChatMessage, ChatRequest, Completion, EmbedRequest, Embeddings, FinishReason, GenerateRequest,
    GenerationOptions, Pooling, Role,
};
pub use request_span::RequestSpan;
pub use simulated::{LatencyProfile, SimulatedBackend, SimulatedError};
pub use stream::{StreamItem, TracedStream, TracedTokens};

use llm_telemetry_core::bus::Bus;
use llm_telemetry_core::name::EventName;
use llm_telemetry_core::span::SpanName;

/// The handle every helper hangs off: where to emit, how much, and how to hash cache keys.
///
/// ```
/// use llm_telemetry_core::Bus;
/// use llm_telemetry_genai::instrument::{Instrumentation, TelemetryLevel};
/// let telemetry = Instrumentation::new(&Bus::new(), TelemetryLevel::Basic);
/// assert_eq!(telemetry.level(), TelemetryLevel::Basic);
/// ```
#[derive(Clone, Debug)]
pub struct Instrumentation {
    bus: Bus,
    level: TelemetryLevel,
    key_hasher: KeyHasher,
}

impl Instrumentation {
    /// Emits on `bus` at `level`, hashing cache keys with [`KeyHasher::stable`].
    pub fn new(bus: &Bus, level: TelemetryLevel) -> Self {
        crate::catalog::register_categories();
        Self {
            bus: bus.clone(),
            level,
            key_hasher: KeyHasher::stable(),
        }
    }

    /// Emits on [`Bus::global`] at `level`.
    pub fn global(level: TelemetryLevel) -> Self {
        Self::new(Bus::global(), level)
    }

    /// The same handle at another level.
    pub fn with_level(mut self, level: TelemetryLevel) -> Self {
        self.level = level;
        self
    }

    /// The same handle hashing cache keys with `hasher` (e.g. a secret-keyed one).
    pub fn with_key_hasher(mut self, hasher: KeyHasher) -> Self {
        self.key_hasher = hasher;
        self
    }

    /// The bus it emits on.
    pub fn bus(&self) -> &Bus {
        &self.bus
    }

    /// The level it emits at.
    pub fn level(&self) -> TelemetryLevel {
        self.level
    }

    /// The hasher cache keys go through.
    pub fn key_hasher(&self) -> &KeyHasher {
        &self.key_hasher
    }

    /// Whether the level is enabled and someone listens to `name`.
    #[inline]
    pub fn is_listening<N: Into<EventName>>(&self, name: N) -> bool {
        self.level.is_enabled() && self.bus.is_listening(name)
    }

    /// Whether the level is enabled and someone listens to any of the span's three events.
    #[inline]
    pub fn is_listening_span<N: Into<SpanName>>(&self, name: N) -> bool {
        let name = name.into();
        self.level.is_enabled()
            && (self.bus.is_listening(name.start)
                || self.bus.is_listening(name.stop)
                || self.bus.is_listening(name.exception))
    }
}
