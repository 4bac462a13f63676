//! Spans built from bus events, checked through a capturing exporter (no server needed): ids and
//! parentage from the bus, names, status, exception events, both attribute conventions and the
//! MLX set, privacy, sampling, per-tenant projects and their cache, flush semantics, the simple
//! processor, export failures, and use inside a program that runs tokio.

mod support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, UNIX_EPOCH};

use llm_telemetry_core::{Bus, SpanContext, Value};
use llm_telemetry_genai::catalog::{self, keys};
use llm_telemetry_otel::otel::opentelemetry::trace::{SpanKind, Status};
use llm_telemetry_otel::{Conventions, OtelHandler, Processor, Sampler};
use support::capture::{CaptureExporter, Exported, attr, attr_i64};

const FLUSH: Duration = Duration::from_secs(10);

/// The handler's builder for these tests: no environment, service `svc`, spans to `capture`.
fn builder(capture: &CaptureExporter) -> llm_telemetry_otel::OtelHandlerBuilder {
    OtelHandler::builder()
        .read_env(false)
        .service_name("svc")
        .exporter(capture.clone())
}

/// A fresh bus with the handler attached, configured by `configure`, exporting to a capture.
fn attached(
    configure: impl FnOnce(
        llm_telemetry_otel::OtelHandlerBuilder,
    ) -> llm_telemetry_otel::OtelHandlerBuilder,
) -> (Bus, CaptureExporter, OtelHandler) {
    let bus = Bus::new();
    let capture = CaptureExporter::new();
    let otel = configure(builder(&capture)).attach(&bus).unwrap();
    (bus, capture, otel)
}

fn by_name<'a>(spans: &'a [Exported], name: &str) -> &'a Exported {
    spans
        .iter()
        .find(|e| e.span.name == name)
        .unwrap_or_else(|| {
            panic!(
                "no span named {name:?} in {:?}",
                spans.iter().map(|e| &e.span.name).collect::<Vec<_>>()
            )
        })
}

#[test]
fn stop_events_become_spans_with_the_bus_ids_and_parentage() {
    let (bus, capture, otel) = attached(|b| b);
    let mut contexts: Vec<SpanContext> = Vec::new();
    bus.span(&catalog::LLM_REQUEST, &[], |outer| {
        contexts.push(outer.context().unwrap());
        bus.span(
            &catalog::LLM_CHAT,
            &[
                (keys::PROVIDER, Value::Str("openai")),
                (keys::MODEL, Value::Str("gpt-4o")),
            ],
            |inner| {
                contexts.push(inner.context().unwrap());
                inner.measure(keys::OUTPUT_TOKENS, 7.0);
            },
        );
    });
    assert!(otel.force_flush(FLUSH));
    let spans = capture.spans();
    assert_eq!(spans.len(), 2);
    let request = by_name(&spans, "llm.request");
    let chat = by_name(&spans, "chat gpt-4o");
    let (outer, inner) = (contexts[0], contexts[1]);
    assert_eq!(
        request.span.span_context.trace_id().to_bytes(),
        outer.trace_id.to_bytes()
    );
    assert_eq!(
        request.span.span_context.span_id().to_bytes(),
        outer.span_id.to_bytes()
    );
    assert_eq!(
        request.span.parent_span_id.to_bytes(),
        [0; 8],
        "the request is a root"
    );
    assert_eq!(
        chat.span.span_context.trace_id().to_bytes(),
        outer.trace_id.to_bytes()
    );
    assert_eq!(
        chat.span.span_context.span_id().to_bytes(),
        inner.span_id.to_bytes()
    );
    assert_eq!(
        chat.span.parent_span_id.to_bytes(),
        outer.span_id.to_bytes()
    );
    assert_eq!(chat.span.status, Status::Unset);
    assert_eq!(chat.span.span_kind, SpanKind::Client);
    assert_eq!(request.span.span_kind, SpanKind::Internal);
    assert_eq!(
        chat.span.start_time,
        UNIX_EPOCH + Duration::from_nanos(inner.start_unix_nanos)
    );
    assert!(chat.span.end_time >= chat.span.start_time);
    assert!(
        request.span.end_time >= chat.span.end_time,
        "the parent ends after its child"
    );
    assert_eq!(
        chat.span.instrumentation_scope.name(),
        llm_telemetry_otel::SCOPE_NAME
    );
    assert_eq!(chat.service.as_deref(), Some("svc"));

    // Only stop/exception events reach the handler: start events cost the emitter nothing.
    let stats = bus.stats();
    assert_eq!(stats.handler("llm-telemetry-otel").unwrap().delivered, 2);
    assert_eq!(otel.stats().exported, 2);
    assert!(otel.shutdown(FLUSH));
}

