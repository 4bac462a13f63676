//! `cargo bench -p llm-telemetry-cost --bench cost`: the cost handler bench.
//!
//! | case | ours | peer |
//! |---|---|---|
//! | chat_stop_cost | one `llm.chat.stop` (duration, input, output and cache-read tokens; model, provider, tenant) priced by the cost tracker and added to its totals, through the bus | the core's `inline_counter` case: the same event to one inline handler bumping an AtomicU64, measured in the same run |
//!
//! Target: ratio ≤ 4.0. Extras (no target), in `target/bench/cost-extra.json`: the same call with
//! a listener on `llm.cost.calculated` (the event is built and delivered), with a day and a
//! lifetime budget (one clock read, budget checks), and rotating over 64 tenants.

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use criterion::Criterion;
use llm_telemetry_bench_support::{self as support, Rounds, Row, Side};
use llm_telemetry_core::{Bus, Value};
use llm_telemetry_cost::{Budget, CostTracker, CostTrackerBuilder, Usd, Window};
use llm_telemetry_genai::catalog::{self, keys};

const MEASUREMENTS: [(&str, f64); 4] = [
    (keys::DURATION, 1.25e9),
    (keys::INPUT_TOKENS, 1_200.0),
    (keys::CACHE_READ_TOKENS, 800.0),
    (keys::OUTPUT_TOKENS, 350.0),
];

fn emit(bus: &Bus, tenant: &str) {
    bus.execute(
        &catalog::LLM_CHAT_STOP,
        &black_box(MEASUREMENTS),
        &[
            (keys::MODEL, Value::Str(black_box("gpt-4o"))),
            (keys::PROVIDER, Value::Str(black_box("openai"))),
            (keys::TENANT, Value::Str(black_box(tenant))),
        ],
    );
}

fn cost_bus(builder: CostTrackerBuilder) -> (Bus, CostTracker) {
    let bus = Bus::new();
    let tracker = builder.attach(&bus).expect("attach the cost tracker");
    (bus, tracker)
}

fn counting_bus() -> (Bus, Arc<AtomicU64>) {
    let bus = Bus::new();
    let count = Arc::new(AtomicU64::new(0));
    let c = Arc::clone(&count);
    bus.attach("counter", "llm.chat.stop", move |_| {
        c.fetch_add(1, Ordering::Relaxed);
    })
    .expect("attach the counter");
    (bus, count)
}

fn chat_stop_cost(runner: &Rounds) -> Option<Row> {
    let (bus, tracker) = cost_bus(CostTracker::builder());
    emit(&bus, "acme"); // resolve the key once, as any long-running service has
    assert_eq!(tracker.stats().priced, 1, "the tracker priced the call");
    let (peer_bus, count) = counting_bus();
    emit(&peer_bus, "acme");
    assert_eq!(count.load(Ordering::Relaxed), 1, "the counter ran");
    let row = runner.compare(
        "chat_stop_cost",
        "core inline_counter: the same llm.chat.stop to one inline handler bumping an AtomicU64",
        4.0,
        Side::call(|| emit(&bus, "acme")),
        Side::call(|| emit(&peer_bus, "acme")),
    );
    assert_eq!(tracker.stats().unpriced + tracker.stats().rejected, 0);
    bus.detach(llm_telemetry_cost::HANDLER_ID).expect("detach");
    row
}

fn extras(c: &mut Criterion) -> Vec<serde_json::Value> {
    let mut rows = Vec::new();
    let mut record = |c: &mut Criterion, id: &str, what: &str, run: &dyn Fn()| {
        let mut g = c.benchmark_group("cost_extra");
        g.bench_function(id, |b| b.iter(run));
        g.finish();
        // Skipped when a filter left the case out (e.g. while profiling another one).
        let ran = support::target_dir()
            .join("criterion/cost_extra")
            .join(id)
            .join("new/estimates.json")
            .exists();
        if ran {
            rows.push(serde_json::json!({
                "case": id,
                "what": what,
                "ns": support::estimate_ns("cost_extra", id),
            }));
        }
    };

    let (bus, _tracker) = cost_bus(CostTracker::builder());
    let heard = Arc::new(AtomicU64::new(0));
    let h = Arc::clone(&heard);
    bus.attach("cost-listener", "llm.cost.calculated", move |e| {
        if e.measurement(keys::COST_USD).is_some() {
            h.fetch_add(1, Ordering::Relaxed);
        }
    })
    .expect("attach listener");
    emit(&bus, "acme");
    assert_eq!(heard.load(Ordering::Relaxed), 1);
    record(
        c,
        "with_cost_listener",
        "chat_stop_cost plus an inline listener on llm.cost.calculated",
        &|| emit(&bus, "acme"),
    );
    bus.detach(llm_telemetry_cost::HANDLER_ID).expect("detach");

    let tracker = CostTracker::builder()
        .budget(Budget::global(
            Window::Lifetime,
            Usd::from_dollars(1_000_000),
        ))
        .budget(Budget::tenant(
            "acme",
            Window::Day,
            Usd::from_dollars(1_000_000),
        ));
    let (bus, _tracker) = cost_bus(tracker);
    record(
        c,
        "with_budgets",
        "chat_stop_cost with a global lifetime and a tenant day budget",
        &|| emit(&bus, "acme"),
    );
    bus.detach(llm_telemetry_cost::HANDLER_ID).expect("detach");

    let (bus, tracker) = cost_bus(CostTracker::builder());
    let tenants: Vec<String> = (0..64).map(|i| format!("tenant-{i}")).collect();
    let next = AtomicU64::new(0);
    record(
        c,
        "rotating_64_tenants",
        "chat_stop_cost over 64 tenants in turn (64 keys, cache misses in the key table)",
        &|| {
            let i = next.fetch_add(1, Ordering::Relaxed) as usize % tenants.len();
            emit(&bus, &tenants[i]);
        },
    );
    assert!(tracker.stats().rejected + tracker.stats().unpriced == 0);
    bus.detach(llm_telemetry_cost::HANDLER_ID).expect("detach");
    rows
}

fn main() {
    let runner = Rounds::from_env();
    let row = chat_stop_cost(&runner);
    let mut c = support::criterion();
    let extra = extras(&mut c);
    c.final_summary();
    // Only a complete `cargo bench` run writes the report (see `support::measuring`).
    if !runner.complete() {
        return;
    }
    support::write_report("cost", &row.into_iter().collect::<Vec<_>>());
    support::write_json("cost-extra", &serde_json::Value::Array(extra));
}
