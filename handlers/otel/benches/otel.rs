//! `cargo bench -p llm-telemetry-otel --bench otel`: the OpenTelemetry handler against the opentelemetry SDK.
//!
//! | case | ours | peer |
//! |---|---|---|
//! | span_vs_sdk | producer-side cost of `bus.span(..)` start+stop with 5 metadata fields, OTel handler attached (queued lane, stop/exception only) exporting to a no-op exporter | the same span with 5 attributes made with the opentelemetry SDK tracer, SimpleSpanProcessor + no-op exporter |
//! | tenants_100k_vs_1 | end-to-end ns per span (emit + flush) of a burst of 100,000 spans, each of a distinct tenant (100,000 tenant projects), exported over OTLP/HTTP to a loopback collector | the same burst, every span of one tenant |
//!
//! "Producer side" is what the instrumented thread pays while the handler keeps up (the steady
//! state of a service): the bench emits in chunks of 1,024 spans and waits, untimed, for the
//! handler to drain between chunks, so the queue never fills and no measured span is a cheap
//! drop. The extra report also gives the producer cost in bursts of 8,192 spans. Extra report `target/bench/otel-throughput.json`: end-to-end
//! export throughput for a burst of 100,000 spans to a no-op exporter with default settings, and
//! the SDK's default BatchSpanProcessor on the same burst (its drop rate).
//! `OTEL_BENCH_TENANTS_ONLY=1 cargo bench -p llm-telemetry-otel --bench otel` runs
//! `tenants_100k_vs_1` alone and prints it without writing a report.

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use llm_telemetry_bench_support::{self as support, Rounds, Row, Side};
use llm_telemetry_core::{Bus, Value};
use llm_telemetry_genai::catalog::{self, keys};
use llm_telemetry_otel::OtelHandler;
use llm_telemetry_otel::otel::opentelemetry::KeyValue;
use llm_telemetry_otel::otel::opentelemetry::trace::{Span, Tracer, TracerProvider};
use llm_telemetry_otel::otel::opentelemetry_sdk::trace::SdkTracerProvider;
use llm_telemetry_otel::otel::{OTelSdkResult, SpanData, SpanExporter};

const CHUNK: u64 = 1_024;
const BURST_CHUNK: u64 = 8_192;
const BURST: u64 = 100_000;
/// Spans (and distinct tenants) of the `tenants_100k_vs_1` case.
const TENANT_BURST: usize = 100_000;

/// Counts what it is given and drops it.
#[derive(Clone, Debug, Default)]
struct NoopExporter(Arc<AtomicU64>);

impl SpanExporter for NoopExporter {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        self.0.fetch_add(batch.len() as u64, Ordering::Relaxed);
        Ok(())
    }
}

#[inline(always)]
fn our_span(bus: &Bus, i: u64) {
    bus.span(
        &catalog::LLM_CHAT,
        &[
            (keys::PROVIDER, Value::Str("openai")),
            (keys::MODEL, Value::Str("gpt-4o")),
            (keys::TENANT, Value::Str("")),
            (keys::STREAMING, Value::Bool(false)),
            (keys::MAX_TOKENS, Value::Int(i as i64)),
        ],
        |_| black_box(i),
    );
}

#[inline(always)]
fn sdk_span(tracer: &impl Tracer, i: u64) {
    let mut span = tracer
        .span_builder("chat gpt-4o")
        .with_attributes([
            KeyValue::new("gen_ai.provider.name", "openai"),
            KeyValue::new("gen_ai.request.model", "gpt-4o"),
            KeyValue::new("tenant", ""),
            KeyValue::new("streaming", false),
            KeyValue::new("gen_ai.request.max_tokens", i as i64),
        ])
        .start(tracer);
    black_box(i);
    span.end();
}

/// A fresh bus with our handler attached (default settings, environment ignored) exporting to a
/// no-op exporter, whose count is returned too.
fn attached_noop() -> (Bus, NoopExporter, OtelHandler) {
    let bus = Bus::new();
    let exported = NoopExporter::default();
    let otel = OtelHandler::builder()
        .read_env(false)
        .exporter(exported.clone())
        .attach(&bus)
        .expect("attach the OTel handler");
    (bus, exported, otel)
}

fn span_vs_sdk(runner: &Rounds) -> (Option<Row>, u64, u64) {
    let (bus, _, otel) = attached_noop();

    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(NoopExporter::default())
        .build();
    let tracer = provider.tracer("bench");

    let mut i = 0u64;
    let row = runner.compare(
        "span_vs_sdk",
        "opentelemetry_sdk 0.33.1 tracer span with 5 attributes, SimpleSpanProcessor + no-op exporter",
        0.5,
        Side::custom(|iters| {
            let mut timed = Duration::ZERO;
            let mut done = 0;
            while done < iters {
                let n = CHUNK.min(iters - done);
                let start = Instant::now();
                for i in 0..n {
                    our_span(&bus, i);
                }
                timed += start.elapsed();
                done += n;
                bus.drain(Duration::from_secs(30));
            }
            timed
        }),
        Side::call(|| {
            i += 1;
            sdk_span(&tracer, i)
        }),
    );
    assert!(
        otel.shutdown(Duration::from_secs(30)),
        "flush at the end of the bench"
    );
    let stats = otel.stats();
    let _ = provider.shutdown();
    (row, stats.exported, stats.dropped())
}

