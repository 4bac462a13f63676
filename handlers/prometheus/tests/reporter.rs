//! The reporter end to end on a real bus: the default metric set, skip-and-count, caps and
//! overflow, bus health self-metrics, custom definitions.

mod common;

use std::time::Duration;

use llm_telemetry_core::{Bus, Delivery, Event, LifecycleError, Value};
use llm_telemetry_genai::catalog::{self, keys};
use llm_telemetry_prometheus::{Conversion, Metric, PrometheusReporter, SkipReason, Tag, defaults};

use common::{default_reporter, sample, traffic};

#[test]
fn default_metrics_record_catalog_traffic() {
    let bus = Bus::new();
    let reporter = default_reporter(&bus);
    traffic(&bus, 12);
    let text = reporter.render();

    assert!(
        text.contains("# TYPE gen_ai_client_operation_duration_seconds histogram"),
        "{text}"
    );
    assert!(text.contains("# TYPE gen_ai_client_token_usage histogram"));
    assert!(
        text.contains("# TYPE llm_cost_usd_total counter"),
        "sum must be typed counter:\n{text}"
    );
    assert!(!text.contains("summary"), "never a summary:\n{text}");
    // 12 chat stops, 4 per model; 3 exceptions (i = 0, 4, 8) on gpt-4o, claude, llama.
    let ok = "llm_requests_total{gen_ai_operation_name=\"chat\",gen_ai_provider_name=\"openai\",gen_ai_request_model=\"gpt-4o\",status=\"ok\"}";
    assert_eq!(sample(&text, ok), Some(4.0), "{text}");
    let err = "llm_errors_total{gen_ai_operation_name=\"chat\",gen_ai_provider_name=\"openai\",gen_ai_request_model=\"gpt-4o\",error_type=\"timeout\"}";
    assert_eq!(sample(&text, err), Some(1.0), "{text}");
    let input = "gen_ai_client_token_usage_count{gen_ai_operation_name=\"chat\",gen_ai_provider_name=\"openai\",gen_ai_request_model=\"gpt-4o\",gen_ai_token_type=\"input\"}";
    assert_eq!(sample(&text, input), Some(4.0), "{text}");
    let input_sum = input.replace("_count{", "_sum{");
    // i = 0, 3, 6, 9 → 100 + i.
    assert_eq!(sample(&text, &input_sum), Some(418.0));
    let le = "gen_ai_client_operation_duration_seconds_bucket{gen_ai_operation_name=\"chat\",gen_ai_provider_name=\"openai\",gen_ai_request_model=\"gpt-4o\",error_type=\"\",le=\"0.32\"}";
    // Durations 0.25 s × (i % 7 + 1) for i = 0, 3, 6, 9 → 0.25, 1.0, 1.75, 0.75: one ≤ 0.32 s.
    assert_eq!(sample(&text, le), Some(1.0), "{text}");
    // `llm.stream.first_token` events no longer feed a histogram: time to first chunk comes
    // from streamed stop events, with their operation (see tests/default_kinds.rs).
    assert!(!text.contains("gen_ai_client_operation_time_to_first_chunk_seconds_bucket{"));
    let cost = "llm_cost_usd_total{gen_ai_provider_name=\"anthropic\",gen_ai_request_model=\"claude-3-5-sonnet\",tenant=\"acme\"}";
    assert!(
        (sample(&text, cost).unwrap() - 0.01).abs() < 1e-12,
        "{text}"
    );
    assert_eq!(
        sample(&text, "llm_cache_hits_total{cache_name=\"prompts\"}"),
        Some(6.0)
    );
    assert_eq!(
        sample(&text, "llm_cache_misses_total{cache_name=\"prompts\"}"),
        Some(6.0)
    );
    // Self-metrics and the bus's own health.
    // 3 models × {ok, error}.
    assert_eq!(
        sample(
            &text,
            "llm_telemetry_metric_series{metric=\"llm_requests_total\"}"
        ),
        Some(6.0)
    );
    assert!(text.contains("llm_telemetry_handler_events_total{handler=\"prometheus:llm.*.exception,llm.*.stop\",outcome=\"delivered\"}"), "{text}");
    assert_eq!(
        sample(&text, "llm_telemetry_non_finite_measurements_total"),
        Some(0.0)
    );
}

