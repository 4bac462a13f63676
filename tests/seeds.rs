//! One test per seed system: configured only by that seed's own names (its environment
//! variables, file keys and flags, the aliases of `config::Alias`), the names its documentation
//! uses are read back from a real Arize Phoenix (PMD, Cogniverse) and a real Prometheus
//! (TinyLLM).
//!
//! The server tests are `#[ignore]`d in a plain `cargo test`; `scripts/test-all.sh` runs them
//! with `--include-ignored`, and they fail when the servers are missing.

// The Phoenix harness allows its own unused items (`#![allow(dead_code)]` inside).
#[path = "../handlers/otel/tests/support/phoenix.rs"]
mod phoenix;
use phoenix::attribute;
// A real Prometheus and free ports: the Prometheus handler's test helpers (which allow their own
// unused items).
#[path = "../handlers/prometheus/tests/common/mod.rs"]
mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use llm_telemetry::bound;
use llm_telemetry::catalog::{self, keys};
use llm_telemetry::config::{Alias, AliasKind, Config, ExportMode};
use llm_telemetry::instrument::TelemetryLevel;
use llm_telemetry::{Bus, Value};
use serde_json::Value as Json;

const WAIT: Duration = Duration::from_secs(10);
const STORED: Duration = Duration::from_secs(60);

fn env(pairs: &[(&str, String)]) -> impl Fn(&str) -> Option<String> + use<> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect();
    move |name| map.get(name).cloned()
}

fn named<'a>(spans: &'a [Json], name: &str) -> &'a Json {
    spans.iter().find(|s| s["name"] == name).unwrap_or_else(|| {
        let names: Vec<&Json> = spans.iter().map(|s| &s["name"]).collect();
        panic!("no span {name:?} among {names:?}")
    })
}

/// Only tracing: no `/metrics`, no log lines, no cost.
const TRACING_ONLY: [&str; 3] = [
    "metrics.enabled=false",
    "log.enabled=false",
    "cost.enabled=false",
];

#[test]
#[ignore = "needs Arize Phoenix: run scripts/test-all.sh"]
fn pmd_names_read_back_from_phoenix() {
    let phoenix = phoenix::Phoenix::shared();
    // PMD's variables and `[tracing]` file keys, nothing else.
    let (config, warnings) = Config::builder()
        .env_with(env(&[
            ("PHOENIX_TRACING", "1".into()),
            (
                "PHOENIX_ENDPOINT",
                format!("{}/v1/traces", phoenix.http_endpoint()),
            ),
            ("PHOENIX_SAMPLE_RATE", "1.0".into()),
        ]))
        .toml_str("[tracing]\nbatch_export = true\nrequest_span_prefix = \"pmd.\"\n")
        .set_all(TRACING_ONLY)
        .build_with_warnings()
        .unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(config.tracing.export, ExportMode::Batch);
    let bus = Bus::new();
    let mut telemetry = config
        .telemetry()
        .otel(|b| b.project_name("pmd-seed"))
        .attach(&bus)
        .unwrap();
    bus.span(
        &catalog::LLM_REQUEST,
        &[(keys::OPERATION, Value::Str("hybrid_search"))],
        |_| {
            bus.span(
                &catalog::LLM_EMBED,
                &[
                    (keys::PROVIDER, Value::Str("mlx")),
                    (keys::MODEL, Value::Str("bge-small")),
                    (keys::POOLING, Value::Str("mean")),
                    (keys::INPUT, Value::Str("two wörds")),
                ],
                |span| span.measure(keys::DIMENSION, 384.0),
            );
            bus.span(
                &catalog::LLM_GENERATE,
                &[
                    (keys::PROVIDER, Value::Str("mlx")),
                    (keys::MODEL, Value::Str("mlx-community/Llama-3.2-1B-4bit")),
                    (keys::DEVICE, Value::Str("gpu")),
                    (keys::INPUT, Value::Str("hello")),
                    (keys::SEED, Value::Int(7)),
                    (keys::STREAMING, Value::Bool(false)),
                ],
                |span| span.measure(keys::OUTPUT_TOKENS, 4.0),
            );
        },
    );
    assert!(telemetry.otel().unwrap().force_flush(WAIT));
    assert!(telemetry.shutdown(WAIT).is_complete());

    let spans = phoenix.wait_for_spans("pmd-seed", 3, STORED);
    let request = named(&spans, "pmd.hybrid_search");
    assert!(request["parent_id"].is_null());
    let generate = named(&spans, "mlx_lm.generate");
    assert_eq!(attribute(generate, "mlx.device"), "gpu");
    assert_eq!(attribute(generate, "gen_ai.seed"), 7);
    assert_eq!(attribute(generate, "gen_ai.streaming"), false);
    assert_eq!(attribute(generate, "gen_ai.response.token_count"), 4);
    let embed = named(&spans, "mlx_embedding.embed");
    assert_eq!(attribute(embed, "embedding.pooling_strategy"), "mean");
    assert_eq!(attribute(embed, "embedding.input_length"), 9);
    for span in [generate, embed] {
        assert_eq!(span["parent_id"], request["context"]["span_id"]);
    }
}

