//! The `metrics` facade (issue 13, item 5): a program's own `metrics::counter!`, `gauge!` and
//! `histogram!` calls render on the reporter's `/metrics`, next to the event metrics; names the
//! reporter renders itself are refused and counted. Checked in process (a local recorder), with
//! promtool, and through a real Prometheus scraping the endpoint with the global recorder
//! installed.

mod common;

use std::time::{Duration, Instant};

use llm_telemetry_core::{Bus, Value};
use llm_telemetry_genai::catalog::{self, keys};
use llm_telemetry_prometheus::{
    PrometheusReporter, ReporterError, ServerConfig, defaults, metrics,
};

use common::{PrometheusServer, percent_encode, promtool_check, sample, try_get_plain};

fn reporter(bus: &Bus) -> PrometheusReporter {
    PrometheusReporter::builder()
        .metrics(defaults::llm_metrics())
        .unwrap()
        .facade_buckets(&[0.1, 0.5, 1.0])
        .attach(bus)
        .unwrap()
}

fn chat_stop(bus: &Bus) {
    bus.execute(
        &catalog::LLM_CHAT_STOP,
        &[(keys::DURATION, 2e8)],
        &[
            (keys::PROVIDER, Value::Str("openai")),
            (keys::MODEL, Value::Str("gpt-4o")),
        ],
    );
}

/// The program's own metrics, and attempts to write the reporter's.
fn record_own_metrics() {
    // Described, as promtool's lint wants a HELP line for every family.
    metrics::describe_counter!("app_jobs_total", "Jobs done, by queue.");
    metrics::describe_gauge!("app_workers", "Workers running.");
    metrics::describe_histogram!("app_job_seconds", "Job duration in seconds.");
    metrics::counter!("app_jobs_total", "queue" => "emails").increment(3);
    metrics::counter!("app_jobs_total", "queue" => "emails").increment(4);
    metrics::gauge!("app_workers").set(5.0);
    for v in [0.05, 0.3, 0.3, 2.0] {
        metrics::histogram!("app_job_seconds").record(v);
    }
    // Refused: the reporter's own metric, a distribution's series, a self-metric.
    metrics::counter!("llm_requests_total", "status" => "ok").increment(100);
    metrics::counter!("gen_ai_client_operation_duration_seconds_count").increment(100);
    metrics::gauge!("llm_telemetry_metric_series").set(1e6);
}

const OWN_REQUESTS: &str = "llm_requests_total{gen_ai_operation_name=\"chat\",gen_ai_provider_name=\"openai\",gen_ai_request_model=\"gpt-4o\",status=\"ok\"}";

#[test]
fn own_metrics_render_beside_event_metrics_and_reserved_names_are_refused() {
    let bus = Bus::new();
    let reporter = reporter(&bus);
    chat_stop(&bus);
    let recorder = reporter.recorder();
    metrics::with_local_recorder(&recorder, record_own_metrics);
    let text = reporter.render();
    assert_eq!(
        sample(&text, "app_jobs_total{queue=\"emails\"}"),
        Some(7.0),
        "{text}"
    );
    assert_eq!(sample(&text, "app_workers"), Some(5.0), "{text}");
    assert!(text.contains("# TYPE app_job_seconds histogram"), "{text}");
    assert_eq!(
        sample(&text, "app_job_seconds_bucket{le=\"0.5\"}"),
        Some(3.0),
        "{text}"
    );
    assert_eq!(sample(&text, "app_job_seconds_count"), Some(4.0), "{text}");
    // The reporter's series are untouched, and the refusals are counted.
    assert_eq!(sample(&text, OWN_REQUESTS), Some(1.0), "{text}");
    assert_eq!(
        text.lines()
            .filter(|l| l.starts_with("llm_requests_total"))
            .count(),
        1,
        "{text}"
    );
    assert_eq!(recorder.refused(), 3);
    assert_eq!(
        sample(&text, "llm_telemetry_facade_refused_total"),
        Some(3.0)
    );
    assert!(
        !text.contains("llm_telemetry_metric_series 1000000"),
        "{text}"
    );
    promtool_check(&text);
}

#[test]
fn bad_facade_buckets_are_refused_with_the_value() {
    for (buckets, what) in [
        (vec![], "at least one"),
        (vec![1.0, 0.5], "strictly increasing"),
        (vec![f64::NAN], "finite"),
    ] {
        let err = PrometheusReporter::builder()
            .facade_buckets(&buckets)
            .build()
            .unwrap_err();
        assert!(matches!(err, ReporterError::FacadeBuckets { .. }), "{err}");
        assert!(err.to_string().contains(what), "{err}");
    }
}

/// Polls `promql` (every 250 ms, at most 60 s) until its scalar value is `want`; returns the
/// last value seen.
fn wait_for_value(prometheus: &mut PrometheusServer, promql: &str, want: f64) -> f64 {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut last = f64::NAN;
    while Instant::now() < deadline {
        prometheus.assert_running();
        let path = format!("/api/v1/query?query={}", percent_encode(promql));
        if let Ok(response) = try_get_plain(prometheus.addr, &path) {
            let json: serde_json::Value = serde_json::from_str(&response.body).unwrap_or_default();
            if let Some(value) = json["data"]["result"][0]["value"][1].as_str() {
                last = value.parse().unwrap_or(f64::NAN);
                if last == want {
                    return last;
                }
            }
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    last
}

#[test]
#[ignore = "needs prometheus: run scripts/test-all.sh"]
fn the_global_recorder_feeds_the_same_endpoint_a_real_prometheus_scrapes() {
    let bus = Bus::new();
    let reporter = reporter(&bus);
    reporter.install_global_recorder().unwrap();
    // Once per process.
    assert!(matches!(
        reporter.install_global_recorder(),
        Err(ReporterError::GlobalRecorderTaken)
    ));
    let server = reporter.serve(ServerConfig::at("127.0.0.1:0")).unwrap();
    chat_stop(&bus);
    record_own_metrics();
    let mut prometheus = PrometheusServer::start(
        &format!(
            "  - job_name: facade\n    metrics_path: /metrics\n    static_configs:\n      - targets: ['{}']\n",
            server.local_addr()
        ),
        &[],
    );
    for (promql, want) in [
        ("app_jobs_total{queue=\"emails\"}", 7.0),
        ("app_workers", 5.0),
        ("app_job_seconds_count", 4.0),
        ("app_job_seconds_bucket{le=\"0.5\"}", 3.0),
        ("sum(llm_requests_total)", 1.0),
        ("sum(gen_ai_client_operation_duration_seconds_count)", 1.0),
        ("llm_telemetry_facade_refused_total", 3.0),
        ("up{job=\"facade\"}", 1.0),
    ] {
        let got = wait_for_value(&mut prometheus, promql, want);
        assert_eq!(got, want, "{promql}; log:\n{}", prometheus.log());
    }
    server.stop();
}
