//! The inspect surface of a running [`Telemetry`]: `/inspect` served beside `/metrics` over a
//! real loopback socket and read with `inspect::fetch`, against the handlers' own counters:
//! delivery counts, a metric driven past its cardinality cap, an exporter whose collector is
//! down, and the configuration in force.

use std::net::{SocketAddr, TcpListener};
use std::time::Duration;

use llm_telemetry::catalog::{self, keys};
use llm_telemetry::inspect;
use llm_telemetry::prometheus::Metric;
use llm_telemetry::{Bus, Config, Value};

const WAIT: Duration = Duration::from_secs(10);

/// A loopback port nothing listens on (bound, then released).
fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

#[test]
fn inspect_reports_deliveries_cardinality_overflow_exporter_state_and_config() {
    let dead_collector = format!("http://127.0.0.1:{}", closed_port());
    let config = Config::builder()
        .set("metrics.listen=127.0.0.1:0")
        .set("log.enabled=false")
        .set(format!("tracing.endpoint={dead_collector}"))
        .set("tracing.export=simple")
        .set("tracing.service_name=inspect-test")
        .build()
        .unwrap();
    let bus = Bus::new();
    let mut telemetry = config
        .telemetry()
        .global_metrics_recorder(false)
        .prometheus(|b| {
            b.metric(
                Metric::counter("inspect_tenant_chats_total", &["llm.chat.stop"])
                    .tags(&[keys::TENANT])
                    .max_series(2),
            )
            .unwrap()
        })
        .attach(&bus)
        .unwrap();
    for tenant in ["a", "b", "c", "d", "e"] {
        bus.span(
            &catalog::LLM_CHAT,
            &[
                (keys::PROVIDER, Value::Str("openai")),
                (keys::MODEL, Value::Str("m")),
                (keys::TENANT, Value::Str(tenant)),
            ],
            |_| {},
        );
    }
    let otel = telemetry.otel().unwrap();
    otel.force_flush(WAIT);

    let url = telemetry.metrics_url().unwrap();
    let addr: SocketAddr = url
        .trim_start_matches("http://")
        .trim_end_matches("/metrics")
        .parse()
        .unwrap();
    let served = inspect::fetch(addr, WAIT).unwrap();
    let local = telemetry.inspect();

    // Handlers: the bus's own list, with its counts.
    let stats = bus.stats();
    let handlers = served["handlers"].as_array().unwrap();
    assert_eq!(handlers.len(), stats.handlers.len());
    for h in &stats.handlers {
        let shown = handlers.iter().find(|s| s["id"] == h.id.as_str()).unwrap();
        assert!(shown["delivered"].as_u64().unwrap() <= h.delivered);
        assert_eq!(shown["dropped"], h.dropped);
        assert_eq!(shown["failed"], 0);
    }
    let cost = handlers
        .iter()
        .find(|s| s["id"] == "llm-telemetry-cost")
        .unwrap();
    assert_eq!(
        cost["delivered"], 5,
        "five chat stops reached the cost tracker"
    );
    let queued = handlers
        .iter()
        .find(|s| s["delivery"] == "queued")
        .expect("the OpenTelemetry handler is queued");
    assert!(queued["queue"]["capacity"].as_u64().unwrap() > 0);

    // Metrics: the capped one holds 2 label sets and sent 3 events to its overflow series.
    let metrics = served["metrics"].as_array().unwrap();
    let capped = metrics
        .iter()
        .find(|m| m["metric"] == "inspect_tenant_chats_total")
        .unwrap();
    assert_eq!(capped["series"], 2);
    assert_eq!(capped["max_series"], 2);
    assert_eq!(capped["overflowed"], true);
    assert_eq!(capped["overflow_events"], 3);
    let requests = metrics
        .iter()
        .find(|m| m["metric"] == "llm_requests_total")
        .unwrap();
    assert_eq!(requests["overflowed"], false);

    // The exporter: its collector is down, so it is failing with the error named.
    let exporter = &served["exporter"];
    assert_eq!(exporter["endpoint"], dead_collector.as_str());
    assert_eq!(exporter["protocol"], "http/protobuf");
    assert_eq!(exporter["state"], "failing", "{exporter}");
    assert_eq!(exporter["exported"], 0);
    assert!(exporter["failed_exports"].as_u64().unwrap() >= 1);
    assert!(exporter["last_export_error"].is_string());

    // The configuration in force.
    assert_eq!(served["service"], "inspect-test");
    assert_eq!(served["config"]["tracing.export"], "simple");
    assert_eq!(served["config"]["metrics.listen"], "127.0.0.1:0");
    assert!(
        served["config"].get("cost.budget_usd").is_none(),
        "unset keys are left out"
    );
    assert_eq!(served["config"], local["config"]);

    // And for people.
    let text = inspect::render_text(&served);
    assert!(
        text.contains("inspect_tenant_chats_total  series 2/2  OVERFLOW (3 events)"),
        "{text}"
    );
    assert!(text.contains("state failing"), "{text}");
    assert!(text.contains("  tracing.export = simple\n"), "{text}");

    let _report = telemetry.shutdown(WAIT);
    let error = inspect::fetch(addr, Duration::from_secs(1)).unwrap_err();
    assert!(
        matches!(error, inspect::InspectError::Connect { .. }),
        "{error}"
    );
}