#[derive(Debug)]
struct Timeout;
impl std::fmt::Display for Timeout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the provider did not answer")
    }
}

#[test]
fn exceptions_set_error_status_and_an_exception_event() {
    let (bus, capture, otel) = attached(|b| b);
    let result: Result<(), Timeout> = bus.try_span(
        &catalog::LLM_CHAT,
        &[(keys::MODEL, Value::Str("claude"))],
        |_| Err(Timeout),
    );
    assert!(result.is_err());
    assert!(otel.force_flush(FLUSH));
    let spans = capture.spans();
    let span = &by_name(&spans, "chat claude").span;
    assert_eq!(span.status, Status::error("the provider did not answer"));
    assert_eq!(span.events.len(), 1);
    let event = &span.events.events[0];
    assert_eq!(event.name, "exception");
    let get = |k: &str| {
        event
            .attributes
            .iter()
            .find(|kv| kv.key.as_str() == k)
            .map(|kv| kv.value.to_string())
    };
    assert_eq!(get("exception.type").as_deref(), Some("Timeout"));
    assert_eq!(
        get("exception.message").as_deref(),
        Some("the provider did not answer")
    );
    assert_eq!(attr(span, "error.type").as_deref(), Some("Timeout"));
    otel.shutdown(FLUSH);
}

fn full_chat(bus: &Bus) {
    bus.span(
        &catalog::LLM_CHAT,
        &[
            (keys::PROVIDER, Value::Str("openai")),
            (keys::MODEL, Value::Str("gpt-4o")),
            (keys::TENANT, Value::Str("")),
            (keys::MAX_TOKENS, Value::Int(256)),
            (keys::TEMPERATURE, Value::Float(0.5)),
            (keys::TOP_P, Value::Float(0.9)),
            (keys::SEED, Value::Int(42)),
            (keys::INPUT, Value::Str("What is 2+2?")),
            ("app.custom", Value::Str("kept")),
        ],
        |span| {
            span.measure(keys::INPUT_TOKENS, 10.0);
            span.measure(keys::OUTPUT_TOKENS, 5.0);
            span.measure(keys::COST_USD, 0.0012);
            span.set(keys::OUTPUT, "{\"answer\": 4}");
            span.set(keys::FINISH_REASONS, "stop");
            span.set(keys::RESPONSE_MODEL, "gpt-4o-2024-08-06");
        },
    );
}

