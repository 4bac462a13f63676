//! `cargo bench -p llm-telemetry-core --bench core`: the core bus against its peers, side by side in one run.
//!
//! | case | ours | peer |
//! |---|---|---|
//! | no_listener | `execute` with nobody listening (3 fields) | `tracing::info!` with 3 fields, no subscriber |
//! | span_no_listener | `span` start+stop with nobody listening | `info_span!(..).in_scope(..)`, no subscriber |
//! | inline_counter | `execute` to one inline handler bumping an AtomicU64 | tracing Registry + a Layer doing the same in `on_event` |
//! | queued_producer | producer side of `execute` to one queued handler | crossbeam-channel bounded `send` of a u64 |
//!
//! The no-subscriber cases run first: once a scoped tracing dispatcher has existed, every
//! `tracing` callsite pays a thread-local check, which would flatter us.
//! Extras (no target): sustained queued throughput with 1 and 2 producers, and `execute` with
//! 2 measurements + 3 metadata to 0, 1 and 4 inline handlers. Written to `target/bench/core.json`
//! and `target/bench/core-extra.json`.
//!
//! `CORE_PROFILE=<case>_ours|<case>_peer` (see `core/profile.rs`) runs one side untimed for
//! callgrind instead of measuring, e.g. `CORE_PROFILE=inline_counter_ours valgrind
//! --tool=callgrind target/release/deps/core-<hash>`.

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use criterion::Criterion;
use llm_telemetry_bench_support::{self as support, Rounds, Row, Side};
use llm_telemetry_core::{Bus, Delivery, Event, StaticEventName, StaticSpanName, Value};
use tracing_subscriber::layer::SubscriberExt;

#[path = "core/profile.rs"]
mod profile;

static CHAT_STOP: StaticEventName = StaticEventName::new("bench.chat.stop");
static UNHEARD: StaticEventName = StaticEventName::new("bench.nobody.listens");
static UNHEARD_SPAN: StaticSpanName = StaticSpanName::new("bench.nobody.span");

struct CountingLayer(Arc<AtomicU64>);
impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for CountingLayer {
    fn on_event(
        &self,
        _event: &tracing::Event<'_>,
        _ctx: tracing_subscriber::layer::Context<'_, S>,
    ) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

fn counting_bus(delivery: Delivery, handlers: usize) -> (Bus, Arc<AtomicU64>) {
    let bus = Bus::new();
    let count = Arc::new(AtomicU64::new(0));
    for i in 0..handlers {
        let c = count.clone();
        bus.attach_with(
            format!("counter-{i}"),
            "bench.chat.stop",
            move |_: &Event<'_>| {
                c.fetch_add(1, Ordering::Relaxed);
            },
            delivery,
        )
        .expect("attach");
    }
    (bus, count)
}

/// Both sides use their macro, which evaluates field values only when someone listens.
fn no_listener(runner: &Rounds) -> Option<Row> {
    runner.compare(
        "no_listener",
        "tracing::info! with 3 fields, no subscriber",
        1.1,
        Side::call(|| {
            llm_telemetry_core::emit!(&UNHEARD, ["output_tokens" => black_box(42.0)], ["model" => black_box("gpt-4o"), "tenant" => black_box("acme")])
        }),
        Side::call(|| {
            tracing::info!(
                output_tokens = black_box(42.0),
                model = black_box("gpt-4o"),
                tenant = black_box("acme")
            )
        }),
    )
}

/// The function form builds its slices eagerly; reported as an extra.
fn no_listener_fn(c: &mut Criterion) {
    let mut g = c.benchmark_group("no_listener_fn");
    let (tokens, model, tenant) = (black_box(42.0), black_box("gpt-4o"), black_box("acme"));
    g.bench_function("ours", |b| {
        b.iter(|| {
            llm_telemetry_core::execute(
                &UNHEARD,
                &[("output_tokens", tokens)],
                &[("model", Value::Str(model)), ("tenant", Value::Str(tenant))],
            )
        })
    });
    let bus = Bus::new();
    bus.attach("elsewhere", "bench.other.event", |_| {})
        .expect("attach");
    g.bench_function("instance_filtered_out", |b| {
        b.iter(|| {
            bus.execute(
                &UNHEARD,
                &[("output_tokens", tokens)],
                &[("model", Value::Str(model)), ("tenant", Value::Str(tenant))],
            )
        })
    });
    g.finish();
    let mut g = c.benchmark_group("span_no_listener");
    let bus = Bus::new();
    g.bench_function("instance_method", |b| {
        b.iter(|| bus.span(&UNHEARD_SPAN, &[], |_| black_box(1u64)))
    });
    g.finish();
}

