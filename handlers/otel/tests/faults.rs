//! Fault injection with real sockets on loopback: 100,000 spans against a port that refuses
//! connections, against a listener that accepts and never reads, and a burst against a collector
//! that answers in 300 ms. The emitter is never blocked (the bus queue is bounded and drops),
//! memory stays bounded, every span is accounted for as exported or dropped by the time shutdown
//! returns (within its deadline) and nothing moves after it, at most one warning is written, and
//! a slow collector loses nothing that fits the queue.

mod support;

use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use llm_telemetry_core::{Bus, Value};
use llm_telemetry_genai::catalog::{self, keys};
use llm_telemetry_otel::{OtelHandler, OtelStats, Protocol};
use support::receiver;

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

    // Everything is accounted for when shutdown returns: what the bus lane, the export queue
    // and the running export held is counted as dropped. Then nothing moves any more: no
    // export runs and no event is delivered after shutdown.
    let stats = otel.stats();
    assert_eq!(
        stats.exported + stats.dropped(),
        SPANS,
        "every span counted at shutdown's return: {stats:?}"
    );
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(otel.stats(), stats, "nothing moves after shutdown");
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
    // A down collector holds exports up, so the burst waits in the bus queue (bounded): it
    // is dropped there or at the deadline, never by the export queue while the bus queue has
    // room.
    assert_eq!(stats.dropped_queue_full, 0, "{stats:?}");
    assert!(
        stats.dropped_bus_queue + stats.dropped_at_deadline > 0,
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

/// A collector that answers in 300 ms is slow, not dead: a burst that fits the handler's bus
/// queue is exported whole, nothing is dropped, and the only warning says the collector is slow.
#[test]
fn a_slow_collector_loses_nothing_that_fits_the_queue() {
    const BURST: u64 = 20_000;
    let stop = Arc::new(AtomicBool::new(false));
    let (port, answered) = receiver::answering(Duration::from_millis(300), stop.clone());
    let bus = Bus::new();
    let warnings = Arc::new(Mutex::new(Vec::<String>::new()));
    let sink = warnings.clone();
    let otel = OtelHandler::builder()
        .read_env(false)
        .protocol(Protocol::HttpProtobuf)
        .endpoint(format!("http://127.0.0.1:{port}"))
        .max_export_batch_size(2_048)
        .max_queue_size(2_048)
        .queue_capacity(BURST as usize)
        .scheduled_delay(Duration::from_millis(100))
        .on_warning(move |m| sink.lock().unwrap().push(m.to_owned()))
        .attach(&bus)
        .unwrap();
    for i in 0..BURST {
        bus.span(
            &catalog::LLM_CHAT,
            &[
                (keys::MODEL, Value::Str("gpt-4o")),
                (keys::MAX_TOKENS, Value::Int(i as i64)),
            ],
            |_| (),
        );
    }
    assert_eq!(otel.flush(Duration::from_secs(60)), Ok(()));
    let stats = otel.stats();
    stop.store(true, Ordering::SeqCst);
    println!(
        "{stats:?}, {} exports answered",
        answered.load(Ordering::SeqCst)
    );
    assert_eq!(stats.exported, BURST, "{stats:?}");
    assert_eq!(stats.dropped(), 0, "{stats:?}");
    assert!(answered.load(Ordering::SeqCst) >= BURST / 2_048);
    let warnings = warnings.lock().unwrap().clone();
    assert!(
        warnings.iter().all(|w| w.contains("slow")),
        "a slow collector is reported as slow, not down: {warnings:?}"
    );
    otel.detach(Duration::from_secs(10)).unwrap();
}
