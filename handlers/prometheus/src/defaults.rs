//! The default LLM metric set, in one call: [`llm_metrics`] (everything), [`basic`] (latency,
//! tokens, requests, errors) and [`cost_only`].
//!
//! Names follow the OpenTelemetry GenAI semantic conventions in Prometheus form (dots become
//! underscores, the unit is a suffix), with the conventions' advised histogram buckets.
//!
//! | metric | type | labels | from |
//! |---|---|---|---|
//! | `gen_ai_client_operation_duration_seconds` | histogram ([`DURATION_BUCKETS`]) | `gen_ai_operation_name`, `gen_ai_provider_name`, `gen_ai_request_model`, `error_type` | `duration` of `llm.*.stop`, `llm.*.exception` (logical operations only) |
//! | `gen_ai_client_token_usage` | histogram ([`TOKEN_BUCKETS`]) | `gen_ai_operation_name`, `gen_ai_provider_name`, `gen_ai_request_model`, `gen_ai_token_type` (`input`, `output`) | `input_tokens` of `llm.{chat,generate,embed}.stop`, `output_tokens` of `llm.{chat,generate}.stop` |
//! | `llm_requests_total` | counter | `gen_ai_operation_name`, `gen_ai_provider_name`, `gen_ai_request_model`, `status` | `llm.*.stop`, `llm.*.exception` |
//! | `llm_errors_total` | counter | `gen_ai_operation_name`, `gen_ai_provider_name`, `gen_ai_request_model`, `error_type` | `llm.*.exception`, `llm.provider.request.exception` |
//! | `llm_requests_in_flight` | gauge (up/down) | `gen_ai_operation_name`, `gen_ai_request_model` | +1 on `llm.*.start`, −1 on `llm.*.stop` and `llm.*.exception` |
//! | `gen_ai_client_operation_time_to_first_chunk_seconds` | histogram ([`TIME_TO_FIRST_CHUNK_BUCKETS`]) | `gen_ai_operation_name`, `gen_ai_provider_name`, `gen_ai_request_model` | `time_to_first_token` of streamed `llm.*.stop` (GenAI semconv `gen_ai.client.operation.time_to_first_chunk`) |
//! | `gen_ai_server_time_per_output_token_seconds` | histogram ([`TIME_PER_OUTPUT_TOKEN_BUCKETS`]) | `gen_ai_operation_name`, `gen_ai_provider_name`, `gen_ai_request_model` | `time_per_output_token` of streamed `llm.*.stop` (GenAI semconv `gen_ai.server.time_per_output_token`) |
//! | `llm_cache_hits_total` | counter | `cache_name` | `cache.lookup.hit` |
//! | `llm_cache_misses_total` | counter | `cache_name` | `cache.lookup.miss` |
//! | `llm_cache_evictions_total` | counter | `cache_name` | `cache.entry.evicted` |
//! | `llm_cache_size_bytes` | gauge (up/down) | `cache_name` | + `size_bytes` of `cache.entry.put`, − that of `cache.entry.evicted` |
//! | `llm_cost_usd_total` | counter (float) | `gen_ai_provider_name`, `gen_ai_request_model`, `tenant` | `cost_usd` of `llm.cost.calculated` |
//! | `llm_cost_threshold_exceeded_total` | counter | `tenant`, `window` | `llm.cost.threshold_exceeded` |
//! | `llm_provider_requests_total` | counter | `gen_ai_provider_name`, `status` | `llm.provider.request.{stop,exception}` |
//! | `llm_provider_request_duration_seconds` | histogram ([`DURATION_BUCKETS`]) | `gen_ai_provider_name`, `status` | `duration` of `llm.provider.request.{stop,exception}` |
//! | `llm_provider_rate_limits_total` | counter | `gen_ai_provider_name` | `llm.provider.rate_limit` |
//!
//! Label values:
//! - `gen_ai_operation_name`: the `gen_ai.operation.name` metadata, else from the event name:
//!   `chat`, `text_completion` (`llm.generate`), `embeddings` (`llm.embed`), `provider_request`
//!   (`llm.provider.request`), or the event's second segment for other `llm.*` spans. The
//!   grouping span `llm.request.*` is left out of requests, errors, durations and requests in
//!   flight (its children are counted). Provider HTTP requests (`llm.provider.request.*`, several
//!   per logical call when retried) have their own duration histogram,
//!   `llm_provider_request_duration_seconds`, and are not in the operation duration.
//! - `gen_ai_provider_name`, `gen_ai_request_model`: the metadata, else `unknown`; `tenant`: else
//!   `unknown` (`global` for a threshold crossing of the global budget); `cache_name`: else
//!   `default`; `window`: the budget window (`day`, `month`, `lifetime`), else `unknown`.
//! - `status`: `error` on exception events; otherwise the `status` metadata (`ok`, `cancelled`, an
//!   HTTP status), else `ok`.
//! - `error_type`: `error.type`, else `exception.type`, else `unknown` on exception events; on
//!   stop events `error.type` or the empty string.
//!
//! Every metric has the default cap of 2000 label sets and an overflow series past it.

