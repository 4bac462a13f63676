//! The LLM event catalog: the event names users see on dashboards and the measurement and
//! metadata keys they carry.
//!
//! | event | measurements | metadata |
//! |---|---|---|
//! | `llm.chat.{start,stop,exception}` | duration, input_tokens, output_tokens | provider, model, tenant, streaming |
//! | `llm.generate.*` | duration, token counts | model, max_tokens, temperature, … |
//! | `llm.embed.*` | duration, dimension, batch_size | model, pooling, is_query |
//! | `llm.request.*` | duration | operation name (a parent span grouping nested calls) |
//! | `llm.stream.first_token` | time_to_first_token | model |
//! | `llm.provider.request.*` | duration | provider, status |
//! | `llm.provider.rate_limit` | retry_after | provider, status |
//! | `llm.provider.auth_refresh` | — | provider |
//! | `cache.lookup.{hit,miss}`, `cache.entry.{put,evicted}` | size_bytes | cache, key_hash |
//! | `llm.cost.calculated` | cost_usd | provider, model, tenant |
//! | `llm.cost.unpriced_model` | — | model, provider (once per model) |
//! | `llm.cost.threshold_exceeded` | cost_usd, threshold_usd | tenant, window |
//! | `span.event` | system_time, the caller's | event.name, the caller's |
//! | `span.attributes` | — | the attributes to set on the current span |
//! | `telemetry.handler.failure` | — | handler_id, event, kind, error |
//!
//! Metadata keys follow OpenTelemetry naming where one exists (`gen_ai.request.model`,
//! `gen_ai.provider.name`, `error.type`); handlers map them to each convention they export.
//! Durations are in nanoseconds; token counts are plain numbers.

pub use llm_telemetry_core::catalog::TELEMETRY_HANDLER_FAILURE;
pub use llm_telemetry_core::category::{Category, CategoryRules, Severity};
use llm_telemetry_core::{StaticEventName, StaticSpanName};

/// `llm.chat.*`: one chat completion.
pub static LLM_CHAT: StaticSpanName = StaticSpanName::new("llm.chat");
/// `llm.chat.start`.
pub static LLM_CHAT_START: StaticEventName = StaticEventName::new("llm.chat.start");
/// `llm.chat.stop`.
pub static LLM_CHAT_STOP: StaticEventName = StaticEventName::new("llm.chat.stop");
/// `llm.chat.exception`.
pub static LLM_CHAT_EXCEPTION: StaticEventName = StaticEventName::new("llm.chat.exception");

/// `llm.generate.*`: one text generation (local models, MLX).
pub static LLM_GENERATE: StaticSpanName = StaticSpanName::new("llm.generate");
/// `llm.generate.stop`.
pub static LLM_GENERATE_STOP: StaticEventName = StaticEventName::new("llm.generate.stop");

/// `llm.embed.*`: one embedding call.
pub static LLM_EMBED: StaticSpanName = StaticSpanName::new("llm.embed");
/// `llm.embed.stop`.
pub static LLM_EMBED_STOP: StaticEventName = StaticEventName::new("llm.embed.stop");

/// `llm.request.*`: a parent span grouping nested calls (a hybrid search: embed + generate).
pub static LLM_REQUEST: StaticSpanName = StaticSpanName::new("llm.request");

/// `llm.stream.first_token`: the first token of a streamed response arrived.
pub static LLM_STREAM_FIRST_TOKEN: StaticEventName = StaticEventName::new("llm.stream.first_token");

/// `llm.provider.request.*`: one HTTP request to a provider.
pub static LLM_PROVIDER_REQUEST: StaticSpanName = StaticSpanName::new("llm.provider.request");
/// `llm.provider.rate_limit`: a provider answered 429 (measurement `retry_after`, seconds).
pub static LLM_PROVIDER_RATE_LIMIT: StaticEventName =
    StaticEventName::new("llm.provider.rate_limit");
/// `llm.provider.auth_refresh`: credentials were refreshed.
pub static LLM_PROVIDER_AUTH_REFRESH: StaticEventName =
    StaticEventName::new("llm.provider.auth_refresh");

/// `cache.lookup.hit`.
pub static CACHE_LOOKUP_HIT: StaticEventName = StaticEventName::new("cache.lookup.hit");
/// `cache.lookup.miss`.
pub static CACHE_LOOKUP_MISS: StaticEventName = StaticEventName::new("cache.lookup.miss");
/// `cache.entry.put`.
pub static CACHE_ENTRY_PUT: StaticEventName = StaticEventName::new("cache.entry.put");
/// `cache.entry.evicted`.
pub static CACHE_ENTRY_EVICTED: StaticEventName = StaticEventName::new("cache.entry.evicted");

