//! The `:telemetry` contract, ported: attach/detach errors, listing, delivery of exactly what was
//! emitted, multi-event handlers, failure isolation, nesting, bad measurements, queued delivery.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::time::Duration;

use llm_telemetry_core::testing::Capture;
use llm_telemetry_core::{
    AttachError, Bus, Delivery, DetachError, Event, EventName, MAX_DEPTH, PatternError,
    StaticEventName, StaticSpanName, Value, catalog::keys,
};

static LLM_CHAT: StaticSpanName = StaticSpanName::new("llm.chat");
static CACHE_LOOKUP_HIT: StaticEventName = StaticEventName::new("cache.lookup.hit");
static CACHE_LOOKUP_MISS: StaticEventName = StaticEventName::new("cache.lookup.miss");

fn name(s: &str) -> EventName {
    EventName::new(s).unwrap()
}

fn noop(_: &Event<'_>) {}

/// Attaches an inline handler `id` to `pattern` that counts its calls into `counter`.
fn count_into(bus: &Bus, id: &str, pattern: &str, counter: &Arc<AtomicU64>) {
    let counter = counter.clone();
    bus.attach(id, pattern, move |_| {
        counter.fetch_add(1, Ordering::Relaxed);
    })
    .unwrap();
}

#[test]
fn duplicate_id_is_rejected_and_unknown_detach_is_not_found() {
    let bus = Bus::new();
    bus.attach("h", "a.b.c", noop).unwrap();
    assert_eq!(
        bus.attach("h", "x.y.z", noop),
        Err(AttachError::AlreadyExists("h".into()))
    );
    assert_eq!(
        bus.detach("nope"),
        Err(DetachError::NotFound("nope".into()))
    );
    bus.detach("h").unwrap();
    assert_eq!(bus.detach("h"), Err(DetachError::NotFound("h".into())));
    // The id is free again.
    bus.attach("h", "a.b.c", noop).unwrap();
}

#[test]
fn invalid_patterns_and_options_are_typed_errors() {
    let bus = Bus::new();
    assert!(matches!(
        bus.attach("h", "a..b", noop),
        Err(AttachError::Pattern(PatternError::Invalid { .. }))
    ));
    assert!(matches!(
        bus.attach("h", &[] as &[&str], noop),
        Err(AttachError::Pattern(PatternError::NoPatterns { .. }))
    ));
    assert!(matches!(
        bus.attach_with("h", "a.b", noop, Delivery::Queued { capacity: 0 }),
        Err(AttachError::ZeroCapacity { .. })
    ));
    let message = bus.attach("h", "a b", noop).unwrap_err().to_string();
    assert!(message.contains("a b"), "{message}");
    assert!(
        bus.list_handlers("").is_empty(),
        "failed attaches leave nothing behind"
    );
}

#[test]
fn list_handlers_filters_by_prefix() {
    let bus = Bus::new();
    bus.attach("chat", "llm.chat.stop", noop).unwrap();
    bus.attach_with(
        "cache",
        ["cache.lookup.hit", "cache.lookup.miss"],
        noop,
        Delivery::queued(),
    )
    .unwrap();
    bus.attach("all-llm", "llm.*", noop).unwrap();
    let ids = |prefix: &str| -> Vec<String> {
        bus.list_handlers(prefix)
            .into_iter()
            .map(|h| h.id)
            .collect()
    };
    assert_eq!(ids(""), ["chat", "cache", "all-llm"]);
    assert_eq!(ids("llm"), ["chat", "all-llm"]);
    assert_eq!(ids("llm.chat"), ["chat", "all-llm"]);
    assert_eq!(ids("llm.embed"), ["all-llm"]);
    assert_eq!(ids("cache.lookup"), ["cache"]);
    assert!(ids("nothing").is_empty());
    let cache = &bus.list_handlers("cache")[0];
    assert_eq!(cache.patterns, ["cache.lookup.hit", "cache.lookup.miss"]);
    assert_eq!(cache.delivery, Delivery::queued());
    assert!(bus.shutdown(Duration::from_secs(5)).is_complete());
}

#[test]
fn handler_receives_exactly_the_measurements_and_metadata() {
    let bus = Bus::new();
    let capture = Capture::attach(&bus, ["test.exact.event"]).unwrap();
    let measurements = [("duration", 12.5), ("input_tokens", 7.0)];
    let metadata = [
        ("model", Value::Str("m")),
        ("n", Value::Int(3)),
        ("t", Value::Float(0.25)),
        ("stream", Value::Bool(false)),
    ];
    bus.execute(name("test.exact.event"), &measurements, &metadata);
    let events = capture.events();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].measurements(), &measurements);
    assert_eq!(events[0].metadata().collect::<Vec<_>>(), metadata);
    assert_eq!(events[0].span(), None);
    // Other events are not delivered.
    bus.execute(name("test.exact.other"), &[], &[]);
    assert_eq!(capture.events().len(), 1);
}

