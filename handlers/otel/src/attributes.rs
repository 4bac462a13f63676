//! Attribute conventions: how one stop or exception event's measurements and metadata become span
//! attributes in OpenInference (Phoenix), OpenTelemetry GenAI and the MLX seed systems' set, each
//! switchable, plus privacy (redaction and truncation of `input.value` / `output.value`) and
//! secrets: a value under a key that names one (`api_key`, `authorization`, …) is replaced by
//! `[REDACTED]`, and secrets inside strings (bearer tokens, `sk-…` keys, …) are cut out, with the
//! log handler's rules ([`llm_telemetry_genai::redact`]).
//!
//! The core's keys (`catalog::keys`) are the input; the attribute names written here are the
//! conventions' own and are listed in [`names`]. The `tenant` metadata is `tenant.id`, on every
//! span of a trace (inherited from the root through the context's baggage unless the span names
//! its own). Metadata keys this module does not map (`status`, `cache.name`, `service.name`, a
//! user's own keys, …) pass through under their own names.

use std::sync::OnceLock;

use llm_telemetry_core::Value;
use llm_telemetry_genai::catalog::keys;
use llm_telemetry_genai::redact::SecretRules;
use opentelemetry::{Array, KeyValue, StringValue};

use crate::config::{Conventions, Privacy};
use crate::fields::Fields;

