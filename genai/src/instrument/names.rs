//! Event names and keys the helpers emit that the core [`crate::catalog`] does not define.
//!
//! Everything else the helpers emit comes from [`crate::catalog`]; this module holds only the
//! per-token stream event (emitted at [`crate::instrument::TelemetryLevel::Verbose`]) and its two
//! measurements, and the `gen_ai.operation.name` values the helpers set.

use llm_telemetry_core::name::StaticEventName;

/// `llm.stream.token`: one streamed token (only at the `verbose` level).
///
/// Measurements: [`TOKEN_INDEX`], [`INTER_TOKEN_LATENCY`]. Metadata: model, provider, tenant and,
/// since `verbose` records content, the token text as `output.value`.
pub static LLM_STREAM_TOKEN: StaticEventName = StaticEventName::new("llm.stream.token");

/// Measurement: the 0-based index of a streamed item (`llm.stream.token`).
pub const TOKEN_INDEX: &str = "token_index";
/// Measurement: nanoseconds since the previous streamed item, or since the span started for the
/// first one (`llm.stream.token`).
pub const INTER_TOKEN_LATENCY: &str = "inter_token_latency";

/// `gen_ai.operation.name` of a chat span (the GenAI semantic-convention value).
pub const OPERATION_CHAT: &str = "chat";
/// `gen_ai.operation.name` of a generate span (the GenAI semantic-convention value).
pub const OPERATION_TEXT_COMPLETION: &str = "text_completion";
/// `gen_ai.operation.name` of an embed span (the GenAI semantic-convention value).
pub const OPERATION_EMBEDDINGS: &str = "embeddings";