#[test]
fn a_handler_attached_to_several_events_receives_all_of_them() {
    let bus = Bus::new();
    let capture =
        Capture::attach(&bus, ["test.multi.a", "test.multi.b", "test.wild.*.stop"]).unwrap();
    bus.execute(name("test.multi.a"), &[], &[]);
    bus.execute(name("test.multi.b"), &[], &[]);
    bus.execute(name("test.multi.c"), &[], &[]);
    bus.execute(name("test.wild.x.stop"), &[], &[]);
    bus.execute(name("test.wild.x.start"), &[], &[]);
    assert_eq!(
        capture.names(),
        ["test.multi.a", "test.multi.b", "test.wild.x.stop"]
    );
}

#[test]
fn a_name_registered_after_attach_is_delivered_to_matching_patterns() {
    let bus = Bus::new();
    let capture = Capture::attach(&bus, ["test.late.*"]).unwrap();
    // This name did not exist when the handler attached.
    let late = name(&format!("test.late.n{}", std::process::id()));
    assert!(bus.is_listening(late));
    bus.execute(late, &[], &[]);
    assert_eq!(capture.events().len(), 1);
}

#[test]
fn failing_handler_is_detached_everywhere_and_failure_is_emitted() {
    let bus = Bus::new();
    let failures = Capture::attach(&bus, ["telemetry.handler.failure"]).unwrap();
    let before = Capture::attach(&bus, ["test.fail.*"]).unwrap();
    let calls = Arc::new(AtomicU64::new(0));
    let seen = calls.clone();
    bus.attach("boom", ["test.fail.a", "test.fail.b"], move |_| {
        seen.fetch_add(1, Ordering::SeqCst);
        panic!("exploded on purpose");
    })
    .unwrap();
    let after = Capture::attach(&bus, ["test.fail.*"]).unwrap();

    // The emitter never sees the panic.
    bus.execute(name("test.fail.a"), &[], &[]);
    bus.execute(name("test.fail.b"), &[], &[]);

    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "detached after the first panic, from every event"
    );
    assert_eq!(before.names(), ["test.fail.a", "test.fail.b"]);
    assert_eq!(
        after.names(),
        ["test.fail.a", "test.fail.b"],
        "handlers after it still run"
    );
    assert!(bus.list_handlers("").iter().all(|h| h.id != "boom"));

    let failure = failures.events();
    assert_eq!(failure.len(), 1);
    assert_eq!(failure[0].str(keys::HANDLER_ID), Some("boom"));
    assert_eq!(failure[0].str(keys::EVENT), Some("test.fail.a"));
    assert_eq!(failure[0].str(keys::ERROR), Some("exploded on purpose"));

    let stats = bus.stats();
    assert_eq!(stats.handler_failures, 1);
    let boom = stats.handler("boom").unwrap();
    assert!(!boom.attached);
    assert_eq!(boom.failed, 1);
}