/// The attribute names written (the names other crates and dashboards match).
pub mod names {
    /// OpenInference span kind: `LLM`, `EMBEDDING`, `CHAIN`.
    pub const OI_SPAN_KIND: &str = "openinference.span.kind";
    /// OpenInference model.
    pub const LLM_MODEL_NAME: &str = "llm.model_name";
    /// OpenInference provider.
    pub const LLM_PROVIDER: &str = "llm.provider";
    /// OpenInference system (the provider, as older OpenInference versions call it).
    pub const LLM_SYSTEM: &str = "llm.system";
    /// Prompt tokens.
    pub const LLM_TOKEN_COUNT_PROMPT: &str = "llm.token_count.prompt";
    /// Completion tokens.
    pub const LLM_TOKEN_COUNT_COMPLETION: &str = "llm.token_count.completion";
    /// Prompt + completion tokens.
    pub const LLM_TOKEN_COUNT_TOTAL: &str = "llm.token_count.total";
    /// Prompt tokens read from the provider's cache.
    pub const LLM_TOKEN_COUNT_CACHE_READ: &str = "llm.token_count.prompt_details.cache_read";
    /// Prompt tokens written to the provider's cache.
    pub const LLM_TOKEN_COUNT_CACHE_WRITE: &str = "llm.token_count.prompt_details.cache_write";
    /// Reasoning tokens.
    pub const LLM_TOKEN_COUNT_REASONING: &str = "llm.token_count.completion_details.reasoning";
    /// Request parameters as a JSON object.
    pub const LLM_INVOCATION_PARAMETERS: &str = "llm.invocation_parameters";
    /// OpenInference input messages: `llm.input_messages.N.message.role` / `.message.content`.
    pub const LLM_INPUT_MESSAGES: &str = "llm.input_messages";
    /// OpenInference output messages: `llm.output_messages.N.message.role` / `.message.content`.
    pub const LLM_OUTPUT_MESSAGES: &str = "llm.output_messages";
    /// A message's role, under a message index.
    pub const MESSAGE_ROLE: &str = "message.role";
    /// A message's text, under a message index.
    pub const MESSAGE_CONTENT: &str = "message.content";
    /// GenAI's chat input as JSON (hidden with the inputs).
    pub const GEN_AI_INPUT_MESSAGES: &str = "gen_ai.input.messages";
    /// Total cost in US dollars.
    pub const LLM_COST_TOTAL: &str = "llm.cost.total";
    /// The input text.
    pub const INPUT_VALUE: &str = "input.value";
    /// `text/plain` or `application/json`.
    pub const INPUT_MIME_TYPE: &str = "input.mime_type";
    /// The output text.
    pub const OUTPUT_VALUE: &str = "output.value";
    /// `text/plain` or `application/json`.
    pub const OUTPUT_MIME_TYPE: &str = "output.mime_type";
    /// The embedding model.
    pub const EMBEDDING_MODEL_NAME: &str = "embedding.model_name";
    /// GenAI operation.
    pub const GEN_AI_OPERATION_NAME: &str = "gen_ai.operation.name";
    /// GenAI provider.
    pub const GEN_AI_PROVIDER_NAME: &str = "gen_ai.provider.name";
    /// GenAI requested model.
    pub const GEN_AI_REQUEST_MODEL: &str = "gen_ai.request.model";
    /// GenAI answering model.
    pub const GEN_AI_RESPONSE_MODEL: &str = "gen_ai.response.model";
    /// GenAI max tokens.
    pub const GEN_AI_REQUEST_MAX_TOKENS: &str = "gen_ai.request.max_tokens";
    /// GenAI temperature.
    pub const GEN_AI_REQUEST_TEMPERATURE: &str = "gen_ai.request.temperature";
    /// GenAI top_p.
    pub const GEN_AI_REQUEST_TOP_P: &str = "gen_ai.request.top_p";
    /// GenAI seed.
    pub const GEN_AI_REQUEST_SEED: &str = "gen_ai.request.seed";
    /// GenAI stop sequences (string array).
    pub const GEN_AI_REQUEST_STOP_SEQUENCES: &str = "gen_ai.request.stop_sequences";
    /// GenAI input tokens.
    pub const GEN_AI_USAGE_INPUT_TOKENS: &str = "gen_ai.usage.input_tokens";
    /// GenAI output tokens.
    pub const GEN_AI_USAGE_OUTPUT_TOKENS: &str = "gen_ai.usage.output_tokens";
    /// GenAI finish reasons (string array).
    pub const GEN_AI_RESPONSE_FINISH_REASONS: &str = "gen_ai.response.finish_reasons";
    /// GenAI embedding dimension.
    pub const GEN_AI_EMBEDDINGS_DIMENSION_COUNT: &str = "gen_ai.embeddings.dimension.count";
    /// The error class of a failed span.
    pub const ERROR_TYPE: &str = "error.type";
    /// The tenant: the span's own, else its trace's (from the root span, through the baggage).
    pub const TENANT_ID: &str = "tenant.id";
    /// MLX: the model id.
    pub const MLX_MODEL_ID: &str = "mlx.model_id";
    /// MLX: the device (`gpu`, `cpu`).
    pub const MLX_DEVICE: &str = "mlx.device";
    /// MLX: wall time of the call in milliseconds.
    pub const MLX_LATENCY_MS: &str = "mlx.latency_ms";
    /// MLX: output tokens per second.
    pub const MLX_TOKENS_PER_SECOND: &str = "mlx.tokens_per_second";
    /// MLX: time to first token in milliseconds.
    pub const MLX_TIME_TO_FIRST_TOKEN_MS: &str = "mlx.time_to_first_token_ms";
    /// MLX: whether the response was streamed.
    pub const MLX_STREAMING: &str = "mlx.streaming";
    /// MLX: prompt length in characters.
    pub const GEN_AI_PROMPT_LENGTH: &str = "gen_ai.prompt.length";
    /// MLX: response length in characters.
    pub const GEN_AI_RESPONSE_LENGTH: &str = "gen_ai.response.length";
    /// MLX: embedding dimension.
    pub const EMBEDDING_DIMENSION: &str = "embedding.dimension";
    /// MLX: the pooling used.
    pub const EMBEDDING_POOLING_USED: &str = "embedding.pooling_used";
    /// PMD: the pooling asked for (beside [`EMBEDDING_POOLING_USED`]).
    pub const EMBEDDING_POOLING_STRATEGY: &str = "embedding.pooling_strategy";
    /// PMD: the embedded input's length in characters.
    pub const EMBEDDING_INPUT_LENGTH: &str = "embedding.input_length";
    /// PMD: the sampling seed (beside GenAI's [`GEN_AI_REQUEST_SEED`]).
    pub const GEN_AI_SEED: &str = "gen_ai.seed";
    /// PMD: whether the generation was streamed (beside [`MLX_STREAMING`]).
    pub const GEN_AI_STREAMING: &str = "gen_ai.streaming";
    /// PMD: the tokens generated (beside GenAI's `gen_ai.usage.output_tokens`).
    pub const GEN_AI_RESPONSE_TOKEN_COUNT: &str = "gen_ai.response.token_count";
    /// MLX: inputs in the batch.
    pub const EMBEDDING_BATCH_SIZE: &str = "embedding.batch_size";
    /// MLX: whether the input is a query.
    pub const EMBEDDING_IS_QUERY: &str = "embedding.is_query";
    /// The replacement of hidden content.
    pub const REDACTED: &str = "__REDACTED__";
}