#[test]
fn attributes_follow_both_conventions() {
    let (bus, capture, otel) = attached(|b| b);
    full_chat(&bus);
    assert!(otel.force_flush(FLUSH));
    let spans = capture.spans();
    let s = &spans[0].span;
    let expect = [
        ("openinference.span.kind", "LLM"),
        ("llm.model_name", "gpt-4o-2024-08-06"),
        ("llm.provider", "openai"),
        ("input.value", "What is 2+2?"),
        ("input.mime_type", "text/plain"),
        ("output.value", "{\"answer\": 4}"),
        ("output.mime_type", "application/json"),
        ("gen_ai.operation.name", "chat"),
        ("gen_ai.provider.name", "openai"),
        ("gen_ai.request.model", "gpt-4o"),
        ("gen_ai.response.model", "gpt-4o-2024-08-06"),
        ("gen_ai.request.temperature", "0.5"),
        ("gen_ai.request.top_p", "0.9"),
        ("app.custom", "kept"),
    ];
    for (k, v) in expect {
        assert_eq!(attr(s, k).as_deref(), Some(v), "attribute {k}");
    }
    assert_eq!(attr_i64(s, "llm.token_count.prompt"), Some(10));
    assert_eq!(attr_i64(s, "llm.token_count.completion"), Some(5));
    assert_eq!(attr_i64(s, "llm.token_count.total"), Some(15));
    assert_eq!(attr_i64(s, "gen_ai.usage.input_tokens"), Some(10));
    assert_eq!(attr_i64(s, "gen_ai.usage.output_tokens"), Some(5));
    assert_eq!(attr_i64(s, "gen_ai.request.max_tokens"), Some(256));
    assert_eq!(attr_i64(s, "gen_ai.request.seed"), Some(42));
    assert_eq!(attr(s, "llm.cost.total").as_deref(), Some("0.0012"));
    assert_eq!(
        attr(s, "gen_ai.response.finish_reasons").as_deref(),
        Some("[\"stop\"]")
    );
    let params: serde_json::Value =
        serde_json::from_str(&attr(s, "llm.invocation_parameters").unwrap()).unwrap();
    assert_eq!(params["max_tokens"], 256);
    assert_eq!(params["temperature"], 0.5);
    assert_eq!(params["seed"], 42);
    // An empty tenant is no tenant: the default project.
    assert_eq!(spans[0].project, None);
    otel.shutdown(FLUSH);

    // Each convention can be switched off.
    let (bus, capture, otel) = attached(|b| {
        b.conventions(Conventions {
            openinference: false,
            genai: true,
            mlx: true,
        })
    });
    full_chat(&bus);
    assert!(otel.force_flush(FLUSH));
    let s = &capture.spans()[0].span;
    assert!(attr(s, "openinference.span.kind").is_none());
    assert!(attr(s, "input.value").is_none());
    assert_eq!(attr(s, "gen_ai.request.model").as_deref(), Some("gpt-4o"));
    otel.shutdown(FLUSH);

    let (bus, capture, otel) = attached(|b| {
        b.conventions(Conventions {
            openinference: true,
            genai: false,
            mlx: false,
        })
    });
    full_chat(&bus);
    assert!(otel.force_flush(FLUSH));
    let s = &capture.spans()[0].span;
    assert!(attr(s, "gen_ai.operation.name").is_none());
    assert!(attr(s, "gen_ai.usage.input_tokens").is_none());
    assert_eq!(
        attr(s, "llm.model_name").as_deref(),
        Some("gpt-4o-2024-08-06")
    );
    otel.shutdown(FLUSH);
}

#[test]
fn mlx_spans_use_the_seed_names_and_attributes() {
    let (bus, capture, otel) = attached(|b| b);
    bus.span(
        &catalog::LLM_GENERATE,
        &[
            (keys::PROVIDER, Value::Str("mlx")),
            (keys::MODEL, Value::Str("mlx-community/Llama-3.2-1B-4bit")),
            (keys::DEVICE, Value::Str("gpu")),
            (keys::INPUT, Value::Str("héllo")),
            (keys::SEED, Value::Int(42)),
            (keys::STREAMING, Value::Bool(true)),
        ],
        |span| {
            span.measure(keys::OUTPUT_TOKENS, 3.0);
            span.measure(keys::TOKENS_PER_SECOND, 120.0);
            span.set(keys::OUTPUT, "hi there");
        },
    );
    bus.span(
        &catalog::LLM_EMBED,
        &[
            (keys::PROVIDER, Value::Str("mlx")),
            (keys::MODEL, Value::Str("bge-small")),
            (keys::POOLING, Value::Str("mean")),
            (keys::IS_QUERY, Value::Bool(true)),
            (keys::INPUT, Value::Str("two wörds")),
        ],
        |span| {
            span.measure(keys::DIMENSION, 384.0);
            span.measure(keys::BATCH_SIZE, 2.0);
        },
    );
    assert!(otel.force_flush(FLUSH));
    let spans = capture.spans();
    let generate = &by_name(&spans, "mlx_lm.generate").span;
    assert_eq!(
        attr(generate, "mlx.model_id").as_deref(),
        Some("mlx-community/Llama-3.2-1B-4bit")
    );
    assert_eq!(attr(generate, "mlx.device").as_deref(), Some("gpu"));
    assert!(attr(generate, "mlx.latency_ms").is_some());
    assert_eq!(
        attr(generate, "mlx.tokens_per_second").as_deref(),
        Some("120")
    );
    assert_eq!(
        attr_i64(generate, "gen_ai.prompt.length"),
        Some(5),
        "characters, not bytes"
    );
    assert_eq!(attr_i64(generate, "gen_ai.response.length"), Some(8));
    // PMD's own names, beside the GenAI and MLX ones.
    assert_eq!(attr_i64(generate, "gen_ai.seed"), Some(42));
    assert_eq!(attr(generate, "gen_ai.streaming").as_deref(), Some("true"));
    assert_eq!(attr_i64(generate, "gen_ai.response.token_count"), Some(3));
    assert_eq!(
        generate.span_kind,
        SpanKind::Internal,
        "a local model is not a client call"
    );
    let embed = &by_name(&spans, "mlx_embedding.embed").span;
    assert_eq!(
        attr(embed, "openinference.span.kind").as_deref(),
        Some("EMBEDDING")
    );
    assert_eq!(
        attr(embed, "embedding.model_name").as_deref(),
        Some("bge-small")
    );
    assert_eq!(attr_i64(embed, "embedding.dimension"), Some(384));
    assert_eq!(
        attr_i64(embed, "gen_ai.embeddings.dimension.count"),
        Some(384)
    );
    assert_eq!(
        attr(embed, "embedding.pooling_used").as_deref(),
        Some("mean")
    );
    assert_eq!(attr(embed, "embedding.is_query").as_deref(), Some("true"));
    assert_eq!(
        attr(embed, "embedding.pooling_strategy").as_deref(),
        Some("mean")
    );
    assert_eq!(
        attr_i64(embed, "embedding.input_length"),
        Some(9),
        "characters, not bytes"
    );
    assert_eq!(attr_i64(embed, "embedding.batch_size"), Some(2));
    otel.shutdown(FLUSH);

    // GenAI naming and per-prefix overrides.
    let (bus, capture, otel) = attached(|b| {
        b.span_naming(llm_telemetry_otel::SpanNaming::GenAi)
            .span_name("llm.embed", "embed documents")
    });
    bus.span(
        &catalog::LLM_GENERATE,
        &[
            (keys::PROVIDER, Value::Str("mlx")),
            (keys::MODEL, Value::Str("m")),
        ],
        |_| (),
    );
    bus.span(
        &catalog::LLM_EMBED,
        &[(keys::PROVIDER, Value::Str("mlx"))],
        |_| (),
    );
    assert!(otel.force_flush(FLUSH));
    let spans = capture.spans();
    by_name(&spans, "text_completion m");
    by_name(&spans, "embed documents");
    otel.shutdown(FLUSH);
}