#[test]
fn failing_queued_handler_is_detached_and_failure_is_emitted() {
    let bus = Bus::new();
    let failures = Capture::attach(&bus, ["telemetry.handler.failure"]).unwrap();
    // The worker waits at its first event until all ten are queued, so the count below is exact
    // whatever the scheduling.
    let all_queued = Arc::new(Barrier::new(2));
    let worker_gate = all_queued.clone();
    let first = std::sync::Once::new();
    bus.attach_with(
        "queued-boom",
        "test.qfail.event",
        move |e: &Event<'_>| {
            first.call_once(|| {
                worker_gate.wait();
            });
            if e.measurement("n") == Some(3.0) {
                panic!("third event is poison");
            }
        },
        Delivery::Queued { capacity: 64 },
    )
    .unwrap();
    for n in 0..10 {
        bus.execute(name("test.qfail.event"), &[("n", n as f64)], &[]);
    }
    all_queued.wait();
    assert!(failures.wait_for(1, Duration::from_secs(10)));
    let failure = &failures.events()[0];
    assert_eq!(failure.str(keys::HANDLER_ID), Some("queued-boom"));
    assert_eq!(failure.str(keys::ERROR), Some("third event is poison"));
    assert!(bus.list_handlers("").iter().all(|h| h.id != "queued-boom"));
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let h = loop {
        let h = bus.stats().handler("queued-boom").cloned().unwrap();
        if h.dropped == 6 || std::time::Instant::now() >= deadline {
            break h;
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    assert_eq!(
        (h.delivered, h.failed, h.dropped),
        (3, 1, 6),
        "the six queued after the poison are counted as dropped"
    );
}

#[test]
fn handlers_may_emit_and_nesting_is_bounded() {
    let bus = Bus::new();
    let loop_name = name("test.nest.loop");
    let inner_bus = bus.clone();
    let calls = Arc::new(AtomicU64::new(0));
    let seen = calls.clone();
    bus.attach("recursive", "test.nest.loop", move |_| {
        seen.fetch_add(1, Ordering::SeqCst);
        inner_bus.execute(loop_name, &[], &[]);
    })
    .unwrap();
    bus.execute(loop_name, &[], &[]);
    assert_eq!(calls.load(Ordering::SeqCst), MAX_DEPTH as u64);
    assert_eq!(bus.stats().depth_exceeded, 1);
    bus.detach("recursive").unwrap(); // breaks the Bus -> handler -> Bus cycle
}

/// Dispatch sends "nested too deep" and "fields bound" down one out-of-line path: with fields
/// bound, every nested event carries them and the chain still ends at `MAX_DEPTH`, counted once.
#[test]
fn nesting_is_bounded_inside_a_binding_scope_and_each_nested_event_carries_the_fields() {
    let bus = Bus::new();
    let loop_name = name("test.nest.bound");
    let inner_bus = bus.clone();
    let carried = Arc::new(AtomicU64::new(0));
    let seen = carried.clone();
    bus.attach("recursive-bound", "test.nest.bound", move |event| {
        if event.str("request_id") == Some("r-9") {
            seen.fetch_add(1, Ordering::SeqCst);
        }
        inner_bus.execute(loop_name, &[], &[]);
    })
    .unwrap();
    {
        let _scope = llm_telemetry_core::bound::bind([("request_id", "r-9".into())]);
        bus.execute(loop_name, &[], &[]);
    }
    assert_eq!(carried.load(Ordering::SeqCst), MAX_DEPTH as u64);
    assert_eq!(bus.stats().depth_exceeded, 1);
    bus.detach("recursive-bound").unwrap();
}

/// A handler that binds fields for its own nested emits: they carry them, and once the handler
/// returned the emitting thread is unbound again (the dispatch frame's exit keeps the bit right).
#[test]
fn a_binding_made_inside_a_handler_ends_with_it() {
    let bus = Bus::new();
    let outer = name("test.bindin.outer");
    let inner = name("test.bindin.inner");
    let capture = Capture::attach(&bus, ["test.bindin.inner"]).unwrap();
    let inner_bus = bus.clone();
    bus.attach("binder", "test.bindin.outer", move |_| {
        let _scope = llm_telemetry_core::bound::bind([("step", "nested".into())]);
        inner_bus.execute(inner, &[], &[]);
    })
    .unwrap();
    bus.execute(outer, &[], &[]);
    bus.execute(inner, &[], &[]);
    let steps: Vec<Option<String>> = capture
        .events()
        .iter()
        .map(|e| e.str("step").map(str::to_owned))
        .collect();
    assert_eq!(steps, vec![Some("nested".to_owned()), None]);
    bus.detach("binder").unwrap();
}

#[test]
fn nested_emits_cross_queued_lanes_with_bounded_depth() {
    let bus = Bus::new();
    let loop_name = name("test.nest.queued");
    let inner_bus = bus.clone();
    let calls = Arc::new(AtomicU64::new(0));
    let seen = calls.clone();
    bus.attach_with(
        "queued-recursive",
        "test.nest.queued",
        move |_: &Event<'_>| {
            seen.fetch_add(1, Ordering::SeqCst);
            inner_bus.execute(loop_name, &[], &[]);
        },
        Delivery::queued(),
    )
    .unwrap();
    bus.execute(loop_name, &[], &[]);
    // Each hop goes through the queue; the chain ends at MAX_DEPTH instead of cycling forever.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while bus.stats().depth_exceeded == 0 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(bus.drain(Duration::from_secs(5)));
    assert_eq!(calls.load(Ordering::SeqCst), MAX_DEPTH as u64);
    assert_eq!(bus.stats().depth_exceeded, 1);
    bus.detach("queued-recursive").unwrap();
}

