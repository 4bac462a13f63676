//! One label value, one series (issue 18, item 1): label values that render to the same text
//! (`Int(200)`, `Str("200")`, `Float(200.0)`; `Bool(true)`, `Str("true")`) are the same series,
//! so every total equals the number of events. Checked in process and against a real Prometheus
//! (Debian's `prometheus` package, started on a free loopback port).

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use llm_telemetry_core::{Bus, Value};
use llm_telemetry_genai::catalog::{self, keys};
use llm_telemetry_prometheus::{Metric, PrometheusReporter, ServerConfig, Tag, defaults};

use common::{PrometheusServer, percent_encode, sample, try_get_plain};

/// The status values of the 10 events: 6 strings and 4 integers that all render as `200`.
fn mixed_statuses() -> Vec<Value<'static>> {
    (0..10)
        .map(|i| {
            if i % 5 < 3 {
                Value::Str("200")
            } else {
                Value::Int(200)
            }
        })
        .collect()
}

fn reporter(bus: &Bus) -> PrometheusReporter {
    PrometheusReporter::builder()
        .metric(Metric::counter("calls_total", &["llm.chat.stop"]).tag(Tag::metadata("status")))
        .unwrap()
        .metric(
            Metric::distribution("call_seconds", &["llm.chat.stop"], keys::DURATION, &[1.0])
                .tag(Tag::metadata("status")),
        )
        .unwrap()
        .metric(
            Metric::sum("spent_total", &["llm.chat.stop"], keys::COST_USD)
                .tag(Tag::metadata("status")),
        )
        .unwrap()
        .metrics(defaults::llm_metrics())
        .unwrap()
        .attach(bus)
        .unwrap()
}

fn emit_mixed(bus: &Bus) {
    for status in mixed_statuses() {
        bus.execute(
            &catalog::LLM_CHAT_STOP,
            &[(keys::DURATION, 0.5), (keys::COST_USD, 1.0)],
            &[
                ("status", status),
                (keys::PROVIDER, Value::Str("openai")),
                (keys::MODEL, Value::Str("gpt-4o")),
            ],
        );
    }
}

#[test]
fn values_that_render_alike_are_one_series_in_process() {
    let bus = Bus::new();
    let reporter = reporter(&bus);
    emit_mixed(&bus);
    let text = reporter.render();
    assert_eq!(
        sample(&text, "calls_total{status=\"200\"}"),
        Some(10.0),
        "{text}"
    );
    assert_eq!(
        sample(&text, "spent_total{status=\"200\"}"),
        Some(10.0),
        "{text}"
    );
    assert_eq!(
        sample(&text, "call_seconds_count{status=\"200\"}"),
        Some(10.0),
        "{text}"
    );
    // The histogram is rendered once, not once per value type.
    assert_eq!(
        text.matches("call_seconds_count{status=\"200\"}").count(),
        1,
        "{text}"
    );
    let requests = "llm_requests_total{gen_ai_operation_name=\"chat\",gen_ai_provider_name=\"openai\",gen_ai_request_model=\"gpt-4o\",status=\"200\"}";
    assert_eq!(sample(&text, requests), Some(10.0), "{text}");
    assert_eq!(text.matches(requests).count(), 1, "{text}");
    common::promtool_check(&text);
}

