//! The tracker attached to a real bus: what it emits, what it adds up, and what it does with
//! bad input.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use llm_telemetry_core::testing::Capture;
use llm_telemetry_core::{Bus, Delivery, Event, Value};
use llm_telemetry_cost::{
    CostStats, CostTracker, HANDLER_ID, ModelPrice, OVERFLOW_LABEL, Outcome, PriceTable, Rejection,
    TokenAccounting, Usd,
};
use llm_telemetry_genai::catalog::{self, keys};

fn usd(text: &str) -> Usd {
    text.parse().unwrap()
}

fn chat_stop(
    bus: &Bus,
    model: &str,
    provider: Option<&str>,
    tenant: Option<&str>,
    m: &[(&'static str, f64)],
) {
    let mut metadata = vec![(keys::MODEL, Value::Str(model))];
    if let Some(p) = provider {
        metadata.push((keys::PROVIDER, Value::Str(p)));
    }
    if let Some(t) = tenant {
        metadata.push((keys::TENANT, Value::Str(t)));
    }
    bus.execute(&catalog::LLM_CHAT_STOP, m, &metadata);
}

fn tokens(input: f64, output: f64) -> [(&'static str, f64); 3] {
    [
        (keys::DURATION, 1.5e9),
        (keys::INPUT_TOKENS, input),
        (keys::OUTPUT_TOKENS, output),
    ]
}

#[test]
fn emits_cost_calculated_with_model_provider_and_tenant() {
    let bus = Bus::new();
    let tracker = CostTracker::builder().attach(&bus).unwrap();
    let capture = Capture::attach(&bus, ["llm.cost.*"]).unwrap();

    chat_stop(
        &bus,
        "gpt-4o",
        Some("openai"),
        Some("acme"),
        &tokens(1_000.0, 200.0),
    );
    // No provider in the metadata: the price table's provider is reported.
    chat_stop(
        &bus,
        "claude-haiku-4-5",
        None,
        Some("acme"),
        &tokens(10_000.0, 1_000.0),
    );
    // No tenant: the event carries none.
    chat_stop(
        &bus,
        "gpt-4o-mini",
        Some("openai"),
        None,
        &tokens(1_000_000.0, 0.0),
    );

    let events = capture.named("llm.cost.calculated");
    assert_eq!(events.len(), 3);
    assert_eq!(events[0].measurement(keys::COST_USD), Some(0.0045));
    assert_eq!(events[0].str(keys::MODEL), Some("gpt-4o"));
    assert_eq!(events[0].str(keys::PROVIDER), Some("openai"));
    assert_eq!(events[0].str(keys::TENANT), Some("acme"));
    // claude-haiku-4-5: 10,000 × $1/M + 1,000 × $5/M = 0.015.
    assert_eq!(events[1].measurement(keys::COST_USD), Some(0.015));
    assert_eq!(events[1].str(keys::PROVIDER), Some("anthropic"));
    // gpt-4o-mini: 1M × $0.15/M.
    assert_eq!(events[2].measurement(keys::COST_USD), Some(0.15));
    assert_eq!(events[2].str(keys::TENANT), None);

    assert_eq!(
        tracker
            .total_for("acme", "anthropic", "claude-haiku-4-5")
            .unwrap()
            .cost,
        usd("0.015")
    );
    assert_eq!(tracker.tenant_total("acme"), usd("0.0195"));
    assert_eq!(tracker.total(), usd("0.1695"));
    let totals = tracker.totals();
    assert_eq!(totals.len(), 3);
    assert_eq!(totals[0].tenant, "");
    assert_eq!(totals[0].model, "gpt-4o-mini");
    assert_eq!(totals[0].calls, 1);
    assert_eq!(
        tracker.stats(),
        CostStats {
            priced: 3,
            ..CostStats::default()
        }
    );
    tracker.detach(Duration::ZERO).unwrap();
}

#[test]
fn repeated_calls_add_up_exactly() {
    let bus = Bus::new();
    let tracker = CostTracker::builder().attach(&bus).unwrap();
    // gpt-5-nano: $0.05/M input, $0.40/M output. 7 input + 3 output = 3.5e-7 + 1.2e-6
    // = 1.55e-6 per call; 10,000 calls = 0.0155 exactly (a float sum would drift).
    for _ in 0..10_000 {
        chat_stop(
            &bus,
            "gpt-5-nano",
            Some("openai"),
            Some("t"),
            &tokens(7.0, 3.0),
        );
    }
    let total = tracker.total_for("t", "openai", "gpt-5-nano").unwrap();
    assert_eq!(total.calls, 10_000);
    assert_eq!(total.cost, usd("0.0155"));
    tracker.detach(Duration::ZERO).unwrap();
}

#[test]
fn cache_and_reasoning_tokens_through_the_bus() {
    let bus = Bus::new();
    let tracker = CostTracker::builder()
        .price(
            "house-reasoner",
            ModelPrice::new(usd("2e-06"), usd("8e-06"))
                .with_cache_read(usd("5e-07"))
                .with_cache_write(usd("2.5e-06"))
                .with_reasoning(usd("1e-05"))
                .with_provider("house"),
        )
        .attach(&bus)
        .unwrap();
    bus.execute(
        &catalog::LLM_GENERATE_STOP,
        &[
            (keys::INPUT_TOKENS, 3_000.0),
            (keys::CACHE_READ_TOKENS, 1_000.0),
            (keys::CACHE_WRITE_TOKENS, 500.0),
            (keys::OUTPUT_TOKENS, 700.0),
            (keys::REASONING_TOKENS, 600.0),
        ],
        &[(keys::MODEL, Value::Str("house-reasoner"))],
    );
    // 1,500 × 2e-6 = 0.003; 1,000 × 5e-7 = 0.0005; 500 × 2.5e-6 = 0.00125;
    // 100 × 8e-6 = 0.0008; 600 × 1e-5 = 0.006. Total 0.01155.
    assert_eq!(tracker.total(), usd("0.01155"));
    assert_eq!(tracker.totals()[0].provider, "house");
    tracker.detach(Duration::ZERO).unwrap();
}

#[test]
fn anthropic_style_accounting_adds_cache_tokens_to_the_input() {
    let tracker = CostTracker::builder()
        .token_accounting(TokenAccounting::ANTHROPIC)
        .build()
        .unwrap();
    let name = catalog::LLM_CHAT_STOP.get();
    // Anthropic's usage: input_tokens 2,000 *besides* 8,000 cache reads.
    // claude-sonnet-4-5: 2,000 × 3e-6 + 8,000 × 3e-7 + 100 × 1.5e-5 = 0.006 + 0.0024 + 0.0015.
    let m = [
        (keys::INPUT_TOKENS, 2_000.0),
        (keys::CACHE_READ_TOKENS, 8_000.0),
        (keys::OUTPUT_TOKENS, 100.0),
    ];
    let md = [(keys::MODEL, Value::Str("claude-sonnet-4-5"))];
    let outcome = tracker.record(&Event::new(name, &m, &md, None)).unwrap();
    assert_eq!(
        outcome,
        Outcome::Priced {
            cost: usd("0.0099")
        }
    );
    // The same counts under the default (inclusive) accounting are inconsistent: rejected.
    let inclusive = CostTracker::builder().build().unwrap();
    assert!(matches!(
        inclusive.record(&Event::new(name, &m, &md, None)),
        Err(Rejection::CacheExceedsInput {
            input: 2_000,
            cache_read: 8_000,
            ..
        })
    ));
    assert_eq!(inclusive.stats().rejected, 1);
}

#[test]
fn unknown_models_are_counted_and_announced_once() {
    let bus = Bus::new();
    let tracker = CostTracker::builder().attach(&bus).unwrap();
    let capture = Capture::attach(&bus, ["llm.cost.*"]).unwrap();
    for _ in 0..5 {
        chat_stop(
            &bus,
            "mystery-model",
            Some("acme-ai"),
            Some("a"),
            &tokens(10.0, 10.0),
        );
        chat_stop(
            &bus,
            "mystery-model",
            Some("acme-ai"),
            Some("b"),
            &tokens(10.0, 10.0),
        );
    }
    chat_stop(&bus, "other-mystery", None, None, &tokens(10.0, 10.0));
    let warnings = capture.named("llm.cost.unpriced_model");
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    assert_eq!(warnings[0].str(keys::MODEL), Some("mystery-model"));
    assert_eq!(warnings[0].str(keys::PROVIDER), Some("acme-ai"));
    assert!(capture.named("llm.cost.calculated").is_empty());
    assert_eq!(
        tracker.unpriced_models(),
        ["mystery-model", "other-mystery"]
    );
    let stats = tracker.stats();
    assert_eq!(stats.unpriced, 11);
    assert_eq!(stats.priced, 0);
    assert_eq!(tracker.total(), Usd::ZERO);
    tracker.detach(Duration::ZERO).unwrap();
}

#[test]
fn hostile_model_names_do_not_grow_memory_without_bound() {
    let bus = Bus::new();
    let tracker = CostTracker::builder().max_keys(16).attach(&bus).unwrap();
    for i in 0..2_000 {
        let model = format!("junk-model-{i}");
        chat_stop(&bus, &model, None, Some("t"), &tokens(1.0, 1.0));
    }
    let stats = tracker.stats();
    assert_eq!(stats.unpriced, 2_000);
    assert_eq!(
        tracker.unpriced_models().len(),
        llm_telemetry_cost::MAX_WARNED_MODELS
    );
    assert_eq!(
        stats.warnings_suppressed,
        2_000 - llm_telemetry_cost::MAX_WARNED_MODELS as u64
    );
    tracker.detach(Duration::ZERO).unwrap();
}

#[test]
fn keys_past_the_cap_go_to_the_overflow_totals_and_nothing_is_lost() {
    let bus = Bus::new();
    let tracker = CostTracker::builder().max_keys(4).attach(&bus).unwrap();
    for i in 0..10 {
        let tenant = format!("tenant-{i}");
        chat_stop(
            &bus,
            "gpt-4o",
            Some("openai"),
            Some(&tenant),
            &tokens(1_000.0, 200.0),
        );
    }
    // A key that had totals before the cap keeps them.
    chat_stop(
        &bus,
        "gpt-4o",
        Some("openai"),
        Some("tenant-0"),
        &tokens(1_000.0, 200.0),
    );
    let totals = tracker.totals();
    assert_eq!(totals.len(), 5, "{totals:?}");
    let overflow = totals.last().unwrap();
    assert_eq!(overflow.tenant, OVERFLOW_LABEL);
    assert_eq!(overflow.calls, 6);
    assert_eq!(overflow.cost, usd("0.027"));
    assert_eq!(
        tracker
            .total_for("tenant-0", "openai", "gpt-4o")
            .unwrap()
            .calls,
        2
    );
    assert_eq!(tracker.total(), usd("0.0495"));
    assert_eq!(tracker.stats().overflowed, 6);
    assert_eq!(tracker.stats().priced, 11);
    tracker.detach(Duration::ZERO).unwrap();
}

#[test]
fn bad_token_counts_are_rejected_and_counted_never_a_panic() {
    let bus = Bus::new();
    let tracker = CostTracker::builder().attach(&bus).unwrap();
    let capture = Capture::attach(&bus, ["llm.cost.calculated"]).unwrap();
    chat_stop(&bus, "gpt-4o", None, None, &tokens(-5.0, 10.0));
    chat_stop(&bus, "gpt-4o", None, None, &tokens(5.5, 10.0));
    chat_stop(&bus, "gpt-4o", None, None, &tokens(1e300, 10.0));
    chat_stop(&bus, "gpt-4o", None, None, &tokens(f64::MAX, 1.0));
    // NaN: the bus strips it, so the event arrives with only the output count, which is fine.
    chat_stop(&bus, "gpt-4o", None, None, &tokens(f64::NAN, 10.0));
    // No model at all.
    bus.execute(&catalog::LLM_CHAT_STOP, &tokens(1.0, 1.0), &[]);
    // A model given as a number is not a model name.
    bus.execute(
        &catalog::LLM_CHAT_STOP,
        &tokens(1.0, 1.0),
        &[(keys::MODEL, Value::Int(4))],
    );
    // A tenant name longer than any real one.
    let long = "t".repeat(llm_telemetry_cost::MAX_LABEL_BYTES + 1);
    chat_stop(&bus, "gpt-4o", None, Some(&long), &tokens(1.0, 1.0));
    // A stop without tokens (a failed call, a request span) is not a call.
    bus.execute(&catalog::LLM_CHAT_STOP, &[(keys::DURATION, 5.0)], &[]);
    let stats = tracker.stats();
    assert_eq!(stats.rejected, 7, "{stats:?}");
    assert_eq!(stats.priced, 1);
    assert_eq!(stats.not_calls, 1);
    assert_eq!(capture.events().len(), 1);
    // 10 output tokens of gpt-4o.
    assert_eq!(tracker.total(), usd("0.0001"));
    assert!(bus.list_handlers("llm").iter().any(|h| h.id == HANDLER_ID));
    assert_eq!(bus.stats().handler_failures, 0);

    // Called directly, the NaN is seen and the rejection says why.
    let name = catalog::LLM_CHAT_STOP.get();
    let md = [(keys::MODEL, Value::Str("gpt-4o"))];
    let nan = [(keys::INPUT_TOKENS, f64::NAN)];
    assert!(matches!(
        tracker.record(&Event::new(name, &nan, &md, None)),
        Err(Rejection::NotFinite {
            key: "input_tokens",
            ..
        })
    ));
    tracker.detach(Duration::ZERO).unwrap();
}

#[test]
fn response_model_is_used_when_the_request_model_is_missing() {
    let tracker = CostTracker::builder().build().unwrap();
    let name = catalog::LLM_CHAT_STOP.get();
    let m = [(keys::INPUT_TOKENS, 1_000_000.0)];
    let md = [(keys::RESPONSE_MODEL, Value::Str("gpt-4.1"))];
    assert_eq!(
        tracker.record(&Event::new(name, &m, &md, None)).unwrap(),
        Outcome::Priced { cost: usd("2") }
    );
}

#[test]
fn nothing_is_built_when_nobody_listens_for_cost_events() {
    let bus = Bus::new();
    let tracker = CostTracker::builder().attach(&bus).unwrap();
    chat_stop(&bus, "gpt-4o", Some("openai"), Some("x"), &tokens(1.0, 1.0));
    assert!(!bus.is_listening(&catalog::LLM_COST_CALCULATED));
    assert_eq!(tracker.stats().priced, 1);
    // Only the tracker received an event.
    let stats = bus.stats();
    let delivered: u64 = stats.handlers.iter().map(|h| h.delivered).sum();
    assert_eq!(delivered, 1);
    tracker.detach(Duration::ZERO).unwrap();
}

/// What the Prometheus handler does with cost: sum `cost_usd` of `llm.cost.calculated` by
/// (provider, model, tenant), knowing nothing of this crate. The sums match the exact totals.
#[test]
fn a_metrics_handler_can_sum_cost_from_the_events_alone() {
    let bus = Bus::new();
    let tracker = CostTracker::builder().attach(&bus).unwrap();
    type Series = HashMap<(String, String, String), f64>;
    let series: Arc<Mutex<Series>> = Arc::default();
    let sink = Arc::clone(&series);
    bus.attach("llm_cost_usd_total", "llm.cost.calculated", move |e| {
        let label = |k| e.str(k).unwrap_or("").to_owned();
        let key = (
            label(keys::PROVIDER),
            label(keys::MODEL),
            label(keys::TENANT),
        );
        *sink.lock().unwrap().entry(key).or_default() += e.measurement(keys::COST_USD).unwrap();
    })
    .unwrap();
    for i in 0..100 {
        let tenant = if i % 2 == 0 { "even" } else { "odd" };
        chat_stop(
            &bus,
            "gpt-4.1-mini",
            Some("openai"),
            Some(tenant),
            &tokens(i as f64, 7.0),
        );
    }
    let series = series.lock().unwrap();
    assert_eq!(series.len(), 2);
    for total in tracker.totals() {
        let key = (
            total.provider.clone(),
            total.model.clone(),
            total.tenant.clone(),
        );
        let summed = series[&key];
        assert!(
            (summed - total.cost.as_f64()).abs() < 1e-12,
            "{summed} vs {}",
            total.cost
        );
    }
    tracker.detach(Duration::ZERO).unwrap();
}

#[test]
fn an_empty_price_table_prices_nothing() {
    let tracker = CostTracker::builder()
        .prices(PriceTable::new())
        .build()
        .unwrap();
    let name = catalog::LLM_CHAT_STOP.get();
    let m = [(keys::INPUT_TOKENS, 1.0)];
    let md = [(keys::MODEL, Value::Str("gpt-4o"))];
    assert_eq!(
        tracker.record(&Event::new(name, &m, &md, None)).unwrap(),
        Outcome::Unpriced
    );
}

#[test]
fn builder_refuses_bad_settings() {
    assert!(CostTracker::builder().max_keys(0).build().is_err());
    assert!(
        CostTracker::builder()
            .max_tokens_per_event(u64::MAX)
            .build()
            .is_err()
    );
    let err = CostTracker::builder()
        .price("x", ModelPrice::new(Usd::from_dollars(100), Usd::ZERO))
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("per token"), "{err}");
}

#[test]
fn queued_delivery_prices_on_the_worker_and_still_emits() {
    let bus = Bus::new();
    let tracker = CostTracker::builder()
        .id("cost-queued")
        .delivery(Delivery::queued())
        .attach(&bus)
        .unwrap();
    assert_eq!(tracker.handler_id(), Some("cost-queued"));
    let capture = Capture::attach(&bus, ["llm.cost.calculated"]).unwrap();
    for _ in 0..10 {
        chat_stop(
            &bus,
            "gpt-4o",
            Some("openai"),
            Some("q"),
            &tokens(1_000.0, 200.0),
        );
    }
    assert_eq!(tracker.flush(Duration::from_secs(10)), Ok(()));
    assert!(capture.wait_for(10, Duration::from_secs(10)));
    assert_eq!(tracker.total(), usd("0.045"));
    tracker.detach(Duration::ZERO).unwrap();
}

#[test]
fn record_on_emits_like_the_attached_handler() {
    let bus = Bus::new();
    let tracker = CostTracker::builder().build().unwrap();
    let capture = Capture::attach(&bus, ["llm.cost.calculated"]).unwrap();
    let name = catalog::LLM_EMBED_STOP.get();
    let m = [(keys::INPUT_TOKENS, 50_000.0)];
    let md = [
        (keys::MODEL, Value::Str("text-embedding-3-large")),
        (keys::TENANT, Value::Str("docs")),
    ];
    let outcome = tracker
        .record_on(&bus, &Event::new(name, &m, &md, None))
        .unwrap();
    // 50,000 × $0.13/M.
    assert_eq!(
        outcome,
        Outcome::Priced {
            cost: usd("0.0065")
        }
    );
    let events = capture.events();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].str(keys::PROVIDER), Some("openai"));
    assert_eq!(events[0].str(keys::TENANT), Some("docs"));
}

#[test]
fn cost_events_carry_the_span_of_the_call() {
    let bus = Bus::new();
    let tracker = CostTracker::builder().attach(&bus).unwrap();
    let capture = Capture::attach(&bus, ["llm.chat.stop", "llm.cost.calculated"]).unwrap();
    bus.span(
        &catalog::LLM_CHAT,
        &[
            (keys::MODEL, Value::Str("gpt-4o")),
            (keys::PROVIDER, Value::Str("openai")),
        ],
        |span| {
            span.measure(keys::INPUT_TOKENS, 100.0);
            span.measure(keys::OUTPUT_TOKENS, 10.0);
        },
    );
    let stop = &capture.named("llm.chat.stop")[0];
    let cost = &capture.named("llm.cost.calculated")[0];
    assert!(stop.span().is_some());
    assert_eq!(cost.span(), stop.span());
    // 100 × 2.5e-6 + 10 × 1e-5.
    assert_eq!(cost.measurement(keys::COST_USD), Some(0.00035));
    tracker.detach(Duration::ZERO).unwrap();
}
