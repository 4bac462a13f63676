//! Bounded memory whatever the label values (issue 13, item 3): 1 MB label values are cut at the
//! label value cap, a million distinct values stop at the series cap, the `/metrics` endpoint
//! keeps serving a scrape of bounded size, the process's resident memory stays bounded, and
//! every total stays exact.
//!
//! One test in its own binary, so no other test's allocations share the process being measured.

mod common;

use llm_telemetry_core::{Bus, Value};
use llm_telemetry_genai::catalog::{self, keys};
use llm_telemetry_prometheus::{
    DEFAULT_MAX_LABEL_VALUE_BYTES, Metric, PrometheusReporter, ServerConfig, TRUNCATION_MARKER,
};

use common::{get, sample};

/// The process's resident set size in bytes (Linux `/proc/self/status`).
fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS line");
    kb * 1024
}

const MB: usize = 1 << 20;

#[test]
fn huge_and_countless_label_values_keep_memory_and_scrapes_bounded() {
    let bus = Bus::new();
    let reporter = PrometheusReporter::builder()
        .metric(Metric::counter("calls_total", &["llm.chat.stop"]).tags(&[keys::MODEL]))
        .unwrap()
        .metric(
            Metric::distribution(
                "call_seconds",
                &["llm.chat.stop"],
                keys::DURATION,
                &[0.1, 1.0],
            )
            .tags(&[keys::MODEL]),
        )
        .unwrap()
        .metric(
            Metric::counter("tenant_calls_total", &["llm.chat.stop"])
                .tags(&[keys::TENANT])
                .max_series(2000),
        )
        .unwrap()
        .attach(&bus)
        .unwrap();
    let server = reporter.serve(ServerConfig::at("127.0.0.1:0")).unwrap();
    let before = rss_bytes();

    // 2,000 distinct 1 MB model names (distinct in their first bytes), one buffer reused.
    let mut model = "m".repeat(MB).into_bytes();
    for i in 0..2000u32 {
        model[..8].copy_from_slice(format!("{i:08}").as_bytes());
        let model = std::str::from_utf8(&model).unwrap();
        bus.execute(
            &catalog::LLM_CHAT_STOP,
            &[(keys::DURATION, 0.5)],
            &[
                (keys::MODEL, Value::Str(model)),
                (keys::TENANT, Value::Str("t")),
            ],
        );
    }
    let scrape = get(server.local_addr(), "/metrics");
    assert_eq!(scrape.status, 200);
    let body = scrape.body;
    let size = body.len();
    assert!(
        size <= 10 * MB,
        "one scrape of 2,000 1 MB values is {size} bytes"
    );
    let cut = format!(
        "calls_total{{gen_ai_request_model=\"00001999{}{TRUNCATION_MARKER}\"}}",
        "m".repeat(DEFAULT_MAX_LABEL_VALUE_BYTES - 8)
    );
    assert_eq!(sample(&body, &cut), Some(1.0), "cut value not found");
    let calls: f64 = body
        .lines()
        .filter(|l| l.starts_with("calls_total{"))
        .map(|l| l.rsplit(' ').next().unwrap().parse::<f64>().unwrap())
        .sum();
    assert_eq!(calls, 2000.0);
    assert_eq!(
        sample(
            &body,
            "llm_telemetry_metric_label_truncated_total{metric=\"calls_total\"}"
        ),
        Some(2000.0)
    );
    assert_eq!(reporter.stats().truncated_events, 4000); // calls_total and call_seconds
    assert_eq!(reporter.stats().series, 2000 + 2000 + 1);
    let after_huge = rss_bytes();

    // A million distinct tenants: 2,000 series, then the overflow series, totals exact.
    for i in 0..1_000_000u32 {
        let tenant = format!("tenant-{i}");
        bus.execute(
            &catalog::LLM_CHAT_STOP,
            &[],
            &[
                (keys::MODEL, Value::Str("small")),
                (keys::TENANT, Value::Str(&tenant)),
            ],
        );
    }
    let scrape = get(server.local_addr(), "/metrics");
    assert_eq!(scrape.status, 200);
    let body = scrape.body;
    let tenants: Vec<&str> = body
        .lines()
        .filter(|l| l.starts_with("tenant_calls_total{"))
        .collect();
    assert_eq!(tenants.len(), 2001);
    let total: f64 = tenants
        .iter()
        .map(|l| l.rsplit(' ').next().unwrap().parse::<f64>().unwrap())
        .sum();
    assert_eq!(total, 1_002_000.0);
    assert_eq!(
        sample(&body, "tenant_calls_total{otel_metric_overflow=\"true\"}"),
        Some(1_000_000.0 - 1999.0)
    );
    let after_million = rss_bytes();

    let grew = |from: u64, to: u64| to.saturating_sub(from) as f64 / MB as f64;
    eprintln!(
        "scrape of 2,000 × 1 MB values: {:.2} MB; RSS +{:.1} MB after them, +{:.1} MB after a million distinct values",
        size as f64 / MB as f64,
        grew(before, after_huge),
        grew(before, after_million),
    );
    // Without the cap the keys alone held 2,000 × 1 MB twice over (table and recorder).
    assert!(
        grew(before, after_huge) < 64.0,
        "RSS grew {:.1} MB",
        grew(before, after_huge)
    );
    assert!(
        grew(before, after_million) < 96.0,
        "RSS grew {:.1} MB",
        grew(before, after_million)
    );
}