#[test]
fn non_finite_measurements_are_removed_and_counted() {
    let bus = Bus::new();
    let capture = Capture::attach(&bus, ["test.nan.event"]).unwrap();
    bus.execute(
        name("test.nan.event"),
        &[
            ("a", 1.0),
            ("b", f64::NAN),
            ("c", f64::INFINITY),
            ("d", f64::NEG_INFINITY),
            ("e", 2.0),
        ],
        &[("model", Value::Str("m"))],
    );
    let events = capture.events();
    assert_eq!(events.len(), 1, "the event itself is still delivered");
    assert_eq!(events[0].measurements(), &[("a", 1.0), ("e", 2.0)]);
    assert_eq!(events[0].str("model"), Some("m"));
    assert_eq!(bus.stats().non_finite_measurements, 3);
}

#[test]
fn queued_handler_receives_owned_events_in_order() {
    let bus = Bus::new();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = seen.clone();
    bus.attach_with(
        "queued",
        "test.queued.*",
        move |e: &Event<'_>| {
            sink.lock().unwrap().push((
                e.name().to_string(),
                e.measurement("i").unwrap(),
                e.str("text").unwrap().to_owned(),
            ))
        },
        Delivery::Queued { capacity: 1024 },
    )
    .unwrap();
    let long = "y".repeat(4096);
    for i in 0..500 {
        let text = if i % 100 == 0 {
            long.clone()
        } else {
            format!("text-{i}")
        };
        bus.execute(
            name("test.queued.event"),
            &[("i", i as f64)],
            &[("text", Value::Str(&text))],
        );
    }
    assert!(bus.drain(Duration::from_secs(10)));
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 500);
    for (i, (n, m, text)) in seen.iter().enumerate() {
        assert_eq!(n, "test.queued.event");
        assert_eq!(*m, i as f64);
        if i % 100 == 0 {
            assert_eq!(text.len(), 4096);
        } else {
            assert_eq!(text, &format!("text-{i}"));
        }
    }
    let stats = bus.stats();
    let q = stats.handler("queued").unwrap();
    assert_eq!((q.delivered, q.dropped), (500, 0));
    assert_eq!(q.queue.unwrap().capacity, 1024);
    assert!(bus.shutdown(Duration::from_secs(5)).is_complete());
}

#[test]
fn full_queue_drops_and_counts_without_blocking_the_emitter() {
    let bus = Bus::new();
    let gate = Arc::new(Barrier::new(2));
    let worker_gate = gate.clone();
    let first = Arc::new(std::sync::Once::new());
    bus.attach_with(
        "stuck",
        "test.full.event",
        move |_: &Event<'_>| {
            // The first event parks the worker until the test releases it.
            first.call_once(|| {
                worker_gate.wait();
            });
        },
        Delivery::Queued { capacity: 8 },
    )
    .unwrap();
    for _ in 0..1000 {
        bus.execute(name("test.full.event"), &[], &[]);
    }
    // The emitter returned although the handler is stuck: the queue held 8, the worker 1.
    let stats = bus.stats();
    let h = stats.handler("stuck").unwrap();
    assert!(h.dropped >= 1000 - 8 - 1, "{h:?}");
    assert_eq!(h.queue.unwrap().capacity, 8);
    gate.wait();
    assert!(bus.drain(Duration::from_secs(10)));
    let h = bus.stats().handler("stuck").cloned().unwrap();
    assert_eq!(
        h.delivered + h.dropped,
        1000,
        "every event is either delivered or counted"
    );
}

