//! `cargo bench -p llm-telemetry-log --bench log`: log handler benches, ours vs a peer, written to
//! `target/bench/log.json`.
//!
//! | case | ours | peer | target |
//! |---|---|---|---|
//! | json_line | `execute` of one `llm.chat.stop` (3 measurements, 3 metadata, span ids) to an inline JSON logger writing into `io::sink()` | tracing-subscriber `fmt().json()` writing the same event with the same fields into `io::sink()` | ≤ 1.0 |
//! | queued_producer | the emitting thread's cost of the same `execute` with the JSON logger on the queued lane | crossbeam-channel bounded `send` of a u64 to a draining thread (the core bench's peer) | ≤ 4.0 |
//!
//! Ours includes what the peer does not need: redaction scanning of every key and string, and
//! level resolution. In `queued_producer` the worker formats far slower than the producer pushes,
//! so the queue runs full and most pushes are counted drops; that is the producer cost the
//! emitter actually sees under a log flood. The same emit to a queued handler that does nothing
//! is measured alongside (`target/bench/log-extra.json`): the producer cannot tell handlers apart,
//! so that number is the lane's own cost, the floor for any queued handler.

use std::hint::black_box;
use std::io;
use std::time::{Duration, Instant};

use llm_telemetry_bench_support::{self as support, Rounds, Row, Side};
use llm_telemetry_core::{Bus, Delivery, SpanContext, SpanId, StaticEventName, TraceId, Value};
use llm_telemetry_genai::catalog::keys;
use llm_telemetry_log::{Level, LogHandle, Logger, Sink};

static CHAT_STOP: StaticEventName = StaticEventName::new("llm.chat.stop");

const TRACE_HEX: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const SPAN_HEX: &str = "00f067aa0ba902b7";

fn span() -> SpanContext {
    SpanContext {
        trace_id: TraceId::from_bytes(0x4bf9_2f35_77b3_4da6_a3ce_929d_0e0e_4736u128.to_be_bytes())
            .expect("non-zero id"),
        span_id: SpanId::from_bytes(0x00f0_67aa_0ba9_02b7u64.to_be_bytes()).expect("non-zero id"),
        parent_span_id: None,
        start_unix_nanos: 1_700_000_000_000_000_000,
        trace_flags: 1,
        is_remote: false,
        baggage: llm_telemetry_core::Baggage::EMPTY,
    }
}

fn emit(bus: &Bus, span: SpanContext) {
    bus.execute_in_span(
        &CHAT_STOP,
        &[
            (keys::DURATION, black_box(1_234_567.0)),
            (keys::INPUT_TOKENS, black_box(120.0)),
            (keys::OUTPUT_TOKENS, black_box(42.0)),
        ],
        &[
            (keys::MODEL, Value::Str(black_box("gpt-4o"))),
            (keys::PROVIDER, Value::Str(black_box("openai"))),
            (keys::TENANT, Value::Str(black_box("acme"))),
        ],
        Some(span),
    );
}

fn json_logger(bus: &Bus, delivery: Delivery) -> LogHandle {
    Logger::builder()
        .json()
        .level(Level::Info)
        .sink(Sink::writer(io::sink()))
        .flush_interval(Duration::ZERO)
        .delivery(delivery)
        .attach(bus)
        .expect("attach the bench logger")
}

fn json_line(runner: &Rounds) -> Option<Row> {
    let bus = Bus::new();
    let handle = json_logger(&bus, Delivery::Inline);
    let span = span();
    emit(&bus, span);
    assert_eq!(handle.stats().lines, 1, "the bench logger did not write");

    let subscriber = tracing::Dispatch::new(
        tracing_subscriber::fmt()
            .json()
            .with_writer(io::sink)
            .with_max_level(tracing::Level::INFO)
            .finish(),
    );
    runner.compare(
        "json_line",
        "tracing-subscriber fmt().json() into io::sink(), same event and fields",
        1.0,
        Side::call(|| emit(&bus, span)),
        // The dispatcher is set per round, outside the timed loop.
        Side::custom(|iters| {
            tracing::dispatcher::with_default(&subscriber, || {
                let start = Instant::now();
                for _ in 0..iters {
                    tracing::info!(
                        target: "llm_telemetry",
                        event = black_box("llm.chat.stop"),
                        duration = black_box(1_234_567u64),
                        input_tokens = black_box(120u64),
                        output_tokens = black_box(42u64),
                        gen_ai.request.model = black_box("gpt-4o"),
                        gen_ai.provider.name = black_box("openai"),
                        tenant = black_box("acme"),
                        trace_id = black_box(TRACE_HEX),
                        span_id = black_box(SPAN_HEX),
                    )
                }
                start.elapsed()
            })
        }),
    )
}

fn queued_producer(runner: &Rounds) -> (Option<Row>, Option<f64>, u64, u64) {
    let bus = Bus::new();
    let handle = json_logger(&bus, Delivery::Queued { capacity: 1 << 16 });
    let span = span();
    let peer = support::CrossbeamSend::start();
    let row = runner.compare(
        "queued_producer",
        "crossbeam-channel bounded send of a u64 (core bench peer)",
        4.0,
        Side::call(|| emit(&bus, span)),
        Side::call(|| peer.send()),
    );
    bus.drain(Duration::from_secs(30));
    let stats = handle.stats();

    // Reference: the same emit to a queued handler that does nothing. The producer cannot tell
    // handlers apart, so this isolates the lane's own cost from anything the logger does.
    let noop = Bus::new();
    noop.attach_with(
        "noop",
        "*",
        |_: &llm_telemetry_core::Event<'_>| {},
        Delivery::Queued { capacity: 1 << 16 },
    )
    .expect("attach the no-op handler");
    let noop_ns = runner
        .samples(
            "queued_producer_noop_handler",
            Side::call(|| emit(&noop, span)),
            Side::call(|| peer.send()),
        )
        .map(|s| support::rounds::median(&s.ours_ns));
    let _ = noop.shutdown(Duration::from_secs(30));
    (row, noop_ns, stats.lines, stats.queue_dropped)
}

fn main() {
    let runner = Rounds::from_env();
    let json = json_line(&runner);
    let (queued, noop_ns, written, dropped) = queued_producer(&runner);
    if !runner.complete() {
        println!("not every case ran (filtered or test run): no report written");
        return;
    }
    let rows: Vec<Row> = json.into_iter().chain(queued).collect();
    support::write_report("log", &rows);
    let noop_ns = noop_ns.unwrap_or(f64::NAN);
    println!(
        "queued_producer: the worker wrote {written} lines and the full queue dropped {dropped} events; \
         the same emit to a no-op queued handler costs {noop_ns:.1} ns"
    );
    support::write_json(
        "log-extra",
        &serde_json::json!({
            "queued_producer_noop_handler_ns": noop_ns,
            "queued_producer_lines_written": written,
            "queued_producer_queue_dropped": dropped,
        }),
    );
}
