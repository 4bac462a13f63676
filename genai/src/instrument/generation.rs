//! Generation and chat spans: [`GenerationSpan`] and the [`Instrumentation`] methods that start
//! one (`llm.generate.*`, `llm.chat.*`).
//!
//! Start metadata: `gen_ai.operation.name`, provider, model, tenant, `streaming`, the sampling
//! parameters and (at `detailed`) the prompt as `input.value`. Stop adds `input_tokens`,
//! `output_tokens`, `total_tokens`, `prompt_length`, `response_length`, `tokens_per_second`, the
//! prompt-cache and reasoning token counts when non-zero, the finish reason, `status = "ok"` and
//! (at `detailed`) the response as `output.value`. Streaming (`GenerationSpan::stream`,
//! `Instrumentation::stream_generate`) lives with its wrappers in `stream.rs`.

use std::fmt;
use std::time::Instant;

use smallvec::SmallVec;

use super::Instrumentation;
use super::call::{Call, Traced, run_traced};
use super::level::TelemetryLevel;
use super::names::{LLM_STREAM_TOKEN, OPERATION_CHAT, OPERATION_TEXT_COMPLETION};
use super::request::{ChatRequest, Completion, FinishReason, GenerateRequest, GenerationOptions};
use crate::catalog::{self, keys};
use llm_telemetry_core::bus::Bus;
use llm_telemetry_core::context::ContextGuard;
use llm_telemetry_core::event::Value;
use llm_telemetry_core::span::StaticSpanName;

/// What a generation needs to label its stream events (`llm.stream.first_token`,
/// `llm.stream.token`); kept only when someone listens to them.
#[derive(Debug)]
pub(crate) struct StreamLabels {
    pub(crate) bus: Bus,
    pub(crate) model: String,
    pub(crate) provider: Option<String>,
    pub(crate) tenant: Option<String>,
}

/// A generation or chat span in progress. End it with [`GenerationSpan::finish`] or
/// [`GenerationSpan::fail`], or hand it to [`GenerationSpan::stream`]; dropping it unfinished
/// emits stop with `status = "cancelled"`.
///
/// Start metadata: `gen_ai.operation.name` (`text_completion` or `chat`), `gen_ai.provider.name`,
/// `gen_ai.request.model`, `tenant`, `streaming`, `gen_ai.request.{max_tokens, temperature,
/// top_p, seed, stop_sequences}` and, at `detailed`, `input.value`. The stop event repeats them
/// and adds `input_tokens`, `output_tokens`, `total_tokens`, `prompt_length`, `response_length`
/// (characters), `tokens_per_second`, non-zero `cache_read_tokens` / `cache_write_tokens` /
/// `reasoning_tokens`, `gen_ai.response.finish_reasons`, `gen_ai.response.model`,
/// `status = "ok"` and, at `detailed`, `output.value`.
///
/// ```
/// use llm_telemetry_core::{Bus, testing::Capture};
/// use llm_telemetry_genai::instrument::{ChatMessage, ChatRequest, Completion, Instrumentation, TelemetryLevel};
///
/// let bus = Bus::new();
/// let capture = Capture::attach(&bus, ["llm.chat.*"]).unwrap();
/// let telemetry = Instrumentation::new(&bus, TelemetryLevel::Basic);
/// let request = ChatRequest::new("gpt-4o-mini", vec![ChatMessage::user("Hi")]).tenant("acme");
///
/// let span = telemetry.start_chat(&request);
/// // ... call the model (with `span.enter()` held, nested events become children) ...
/// span.finish(&Completion::new("Hello!", 9, 3));
///
/// let stop = &capture.named("llm.chat.stop")[0];
/// assert_eq!(stop.measurement("total_tokens"), Some(12.0));
/// assert_eq!(stop.str("output.value"), None, "basic records no content");
/// ```
#[derive(Debug)]
pub struct GenerationSpan {
    pub(crate) call: Call,
    pub(crate) level: TelemetryLevel,
    pub(crate) max_tokens: Option<u32>,
    pub(crate) input_tokens: Option<u64>,
    /// When the span started, kept when the span or a stream event is listened to.
    pub(crate) started: Option<Instant>,
    /// Present when `llm.stream.first_token` (or, at `verbose`, `llm.stream.token`) is listened to.
    pub(crate) stream_labels: Option<Box<StreamLabels>>,
}

