//! Fault injection with real sockets on loopback: 100,000 spans against a port that refuses
//! connections and against a listener that accepts and never reads. The emitter is never blocked
//! (the bus queue and the export queue are bounded and drop), memory stays bounded, every span
//! is accounted for as exported or dropped, at most one warning is written, and shutdown returns
//! within its timeout.

use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use llm_telemetry_core::{Bus, Value};
use llm_telemetry_genai::catalog::{self, keys};
use llm_telemetry_otel::{OtelHandler, OtelStats, Protocol};

const SPANS: u64 = 100_000;
const SHUTDOWN: Duration = Duration::from_secs(3);

fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// A loopback port nothing listens on.
fn refusing_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
    // dropped here: connections are refused from now on
}

/// A listener that accepts connections and never reads from them, until `stop` is set.
fn silent_listener(stop: Arc<AtomicBool>) -> (u16, std::thread::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let handle = std::thread::spawn(move || {
        let mut held: Vec<TcpStream> = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(120);
        while !stop.load(Ordering::SeqCst) && Instant::now() < deadline {
            match listener.accept() {
                Ok((stream, _)) => held.push(stream),
                Err(_) => std::thread::sleep(Duration::from_millis(5)),
            }
        }
    });
    (port, handle)
}

fn run_burst(protocol: Protocol, endpoint: String) -> (OtelStats, Vec<String>, Duration) {
    let bus = Bus::new();
    let warnings = Arc::new(Mutex::new(Vec::<String>::new()));
    let sink = warnings.clone();
    let otel = OtelHandler::builder()
        .read_env(false)
        .protocol(protocol)
        .endpoint(endpoint)
        .export_timeout(Duration::from_millis(500))
        .scheduled_delay(Duration::from_millis(100))
        .on_warning(move |m| sink.lock().unwrap().push(m.to_owned()))
        .attach(&bus)
        .unwrap();
    let rss_before = rss_bytes();
    let started = Instant::now();
    for i in 0..SPANS {
        bus.span(
            &catalog::LLM_CHAT,
            &[
                (keys::PROVIDER, Value::Str("openai")),
                (keys::MODEL, Value::Str("gpt-4o")),
                (keys::TENANT, Value::Str("")),
                (keys::STREAMING, Value::Bool(false)),
                (keys::MAX_TOKENS, Value::Int(i as i64)),
            ],
            |_| (),
        );
    }
    let emitted_in = started.elapsed();
    let rss_after = rss_bytes();
    println!(
        "{protocol:?}: emitted {SPANS} spans in {emitted_in:?} ({:.0} ns/span), RSS +{} MiB",
        emitted_in.as_nanos() as f64 / SPANS as f64,
        rss_after.saturating_sub(rss_before) >> 20
    );
    assert!(
        rss_after.saturating_sub(rss_before) < 256 << 20,
        "memory grew by {} MiB: queues must be bounded",
        rss_after.saturating_sub(rss_before) >> 20
    );

    let asked = Instant::now();
    let clean = otel.shutdown(SHUTDOWN);
    let shutdown_took = asked.elapsed();
    assert!(
        !clean,
        "nothing can be exported, so shutdown cannot report success"
    );

    // Spans still inside an export when shutdown gave up are counted when that export times out.
    let deadline = Instant::now() + Duration::from_secs(30);
    let stats = loop {
        let stats = otel.stats();
        if stats.exported + stats.dropped() == SPANS || Instant::now() >= deadline {
            break stats;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let warnings = warnings.lock().unwrap().clone();
    (stats, warnings, shutdown_took)
}

fn check(stats: &OtelStats, warnings: &[String], shutdown_took: Duration) {
    println!("{stats:?}\nshutdown took {shutdown_took:?}\nwarnings: {warnings:?}");
    assert_eq!(stats.exported, 0);
    assert_eq!(
        stats.dropped(),
        SPANS,
        "every span is accounted for as dropped: {stats:?}"
    );
    assert!(stats.dropped_export_failed > 0, "{stats:?}");
    assert!(
        stats.dropped_queue_full + stats.dropped_bus_queue > 0,
        "bounded queues dropped: {stats:?}"
    );
    assert_eq!(
        warnings.len(),
        1,
        "at most one warning a minute: {warnings:?}"
    );
    // Not a speed check: shutdown must not hang on a dead collector (generous slack for a
    // loaded machine).
    assert!(
        shutdown_took < SHUTDOWN + Duration::from_secs(2),
        "shutdown took {shutdown_took:?} with a {SHUTDOWN:?} timeout"
    );
}

#[test]
fn a_refusing_collector_drops_and_counts_without_blocking() {
    for protocol in [Protocol::HttpProtobuf, Protocol::Grpc] {
        let endpoint = format!("http://127.0.0.1:{}", refusing_port());
        let (stats, warnings, took) = run_burst(protocol, endpoint);
        check(&stats, &warnings, took);
    }
}

#[test]
fn a_collector_that_never_reads_drops_and_counts_without_blocking() {
    for protocol in [Protocol::HttpProtobuf, Protocol::Grpc] {
        let stop = Arc::new(AtomicBool::new(false));
        let (port, listener) = silent_listener(stop.clone());
        let (stats, warnings, took) = run_burst(protocol, format!("http://127.0.0.1:{port}"));
        stop.store(true, Ordering::SeqCst);
        listener.join().unwrap();
        check(&stats, &warnings, took);
        assert!(stats.failed_exports >= 1);
    }
}
