//! Embedding spans: [`EmbeddingSpan`] and the [`Instrumentation`] methods that start one
//! (`llm.embed.*`).
//!
//! Start metadata: `gen_ai.operation.name = "embeddings"`, provider, model, tenant,
//! `embedding.is_query`, the requested pooling and (at `detailed`) the inputs joined by newlines
//! as `input.value`. Stop adds `dimension`, `batch_size`, `input_tokens`, `prompt_length` (the
//! inputs' total characters), the pooling actually used and `status = "ok"`.

use std::fmt;

use smallvec::SmallVec;

use super::Instrumentation;
use super::call::{Call, Traced, run_traced};
use super::names::OPERATION_EMBEDDINGS;
use super::request::{EmbedRequest, Embeddings};
use crate::catalog::{self, keys};
use llm_telemetry_core::context::ContextGuard;
use llm_telemetry_core::event::Value;

/// An embedding span in progress. End it with [`EmbeddingSpan::finish`] or
/// [`EmbeddingSpan::fail`]; dropping it unfinished emits stop with `status = "cancelled"`.
///
/// Start metadata: `gen_ai.operation.name = "embeddings"`, provider, model, `tenant`,
/// `embedding.is_query`, the requested `embedding.pooling` and, at `detailed`, the inputs joined
/// by newlines as `input.value`. The stop event adds `dimension`, `batch_size`, `input_tokens`,
/// `prompt_length`, the pooling actually used and `status = "ok"`.
///
/// ```
/// use llm_telemetry_core::{Bus, testing::Capture};
/// use llm_telemetry_genai::instrument::{EmbedRequest, Embeddings, Instrumentation, Pooling, TelemetryLevel};
/// let bus = Bus::new();
/// let capture = Capture::attach(&bus, ["llm.embed.stop"]).unwrap();
/// let telemetry = Instrumentation::new(&bus, TelemetryLevel::Basic);
///
/// let request = EmbedRequest::new("bge-small", ["a query"]).query(true);
/// let span = telemetry.start_embed(&request);
/// span.finish(&Embeddings { vectors: vec![vec![0.0; 384]], input_tokens: 3, pooling: Pooling::Cls });
///
/// let stop = &capture.events()[0];
/// assert_eq!(stop.measurement("dimension"), Some(384.0));
/// assert_eq!(stop.str("embedding.pooling"), Some("cls"));
/// ```
#[derive(Debug)]
pub struct EmbeddingSpan {
    call: Call,
}

impl EmbeddingSpan {
    fn start(
        telemetry: &Instrumentation,
        request: &EmbedRequest,
        default_provider: Option<&str>,
    ) -> Self {
        if !telemetry.is_listening_span(&catalog::LLM_EMBED) {
            return Self { call: Call::none() };
        }
        let level = telemetry.level();
        let joined = level.records_content().then(|| request.inputs.join("\n"));
        let mut metadata: SmallVec<[(&'static str, Value<'_>); 10]> = SmallVec::new();
        metadata.push((keys::OPERATION, Value::Str(OPERATION_EMBEDDINGS)));
        if let Some(provider) = request.provider.as_deref().or(default_provider) {
            metadata.push((keys::PROVIDER, Value::Str(provider)));
        }
        metadata.push((keys::MODEL, Value::Str(&request.model)));
        if let Some(tenant) = &request.tenant {
            metadata.push((keys::TENANT, Value::Str(tenant)));
        }
        metadata.push((keys::IS_QUERY, Value::Bool(request.is_query)));
        if let Some(pooling) = request.pooling {
            metadata.push((keys::POOLING, Value::Str(pooling.as_str())));
        }
        if let Some(device) = &request.device {
            metadata.push((keys::DEVICE, Value::Str(device)));
        }
        if let Some(text) = &joined {
            metadata.push((keys::INPUT, Value::Str(text)));
        }
        let mut call = Call::from_span(telemetry.bus().start_span(&catalog::LLM_EMBED, &metadata));
        if let Some(recorder) = call.recorder() {
            recorder.measure(keys::BATCH_SIZE, request.batch_size() as f64);
            recorder.measure(keys::PROMPT_LENGTH, request.input_length() as f64);
        }
        Self { call }
    }

    crate::instrument::call::call_accessors!();

    /// Ends the span with stop: `dimension`, `input_tokens`, the pooling used, `status = "ok"`.
    pub fn finish(mut self, embeddings: &Embeddings) {
        if let Some(recorder) = self.call.recorder() {
            recorder.measure(keys::DIMENSION, embeddings.dimension() as f64);
            recorder.measure(keys::INPUT_TOKENS, embeddings.input_tokens as f64);
            recorder.set(keys::POOLING, embeddings.pooling.as_str());
        }
        self.call.stop_ok();
    }

    crate::instrument::call::call_failures!();
}

impl Traced for EmbeddingSpan {
    fn enter_span(&self) -> ContextGuard {
        self.enter()
    }
    fn fail_span(mut self, error_type: &str, exception_type: &str, message: &str) {
        self.call.fail(error_type, exception_type, message);
    }
}

impl Instrumentation {
    /// Starts an `llm.embed` span for `request`.
    pub fn start_embed(&self, request: &EmbedRequest) -> EmbeddingSpan {
        EmbeddingSpan::start(self, request, None)
    }

    pub(crate) fn start_embed_as(
        &self,
        request: &EmbedRequest,
        default_provider: Option<&str>,
    ) -> EmbeddingSpan {
        EmbeddingSpan::start(self, request, default_provider)
    }

    /// Runs `f` inside an `llm.embed` span: `Ok(embeddings)` ends it with stop, `Err` (or a
    /// panic) with exception.
    pub fn embed<E: fmt::Display>(
        &self,
        request: &EmbedRequest,
        f: impl FnOnce() -> Result<Embeddings, E>,
    ) -> Result<Embeddings, E> {
        run_traced(self.start_embed(request), f, |span, embeddings| {
            span.finish(embeddings)
        })
    }
}
