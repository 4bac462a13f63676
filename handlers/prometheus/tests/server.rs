//! The `/metrics` endpoint over real loopback sockets: scrapes, errors, stalled and malformed
//! clients, the connection bound, bind errors and stopping.

mod common;
mod prom_api;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use llm_telemetry_core::Bus;
use llm_telemetry_prometheus::{ServeError, ServerConfig};

use common::{default_reporter as reporter, get, raw_request, traffic};
use prom_api::gunzip;

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
    assert_eq!(
        r.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    assert!(
        r.body.contains("gen_ai_client_token_usage_bucket{"),
        "{}",
        r.body
    );
    let length: usize = r.header("content-length").unwrap().parse().unwrap();
    assert_eq!(length, r.bytes.len());
    assert!(!r.body.contains("# EOF"));

    // OpenMetrics when asked for, as Prometheus asks.
    let r = raw_request(
        addr,
        b"GET /metrics HTTP/1.1\r\nAccept: application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("content-type"),
        Some("application/openmetrics-text; version=1.0.0; charset=utf-8")
    );
    assert!(r.body.ends_with("# EOF\n"), "{}", r.body);
    assert!(
        r.body.contains("# TYPE llm_requests counter\n"),
        "{}",
        r.body
    );

    // HEAD: the headers of a GET, no body.
    let r = raw_request(addr, b"HEAD /metrics HTTP/1.1\r\nConnection: close\r\n\r\n");
    assert_eq!((r.status, r.bytes.len()), (200, 0));
    assert_eq!(
        r.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    assert!(
        r.header("content-length")
            .unwrap()
            .parse::<usize>()
            .unwrap()
            > 1000
    );
    assert_eq!(get(addr, "/").status, 200);
    assert_eq!(get(addr, "/nope").status, 404);
    let r = raw_request(
        addr,
        b"DELETE /metrics HTTP/1.1\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow"), Some("GET, HEAD"));
    server.stop();
    assert!(
        TcpStream::connect_timeout(&addr, Duration::from_millis(500)).is_err(),
        "stopped server still accepts"
    );
}

