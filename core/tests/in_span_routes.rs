//! Routes a handler takes only inside a span ([`Handler::only_in_span`]): an event with no span
//! never reaches such a handler (no call, no queue slot, counted neither delivered nor dropped),
//! an event inside a span does, whether the span is current or explicit, and routes of other
//! handlers of the same name are untouched. Also across later-registered names, detaches and
//! the compaction that renumbers slots.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use llm_telemetry_core::{Bus, Delivery, Event, EventName, Handler, SpanContext, context};

/// Counts its calls; takes names ending in `.done` only inside a span.
struct InSpanDone(Arc<AtomicU64>);

impl Handler for InSpanDone {
    fn handle(&self, _: &Event<'_>) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
    fn only_in_span(&self, name: EventName) -> bool {
        name.phase() == "done"
    }
}

fn counter() -> Arc<AtomicU64> {
    Arc::new(AtomicU64::new(0))
}

fn name(text: &str) -> EventName {
    EventName::new(text).unwrap()
}

#[test]
fn inline_in_span_route_skips_events_without_a_span() {
    let bus = Bus::new();
    let in_span = counter();
    let always = counter();
    bus.attach_with(
        "in-span",
        "spanev.inline.*",
        InSpanDone(in_span.clone()),
        Delivery::Inline,
    )
    .unwrap();
    let plain = always.clone();
    bus.attach("always", "spanev.inline.*", move |_: &Event<'_>| {
        plain.fetch_add(1, Ordering::Relaxed);
    })
    .unwrap();
    let done = name("spanev.inline.done");
    let other = name("spanev.inline.other");
    for _ in 0..1000 {
        bus.execute(done, &[], &[]);
        bus.execute(other, &[], &[]);
    }
    let span = SpanContext::new_root();
    {
        let _current = context::enter(Some(span));
        for _ in 0..7 {
            bus.execute(done, &[], &[]);
        }
    }
    for _ in 0..5 {
        bus.execute_in_span(done, &[], &[], Some(span));
        bus.execute_in_span(done, &[], &[], None);
    }
    // in-span: 7 current + 5 explicit `done`s, and the 1000 `other`s (not in-span-only).
    assert_eq!(in_span.load(Ordering::Relaxed), 1000 + 7 + 5);
    assert_eq!(always.load(Ordering::Relaxed), 2000 + 7 + 10);
    let stats = bus.stats();
    assert_eq!(stats.handler("in-span").unwrap().delivered, 1012);
    assert_eq!(stats.handler("in-span").unwrap().dropped, 0);
    assert_eq!(stats.handler("always").unwrap().delivered, 2017);
}

#[test]
fn queued_in_span_route_takes_no_queue_slot_outside_a_span() {
    let bus = Bus::new();
    let seen = counter();
    // A queue of 64: 100,000 events without a span would overflow it a thousand times over.
    bus.attach_with(
        "queued-in-span",
        "spanev.queued.*",
        InSpanDone(seen.clone()),
        Delivery::Queued { capacity: 64 },
    )
    .unwrap();
    let done = name("spanev.queued.done");
    for _ in 0..100_000 {
        bus.execute(done, &[], &[]);
    }
    let span = SpanContext::new_root();
    let _current = context::enter(Some(span));
    for _ in 0..10 {
        bus.execute(done, &[], &[]);
    }
    assert!(bus.flush(Duration::from_secs(10)).is_complete());
    let stats = bus.stats();
    let handler = stats.handler("queued-in-span").unwrap();
    assert_eq!(handler.delivered, 10);
    assert_eq!(handler.dropped, 0);
    assert_eq!(seen.load(Ordering::Relaxed), 10);
}

#[test]
fn the_bit_survives_new_names_detaches_and_compaction() {
    let bus = Bus::new();
    let seen = counter();
    // 100 handlers before it, detached later: the compaction renumbers its slot.
    for i in 0..100 {
        bus.attach(
            format!("filler-{i}"),
            "spanev.compact.*",
            |_: &Event<'_>| {},
        )
        .unwrap();
    }
    bus.attach_with(
        "in-span",
        "spanev.compact.*",
        InSpanDone(seen.clone()),
        Delivery::Inline,
    )
    .unwrap();
    for i in 0..100 {
        bus.detach(&format!("filler-{i}")).unwrap();
    }
    // A name first registered after the attach: matched against the wildcard then.
    let late = name("spanev.compact.late.done");
    bus.execute(late, &[], &[]);
    assert_eq!(seen.load(Ordering::Relaxed), 0);
    let _current = context::enter(Some(SpanContext::new_root()));
    bus.execute(late, &[], &[]);
    bus.execute(name("spanev.compact.other"), &[], &[]);
    assert_eq!(seen.load(Ordering::Relaxed), 2);
    assert_eq!(bus.stats().handler("in-span").unwrap().delivered, 2);
}

#[test]
fn an_exact_pattern_gets_the_bit_too() {
    let bus = Bus::new();
    let seen = counter();
    bus.attach_with(
        "exact",
        "spanev.exact.done",
        InSpanDone(seen.clone()),
        Delivery::Inline,
    )
    .unwrap();
    let done = name("spanev.exact.done");
    bus.execute(done, &[], &[]);
    assert_eq!(seen.load(Ordering::Relaxed), 0);
    bus.execute_in_span(done, &[], &[], Some(SpanContext::new_root()));
    assert_eq!(seen.load(Ordering::Relaxed), 1);
}
