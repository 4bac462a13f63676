//! The dispatch table under many handlers: 10,000 attaches deliver exactly, detaches (and the
//! slot compaction they trigger) keep every other handler's events and order, names registered
//! after an attach reach the wildcard handlers that match them, and a random sequence of
//! attaches, detaches and emits delivers what a naive pattern matcher says it should.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use llm_telemetry_core::{Bus, EventName, Pattern};
use proptest::prelude::*;

fn name(text: &str) -> EventName {
    EventName::new(text).unwrap()
}

fn counters(n: usize) -> Arc<Vec<AtomicU64>> {
    Arc::new((0..n).map(|_| AtomicU64::new(0)).collect())
}

#[test]
fn ten_thousand_handlers_each_receive_exactly_their_events() {
    const N: usize = 10_000;
    const GROUP: usize = 100;
    let names: Vec<EventName> = (0..N)
        .map(|i| name(&format!("routes.g{}.n{i}.stop", i / GROUP)))
        .collect();
    let bus = Bus::new();
    let exact = counters(N);
    let groups = counters(N / GROUP);
    for (i, n) in names.iter().enumerate() {
        let exact = Arc::clone(&exact);
        bus.attach(format!("exact-{i}"), n, move |_| {
            exact[i].fetch_add(1, Ordering::Relaxed);
        })
        .unwrap();
        if i % GROUP == 0 {
            let g = i / GROUP;
            let groups = Arc::clone(&groups);
            bus.attach(
                format!("group-{g}"),
                format!("routes.g{g}.*.stop").as_str(),
                move |_| {
                    groups[g].fetch_add(1, Ordering::Relaxed);
                },
            )
            .unwrap();
        }
    }
    assert_eq!(bus.list_handlers("").len(), N + N / GROUP);
    for n in &names {
        bus.execute(*n, &[], &[]);
    }
    for (i, c) in exact.iter().enumerate() {
        assert_eq!(c.load(Ordering::Relaxed), 1, "exact handler {i}");
    }
    for (g, c) in groups.iter().enumerate() {
        assert_eq!(c.load(Ordering::Relaxed), GROUP as u64, "group handler {g}");
    }
    let stats = bus.stats();
    assert_eq!(stats.handler("exact-9999").unwrap().delivered, 1);
    assert_eq!(stats.handler("group-99").unwrap().delivered, GROUP as u64);

    // Detach three exact handlers in four: more than half the slots become holes, so the
    // routes compact and renumber every slot; the survivors must keep receiving, exactly.
    for i in (0..N).filter(|i| i % 4 != 0) {
        bus.detach(&format!("exact-{i}")).unwrap();
    }
    for n in &names {
        bus.execute(*n, &[], &[]);
    }
    for (i, c) in exact.iter().enumerate() {
        let expected = if i % 4 == 0 { 2 } else { 1 };
        assert_eq!(c.load(Ordering::Relaxed), expected, "exact handler {i}");
    }
    for (g, c) in groups.iter().enumerate() {
        assert_eq!(c.load(Ordering::Relaxed), 2 * GROUP as u64, "group {g}");
    }
    let stats = bus.stats();
    assert_eq!(stats.handler("exact-9996").unwrap().delivered, 2);
    assert!(stats.handler("exact-9997").is_none());
    assert_eq!(
        stats.handler("group-0").unwrap().delivered,
        2 * GROUP as u64
    );
    assert_eq!(bus.list_handlers("").len(), N / 4 + N / GROUP);
}

#[test]
fn handlers_of_one_name_run_in_attach_order_across_detaches_and_compaction() {
    let target = name("routes.order.target.stop");
    let bus = Bus::new();
    let calls = Arc::new(Mutex::new(Vec::<String>::new()));
    let order = ["a", "b", "wild", "c", "d"];
    for (k, id) in order.iter().enumerate() {
        // Fillers between the handlers under test, to be detached: they force compactions.
        for f in 0..100 {
            bus.attach(
                format!("filler-{k}-{f}"),
                "routes.order.filler.stop",
                |_| {},
            )
            .unwrap();
        }
        let pattern = if *id == "wild" {
            "routes.order.*"
        } else {
            "routes.order.target.stop"
        };
        let calls = Arc::clone(&calls);
        let recorded = id.to_string();
        bus.attach(*id, pattern, move |_| {
            calls.lock().unwrap().push(recorded.clone())
        })
        .unwrap();
    }
    for k in 0..order.len() {
        for f in 0..100 {
            bus.detach(&format!("filler-{k}-{f}")).unwrap();
        }
    }
    bus.detach("b").unwrap();
    bus.execute(target, &[], &[]);
    assert_eq!(*calls.lock().unwrap(), ["a", "wild", "c", "d"]);
    let listed: Vec<String> = bus.list_handlers("").into_iter().map(|h| h.id).collect();
    assert_eq!(listed, ["a", "wild", "c", "d"]);
}