#[test]
fn every_type_of_value_meets_its_text_twin() {
    let bus = Bus::new();
    let reporter = PrometheusReporter::builder()
        .metric(Metric::counter("c_total", &["a.b"]).tag(Tag::metadata("v")))
        .unwrap()
        .attach(&bus)
        .unwrap();
    let name = llm_telemetry_core::EventName::new("a.b").unwrap();
    // (values that render alike, the text they render to)
    let groups: [(&[Value<'_>], &str); 9] = [
        (
            &[Value::Int(200), Value::Str("200"), Value::Float(200.0)],
            "200",
        ),
        (
            &[Value::Int(-7), Value::Str("-7"), Value::Float(-7.0)],
            "-7",
        ),
        (&[Value::Int(0), Value::Str("0"), Value::Float(0.0)], "0"),
        (&[Value::Float(-0.0), Value::Str("-0")], "-0"),
        (&[Value::Float(2.5), Value::Str("2.5")], "2.5"),
        (
            &[Value::Float(1e20), Value::Str("100000000000000000000")],
            "100000000000000000000",
        ),
        (&[Value::Bool(true), Value::Str("true")], "true"),
        (&[Value::Bool(false), Value::Str("false")], "false"),
        (
            &[Value::Int(i64::MIN), Value::Str("-9223372036854775808")],
            "-9223372036854775808",
        ),
    ];
    for (values, _) in groups {
        for v in values {
            bus.execute(name, &[], &[("v", *v)]);
        }
    }
    // Texts that look numeric but are not the rendering of any number stay their own series.
    for text in ["0200", "2.50", "+1", "1e3", "-", "007", "NaN-ish"] {
        bus.execute(name, &[], &[("v", Value::Str(text))]);
    }
    let text = reporter.render();
    for (values, rendered) in groups {
        assert_eq!(
            sample(&text, &format!("c_total{{v=\"{rendered}\"}}")),
            Some(values.len() as f64),
            "{rendered}: {text}"
        );
    }
    for other in ["0200", "2.50", "+1", "1e3", "-", "007", "NaN-ish"] {
        assert_eq!(
            sample(&text, &format!("c_total{{v=\"{other}\"}}")),
            Some(1.0),
            "{other}: {text}"
        );
    }
    let series = text.lines().filter(|l| l.starts_with("c_total{")).count();
    assert_eq!(series, groups.len() + 7, "{text}");
    assert_eq!(reporter.stats().series, (groups.len() + 7) as u64);
}

/// Runs an instant query; `None` while Prometheus has no result yet.
fn query(prometheus: &PrometheusServer, promql: &str) -> Option<serde_json::Value> {
    let path = format!("/api/v1/query?query={}", percent_encode(promql));
    let response = try_get_plain(prometheus.addr, &path).ok()?;
    if response.status != 200 {
        return None;
    }
    let json: serde_json::Value = serde_json::from_str(&response.body).ok()?;
    let result = json["data"]["result"].as_array()?.clone();
    (!result.is_empty()).then_some(serde_json::Value::Array(result))
}

/// Polls `promql` (every 250 ms, at most 60 s) until its scalar value is `want`; returns the
/// last value seen.
fn wait_for_value(prometheus: &mut PrometheusServer, promql: &str, want: f64) -> f64 {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut last = f64::NAN;
    while Instant::now() < deadline {
        prometheus.assert_running();
        if let Some(result) = query(prometheus, promql) {
            last = result[0]["value"][1].as_str().unwrap().parse().unwrap();
            if last == want {
                return last;
            }
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    last
}

fn start_scraping(target: SocketAddr) -> PrometheusServer {
    PrometheusServer::start(
        &format!(
            "  - job_name: exact\n    metrics_path: /metrics\n    static_configs:\n      - targets: ['{target}']\n"
        ),
        &[],
    )
}

#[test]
#[ignore = "needs prometheus: run scripts/test-all.sh"]
fn a_real_prometheus_reads_every_event_of_mixed_type_values() {
    let bus = Bus::new();
    let reporter = reporter(&bus);
    let server = reporter.serve(ServerConfig::at("127.0.0.1:0")).unwrap();
    let mut prometheus = start_scraping(server.local_addr());
    // The 10 events of the issue: 6 `Str("200")`, 4 `Int(200)`.
    emit_mixed(&bus);
    for (promql, want) in [
        ("sum(calls_total)", 10.0),
        ("count(calls_total)", 1.0),
        ("sum(call_seconds_count)", 10.0),
        ("count(call_seconds_count)", 1.0),
        ("sum(spent_total)", 10.0),
    ] {
        let got = wait_for_value(&mut prometheus, promql, want);
        assert_eq!(got, want, "{promql}; log:\n{}", prometheus.log());
    }
    // 35 more requests whose status is 429 as an integer, a string and a float: 45 events of
    // `llm_requests_total` in all.
    for i in 0..35 {
        let status = match i % 3 {
            0 => Value::Int(429),
            1 => Value::Str("429"),
            _ => Value::Float(429.0),
        };
        bus.execute(
            &catalog::LLM_CHAT_STOP,
            &[(keys::DURATION, 0.5)],
            &[
                ("status", status),
                (keys::PROVIDER, Value::Str("openai")),
                (keys::MODEL, Value::Str("gpt-4o")),
            ],
        );
    }
    for (promql, want) in [
        ("sum(calls_total)", 45.0),
        ("count(calls_total)", 2.0),
        ("sum(call_seconds_count)", 45.0),
        ("sum(llm_requests_total)", 45.0),
        ("count(llm_requests_total)", 2.0),
        ("sum(llm_requests_total{status=\"429\"})", 35.0),
        ("sum(gen_ai_client_operation_duration_seconds_count)", 45.0),
        ("up{job=\"exact\"}", 1.0),
    ] {
        let got = wait_for_value(&mut prometheus, promql, want);
        assert_eq!(got, want, "{promql}; log:\n{}", prometheus.log());
    }
}