use names::*;

/// What kind of work a span is, from its event prefix and operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SpanKindOi {
    /// A model call producing text.
    Llm,
    /// An embedding call.
    Embedding,
    /// Anything else (a request grouping calls, a provider request, a cache operation).
    Chain,
}

impl SpanKindOi {
    /// The OpenInference value.
    pub fn as_str(self) -> &'static str {
        match self {
            SpanKindOi::Llm => "LLM",
            SpanKindOi::Embedding => "EMBEDDING",
            SpanKindOi::Chain => "CHAIN",
        }
    }
}

/// The GenAI operation of a span: metadata `gen_ai.operation.name`, else from the event prefix.
pub(crate) fn operation<'a>(prefix: &'static str, fields: &Fields<'_, 'a>) -> Option<&'a str> {
    if let Some(op) = fields.str(keys::OPERATION) {
        return Some(op);
    }
    match prefix {
        "llm.chat" => Some("chat"),
        "llm.generate" => Some("text_completion"),
        "llm.embed" => Some("embeddings"),
        _ => None,
    }
}

/// The OpenInference kind of an operation: the GenAI model operations are `LLM` (or `EMBEDDING`);
/// anything else (an application operation such as `hybrid_search` on an `llm.request` span, or
/// no operation at all) groups other calls, so it is a `CHAIN`.
pub fn kind_of(operation: Option<&str>) -> SpanKindOi {
    match operation {
        Some("embeddings") => SpanKindOi::Embedding,
        Some("chat" | "text_completion" | "generate_content" | "completion") => SpanKindOi::Llm,
        _ => SpanKindOi::Chain,
    }
}

/// Whether this module maps `key` itself (everything else passes through).
fn is_mapped(key: &str) -> bool {
    matches!(
        key,
        keys::INPUT
            | keys::OUTPUT
            | keys::EXCEPTION_TYPE
            | keys::EXCEPTION_MESSAGE
            | keys::PROVIDER
            | keys::MODEL
            | keys::RESPONSE_MODEL
            | keys::OPERATION
            | keys::MAX_TOKENS
            | keys::TEMPERATURE
            | keys::TOP_P
            | keys::SEED
            | keys::STOP_SEQUENCES
            | keys::FINISH_REASONS
            | keys::POOLING
            | keys::DEVICE
            | keys::IS_QUERY
            | keys::ERROR_TYPE
            | keys::TENANT
            | keys::INPUT_MESSAGES
    )
}

/// Builds the attributes of one span.
pub(crate) struct AttributeWriter<'c> {
    pub conventions: &'c Conventions,
    pub privacy: &'c Privacy,
}

