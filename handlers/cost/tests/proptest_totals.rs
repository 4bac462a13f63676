//! Property: whatever calls arrive, the per-event costs (priced independently with the price
//! table) sum exactly to the tracker's totals, per key and overall, and every event is counted
//! once as priced, unpriced or rejected.

use std::collections::HashMap;
use std::time::Duration;

use llm_telemetry_core::{Bus, Value};
use llm_telemetry_cost::{CostTracker, PriceTable, Usage, Usd};
use llm_telemetry_genai::catalog::{self, keys};
use proptest::prelude::*;

const MODELS: [(&str, Option<&str>); 6] = [
    ("gpt-4o", Some("openai")),
    ("claude-sonnet-4-5", None),
    ("gemini-2.5-pro", Some("gcp.gemini")),
    ("mistral/mistral-small-latest", None),
    ("gemini/gemini-2.5-flash", Some("gemini")),
    ("not-a-priced-model", Some("nobody")),
];
const TENANTS: [&str; 3] = ["", "acme", "globex"];

#[derive(Clone, Debug)]
struct Call {
    model: usize,
    tenant: usize,
    input: u64,
    cache_read: u64,
    cache_write: u64,
    output: u64,
    reasoning: u64,
    negative: bool,
}

fn call() -> impl Strategy<Value = Call> {
    (
        0..MODELS.len(),
        0..TENANTS.len(),
        0u64..400_000,
        0u64..=100,
        0u64..=100,
        0u64..20_000,
        0u64..=100,
        proptest::bool::weighted(0.05),
    )
        .prop_map(
            |(model, tenant, input, read_pct, write_pct, output, reasoning_pct, negative)| {
                let cache_read = input * read_pct / 200;
                let cache_write = input * write_pct / 200;
                Call {
                    model,
                    tenant,
                    input,
                    cache_read,
                    cache_write,
                    output,
                    reasoning: output * reasoning_pct / 100,
                    negative,
                }
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn per_event_costs_sum_to_the_totals(calls in proptest::collection::vec(call(), 1..200)) {
        let bus = Bus::new();
        let tracker = CostTracker::builder().attach(&bus).unwrap();
        let table = PriceTable::builtin();

        let mut expected_total = Usd::ZERO;
        let mut expected_by_tenant: HashMap<&str, Usd> = HashMap::new();
        let (mut priced, mut unpriced, mut rejected) = (0u64, 0u64, 0u64);
        for c in &calls {
            let (model, provider) = MODELS[c.model];
            let tenant = TENANTS[c.tenant];
            let input = if c.negative { -(c.input as f64) - 1.0 } else { c.input as f64 };
            let measurements = [
                (keys::INPUT_TOKENS, input),
                (keys::CACHE_READ_TOKENS, c.cache_read as f64),
                (keys::CACHE_WRITE_TOKENS, c.cache_write as f64),
                (keys::OUTPUT_TOKENS, c.output as f64),
                (keys::REASONING_TOKENS, c.reasoning as f64),
            ];
            let mut metadata = vec![(keys::MODEL, Value::Str(model))];
            if let Some(p) = provider {
                metadata.push((keys::PROVIDER, Value::Str(p)));
            }
            if !tenant.is_empty() {
                metadata.push((keys::TENANT, Value::Str(tenant)));
            }
            bus.execute(&catalog::LLM_CHAT_STOP, &measurements, &metadata);

            if c.negative {
                rejected += 1;
                continue;
            }
            let usage = Usage {
                input: c.input,
                output: c.output,
                cache_read: c.cache_read,
                cache_write: c.cache_write,
                reasoning: c.reasoning,
            };
            match table.cost(model, provider, &usage) {
                Some(cost) => {
                    priced += 1;
                    expected_total += cost;
                    *expected_by_tenant.entry(tenant).or_default() += cost;
                }
                None => unpriced += 1,
            }
        }

        prop_assert_eq!(tracker.total(), expected_total);
        for (tenant, cost) in &expected_by_tenant {
            prop_assert_eq!(tracker.tenant_total(tenant), *cost);
        }
        let per_key: Usd = tracker.totals().iter().map(|t| t.cost).sum();
        prop_assert_eq!(per_key, expected_total);
        let stats = tracker.stats();
        prop_assert_eq!((stats.priced, stats.unpriced, stats.rejected), (priced, unpriced, rejected));
        tracker.detach(Duration::ZERO).unwrap();
    }
}