use llm_telemetry_core::{Event, Value};
use llm_telemetry_genai::catalog::{self, keys};

use crate::definition::{Conversion, Metric, Tag};

/// GenAI advised buckets for `gen_ai.client.token.usage`: 1, 4, 16, …, 67108864.
pub const TOKEN_BUCKETS: [f64; 14] = [
    1.0, 4.0, 16.0, 64.0, 256.0, 1024.0, 4096.0, 16384.0, 65536.0, 262144.0, 1048576.0, 4194304.0,
    16777216.0, 67108864.0,
];
/// GenAI advised buckets for `gen_ai.client.operation.duration`: 0.01, 0.02, …, 81.92 seconds.
pub const DURATION_BUCKETS: [f64; 14] = [
    0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92,
];
/// GenAI advised buckets for time to first token / first chunk: 0.001 … 10 seconds.
pub const TIME_TO_FIRST_CHUNK_BUCKETS: [f64; 16] = [
    0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
];
/// The former name of [`TIME_TO_FIRST_CHUNK_BUCKETS`].
pub const TIME_TO_FIRST_TOKEN_BUCKETS: [f64; 16] = TIME_TO_FIRST_CHUNK_BUCKETS;
/// GenAI advised buckets for `gen_ai.server.time_per_output_token`: 0.01 … 2.5 seconds.
pub const TIME_PER_OUTPUT_TOKEN_BUCKETS: [f64; 13] = [
    0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5,
];

/// Every default metric (see the table in the [module docs](self)).
pub fn llm_metrics() -> Vec<Metric> {
    let mut metrics = basic();
    metrics.push(in_flight());
    metrics.extend(streaming());
    metrics.extend(cache());
    metrics.extend(cost_only());
    metrics.push(threshold_exceeded());
    metrics.extend(provider());
    metrics
}

/// Latency, token usage, requests and errors.
pub fn basic() -> Vec<Metric> {
    vec![
        operation_duration(),
        token_usage(
            keys::INPUT_TOKENS,
            "input",
            &[
                catalog::LLM_CHAT_STOP.as_str(),
                catalog::LLM_GENERATE_STOP.as_str(),
                catalog::LLM_EMBED_STOP.as_str(),
            ],
        ),
        token_usage(
            keys::OUTPUT_TOKENS,
            "output",
            &[
                catalog::LLM_CHAT_STOP.as_str(),
                catalog::LLM_GENERATE_STOP.as_str(),
            ],
        ),
        requests(),
        errors(),
    ]
}

/// The cost total only.
pub fn cost_only() -> Vec<Metric> {
    vec![
        Metric::sum(
            "llm_cost_usd_total",
            &[catalog::LLM_COST_CALCULATED.as_str()],
            keys::COST_USD,
        )
        .tag(provider_tag())
        .tag(model_tag())
        .tag(Tag::metadata(keys::TENANT).or("unknown"))
        .description("Cost of LLM calls in US dollars, from llm.cost.calculated."),
    ]
}

const SPAN_ENDS: [&str; 2] = ["llm.*.stop", "llm.*.exception"];
const PROVIDER_ENDS: [&str; 2] = [
    "llm.provider.request.stop",
    "llm.provider.request.exception",
];

fn provider_tag() -> Tag {
    Tag::metadata(keys::PROVIDER).or("unknown")
}

