//! The tracker as a handle, the shape every handler crate shares: `stats` exact after a known
//! number of events, `flush` bounded by its deadline, and `detach` after which nothing more is
//! priced and the stats stay as they were.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use llm_telemetry_core::testing::Capture;
use llm_telemetry_core::{Bus, Delivery, LifecycleError, Value};
use llm_telemetry_cost::{CostTracker, CostTrackerBuilder, ModelPrice, PriceTable, Usd};
use llm_telemetry_genai::catalog::{self, keys};

/// A tracker that prices `cent-model` at exactly one cent per input token.
fn builder() -> CostTrackerBuilder {
    let mut table = PriceTable::new();
    table
        .insert(
            "cent-model",
            ModelPrice::new(Usd::from_cents(1), Usd::ZERO).with_provider("test"),
        )
        .unwrap();
    CostTracker::builder().prices(table)
}

/// What call `i` is: priced, of an unpriced model, rejected (negative tokens) or not a call.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Priced,
    Unpriced,
    Rejected,
    NotACall,
}

fn kind(i: usize) -> Kind {
    match i % 7 {
        0..=2 => Kind::Priced,
        3..=4 => Kind::Unpriced,
        5 => Kind::Rejected,
        _ => Kind::NotACall,
    }
}

/// Emits call `i`; a priced call spends `i` cents plus one.
fn emit(bus: &Bus, i: usize) {
    let cents = (i + 1) as f64;
    let (model, measurements) = match kind(i) {
        Kind::Priced => ("cent-model", vec![(keys::INPUT_TOKENS, cents)]),
        Kind::Unpriced => ("no-such-model", vec![(keys::INPUT_TOKENS, cents)]),
        Kind::Rejected => ("cent-model", vec![(keys::INPUT_TOKENS, -cents)]),
        Kind::NotACall => ("cent-model", vec![(keys::DURATION, 1e9)]),
    };
    bus.execute(
        &catalog::LLM_CHAT_STOP,
        &measurements,
        &[(keys::MODEL, Value::Str(model))],
    );
}

fn count(n: usize, k: Kind) -> u64 {
    (0..n).filter(|&i| kind(i) == k).count() as u64
}

fn spent(n: usize) -> Usd {
    (0..n)
        .filter(|&i| kind(i) == Kind::Priced)
        .map(|i| Usd::from_cents((i + 1) as u64))
        .sum()
}

#[test]
fn stats_are_exact_after_n_events() {
    const N: usize = 45;
    let bus = Bus::new();
    let tracker = builder().attach(&bus).unwrap();
    for i in 0..N {
        emit(&bus, i);
    }
    let stats = tracker.stats();
    assert_eq!(stats.priced, count(N, Kind::Priced));
    assert_eq!(stats.unpriced, count(N, Kind::Unpriced));
    assert_eq!(stats.rejected, count(N, Kind::Rejected));
    assert_eq!(stats.not_calls, count(N, Kind::NotACall));
    assert_eq!(
        stats.priced + stats.unpriced + stats.rejected + stats.not_calls,
        N as u64,
        "every event is counted once"
    );
    assert_eq!(
        (
            stats.overflowed,
            stats.warnings_suppressed,
            stats.queue_dropped
        ),
        (0, 0, 0)
    );
    assert_eq!(tracker.total(), spent(N));
    tracker.detach(Duration::from_secs(1)).unwrap();
}

#[test]
fn detach_then_emit_prices_nothing_and_freezes_the_stats() {
    const BEFORE: usize = 14;
    let bus = Bus::new();
    let tracker = builder().attach(&bus).unwrap();
    let costs = Capture::attach(&bus, ["llm.cost.calculated"]).unwrap();
    for i in 0..BEFORE {
        emit(&bus, i);
    }
    assert_eq!(tracker.detach(Duration::from_secs(1)), Ok(()));
    assert!(bus.list_handlers("llm.chat").is_empty());
    let frozen = tracker.stats();
    assert_eq!(frozen.priced, count(BEFORE, Kind::Priced));
    let emitted = costs.events().len();
    assert_eq!(emitted as u64, frozen.priced);

    for i in 0..BEFORE {
        emit(&bus, i);
    }
    assert_eq!(tracker.stats(), frozen);
    assert_eq!(tracker.total(), spent(BEFORE));
    assert_eq!(costs.events().len(), emitted, "nothing more emitted");
    assert_eq!(
        tracker.detach(Duration::from_secs(1)),
        Err(LifecycleError::AlreadyShutDown)
    );
    assert_eq!(
        tracker.flush(Duration::from_secs(1)),
        Err(LifecycleError::AlreadyShutDown)
    );
}

#[test]
fn flush_waits_for_the_queue_and_returns_by_its_deadline() {
    const N: usize = 60;
    const CAPACITY: usize = 16;
    let bus = Bus::new();
    let tracker = builder()
        .id("cost-queued")
        .delivery(Delivery::Queued { capacity: CAPACITY })
        .attach(&bus)
        .unwrap();
    // Holds the tracker's worker: it emits `llm.cost.calculated` from its handler, and this
    // inline handler of that event waits for the gate.
    let hold = Arc::new(AtomicBool::new(true));
    let gate = Arc::clone(&hold);
    bus.attach("gate", &catalog::LLM_COST_CALCULATED, move |_| {
        while gate.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(1));
        }
    })
    .unwrap();
    for i in 0..N {
        emit(&bus, i * 7); // kind(i * 7) is Priced
    }

    llm_telemetry_core::testing::assert_flush_gives_up_at(Duration::from_millis(100), |wait| {
        tracker.flush(wait)
    });

    hold.store(false, Ordering::SeqCst);
    assert_eq!(tracker.flush(Duration::from_secs(10)), Ok(()));
    let stats = tracker.stats();
    let bus_dropped = bus.stats().handler("cost-queued").unwrap().dropped;
    assert!(
        stats.queue_dropped > 0,
        "a held queue of {CAPACITY} overflows"
    );
    assert_eq!(stats.queue_dropped, bus_dropped);
    assert_eq!(
        stats.priced + stats.queue_dropped,
        N as u64,
        "every event was priced or dropped, right after the flush"
    );

    tracker.detach(Duration::from_secs(5)).unwrap();
    assert_eq!(
        tracker.stats(),
        stats,
        "the drop count is kept at the detach"
    );
}

#[test]
fn a_tracker_never_attached_has_nothing_to_flush_or_detach() {
    let tracker = builder().build().unwrap();
    assert_eq!(tracker.handler_id(), None);
    assert_eq!(
        tracker.flush(Duration::ZERO),
        Err(LifecycleError::AlreadyShutDown)
    );
    assert_eq!(
        tracker.detach(Duration::ZERO),
        Err(LifecycleError::AlreadyShutDown)
    );
}
