//! The `/metrics` endpoint over real loopback sockets: scrapes, errors, stalled and malformed
//! clients, the connection bound, bind errors and stopping.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use llm_telemetry_core::Bus;
use llm_telemetry_prometheus::{ServeError, ServerConfig};

use common::{default_reporter as reporter, get, raw_request, traffic};

#[test]
fn serves_metrics_and_answers_errors() {
    let bus = Bus::new();
    let reporter = reporter(&bus);
    traffic(&bus, 5);
    let server = reporter.serve(ServerConfig::at("127.0.0.1:0")).unwrap();
    let addr = server.local_addr();
    assert_ne!(addr.port(), 0);
    assert_eq!(server.url(), format!("http://{addr}/metrics"));

    let r = get(addr, "/metrics");
    assert_eq!(r.status, 200);
    assert!(
        r.head.contains("Content-Type: text/plain; version=0.0.4"),
        "{}",
        r.head
    );
    assert!(
        r.body.contains("gen_ai_client_token_usage_bucket{"),
        "{}",
        r.body
    );
    let length: usize = r
        .head
        .lines()
        .find_map(|l| l.strip_prefix("Content-Length: "))
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(length, r.body.len());

    // OpenMetrics is asked for; the text format is what the renderer has.
    let r = raw_request(
        addr,
        b"GET /metrics HTTP/1.1\r\nAccept: application/openmetrics-text; version=1.0.0\r\n\r\n",
    );
    assert_eq!(r.status, 200);
    assert!(r.head.contains("version=0.0.4"));

    let r = raw_request(addr, b"HEAD /metrics HTTP/1.1\r\n\r\n");
    assert_eq!((r.status, r.body.as_str()), (200, ""));
    assert_eq!(get(addr, "/").status, 200);
    assert_eq!(get(addr, "/nope").status, 404);
    assert_eq!(
        raw_request(addr, b"DELETE /metrics HTTP/1.1\r\n\r\n").status,
        405
    );
    assert_eq!(raw_request(addr, b"\x00\x01garbage\r\n\r\n").status, 400);
    assert_eq!(raw_request(addr, b"GET /metrics\r\n\r\n").status, 400);
    // An oversized request head is refused, not buffered without bound.
    let mut huge = b"GET /metrics HTTP/1.1\r\nX: ".to_vec();
    huge.extend(std::iter::repeat_n(b'a', 40_000));
    huge.extend_from_slice(b"\r\n\r\n");
    assert_eq!(raw_request(addr, &huge).status, 400);
    server.stop();
    assert!(
        TcpStream::connect_timeout(&addr, Duration::from_millis(500)).is_err(),
        "stopped server still accepts"
    );
}

#[test]
fn stalled_clients_do_not_block_scrapes_and_time_out() {
    let bus = Bus::new();
    let reporter = reporter(&bus);
    let config = ServerConfig {
        address: "127.0.0.1:0".into(),
        // Room for the stalled clients plus scrape connections still closing on a loaded machine.
        max_connections: 16,
        read_timeout: Duration::from_millis(300),
        ..ServerConfig::default()
    };
    let server = reporter.serve(config).unwrap();
    let addr = server.local_addr();
    // Two clients connect and send half a request, then stall.
    let mut stalled: Vec<TcpStream> = (0..2)
        .map(|_| {
            let mut s = TcpStream::connect(addr).unwrap();
            s.write_all(b"GET /met").unwrap();
            s
        })
        .collect();
    // Scrapes still go through, and events still flow on the bus meanwhile.
    for _ in 0..3 {
        traffic(&bus, 1);
        assert_eq!(get(addr, "/metrics").status, 200);
    }
    // The stalled connections are closed by the read timeout.
    for s in &mut stalled {
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut buf = Vec::new();
        let n = s.read_to_end(&mut buf).unwrap_or(0);
        assert_eq!(n, 0, "a stalled client gets no response, only a close");
    }
}

#[test]
fn past_the_connection_bound_clients_get_503_without_blocking() {
    let bus = Bus::new();
    let reporter = reporter(&bus);
    let config = ServerConfig {
        address: "127.0.0.1:0".into(),
        max_connections: 1,
        read_timeout: Duration::from_secs(3),
        ..ServerConfig::default()
    };
    let server = reporter.serve(config).unwrap();
    let addr = server.local_addr();
    let _hog = TcpStream::connect(addr).unwrap();
    // Give the accept thread a moment to hand the hog its connection thread (bounded wait).
    let mut status = 0;
    for _ in 0..50 {
        status = get(addr, "/metrics").status;
        if status == 503 {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(status, 503);
    drop(_hog);
    let mut status = 0;
    for _ in 0..100 {
        status = get(addr, "/metrics").status;
        if status == 200 {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(status, 200, "the slot is released after the hog leaves");
}

#[test]
fn bind_errors_are_typed_and_name_the_address() {
    let bus = Bus::new();
    let reporter = reporter(&bus);
    let first = reporter.serve(ServerConfig::at("127.0.0.1:0")).unwrap();
    let taken = first.local_addr();
    let err = reporter
        .serve(ServerConfig::at(taken.to_string()))
        .expect_err("the port is taken");
    match &err {
        ServeError::Bind { addr, .. } => assert_eq!(*addr, taken),
        other => panic!("expected Bind, got {other:?}"),
    }
    assert!(err.to_string().contains(&taken.to_string()), "{err}");
    let err = reporter
        .serve(ServerConfig::at("not an address"))
        .unwrap_err();
    assert!(matches!(err, ServeError::InvalidAddress { .. }), "{err}");
    assert!(err.to_string().contains("not an address"));
}

#[test]
fn default_address_is_the_exllm_port() {
    assert_eq!(ServerConfig::default().address, "127.0.0.1:9568");
}

#[test]
fn scrapes_during_concurrent_emission_see_exact_totals() {
    let bus = Bus::new();
    let reporter = reporter(&bus);
    let server = reporter.serve(ServerConfig::at("127.0.0.1:0")).unwrap();
    let addr = server.local_addr();
    const PER_THREAD: usize = 20_000;
    std::thread::scope(|s| {
        for t in 0..2 {
            let bus = &bus;
            s.spawn(move || {
                let model = format!("model-{t}");
                let md = [
                    (
                        llm_telemetry_genai::catalog::keys::PROVIDER,
                        llm_telemetry_core::Value::Str("p"),
                    ),
                    (
                        llm_telemetry_genai::catalog::keys::MODEL,
                        llm_telemetry_core::Value::Str(&model),
                    ),
                ];
                for _ in 0..PER_THREAD {
                    bus.execute(
                        &llm_telemetry_genai::catalog::LLM_CHAT_STOP,
                        &[(llm_telemetry_genai::catalog::keys::DURATION, 1e6)],
                        &md,
                    );
                }
            });
        }
        for _ in 0..10 {
            assert_eq!(get(addr, "/metrics").status, 200);
        }
    });
    let body = get(addr, "/metrics").body;
    for t in 0..2 {
        let line = format!(
            "llm_requests_total{{gen_ai_operation_name=\"chat\",gen_ai_provider_name=\"p\",gen_ai_request_model=\"model-{t}\",status=\"ok\"}}"
        );
        assert_eq!(
            common::sample(&body, &line),
            Some(PER_THREAD as f64),
            "{body}"
        );
    }
}