#[test]
fn missing_measurements_and_tags_are_skipped_and_counted() {
    let bus = Bus::new();
    let reporter = PrometheusReporter::builder()
        .metric(
            Metric::distribution(
                "latency_seconds",
                &["llm.chat.stop"],
                keys::DURATION,
                &[1.0],
            )
            .convert(Conversion::NanosecondsToSeconds)
            .tags(&[keys::MODEL]),
        )
        .unwrap()
        .metric(Metric::sum(
            "spend_total",
            &["llm.chat.stop"],
            keys::COST_USD,
        ))
        .unwrap()
        .attach(&bus)
        .unwrap();
    let model = [(keys::MODEL, Value::Str("m"))];
    bus.execute(&catalog::LLM_CHAT_STOP, &[(keys::DURATION, 5e8)], &model); // recorded
    bus.execute(&catalog::LLM_CHAT_STOP, &[], &model); // no duration
    bus.execute(&catalog::LLM_CHAT_STOP, &[(keys::DURATION, 5e8)], &[]); // no model
    bus.execute(&catalog::LLM_CHAT_STOP, &[(keys::COST_USD, -1.0)], &model); // negative sum
    // The second and the fourth event lack a duration.
    assert_eq!(
        reporter.skipped("latency_seconds", SkipReason::MissingMeasurement),
        2
    );
    assert_eq!(
        reporter.skipped("latency_seconds", SkipReason::MissingTag),
        1
    );
    assert_eq!(
        reporter.skipped("spend_total", SkipReason::MissingMeasurement),
        3
    );
    assert_eq!(reporter.skipped("spend_total", SkipReason::InvalidValue), 1);
    let text = reporter.render();
    assert_eq!(
        sample(&text, "latency_seconds_count{gen_ai_request_model=\"m\"}"),
        Some(1.0)
    );
    assert_eq!(
        sample(&text, "latency_seconds_sum{gen_ai_request_model=\"m\"}"),
        Some(0.5)
    );
    assert_eq!(
        sample(
            &text,
            "llm_telemetry_metric_skipped_total{metric=\"latency_seconds\",reason=\"missing_tag\"}"
        ),
        Some(1.0),
        "{text}"
    );
    // Nothing was detached: the handler keeps working and never failed.
    let stats = bus.stats();
    assert!(stats.handlers.iter().all(|h| h.attached && h.failed == 0));
    assert_eq!(stats.handler_failures, 0);
}

#[test]
fn the_cap_routes_new_label_sets_to_one_overflow_series_with_exact_totals() {
    let bus = Bus::new();
    let reporter = PrometheusReporter::builder()
        .metric(
            Metric::counter("calls_total", &["llm.chat.stop"])
                .tags(&[keys::MODEL])
                .max_series(10),
        )
        .unwrap()
        .attach(&bus)
        .unwrap();
    for i in 0..1000 {
        let model = format!("model-{i}");
        bus.execute(
            &catalog::LLM_CHAT_STOP,
            &[],
            &[(keys::MODEL, Value::Str(&model))],
        );
    }
    let stats = &reporter.cardinality()[0];
    assert_eq!(
        (
            stats.series,
            stats.max_series,
            stats.overflowed,
            stats.overflow_events
        ),
        (10, 10, true, 990)
    );
    let text = reporter.render();
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("calls_total{"))
        .collect();
    assert_eq!(lines.len(), 11, "{text}");
    let total: f64 = lines
        .iter()
        .map(|l| l.rsplit(' ').next().unwrap().parse::<f64>().unwrap())
        .sum();
    assert_eq!(total, 1000.0);
    assert_eq!(
        sample(&text, "calls_total{otel_metric_overflow=\"true\"}"),
        Some(990.0)
    );
    assert_eq!(
        sample(
            &text,
            "llm_telemetry_metric_overflow_total{metric=\"calls_total\"}"
        ),
        Some(990.0)
    );
    assert_eq!(
        sample(&text, "llm_telemetry_metric_series{metric=\"calls_total\"}"),
        Some(10.0)
    );
    assert_eq!(
        sample(
            &text,
            "llm_telemetry_metric_series_limit{metric=\"calls_total\"}"
        ),
        Some(10.0)
    );
}

