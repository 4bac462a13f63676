//! `promtool check metrics` (Debian's `prometheus` package) on the real `/metrics` output in
//! every scenario: normal traffic, after the cardinality cap triggers, and hostile label values.
//! Run by `scripts/test-all.sh`; they fail, not skip, when promtool is missing.

mod common;

use llm_telemetry_core::{Bus, Value};
use llm_telemetry_genai::catalog::{self, keys};
use llm_telemetry_prometheus::{
    DEFAULT_MAX_LABEL_VALUE_BYTES, Metric, PrometheusReporter, ServerConfig, TRUNCATION_MARKER,
    defaults,
};

use common::{get, hostile_values, promtool_check, sample, traffic};

fn serve_and_scrape(reporter: &PrometheusReporter) -> String {
    let server = reporter.serve(ServerConfig::at("127.0.0.1:0")).unwrap();
    let response = get(server.local_addr(), "/metrics");
    assert_eq!(response.status, 200);
    response.body
}

fn default_reporter(bus: &Bus, cap: Option<usize>) -> PrometheusReporter {
    let metrics = defaults::llm_metrics().into_iter().map(|m| match cap {
        Some(cap) => m.max_series(cap),
        None => m,
    });
    PrometheusReporter::builder()
        .metrics(metrics)
        .unwrap()
        .attach(bus)
        .unwrap()
}

#[test]
#[ignore = "needs promtool: run scripts/test-all.sh"]
fn promtool_accepts_normal_traffic() {
    let bus = Bus::new();
    let reporter = default_reporter(&bus, None);
    // Before any event (self-metrics only) and after traffic.
    promtool_check(&serve_and_scrape(&reporter));
    traffic(&bus, 50);
    // Inside a span too: exemplars are stored, and stay out of the text format.
    {
        let _span =
            llm_telemetry_core::context::enter(Some(llm_telemetry_core::SpanContext::new_root()));
        traffic(&bus, 10);
    }
    let text = serve_and_scrape(&reporter);
    assert!(text.contains("gen_ai_client_operation_duration_seconds_bucket{"));
    assert!(!text.contains("trace_id"));
    promtool_check(&text);
}

#[test]
#[ignore = "needs promtool: run scripts/test-all.sh"]
fn promtool_accepts_output_after_the_cap_triggers() {
    let bus = Bus::new();
    let reporter = default_reporter(&bus, Some(20));
    for i in 0..500 {
        let model = format!("attack-{i}");
        let md = [
            (keys::PROVIDER, Value::Str("openai")),
            (keys::MODEL, Value::Str(&model)),
        ];
        bus.execute(
            &catalog::LLM_CHAT_STOP,
            &[
                (keys::DURATION, 1e8),
                (keys::INPUT_TOKENS, 10.0),
                (keys::OUTPUT_TOKENS, 5.0),
            ],
            &md,
        );
    }
    let text = serve_and_scrape(&reporter);
    assert_eq!(
        sample(&text, "llm_requests_total{otel_metric_overflow=\"true\"}"),
        Some(480.0),
        "{text}"
    );
    assert!(
        text.contains("gen_ai_client_token_usage_bucket{otel_metric_overflow=\"true\",le=\"16\"}")
    );
    promtool_check(&text);
}

#[test]
#[ignore = "needs promtool: run scripts/test-all.sh"]
fn promtool_accepts_hostile_label_values() {
    let bus = Bus::new();
    let reporter = PrometheusReporter::builder()
        .metrics(defaults::llm_metrics())
        .unwrap()
        .metric(
            Metric::counter("hostile_total", &["llm.chat.stop"]).tags(&[keys::MODEL, keys::TENANT]),
        )
        .unwrap()
        .attach(&bus)
        .unwrap();
    let values = hostile_values();
    for v in &values {
        let md = [
            (keys::PROVIDER, Value::Str(v)),
            (keys::MODEL, Value::Str(v)),
            (keys::TENANT, Value::Str(v)),
            (keys::EXCEPTION_TYPE, Value::Str(v)),
        ];
        bus.execute(
            &catalog::LLM_CHAT_STOP,
            &[(keys::DURATION, 1e8), (keys::INPUT_TOKENS, 3.0)],
            &md,
        );
        bus.execute(&catalog::LLM_CHAT_EXCEPTION, &[(keys::DURATION, 1e8)], &md);
        bus.execute(&catalog::LLM_COST_CALCULATED, &[(keys::COST_USD, 0.5)], &md);
    }
    // A hostile handler id shows up in the bus self-metrics too.
    bus.attach("evil\"handler\n\\", "llm.chat.stop", |_| {})
        .unwrap();
    let text = serve_and_scrape(&reporter);
    // The 10 kB value is cut at the label value cap and marked.
    let cut = format!(
        "{}{TRUNCATION_MARKER}",
        "x".repeat(DEFAULT_MAX_LABEL_VALUE_BYTES)
    );
    assert!(text.contains(&cut), "{text}");
    assert!(!text.contains(&"x".repeat(DEFAULT_MAX_LABEL_VALUE_BYTES + 1)));
    assert!(
        !text
            .lines()
            .any(|l| l.starts_with("line") || l.starts_with("# TYPE x")),
        "{text}"
    );
    promtool_check(&text);
}
