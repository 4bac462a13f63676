//! A real Prometheus server (Debian's `prometheus` package) on loopback scrapes our `/metrics`;
//! the test reads the series back through Prometheus's HTTP query API. Ports are picked free, so
//! a system Prometheus on :9090 is never used or disturbed. Run by `scripts/test-all.sh`.

mod common;
mod prom_api;

use std::net::SocketAddr;

use llm_telemetry_core::{Bus, Value};
use llm_telemetry_genai::catalog::{self, keys};
use llm_telemetry_prometheus::{
    DEFAULT_MAX_LABEL_VALUE_BYTES, Metric, PrometheusReporter, ServerConfig, TRUNCATION_MARKER,
    defaults,
};

use common::{PrometheusServer, hostile_values, traffic};
use prom_api::PrometheusApi;

/// Starts a real Prometheus scraping `target`'s `/metrics` every second.
fn start_scraping(target: SocketAddr) -> PrometheusServer {
    PrometheusServer::start(
        &format!(
            "  - job_name: llm\n    metrics_path: /metrics\n    static_configs:\n      - targets: ['{target}']\n"
        ),
        &[],
    )
}

fn scalar(result: &serde_json::Value) -> f64 {
    result[0]["value"][1].as_str().unwrap().parse().unwrap()
}

#[test]
#[ignore = "needs prometheus: run scripts/test-all.sh"]
fn a_real_prometheus_scrapes_and_queries_our_series() {
    let bus = Bus::new();
    let reporter = PrometheusReporter::builder()
        .metrics(defaults::llm_metrics())
        .unwrap()
        .metric(
            Metric::counter("attack_total", &["llm.chat.stop"])
                .tags(&[keys::TENANT])
                .max_series(5),
        )
        .unwrap()
        .attach(&bus)
        .unwrap();
    let server = reporter.serve(ServerConfig::at("127.0.0.1:0")).unwrap();

    traffic(&bus, 30); // 30 chat stops: 30 input + 30 output token observations.
    let hostile = hostile_values();
    for v in &hostile {
        bus.execute(
            &catalog::LLM_CHAT_STOP,
            &[
                (keys::DURATION, 1e8),
                (keys::INPUT_TOKENS, 1.0),
                (keys::OUTPUT_TOKENS, 1.0),
            ],
            &[
                (keys::PROVIDER, Value::Str("hostile")),
                (keys::MODEL, Value::Str(v)),
                (keys::TENANT, Value::Str(v)),
            ],
        );
    }
    let chat_stops = 30 + hostile.len();

    let mut prometheus = start_scraping(server.local_addr());

    // Token usage histogram: one input and one output observation per chat stop.
    let expected = (2 * chat_stops) as f64;
    let r = prometheus.wait_for("sum(gen_ai_client_token_usage_count)", |r| {
        scalar(r) == expected
    });
    assert_eq!(scalar(&r), expected);
    let r = prometheus.wait_for(
        "sum(gen_ai_client_token_usage_count{gen_ai_token_type=\"input\"})",
        |r| scalar(r) == chat_stops as f64,
    );
    assert_eq!(scalar(&r), chat_stops as f64);
    // Bucket boundaries survived as a real histogram: quantiles can be computed.
    let r = prometheus.wait_for(
        "histogram_quantile(0.5, sum by (le) (gen_ai_client_operation_duration_seconds_bucket))",
        |r| scalar(r) > 0.0,
    );
    assert!(scalar(&r) < 81.92);
    // Cost is a float counter.
    let r = prometheus.wait_for("sum(llm_cost_usd_total)", |r| scalar(r) > 0.0);
    assert!((scalar(&r) - 30.0 * 0.0025).abs() < 1e-9, "{r}");

    // Hostile label values read back exactly.
    let r = prometheus.wait_for(
        "llm_requests_total{gen_ai_provider_name=\"hostile\"}",
        |r| r.as_array().is_some_and(|a| a.len() == hostile.len()),
    );
    let mut seen: Vec<String> = r
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            s["metric"]["gen_ai_request_model"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    // Values longer than the label value cap (the 10 kB one) read back cut and marked.
    let mut want: Vec<String> = hostile
        .iter()
        .map(|v| match v.len() > DEFAULT_MAX_LABEL_VALUE_BYTES {
            true => format!("{}{TRUNCATION_MARKER}", &v[..DEFAULT_MAX_LABEL_VALUE_BYTES]),
            false => v.clone(),
        })
        .collect();
    seen.sort();
    want.sort();
    assert_eq!(seen, want);

    // The cap: 9 distinct tenants ("acme" and the 8 hostile ones) → 5 series plus one overflow
    // series holding the events of the last 4 tenants, and the total is exact.
    let r = prometheus.wait_for("count(attack_total)", |r| scalar(r) == 6.0);
    assert_eq!(scalar(&r), 6.0);
    let r = prometheus.wait_for("sum(attack_total)", |r| scalar(r) == chat_stops as f64);
    assert_eq!(scalar(&r), chat_stops as f64);
    let r = prometheus.wait_for("attack_total{otel_metric_overflow=\"true\"}", |r| {
        scalar(r) > 0.0
    });
    assert_eq!(scalar(&r), 4.0);
    let r = prometheus.wait_for(
        "llm_telemetry_metric_series{metric=\"attack_total\"}",
        |r| scalar(r) == 5.0,
    );
    assert_eq!(scalar(&r), 5.0);

    // Bus health reached Prometheus.
    let r = prometheus.wait_for(
        "sum(llm_telemetry_handler_events_total{outcome=\"delivered\"})",
        |r| scalar(r) > 0.0,
    );
    assert!(scalar(&r) > 0.0);
    // The scrape target is healthy.
    let r = prometheus.wait_for("up{job=\"llm\"}", |r| scalar(r) == 1.0);
    assert_eq!(scalar(&r), 1.0);
}