#[test]
fn bus_health_is_exported_for_every_handler() {
    let bus = Bus::new();
    let reporter = default_reporter(&bus);
    // A slow queued handler with a tiny queue, to make the bus drop events.
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let rx = std::sync::Mutex::new(rx);
    bus.attach_with(
        "slow-sink",
        "llm.chat.stop",
        move |_: &Event<'_>| {
            let _ = rx.lock().unwrap().recv_timeout(Duration::from_secs(5));
        },
        Delivery::Queued { capacity: 2 },
    )
    .unwrap();
    for _ in 0..20 {
        bus.execute(&catalog::LLM_CHAT_STOP, &[(keys::DURATION, 1e6)], &[]);
    }
    bus.execute(&catalog::LLM_CHAT_STOP, &[(keys::DURATION, f64::NAN)], &[]);
    let text = reporter.render();
    let dropped = sample(
        &text,
        "llm_telemetry_handler_events_total{handler=\"slow-sink\",outcome=\"dropped\"}",
    )
    .expect("dropped counter of the slow handler");
    assert!(dropped >= 17.0, "{text}");
    let depth = sample(&text, "llm_telemetry_queue_depth{handler=\"slow-sink\"}").unwrap();
    assert!((1.0..=2.0).contains(&depth), "{text}");
    assert_eq!(
        sample(&text, "llm_telemetry_queue_capacity{handler=\"slow-sink\"}"),
        Some(2.0)
    );
    assert_eq!(
        sample(&text, "llm_telemetry_non_finite_measurements_total"),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &text,
            "llm_telemetry_handler_attached{handler=\"slow-sink\"}"
        ),
        Some(1.0)
    );
    for _ in 0..25 {
        let _ = tx.send(());
    }
    assert!(bus.drain(Duration::from_secs(10)));
}

