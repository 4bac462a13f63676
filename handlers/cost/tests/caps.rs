//! The key cap under attack: junk model names never take the room priced calls need, the cap is
//! never overshot by concurrent first calls, and every call past it lands in the overflow totals,
//! exactly.

use std::time::Duration;

use llm_telemetry_core::{Bus, Value};
use llm_telemetry_cost::{CostTracker, DEFAULT_MAX_KEYS, OVERFLOW_LABEL, Usd};
use llm_telemetry_genai::catalog::{self, keys};

const TOKENS: [(&str, f64); 3] = [
    (keys::DURATION, 1.5e9),
    (keys::INPUT_TOKENS, 1_000.0),
    (keys::OUTPUT_TOKENS, 200.0),
];

fn chat_stop(bus: &Bus, model: &str, tenant: &str) {
    bus.execute(
        &catalog::LLM_CHAT_STOP,
        &TOKENS,
        &[
            (keys::MODEL, Value::Str(model)),
            (keys::PROVIDER, Value::Str("openai")),
            (keys::TENANT, Value::Str(tenant)),
        ],
    );
}

/// The price of one `TOKENS` call of gpt-4o ($2.50 in, $10 out per million tokens).
fn one_call() -> Usd {
    "0.0045".parse().unwrap()
}

#[test]
fn junk_model_names_never_starve_priced_calls_of_their_totals() {
    let bus = Bus::new();
    let tracker = CostTracker::builder().attach(&bus).unwrap();
    for i in 0..DEFAULT_MAX_KEYS + 500 {
        chat_stop(&bus, &format!("junk-model-{i}"), "mallory");
    }
    for _ in 0..1_000 {
        chat_stop(&bus, "gpt-4o", "acme");
    }
    let acme = tracker.total_for("acme", "openai", "gpt-4o");
    assert_eq!(acme.as_ref().map(|t| t.calls), Some(1_000), "{acme:?}");
    assert_eq!(tracker.tenant_total("acme"), one_call() * 1_000);
    let stats = tracker.stats();
    assert_eq!(stats.unpriced, DEFAULT_MAX_KEYS as u64 + 500);
    assert_eq!(stats.overflowed, 0);
    assert_eq!(stats.priced, 1_000);
    tracker.detach(Duration::ZERO).unwrap();
}

#[test]
fn concurrent_first_calls_never_overshoot_the_cap_and_the_overflow_is_exact() {
    const CAP: usize = 64;
    const THREADS: usize = 4;
    const TENANTS_PER_THREAD: usize = 100;
    const ROUNDS: usize = 5;
    for _ in 0..20 {
        let bus = Bus::new();
        let tracker = CostTracker::builder().max_keys(CAP).attach(&bus).unwrap();
        let barrier = std::sync::Arc::new(std::sync::Barrier::new(THREADS));
        let threads: Vec<_> = (0..THREADS)
            .map(|t| {
                let bus = bus.clone();
                let barrier = barrier.clone();
                std::thread::spawn(move || {
                    barrier.wait();
                    for round in 0..ROUNDS {
                        for i in 0..TENANTS_PER_THREAD {
                            // Threads interleave over the same tenants, racing on first calls.
                            let tenant = format!("tenant-{}", (i * THREADS + t + round) % 300);
                            chat_stop(&bus, "gpt-4o", &tenant);
                        }
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        let calls = (THREADS * TENANTS_PER_THREAD * ROUNDS) as u64;
        let totals = tracker.totals();
        let keyed: Vec<_> = totals
            .iter()
            .filter(|t| t.tenant != OVERFLOW_LABEL)
            .collect();
        assert!(
            keyed.len() <= CAP,
            "{} keys past a cap of {CAP}",
            keyed.len()
        );
        let overflow = totals
            .iter()
            .find(|t| t.tenant == OVERFLOW_LABEL)
            .map_or(0, |t| t.calls);
        let kept: u64 = keyed.iter().map(|t| t.calls).sum();
        assert_eq!(kept + overflow, calls, "every call in one total");
        assert_eq!(
            tracker.stats().overflowed,
            overflow,
            "overflow counted exactly"
        );
        assert_eq!(tracker.total(), one_call() * calls);
        tracker.detach(Duration::ZERO).unwrap();
    }
}
