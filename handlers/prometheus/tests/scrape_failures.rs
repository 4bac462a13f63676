//! Failed scrapes, against real loopback sockets: a client that sends `GET /metrics` and never
//! reads is cut at the write deadline while other scrapes are answered, a client that resets
//! mid-response is counted once, a malformed request under its own reason; all of it in
//! `llm_telemetry_scrapes_failed_total{reason}`, which `promtool check metrics` accepts.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use llm_telemetry_core::Bus;
use llm_telemetry_prometheus::{PrometheusReporter, ServerConfig};

use common::{big_reporter, get, promtool_check, raw_request, sample};

fn failed(text: &str, reason: &str) -> Option<f64> {
    sample(
        text,
        &format!("llm_telemetry_scrapes_failed_total{{reason=\"{reason}\"}}"),
    )
}

/// Waits (bounded) until `reporter` counts `n` failed scrapes; the time it took.
fn wait_failed(reporter: &PrometheusReporter, n: u64, limit: Duration) -> Duration {
    let start = Instant::now();
    while reporter.stats().scrapes_failed < n {
        assert!(
            start.elapsed() < limit,
            "no failed scrape counted after {limit:?}: {:?}",
            reporter.stats()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    start.elapsed()
}

#[test]
fn a_client_that_never_reads_is_cut_at_the_write_deadline_while_others_are_served() {
    let bus = Bus::new();
    let reporter = big_reporter(&bus);
    let deadline = Duration::from_secs(1);
    let server = reporter
        .serve(ServerConfig {
            write_timeout: deadline,
            ..ServerConfig::at("127.0.0.1:0")
        })
        .unwrap();
    let addr = server.local_addr();

    // One full scrape first: its size, and how long a render and write takes here.
    let start = Instant::now();
    let first = get(addr, "/metrics");
    let scrape_time = start.elapsed();
    assert_eq!(first.status, 200);
    assert!(first.bytes.len() > 15_000_000, "{}", first.bytes.len());

    let mut stalled = TcpStream::connect(addr).unwrap();
    stalled
        .write_all(format!("GET /metrics HTTP/1.1\r\nHost: {addr}\r\n\r\n").as_bytes())
        .unwrap();

    // Other scrapers meanwhile, until the stalled one is cut.
    let done = Arc::new(AtomicBool::new(false));
    let others = {
        let done = Arc::clone(&done);
        std::thread::spawn(move || {
            let mut answered = Vec::new();
            while !done.load(Ordering::Relaxed) && answered.len() < 1000 {
                let r = get(addr, "/metrics");
                answered.push((r.status, r.bytes.len()));
            }
            answered
        })
    };
    let cut_after = wait_failed(
        &reporter,
        1,
        deadline + scrape_time * 4 + Duration::from_secs(5),
    );
    done.store(true, Ordering::Relaxed);
    let answered = others.join().unwrap();
    eprintln!(
        "body {} bytes, one scrape {scrape_time:?}, stalled client cut {cut_after:?} after its request \
         (deadline {deadline:?}), {} other scrapes meanwhile",
        first.bytes.len(),
        answered.len()
    );
    assert!(
        cut_after >= deadline,
        "cut before the deadline: {cut_after:?}"
    );
    assert!(
        cut_after <= deadline + scrape_time * 2 + Duration::from_secs(2),
        "cut {cut_after:?} after its request; deadline {deadline:?}, a scrape takes {scrape_time:?}"
    );
    assert!(!answered.is_empty());
    for (status, len) in &answered {
        assert_eq!((*status, *len), (200, first.bytes.len()));
    }

    // The stalled connection is closed: reading it ends short of the body (EOF or reset).
    stalled
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut received = 0usize;
    let mut buf = vec![0u8; 1 << 16];
    let read_start = Instant::now();
    loop {
        match stalled.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => received += n,
        }
        assert!(read_start.elapsed() < Duration::from_secs(20));
    }
    assert!(
        received < first.bytes.len(),
        "the stalled client got all {received} bytes"
    );

    let text = get(addr, "/metrics").body;
    assert_eq!(
        failed(&text, "write_timeout"),
        Some(1.0),
        "exactly the cut one"
    );
    assert_eq!(failed(&text, "disconnected"), Some(0.0));
    assert_eq!(failed(&text, "malformed"), Some(0.0));
    let stats = reporter.stats();
    assert_eq!(stats.scrapes_failed, 1, "{stats:?}");
    // Served: the first scrape, the others and the last one (its flush precedes its last byte).
    assert_eq!(stats.scrapes_served, answered.len() as u64 + 2, "{stats:?}");
}

#[test]
#[ignore = "needs promtool: run scripts/test-all.sh"]
fn a_reset_mid_response_counts_once_and_a_malformed_request_under_its_own_reason() {
    let bus = Bus::new();
    let reporter = big_reporter(&bus);
    let server = reporter.serve(ServerConfig::at("127.0.0.1:0")).unwrap();
    let addr = server.local_addr();

    // Read the first kilobytes of the response, then close with unread data: the kernel resets.
    let mut client = TcpStream::connect(addr).unwrap();
    client
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    client
        .write_all(format!("GET /metrics HTTP/1.1\r\nHost: {addr}\r\n\r\n").as_bytes())
        .unwrap();
    let mut head = [0u8; 4096];
    let n = client.read(&mut head).unwrap();
    assert!(head[..n].starts_with(b"HTTP/1.1 200"));
    drop(client);
    wait_failed(&reporter, 1, Duration::from_secs(20));
    // Counted once: nothing more arrives afterwards.
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(reporter.stats().scrapes_failed, 1, "{:?}", reporter.stats());

    let malformed = raw_request(addr, b"NOT A REQUEST\r\n\r\n");
    assert_eq!(malformed.status, 400);
    wait_failed(&reporter, 2, Duration::from_secs(5));

    let text = get(addr, "/metrics").body;
    assert_eq!(failed(&text, "disconnected"), Some(1.0));
    assert_eq!(failed(&text, "malformed"), Some(1.0));
    assert_eq!(failed(&text, "write_timeout"), Some(0.0));
    assert_eq!(reporter.stats().scrapes_failed, 2);
    promtool_check(&text);
}
