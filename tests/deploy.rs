//! The deployment files under `deploy/`, checked for real.
//!
//! - `promtool` accepts the scrape configs (`check config`) and the alerting rules
//!   (`check rules`), and the rules' unit tests pass (`test rules deploy/alerts.test.yml`).
//! - The Grafana dashboard is importable: it parses, declares its Prometheus data source input
//!   and data source variable, lays its panels out on the 24-column grid without overlap, and has
//!   the panels the deployment docs promise.
//! - Every metric name the dashboard and the alerts use is one the Prometheus handler exports
//!   (checked against a rendered exposition, in process).
//! - Every dashboard expression is accepted by a real Prometheus, and returns data once that
//!   Prometheus scrapes a live `/metrics` endpoint fed by the instrumentation helpers; the alert
//!   rules, loaded into it, evaluate without error.
//!
//! The tests that need `promtool` or `prometheus` are ignored in a plain `cargo test`;
//! `scripts/test-all.sh` runs them, and they fail (never skip) when the binaries are missing.
//! Binaries are found through `LLM_TELEMETRY_PROMTOOL` / `LLM_TELEMETRY_PROMETHEUS`, else PATH.

use std::collections::BTreeSet;
use std::num::NonZeroU64;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use llm_telemetry::instrument::{
    CacheTelemetry, ChatMessage, ChatRequest, EmbedRequest, GenerateRequest, InferenceBackend,
    Instrumentation, InstrumentedBackend, SimulatedBackend, TelemetryLevel,
};
use llm_telemetry::{Bus, Delivery};
use llm_telemetry_cost::{Budget, CostTracker, PriceTable, Usd, Window};
use llm_telemetry_prometheus::{PrometheusReporter, ServerConfig, defaults};
use serde_json::Value as Json;

// Locating promtool/prometheus and picking free ports: the Prometheus handler's test helpers.
#[path = "../handlers/prometheus/tests/common/mod.rs"]
mod common;
use common::{PrometheusServer, percent_encode, tool};

// ---------------------------------------------------------------------------------------------
// Files

fn deploy_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("deploy")
        .join(name)
}

fn read_deploy(name: &str) -> String {
    let path = deploy_path(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

fn dashboard() -> Json {
    serde_json::from_str(&read_deploy("grafana-dashboard.json"))
        .unwrap_or_else(|e| panic!("deploy/grafana-dashboard.json is not valid JSON: {e}"))
}

/// Every panel, including those nested in collapsed rows.
fn panels(dashboard: &Json) -> Vec<&Json> {
    fn walk<'a>(list: &'a Json, out: &mut Vec<&'a Json>) {
        for panel in list.as_array().into_iter().flatten() {
            out.push(panel);
            walk(&panel["panels"], out);
        }
    }
    let mut out = Vec::new();
    walk(&dashboard["panels"], &mut out);
    out
}

/// `(panel title, expr)` of every query target.
fn panel_exprs(dashboard: &Json) -> Vec<(String, String)> {
    panels(dashboard)
        .into_iter()
        .flat_map(|panel| {
            let title = panel["title"].as_str().unwrap_or("?").to_owned();
            panel["targets"]
                .as_array()
                .into_iter()
                .flatten()
                .map(move |t| {
                    let expr = t["expr"]
                        .as_str()
                        .unwrap_or_else(|| panic!("a target of panel {title:?} has no expr"));
                    (title.clone(), expr.to_owned())
                })
        })
        .collect()
}

/// The query variables: `(name, series selector, label)` from `label_values(selector, label)`.
fn variable_queries(dashboard: &Json) -> Vec<(String, String, String)> {
    dashboard["templating"]["list"]
        .as_array()
        .expect("templating.list")
        .iter()
        .filter(|v| v["type"] == "query")
        .map(|v| {
            let name = v["name"].as_str().expect("variable name").to_owned();
            let query = v["query"]["query"]
                .as_str()
                .or_else(|| v["query"].as_str())
                .unwrap_or_else(|| panic!("variable {name} has no query"));
            let inner = query
                .strip_prefix("label_values(")
                .and_then(|q| q.strip_suffix(')'))
                .unwrap_or_else(|| {
                    panic!("variable {name}: expected label_values(…), got {query}")
                });
            let (selector, label) = inner
                .rsplit_once(',')
                .unwrap_or_else(|| panic!("variable {name}: no label in {query}"));
            (name, selector.trim().to_owned(), label.trim().to_owned())
        })
        .collect()
}

/// The Grafana time variables, as Grafana would fill them for a one-hour view.
const TIME_VARIABLES: [(&str, &str); 3] = [
    ("$__rate_interval", "1m"),
    ("$__range", "1h"),
    ("$__interval", "15s"),
];

/// What Grafana does before sending a query: its variables replaced by values. Query variables
/// named in `chosen` get that (regex-escaped) value; the others are "All", their `allValue`.
fn substitute(dashboard: &Json, expr: &str, chosen: &[(&str, &str)]) -> String {
    let mut out = expr.to_owned();
    for (variable, value) in TIME_VARIABLES {
        out = out.replace(variable, value);
    }
    for variable in dashboard["templating"]["list"]
        .as_array()
        .into_iter()
        .flatten()
    {
        if variable["type"] != "query" {
            continue;
        }
        let name = variable["name"].as_str().expect("variable name");
        let value = chosen
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.replace('.', "\\\\."))
            .unwrap_or_else(|| variable["allValue"].as_str().unwrap_or(".*").to_owned());
        out = out
            .replace(&format!("${{{name}}}"), &value)
            .replace(&format!("${name}"), &value);
    }
    assert!(
        !out.contains('$'),
        "an unknown Grafana variable is left in {expr:?} after substitution: {out:?}"
    );
    out
}