fn span_no_listener(runner: &Rounds) -> Option<Row> {
    runner.compare(
        "span_no_listener",
        "tracing::info_span!(..).in_scope(..), no subscriber",
        1.5,
        Side::call(|| {
            black_box(llm_telemetry_core::span(&UNHEARD_SPAN, &[], |_| {
                black_box(1u64)
            }));
        }),
        Side::call(|| {
            black_box(tracing::info_span!("bench_span").in_scope(|| black_box(1u64)));
        }),
    )
}

fn inline_counter(runner: &Rounds) -> Option<Row> {
    let (bus, count) = counting_bus(Delivery::Inline, 1);
    let tokens = 42.0f64;
    let peer_count = Arc::new(AtomicU64::new(0));
    let subscriber = tracing::Dispatch::new(
        tracing_subscriber::registry().with(CountingLayer(peer_count.clone())),
    );
    let row = runner.compare(
        "inline_counter",
        "tracing Registry + Layer bumping an AtomicU64 in on_event",
        1.0,
        Side::call(|| {
            bus.execute(
                &CHAT_STOP,
                &[("output_tokens", black_box(tokens))],
                &[
                    ("model", Value::Str(black_box("gpt-4o"))),
                    ("tenant", Value::Str(black_box("acme"))),
                ],
            )
        }),
        // The dispatcher is set per round, outside the timed loop.
        Side::custom(|iters| {
            tracing::dispatcher::with_default(&subscriber, || {
                let start = Instant::now();
                for _ in 0..iters {
                    tracing::info!(
                        output_tokens = black_box(tokens),
                        model = black_box("gpt-4o"),
                        tenant = black_box("acme")
                    )
                }
                start.elapsed()
            })
        }),
    );
    let _ = (
        count.load(Ordering::Relaxed),
        peer_count.load(Ordering::Relaxed),
    );
    row
}

fn queued_producer(runner: &Rounds) -> Option<Row> {
    let (bus, _count) = counting_bus(Delivery::Queued { capacity: 1 << 16 }, 1);
    let peer = support::CrossbeamSend::start();
    let row = runner.compare(
        "queued_producer",
        "crossbeam-channel bounded send of a u64 (consumer draining)",
        2.0,
        Side::call(|| bus.execute(&CHAT_STOP, &[("output_tokens", black_box(42.0))], &[])),
        Side::call(|| peer.send()),
    );
    let _ = bus.shutdown(Duration::from_secs(10));
    row
}

fn fan_out(c: &mut Criterion) {
    let mut g = c.benchmark_group("fan_out");
    for handlers in [0usize, 1, 4] {
        let (bus, _) = counting_bus(Delivery::Inline, handlers);
        g.bench_function(format!("{handlers}_handlers"), |b| {
            b.iter(|| {
                bus.execute(
                    &CHAT_STOP,
                    &[
                        ("input_tokens", black_box(120.0)),
                        ("output_tokens", black_box(42.0)),
                    ],
                    &[
                        ("model", Value::Str(black_box("gpt-4o"))),
                        ("tenant", Value::Str(black_box("acme"))),
                        ("streaming", Value::Bool(black_box(true))),
                    ],
                )
            })
        });
    }
    g.finish();
}