/// Producer-side ns per span when emitting in bursts of `chunk` spans (drained between bursts).
fn producer_ns(chunk: u64, chunks: u64) -> f64 {
    let (bus, _, otel) = attached_noop();
    let mut timed = Duration::ZERO;
    for _ in 0..chunks {
        let start = Instant::now();
        for i in 0..chunk {
            our_span(&bus, i);
        }
        timed += start.elapsed();
        bus.drain(Duration::from_secs(30));
    }
    otel.shutdown(Duration::from_secs(30));
    timed.as_nanos() as f64 / (chunk * chunks) as f64
}

/// A burst of 100,000 spans through our handler (default settings) to a no-op exporter.
fn our_burst(spans: u64) -> serde_json::Value {
    let (bus, exported, otel) = attached_noop();
    let start = Instant::now();
    for i in 0..spans {
        our_span(&bus, i);
    }
    let emitted = start.elapsed();
    let flushed = otel.force_flush(Duration::from_secs(120));
    let total = start.elapsed();
    let stats = otel.stats();
    otel.shutdown(Duration::from_secs(30));
    serde_json::json!({
        "spans": spans,
        "emit_seconds": emitted.as_secs_f64(),
        "end_to_end_seconds": total.as_secs_f64(),
        "spans_per_second": spans as f64 / total.as_secs_f64(),
        "exported": exported.0.load(Ordering::Relaxed),
        "dropped": stats.dropped(),
        "dropped_bus_queue": stats.dropped_bus_queue,
        "dropped_queue_full": stats.dropped_queue_full,
        "flushed": flushed,
    })
}

/// The same burst through the SDK's default BatchSpanProcessor.
fn sdk_burst() -> serde_json::Value {
    let exporter = NoopExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter.clone())
        .build();
    let tracer = provider.tracer("bench");
    let start = Instant::now();
    for i in 0..BURST {
        sdk_span(&tracer, i);
    }
    let emitted = start.elapsed();
    let _ = provider.force_flush();
    let total = start.elapsed();
    let exported = exporter.0.load(Ordering::Relaxed);
    let _ = provider.shutdown();
    serde_json::json!({
        "spans": BURST,
        "emit_seconds": emitted.as_secs_f64(),
        "end_to_end_seconds": total.as_secs_f64(),
        "spans_per_second": exported as f64 / total.as_secs_f64(),
        "exported": exported,
        "dropped": BURST - exported,
        "drop_rate": (BURST - exported) as f64 / BURST as f64,
    })
}

/// A loopback OTLP/HTTP collector that answers every request `200 OK` (keep-alive), counting
/// the requests, for as long as the process runs.
fn loopback_collector() -> (u16, Arc<AtomicU64>) {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    let port = listener.local_addr().expect("a bound port").port();
    let answered = Arc::new(AtomicU64::new(0));
    let count = answered.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let count = count.clone();
            std::thread::spawn(move || {
                let Ok(mut writer) = stream.try_clone() else {
                    return;
                };
                let mut reader = BufReader::new(stream);
                loop {
                    let mut length = 0usize;
                    let mut line = String::new();
                    loop {
                        line.clear();
                        match reader.read_line(&mut line) {
                            Ok(0) | Err(_) => return,
                            Ok(_) if line == "\r\n" => break,
                            Ok(_) => {}
                        }
                        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                            length = v.trim().parse().unwrap_or(0);
                        }
                    }
                    let mut body = vec![0u8; length];
                    if reader.read_exact(&mut body).is_err() {
                        return;
                    }
                    let answer = "HTTP/1.1 200 OK\r\ncontent-type: application/x-protobuf\r\ncontent-length: 0\r\n\r\n";
                    if writer.write_all(answer.as_bytes()).is_err() {
                        return;
                    }
                    count.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
    });
    (port, answered)
}

