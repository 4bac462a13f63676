//! TinyLLM's metric names ([`tinyllm_metrics`]), for dashboards and alerts written against
//! TinyLLM's documentation: the same events as the default set, under TinyLLM's names and
//! labels, beside the defaults (not instead of them).
//!
//! | metric | type | labels | from |
//! |---|---|---|---|
//! | `tinyllm_requests_total` | counter | `model`, `graph`, `request_type` | `llm.*.stop`, `llm.*.exception` |
//! | `tinyllm_request_latency_seconds` | histogram ([`DURATION_BUCKETS`]) | `model`, `graph` | `duration` of `llm.*.stop`, `llm.*.exception` |
//! | `tinyllm_active_requests` | gauge (up/down) | `model`, `graph` | +1 on `llm.*.start`, −1 on `llm.*.stop` and `llm.*.exception` |
//! | `tinyllm_tokens_input_total` | counter | `model`, `graph` | `input_tokens` of `llm.{chat,generate,embed}.stop` |
//! | `tinyllm_tokens_output_total` | counter | `model`, `graph` | `output_tokens` of `llm.{chat,generate}.stop` |
//! | `tinyllm_errors_total` | counter | `error_type`, `model`, `graph` | `llm.*.exception` |
//! | `tinyllm_cache_hits_total` | counter | `cache_type` | `cache.lookup.hit` |
//! | `tinyllm_cache_misses_total` | counter | `cache_type` | `cache.lookup.miss` |
//!
//! `model` is `gen_ai.request.model` (else `unknown`); `graph` is the `graph` metadata (TinyLLM's
//! graph, e.g. bound for a request with [`llm_telemetry_core::bound::bind`]), else `default`;
//! `request_type` is the operation (`chat`, `text_completion`, `embeddings`, …, as
//! [`crate::defaults::operation_tag`]); `error_type` as [`crate::defaults::error_type_tag`];
//! `cache_type` is `cache.name`, else `default`. The grouping span `llm.request.*` is left out,
//! as in the default set.

use llm_telemetry_core::Event;
use llm_telemetry_genai::catalog::{self, keys};

use crate::defaults::{DURATION_BUCKETS, error_type_tag, operation_tag};
use crate::definition::{Conversion, Metric, Tag};

/// The metadata key of TinyLLM's `graph` label.
pub const GRAPH_KEY: &str = "graph";

const SPAN_ENDS: [&str; 2] = ["llm.*.stop", "llm.*.exception"];

fn model() -> Tag {
    Tag::metadata(keys::MODEL).label("model").or("unknown")
}

fn graph() -> Tag {
    Tag::metadata(GRAPH_KEY).or("default")
}

fn is_grouping_span(e: &Event<'_>) -> bool {
    e.name().segments().get(1) == Some(&"request")
}

/// Every metric of the table in the [module docs](self).
pub fn tinyllm_metrics() -> Vec<Metric> {
    let tokens = |name: &str, measurement: &'static str, events: &[&str], help: &str| {
        Metric::sum(name, events, measurement)
            .tag(model())
            .tag(graph())
            .description(help)
    };
    let cache = |name: &str, event: &str, help: &str| {
        Metric::counter(name, &[event])
            .tag(
                Tag::metadata(keys::CACHE_NAME)
                    .label("cache_type")
                    .or("default"),
            )
            .description(help)
    };
    vec![
        Metric::counter("tinyllm_requests_total", &SPAN_ENDS)
            .drop_if(is_grouping_span)
            .tag(model())
            .tag(graph())
            .tag(operation_tag().label("request_type"))
            .description("Total requests (TinyLLM's name)."),
        Metric::distribution(
            "tinyllm_request_latency_seconds",
            &SPAN_ENDS,
            keys::DURATION,
            &DURATION_BUCKETS,
        )
        .convert(Conversion::NanosecondsToSeconds)
        .drop_if(is_grouping_span)
        .tag(model())
        .tag(graph())
        .description("Request latency in seconds (TinyLLM's name)."),
        Metric::up_down("tinyllm_active_requests", &["llm.*.start"], &SPAN_ENDS)
            .drop_if(is_grouping_span)
            .tag(model())
            .tag(graph())
            .description("Active requests (TinyLLM's name)."),
        tokens(
            "tinyllm_tokens_input_total",
            keys::INPUT_TOKENS,
            &[
                catalog::LLM_CHAT_STOP.as_str(),
                catalog::LLM_GENERATE_STOP.as_str(),
                catalog::LLM_EMBED_STOP.as_str(),
            ],
            "Input tokens (TinyLLM's name).",
        ),
        tokens(
            "tinyllm_tokens_output_total",
            keys::OUTPUT_TOKENS,
            &[
                catalog::LLM_CHAT_STOP.as_str(),
                catalog::LLM_GENERATE_STOP.as_str(),
            ],
            "Output tokens (TinyLLM's name).",
        ),
        Metric::counter("tinyllm_errors_total", &["llm.*.exception"])
            .drop_if(is_grouping_span)
            .tag(error_type_tag())
            .tag(model())
            .tag(graph())
            .description("Total errors (TinyLLM's name)."),
        cache(
            "tinyllm_cache_hits_total",
            catalog::CACHE_LOOKUP_HIT.as_str(),
            "Cache hits (TinyLLM's name).",
        ),
        cache(
            "tinyllm_cache_misses_total",
            catalog::CACHE_LOOKUP_MISS.as_str(),
            "Cache misses (TinyLLM's name).",
        ),
    ]
}