#[test]
#[ignore = "needs Arize Phoenix: run scripts/test-all.sh"]
fn cogniverse_names_read_back_from_phoenix() {
    let phoenix = phoenix::Phoenix::shared();
    let collector = format!("127.0.0.1:{}", phoenix.http_port);
    // Cogniverse's variables (its collector written as it writes it: a bare host:port).
    let (config, warnings) = Config::builder()
        .env_with(env(&[
            ("TELEMETRY_ENABLED", "true".into()),
            ("TELEMETRY_LEVEL", "detailed".into()),
            ("ENVIRONMENT", "production".into()),
            ("PHOENIX_ENABLED", "true".into()),
            ("PHOENIX_COLLECTOR_ENDPOINT", collector),
            ("PHOENIX_USE_TLS", "false".into()),
            ("SERVICE_VERSION", "1.0.0".into()),
            ("TELEMETRY_SYNC_EXPORT", "true".into()),
        ]))
        .set("tracing.service_name=video-search")
        .set_all(TRACING_ONLY)
        .build_with_warnings()
        .unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(config.level, TelemetryLevel::Detailed);
    assert_eq!(config.tracing.export, ExportMode::Simple);
    assert_eq!(config.tracing.environment.as_deref(), Some("production"));
    let resolved = config
        .otel_builder()
        .unwrap()
        .read_env(false)
        .resolve()
        .unwrap();
    assert_eq!(
        resolved.deployment_environment.as_deref(),
        Some("production")
    );
    assert_eq!(resolved.service_version.as_deref(), Some("1.0.0"));

    let bus = Bus::new();
    let mut telemetry = config
        .telemetry()
        .otel(|b| b.tenant_project_template("cogniverse-{tenant}-{service}"))
        .attach(&bus)
        .unwrap();
    // Cogniverse's search span, for tenant acme: `search_service.search` with its attributes.
    bus.span(
        &catalog::LLM_REQUEST,
        &[
            (keys::OPERATION, Value::Str("search_service.search")),
            (keys::TENANT, Value::Str("acme")),
            ("query", Value::Str("basketball highlights")),
            ("top_k", Value::Int(10)),
            ("ranking_strategy", Value::Str("default")),
        ],
        |_| {
            bus.span(
                &catalog::LLM_EMBED,
                &[
                    (keys::PROVIDER, Value::Str("ollama")),
                    (keys::MODEL, Value::Str("colpali")),
                ],
                |_| {},
            );
        },
    );
    assert!(telemetry.otel().unwrap().force_flush(WAIT));
    assert!(telemetry.shutdown(WAIT).is_complete());

    // Cogniverse's project per tenant and service.
    let spans = phoenix.wait_for_spans("cogniverse-acme-video-search", 2, STORED);
    let search = named(&spans, "search_service.search");
    assert_eq!(search["span_kind"], "CHAIN");
    assert_eq!(attribute(search, "tenant.id"), "acme");
    assert_eq!(attribute(search, "query"), "basketball highlights");
    assert_eq!(attribute(search, "top_k"), 10);
    let child = spans
        .iter()
        .find(|s| s["parent_id"] == search["context"]["span_id"])
        .expect("the embed span under the search span");
    assert_eq!(
        attribute(child, "tenant.id"),
        "acme",
        "from the trace's root"
    );
}

/// Starts a real Prometheus scraping `port`'s `/metrics` every second.
fn scraping(port: u16) -> common::PrometheusServer {
    common::PrometheusServer::start(
        &format!(
            "  - job_name: llm\n    metrics_path: /metrics\n    static_configs:\n      - targets: ['127.0.0.1:{port}']\n"
        ),
        &[],
    )
}