/// End-to-end ns per span of `tenants.len()` spans, span `i` of tenant `tenants[i]`, exported
/// over OTLP/HTTP with tenant projects to the collector on `port`; panics unless every span was
/// exported. Also returns the collector's request count for the burst.
fn tenant_burst(port: u16, answered: &AtomicU64, tenants: &[String]) -> (f64, u64) {
    let bus = Bus::new();
    let otel = OtelHandler::builder()
        .read_env(false)
        .protocol(llm_telemetry_otel::Protocol::HttpProtobuf)
        .endpoint(format!("http://127.0.0.1:{port}"))
        .tenant_projects(true)
        .queue_capacity(2 * tenants.len())
        .max_queue_size(2 * tenants.len())
        .attach(&bus)
        .expect("attach the OTel handler");
    let requests_before = answered.load(Ordering::Relaxed);
    let start = Instant::now();
    for (i, tenant) in tenants.iter().enumerate() {
        bus.span(
            &catalog::LLM_CHAT,
            &[
                (keys::PROVIDER, Value::Str("openai")),
                (keys::MODEL, Value::Str("gpt-4o")),
                (keys::TENANT, Value::Str(tenant)),
                (keys::MAX_TOKENS, Value::Int(i as i64)),
            ],
            |_| black_box(i),
        );
    }
    let emitted = start.elapsed();
    let flushed = otel.force_flush(Duration::from_secs(600));
    let elapsed = start.elapsed();
    println!(
        "  {} spans: emitted in {emitted:?}, exported in {elapsed:?}",
        tenants.len()
    );
    let stats = otel.stats();
    otel.shutdown(Duration::from_secs(30));
    assert!(flushed, "{stats:?}");
    assert_eq!(stats.exported, tenants.len() as u64, "{stats:?}");
    let requests = answered.load(Ordering::Relaxed) - requests_before;
    (elapsed.as_nanos() as f64 / tenants.len() as f64, requests)
}

/// The `tenants_100k_vs_1` row: the median of `runs` bursts each way.
fn tenants_100k_vs_1(runs: usize) -> support::Row {
    let (port, answered) = loopback_collector();
    let distinct: Vec<String> = (0..TENANT_BURST).map(|i| format!("tenant-{i}")).collect();
    let one: Vec<String> = vec!["tenant-0".to_owned(); TENANT_BURST];
    let mut ours = Vec::new();
    let mut peer = Vec::new();
    for _ in 0..runs {
        let (ns, requests) = tenant_burst(port, &answered, &one);
        println!("1 tenant: {ns:.0} ns/span, {requests} requests");
        peer.push(ns);
        let (ns, requests) = tenant_burst(port, &answered, &distinct);
        println!("{TENANT_BURST} tenants: {ns:.0} ns/span, {requests} requests");
        ours.push(ns);
    }
    let samples = support::rounds::Samples {
        ours_ns: ours,
        peer_ns: peer,
        batched: (false, false),
    };
    support::Row::from_samples(
        "tenants_100k_vs_1",
        &format!(
            "the same {TENANT_BURST}-span burst of one tenant, same handler and loopback OTLP/HTTP collector"
        ),
        2.0,
        &samples,
    )
}

fn median_by(runs: &mut [serde_json::Value], key: &str) -> serde_json::Value {
    runs.sort_by(|a, b| {
        a[key]
            .as_f64()
            .unwrap_or(0.0)
            .total_cmp(&b[key].as_f64().unwrap_or(0.0))
    });
    runs[runs.len() / 2].clone()
}

fn main() {
    if support::measuring() && std::env::var_os("OTEL_BENCH_TENANTS_ONLY").is_some() {
        // The tenant case alone, printed, no report written (for quick re-measuring).
        let row = tenants_100k_vs_1(3);
        println!(
            "tenants_100k_vs_1: ours {:.0} ns/span, peer {:.0} ns/span, ratio {:.3} (target {})",
            row.ours_ns, row.peer_ns, row.ratio, row.target
        );
        return;
    }
    let runner = Rounds::from_env();
    let (row, exported, dropped) = span_vs_sdk(&runner);
    println!("span_vs_sdk: our handler exported {exported} spans, dropped {dropped}");
    // `cargo test --benches` measures nothing (see `support::measuring`): check a small burst end
    // to end instead; only `cargo bench` writes the reports.
    if !runner.measuring() {
        let smoke = our_burst(1_000);
        assert_eq!(smoke["exported"], 1_000, "{smoke}");
        assert_eq!(smoke["dropped"], 0, "{smoke}");
        let (port, answered) = loopback_collector();
        let tenants: Vec<String> = (0..1_000).map(|i| format!("tenant-{i}")).collect();
        tenant_burst(port, &answered, &tenants);
        return;
    }
    if !runner.complete() {
        println!("a filtered run: no report written");
        return;
    }
    let mut rows: Vec<support::Row> = row.into_iter().collect();
    rows.push(tenants_100k_vs_1(5));
    support::write_report("otel", &rows);

    let mut ours: Vec<serde_json::Value> = (0..5).map(|_| our_burst(BURST)).collect();
    let mut sdk: Vec<serde_json::Value> = (0..5).map(|_| sdk_burst()).collect();
    let report = serde_json::json!({
        "burst": BURST,
        "producer_ns_steady_chunks_of_1024": producer_ns(CHUNK, 400),
        "producer_ns_bursts_of_8192": producer_ns(BURST_CHUNK, 50),
        "goal": "≥ 500,000 spans/s end to end with zero drops, default settings, no-op exporter",
        "ours_median": median_by(&mut ours, "spans_per_second"),
        "ours_runs": ours,
        "sdk_batch_span_processor_median": median_by(&mut sdk, "spans_per_second"),
        "sdk_batch_span_processor_runs": sdk,
    });
    println!(
        "{}",
        serde_json::to_string_pretty(&report).unwrap_or_default()
    );
    support::write_json("otel-throughput", &report);
}