impl AttributeWriter<'_> {
    /// Every attribute of the span for `event`, whose GenAI operation is `operation`.
    pub fn write(
        &self,
        f: &Fields<'_, '_>,
        operation: Option<&str>,
        failed: bool,
    ) -> Vec<KeyValue> {
        let event = f.event();
        let mut out: Vec<KeyValue> = Vec::with_capacity(24);
        let kind = kind_of(operation);
        let provider = f.str(keys::PROVIDER);
        let request_model = f.str(keys::MODEL);
        let response_model = f.str(keys::RESPONSE_MODEL);
        let input_tokens = f.measurement(keys::INPUT_TOKENS);
        let output_tokens = f.measurement(keys::OUTPUT_TOKENS);
        let input = f.str(keys::INPUT);
        let output = f.str(keys::OUTPUT);

        // Pass-through metadata (tenant, status, streaming, cache.name, users' own keys).
        let metadata = event.metadata();
        for (i, (key, value)) in metadata.iter().enumerate() {
            if is_mapped(key) {
                continue;
            }
            // The last value of a repeated key wins, as `Event::value` does.
            if metadata[i + 1..]
                .iter()
                .any(|(k, _)| std::ptr::eq(*k, *key) || k == key)
            {
                continue;
            }
            out.push(KeyValue::new(*key, attribute_value(key, value)));
        }
        let tenant = f
            .str(keys::TENANT)
            .or_else(|| event.span().and_then(|c| c.baggage.get(keys::TENANT)));
        if let Some(tenant) = tenant.map(str::trim).filter(|t| !t.is_empty()) {
            out.push(KeyValue::new(TENANT_ID, shared(tenant)));
        }
        if let Some(error_type) = f.str(keys::ERROR_TYPE) {
            out.push(KeyValue::new(ERROR_TYPE, shared(error_type)));
        } else if failed && let Some(t) = f.str(keys::EXCEPTION_TYPE) {
            out.push(KeyValue::new(ERROR_TYPE, shared(t)));
        }

        if self.conventions.openinference {
            out.push(KeyValue::new(OI_SPAN_KIND, kind.as_str()));
            if operation.is_some()
                && let Some(model) = response_model.or(request_model)
            {
                let key = if kind == SpanKindOi::Embedding {
                    EMBEDDING_MODEL_NAME
                } else {
                    LLM_MODEL_NAME
                };
                out.push(KeyValue::new(key, shared(model)));
            }
            // OpenInference defines both for LLM spans only, each with its own values.
            if kind != SpanKindOi::Embedding
                && let Some(p) = provider
            {
                out.push(KeyValue::new(LLM_PROVIDER, shared(oi_provider(p))));
                out.push(KeyValue::new(LLM_SYSTEM, shared(oi_system(p))));
            }
            push_count(&mut out, LLM_TOKEN_COUNT_PROMPT, input_tokens);
            push_count(&mut out, LLM_TOKEN_COUNT_COMPLETION, output_tokens);
            let total = f
                .measurement(keys::TOTAL_TOKENS)
                .or(match (input_tokens, output_tokens) {
                    (None, None) => None,
                    (a, b) => Some(a.unwrap_or(0.0) + b.unwrap_or(0.0)),
                });
            push_count(&mut out, LLM_TOKEN_COUNT_TOTAL, total);
            push_count(
                &mut out,
                LLM_TOKEN_COUNT_CACHE_READ,
                f.measurement(keys::CACHE_READ_TOKENS),
            );
            push_count(
                &mut out,
                LLM_TOKEN_COUNT_CACHE_WRITE,
                f.measurement(keys::CACHE_WRITE_TOKENS),
            );
            push_count(
                &mut out,
                LLM_TOKEN_COUNT_REASONING,
                f.measurement(keys::REASONING_TOKENS),
            );
            if let Some(params) = invocation_parameters(f) {
                out.push(KeyValue::new(LLM_INVOCATION_PARAMETERS, params));
            }
            if let Some(cost) = f.measurement(keys::COST_USD) {
                out.push(KeyValue::new(LLM_COST_TOTAL, cost));
            }
            if let Some(text) = input {
                let value = self.content(text, self.privacy.hide_inputs);
                out.push(KeyValue::new(INPUT_MIME_TYPE, mime_type(&value)));
                out.push(KeyValue::new(INPUT_VALUE, value));
            }
            // The answer, redacted once: `output.value` and the flattened assistant message
            // carry the same text.
            let output_value = output.map(|text| self.content(text, self.privacy.hide_outputs));
            if let Some(value) = &output_value {
                out.push(KeyValue::new(OUTPUT_MIME_TYPE, mime_type(value)));
                out.push(KeyValue::new(OUTPUT_VALUE, value.clone()));
            }
            if kind == SpanKindOi::Llm {
                self.messages(
                    &mut out,
                    f.str(keys::INPUT_MESSAGES),
                    output_value,
                    operation,
                );
            }
        }

        if self.conventions.genai {
            if let Some(op) = operation {
                out.push(KeyValue::new(GEN_AI_OPERATION_NAME, shared(op)));
            }
            if let Some(messages) = f.str(keys::INPUT_MESSAGES)
                && !self.privacy.hide_inputs
            {
                out.push(KeyValue::new(
                    GEN_AI_INPUT_MESSAGES,
                    secrets().redact_text(messages).into_owned(),
                ));
            }
            if let Some(p) = provider {
                out.push(KeyValue::new(GEN_AI_PROVIDER_NAME, shared(p)));
            }
            if let Some(m) = request_model {
                out.push(KeyValue::new(GEN_AI_REQUEST_MODEL, shared(m)));
            }
            if let Some(m) = response_model {
                out.push(KeyValue::new(GEN_AI_RESPONSE_MODEL, shared(m)));
            }
            if let Some(v) = f.value(keys::MAX_TOKENS).and_then(|v| v.as_i64()) {
                out.push(KeyValue::new(GEN_AI_REQUEST_MAX_TOKENS, v));
            }
            if let Some(v) = f.value(keys::TEMPERATURE).and_then(|v| v.as_f64()) {
                out.push(KeyValue::new(GEN_AI_REQUEST_TEMPERATURE, v));
            }
            if let Some(v) = f.value(keys::TOP_P).and_then(|v| v.as_f64()) {
                out.push(KeyValue::new(GEN_AI_REQUEST_TOP_P, v));
            }
            if let Some(v) = f.value(keys::SEED).and_then(|v| v.as_i64()) {
                out.push(KeyValue::new(GEN_AI_REQUEST_SEED, v));
            }
            if let Some(stops) = f.str(keys::STOP_SEQUENCES) {
                out.push(KeyValue::new(
                    GEN_AI_REQUEST_STOP_SEQUENCES,
                    string_array(stops.split('\n')),
                ));
            }
            push_count(&mut out, GEN_AI_USAGE_INPUT_TOKENS, input_tokens);
            push_count(&mut out, GEN_AI_USAGE_OUTPUT_TOKENS, output_tokens);
            if let Some(reasons) = f.str(keys::FINISH_REASONS) {
                out.push(KeyValue::new(
                    GEN_AI_RESPONSE_FINISH_REASONS,
                    string_array(reasons.split(',').map(str::trim).filter(|r| !r.is_empty())),
                ));
            }
            if kind == SpanKindOi::Embedding {
                push_count(
                    &mut out,
                    GEN_AI_EMBEDDINGS_DIMENSION_COUNT,
                    f.measurement(keys::DIMENSION),
                );
            }
        }

        if self.conventions.mlx && provider == Some("mlx") {
            if let Some(m) = request_model.or(response_model) {
                out.push(KeyValue::new(MLX_MODEL_ID, shared(m)));
            }
            if let Some(d) = f.str(keys::DEVICE) {
                out.push(KeyValue::new(MLX_DEVICE, shared(d)));
            }
            if let Some(d) = f.measurement(keys::DURATION) {
                out.push(KeyValue::new(MLX_LATENCY_MS, d / 1e6));
            }
            if let Some(t) = f.measurement(keys::TOKENS_PER_SECOND) {
                out.push(KeyValue::new(MLX_TOKENS_PER_SECOND, t));
            }
            if let Some(t) = f.measurement(keys::TIME_TO_FIRST_TOKEN) {
                out.push(KeyValue::new(MLX_TIME_TO_FIRST_TOKEN_MS, t / 1e6));
            }
            if let Some(s) = f.value(keys::STREAMING).and_then(|v| v.as_bool()) {
                out.push(KeyValue::new(MLX_STREAMING, s));
                out.push(KeyValue::new(GEN_AI_STREAMING, s));
            }
            if let Some(seed) = f.value(keys::SEED).and_then(|v| v.as_i64()) {
                out.push(KeyValue::new(GEN_AI_SEED, seed));
            }
            if kind != SpanKindOi::Embedding {
                push_count(
                    &mut out,
                    GEN_AI_RESPONSE_TOKEN_COUNT,
                    f.measurement(keys::OUTPUT_TOKENS),
                );
            }
            let prompt_len = f
                .measurement(keys::PROMPT_LENGTH)
                .or(input.map(|s| s.chars().count() as f64));
            push_count(&mut out, GEN_AI_PROMPT_LENGTH, prompt_len);
            let response_len = f
                .measurement(keys::RESPONSE_LENGTH)
                .or(output.map(|s| s.chars().count() as f64));
            push_count(&mut out, GEN_AI_RESPONSE_LENGTH, response_len);
            if kind == SpanKindOi::Embedding {
                push_count(
                    &mut out,
                    EMBEDDING_DIMENSION,
                    f.measurement(keys::DIMENSION),
                );
                push_count(
                    &mut out,
                    EMBEDDING_BATCH_SIZE,
                    f.measurement(keys::BATCH_SIZE),
                );
                if let Some(p) = f.str(keys::POOLING) {
                    out.push(KeyValue::new(EMBEDDING_POOLING_USED, shared(p)));
                    out.push(KeyValue::new(EMBEDDING_POOLING_STRATEGY, shared(p)));
                }
                push_count(&mut out, EMBEDDING_INPUT_LENGTH, prompt_len);
                if let Some(q) = f.value(keys::IS_QUERY).and_then(|v| v.as_bool()) {
                    out.push(KeyValue::new(EMBEDDING_IS_QUERY, q));
                }
            }
        }
        out
    }

    /// OpenInference's flattened messages of a chat: `llm.input_messages.N.message.{role,content}`
    /// from GenAI's `gen_ai.input.messages` JSON, and the answer (already redacted, as
    /// `output.value` carries it) as `llm.output_messages.0.message.{role,content}` (role
    /// `assistant`).
    fn messages(
        &self,
        out: &mut Vec<KeyValue>,
        input: Option<&str>,
        output: Option<String>,
        operation: Option<&str>,
    ) {
        if let Some(json) = input {
            for (i, (role, content)) in parse_messages(json).into_iter().enumerate() {
                out.push(KeyValue::new(
                    format!("{LLM_INPUT_MESSAGES}.{i}.{MESSAGE_ROLE}"),
                    role,
                ));
                out.push(KeyValue::new(
                    format!("{LLM_INPUT_MESSAGES}.{i}.{MESSAGE_CONTENT}"),
                    self.content(&content, self.privacy.hide_inputs),
                ));
            }
        }
        if operation == Some("chat")
            && let Some(content) = output
        {
            out.push(KeyValue::new(
                format!("{LLM_OUTPUT_MESSAGES}.0.{MESSAGE_ROLE}"),
                "assistant",
            ));
            out.push(KeyValue::new(
                format!("{LLM_OUTPUT_MESSAGES}.0.{MESSAGE_CONTENT}"),
                content,
            ));
        }
    }

    /// Redacted, or cut to the maximum length on a char boundary, secrets replaced.
    fn content(&self, text: &str, hide: bool) -> String {
        if hide {
            return REDACTED.to_owned();
        }
        secrets()
            .redact_text(truncate(text, self.privacy.max_value_length))
            .into_owned()
    }
}