/// `llm.cost.calculated`: the cost of one call (measurement `cost_usd`).
pub static LLM_COST_CALCULATED: StaticEventName = StaticEventName::new("llm.cost.calculated");
/// `llm.cost.unpriced_model`: a call named a model the price table does not know; emitted once
/// per model (metadata `gen_ai.request.model`, `gen_ai.provider.name`), so a log handler can warn.
pub static LLM_COST_UNPRICED_MODEL: StaticEventName =
    StaticEventName::new("llm.cost.unpriced_model");
/// `llm.cost.threshold_exceeded`: a budget was crossed (`cost_usd`, `threshold_usd`).
pub static LLM_COST_THRESHOLD_EXCEEDED: StaticEventName =
    StaticEventName::new("llm.cost.threshold_exceeded");

/// `span.event`: a point in time of the current span, named by its `event.name` metadata, the
/// rest of its metadata and measurements its attributes (see
/// [`crate::instrument::Instrumentation::record_span_event`]).
pub static SPAN_EVENT: StaticEventName = StaticEventName::new("span.event");
/// `span.attributes`: its metadata become attributes of the current span (see
/// [`crate::instrument::Instrumentation::set_span_attribute`]).
pub static SPAN_ATTRIBUTES: StaticEventName = StaticEventName::new("span.attributes");

/// Every catalog span prefix, for documentation and tests.
pub static SPANS: [&StaticSpanName; 5] = [
    &LLM_CHAT,
    &LLM_GENERATE,
    &LLM_EMBED,
    &LLM_REQUEST,
    &LLM_PROVIDER_REQUEST,
];

/// Carries [`keys::TENANT`] and [`keys::SERVICE_NAME`] in every span's context: the values a
/// trace's root span is given reach every span of the trace, the library's own included (see
/// [`llm_telemetry_core::baggage`]). Handlers that route a trace by tenant (the OpenTelemetry
/// handler) call it when they attach; calling it again costs one atomic load.
pub fn carry_trace_keys() {
    static DONE: std::sync::Once = std::sync::Once::new();
    DONE.call_once(|| {
        // Two of `MAX_CARRIED` slots, refused only when other crates took them all first; the
        // handler then routes by each span's own metadata, as it does after a table overflow.
        let _ = llm_telemetry_core::baggage::carry(keys::TENANT);
        let _ = llm_telemetry_core::baggage::carry(keys::SERVICE_NAME);
    });
}

/// The catalog's categories and severities (see [`llm_telemetry_core::category`]): model calls
/// are [`Category::Model`], request spans [`Category::Execution`], provider calls
/// [`Category::Integration`] (credential refreshes [`Category::Security`]), first-token timing
/// and cost [`Category::Performance`], caches [`Category::Cache`], span events
/// [`Category::Execution`]; rate limits and budget alerts are [`Severity::Warning`]. An event's
/// own `event.category` / `event.severity` metadata wins.
pub static CATEGORY_RULES: CategoryRules = CategoryRules::new(&[
    ("llm", Category::Model, None),
    ("llm.request", Category::Execution, None),
    ("llm.provider", Category::Integration, None),
    (
        "llm.provider.rate_limit",
        Category::Integration,
        Some(Severity::Warning),
    ),
    ("llm.provider.auth_refresh", Category::Security, None),
    ("llm.stream", Category::Performance, None),
    ("llm.cost", Category::Performance, None),
    (
        "llm.cost.threshold_exceeded",
        Category::Performance,
        Some(Severity::Warning),
    ),
    ("cache", Category::Cache, None),
    ("span", Category::Execution, None),
]);

/// Registers [`CATEGORY_RULES`] (idempotent; the instrumentation helpers and the log handler do
/// it when they are made).
pub fn register_categories() {
    let _ = llm_telemetry_core::category::register(&CATEGORY_RULES);
}

/// Measurement and metadata keys.
pub mod keys {
    pub use llm_telemetry_core::catalog::keys::*;