/// Which input a generation span records.
enum Input<'a> {
    Prompt(&'a str),
    Chat(&'a ChatRequest),
}

impl GenerationSpan {
    fn start(
        telemetry: &Instrumentation,
        name: &StaticSpanName,
        operation: &'static str,
        options: &GenerationOptions,
        input: Input<'_>,
        default_provider: Option<&str>,
        force_streaming: bool,
    ) -> Self {
        let level = telemetry.level();
        let provider = options.provider.as_deref().or(default_provider);
        let mut span = GenerationSpan {
            call: Call::none(),
            level,
            max_tokens: options.max_tokens,
            input_tokens: None,
            started: None,
            stream_labels: None,
        };
        if !level.is_enabled() {
            return span;
        }
        let bus = telemetry.bus();
        if bus.is_listening(&catalog::LLM_STREAM_FIRST_TOKEN)
            || (level.records_tokens() && bus.is_listening(&LLM_STREAM_TOKEN))
        {
            span.stream_labels = Some(Box::new(StreamLabels {
                bus: bus.clone(),
                model: options.model.clone(),
                provider: provider.map(str::to_owned),
                tenant: options.tenant.clone(),
            }));
        }
        if telemetry.is_listening_span(name) {
            let stop_sequences = (!options.stop.is_empty()).then(|| options.stop.join("\n"));
            let (chat_text, chat_messages) = match (&input, level.records_content()) {
                (Input::Chat(chat), true) => (Some(chat.prompt_text()), Some(chat.messages_json())),
                _ => (None, None),
            };
            let mut metadata: SmallVec<[(&'static str, Value<'_>); 16]> = SmallVec::new();
            metadata.push((keys::OPERATION, Value::Str(operation)));
            if let Some(provider) = provider {
                metadata.push((keys::PROVIDER, Value::Str(provider)));
            }
            metadata.push((keys::MODEL, Value::Str(&options.model)));
            if let Some(tenant) = &options.tenant {
                metadata.push((keys::TENANT, Value::Str(tenant)));
            }
            metadata.push((
                keys::STREAMING,
                Value::Bool(options.streaming || force_streaming),
            ));
            if let Some(max_tokens) = options.max_tokens {
                metadata.push((keys::MAX_TOKENS, Value::from(max_tokens)));
            }
            if let Some(temperature) = options.temperature {
                metadata.push((keys::TEMPERATURE, Value::Float(temperature)));
            }
            if let Some(top_p) = options.top_p {
                metadata.push((keys::TOP_P, Value::Float(top_p)));
            }
            if let Some(seed) = options.seed {
                metadata.push((keys::SEED, Value::from(seed)));
            }
            if let Some(device) = &options.device {
                metadata.push((keys::DEVICE, Value::Str(device)));
            }
            if let Some(stop) = &stop_sequences {
                metadata.push((keys::STOP_SEQUENCES, Value::Str(stop)));
            }
            if level.records_content() {
                let text = match (&input, &chat_text) {
                    (Input::Prompt(prompt), _) => prompt,
                    (Input::Chat(_), Some(text)) => text.as_str(),
                    (Input::Chat(_), None) => "",
                };
                metadata.push((keys::INPUT, Value::Str(text)));
                if let Some(messages) = &chat_messages {
                    metadata.push((keys::INPUT_MESSAGES, Value::Str(messages)));
                }
            }
            let prompt_length = match input {
                Input::Prompt(prompt) => prompt.chars().count(),
                Input::Chat(chat) => chat.prompt_length(),
            };
            span.call = Call::from_span(bus.start_span(name, &metadata));
            if let Some(recorder) = span.call.recorder() {
                recorder.measure(keys::PROMPT_LENGTH, prompt_length as f64);
            }
        }
        if span.call.is_recording() || span.stream_labels.is_some() {
            span.started = Some(
                span.call
                    .span
                    .as_ref()
                    .and_then(|s| s.started())
                    .unwrap_or_else(Instant::now),
            );
        }
        span
    }

    crate::instrument::call::call_accessors!();

    /// Records the prompt's token count ahead of the end (for streams, whose items carry only
    /// output tokens).
    pub fn set_input_tokens(&mut self, input_tokens: u64) {
        self.input_tokens = Some(input_tokens);
    }

    /// Records the token counts on the recorder (once, at the end).
    pub(crate) fn record_tokens(&mut self, output_tokens: u64) {
        let input_tokens = self.input_tokens;
        if let Some(recorder) = self.call.recorder() {
            if let Some(input) = input_tokens {
                recorder.measure(keys::INPUT_TOKENS, input as f64);
            }
            recorder.measure(keys::OUTPUT_TOKENS, output_tokens as f64);
            if let Some(input) = input_tokens {
                recorder.measure(
                    keys::TOTAL_TOKENS,
                    input.saturating_add(output_tokens) as f64,
                );
            }
        }
    }

    /// Records the response text and its length (the text only at `detailed` and above).
    pub(crate) fn record_response(&mut self, text: Option<&str>, length: usize) {
        let content = self.level.records_content();
        if let Some(recorder) = self.call.recorder() {
            recorder.measure(keys::RESPONSE_LENGTH, length as f64);
            match text {
                Some(text) if content => recorder.set(keys::OUTPUT, text),
                _ => {}
            }
        }
    }

    /// Ends the span with stop: the completion's token counts, lengths, finish reason and (at
    /// `detailed`) text, plus `status = "ok"`.
    pub fn finish(mut self, completion: &Completion) {
        if !self.call.is_recording() {
            return;
        }
        self.input_tokens = Some(completion.input_tokens);
        self.record_tokens(completion.output_tokens);
        self.record_response(Some(&completion.text), completion.text.chars().count());
        let elapsed = self.started.map(|s| s.elapsed().as_secs_f64());
        if let Some(recorder) = self.call.recorder() {
            if let Some(seconds) = elapsed.filter(|s| *s > 0.0) {
                recorder.measure(
                    keys::TOKENS_PER_SECOND,
                    completion.output_tokens as f64 / seconds,
                );
            }
            for (key, count) in [
                (keys::CACHE_READ_TOKENS, completion.cache_read_tokens),
                (keys::CACHE_WRITE_TOKENS, completion.cache_write_tokens),
                (keys::REASONING_TOKENS, completion.reasoning_tokens),
            ] {
                if count > 0 {
                    recorder.measure(key, count as f64);
                }
            }
            recorder.set(keys::FINISH_REASONS, completion.finish_reason.as_str());
            if let Some(model) = &completion.response_model {
                recorder.set(keys::RESPONSE_MODEL, model);
            }
        }
        self.call.stop_ok();
    }

    crate::instrument::call::call_failures!();

    /// The finish reason of a stream that reached its end: `length` when it produced
    /// `max_tokens`, `stop` otherwise.
    pub(crate) fn finish_reason_for(&self, output_tokens: u64) -> FinishReason {
        match self.max_tokens {
            Some(max) if output_tokens >= u64::from(max) => FinishReason::Length,
            _ => FinishReason::Stop,
        }
    }
}

impl Traced for GenerationSpan {
    fn enter_span(&self) -> ContextGuard {
        self.enter()
    }
    fn fail_span(mut self, error_type: &str, exception_type: &str, message: &str) {
        self.call.fail(error_type, exception_type, message);
    }
}

impl Instrumentation {
    /// Starts an `llm.generate` span for `request`.
    pub fn start_generate(&self, request: &GenerateRequest) -> GenerationSpan {
        self.start_generate_as(request, None, false)
    }

    /// Starts an `llm.generate` span, naming `default_provider` when the request names none,
    /// and marking it streamed when `streaming` is true.
    pub(crate) fn start_generate_as(
        &self,
        request: &GenerateRequest,
        default_provider: Option<&str>,
        streaming: bool,
    ) -> GenerationSpan {
        GenerationSpan::start(
            self,
            &catalog::LLM_GENERATE,
            OPERATION_TEXT_COMPLETION,
            &request.options,
            Input::Prompt(&request.prompt),
            default_provider,
            streaming,
        )
    }

    /// Starts an `llm.chat` span for `request`.
    pub fn start_chat(&self, request: &ChatRequest) -> GenerationSpan {
        self.start_chat_as(request, None)
    }

    pub(crate) fn start_chat_as(
        &self,
        request: &ChatRequest,
        default_provider: Option<&str>,
    ) -> GenerationSpan {
        GenerationSpan::start(
            self,
            &catalog::LLM_CHAT,
            OPERATION_CHAT,
            &request.options,
            Input::Chat(request),
            default_provider,
            false,
        )
    }

    /// Runs `f` inside an `llm.generate` span: `Ok(completion)` ends it with stop,
    /// `Err` (or a panic) with exception.
    ///
    /// ```
    /// use llm_telemetry_core::Bus;
    /// use llm_telemetry_genai::instrument::{Completion, GenerateRequest, Instrumentation, TelemetryLevel};
    /// let telemetry = Instrumentation::new(&Bus::new(), TelemetryLevel::Basic);
    /// let request = GenerateRequest::new("m", "p");
    /// let out = telemetry.generate(&request, || Ok::<_, String>(Completion::new("x", 1, 1)));
    /// assert_eq!(out.unwrap().text, "x");
    /// ```
    pub fn generate<E: fmt::Display>(
        &self,
        request: &GenerateRequest,
        f: impl FnOnce() -> Result<Completion, E>,
    ) -> Result<Completion, E> {
        run_traced(self.start_generate(request), f, |span, completion| {
            span.finish(completion)
        })
    }

    /// Runs `f` inside an `llm.chat` span, like [`Instrumentation::generate`].
    pub fn chat<E: fmt::Display>(
        &self,
        request: &ChatRequest,
        f: impl FnOnce() -> Result<Completion, E>,
    ) -> Result<Completion, E> {
        run_traced(self.start_chat(request), f, |span, completion| {
            span.finish(completion)
        })
    }
}