fn model_tag() -> Tag {
    Tag::metadata(keys::MODEL).or("unknown")
}

fn is_exception(e: &Event<'_>) -> bool {
    e.name().phase() == "exception"
}

fn is_grouping_span(e: &Event<'_>) -> bool {
    e.name().segments().get(1) == Some(&"request")
}

/// The `gen_ai_operation_name` tag (see the module docs).
pub fn operation_tag() -> Tag {
    Tag::derived("gen_ai_operation_name", |e| {
        if let Some(v) = e.value(keys::OPERATION) {
            return Some(v);
        }
        let op = match e.name().segments() {
            ["llm", "chat", ..] => "chat",
            ["llm", "generate", ..] => "text_completion",
            ["llm", "embed", ..] => "embeddings",
            ["llm", "provider", "request", ..] => "provider_request",
            ["llm", other, ..] => other,
            _ => "unknown",
        };
        Some(Value::Str(op))
    })
}

/// The `status` tag (see the module docs).
pub fn status_tag() -> Tag {
    Tag::derived("status", |e| {
        if is_exception(e) {
            return Some(Value::Str("error"));
        }
        Some(e.value(keys::STATUS).unwrap_or(Value::Str(keys::STATUS_OK)))
    })
}

/// The `error_type` tag (see the module docs).
pub fn error_type_tag() -> Tag {
    Tag::derived("error_type", |e| {
        if let Some(v) = e.value(keys::ERROR_TYPE) {
            return Some(v);
        }
        if is_exception(e) {
            return Some(
                e.value(keys::EXCEPTION_TYPE)
                    .unwrap_or(Value::Str("unknown")),
            );
        }
        Some(Value::Str(""))
    })
}

fn operation_duration() -> Metric {
    Metric::distribution(
        "gen_ai_client_operation_duration_seconds",
        &SPAN_ENDS,
        keys::DURATION,
        &DURATION_BUCKETS,
    )
    .convert(Conversion::NanosecondsToSeconds)
    .drop_if(is_grouping_span)
    .tag(operation_tag())
    .tag(provider_tag())
    .tag(model_tag())
    .tag(error_type_tag())
    .description(
        "GenAI operation duration in seconds (GenAI semconv gen_ai.client.operation.duration).",
    )
}

fn token_usage(measurement: &'static str, token_type: &'static str, events: &[&str]) -> Metric {
    Metric::distribution(
        "gen_ai_client_token_usage",
        events,
        measurement,
        &TOKEN_BUCKETS,
    )
    .tag(operation_tag())
    .tag(provider_tag())
    .tag(model_tag())
    .tag(Tag::constant("gen_ai_token_type", token_type))
    .description(
        "Input and output tokens per GenAI operation (GenAI semconv gen_ai.client.token.usage).",
    )
}

fn requests() -> Metric {
    Metric::counter("llm_requests_total", &SPAN_ENDS)
        .drop_if(is_grouping_span)
        .tag(operation_tag())
        .tag(provider_tag())
        .tag(model_tag())
        .tag(status_tag())
        .description("LLM operations finished, by provider, model and status.")
}

fn errors() -> Metric {
    Metric::counter("llm_errors_total", &["llm.*.exception", PROVIDER_ENDS[1]])
        .drop_if(is_grouping_span)
        .tag(operation_tag())
        .tag(provider_tag())
        .tag(model_tag())
        .tag(error_type_tag())
        .description("LLM operations that failed, by error type.")
}

fn in_flight() -> Metric {
    Metric::up_down("llm_requests_in_flight", &["llm.*.start"], &SPAN_ENDS)
        .drop_if(is_grouping_span)
        .tag(operation_tag())
        .tag(model_tag())
        .description(
            "LLM operations started and not yet finished, by operation and model (up on llm.*.start, down on llm.*.stop and llm.*.exception).",
        )
}