/// Polls `promql` every 250 ms (at most 60 s) until Prometheus returns a sample.
fn wait_for_sample(prometheus: &common::PrometheusServer, promql: &str) -> Vec<Json> {
    let deadline = Instant::now() + STORED;
    loop {
        let path = format!("/api/v1/query?query={}", common::percent_encode(promql));
        if let Ok(response) = common::try_get_plain(prometheus.addr, &path) {
            let json: Json = serde_json::from_str(&response.body).unwrap_or(Json::Null);
            if let Some(result) = json["data"]["result"].as_array().filter(|r| !r.is_empty()) {
                return result.clone();
            }
        }
        assert!(
            Instant::now() < deadline,
            "prometheus never answered {promql:?}; log:\n{}",
            prometheus.log()
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

fn value(result: &[Json]) -> f64 {
    result[0]["value"][1].as_str().unwrap().parse().unwrap()
}

#[test]
#[ignore = "needs prometheus: run scripts/test-all.sh"]
fn tinyllm_names_read_back_from_prometheus() {
    let port = common::free_port();
    let flag = |name| Alias::find(AliasKind::Flag, name).unwrap();
    // TinyLLM's flags, and its metric names switched on.
    let (config, warnings) = Config::builder()
        .seed_flag(flag("--metrics-port"), port.to_string())
        .seed_flag(flag("--log-format"), "json")
        .set("metrics.tinyllm=true")
        .set("log.enabled=false")
        .build_with_warnings()
        .unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(config.metrics.listen.port(), port);
    let bus = Bus::new();
    let mut telemetry = config
        .telemetry()
        .global_metrics_recorder(false)
        .attach(&bus)
        .unwrap();
    {
        // TinyLLM's graph, bound for the request as TinyLLM's bind_context would.
        let _graph = bound::bind([("graph", "multi_domain".into())]);
        for _ in 0..3 {
            bus.span(
                &catalog::LLM_CHAT,
                &[
                    (keys::PROVIDER, Value::Str("ollama")),
                    (keys::MODEL, Value::Str("qwen2.5:0.5b")),
                ],
                |span| {
                    span.measure(keys::INPUT_TOKENS, 100.0);
                    span.measure(keys::OUTPUT_TOKENS, 50.0);
                },
            );
        }
        let _ = bus.try_span(
            &catalog::LLM_GENERATE,
            &[(keys::MODEL, Value::Str("qwen2.5:0.5b"))],
            |_| Err::<(), _>("timeout"),
        );
        bus.execute(
            &catalog::CACHE_LOOKUP_HIT,
            &[],
            &[(keys::CACHE_NAME, Value::Str("semantic"))],
        );
    }
    let prometheus = scraping(port);
    let requests = wait_for_sample(
        &prometheus,
        "tinyllm_requests_total{model=\"qwen2.5:0.5b\",graph=\"multi_domain\",request_type=\"chat\"}",
    );
    assert_eq!(value(&requests), 3.0);
    let input = wait_for_sample(
        &prometheus,
        "tinyllm_tokens_input_total{model=\"qwen2.5:0.5b\",graph=\"multi_domain\"}",
    );
    assert_eq!(value(&input), 300.0);
    let output = wait_for_sample(&prometheus, "tinyllm_tokens_output_total");
    assert_eq!(value(&output), 150.0);
    let latency = wait_for_sample(
        &prometheus,
        "tinyllm_request_latency_seconds_count{graph=\"multi_domain\"}",
    );
    assert_eq!(
        latency
            .iter()
            .map(|r| r["value"][1].as_str().unwrap().parse::<f64>().unwrap())
            .sum::<f64>(),
        4.0
    );
    let errors = wait_for_sample(&prometheus, "tinyllm_errors_total{model=\"qwen2.5:0.5b\"}");
    assert_eq!(value(&errors), 1.0);
    let active = wait_for_sample(&prometheus, "sum(tinyllm_active_requests)");
    assert_eq!(value(&active), 0.0);
    let hits = wait_for_sample(
        &prometheus,
        "tinyllm_cache_hits_total{cache_type=\"semantic\"}",
    );
    assert_eq!(value(&hits), 1.0);
    // The default names are still there beside them.
    let defaults = wait_for_sample(&prometheus, "sum(llm_requests_total)");
    assert_eq!(value(&defaults), 4.0);
    assert!(telemetry.shutdown(WAIT).is_complete());
}

#[test]
fn tinyllm_names_are_rendered_only_when_asked() {
    for (on, expected) in [(true, true), (false, false)] {
        let config = Config::builder()
            .set("metrics.listen=127.0.0.1:0")
            .set("log.enabled=false")
            .set(format!("metrics.tinyllm={on}"))
            .build()
            .unwrap();
        let bus = Bus::new();
        let mut telemetry = config
            .telemetry()
            .global_metrics_recorder(false)
            .attach(&bus)
            .unwrap();
        bus.span(
            &catalog::LLM_CHAT,
            &[(keys::MODEL, Value::Str("m"))],
            |span| span.measure(keys::INPUT_TOKENS, 5.0),
        );
        let text = telemetry.metrics().unwrap().render();
        for name in [
            "tinyllm_requests_total{",
            "tinyllm_request_latency_seconds_bucket{",
            "tinyllm_active_requests{",
            "tinyllm_tokens_input_total{",
        ] {
            assert_eq!(
                text.contains(name),
                expected,
                "{name} with metrics.tinyllm={on}"
            );
        }
        if on {
            assert!(
                text.contains(
                    "tinyllm_requests_total{model=\"m\",graph=\"default\",request_type=\"chat\"} 1"
                ),
                "{text}"
            );
        }
        let _report = telemetry.shutdown(WAIT);
    }
}
