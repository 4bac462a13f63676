//! Producer cost of a span through the bus, against the floor of a bare `execute` of its stop
//! event (measuring aid for `core/src/span.rs`; not a benchmark target).
//!
//! ```text
//! cargo run --release -p llm-telemetry-core --example span_probe
//! ```
//!
//! One no-op handler listens to `probe.s.stop` and `probe.s.exception` (not `.start`, like the
//! OTel handler): queued with 2,048 and 131,072 slots, then inline (no worker thread competing for
//! the cores, so the difference is the span machinery alone). Spans are emitted in chunks of 1,024, and the bus is flushed, untimed,
//! between chunks so the queue never fills. Prints ns per span: the minimum and the median of
//! several rounds (the minimum is the steadier number on a shared machine).

use std::hint::black_box;
use std::time::{Duration, Instant};

use llm_telemetry_core::{Bus, Delivery, SpanName, Value};

const CHUNK: u64 = 1_024;
const CHUNKS: u64 = 200;
const ROUNDS: usize = 7;

fn bus_with(delivery: Delivery) -> Bus {
    let bus = Bus::new();
    let attached = bus.attach_with(
        "probe",
        ["probe.s.stop", "probe.s.exception"],
        |_: &llm_telemetry_core::Event<'_>| {},
        delivery,
    );
    if let Err(e) = attached {
        eprintln!("attach failed: {e}");
        std::process::exit(1);
    }
    bus
}

/// (minimum, median) over `ROUNDS` of ns per call of `emit`, timed in chunks with an untimed
/// flush between.
fn measure(bus: &Bus, mut emit: impl FnMut(u64)) -> (f64, f64) {
    let mut rounds = Vec::with_capacity(ROUNDS);
    for _ in 0..ROUNDS {
        let mut timed = Duration::ZERO;
        for _ in 0..CHUNKS {
            let start = Instant::now();
            for i in 0..CHUNK {
                emit(i);
            }
            timed += start.elapsed();
            bus.drain(Duration::from_secs(30));
        }
        rounds.push(timed.as_nanos() as f64 / (CHUNK * CHUNKS) as f64);
    }
    rounds.sort_by(f64::total_cmp);
    (rounds[0], rounds[ROUNDS / 2])
}

/// The measured span: 5 metadata fields, nothing recorded.
#[inline(always)]
fn one_span(bus: &Bus, name: SpanName, i: u64) {
    bus.span(
        name,
        &[
            ("provider", Value::Str("openai")),
            ("model", Value::Str("gpt-4o")),
            ("tenant", Value::Str("")),
            ("streaming", Value::Bool(false)),
            ("max_tokens", Value::Int(i as i64)),
        ],
        |_| black_box(i),
    );
}

fn main() {
    let name = match SpanName::new("probe.s") {
        Ok(name) => name,
        Err(e) => {
            eprintln!("bad name: {e}");
            std::process::exit(1);
        }
    };
    // `--spans-only`: only the span loop at the default capacity, for a profiler.
    if std::env::args().any(|a| a == "--spans-only") {
        let bus = bus_with(Delivery::Queued { capacity: 131_072 });
        for _ in 0..5 {
            let (min, median) = measure(&bus, |i| one_span(&bus, name, i));
            println!("span {min:6.1} ns (median {median:6.1})");
        }
        return;
    }
    let deliveries = [
        ("queued   2048", Delivery::Queued { capacity: 2_048 }),
        ("queued 131072", Delivery::Queued { capacity: 131_072 }),
        // No worker thread to share the cores with: the span machinery alone, steadier.
        ("inline       ", Delivery::Inline),
    ];
    for (label, delivery) in deliveries {
        let bus = bus_with(delivery);
        let span = measure(&bus, |i| one_span(&bus, name, i));
        let floor = measure(&bus, |i| {
            bus.execute(
                name.stop,
                &[("duration", 1_000.0), ("monotonic_time", i as f64)],
                &[
                    ("provider", Value::Str("openai")),
                    ("model", Value::Str("gpt-4o")),
                    ("tenant", Value::Str("")),
                    ("streaming", Value::Bool(false)),
                    ("max_tokens", Value::Int(i as i64)),
                ],
            );
        });
        println!(
            "{label}: span {:6.1} ns (median {:6.1}), bare execute(stop) {:6.1} ns (median {:6.1}), span machinery {:6.1} ns (by minima)",
            span.0,
            span.1,
            floor.0,
            floor.1,
            span.0 - floor.0
        );
    }
}