#[test]
fn hidden_and_truncated_content() {
    let (bus, capture, otel) = attached(|b| b.hide_inputs(true).hide_outputs(true));
    full_chat(&bus);
    assert!(otel.force_flush(FLUSH));
    let s = &capture.spans()[0].span;
    assert_eq!(attr(s, "input.value").as_deref(), Some("__REDACTED__"));
    assert_eq!(attr(s, "output.value").as_deref(), Some("__REDACTED__"));
    assert!(
        !s.attributes
            .iter()
            .any(|kv| kv.value.to_string().contains("2+2"))
    );
    otel.shutdown(FLUSH);

    let (bus, capture, otel) = attached(|b| b.max_value_length(4));
    bus.span(
        &catalog::LLM_CHAT,
        &[(keys::INPUT, Value::Str("naïve question"))],
        |span| {
            span.set(keys::OUTPUT, "日本語の答え");
        },
    );
    assert!(otel.force_flush(FLUSH));
    let s = &capture.spans()[0].span;
    assert_eq!(
        attr(s, "input.value").as_deref(),
        Some("naï"),
        "cut on a char boundary"
    );
    assert_eq!(attr(s, "output.value").as_deref(), Some("日"));
    otel.shutdown(FLUSH);
}

#[test]
fn samplers_keep_or_drop_whole_traces() {
    let (bus, capture, otel) = attached(|b| b.sampler(Sampler::AlwaysOff));
    for _ in 0..10 {
        full_chat(&bus);
    }
    assert!(otel.force_flush(FLUSH));
    assert!(capture.spans().is_empty());
    assert_eq!(otel.stats().sampled_out, 10);
    otel.shutdown(FLUSH);

    let (bus, capture, otel) = attached(|b| b.sampler(Sampler::ParentBased(0.5)));
    for _ in 0..200 {
        bus.span(&catalog::LLM_REQUEST, &[], |_| {
            bus.span(&catalog::LLM_CHAT, &[], |_| ());
        });
    }
    assert!(otel.force_flush(FLUSH));
    let spans = capture.spans();
    let stats = otel.stats();
    assert_eq!(stats.exported + stats.sampled_out, 400);
    assert!(
        (100..300).contains(&spans.len()),
        "kept {} of 400 at 0.5",
        spans.len()
    );
    let mut per_trace = std::collections::HashMap::new();
    for e in &spans {
        *per_trace.entry(e.span.span_context.trace_id()).or_insert(0) += 1;
    }
    assert!(per_trace.values().all(|n| *n == 2), "traces are kept whole");
    otel.shutdown(FLUSH);

    // A remote "not sampled" parent is honoured.
    let (bus, capture, otel) = attached(|b| b.sampler(Sampler::ParentBased(1.0)));
    let remote: llm_telemetry_core::TraceParent =
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"
            .parse()
            .unwrap();
    {
        let _g = llm_telemetry_core::context::enter(Some(remote.to_context()));
        bus.span(&catalog::LLM_CHAT, &[], |_| ());
    }
    bus.span(&catalog::LLM_CHAT, &[], |_| ());
    assert!(otel.force_flush(FLUSH));
    assert_eq!(capture.spans().len(), 1);
    assert_eq!(otel.stats().sampled_out, 1);
    otel.shutdown(FLUSH);
}