#[test]
fn gzip_round_trips_when_asked_and_only_then() {
    let bus = Bus::new();
    let reporter = reporter(&bus);
    traffic(&bus, 50);
    let server = reporter.serve(ServerConfig::at("127.0.0.1:0")).unwrap();
    let addr = server.local_addr();
    let request = |accept_encoding: &str| {
        let head = format!(
            "GET /metrics HTTP/1.1\r\nHost: x\r\n{accept_encoding}Connection: close\r\n\r\n"
        );
        raw_request(addr, head.as_bytes())
    };
    let plain = request("");
    assert_eq!(plain.header("content-encoding"), None);
    // Prometheus's header.
    let zipped = request("Accept-Encoding: gzip\r\n");
    assert_eq!(zipped.status, 200);
    assert_eq!(zipped.header("content-encoding"), Some("gzip"));
    assert_eq!(
        zipped
            .header("content-length")
            .unwrap()
            .parse::<usize>()
            .unwrap(),
        zipped.bytes.len()
    );
    // Nothing was emitted in between: the same exposition (the self-metrics in another order).
    let lines = |text: &str| {
        let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
        lines.sort();
        lines
    };
    let text = gunzip(&zipped.bytes);
    assert!(lines(&text) == lines(&plain.body), "gzip body differs");
    assert!(
        zipped.bytes.len() * 5 < plain.bytes.len(),
        "gzip {} bytes vs {} plain",
        zipped.bytes.len(),
        plain.bytes.len()
    );
    assert_eq!(
        request("Accept-Encoding: gzip;q=0, identity\r\n").header("content-encoding"),
        None
    );
    // Compression can be turned off.
    let config = ServerConfig {
        gzip: false,
        ..ServerConfig::at("127.0.0.1:0")
    };
    let unzipped = reporter.serve(config).unwrap();
    let r = raw_request(
        unzipped.local_addr(),
        b"GET /metrics HTTP/1.1\r\nAccept-Encoding: gzip\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(r.header("content-encoding"), None);
    assert!(lines(&r.body) == lines(&plain.body), "body differs");
}

#[test]
fn keep_alive_serves_several_requests_on_one_connection_and_counts_scrapes() {
    let bus = Bus::new();
    let reporter = reporter(&bus);
    let server = reporter.serve(ServerConfig::at("127.0.0.1:0")).unwrap();
    let addr = server.local_addr();
    let before = reporter.stats().scrapes_served;
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let requests: [(&str, bool); 6] = [
        ("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", false),
        ("HEAD /metrics HTTP/1.1\r\nHost: x\r\n\r\n", true),
        (
            "GET /metrics HTTP/1.1\r\nHost: x\r\nAccept: application/openmetrics-text\r\nAccept-Encoding: gzip\r\n\r\n",
            false,
        ),
        ("GET / HTTP/1.1\r\nHost: x\r\n\r\n", false),
        ("GET /metrics?x=1 HTTP/1.1\r\nHost: x\r\n\r\n", false),
        ("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", false),
    ];
    for (i, (request, head_only)) in requests.iter().enumerate() {
        traffic(&bus, 1);
        stream.write_all(request.as_bytes()).unwrap();
        let r = common::read_response(&mut stream, *head_only).unwrap();
        assert_eq!(r.status, 200, "request {i}");
        assert_eq!(r.header("connection"), None, "request {i}: {}", r.head);
        if i == 2 {
            assert!(gunzip(&r.bytes).ends_with("# EOF\n"));
        }
    }
    // Still open: the server closes only when asked or idle.
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nConnection: close\r\n\r\n")
        .unwrap();
    let r = common::read_response(&mut stream, false).unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.header("connection"), Some("close"));
    let mut rest = Vec::new();
    assert_eq!(stream.read_to_end(&mut rest).unwrap(), 0, "closed after it");
    // Five GETs of /metrics (HEAD and / are not scrapes), each written in full.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while reporter.stats().scrapes_served < before + 5 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    let stats = reporter.stats();
    assert_eq!(stats.scrapes_served, before + 5);
    assert_eq!(stats.scrapes_failed, 0);
}

/// Fifteen kinds of malformed request, each answered 4xx by hyper's parser.
fn malformed_requests() -> Vec<(&'static str, Vec<u8>)> {
    let mut many_headers = b"GET /metrics HTTP/1.1\r\n".to_vec();
    for i in 0..200 {
        many_headers.extend(format!("X-{i}: v\r\n").bytes());
    }
    many_headers.extend(b"\r\n");
    let mut long_uri = b"GET /".to_vec();
    long_uri.extend(std::iter::repeat_n(b'a', 40_000));
    long_uri.extend(b" HTTP/1.1\r\n\r\n");
    vec![
        ("binary garbage", b"\x00\x01garbage\r\n\r\n".to_vec()),
        ("no HTTP version", b"GET /metrics\r\n\r\n".to_vec()),
        ("another protocol", b"GET /metrics SPDY/9\r\n\r\n".to_vec()),
        (
            "invalid UTF-8 target",
            b"GET /\xff\xfe HTTP/1.1\r\n\r\n".to_vec(),
        ),
        (
            "extra request-line token",
            b"GET /metrics HTTP/1.1 x\r\n\r\n".to_vec(),
        ),
        (
            "header without colon",
            b"GET /metrics HTTP/1.1\r\nNoColon\r\n\r\n".to_vec(),
        ),
        (
            "space before colon",
            b"GET /metrics HTTP/1.1\r\nHost : x\r\n\r\n".to_vec(),
        ),
        (
            "control byte in header name",
            b"GET /metrics HTTP/1.1\r\nB\x01d: v\r\n\r\n".to_vec(),
        ),
        (
            "NUL in header value",
            b"GET /metrics HTTP/1.1\r\nX: a\x00b\r\n\r\n".to_vec(),
        ),
        (
            "non-numeric Content-Length",
            b"GET /metrics HTTP/1.1\r\nContent-Length: abc\r\n\r\n".to_vec(),
        ),
        (
            "conflicting Content-Lengths",
            b"GET /metrics HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab".to_vec(),
        ),
        (
            "unknown Transfer-Encoding",
            b"GET /metrics HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n".to_vec(),
        ),
        (
            "obsolete header folding",
            b"GET /metrics HTTP/1.1\r\nX: a\r\n b\r\n\r\n".to_vec(),
        ),
        ("200 headers", many_headers),
        ("40 kB target", long_uri),
    ]
}