/// OpenInference's `llm.provider` (the hosting provider: `openai`, `anthropic`, `mistralai`,
/// `cohere`, `google`, `aws`, `azure`, `xai`, `deepseek`) for a GenAI `gen_ai.provider.name`;
/// providers OpenInference does not list keep their own name.
pub fn oi_provider(genai: &str) -> &str {
    match genai {
        "openai" => "openai",
        "anthropic" => "anthropic",
        "mistral_ai" | "mistralai" | "mistral" => "mistralai",
        "cohere" => "cohere",
        "x_ai" | "xai" => "xai",
        "deepseek" => "deepseek",
        "google" | "vertexai" | "gemini" => "google",
        "aws" | "bedrock" => "aws",
        "azure" => "azure",
        p if p.starts_with("gcp.") => "google",
        p if p.starts_with("aws.") => "aws",
        p if p.starts_with("azure.") => "azure",
        p => p,
    }
}

/// OpenInference's `llm.system` (the AI product: `openai`, `anthropic`, `mistralai`, `cohere`,
/// `vertexai`, `ai21`, `meta`, `amazon`) for a GenAI `gen_ai.provider.name`; others keep
/// their own name.
pub fn oi_system(genai: &str) -> &str {
    match genai {
        "openai" | "azure.ai.openai" => "openai",
        "anthropic" => "anthropic",
        "mistral_ai" | "mistralai" | "mistral" => "mistralai",
        "cohere" => "cohere",
        "ai21" => "ai21",
        "meta" => "meta",
        "amazon" | "aws.bedrock" => "amazon",
        "gcp.vertex_ai" | "gcp.gemini" | "gcp.gen_ai" | "google" | "vertexai" | "gemini" => {
            "vertexai"
        }
        p => p,
    }
}