#[test]
fn tenants_get_their_own_projects_in_a_bounded_cache() {
    let (bus, capture, otel) =
        attached(|b| b.project_name("default-project").tenant_max_entries(2));
    for tenant in ["acme", "globex", "acme", "initech", "acme"] {
        bus.span(
            &catalog::LLM_CHAT,
            &[(keys::TENANT, Value::Str(tenant))],
            |_| (),
        );
        // One export per span, so each is a separate cache lookup.
        assert!(otel.force_flush(FLUSH));
    }
    bus.span(&catalog::LLM_CHAT, &[], |_| ());
    assert!(otel.force_flush(FLUSH));
    let projects: Vec<Option<String>> = capture.spans().into_iter().map(|e| e.project).collect();
    let expected = [
        "llm-acme-svc",
        "llm-globex-svc",
        "llm-acme-svc",
        "llm-initech-svc",
        "llm-acme-svc",
        "default-project",
    ];
    assert_eq!(
        projects,
        expected
            .iter()
            .map(|p| Some(p.to_string()))
            .collect::<Vec<_>>()
    );
    let tenants = otel.stats().tenants;
    assert_eq!(tenants.misses, 3, "acme, globex, initech");
    assert_eq!(tenants.hits, 2);
    assert_eq!(
        tenants.evictions, 1,
        "globex was least recently used when initech came"
    );
    assert_eq!(tenants.live, 2);
    assert_eq!(tenants.failed_inits, 0);
    otel.shutdown(FLUSH);

    // A tenant whose exporter cannot be made: counted, its spans dropped and counted.
    let bus = Bus::new();
    let calls = Arc::new(Mutex::new(0));
    let factory_calls = calls.clone();
    let otel = OtelHandler::builder()
        .read_env(false)
        .exporter_factory(move || {
            let mut n = factory_calls.lock().unwrap();
            *n += 1;
            if *n == 1 {
                Ok(CaptureExporter::new())
            } else {
                Err("tenant backend refused")
            }
        })
        .attach(&bus)
        .unwrap();
    bus.span(
        &catalog::LLM_CHAT,
        &[(keys::TENANT, Value::Str("acme"))],
        |_| (),
    );
    assert!(
        !otel.force_flush(FLUSH),
        "a dropped batch makes the flush report failure"
    );
    let stats = otel.stats();
    assert_eq!(stats.tenants.failed_inits, 1);
    assert_eq!(stats.dropped_no_exporter, 1);
    assert_eq!(stats.dropped(), 1);
    otel.shutdown(FLUSH);

    // With short TTLs, idle tenants are evicted.
    let (bus, _, otel) = attached(|b| b.tenant_ttl(Duration::ZERO));
    bus.span(
        &catalog::LLM_CHAT,
        &[(keys::TENANT, Value::Str("a"))],
        |_| (),
    );
    assert!(otel.force_flush(FLUSH));
    std::thread::sleep(Duration::from_millis(20));
    bus.span(
        &catalog::LLM_CHAT,
        &[(keys::TENANT, Value::Str("b"))],
        |_| (),
    );
    assert!(otel.force_flush(FLUSH));
    assert!(otel.stats().tenants.evictions >= 1);
    otel.shutdown(FLUSH);
}