#[test]
fn custom_definitions_convert_map_tags_and_filter() {
    let bus = Bus::new();
    let reporter = PrometheusReporter::builder()
        .metric(
            Metric::last_value(
                "cache_entry_kilobytes",
                &["cache.entry.put"],
                keys::SIZE_BYTES,
            )
            .convert(Conversion::BytesToKilobytes)
            .tag(Tag::metadata(keys::CACHE_NAME).label("cache")),
        )
        .unwrap()
        .metric(
            Metric::counter("streamed_total", &["llm.*.stop"])
                .keep(|e| e.value(keys::STREAMING) == Some(Value::Bool(true)))
                .tag(Tag::derived("op", |e| {
                    e.name().segments().get(1).map(|s| Value::Str(s))
                })),
        )
        .unwrap()
        .metric(
            Metric::distribution("answer_ms", &["llm.chat.stop"], "ignored", &[10.0, 100.0])
                .measure_with(|e: &Event<'_>| Some(e.measurement(keys::DURATION)? + 1e6))
                .convert(Conversion::NanosecondsToMilliseconds),
        )
        .unwrap()
        .attach(&bus)
        .unwrap();
    bus.execute(
        &catalog::CACHE_ENTRY_PUT,
        &[(keys::SIZE_BYTES, 2048.0)],
        &[(keys::CACHE_NAME, Value::Str("kv"))],
    );
    bus.execute(
        &catalog::CACHE_ENTRY_PUT,
        &[(keys::SIZE_BYTES, 4096.0)],
        &[(keys::CACHE_NAME, Value::Str("kv"))],
    );
    bus.execute(
        &catalog::LLM_CHAT_STOP,
        &[(keys::DURATION, 4e7)],
        &[(keys::STREAMING, Value::Bool(true))],
    );
    bus.execute(
        &catalog::LLM_CHAT_STOP,
        &[(keys::DURATION, 4e7)],
        &[(keys::STREAMING, Value::Bool(false))],
    );
    bus.execute(
        &catalog::LLM_GENERATE_STOP,
        &[],
        &[(keys::STREAMING, Value::Bool(true))],
    );
    let text = reporter.render();
    assert_eq!(
        sample(&text, "cache_entry_kilobytes{cache=\"kv\"}"),
        Some(4.096),
        "{text}"
    );
    assert_eq!(
        sample(&text, "streamed_total{op=\"chat\"}"),
        Some(1.0),
        "{text}"
    );
    assert_eq!(sample(&text, "streamed_total{op=\"generate\"}"), Some(1.0));
    assert_eq!(sample(&text, "answer_ms_sum"), Some(82.0), "{text}");
    assert_eq!(
        sample(&text, "answer_ms_bucket{le=\"100\"}"),
        Some(2.0),
        "{text}"
    );
}

#[test]
fn reporters_on_separate_buses_do_not_share_state_and_detach_cleanly() {
    let (bus_a, bus_b) = (Bus::new(), Bus::new());
    let a = default_reporter(&bus_a);
    let b = default_reporter(&bus_b);
    traffic(&bus_a, 3);
    assert!(a.render().contains("gpt-4o"));
    assert!(!b.render().contains("gpt-4o"));
    // A clashing handler id rolls the whole attach back.
    let c = PrometheusReporter::builder()
        .metrics(defaults::llm_metrics())
        .unwrap()
        .attach(&bus_a);
    assert!(matches!(
        c,
        Err(llm_telemetry_prometheus::ReporterError::Attach(_))
    ));
    assert_eq!(bus_a.list_handlers("").len(), a.handler_ids().len());
    assert_eq!(a.detach(Duration::ZERO), Ok(()));
    assert!(bus_a.list_handlers("").is_empty());
    drop(b);
    assert!(
        bus_b.list_handlers("").is_empty(),
        "dropping the reporter detaches it"
    );
}

#[test]
fn queued_delivery_records_on_the_worker() {
    let bus = Bus::new();
    let reporter = PrometheusReporter::builder()
        .metrics(defaults::basic())
        .unwrap()
        .delivery(Delivery::queued())
        .attach(&bus)
        .unwrap();
    traffic(&bus, 6);
    assert!(bus.drain(Duration::from_secs(10)));
    let text = reporter.render();
    assert!(text.contains("llm_requests_total{"), "{text}");
    assert!(!text.contains("llm_cost_usd_total"));
}

#[test]
fn definitions_sharing_tags_resolve_once_but_count_skips_each() {
    let bus = Bus::new();
    let reporter = PrometheusReporter::builder()
        .metric(
            Metric::counter("shared_total", &["llm.chat.stop"])
                .tags(&[keys::PROVIDER, keys::MODEL]),
        )
        .unwrap()
        .metric(
            Metric::distribution("shared_seconds", &["llm.chat.stop"], keys::DURATION, &[1.0])
                .convert(Conversion::NanosecondsToSeconds)
                .tags(&[keys::PROVIDER, keys::MODEL]),
        )
        .unwrap()
        .metric(Metric::counter("other_total", &["llm.chat.stop"]).tags(&[keys::MODEL]))
        .unwrap()
        .attach(&bus)
        .unwrap();
    let full = [
        (keys::PROVIDER, Value::Str("p")),
        (keys::MODEL, Value::Str("m")),
    ];
    bus.execute(&catalog::LLM_CHAT_STOP, &[(keys::DURATION, 2e9)], &full);
    bus.execute(
        &catalog::LLM_CHAT_STOP,
        &[(keys::DURATION, 2e9)],
        &full[1..],
    );
    let text = reporter.render();
    let labels = "{gen_ai_provider_name=\"p\",gen_ai_request_model=\"m\"}";
    assert_eq!(
        sample(&text, &format!("shared_total{labels}")),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        sample(&text, &format!("shared_seconds_count{labels}")),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        sample(&text, "other_total{gen_ai_request_model=\"m\"}"),
        Some(2.0),
        "{text}"
    );
    assert_eq!(reporter.skipped("shared_total", SkipReason::MissingTag), 1);
    assert_eq!(
        reporter.skipped("shared_seconds", SkipReason::MissingTag),
        1
    );
    assert_eq!(reporter.skipped("other_total", SkipReason::MissingTag), 0);
}

#[test]
fn record_without_a_bus_matches_patterns() {
    let reporter = PrometheusReporter::builder()
        .metrics(defaults::basic())
        .unwrap()
        .build()
        .unwrap();
    let md = [(keys::MODEL, Value::Str("m"))];
    reporter.record(&Event::new(
        catalog::LLM_CHAT_STOP.get(),
        &[(keys::DURATION, 1e9)],
        &md,
        None,
    ));
    reporter.record(&Event::new(catalog::CACHE_LOOKUP_HIT.get(), &[], &md, None));
    let text = reporter.render();
    let ok = "llm_requests_total{gen_ai_operation_name=\"chat\",gen_ai_provider_name=\"unknown\",gen_ai_request_model=\"m\",status=\"ok\"}";
    assert_eq!(sample(&text, ok), Some(1.0), "{text}");
    assert!(!text.contains("llm_cache_hits_total"));
    // Not attached: no bus rows.
    assert!(!text.contains("llm_telemetry_handler_events_total"));
}

#[test]
fn the_builder_attaches_and_the_handle_flushes_and_detaches() {
    let bus = Bus::new();
    let reporter = PrometheusReporter::builder()
        .metrics(defaults::llm_metrics())
        .unwrap()
        .attach(&bus)
        .unwrap();
    traffic(&bus, 3);
    assert_eq!(reporter.flush(Duration::from_secs(1)), Ok(()));
    assert!(reporter.render().contains("llm_requests_total"));
    assert_eq!(reporter.detach(Duration::from_secs(1)), Ok(()));
    assert_eq!(
        reporter.detach(Duration::from_secs(1)),
        Err(LifecycleError::AlreadyShutDown)
    );
    assert_eq!(
        reporter.flush(Duration::from_secs(1)),
        Err(LifecycleError::AlreadyShutDown)
    );
    assert!(bus.list_handlers("").is_empty());
}