#[test]
fn flush_times_out_when_a_handler_hangs_and_shutdown_reports_it() {
    let bus = Bus::new();
    let release = Arc::new(Barrier::new(2));
    let handler_release = release.clone();
    bus.attach_with(
        "slow",
        "test.hang.event",
        move |_: &Event<'_>| {
            handler_release.wait();
        },
        Delivery::Queued { capacity: 4 },
    )
    .unwrap();
    bus.execute(name("test.hang.event"), &[], &[]);
    assert!(!bus.drain(Duration::from_millis(100)));
    release.wait();
    assert!(bus.drain(Duration::from_secs(10)));
    assert!(bus.shutdown(Duration::from_secs(5)).is_complete());
    // After shutdown, queued events are dropped and counted; attach is refused.
    bus.execute(name("test.hang.event"), &[], &[]);
    assert_eq!(bus.stats().handler("slow").unwrap().dropped, 1);
    assert!(matches!(
        bus.attach("late", "a.b", noop),
        Err(AttachError::ShutDown { .. })
    ));
}

#[test]
fn detach_of_a_queued_handler_delivers_what_was_queued() {
    let bus = Bus::new();
    let count = Arc::new(AtomicU64::new(0));
    let c = count.clone();
    bus.attach_with(
        "q",
        "test.detachq.event",
        move |_: &Event<'_>| {
            std::thread::sleep(Duration::from_micros(50));
            c.fetch_add(1, Ordering::SeqCst);
        },
        Delivery::Queued { capacity: 256 },
    )
    .unwrap();
    for _ in 0..100 {
        bus.execute(name("test.detachq.event"), &[], &[]);
    }
    bus.detach("q").unwrap();
    bus.execute(name("test.detachq.event"), &[], &[]);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while count.load(Ordering::SeqCst) < 100 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(2));
    }
    std::thread::sleep(Duration::from_millis(20));
    assert_eq!(count.load(Ordering::SeqCst), 100);
}

#[test]
fn global_bus_and_emit_macro() {
    let bus = Bus::global();
    let capture = Capture::attach(bus, ["test.global.event"]).unwrap();
    llm_telemetry_core::execute(name("test.global.event"), &[("x", 1.0)], &[]);
    let model = String::from("gpt-4o");
    llm_telemetry_core::emit!(*bus, &name("test.global.event"), ["y" => 2], ["gen_ai.request.model" => &model, "n" => 3]);
    let events = capture.events();
    assert_eq!(events.len(), 2);
    assert_eq!(events[1].measurement("y"), Some(2.0));
    assert_eq!(events[1].str("gen_ai.request.model"), Some("gpt-4o"));
    assert_eq!(events[1].value("n"), Some(Value::Int(3)));
    capture.detach().unwrap();
}

#[test]
fn events_inside_a_span_carry_its_context() {
    let bus = Bus::new();
    let capture = Capture::attach(&bus, ["cache.*", "llm.chat.*"]).unwrap();
    bus.span(&LLM_CHAT, &[], |span| {
        bus.execute(&CACHE_LOOKUP_HIT, &[], &[]);
        assert!(span.is_recording());
    });
    let events = capture.events();
    let hit = &capture.named("cache.lookup.hit")[0];
    let start = &events[0];
    assert_eq!(hit.span(), start.span());
    bus.execute(&CACHE_LOOKUP_MISS, &[], &[]);
    assert_eq!(capture.named("cache.lookup.miss")[0].span(), None);
}