/// Most strings [`shared`] remembers per thread.
const SHARED_CAPACITY: usize = 64;
/// Longest string [`shared`] remembers.
const SHARED_MAX_LEN: usize = 96;

thread_local! {
    /// Recently seen short values (models, providers, operations, tenants): repeated on almost
    /// every span, so one reference-counted copy serves them all instead of one allocation each.
    static SHARED: std::cell::RefCell<Vec<std::sync::Arc<str>>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

/// A string attribute value, sharing one allocation among repeats of short values.
fn shared(text: &str) -> opentelemetry::Value {
    if text.len() > SHARED_MAX_LEN {
        return opentelemetry::Value::String(text.to_owned().into());
    }
    SHARED.with(|cell| {
        let mut cache = cell.borrow_mut();
        if let Some(hit) = cache.iter().find(|s| &***s == text) {
            return opentelemetry::Value::String(hit.clone().into());
        }
        let fresh: std::sync::Arc<str> = std::sync::Arc::from(text);
        if cache.len() >= SHARED_CAPACITY {
            // Forget the oldest half: cheap, and a working set of hot values refills at once.
            cache.drain(..SHARED_CAPACITY / 2);
        }
        cache.push(fresh.clone());
        opentelemetry::Value::String(fresh.into())
    })
}

/// `text` cut to at most `max` bytes, on a character boundary.
pub fn truncate(text: &str, max: Option<usize>) -> &str {
    match max {
        Some(max) if text.len() > max => {
            let mut end = max;
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            &text[..end]
        }
        _ => text,
    }
}

fn mime_type(value: &str) -> &'static str {
    let t = value.trim_start();
    if (t.starts_with('{') || t.starts_with('['))
        && serde_json::from_str::<serde_json::Value>(value).is_ok()
    {
        "application/json"
    } else {
        "text/plain"
    }
}

