//! Edge cases found by porting `:telemetry`'s suite: span measurements that collide with the
//! standard ones, panic payloads that panic when dropped, the failure event's times, the depth of
//! copied events, and which of repeated keys wins.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::time::Duration;

use llm_telemetry_core::testing::Capture;
use llm_telemetry_core::{
    Bus, Delivery, Event, EventName, StaticSpanName, Value, catalog::keys, context,
};

static EDGE_SPAN: StaticSpanName = StaticSpanName::new("test.edge.span");

fn name(s: &str) -> EventName {
    EventName::new(s).unwrap()
}

fn count(measurements: &[(&'static str, f64)], key: &str) -> usize {
    measurements.iter().filter(|(k, _)| *k == key).count()
}

/// Stop and exception events carry the bus's `duration` and `monotonic_time`, exactly once each,
/// whatever the code recorded under those names.
#[test]
fn span_standard_measurements_win_exactly_once() {
    let bus = Bus::new();
    let capture = Capture::attach(&bus, ["test.edge.span.*"]).unwrap();

    bus.span(&EDGE_SPAN, &[], |span| {
        span.measure(keys::DURATION, 5.0);
        span.measure(keys::MONOTONIC_TIME, 7.0);
        span.measure("output_tokens", 3.0);
    });
    let failed: Result<(), String> = bus.try_span(&EDGE_SPAN, &[], |span| {
        span.measure(keys::DURATION, 5.0);
        Err("no".to_owned())
    });
    assert!(failed.is_err());
    let mut active = bus.start_span(&EDGE_SPAN, &[]);
    active.recorder().measure(keys::MONOTONIC_TIME, 7.0);
    active.recorder().measure(keys::DURATION, 5.0);
    active.stop();

    let starts = capture.named("test.edge.span.start");
    let ends: Vec<_> = capture
        .events()
        .into_iter()
        .filter(|e| e.name().phase() != "start")
        .collect();
    assert_eq!(ends.len(), 3);
    for (start, end) in starts.iter().zip(&ends) {
        assert_eq!(count(end.measurements(), keys::DURATION), 1, "{end:?}");
        assert_eq!(
            count(end.measurements(), keys::MONOTONIC_TIME),
            1,
            "{end:?}"
        );
        let duration = end.measurement(keys::DURATION).unwrap();
        let stopped = end.measurement(keys::MONOTONIC_TIME).unwrap();
        let started = start.measurement(keys::MONOTONIC_TIME).unwrap();
        assert_eq!(stopped - duration, started, "the bus's own times: {end:?}");
    }
    assert_eq!(ends[0].measurement("output_tokens"), Some(3.0));
}

/// A panic payload that panics again when dropped.
struct Bomb;

impl Drop for Bomb {
    fn drop(&mut self) {
        panic!("the payload exploded while being dropped");
    }
}

fn bomb_run(delivery: Delivery, prefix: &str) {
    const THREADS: usize = 4;
    const EVENTS: u64 = 2_000;
    let bus = Bus::new();
    let failures = Capture::attach(&bus, ["telemetry.handler.failure"]).unwrap();
    let event = name(&format!("test.{prefix}.event"));
    bus.attach_with(
        "bomb",
        event.as_str(),
        |_: &Event<'_>| std::panic::panic_any(Bomb),
        delivery,
    )
    .unwrap();
    let delivered = Arc::new(AtomicU64::new(0));
    let counter = delivered.clone();
    bus.attach_with(
        "survivor",
        event.as_str(),
        move |_: &Event<'_>| {
            counter.fetch_add(1, Ordering::Relaxed);
        },
        Delivery::Inline,
    )
    .unwrap();

    let start = Arc::new(Barrier::new(THREADS));
    let threads: Vec<_> = (0..THREADS)
        .map(|_| {
            let bus = bus.clone();
            let start = start.clone();
            std::thread::spawn(move || {
                start.wait();
                for n in 0..EVENTS {
                    bus.execute(event, &[("n", n as f64)], &[]);
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().expect("no payload unwinds into an emitter");
    }
    assert!(bus.drain(Duration::from_secs(10)), "the worker survives");
    assert!(failures.wait_for(1, Duration::from_secs(10)));
    assert_eq!(failures.events().len(), 1, "{:?}", failures.events());
    assert_eq!(failures.events()[0].str(keys::HANDLER_ID), Some("bomb"));
    assert!(bus.list_handlers("").iter().all(|h| h.id != "bomb"));
    assert_eq!(delivered.load(Ordering::Relaxed), THREADS as u64 * EVENTS);

    // The bus keeps delivering.
    bus.execute(event, &[], &[]);
    assert_eq!(
        delivered.load(Ordering::Relaxed),
        THREADS as u64 * EVENTS + 1
    );
    bus.detach("survivor").unwrap();
}

#[test]
fn an_inline_payload_that_panics_on_drop_never_reaches_the_emitter() {
    bomb_run(Delivery::Inline, "bomb.inline");
}

#[test]
fn a_queued_payload_that_panics_on_drop_never_kills_the_worker() {
    bomb_run(Delivery::Queued { capacity: 1024 }, "bomb.queued");
}

/// A span whose closure panics with such a payload still emits its exception event, and the
/// panic resumes in the caller (it is the caller's own panic).
#[test]
fn a_span_resumes_its_closures_panic_whatever_the_payload() {
    let bus = Bus::new();
    let capture = Capture::attach(&bus, ["test.edge.span.*"]).unwrap();
    let caught = std::panic::catch_unwind(|| {
        bus.span(&EDGE_SPAN, &[], |_| std::panic::panic_any(7_u32));
    });
    let payload = caught.unwrap_err();
    assert_eq!(payload.downcast_ref::<u32>(), Some(&7));
    assert_eq!(
        capture.names(),
        ["test.edge.span.start", "test.edge.span.exception"]
    );
}

#[test]
fn handler_failure_carries_monotonic_and_system_time() {
    let bus = Bus::new();
    let failures = Capture::attach(&bus, ["telemetry.handler.failure"]).unwrap();
    bus.attach_with(
        "boom",
        "test.edge.failure",
        |_: &Event<'_>| panic!("boom"),
        Delivery::Inline,
    )
    .unwrap();
    let before = context::unix_nanos_now();
    let monotonic_before = context::monotonic_nanos(std::time::Instant::now());
    bus.execute(name("test.edge.failure"), &[], &[]);
    let after = context::unix_nanos_now();
    let failure = &failures.events()[0];
    let system = failure.measurement(keys::SYSTEM_TIME).expect("system_time");
    let monotonic = failure
        .measurement(keys::MONOTONIC_TIME)
        .expect("monotonic_time");
    // The wall clock is derived from an anchor (see `context::unix_nanos_at`): allow a second.
    assert!(
        system >= before as f64 - 1e9 && system <= after as f64 + 1e9,
        "{system} not in [{before}, {after}]"
    );
    assert!(monotonic + 1e6 >= monotonic_before as f64, "{monotonic}");
}

/// A copied event keeps the nesting depth it was emitted at.
#[test]
fn captured_events_carry_their_nesting_depth() {
    let bus = Bus::new();
    let capture = Capture::attach(&bus, ["test.depth.*"]).unwrap();
    let inner = bus.clone();
    bus.attach_with(
        "nester",
        "test.depth.outer",
        move |_: &Event<'_>| inner.execute(name("test.depth.inner"), &[], &[]),
        Delivery::Inline,
    )
    .unwrap();
    let deeper = bus.clone();
    bus.attach_with(
        "deeper",
        "test.depth.inner",
        move |_: &Event<'_>| deeper.execute(name("test.depth.innermost"), &[], &[]),
        Delivery::Inline,
    )
    .unwrap();
    bus.execute(name("test.depth.outer"), &[], &[]);
    let depths: Vec<(&str, u8)> = capture
        .events()
        .iter()
        .map(|e| (e.name().as_str(), e.depth()))
        .collect();
    // The capture was attached first, so it sees each event before the nested one is emitted.
    assert_eq!(
        depths,
        [
            ("test.depth.outer", 0),
            ("test.depth.inner", 1),
            ("test.depth.innermost", 2)
        ]
    );
    // Outside any handler, a copy is at depth 0.
    let e = Event::new(name("test.depth.outer"), &[], &[], None);
    assert_eq!(e.to_owned_event().depth(), 0);
    bus.detach("nester").unwrap();
    bus.detach("deeper").unwrap();
}

/// Of repeated keys, the last wins, for measurements and metadata alike, borrowed or owned.
#[test]
fn the_last_of_repeated_keys_wins() {
    let md = [
        ("status", Value::Str("ok")),
        ("status", Value::Str("error")),
    ];
    let e = Event::new(
        name("test.edge.repeat"),
        &[("tokens", 1.0), ("tokens", 2.0)],
        &md,
        None,
    );
    assert_eq!(e.measurement("tokens"), Some(2.0));
    assert_eq!(e.str("status"), Some("error"));
    let owned = e.to_owned_event();
    assert_eq!(owned.measurement("tokens"), Some(2.0));
    assert_eq!(owned.str("status"), Some("error"));

    // A span: stop metadata overrides start metadata, a measurement recorded twice keeps the
    // last value.
    let bus = Bus::new();
    let capture = Capture::attach(&bus, ["test.edge.span.stop"]).unwrap();
    bus.span(&EDGE_SPAN, &[("status", Value::Str("started"))], |span| {
        span.set("status", "done");
        span.measure("tokens", 1.0);
        span.measure("tokens", 2.0);
    });
    let stop = &capture.events()[0];
    assert_eq!(stop.str("status"), Some("done"));
    assert_eq!(stop.measurement("tokens"), Some(2.0));
}

/// `Capture::query` by time window, pattern, metadata and count; a bad pattern is a typed error
/// naming it.
#[test]
fn capture_queries_select_by_time_pattern_metadata_and_count() {
    use llm_telemetry_core::testing::Capture;
    use llm_telemetry_core::{PatternError, StaticEventName, Value};
    static START: StaticEventName = StaticEventName::new("query.chat.start");
    static STOP: StaticEventName = StaticEventName::new("query.chat.stop");
    let bus = llm_telemetry_core::Bus::new();
    let capture = Capture::attach(&bus, "query.*").unwrap();
    for _ in 0..3 {
        bus.execute(&START, &[], &[("category", Value::Str("model"))]);
    }
    std::thread::sleep(std::time::Duration::from_millis(5));
    let middle = std::time::Instant::now();
    for i in 0..4 {
        bus.execute(
            &STOP,
            &[],
            &[("category", Value::Str("model")), ("i", Value::Int(i))],
        );
    }
    bus.execute(&STOP, &[], &[("category", Value::Str("cache"))]);
    assert_eq!(capture.query().until(middle).run().len(), 3);
    assert_eq!(capture.query().since(middle).run().len(), 5);
    let newest = capture
        .query()
        .matching("query.*.stop")
        .unwrap()
        .with("category", Value::Str("model"))
        .limit(3)
        .run();
    let order: Vec<_> = newest.iter().map(|e| e.value("i")).collect();
    assert_eq!(
        order,
        [
            Some(Value::Int(1)),
            Some(Value::Int(2)),
            Some(Value::Int(3))
        ]
    );
    assert_eq!(
        capture
            .query()
            .with("category", Value::Str("cache"))
            .run()
            .len(),
        1
    );
    assert_eq!(capture.query().limit(0).run().len(), 0);
    let bad = capture.query().matching("query..stop").unwrap_err();
    assert!(matches!(&bad, PatternError::Invalid { pattern, .. } if pattern == "query..stop"));
    capture.clear();
    assert!(capture.query().run().is_empty());
}