#[test]
fn inline_delivered_counts_are_exact_once_threads_finish() {
    let bus = Bus::new();
    bus.attach("a", "test.count.*", noop).unwrap();
    bus.attach("b", "test.count.one", noop).unwrap();
    let threads: Vec<_> = (0..3)
        .map(|_| {
            let bus = bus.clone();
            std::thread::spawn(move || {
                for _ in 0..1001 {
                    bus.execute(name("test.count.one"), &[], &[]);
                    bus.execute(name("test.count.two"), &[], &[]);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    // Threads that exited published everything; this thread emits a few more.
    for _ in 0..5 {
        bus.execute(name("test.count.one"), &[], &[]);
    }
    let stats = bus.stats();
    assert_eq!(stats.handler("a").unwrap().delivered, 3 * 2002 + 5);
    assert_eq!(stats.handler("b").unwrap().delivered, 3 * 1001 + 5);
    // A detach in between (new snapshot) loses nothing either.
    bus.attach("c", "other.x", noop).unwrap();
    bus.execute(name("test.count.one"), &[], &[]);
    bus.detach("c").unwrap();
    bus.execute(name("test.count.one"), &[], &[]);
    assert_eq!(bus.stats().handler("b").unwrap().delivered, 3 * 1001 + 7);
}

#[test]
fn inline_counts_of_a_live_thread_show_in_stats_at_once() {
    let bus = Bus::new();
    bus.attach("a", "test.live.count", noop).unwrap();
    let emitted = Arc::new(Barrier::new(2));
    let checked = Arc::new(Barrier::new(2));
    let worker = {
        let (bus, emitted, checked) = (bus.clone(), emitted.clone(), checked.clone());
        std::thread::spawn(move || {
            for _ in 0..7 {
                bus.execute(name("test.live.count"), &[], &[]);
            }
            emitted.wait();
            checked.wait();
        })
    };
    emitted.wait();
    // The emitting thread is alive and idle: its counts are already visible.
    assert_eq!(bus.stats().handler("a").unwrap().delivered, 7);
    checked.wait();
    worker.join().unwrap();
    assert_eq!(bus.stats().handler("a").unwrap().delivered, 7);
}

#[test]
fn a_handler_that_attaches_and_emits_while_handling_loses_nothing() {
    // The first handler attaches a new handler (a new snapshot) and then emits a nested event,
    // so the nested dispatch replaces the snapshot the outer dispatch is still walking. The
    // outer dispatch must go on to the second handler of its (old) snapshot.
    let bus = Bus::new();
    let attached = Arc::new(AtomicU64::new(0));
    let second = Arc::new(AtomicU64::new(0));
    let nested = Arc::new(AtomicU64::new(0));
    {
        let (inner_bus, attached) = (bus.clone(), attached.clone());
        bus.attach("attacher", "test.churn.outer", move |_| {
            let n = attached.fetch_add(1, Ordering::Relaxed);
            inner_bus
                .attach(format!("extra-{n}"), "test.churn.unused", noop)
                .unwrap();
            inner_bus.execute(name("test.churn.nested"), &[], &[]);
        })
        .unwrap();
    }
    count_into(&bus, "second", "test.churn.outer", &second);
    count_into(&bus, "nested", "test.churn.nested", &nested);
    for _ in 0..50 {
        bus.execute(name("test.churn.outer"), &[], &[]);
    }
    assert_eq!(second.load(Ordering::Relaxed), 50);
    assert_eq!(nested.load(Ordering::Relaxed), 50);
    let stats = bus.stats();
    assert_eq!(stats.handler("attacher").unwrap().delivered, 50);
    assert_eq!(stats.handler("second").unwrap().delivered, 50);
    assert_eq!(stats.handler("nested").unwrap().delivered, 50);
    assert_eq!(bus.list_handlers("").len(), 3 + 50);
}

#[test]
fn one_thread_emitting_to_many_buses_counts_each_exactly() {
    // More buses than the per-thread cache has slots: snapshots are evicted and re-adopted
    // over and over, and every count survives.
    let buses: Vec<Bus> = (0..9).map(|_| Bus::new()).collect();
    for bus in &buses {
        bus.attach("h", "test.many.buses", noop).unwrap();
    }
    for round in 0..40 {
        for (i, bus) in buses.iter().enumerate() {
            if (round + i) % 3 != 0 {
                bus.execute(name("test.many.buses"), &[], &[]);
            }
        }
    }
    for (i, bus) in buses.iter().enumerate() {
        let expected = (0..40).filter(|round| (round + i) % 3 != 0).count() as u64;
        assert_eq!(
            bus.stats().handler("h").unwrap().delivered,
            expected,
            "bus {i}"
        );
    }
}

#[test]
fn an_event_keeps_its_emit_time_span_while_a_handler_switches_spans() {
    use llm_telemetry_core::context;
    let bus = Bus::new();
    let seen = Arc::new(Mutex::new(Vec::new()));
    {
        let (seen, inner_bus) = (seen.clone(), bus.clone());
        bus.attach("switcher", "test.switch.outer", move |e| {
            let before = e.span();
            let own = context::SpanContext::new_root();
            let _guard = context::enter(Some(own));
            // Inside its own span, the handler still sees the event's span...
            seen.lock().unwrap().push(("inside", e.span(), before));
            // ...and what it emits now belongs to its own span.
            inner_bus.execute(name("test.switch.nested"), &[], &[]);
        })
        .unwrap();
    }
    {
        let seen = seen.clone();
        bus.attach("after", "test.switch.outer", move |e| {
            seen.lock().unwrap().push(("after", e.span(), None))
        })
        .unwrap();
    }
    let capture = Capture::attach(&bus, ["test.switch.*"]).unwrap();
    let outer = context::SpanContext::new_root();
    {
        let _guard = context::enter(Some(outer));
        bus.execute(name("test.switch.outer"), &[], &[]);
    }
    bus.execute(name("test.switch.outer"), &[], &[]);
    let seen = seen.lock().unwrap();
    assert_eq!(seen[0], ("inside", Some(outer), Some(outer)));
    assert_eq!(seen[1], ("after", Some(outer), None));
    assert_eq!(seen[2], ("inside", None, None));
    assert_eq!(seen[3], ("after", None, None));
    let nested = capture.named("test.switch.nested");
    assert_eq!(nested.len(), 2);
    for event in &nested {
        let span = event.span().expect("the handler's own span");
        assert_ne!(Some(span), Some(outer));
    }
    let outer_events = capture.named("test.switch.outer");
    assert_eq!(outer_events[0].span(), Some(outer));
    assert_eq!(outer_events[1].span(), None);
}

#[test]
fn a_handler_released_at_thread_exit_may_still_emit() {
    // A thread's snapshot cache keeps the last snapshot it used. Here that snapshot holds the
    // last reference to a detached handler, so the handler is dropped while the thread exits,
    // and its destructor emits on another bus: that emit must be delivered, not lost or crash.
    struct EmitOnDrop(Bus);
    impl Drop for EmitOnDrop {
        fn drop(&mut self) {
            self.0.execute(name("test.exit.dropped"), &[], &[]);
        }
    }
    let outer = Bus::new();
    let capture = Capture::attach(&outer, ["test.exit.dropped"]).unwrap();
    let inner = Bus::new();
    let guard = EmitOnDrop(outer.clone());
    inner
        .attach("holds-guard", "test.exit.event", move |_| {
            let _ = &guard;
        })
        .unwrap();
    std::thread::spawn(move || {
        inner.execute(name("test.exit.event"), &[], &[]);
        inner.detach("holds-guard").unwrap();
        drop(inner);
    })
    .join()
    .unwrap();
    assert_eq!(capture.named("test.exit.dropped").len(), 1);
    assert_eq!(outer.stats().handler(capture.id()).unwrap().delivered, 1);
}

#[test]
fn queued_handlers_receive_big_unicode_and_span_events_whole() {
    let bus = Bus::new();
    let received: Arc<Mutex<Vec<llm_telemetry_core::OwnedEvent>>> = Arc::default();
    let sink = received.clone();
    bus.attach_with(
        "keeper",
        "test.queued.whole",
        move |e: &Event<'_>| sink.lock().unwrap().push(e.to_owned_event()),
        Delivery::Queued { capacity: 16 },
    )
    .unwrap();
    let big = "ünïcödé 🌍 ".repeat(80_000); // about 1.2 MiB: copied to the heap, not the ring
    let span = llm_telemetry_core::SpanContext::new_root();
    let metadata = [
        ("prompt", Value::Str(&big)),
        ("model", Value::Str("gpt-4o")),
        ("n", Value::Int(7)),
    ];
    bus.execute_in_span(
        name("test.queued.whole"),
        &[("duration", 5.0)],
        &metadata,
        Some(span),
    );
    bus.execute_in_span(
        name("test.queued.whole"),
        &[("duration", 6.0)],
        &metadata[1..],
        Some(span),
    );
    assert!(bus.drain(Duration::from_secs(10)));
    let received = received.lock().unwrap();
    assert_eq!(received.len(), 2);
    for (event, duration) in received.iter().zip([5.0, 6.0]) {
        assert_eq!(event.span(), Some(span));
        assert_eq!(event.measurement("duration"), Some(duration));
        assert_eq!(event.str("model"), Some("gpt-4o"));
        assert_eq!(event.value("n"), Some(Value::Int(7)));
    }
    assert_eq!(received[0].str("prompt"), Some(big.as_str()));
    assert_eq!(received[1].str("prompt"), None);
    let h = bus.stats().handler("keeper").cloned().unwrap();
    assert_eq!((h.delivered, h.dropped), (2, 0));
}
