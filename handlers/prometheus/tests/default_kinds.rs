//! The default metrics issue 13 (item 4) adds, driven by real spans and the instrumentation
//! helpers: requests in flight and cache size (up/down gauges), time to first chunk and time per
//! output token (streamed operations, with `gen_ai_operation_name`), budget crossings, and
//! provider HTTP requests kept out of the operation duration. Counts are exact.

mod common;

use std::num::NonZeroU64;

use llm_telemetry_core::{Bus, Value};
use llm_telemetry_genai::catalog::{self, keys};
use llm_telemetry_genai::instrument::{
    ChatMessage, ChatRequest, GenerateRequest, InferenceBackend, Instrumentation,
    InstrumentedBackend, SimulatedBackend, TelemetryLevel,
};
use llm_telemetry_prometheus::{Metric, PrometheusReporter, SkipReason, Tag};

use common::{default_reporter, promtool_check, sample};

const IN_FLIGHT_CHAT: &str =
    "llm_requests_in_flight{gen_ai_operation_name=\"chat\",gen_ai_request_model=\"gpt-4o\"}";

#[test]
fn requests_in_flight_follow_span_starts_and_ends() {
    let bus = Bus::new();
    let reporter = default_reporter(&bus);
    let md = [(keys::MODEL, Value::Str("gpt-4o"))];
    let spans: Vec<_> = (0..5)
        .map(|_| bus.start_span(&catalog::LLM_CHAT, &md))
        .collect();
    // A grouping span is not an operation of its own.
    let request = bus.start_span(&catalog::LLM_REQUEST, &md);
    let text = reporter.render();
    assert_eq!(sample(&text, IN_FLIGHT_CHAT), Some(5.0), "{text}");
    assert!(
        !text.contains("gen_ai_operation_name=\"request\""),
        "{text}"
    );
    let mut spans = spans.into_iter();
    spans.next().unwrap().stop();
    spans
        .next()
        .unwrap()
        .exception("timeout", "deadline exceeded");
    drop(spans.next()); // dropped unstopped: stop with status "cancelled"
    assert_eq!(sample(&reporter.render(), IN_FLIGHT_CHAT), Some(2.0));
    for span in spans {
        span.stop();
    }
    request.stop();
    let text = reporter.render();
    assert_eq!(sample(&text, IN_FLIGHT_CHAT), Some(0.0), "{text}");
    assert!(
        text.contains("# TYPE llm_requests_in_flight gauge"),
        "{text}"
    );
    for reason in SkipReason::ALL {
        assert_eq!(reporter.skipped("llm_requests_in_flight", reason), 0);
    }
    promtool_check(&text);
}

#[test]
fn in_flight_is_exact_under_concurrent_spans() {
    let bus = Bus::new();
    let reporter = default_reporter(&bus);
    std::thread::scope(|s| {
        for t in 0..4 {
            let bus = &bus;
            s.spawn(move || {
                let model = ["a", "b"][t % 2];
                for _ in 0..5_000 {
                    let span =
                        bus.start_span(&catalog::LLM_EMBED, &[(keys::MODEL, Value::Str(model))]);
                    span.stop();
                }
            });
        }
    });
    let text = reporter.render();
    for model in ["a", "b"] {
        let series = format!(
            "llm_requests_in_flight{{gen_ai_operation_name=\"embeddings\",gen_ai_request_model=\"{model}\"}}"
        );
        assert_eq!(sample(&text, &series), Some(0.0), "{text}");
        let requests = format!(
            "llm_requests_total{{gen_ai_operation_name=\"embeddings\",gen_ai_provider_name=\"unknown\",gen_ai_request_model=\"{model}\",status=\"ok\"}}"
        );
        assert_eq!(sample(&text, &requests), Some(10_000.0), "{text}");
    }
}

#[test]
fn cache_size_adds_puts_and_subtracts_evictions() {
    let bus = Bus::new();
    let reporter = default_reporter(&bus);
    let telemetry = Instrumentation::new(&bus, TelemetryLevel::Basic);
    let cache = telemetry.cache("prompts");
    for i in 0..10 {
        cache.put(format!("k{i}"), Some(1000 + i));
    }
    for i in 0..4 {
        cache.evicted(format!("k{i}"), Some(1000 + i));
    }
    cache.put("unsized", None); // no size: skipped and counted, the gauge unchanged
    let text = reporter.render();
    // (1000 + … + 1009) − (1000 + … + 1003) = 10045 − 4006.
    assert_eq!(
        sample(&text, "llm_cache_size_bytes{cache_name=\"prompts\"}"),
        Some(6039.0),
        "{text}"
    );
    assert_eq!(
        reporter.skipped("llm_cache_size_bytes", SkipReason::MissingMeasurement),
        1
    );
    assert_eq!(
        sample(&text, "llm_cache_evictions_total{cache_name=\"prompts\"}"),
        Some(4.0)
    );
}