    // ---- measurements ----
    /// Prompt tokens.
    pub const INPUT_TOKENS: &str = "input_tokens";
    /// Completion tokens.
    pub const OUTPUT_TOKENS: &str = "output_tokens";
    /// Prompt + completion tokens.
    pub const TOTAL_TOKENS: &str = "total_tokens";
    /// Prompt tokens read from the provider's prompt cache.
    pub const CACHE_READ_TOKENS: &str = "cache_read_tokens";
    /// Prompt tokens written to the provider's prompt cache.
    pub const CACHE_WRITE_TOKENS: &str = "cache_write_tokens";
    /// Reasoning tokens (billed as output by most providers).
    pub const REASONING_TOKENS: &str = "reasoning_tokens";
    /// Time to first token, nanoseconds (`llm.stream.first_token`).
    pub const TIME_TO_FIRST_TOKEN: &str = "time_to_first_token";
    /// Output tokens per second over the whole response.
    pub const TOKENS_PER_SECOND: &str = "tokens_per_second";
    /// Mean nanoseconds per output token after the first.
    pub const TIME_PER_OUTPUT_TOKEN: &str = "time_per_output_token";
    /// Embedding dimension.
    pub const DIMENSION: &str = "dimension";
    /// Inputs in one embedding batch.
    pub const BATCH_SIZE: &str = "batch_size";
    /// Seconds the provider asked to wait.
    pub const RETRY_AFTER: &str = "retry_after";
    /// Size of a cache entry in bytes.
    pub const SIZE_BYTES: &str = "size_bytes";
    /// Cost in US dollars.
    pub const COST_USD: &str = "cost_usd";
    /// The budget that was crossed, in US dollars.
    pub const THRESHOLD_USD: &str = "threshold_usd";
    /// Prompt length in characters.
    pub const PROMPT_LENGTH: &str = "prompt_length";
    /// Response length in characters.
    pub const RESPONSE_LENGTH: &str = "response_length";

    // ---- metadata ----
    /// The provider (`openai`, `anthropic`, `mlx`, …).
    pub const PROVIDER: &str = "gen_ai.provider.name";
    /// The requested model.
    pub const MODEL: &str = "gen_ai.request.model";
    /// The model that answered, when it differs.
    pub const RESPONSE_MODEL: &str = "gen_ai.response.model";
    /// The operation (`chat`, `text_completion`, `embeddings`, …).
    pub const OPERATION: &str = "gen_ai.operation.name";
    /// The tenant (customer, team, project) the call is billed to. Carried: given to a trace's
    /// root span, every span of the trace knows it (see [`super::carry_trace_keys`]).
    pub const TENANT: &str = "tenant";
    /// The service a span belongs to, when it is not the process's own (`service.name`).
    /// Carried like [`TENANT`].
    pub const SERVICE_NAME: &str = "service.name";
    /// Whether the response is streamed.
    pub const STREAMING: &str = "streaming";
    /// A low-cardinality error class (`timeout`, `rate_limit`, …).
    pub const ERROR_TYPE: &str = "error.type";
    /// `gen_ai.request.max_tokens`.
    pub const MAX_TOKENS: &str = "gen_ai.request.max_tokens";
    /// `gen_ai.request.temperature`.
    pub const TEMPERATURE: &str = "gen_ai.request.temperature";
    /// `gen_ai.request.top_p`.
    pub const TOP_P: &str = "gen_ai.request.top_p";
    /// `gen_ai.request.seed`.
    pub const SEED: &str = "gen_ai.request.seed";
    /// Stop sequences, joined by newlines.
    pub const STOP_SEQUENCES: &str = "gen_ai.request.stop_sequences";
    /// Why generation finished (`stop`, `length`, …).
    pub const FINISH_REASONS: &str = "gen_ai.response.finish_reasons";
    /// The prompt or input text.
    pub const INPUT: &str = "input.value";
    /// The response text.
    pub const OUTPUT: &str = "output.value";
    /// A chat's messages as GenAI's JSON (`[{"role":"user","parts":[{"type":"text",
    /// "content":"…"}]}]`), recorded with the content (`detailed` level).
    pub const INPUT_MESSAGES: &str = "gen_ai.input.messages";
    /// Whether an embedding input is a query (vs a document).
    pub const IS_QUERY: &str = "embedding.is_query";
    /// The pooling used for an embedding (`mean`, `cls`, …).
    pub const POOLING: &str = "embedding.pooling";
    /// The compute device (`gpu`, `cpu`).
    pub const DEVICE: &str = "device";
    /// The cache's name.
    pub const CACHE_NAME: &str = "cache.name";
    /// A hash of the cache key (never the key itself: it may hold a prompt).
    pub const KEY_HASH: &str = "cache.key_hash";
    /// A budget window (`day`, `month`, `lifetime`).
    pub const WINDOW: &str = "window";
    /// The name of a `span.event`.
    pub const EVENT_NAME: &str = "event.name";
    /// In a `span.attributes` event: names another key of the event whose value is a JSON array
    /// of strings, to set as a list-valued attribute (repeated once per such key).
    pub const LIST_ATTRIBUTE: &str = "span.list";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_span_prefix_is_valid() {
        for span in SPANS {
            let name = span.get();
            assert_eq!(name.prefix(), span.prefix());
            assert_eq!(name.stop.as_str(), format!("{}.stop", span.prefix()));
        }
        assert_eq!(LLM_CHAT.get().stop, LLM_CHAT_STOP.get());
    }
}