/// Time to first chunk and time per output token, from the measurements a streamed
/// operation's stop event carries (other stop events are left out, not counted as skipped).
fn streaming() -> Vec<Metric> {
    let timing = |name: &str, key: &'static str, buckets: &[f64], help: &str| {
        Metric::distribution(name, &["llm.*.stop"], key, buckets)
            .convert(Conversion::NanosecondsToSeconds)
            .keep(move |e| e.measurement(key).is_some() && !is_grouping_span(e))
            .tag(operation_tag())
            .tag(provider_tag())
            .tag(model_tag())
            .description(help)
    };
    vec![
        timing(
            "gen_ai_client_operation_time_to_first_chunk_seconds",
            keys::TIME_TO_FIRST_TOKEN,
            &TIME_TO_FIRST_CHUNK_BUCKETS,
            "Time from the start of a streamed GenAI operation to its first chunk, in seconds (GenAI semconv gen_ai.client.operation.time_to_first_chunk).",
        ),
        timing(
            "gen_ai_server_time_per_output_token_seconds",
            keys::TIME_PER_OUTPUT_TOKEN,
            &TIME_PER_OUTPUT_TOKEN_BUCKETS,
            "Time per output token after the first of a streamed GenAI operation, in seconds (GenAI semconv gen_ai.server.time_per_output_token).",
        ),
    ]
}

fn threshold_exceeded() -> Metric {
    Metric::counter(
        "llm_cost_threshold_exceeded_total",
        &[catalog::LLM_COST_THRESHOLD_EXCEEDED.as_str()],
    )
    .tag(Tag::metadata(keys::TENANT).or("global"))
    .tag(Tag::metadata(keys::WINDOW).or("unknown"))
    .description("Budget thresholds crossed, by tenant (global for the global budget) and window.")
}

fn cache() -> Vec<Metric> {
    let cache_tag = || Tag::metadata(keys::CACHE_NAME).or("default");
    [
        (
            "llm_cache_hits_total",
            catalog::CACHE_LOOKUP_HIT.as_str(),
            "Cache lookups that hit.",
        ),
        (
            "llm_cache_misses_total",
            catalog::CACHE_LOOKUP_MISS.as_str(),
            "Cache lookups that missed.",
        ),
        (
            "llm_cache_evictions_total",
            catalog::CACHE_ENTRY_EVICTED.as_str(),
            "Cache entries evicted.",
        ),
    ]
    .into_iter()
    .map(|(name, event, help)| {
        Metric::counter(name, &[event])
            .tag(cache_tag())
            .description(help)
    })
    .chain(std::iter::once(
        Metric::up_down_by(
            "llm_cache_size_bytes",
            &[catalog::CACHE_ENTRY_PUT.as_str()],
            &[catalog::CACHE_ENTRY_EVICTED.as_str()],
            keys::SIZE_BYTES,
        )
        .tag(cache_tag())
        .description(
            "Bytes held by a cache: size_bytes of cache.entry.put added, of cache.entry.evicted subtracted.",
        ),
    ))
    .collect()
}

fn provider() -> Vec<Metric> {
    vec![
        Metric::counter("llm_provider_requests_total", &PROVIDER_ENDS)
            .tag(provider_tag())
            .tag(status_tag())
            .description("HTTP requests to LLM providers, by status."),
        Metric::distribution(
            "llm_provider_request_duration_seconds",
            &PROVIDER_ENDS,
            keys::DURATION,
            &DURATION_BUCKETS,
        )
        .convert(Conversion::NanosecondsToSeconds)
        .tag(provider_tag())
        .tag(status_tag())
        .description("Duration of HTTP requests to LLM providers, in seconds, by status."),
        Metric::counter(
            "llm_provider_rate_limits_total",
            &[catalog::LLM_PROVIDER_RATE_LIMIT.as_str()],
        )
        .tag(provider_tag())
        .description("Rate-limit answers (HTTP 429) from LLM providers."),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_default_metric_is_valid() {
        for m in llm_metrics() {
            m.validate().unwrap_or_else(|e| panic!("{e}"));
        }
        crate::reporter::PrometheusReporter::builder()
            .metrics(llm_metrics())
            .unwrap();
        assert_eq!(cost_only().len(), 1);
        assert!(TOKEN_BUCKETS.windows(2).all(|w| w[1] == w[0] * 4.0));
        assert!(
            DURATION_BUCKETS
                .windows(2)
                .all(|w| (w[1] - w[0] * 2.0).abs() < 1e-9)
        );
    }
}