#[test]
fn flush_exports_everything_that_ended_before_it() {
    let (bus, capture, otel) = attached(|b| {
        b.scheduled_delay(Duration::from_secs(3600))
            .max_export_batch_size(10_000)
            .max_queue_size(10_000)
    });
    for _ in 0..1000 {
        bus.span(&catalog::LLM_CHAT, &[], |_| ());
    }
    assert!(otel.force_flush(FLUSH));
    assert_eq!(
        capture.spans().len(),
        1000,
        "no waiting for the hour-long delay"
    );
    for _ in 0..5 {
        bus.span(&catalog::LLM_CHAT, &[], |_| ());
    }
    assert!(otel.shutdown(FLUSH));
    assert_eq!(
        capture.spans().len(),
        1005,
        "shutdown exports what is pending"
    );
    assert!(!otel.shutdown(FLUSH), "a second shutdown does nothing");
    let stats = otel.stats();
    assert_eq!(stats.exported, 1005);
    assert_eq!(stats.dropped(), 0);
}

#[test]
fn simple_processor_exports_each_span_before_the_next() {
    let (bus, capture, otel) = attached(|b| {
        b.processor(Processor::Simple)
            .scheduled_delay(Duration::from_secs(3600))
    });
    bus.span(&catalog::LLM_CHAT, &[], |_| ());
    // Only the bus lane is flushed here, not the handler: the span is exported already.
    assert!(bus.drain(FLUSH));
    assert_eq!(capture.spans().len(), 1);
    otel.shutdown(FLUSH);
}

#[test]
fn failed_exports_are_counted_and_warned_about_once() {
    let bus = Bus::new();
    let capture = CaptureExporter::new();
    capture.fail(true);
    let warnings = Arc::new(Mutex::new(Vec::<String>::new()));
    let sink = warnings.clone();
    let otel = builder(&capture)
        .max_export_batch_size(1)
        .on_warning(move |m| sink.lock().unwrap().push(m.to_owned()))
        .attach(&bus)
        .unwrap();
    for _ in 0..20 {
        bus.span(&catalog::LLM_CHAT, &[], |_| ());
    }
    assert!(!otel.force_flush(FLUSH));
    let stats = otel.stats();
    assert_eq!(stats.dropped_export_failed, 20);
    assert_eq!(stats.failed_exports, 20);
    assert_eq!(stats.exported, 0);
    let warnings = warnings.lock().unwrap().clone();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].contains("told to fail"), "{}", warnings[0]);
    otel.shutdown(FLUSH);
}

#[test]
fn events_that_are_not_span_ends_are_skipped_and_counted() {
    let (bus, capture, otel) = attached(|b| b);
    // A stop event emitted by hand, outside any span: no context.
    bus.execute(&catalog::LLM_CHAT_STOP, &[(keys::DURATION, 5.0)], &[]);
    // A stop event with a context but a garbage duration.
    bus.execute_in_span(
        &catalog::LLM_CHAT_STOP,
        &[(keys::DURATION, -5.0)],
        &[(keys::MODEL, Value::Int(3))],
        Some(SpanContext::new_root()),
    );
    assert!(otel.force_flush(FLUSH));
    let stats = otel.stats();
    assert_eq!(stats.skipped_events, 1);
    assert_eq!(stats.exported, 1);
    let s = &capture.spans()[0].span;
    assert_eq!(
        s.end_time, s.start_time,
        "a negative duration is treated as zero"
    );
    assert_eq!(bus.stats().handler_failures, 0);
    otel.shutdown(FLUSH);
}

#[test]
fn works_inside_a_program_that_runs_tokio() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let capture = CaptureExporter::new();
    let exported = runtime.block_on(async {
        let bus = Bus::new();
        let otel = builder(&capture).attach(&bus).unwrap();
        bus.span(&catalog::LLM_CHAT, &[], |_| ());
        let flushed = otel.force_flush(FLUSH);
        drop(otel); // dropping inside an async context must not panic
        flushed
    });
    assert!(exported);
    assert_eq!(capture.spans().len(), 1);
}

#[test]
fn an_event_handler_sees_the_same_ids_as_the_span() {
    // The log handler prints trace_id/span_id; they must match what the span exporter sends.
    let (bus, capture, otel) = attached(|b| b);
    let seen = Arc::new(Mutex::new(None));
    let sink = seen.clone();
    bus.attach("ids", "llm.chat.stop", move |e| {
        *sink.lock().unwrap() = e.span()
    })
    .unwrap();
    bus.span(&catalog::LLM_CHAT, &[], |_| ());
    assert!(otel.force_flush(FLUSH));
    let ctx = seen.lock().unwrap().unwrap();
    let s = &capture.spans()[0].span;
    assert_eq!(
        s.span_context.trace_id().to_string(),
        ctx.trace_id.to_string()
    );
    assert_eq!(
        s.span_context.span_id().to_string(),
        ctx.span_id.to_string()
    );
    otel.shutdown(FLUSH);
}