#[test]
fn streamed_operations_record_time_to_first_chunk_and_per_output_token() {
    let bus = Bus::new();
    let reporter = default_reporter(&bus);
    let telemetry = Instrumentation::new(&bus, TelemetryLevel::Basic);
    let backend = InstrumentedBackend::new(
        SimulatedBackend::new("mlx").fail_every(NonZeroU64::new(1_000).unwrap()),
        telemetry,
    );
    for _ in 0..3 {
        let stream = GenerateRequest::new("llama", "Count to ten")
            .max_tokens(16)
            .streaming(true);
        backend.stream(&stream).unwrap().for_each(drop);
    }
    // A call that is not streamed has neither measurement and is left out, not skipped.
    let chat = ChatRequest::new("llama", vec![ChatMessage::user("hi")]).max_tokens(8);
    backend.chat(&chat).unwrap();
    let text = reporter.render();
    let labels = "gen_ai_operation_name=\"text_completion\",gen_ai_provider_name=\"mlx\",gen_ai_request_model=\"llama\"";
    for metric in [
        "gen_ai_client_operation_time_to_first_chunk_seconds",
        "gen_ai_server_time_per_output_token_seconds",
    ] {
        assert_eq!(
            sample(&text, &format!("{metric}_count{{{labels}}}")),
            Some(3.0),
            "{metric}: {text}"
        );
        assert!(
            !text.contains(&format!("{metric}_count{{gen_ai_operation_name=\"chat\"")),
            "{text}"
        );
        assert_eq!(reporter.skipped(metric, SkipReason::MissingMeasurement), 0);
    }
    assert!(text.contains(&format!(
        "gen_ai_server_time_per_output_token_seconds_bucket{{{labels},le=\"0.075\"}}"
    )));
    promtool_check(&text);
}

#[test]
fn budget_crossings_are_counted_by_tenant_and_window() {
    let bus = Bus::new();
    let reporter = default_reporter(&bus);
    let crossed = [(keys::COST_USD, 12.0), (keys::THRESHOLD_USD, 10.0)];
    bus.execute(
        &catalog::LLM_COST_THRESHOLD_EXCEEDED,
        &crossed,
        &[
            (keys::TENANT, Value::Str("acme")),
            (keys::WINDOW, Value::Str("day")),
        ],
    );
    bus.execute(
        &catalog::LLM_COST_THRESHOLD_EXCEEDED,
        &crossed,
        &[(keys::WINDOW, Value::Str("month"))],
    );
    let text = reporter.render();
    assert_eq!(
        sample(
            &text,
            "llm_cost_threshold_exceeded_total{tenant=\"acme\",window=\"day\"}"
        ),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            "llm_cost_threshold_exceeded_total{tenant=\"global\",window=\"month\"}"
        ),
        Some(1.0),
        "{text}"
    );
}

#[test]
fn provider_requests_have_their_own_duration_histogram() {
    let bus = Bus::new();
    let reporter = default_reporter(&bus);
    let md = [
        (keys::PROVIDER, Value::Str("openai")),
        (keys::MODEL, Value::Str("gpt-4o")),
    ];
    bus.execute(&catalog::LLM_CHAT_STOP, &[(keys::DURATION, 2e9)], &md);
    let provider_stop = llm_telemetry_core::EventName::new("llm.provider.request.stop").unwrap();
    for _ in 0..3 {
        bus.execute(provider_stop, &[(keys::DURATION, 5e8)], &md);
    }
    let text = reporter.render();
    let total: f64 = text
        .lines()
        .filter(|l| l.starts_with("gen_ai_client_operation_duration_seconds_count{"))
        .map(|l| l.rsplit(' ').next().unwrap().parse::<f64>().unwrap())
        .sum();
    assert_eq!(total, 1.0, "{text}");
    assert!(
        !text.contains("gen_ai_operation_name=\"provider_request\""),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            "llm_provider_request_duration_seconds_count{gen_ai_provider_name=\"openai\",status=\"ok\"}"
        ),
        Some(3.0),
        "{text}"
    );
}

#[test]
fn a_custom_up_down_gauge_moves_by_its_measurement() {
    let bus = Bus::new();
    let reporter = PrometheusReporter::builder()
        .metric(
            Metric::up_down_by("queue_tokens", &["q.push"], &["q.pop"], "tokens")
                .tag(Tag::metadata("queue")),
        )
        .unwrap()
        .attach(&bus)
        .unwrap();
    let push = llm_telemetry_core::EventName::new("q.push").unwrap();
    let pop = llm_telemetry_core::EventName::new("q.pop").unwrap();
    let q = [("queue", Value::Str("main"))];
    bus.execute(push, &[("tokens", 7.0)], &q);
    bus.execute(push, &[("tokens", 5.5)], &q);
    bus.execute(pop, &[("tokens", 20.0)], &q); // below zero: it counts events, not states
    let text = reporter.render();
    assert_eq!(
        sample(&text, "queue_tokens{queue=\"main\"}"),
        Some(-7.5),
        "{text}"
    );
    assert!(text.contains("# TYPE queue_tokens gauge"), "{text}");
    assert!(
        text.contains("# HELP queue_tokens Gauge raised by tokens on q.push events and lowered on q.pop events"),
        "{text}"
    );
}