/// Pushes `total` events from `producers` threads through one queued handler with room for a
/// burst, and reports events/s and what was delivered and dropped.
fn sustained(producers: usize, total: u64) -> serde_json::Value {
    let (bus, count) = counting_bus(Delivery::Queued { capacity: 1 << 16 }, 1);
    let per = total / producers as u64;
    let started = Instant::now();
    let threads: Vec<_> = (0..producers)
        .map(|_| {
            let bus = bus.clone();
            std::thread::spawn(move || {
                for i in 0..per {
                    bus.execute(
                        &CHAT_STOP,
                        &[("seq", i as f64)],
                        &[("model", Value::Str("gpt-4o"))],
                    );
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("producer");
    }
    let produced_in = started.elapsed();
    let flushed = bus.drain(Duration::from_secs(60));
    let drained_in = started.elapsed();
    let stats = bus.stats();
    let h = stats.handler("counter-0").expect("handler stats").clone();
    let _ = bus.shutdown(Duration::from_secs(10));
    serde_json::json!({
        "producers": producers,
        "events": per * producers as u64,
        "producer_events_per_s": (per * producers as u64) as f64 / produced_in.as_secs_f64(),
        "end_to_end_events_per_s": (per * producers as u64) as f64 / drained_in.as_secs_f64(),
        "delivered": h.delivered,
        "dropped": h.dropped,
        "handler_count": count.load(Ordering::Relaxed),
        "flushed": flushed,
    })
}

/// The consumer keeps up: each producer pushes chunks no larger than its share of the queue and
/// waits for the worker to drain before the next. Proves that nothing is lost, and reports the
/// end-to-end rate.
fn paced(producers: usize, total: u64) -> serde_json::Value {
    const CHUNK: u64 = 4096;
    let (bus, count) = counting_bus(Delivery::Queued { capacity: 1 << 14 }, 1);
    let per = total / producers as u64;
    let started = Instant::now();
    let threads: Vec<_> = (0..producers)
        .map(|_| {
            let bus = bus.clone();
            std::thread::spawn(move || {
                let mut sent = 0;
                while sent < per {
                    let chunk = CHUNK.min(per - sent);
                    for i in 0..chunk {
                        bus.execute(
                            &CHAT_STOP,
                            &[("seq", (sent + i) as f64)],
                            &[("model", Value::Str("gpt-4o"))],
                        );
                    }
                    sent += chunk;
                    while bus
                        .stats()
                        .handler("counter-0")
                        .is_some_and(|h| h.queue.is_some_and(|q| q.depth > 1024))
                    {
                        std::thread::yield_now();
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("producer");
    }
    let flushed = bus.drain(Duration::from_secs(60));
    let elapsed = started.elapsed();
    let h = bus
        .stats()
        .handler("counter-0")
        .expect("handler stats")
        .clone();
    let _ = bus.shutdown(Duration::from_secs(10));
    assert_eq!(
        h.dropped, 0,
        "the consumer kept up, yet events were dropped: {h:?}"
    );
    assert_eq!(
        count.load(Ordering::Relaxed),
        per * producers as u64,
        "every event was handled"
    );
    serde_json::json!({
        "producers": producers,
        "events": per * producers as u64,
        "end_to_end_events_per_s": (per * producers as u64) as f64 / elapsed.as_secs_f64(),
        "delivered": h.delivered,
        "dropped": h.dropped,
        "flushed": flushed,
    })
}

fn main() {
    if profile::run_from_env() {
        return;
    }
    let runner = Rounds::from_env();
    // The no-subscriber cases first (see the module docs).
    let rows: Vec<Row> = [
        no_listener(&runner),
        span_no_listener(&runner),
        inline_counter(&runner),
        queued_producer(&runner),
    ]
    .into_iter()
    .flatten()
    .collect();
    let mut c = support::criterion();
    no_listener_fn(&mut c);
    fan_out(&mut c);
    c.final_summary();
    // A filter argument or a test-mode run leaves some cases unmeasured.
    if !runner.complete() || rows.len() < 4 {
        println!("not every case ran (filtered or test run): no report written");
        return;
    }
    support::write_report("core", &rows);

    let throughput: Vec<_> = [1usize, 2]
        .iter()
        .map(|p| sustained(*p, 2_000_000))
        .collect();
    for t in &throughput {
        println!("sustained queued, producers flat out: {t}");
    }
    let paced_runs: Vec<_> = [1usize, 2].iter().map(|p| paced(*p, 2_000_000)).collect();
    for t in &paced_runs {
        println!("sustained queued, consumer keeping up (zero drops asserted): {t}");
    }
    let no_listener_fn = serde_json::json!({
        "global_execute_fn_ns": support::estimate_ns("no_listener_fn", "ours"),
        "instance_bus_other_handler_attached_ns": support::estimate_ns("no_listener_fn", "instance_filtered_out"),
        "span_instance_method_ns": support::estimate_ns("span_no_listener", "instance_method"),
    });
    println!("no listener, function form: {no_listener_fn}");
    let fan: Vec<_> = [0, 1, 4]
        .iter()
        .map(|h| {
            serde_json::json!({
                "handlers": h,
                "ns": support::estimate_ns("fan_out", &format!("{h}_handlers")),
            })
        })
        .collect();
    for f in &fan {
        println!("execute, 2 measurements + 3 metadata: {f}");
    }
    support::write_json(
        "core-extra",
        &serde_json::json!({ "sustained_queued_flat_out": throughput, "sustained_queued_paced": paced_runs, "fan_out": fan, "no_listener_fn": no_listener_fn }),
    );
}