#[test]
fn tenant_projects_can_be_switched_off() {
    let (bus, capture, otel) = attached(|b| b.tenant_projects(false));
    bus.span(
        &catalog::LLM_CHAT,
        &[(keys::TENANT, Value::Str("acme"))],
        |_| (),
    );
    assert!(otel.force_flush(FLUSH));
    let spans = capture.spans();
    assert_eq!(spans[0].project, None);
    assert_eq!(
        attr(&spans[0].span, "tenant.id").as_deref(),
        Some("acme"),
        "still an attribute"
    );
    assert_eq!(otel.stats().tenants.misses, 0);
    otel.shutdown(FLUSH);
}

#[test]
fn the_handle_can_be_shared_across_threads() {
    fn assert_send_sync<T: Send + Sync + 'static>() {}
    assert_send_sync::<OtelHandler>();
    assert_send_sync::<llm_telemetry_otel::OtelHandlerBuilder>();
}

#[test]
fn the_builder_resolves_without_attaching() {
    let config = OtelHandler::builder()
        .read_env(false)
        .endpoint("http://127.0.0.1:6006")
        .protocol(llm_telemetry_otel::Protocol::HttpProtobuf)
        .service_name("svc")
        .resolve()
        .unwrap();
    assert_eq!(config.endpoint, "http://127.0.0.1:6006/v1/traces");
    assert_eq!(
        config.queue_capacity,
        llm_telemetry_otel::config::DEFAULT_QUEUE_CAPACITY
    );
    let err = OtelHandler::builder()
        .read_env(false)
        .endpoint("127.0.0.1:4317")
        .resolve()
        .unwrap_err();
    assert!(err.to_string().contains("127.0.0.1:4317"), "{err}");
    // A duplicate handler id is refused by the bus, and the export thread it started stops.
    let bus = Bus::new();
    let first = OtelHandler::builder()
        .read_env(false)
        .exporter(CaptureExporter::new())
        .attach(&bus)
        .unwrap();
    let second = OtelHandler::builder()
        .read_env(false)
        .exporter(CaptureExporter::new())
        .attach(&bus);
    assert!(matches!(
        second,
        Err(llm_telemetry_otel::OtelError::Attach(_))
    ));
    first.shutdown(FLUSH);
}

#[test]
fn debug_output_never_shows_header_values() {
    let builder = OtelHandler::builder()
        .read_env(false)
        .headers([("authorization", "Bearer top-secret")]);
    assert!(!format!("{builder:?}").contains("top-secret"));
    let config = builder.resolve().unwrap();
    let shown = format!("{config:?}");
    assert!(!shown.contains("top-secret"), "{shown}");
    assert!(shown.contains("authorization"), "{shown}");
}

/// PMD names its request spans `pmd.{operation}`: a request-span prefix does that for every
/// request span without a name per call; without it the operation alone names the span.
#[test]
fn a_request_span_prefix_gives_pmds_names() {
    for (prefix, expected) in [(Some("pmd."), "pmd.hybrid_search"), (None, "hybrid_search")] {
        let (bus, capture, otel) = attached(|b| match prefix {
            Some(p) => b.request_span_prefix(p),
            None => b,
        });
        bus.span(
            &catalog::LLM_REQUEST,
            &[(keys::OPERATION, Value::Str("hybrid_search"))],
            |_| {
                bus.span(
                    &catalog::LLM_EMBED,
                    &[
                        (keys::PROVIDER, Value::Str("mlx")),
                        (keys::MODEL, Value::Str("bge")),
                    ],
                    |_| {},
                );
            },
        );
        assert!(otel.force_flush(FLUSH));
        let spans = capture.spans();
        let names: Vec<_> = spans.iter().map(|s| s.span.name.to_string()).collect();
        assert!(names.iter().any(|n| n == expected), "{names:?}");
        // Only request spans take the prefix.
        assert!(
            names.iter().any(|n| n == "mlx_embedding.embed"),
            "{names:?}"
        );
    }
}
