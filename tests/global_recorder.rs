//! The `metrics` facade through [`Config::attach`]: the first `Telemetry` of a process installs
//! the Prometheus reporter's recorder as the global one, so the program's own `metrics::`
//! calls appear on the `/metrics` it serves; a second attach in the same process finds the
//! recorder taken, still attaches, and says so. One test in its own file (its own process):
//! the global recorder can be set once per process.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use llm_telemetry::Bus;
use llm_telemetry::Config;
use llm_telemetry::prometheus::metrics;

fn scrape(url: &str) -> String {
    let addr = url
        .strip_prefix("http://")
        .and_then(|rest| rest.strip_suffix("/metrics"))
        .expect("an http://host:port/metrics url");
    let mut stream = TcpStream::connect(addr).expect("connect to /metrics");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("read timeout");
    write!(
        stream,
        "GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .expect("send the request");
    let mut raw = String::new();
    stream.read_to_string(&mut raw).expect("read the answer");
    assert!(raw.starts_with("HTTP/1.1 200"), "{raw}");
    raw.split_once("\r\n\r\n").expect("a body").1.to_owned()
}

fn config() -> Config {
    Config::builder()
        .set("metrics.listen=127.0.0.1:0")
        .set("log.enabled=false")
        .build()
        .expect("a valid configuration")
}

#[test]
fn the_programs_own_metrics_calls_appear_on_the_served_metrics() {
    let bus = Bus::new();
    let config = config();
    let mut telemetry = config.attach(&bus).expect("attach");
    assert!(telemetry.installed_metrics_recorder());
    let url = telemetry.metrics_url().expect("/metrics is served");

    metrics::describe_counter!("my_app_requests_total", "Requests my app served.");
    metrics::counter!("my_app_requests_total", "route" => "/v1/chat").increment(3);
    metrics::counter!("my_app_requests_total", "route" => "/v1/chat").increment(2);
    // A name the reporter owns is refused, not double-written.
    metrics::counter!("llm_telemetry_events_total").increment(1);

    let text = scrape(&url);
    assert!(
        text.contains("my_app_requests_total{route=\"/v1/chat\"} 5"),
        "{text}"
    );
    assert!(text.contains("# HELP my_app_requests_total Requests my app served."));
    assert_eq!(
        telemetry.metrics().expect("reporter").recorder().refused(),
        1
    );

    // A second Telemetry in the same process: the recorder is taken, attach still succeeds.
    let other_bus = Bus::new();
    let mut second = config.attach(&other_bus).expect("a second attach");
    assert!(!second.installed_metrics_recorder());
    let second_url = second.metrics_url().expect("served too");
    assert!(!scrape(&second_url).contains("my_app_requests_total"));

    // Opting out leaves the global recorder alone.
    let third_bus = Bus::new();
    let mut third = config
        .telemetry()
        .global_metrics_recorder(false)
        .attach(&third_bus)
        .expect("a third attach");
    assert!(!third.installed_metrics_recorder());

    for t in [&mut telemetry, &mut second, &mut third] {
        let report = t.shutdown(Duration::from_secs(5));
        assert!(report.is_complete(), "{report}");
    }
}
