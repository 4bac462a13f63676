//! Concurrency: threads emit while another attaches and detaches repeatedly. A handler attached
//! for the whole run sees every event exactly once, a queued handler whose queue never fills loses
//! nothing, and nothing deadlocks. Bounded in iterations (and so in time).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use llm_telemetry_core::{Bus, Delivery, Event, EventName};

const EMITTERS: usize = 3;
const EVENTS_PER_EMITTER: u64 = 50_000;

#[test]
fn emitting_while_attaching_and_detaching_loses_nothing() {
    let bus = Bus::new();
    let name = EventName::new("test.stress.event").unwrap();
    let other = EventName::new("test.stress.other").unwrap();

    // Inline: counts, and checks exactly-once with a per-emitter bitmap of sequence numbers.
    let inline_count = Arc::new(AtomicU64::new(0));
    let seen: Arc<Vec<Mutex<Vec<u8>>>> = Arc::new(
        (0..EMITTERS)
            .map(|_| Mutex::new(vec![0u8; EVENTS_PER_EMITTER as usize]))
            .collect(),
    );
    {
        let count = inline_count.clone();
        let seen = seen.clone();
        bus.attach("steady-inline", "test.stress.*", move |e| {
            if e.name().as_str() != "test.stress.event" {
                return;
            }
            count.fetch_add(1, Ordering::Relaxed);
            let emitter = e.measurement("emitter").unwrap() as usize;
            let seq = e.measurement("seq").unwrap() as usize;
            seen[emitter].lock().unwrap()[seq] += 1;
        })
        .unwrap();
    }
    // Queued, with room for everything: loses nothing.
    let queued_count = Arc::new(AtomicU64::new(0));
    {
        let count = queued_count.clone();
        bus.attach_with(
            "steady-queued",
            "test.stress.event",
            move |_: &Event<'_>| {
                count.fetch_add(1, Ordering::Relaxed);
            },
            Delivery::Queued {
                capacity: (EMITTERS as u64 * EVENTS_PER_EMITTER) as usize,
            },
        )
        .unwrap();
    }

    let stop = Arc::new(AtomicBool::new(false));
    let churn = {
        let bus = bus.clone();
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut cycles = 0u64;
            while !stop.load(Ordering::Relaxed) && cycles < 20_000 {
                let delivery = if cycles % 2 == 0 {
                    Delivery::Inline
                } else {
                    Delivery::Queued { capacity: 16 }
                };
                bus.attach_with(
                    "churn",
                    ["test.stress.event", "test.stress.other"],
                    |_: &Event<'_>| {},
                    delivery,
                )
                .unwrap();
                bus.detach("churn").unwrap();
                cycles += 1;
            }
            cycles
        })
    };
    let emitters: Vec<_> = (0..EMITTERS)
        .map(|emitter| {
            let bus = bus.clone();
            std::thread::spawn(move || {
                for seq in 0..EVENTS_PER_EMITTER {
                    bus.execute(
                        name,
                        &[("emitter", emitter as f64), ("seq", seq as f64)],
                        &[],
                    );
                    if seq % 64 == 0 {
                        bus.execute(other, &[], &[]);
                    }
                }
            })
        })
        .collect();
    for e in emitters {
        e.join().expect("emitter thread");
    }
    stop.store(true, Ordering::Relaxed);
    let cycles = churn.join().expect("churn thread");
    assert!(cycles > 0);

    let total = EMITTERS as u64 * EVENTS_PER_EMITTER;
    assert_eq!(inline_count.load(Ordering::Relaxed), total);
    for (emitter, bitmap) in seen.iter().enumerate() {
        let bitmap = bitmap.lock().unwrap();
        if let Some(seq) = bitmap.iter().position(|n| *n != 1) {
            panic!(
                "emitter {emitter} seq {seq} delivered {} times",
                bitmap[seq]
            );
        }
    }
    assert!(bus.drain(Duration::from_secs(30)), "queued handler drained");
    assert_eq!(queued_count.load(Ordering::Relaxed), total);
    let stats = bus.stats();
    let q = stats.handler("steady-queued").unwrap();
    assert_eq!((q.delivered, q.dropped), (total, 0));
    assert!(bus.shutdown(Duration::from_secs(10)).is_complete());
}
