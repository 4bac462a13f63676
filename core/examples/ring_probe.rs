//! Producer cost of `execute` to one queued no-op handler, for a small and a large queue.
//!
//! ```text
//! cargo run --release -p llm-telemetry-core --example ring_probe
//! ```
//!
//! Emits chunks of 1,024 events (two measurements, five metadata entries) and flushes, untimed,
//! between chunks, so the queue never fills: what is timed is the emitting thread's cost alone.
//! Prints nanoseconds per event for each queue capacity (the median of several rounds).

use std::time::{Duration, Instant};

use llm_telemetry_core::{Bus, Delivery, Event, StaticEventName, Value};

static STOP: StaticEventName = StaticEventName::new("probe.s.stop");

const CHUNK: usize = 1024;
const CHUNKS: usize = 200;
const ROUNDS: usize = 7;

fn round(bus: &Bus) -> f64 {
    let mut timed = Duration::ZERO;
    for _ in 0..CHUNKS {
        let started = Instant::now();
        for i in 0..CHUNK {
            bus.execute(
                &STOP,
                &[("duration", 1.0), ("monotonic_time", 2.0)],
                &[
                    ("gen_ai.request.model", Value::Str("gpt-4o")),
                    ("tenant", Value::Str("acme")),
                    ("user", Value::Str("")),
                    ("streaming", Value::Bool(true)),
                    ("max_tokens", Value::Int(i as i64)),
                ],
            );
        }
        timed += started.elapsed();
        assert!(bus.drain(Duration::from_secs(10)), "flush timed out");
    }
    timed.as_nanos() as f64 / (CHUNK * CHUNKS) as f64
}

/// A bus with one queued no-op handler (`noop`) on the probe's stop event.
fn noop_bus(capacity: usize) -> Bus {
    let bus = Bus::new();
    bus.attach_with(
        "noop",
        "probe.s.stop",
        |_: &Event<'_>| {},
        Delivery::Queued { capacity },
    )
    .expect("attach");
    bus
}

/// Flat out, as criterion's `queued_producer` runs: no flush, so the queue may fill and some
/// measured emits are (cheaper or dearer) drops. Reports ns/event and the share dropped.
fn flat_out(capacity: usize) {
    let bus = noop_bus(capacity);
    const EVENTS: usize = 5_000_000;
    let started = Instant::now();
    for _ in 0..EVENTS {
        bus.execute(&STOP, &[("output_tokens", 42.0)], &[]);
    }
    let ns = started.elapsed().as_nanos() as f64 / EVENTS as f64;
    assert!(bus.drain(Duration::from_secs(10)), "flush timed out");
    let h = bus.stats().handler("noop").cloned().expect("stats");
    println!(
        "flat out, capacity {capacity:>7}: {ns:.1} ns/event, {:.1}% dropped",
        100.0 * h.dropped as f64 / EVENTS as f64
    );
    let _ = bus.shutdown(Duration::from_secs(10));
}

fn main() {
    if std::env::args().nth(1).as_deref() == Some("flat") {
        flat_out(1 << 16);
        return;
    }
    let capacities: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let capacities = if capacities.is_empty() {
        vec![2048, 131_072]
    } else {
        capacities
    };
    for capacity in capacities {
        let bus = noop_bus(capacity);
        round(&bus); // warm-up
        let mut runs: Vec<f64> = (0..ROUNDS).map(|_| round(&bus)).collect();
        runs.sort_by(f64::total_cmp);
        let stats = bus.stats();
        let dropped = stats.handler("noop").map_or(0, |h| h.dropped);
        println!(
            "capacity {capacity:>7}: median {:.1} ns/event (min {:.1}, max {:.1}), dropped {dropped}",
            runs[ROUNDS / 2],
            runs[0],
            runs[ROUNDS - 1]
        );
        let _ = bus.shutdown(Duration::from_secs(10));
    }
}