fn push_count(out: &mut Vec<KeyValue>, key: &'static str, value: Option<f64>) {
    if let Some(v) = value
        && v.is_finite()
    {
        out.push(KeyValue::new(key, v.round() as i64));
    }
}

/// The shared secret rules (the log handler's defaults, [`llm_telemetry_genai::redact`]).
fn secrets() -> &'static SecretRules {
    static RULES: OnceLock<SecretRules> = OnceLock::new();
    RULES.get_or_init(SecretRules::default)
}

/// Most key verdicts [`is_secret_key`] remembers per thread.
const KEY_VERDICTS: usize = 256;

thread_local! {
    /// Whether a `'static` key names a secret, by its address and length (a `'static` string is
    /// never freed, so they always denote the same text).
    static VERDICTS: std::cell::RefCell<Vec<((usize, usize), bool)>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

/// Whether values under `key` are secrets (`api_key`, `authorization`, …), decided once per key.
fn is_secret_key(key: &'static str) -> bool {
    let id = (key.as_ptr() as usize, key.len());
    VERDICTS.with(|cell| {
        let mut verdicts = cell.borrow_mut();
        if let Some((_, secret)) = verdicts.iter().find(|(k, _)| *k == id) {
            return *secret;
        }
        let secret = secrets().is_sensitive_key(key);
        if verdicts.len() >= KEY_VERDICTS {
            verdicts.clear();
        }
        verdicts.push((id, secret));
        secret
    })
}

/// The attribute value of metadata `key`: the marker under a key that names a secret, strings
/// with the secrets they hold replaced, other values as they are (the log handler's rules).
pub(crate) fn attribute_value(key: &'static str, value: &Value<'_>) -> opentelemetry::Value {
    if is_secret_key(key) {
        return opentelemetry::Value::String(secrets().marker.to_string().into());
    }
    match *value {
        Value::Str(s) => match secrets().redact_text(s) {
            std::borrow::Cow::Borrowed(_) => shared(s),
            std::borrow::Cow::Owned(clean) => opentelemetry::Value::String(clean.into()),
        },
        other => otel_value(&other),
    }
}

fn otel_value(value: &Value<'_>) -> opentelemetry::Value {
    match *value {
        Value::Str(s) => shared(s),
        Value::Int(i) => opentelemetry::Value::I64(i),
        Value::Float(f) => opentelemetry::Value::F64(f),
        Value::Bool(b) => opentelemetry::Value::Bool(b),
    }
}

fn string_array<'a>(items: impl Iterator<Item = &'a str>) -> opentelemetry::Value {
    opentelemetry::Value::Array(Array::String(
        items.map(|s| StringValue::from(s.to_owned())).collect(),
    ))
}

/// (role, text) of each message of GenAI's `gen_ai.input.messages` JSON (text parts joined;
/// a plain `content` string accepted too). Not JSON: no messages.
fn parse_messages(json: &str) -> Vec<(String, String)> {
    let Ok(serde_json::Value::Array(messages)) = serde_json::from_str(json) else {
        return Vec::new();
    };
    messages
        .iter()
        .map(|m| {
            let role = m["role"].as_str().unwrap_or("user").to_owned();
            let content = match (&m["parts"], &m["content"]) {
                (serde_json::Value::Array(parts), _) => parts
                    .iter()
                    .filter_map(|p| p["content"].as_str())
                    .collect::<Vec<_>>()
                    .join("\n"),
                (_, serde_json::Value::String(s)) => s.clone(),
                _ => String::new(),
            };
            (role, content)
        })
        .collect()
}