/// The label names of every `by (…)` clause of `promql`, except `le`.
fn grouping_labels(promql: &str) -> BTreeSet<String> {
    promql
        .split("by (")
        .skip(1)
        .filter_map(|rest| rest.split_once(')'))
        .flat_map(|(labels, _)| labels.split(','))
        .map(|l| l.trim().to_owned())
        .filter(|l| !l.is_empty() && l != "le")
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Binaries

fn promtool(args: &[&str]) {
    let promtool = tool("LLM_TELEMETRY_PROMTOOL", "promtool");
    let out = Command::new(&promtool)
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", promtool.display()));
    assert!(
        out.status.success(),
        "promtool {} failed ({}):\nstdout: {}\nstderr: {}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
}

// ---------------------------------------------------------------------------------------------
// A real Prometheus on loopback

impl PrometheusServer {
    /// `GET path` on the API, parsed; panics unless `"status": "success"`.
    fn api(&self, path: &str) -> Json {
        let common::Response { status, body, .. } = common::try_get_plain(self.addr, path)
            .unwrap_or_else(|e| panic!("GET {path} from prometheus: {e}"));
        let json: Json = serde_json::from_str(&body)
            .unwrap_or_else(|e| panic!("GET {path}: not JSON ({e}), HTTP {status}: {body}"));
        assert_eq!(
            json["status"], "success",
            "GET {path}: HTTP {status}: {body}"
        );
        json
    }

    /// An instant query; panics unless Prometheus accepts it. Returns `data.result`.
    fn query(&self, promql: &str) -> Vec<Json> {
        let json = self.api(&format!("/api/v1/query?query={}", percent_encode(promql)));
        json["data"]["result"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// Polls `promql` every 250 ms (at most 60 s) until it returns a sample.
    fn wait_for_data(&self, promql: &str) -> Vec<Json> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let result = self.query(promql);
            if !result.is_empty() {
                return result;
            }
            assert!(
                Instant::now() < deadline,
                "no result for {promql} after 60 s; prometheus log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(250));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Traffic: every kind of event the default metric set turns into series

struct Traffic {
    telemetry: Instrumentation,
    openai: InstrumentedBackend<SimulatedBackend>,
    anthropic: InstrumentedBackend<SimulatedBackend>,
    cache: CacheTelemetry,
}

impl Traffic {
    fn new(bus: &Bus) -> Self {
        let telemetry = Instrumentation::new(bus, TelemetryLevel::Basic);
        let backend = |provider: &str, rate_limit_every: u64, fail_every: u64| {
            InstrumentedBackend::new(
                SimulatedBackend::new(provider)
                    .rate_limit_every(NonZeroU64::new(rate_limit_every).expect("non-zero"))
                    .fail_every(NonZeroU64::new(fail_every).expect("non-zero")),
                telemetry.clone(),
            )
        };
        Self {
            openai: backend("openai", 7, 5),
            anthropic: backend("anthropic", 11, 6),
            cache: telemetry.cache("responses"),
            telemetry,
        }
    }

    /// An `llm.provider.request` span for the HTTP call behind a model call.
    fn provider_request(&self, provider: &str, model: &str, ok: bool) {
        let span = self.telemetry.start_provider_request(provider, Some(model));
        if ok {
            span.finish(200);
        } else {
            span.fail("server_error", "HTTP 500 from the provider");
        }
    }

    /// One round: chat, stream, generate and embed calls (some failing, some rate limited),
    /// each followed by a provider HTTP request span, and cache hits, misses and evictions.
    fn round(&self, i: u64) {
        let tenant = ["acme", "globex"][(i % 2) as usize];
        let (backend, model) = if i % 3 == 0 {
            (&self.anthropic, "claude-haiku-4-5")
        } else {
            (&self.openai, "gpt-4o-mini")
        };
        let chat = ChatRequest::new(model, vec![ChatMessage::user(format!("question {i}"))])
            .max_tokens(64)
            .tenant(tenant);
        let ok = backend.chat(&chat).is_ok();
        self.provider_request(backend.provider(), model, ok);
        let stream = GenerateRequest::new(model, "Count to ten")
            .max_tokens(16)
            .streaming(true)
            .tenant(tenant);
        let ok = backend.stream(&stream).map(|s| s.for_each(drop)).is_ok();
        self.provider_request(backend.provider(), model, ok);
        let generate = GenerateRequest::new(model, format!("Summarise report {i}"))
            .max_tokens(32)
            .tenant(tenant);
        let ok = backend.generate(&generate).is_ok();
        self.provider_request(backend.provider(), model, ok);
        let embed = EmbedRequest::new("text-embedding-3-small", ["a query"])
            .query(true)
            .tenant(tenant);
        let ok = self.openai.embed(&embed).is_ok();
        self.provider_request("openai", "text-embedding-3-small", ok);
        let key = format!("prompt {}", i % 4);
        if i % 2 == 0 {
            self.cache.hit(&key, Some(128));
        } else {
            self.cache.miss(&key);
            self.cache.put(&key, Some(128));
            self.cache
                .evicted(format!("prompt {}", (i + 2) % 4), Some(128));
        }
    }
}

/// A reporter with the default metrics and a cost tracker on `bus`. The tracker is attached on
/// the queued lane (as a service's logger and span exporter are), so the queue gauges exist;
/// tenant `acme`'s lifetime budget of one micro-dollar is crossed by its first call, so the
/// threshold counter exists.
fn reporter_on(bus: &Bus) -> (PrometheusReporter, CostTracker) {
    let reporter = PrometheusReporter::builder()
        .metrics(defaults::llm_metrics())
        .expect("default metrics")
        .attach(bus)
        .expect("reporter");
    let cost = CostTracker::builder()
        .prices(PriceTable::builtin())
        .budget(Budget::tenant(
            "acme",
            Window::Lifetime,
            Usd::from_micros(1),
        ))
        .delivery(Delivery::queued())
        .attach(bus)
        .expect("attach cost tracker");
    (reporter, cost)
}

// ---------------------------------------------------------------------------------------------
// Metric names

/// Metric-name tokens of a PromQL text: identifiers starting with `llm_`, `gen_ai_client_` or
/// `gen_ai_server_` (label names such as `gen_ai_request_model` are not metric names).
/// Recording-rule names (with `:`) are left out.
fn metric_names(text: &str) -> BTreeSet<String> {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
        .filter(|t| !t.contains(':'))
        .filter(|t| {
            t.starts_with("llm_")
                || t.starts_with("gen_ai_client_")
                || t.starts_with("gen_ai_server_")
        })
        .map(str::to_owned)
        .collect()
}

/// The series names an exposition holds: every `# TYPE` family, with `_bucket`, `_sum` and
/// `_count` for histograms.
fn exported_names(exposition: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for line in exposition.lines() {
        let Some(rest) = line.strip_prefix("# TYPE ") else {
            continue;
        };
        let mut parts = rest.split_whitespace();
        let (Some(name), Some(kind)) = (parts.next(), parts.next()) else {
            continue;
        };
        names.insert(name.to_owned());
        if kind == "histogram" || kind == "summary" {
            for suffix in ["_bucket", "_sum", "_count"] {
                names.insert(format!("{name}{suffix}"));
            }
        }
    }
    names
}

/// The metrics the docs promise per required panel: `(title, metric the expression must use)`.
const REQUIRED_PANELS: [(&str, &str); 13] = [
    (
        "Latency percentiles",
        "gen_ai_client_operation_duration_seconds_bucket",
    ),
    ("Tokens/s", "gen_ai_client_token_usage_sum"),
    ("Error rate", "llm_requests_total"),
    ("Cache hit ratio", "llm_cache_hits_total"),
    ("Cost by tenant", "llm_cost_usd_total"),
    (
        "Time to first token",
        "gen_ai_client_operation_time_to_first_chunk_seconds_bucket",
    ),
    ("Dropped events", "llm_telemetry_handler_events_total"),
    ("Requests in flight", "llm_requests_in_flight"),
    (
        "Time per output token",
        "gen_ai_server_time_per_output_token_seconds_bucket",
    ),
    ("Cache size", "llm_cache_size_bytes"),
    (
        "Budget thresholds crossed",
        "llm_cost_threshold_exceeded_total",
    ),
    (
        "Provider HTTP p95 latency",
        "llm_provider_request_duration_seconds_bucket",
    ),
    (
        "Failed /metrics scrapes",
        "llm_telemetry_scrapes_failed_total",
    ),
];

// ---------------------------------------------------------------------------------------------
// Tests without servers

#[test]
fn dashboard_is_an_importable_grafana_dashboard() {
    let d = dashboard();
    let schema = d["schemaVersion"].as_u64().expect("schemaVersion");
    assert!(schema >= 36, "schemaVersion {schema} < 36");
    assert!(d["title"].as_str().is_some_and(|t| !t.is_empty()));
    assert!(d["uid"].as_str().is_some_and(|u| !u.is_empty()));

    // The import input: Grafana asks for a Prometheus data source and substitutes its uid.
    let inputs = d["__inputs"].as_array().expect("__inputs");
    assert!(
        inputs.iter().any(|i| i["name"] == "DS_PROMETHEUS"
            && i["type"] == "datasource"
            && i["pluginId"] == "prometheus"),
        "__inputs lacks the DS_PROMETHEUS prometheus data source: {inputs:?}"
    );
    // The data source variable, defaulting to the imported data source.
    let variables = d["templating"]["list"].as_array().expect("templating.list");
    let datasource = variables
        .iter()
        .find(|v| v["type"] == "datasource")
        .expect("a datasource variable");
    assert_eq!(datasource["name"], "datasource");
    assert_eq!(datasource["query"], "prometheus");
    assert_eq!(datasource["current"]["value"], "${DS_PROMETHEUS}");
    for variable in variables.iter().filter(|v| v["type"] == "query") {
        assert_eq!(
            variable["datasource"]["uid"], "${datasource}",
            "variable {} does not use the data source variable",
            variable["name"]
        );
    }

    // Panels: unique ids, on the grid, not overlapping, each query on the data source variable.
    let panels = panels(&d);
    assert!(panels.len() >= 10, "only {} panels", panels.len());
    let mut ids = BTreeSet::new();
    let mut cells = BTreeSet::new();
    for panel in &panels {
        let title = panel["title"].as_str().expect("panel title");
        let id = panel["id"]
            .as_u64()
            .unwrap_or_else(|| panic!("{title}: no id"));
        assert!(ids.insert(id), "panel id {id} ({title}) is used twice");
        let grid = &panel["gridPos"];
        let [x, y, w, h] = ["x", "y", "w", "h"].map(|k| {
            grid[k]
                .as_u64()
                .unwrap_or_else(|| panic!("{title}: gridPos.{k}"))
        });
        assert!(
            w > 0 && h > 0 && x + w <= 24,
            "{title}: gridPos {grid} off the grid"
        );
        for cx in x..x + w {
            for cy in y..y + h {
                assert!(
                    cells.insert((cx, cy)),
                    "{title} overlaps another panel at ({cx}, {cy})"
                );
            }
        }
        if panel["type"] == "row" {
            continue;
        }
        assert_eq!(panel["datasource"]["type"], "prometheus", "{title}");
        assert_eq!(panel["datasource"]["uid"], "${datasource}", "{title}");
        let targets = panel["targets"].as_array().expect("targets");
        assert!(!targets.is_empty(), "{title} has no query");
        for target in targets {
            assert_eq!(target["datasource"]["uid"], "${datasource}", "{title}");
            assert!(
                target["refId"].as_str().is_some(),
                "{title}: target without refId"
            );
        }
    }

    // The promised panels, each charting the metric it is about.
    let exprs = panel_exprs(&d);
    for (title, metric) in REQUIRED_PANELS {
        let found: Vec<&String> = exprs
            .iter()
            .filter(|(t, _)| t == title)
            .map(|(_, e)| e)
            .collect();
        assert!(!found.is_empty(), "no panel titled {title:?}");
        assert!(
            found.iter().any(|e| e.contains(metric)),
            "panel {title:?} does not query {metric}: {found:?}"
        );
    }
    let latency = exprs
        .iter()
        .filter(|(t, _)| t == "Latency percentiles")
        .map(|(_, e)| e.as_str())
        .collect::<Vec<_>>();
    for q in ["0.5", "0.95", "0.99"] {
        assert!(
            latency
                .iter()
                .any(|e| e.starts_with(&format!("histogram_quantile({q},"))),
            "Latency percentiles lacks the {q} quantile"
        );
    }
    assert!(
        exprs
            .iter()
            .any(|(t, e)| t == "Tokens/s" && e.contains("by (gen_ai_token_type)")),
        "Tokens/s is not split by gen_ai_token_type"
    );
    assert!(
        exprs
            .iter()
            .any(|(t, e)| t == "Cost by tenant" && e.contains("by (tenant)")),
        "Cost by tenant is not split by tenant"
    );
}

#[test]
fn dashboard_and_alerts_use_only_metrics_the_reporter_exports() {
    let bus = Bus::new();
    let (reporter, _cost) = reporter_on(&bus);
    let traffic = Traffic::new(&bus);
    for i in 0..40 {
        traffic.round(i);
    }
    assert!(bus.drain(Duration::from_secs(10)), "bus did not flush");
    let exported = exported_names(&reporter.render());
    assert!(
        exported.contains("llm_requests_total"),
        "the exposition lacks llm_requests_total: {exported:?}"
    );

    let d = dashboard();
    let mut used: Vec<(String, String)> = Vec::new();
    for (title, expr) in panel_exprs(&d) {
        used.extend(metric_names(&expr).into_iter().map(|m| (title.clone(), m)));
    }
    for (name, selector, _) in variable_queries(&d) {
        used.extend(
            metric_names(&selector)
                .into_iter()
                .map(|m| (format!("variable {name}"), m)),
        );
    }
    let alerts = read_deploy("alerts.yml");
    for line in alerts.lines().filter(|l| !l.trim_start().starts_with('#')) {
        used.extend(
            metric_names(line)
                .into_iter()
                .map(|m| ("alerts.yml".to_owned(), m)),
        );
    }
    for federate in ["prometheus.yml", "prometheus-federate.yml"] {
        let text = read_deploy(federate);
        for line in text.lines().filter(|l| !l.trim_start().starts_with('#')) {
            used.extend(
                metric_names(line)
                    .into_iter()
                    .filter(|m| !m.ends_with('_')) // the federation regex `llm_.+`
                    .map(|m| (federate.to_owned(), m)),
            );
        }
    }
    assert!(used.len() > 30, "too few metric references found: {used:?}");
    let unknown: Vec<&(String, String)> =
        used.iter().filter(|(_, m)| !exported.contains(m)).collect();
    assert!(
        unknown.is_empty(),
        "metrics used in deploy/ but not exported by the reporter: {unknown:?}\nexported: {exported:?}"
    );
    // And every required metric family is in use.
    let used_names: BTreeSet<&str> = used.iter().map(|(_, m)| m.as_str()).collect();
    for (_, metric) in REQUIRED_PANELS {
        assert!(used_names.contains(metric), "{metric} is not used");
    }
}

// ---------------------------------------------------------------------------------------------
// Tests with promtool and prometheus

#[test]
#[ignore = "needs prometheus: run scripts/test-all.sh"]
fn scrape_configs_pass_promtool_check_config() {
    for file in ["deploy/prometheus.yml", "deploy/prometheus-federate.yml"] {
        promtool(&["check", "config", file]);
    }
    let config = read_deploy("prometheus.yml");
    for needle in [
        "job_name: llm-telemetry",
        "127.0.0.1:9568",
        "scrape_interval: 15s",
        "metrics_path: /metrics",
    ] {
        assert!(
            config.contains(needle),
            "deploy/prometheus.yml lacks {needle:?}"
        );
    }
    let federate = read_deploy("prometheus-federate.yml");
    assert!(federate.contains("metrics_path: /federate"));
    assert!(federate.contains("honor_labels: true"));
}

#[test]
#[ignore = "needs prometheus: run scripts/test-all.sh"]
fn alerting_rules_pass_promtool_check_and_unit_tests() {
    promtool(&["check", "rules", "deploy/alerts.yml"]);
    promtool(&["test", "rules", "deploy/alerts.test.yml"]);
}

#[test]
#[ignore = "needs prometheus: run scripts/test-all.sh"]
fn every_dashboard_expression_is_valid_promql() {
    let prometheus = PrometheusServer::start("", &[]);
    let d = dashboard();
    let mut checked = 0;
    for (title, expr) in panel_exprs(&d) {
        let promql = substitute(&d, &expr, &[]);
        let json = prometheus.api(&format!("/api/v1/query?query={}", percent_encode(&promql)));
        assert!(
            json["data"]["resultType"].is_string(),
            "{title}: {promql}: {json}"
        );
        checked += 1;
    }
    // A variable's `label_values(selector, label)` runs as a label-values call matching the
    // selector; both the call and the selector as a query must be accepted.
    for (_, selector, label) in variable_queries(&d) {
        let selector = substitute(&d, &selector, &[]);
        prometheus.api(&format!(
            "/api/v1/label/{label}/values?match[]={}",
            percent_encode(&selector)
        ));
        prometheus.query(&format!("count by ({label}) ({selector})"));
        checked += 1;
    }
    assert!(checked >= 30, "only {checked} expressions checked");

    // The check is real: Prometheus refuses a broken expression.
    let common::Response { status, body, .. } = common::try_get_plain(
        prometheus.addr,
        &format!(
            "/api/v1/query?query={}",
            percent_encode("sum by (le (rate(x[1m]))")
        ),
    )
    .expect("query");
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("\"status\":\"error\""), "{body}");
}

#[test]
#[ignore = "needs prometheus: run scripts/test-all.sh"]
fn dashboard_and_alerts_show_data_from_a_live_service() {
    // The service: reporter and cost tracker on a bus, /metrics on a free loopback port, and
    // traffic flowing the whole time so every rate is measured over changing counters.
    let bus = Bus::new();
    let (reporter, _cost) = reporter_on(&bus);
    let server = reporter
        .serve(ServerConfig::at("127.0.0.1:0"))
        .expect("serve /metrics");
    let stop = Arc::new(AtomicBool::new(false));
    let traffic = {
        let bus = bus.clone();
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            let traffic = Traffic::new(&bus);
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                traffic.round(i);
                i += 1;
                std::thread::sleep(Duration::from_millis(20));
            }
        })
    };
    struct StopOnDrop(Arc<AtomicBool>);
    impl Drop for StopOnDrop {
        fn drop(&mut self) {
            self.0.store(true, Ordering::Relaxed);
        }
    }
    let _stop_traffic = StopOnDrop(Arc::clone(&stop));

    let prometheus = PrometheusServer::start(
        &format!(
            "  - job_name: llm-telemetry\n    metrics_path: /metrics\n    static_configs:\n      - targets: ['{}']\n",
            server.local_addr()
        ),
        &[deploy_path("alerts.yml")],
    );
    // At least four scrapes, so that every rate over [1m] has several points.
    prometheus.wait_for_data(r#"count_over_time(up{job="llm-telemetry"}[1m]) >= 4"#);
    assert_eq!(
        prometheus.query(r#"up{job="llm-telemetry"}"#)[0]["value"][1],
        "1",
        "the scrape of {} fails",
        server.url()
    );

    // Every query returns data, with every variable on "All" and with one value chosen for
    // each (which catches a misspelt label in a matcher: `.*` would match it anyway); every
    // label a query groups by is in its result.
    let d = dashboard();
    let mut empty = Vec::new();
    let mut checked = 0;
    let one_value = [
        ("job", "llm-telemetry"),
        ("provider", "openai"),
        ("model", "gpt-4o-mini"),
        ("tenant", "acme"),
    ];
    for chosen in [&[][..], &one_value[..]] {
        for (title, expr) in panel_exprs(&d) {
            let promql = substitute(&d, &expr, chosen);
            let result = prometheus.query(&promql);
            if result.is_empty() {
                empty.push(format!("{title}: {promql}"));
            }
            for label in grouping_labels(&promql) {
                if !result.iter().any(|s| s["metric"][&label].is_string()) {
                    empty.push(format!(
                        "{title}: no {label} label in the result of {promql}"
                    ));
                }
            }
            checked += 1;
        }
        for (name, selector, label) in variable_queries(&d) {
            let selector = substitute(&d, &selector, chosen);
            let values = prometheus.api(&format!(
                "/api/v1/label/{label}/values?match[]={}",
                percent_encode(&selector)
            ));
            if values["data"].as_array().is_none_or(|v| v.is_empty()) {
                empty.push(format!(
                    "variable {name}: label_values({selector}, {label})"
                ));
            }
            checked += 1;
        }
    }
    assert!(checked >= 60, "only {checked} queries checked");
    assert!(
        empty.is_empty(),
        "dashboard queries without data from a live service (wrong metric or label name?):\n{}",
        empty.join("\n")
    );

    // The cost panel splits by the two tenants the traffic bills.
    let tenants: BTreeSet<String> = prometheus
        .query(r#"sum by (tenant) (rate(llm_cost_usd_total{job="llm-telemetry"}[1m]))"#)
        .iter()
        .filter_map(|s| s["metric"]["tenant"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(
        tenants,
        BTreeSet::from(["acme".to_owned(), "globex".to_owned()])
    );
    // Both token types are charted.
    let token_types = prometheus.query(
        r#"sum by (gen_ai_token_type) (rate(gen_ai_client_token_usage_sum{job="llm-telemetry"}[1m]))"#,
    );
    assert_eq!(token_types.len(), 2, "{token_types:?}");

    // The alert rules, loaded from deploy/alerts.yml, evaluate without error.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let rules = prometheus.api("/api/v1/rules");
        let groups = rules["data"]["groups"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let all: Vec<&Json> = groups
            .iter()
            .flat_map(|g| g["rules"].as_array().into_iter().flatten())
            .collect();
        assert!(all.len() >= 10, "rules not loaded: {rules}");
        let bad: Vec<&Json> = all
            .iter()
            .copied()
            .filter(|r| r["health"] == "err")
            .collect();
        assert!(bad.is_empty(), "rules failing to evaluate: {bad:?}");
        if all.iter().all(|r| r["health"] == "ok") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "rules not all evaluated after 60 s: {rules}"
        );
        std::thread::sleep(Duration::from_millis(250));
    }

    // The recording rule the cost-budget alert reads has a series per tenant (the rules were
    // all evaluated above, with both tenants billed since the start).
    let recorded: BTreeSet<String> = prometheus
        .wait_for_data("tenant:llm_cost_usd:rate1h")
        .iter()
        .filter_map(|s| s["metric"]["tenant"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(
        recorded,
        BTreeSet::from(["acme".to_owned(), "globex".to_owned()])
    );

    stop.store(true, Ordering::Relaxed);
    traffic.join().expect("traffic thread");
    server.stop();
}