#[test]
fn malformed_requests_and_a_1_mb_header_get_4xx_and_the_server_keeps_serving() {
    let bus = Bus::new();
    let reporter = reporter(&bus);
    let server = reporter.serve(ServerConfig::at("127.0.0.1:0")).unwrap();
    let addr = server.local_addr();
    let mut huge = b"GET /metrics HTTP/1.1\r\nX-Huge: ".to_vec();
    huge.extend(std::iter::repeat_n(b'a', 1 << 20));
    huge.extend_from_slice(b"\r\n\r\n");
    let mut cases = malformed_requests();
    assert_eq!(cases.len(), 15);
    cases.push(("1 MB header", huge));
    for (what, request) in &cases {
        let r = raw_request(addr, request);
        assert!((400..500).contains(&r.status), "{what}: {}", r.head);
        // The endpoint keeps serving after each.
        assert_eq!(get(addr, "/metrics").status, 200, "after {what}");
    }
    assert_eq!(raw_request(addr, &cases[15].1).status, 431);
    // Each one (the 1 MB header twice) is a failed scrape for reason `malformed`, nothing else.
    let text = get(addr, "/metrics").body;
    let failed = |reason: &str| {
        common::sample(
            &text,
            &format!("llm_telemetry_scrapes_failed_total{{reason=\"{reason}\"}}"),
        )
    };
    assert_eq!(failed("malformed"), Some(cases.len() as f64 + 1.0));
    assert_eq!(failed("disconnected"), Some(0.0));
    assert_eq!(failed("write_timeout"), Some(0.0));
    let stats = reporter.stats();
    assert_eq!(stats.scrapes_failed, cases.len() as u64 + 1, "{stats:?}");
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

#[test]
fn extra_pages_are_rendered_per_request_beside_metrics_and_are_not_scrapes() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};
    let bus = Bus::new();
    let reporter = reporter(&bus);
    let renders = Arc::new(AtomicU64::new(0));
    let counted = renders.clone();
    let page = llm_telemetry_prometheus::Page::new("/inspect", "application/json", move || {
        format!(
            "{{\"render\":{}}}",
            counted.fetch_add(1, Ordering::SeqCst) + 1
        )
    });
    let server = reporter
        .serve(ServerConfig::at("127.0.0.1:0").page(page))
        .unwrap();
    let addr = server.local_addr();
    let first = get(addr, "/inspect");
    assert_eq!(first.status, 200);
    assert_eq!(first.header("content-type"), Some("application/json"));
    assert_eq!(first.body, "{\"render\":1}");
    assert_eq!(get(addr, "/inspect").body, "{\"render\":2}");
    assert_eq!(get(addr, "/metrics").status, 200);
    assert_eq!(get(addr, "/inspectx").status, 404);
    // The ledger counts a scrape once its last byte is handed over: wait for the one scrape.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while reporter.stats().scrapes_served < 1 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(reporter.stats().scrapes_served, 1, "pages are not scrapes");
    server.stop();

    for path in ["/metrics", "/", "inspect"] {
        let page = llm_telemetry_prometheus::Page::new(path, "text/plain", String::new);
        let err = reporter
            .serve(ServerConfig::at("127.0.0.1:0").page(page))
            .unwrap_err();
        assert!(
            matches!(&err, ServeError::InvalidPage { path: p } if p == path),
            "{err}"
        );
    }
}