#[test]
fn a_name_registered_after_the_attach_reaches_the_wildcards_that_match_it() {
    let bus = Bus::new();
    let seen = counters(3);
    for (i, pattern) in ["routes.late.*", "routes.*.stop", "routes.other.*"]
        .into_iter()
        .enumerate()
    {
        let seen = Arc::clone(&seen);
        bus.attach(format!("w{i}"), pattern, move |_| {
            seen[i].fetch_add(1, Ordering::Relaxed);
        })
        .unwrap();
    }
    // This thread caches the table as it is now, before the late name exists ...
    bus.execute(name("routes.other.early"), &[], &[]);
    // ... then a name is registered only now, after every attach, and emitted before and after
    // a later attach: the cached table must not be used for it.
    let late = name("routes.late.stop");
    assert!(bus.is_listening(late));
    bus.execute(late, &[], &[]);
    bus.attach("exact", late, |_| {}).unwrap();
    bus.execute(late, &[], &[]);
    let unheard = name("routes.unheard.start");
    assert!(!bus.is_listening(unheard));
    let counts: Vec<u64> = seen.iter().map(|c| c.load(Ordering::Relaxed)).collect();
    assert_eq!(counts, [2, 2, 1]);
    assert_eq!(bus.stats().handler("exact").unwrap().delivered, 1);
}

#[test]
fn a_handler_with_overlapping_patterns_is_called_once_per_event() {
    let bus = Bus::new();
    let calls = counters(1);
    let c = Arc::clone(&calls);
    bus.attach(
        "overlap",
        ["routes.dup.stop", "routes.dup.*", "routes.*.stop", "*"],
        move |_| {
            c[0].fetch_add(1, Ordering::Relaxed);
        },
    )
    .unwrap();
    bus.execute(name("routes.dup.stop"), &[], &[]);
    assert_eq!(calls[0].load(Ordering::Relaxed), 1);
}

#[test]
fn emitting_threads_see_every_attach_and_detach_of_a_concurrent_writer() {
    let names: Vec<EventName> = (0..64)
        .map(|i| name(&format!("routes.live.n{i}")))
        .collect();
    let bus = Bus::new();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let emitters: Vec<_> = (0..2)
        .map(|_| {
            let bus = bus.clone();
            let names = names.clone();
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                let mut emitted = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    for n in &names {
                        bus.execute(*n, &[], &[]);
                        emitted += 1;
                    }
                }
                emitted
            })
        })
        .collect();
    // Each handler counts its own calls; the bus's stats must agree with every one of them,
    // including handlers detached while events flowed.
    let mut calls = Vec::new();
    for round in 0..2_000usize {
        let c = Arc::new(AtomicU64::new(0));
        let counted = Arc::clone(&c);
        let pattern = if round % 3 == 0 {
            "routes.live.*".to_owned()
        } else {
            format!("routes.live.n{}", round % 64)
        };
        bus.attach(format!("h{round}"), pattern.as_str(), move |_| {
            counted.fetch_add(1, Ordering::Relaxed);
        })
        .unwrap();
        calls.push(c);
        if round >= 100 && round % 2 == 0 {
            bus.detach(&format!("h{}", round - 100)).unwrap();
        }
    }
    stop.store(true, Ordering::Relaxed);
    let emitted: u64 = emitters.into_iter().map(|t| t.join().unwrap()).sum();
    assert!(emitted > 0);
    let stats = bus.stats();
    let mut checked = 0;
    for (round, c) in calls.iter().enumerate() {
        if let Some(h) = stats.handler(&format!("h{round}")) {
            assert_eq!(h.delivered, c.load(Ordering::Relaxed), "handler h{round}");
            checked += 1;
        }
    }
    assert_eq!(checked, 2_000 - 950);
}

#[derive(Clone, Debug)]
enum Op {
    Attach(usize, Vec<String>),
    Detach(usize),
    Emit(usize),
}