/// The request parameters as a JSON object, or `None` when there are none.
fn invocation_parameters(f: &Fields<'_, '_>) -> Option<String> {
    use std::fmt::Write;
    let mut json = String::with_capacity(96);
    let mut put = |name: &str, value: Option<Value<'_>>| {
        let Some(value) = value else { return };
        json.push(if json.is_empty() { '{' } else { ',' });
        let _ = write!(json, "\"{name}\":");
        // Writing to a String cannot fail; non-finite floats become null as JSON requires.
        let _ = match value {
            Value::Str(s) => write!(json, "{}", serde_json::Value::from(s)),
            Value::Int(i) => write!(json, "{i}"),
            Value::Float(f) if f.is_finite() => write!(json, "{f}"),
            Value::Float(_) => write!(json, "null"),
            Value::Bool(b) => write!(json, "{b}"),
        };
    };
    put("max_tokens", f.value(keys::MAX_TOKENS));
    put("temperature", f.value(keys::TEMPERATURE));
    put("top_p", f.value(keys::TOP_P));
    put("seed", f.value(keys::SEED));
    if let Some(stops) = f.str(keys::STOP_SEQUENCES) {
        json.push(if json.is_empty() { '{' } else { ',' });
        let list = serde_json::Value::from(stops.split('\n').collect::<Vec<_>>());
        let _ = write!(json, "\"stop\":{list}");
    }
    if json.is_empty() {
        return None;
    }
    json.push('}');
    Some(json)
}

#[cfg(test)]
mod tests {
    use super::*;
    use llm_telemetry_core::Event;

    #[test]
    fn truncation_respects_char_boundaries() {
        assert_eq!(truncate("héllo", Some(2)), "h");
        assert_eq!(truncate("héllo", Some(3)), "hé");
        assert_eq!(truncate("hello", Some(10)), "hello");
        assert_eq!(truncate("hello", None), "hello");
        assert_eq!(truncate("日本語", Some(4)), "日");
    }

    #[test]
    fn mime_types_detect_json() {
        assert_eq!(mime_type("{\"a\": 1}"), "application/json");
        assert_eq!(mime_type("[1,2]"), "application/json");
        assert_eq!(mime_type("{not json"), "text/plain");
        assert_eq!(mime_type("hello"), "text/plain");
    }

    #[test]
    fn invocation_parameters_are_valid_json() {
        let md = [
            (keys::MAX_TOKENS, Value::Int(5)),
            (keys::TEMPERATURE, Value::Float(0.25)),
            (keys::TOP_P, Value::Float(f64::NAN)),
            (keys::STOP_SEQUENCES, Value::Str("a\"b\nEND")),
        ];
        let event = Event::new(
            llm_telemetry_core::EventName::from(&llm_telemetry_genai::catalog::LLM_CHAT_STOP),
            &[],
            &md,
            None,
        );
        let json: serde_json::Value =
            serde_json::from_str(&invocation_parameters(&Fields::new(&event)).unwrap()).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"max_tokens": 5, "temperature": 0.25, "top_p": null, "stop": ["a\"b", "END"]})
        );
        let empty = Event::new(
            llm_telemetry_core::EventName::from(&llm_telemetry_genai::catalog::LLM_CHAT_STOP),
            &[],
            &[],
            None,
        );
        assert_eq!(invocation_parameters(&Fields::new(&empty)), None);
    }

    #[test]
    fn openinference_provider_and_system_use_its_own_values() {
        for (genai, provider, system) in [
            ("openai", "openai", "openai"),
            ("mistral_ai", "mistralai", "mistralai"),
            ("gcp.vertex_ai", "google", "vertexai"),
            ("aws.bedrock", "aws", "amazon"),
            ("azure.ai.openai", "azure", "openai"),
            ("x_ai", "xai", "x_ai"),
            ("mlx", "mlx", "mlx"),
        ] {
            assert_eq!(oi_provider(genai), provider, "{genai}");
            assert_eq!(oi_system(genai), system, "{genai}");
        }
    }

    #[test]
    fn shared_values_are_equal_to_their_text() {
        for i in 0..200 {
            let text = format!("model-{}", i % 70);
            assert_eq!(shared(&text).as_str(), text.as_str());
        }
        let long = "x".repeat(500);
        assert_eq!(shared(&long).as_str(), long.as_str());
    }
}
