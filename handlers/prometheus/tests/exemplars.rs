//! Exemplars end to end: a real Prometheus (Debian's `prometheus`) started with
//! `--enable-feature=exemplar-storage` scrapes our `/metrics` (it asks for OpenMetrics, the only
//! format that carries exemplars) while chat spans with known trace ids run through the bus;
//! `/api/v1/query_exemplars` must give back, on a histogram bucket and on a counter, trace and
//! span ids that this run emitted. Run by `scripts/test-all.sh`; fails, not skips, without
//! Prometheus.

mod common;
mod prom_api;

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use llm_telemetry_core::{Bus, Value};
use llm_telemetry_genai::catalog::{self, keys};
use llm_telemetry_prometheus::{Format, PrometheusReporter, ServerConfig, defaults};

use common::{PrometheusServer, llm_job, percent_encode};
use prom_api::PrometheusApi;

/// Runs `count` chat spans with token measurements; returns trace id → span id of each.
fn chat_spans(bus: &Bus, count: usize) -> HashMap<String, String> {
    let mut emitted = HashMap::new();
    for i in 0..count {
        let md = [
            (keys::PROVIDER, Value::Str("openai")),
            (keys::MODEL, Value::Str(["gpt-4o", "gpt-4o-mini"][i % 2])),
        ];
        let context = bus.span(&catalog::LLM_CHAT, &md, |span| {
            span.measure(keys::INPUT_TOKENS, 100.0);
            span.measure(keys::OUTPUT_TOKENS, 20.0 + i as f64);
            span.context()
        });
        let context = context.expect("a reporter listens, so spans record");
        emitted.insert(context.trace_id.to_string(), context.span_id.to_string());
    }
    emitted
}

/// The exemplars Prometheus holds for `promql`: (series labels, trace id, span id).
fn exemplars(
    prometheus: &PrometheusServer,
    promql: &str,
) -> Vec<(serde_json::Value, String, String)> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let path = format!(
        "/api/v1/query_exemplars?query={}&start={}&end={}",
        percent_encode(promql),
        now - 600,
        now + 60
    );
    let Some(data) = prometheus.api(&path) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for series in data.as_array().into_iter().flatten() {
        for e in series["exemplars"].as_array().into_iter().flatten() {
            out.push((
                series["seriesLabels"].clone(),
                e["labels"]["trace_id"].as_str().unwrap_or("").to_owned(),
                e["labels"]["span_id"].as_str().unwrap_or("").to_owned(),
            ));
        }
    }
    out
}

/// Polls until Prometheus holds exemplars for `promql` (at most 60 s).
fn wait_for_exemplars(
    prometheus: &mut PrometheusServer,
    promql: &str,
) -> Vec<(serde_json::Value, String, String)> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        prometheus.assert_running();
        let found = exemplars(prometheus, promql);
        if !found.is_empty() {
            return found;
        }
        assert!(
            Instant::now() < deadline,
            "no exemplars for {promql} after 60 s; log:\n{}",
            prometheus.log()
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

#[test]
#[ignore = "needs prometheus: run scripts/test-all.sh"]
fn a_real_prometheus_stores_the_trace_ids_we_emitted_as_exemplars() {
    let bus = Bus::new();
    let reporter = PrometheusReporter::builder()
        .metrics(defaults::llm_metrics())
        .unwrap()
        .attach(&bus)
        .unwrap();
    let server = reporter.serve(ServerConfig::at("127.0.0.1:0")).unwrap();
    let mut emitted = chat_spans(&bus, 20);
    // The OpenMetrics output carries them (the text format does not).
    let text = reporter.render_as(Format::OpenMetrics);
    assert!(text.contains(" # {trace_id=\""), "{text}");
    assert!(!reporter.render().contains("trace_id"));

    let mut prometheus = PrometheusServer::start_with(
        &llm_job(server.local_addr()),
        &[],
        &["--enable-feature=exemplar-storage"],
    );
    // More spans while Prometheus scrapes: newer exemplars replace older ones.
    for _ in 0..3 {
        emitted.extend(chat_spans(&bus, 10));
        std::thread::sleep(Duration::from_millis(700));
    }

    let histogram = wait_for_exemplars(&mut prometheus, "gen_ai_client_token_usage_bucket");
    let counter = wait_for_exemplars(&mut prometheus, "llm_requests_total");
    for (what, found) in [("histogram bucket", &histogram), ("counter", &counter)] {
        let traces: HashSet<&str> = found.iter().map(|(_, t, _)| t.as_str()).collect();
        for (labels, trace, span) in found.iter() {
            assert_eq!(
                emitted.get(trace),
                Some(span),
                "{what} exemplar {trace}/{span} on {labels} was not emitted by this run"
            );
        }
        println!(
            "{what}: {} exemplars, {} distinct trace ids, all among the {} emitted",
            found.len(),
            traces.len(),
            emitted.len()
        );
    }
    // Bucket exemplars sit on `_bucket` series with an `le`; counter ones on the `_total` series.
    assert!(histogram.iter().all(|(l, _, _)| l["le"].is_string()));
    assert!(
        counter
            .iter()
            .all(|(l, _, _)| l["__name__"] == "llm_requests_total")
    );
    // The series themselves were ingested from the OpenMetrics scrape.
    let r = prometheus.wait_for("sum(llm_requests_total)", |r| {
        r[0]["value"][1].as_str() == Some(&emitted.len().to_string())
    });
    assert_eq!(
        r[0]["value"][1].as_str(),
        Some(emitted.len().to_string().as_str())
    );
}
