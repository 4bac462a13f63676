//! Export health on `/metrics` (issue 18, item 7): the OpenTelemetry handler's exported spans,
//! drops by reason and failed exports appear on the Prometheus endpoint the same `Config`
//! serves, with exact counts, against a collector that refuses every connection (a real socket
//! on loopback), and the text passes `promtool check metrics`.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::time::Duration;

use llm_telemetry::catalog::{self, keys};
use llm_telemetry::config::Config;
use llm_telemetry::{Bus, Value};

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// The value of the sample whose name and labels start with `prefix`.
fn sample(text: &str, prefix: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

fn scrape(port: u16) -> String {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect to /metrics");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    write!(
        stream,
        "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .expect("request");
    let mut raw = String::new();
    stream.read_to_string(&mut raw).expect("response");
    raw.split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .unwrap_or_default()
}

#[test]
#[ignore = "needs promtool: run scripts/test-all.sh"]
fn export_failures_are_counted_on_metrics_exactly() {
    const SPANS: u64 = 300;
    let refusing = free_port(); // nothing listens there any more
    let metrics = free_port();
    let config = Config::builder()
        .set(format!("tracing.endpoint=http://127.0.0.1:{refusing}"))
        .set(format!("metrics.listen=127.0.0.1:{metrics}"))
        .set("log.enabled=false")
        .set("cost.enabled=false")
        .build()
        .expect("configuration");
    let bus = Bus::new();
    let mut telemetry = config.attach(&bus).expect("attach");
    for i in 0..SPANS {
        bus.span(
            &catalog::LLM_CHAT,
            &[
                (keys::MODEL, Value::Str("gpt-4o")),
                (keys::MAX_TOKENS, Value::Int(i as i64)),
            ],
            |_| (),
        );
    }
    // Every span reaches an export, and every export fails: the flush says so.
    assert!(!telemetry.flush(Duration::from_secs(30)).is_complete());
    let text = scrape(metrics);
    let handler = telemetry
        .otel()
        .expect("otel attached")
        .handler_id()
        .to_owned();
    let of = |name: &str, reason: Option<&str>| {
        let prefix = match reason {
            Some(reason) => format!("{name}{{handler=\"{handler}\",reason=\"{reason}\"}}"),
            None => format!("{name}{{handler=\"{handler}\"}}"),
        };
        sample(&text, &prefix).unwrap_or_else(|| panic!("no {prefix} in:\n{text}"))
    };
    let stats = telemetry.otel().expect("otel").stats();
    assert_eq!(stats.exported + stats.dropped(), SPANS, "{stats:?}");
    assert_eq!(of("llm_telemetry_spans_exported_total", None), 0.0);
    assert_eq!(
        of("llm_telemetry_spans_dropped_total", Some("export_failed")),
        SPANS as f64,
        "{stats:?}"
    );
    assert_eq!(
        of("llm_telemetry_span_exports_failed_total", None),
        stats.failed_exports as f64
    );
    assert!(stats.failed_exports >= 1);
    for reason in [
        "export_queue_full",
        "no_exporter",
        "after_shutdown",
        "shutdown_deadline",
    ] {
        assert_eq!(
            of("llm_telemetry_spans_dropped_total", Some(reason)),
            0.0,
            "{reason}"
        );
    }

    let promtool = std::env::var_os("LLM_TELEMETRY_PROMTOOL").unwrap_or_else(|| "promtool".into());
    let mut child = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run promtool (installed by scripts/test-all.sh)");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(text.as_bytes())
        .expect("write to promtool");
    let out = child.wait_with_output().expect("promtool output");
    assert!(
        out.status.success(),
        "promtool check metrics:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // One shutdown ends them all; the counters stay readable after it.
    let _ = telemetry.shutdown(Duration::from_secs(5));
    let after = telemetry.otel().expect("otel").stats();
    assert_eq!(after.exported + after.dropped(), SPANS, "{after:?}");
}