const NAMES: [&str; 6] = [
    "routes.prop.chat.start",
    "routes.prop.chat.stop",
    "routes.prop.embed.stop",
    "routes.prop.embed.start",
    "routes.other.chat.stop",
    "routes.prop.deep.chat.stop",
];
const PATTERNS: [&str; 8] = [
    "routes.prop.chat.start",
    "routes.prop.chat.stop",
    "routes.prop.*.stop",
    "routes.prop.*",
    "routes.*.chat.stop",
    "*",
    "routes.prop.embed.*",
    "routes.other.chat.stop",
];

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0..120usize, prop::collection::vec(0..PATTERNS.len(), 1..3))
            .prop_map(|(h, ps)| Op::Attach(h, ps.into_iter().map(|p| PATTERNS[p].to_owned()).collect())),
        2 => (0..120usize).prop_map(Op::Detach),
        3 => (0..NAMES.len()).prop_map(Op::Emit),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn random_attaches_detaches_and_emits_deliver_what_the_patterns_say(ops in prop::collection::vec(op(), 1..400)) {
        let bus = Bus::new();
        let received = counters(120);
        let mut model: HashMap<usize, Vec<Pattern>> = HashMap::new();
        let mut expected = vec![0u64; 120];
        for op in ops {
            match op {
                Op::Attach(h, patterns) => {
                    let r = Arc::clone(&received);
                    let result = bus.attach(format!("p{h}"), patterns.clone(), move |_| {
                        r[h].fetch_add(1, Ordering::Relaxed);
                    });
                    prop_assert_eq!(result.is_ok(), !model.contains_key(&h));
                    model.entry(h).or_insert_with(|| patterns.iter().map(|p| Pattern::parse(p).unwrap()).collect());
                }
                Op::Detach(h) => {
                    prop_assert_eq!(bus.detach(&format!("p{h}")).is_ok(), model.remove(&h).is_some());
                }
                Op::Emit(n) => {
                    let n = name(NAMES[n]);
                    for (h, patterns) in &model {
                        if patterns.iter().any(|p| p.matches(&n)) {
                            expected[*h] += 1;
                        }
                    }
                    prop_assert_eq!(bus.is_listening(n), model.values().any(|ps| ps.iter().any(|p| p.matches(&n))));
                    bus.execute(n, &[], &[]);
                }
            }
        }
        for h in 0..120 {
            prop_assert_eq!(received[h].load(Ordering::Relaxed), expected[h], "handler p{}", h);
        }
    }
}

/// A handler that declines some names its patterns match: it never receives them, inline or
/// queued, and a name nobody else wants is not listened to at all.
#[test]
fn a_handler_never_receives_the_names_it_declines() {
    use llm_telemetry_core::{Delivery, Event, Handler};
    struct Stops(Arc<AtomicU64>);
    impl Handler for Stops {
        fn handle(&self, e: &Event<'_>) {
            assert_eq!(e.name().phase(), "stop", "a declined name was delivered");
            self.0.fetch_add(1, Ordering::Relaxed);
        }
        fn wants(&self, name: EventName) -> bool {
            name.phase() == "stop"
        }
    }
    let bus = Bus::new();
    let inline = Arc::new(AtomicU64::new(0));
    let queued = Arc::new(AtomicU64::new(0));
    bus.attach_with(
        "inline",
        "routes.wants.*",
        Stops(inline.clone()),
        Delivery::Inline,
    )
    .unwrap();
    bus.attach_with(
        "queued",
        ["routes.wants.job.start", "routes.wants.*"],
        Stops(queued.clone()),
        Delivery::queued(),
    )
    .unwrap();
    let (start, stop) = (
        name("routes.wants.job.start"),
        name("routes.wants.job.stop"),
    );
    // Registered after the attaches: declined on first sight too.
    let late = name("routes.wants.late.start");
    for n in [start, stop, late, stop] {
        bus.execute(n, &[], &[]);
    }
    assert!(!bus.is_listening(start) && !bus.is_listening(late));
    assert!(bus.drain(std::time::Duration::from_secs(5)));
    assert_eq!(inline.load(Ordering::Relaxed), 2);
    assert_eq!(queued.load(Ordering::Relaxed), 2);
    let stats = bus.stats();
    assert_eq!(stats.handler("queued").unwrap().delivered, 2);
    assert_eq!(stats.handler("queued").unwrap().dropped, 0);
}
