//! Budgets through a real bus: each threshold is reported exactly once per window, also while
//! several threads emit at the same time, and again in the next day or month.

use std::sync::Barrier;
use std::time::Duration;

use llm_telemetry_core::testing::Capture;
use llm_telemetry_core::{Bus, LifecycleError, OwnedEvent, Value};
use llm_telemetry_cost::{
    Budget, BudgetScope, CostTracker, ManualClock, ModelPrice, PriceTable, Usd, Window,
};
use llm_telemetry_genai::catalog::{self, keys};

/// A model at exactly one cent per input token, so spend is easy to follow.
fn cent_model() -> PriceTable {
    let mut table = PriceTable::new();
    table
        .insert(
            "cent-model",
            ModelPrice::new(Usd::from_cents(1), Usd::ZERO).with_provider("test"),
        )
        .unwrap();
    table
}

fn spend(bus: &Bus, tenant: &str, cents: u32) {
    bus.execute(
        &catalog::LLM_CHAT_STOP,
        &[(keys::INPUT_TOKENS, f64::from(cents))],
        &[
            (keys::MODEL, Value::Str("cent-model")),
            (keys::TENANT, Value::Str(tenant)),
        ],
    );
}

fn window_of(e: &OwnedEvent) -> (Option<String>, String) {
    (
        e.str(keys::TENANT).map(str::to_owned),
        e.str(keys::WINDOW).unwrap_or("").to_owned(),
    )
}

/// 2021-03-31T23:00:00Z: one hour before both a new day and a new month.
const MARCH_31_23H: u64 = 1_617_231_600;

#[test]
fn each_threshold_is_crossed_exactly_once_under_concurrent_emitters() {
    for round in 0..20 {
        let clock = ManualClock::from_unix_seconds(MARCH_31_23H);
        let bus = Bus::new();
        let tracker = CostTracker::builder()
            .prices(cent_model())
            .clock(clock.clone())
            .budget(Budget::global(Window::Lifetime, Usd::from_dollars(30)))
            .budget(Budget::global(Window::Day, Usd::from_dollars(20)))
            .budget(Budget::tenant("a", Window::Month, Usd::from_dollars(5)))
            .budget(Budget::tenant("b", Window::Day, Usd::from_cents(1)))
            .attach(&bus)
            .unwrap();
        let capture = Capture::attach(&bus, ["llm.cost.threshold_exceeded"]).unwrap();

        const THREADS: usize = 4;
        const CALLS: usize = 1_000;
        let barrier = Barrier::new(THREADS);
        std::thread::scope(|s| {
            for t in 0..THREADS {
                let (bus, barrier) = (&bus, &barrier);
                s.spawn(move || {
                    barrier.wait();
                    let tenant = if t % 2 == 0 { "a" } else { "b" };
                    for _ in 0..CALLS {
                        spend(bus, tenant, 1);
                    }
                });
            }
        });
        // 4,000 calls of one cent: $40 in all, $20 per tenant.
        assert_eq!(tracker.total(), Usd::from_dollars(40));
        let events = capture.events();
        let mut windows: Vec<_> = events.iter().map(window_of).collect();
        windows.sort();
        assert_eq!(
            windows,
            [
                (None, "day".to_owned()),
                (None, "lifetime".to_owned()),
                (Some("a".to_owned()), "month".to_owned()),
                (Some("b".to_owned()), "day".to_owned()),
            ],
            "round {round}: {events:?}"
        );
        for e in &events {
            let threshold = e.measurement(keys::THRESHOLD_USD).unwrap();
            let current = e.measurement(keys::COST_USD).unwrap();
            // Reported by a call that saw the spend at or past the threshold.
            assert!(current >= threshold, "{e:?}");
        }
        assert!(tracker.budgets().iter().all(|b| b.exceeded));
        tracker.detach(Duration::ZERO).unwrap();
    }
}

#[test]
fn day_and_month_budgets_fire_again_in_the_next_window() {
    let clock = ManualClock::from_unix_seconds(MARCH_31_23H);
    let bus = Bus::new();
    let tracker = CostTracker::builder()
        .prices(cent_model())
        .clock(clock.clone())
        .budget(Budget::tenant("a", Window::Day, Usd::from_cents(10)))
        .budget(Budget::tenant("a", Window::Month, Usd::from_cents(25)))
        .budget(Budget::tenant("a", Window::Lifetime, Usd::from_cents(40)))
        .attach(&bus)
        .unwrap();
    let capture = Capture::attach(&bus, ["llm.cost.threshold_exceeded"]).unwrap();
    let fired = |capture: &Capture| -> Vec<(String, f64)> {
        let list = capture
            .events()
            .iter()
            .map(|e| {
                (
                    e.str(keys::WINDOW).unwrap().to_owned(),
                    e.measurement(keys::COST_USD).unwrap(),
                )
            })
            .collect();
        capture.clear();
        list
    };

    for _ in 0..3 {
        spend(&bus, "a", 4); // 4, 8, 12 cents on March 31
    }
    assert_eq!(fired(&capture), [("day".to_owned(), 0.12)]);
    spend(&bus, "a", 20); // 32 cents: the month (25) crosses; the day already did
    assert_eq!(fired(&capture), [("month".to_owned(), 0.32)]);
    spend(&bus, "a", 1); // nothing new
    assert!(fired(&capture).is_empty());
    let statuses = tracker.budgets();
    assert_eq!(statuses[0].period, "2021-03-31");
    assert_eq!(statuses[1].period, "2021-03");
    assert_eq!(statuses[2].spent, Usd::from_cents(33));

    // April 1st, 00:30 UTC: a new day and a new month.
    clock.advance(Duration::from_secs(90 * 60));
    spend(&bus, "a", 9); // day 9, month 9, lifetime 42: only the lifetime crosses
    assert_eq!(fired(&capture), [("lifetime".to_owned(), 0.42)]);
    spend(&bus, "a", 1); // day 10: reaches the daily threshold again
    assert_eq!(fired(&capture), [("day".to_owned(), 0.10)]);
    let statuses = tracker.budgets();
    assert_eq!(statuses[0].period, "2021-04-01");
    assert_eq!(statuses[0].spent, Usd::from_cents(10));
    assert!(statuses[0].exceeded);
    assert_eq!(statuses[1].period, "2021-04");
    assert!(!statuses[1].exceeded);
    // A later day: nothing spent yet, nothing exceeded.
    clock.advance(Duration::from_secs(86_400));
    let statuses = tracker.budgets();
    assert_eq!(statuses[0].spent, Usd::ZERO);
    assert!(!statuses[0].exceeded);
    tracker.detach(Duration::ZERO).unwrap();
}

#[test]
fn threshold_events_carry_the_tenant_window_and_both_amounts() {
    let bus = Bus::new();
    let tracker = CostTracker::builder()
        .prices(cent_model())
        .budget(Budget::tenant("acme", Window::Month, Usd::from_cents(5)))
        .budget(Budget::global(Window::Lifetime, Usd::from_cents(7)))
        .attach(&bus)
        .unwrap();
    let capture = Capture::attach(&bus, ["llm.cost.*"]).unwrap();
    spend(&bus, "other", 3);
    spend(&bus, "acme", 6);
    let names = capture.names();
    assert_eq!(
        names,
        [
            "llm.cost.calculated",
            "llm.cost.calculated",
            "llm.cost.threshold_exceeded",
            "llm.cost.threshold_exceeded"
        ]
    );
    let events = capture.named("llm.cost.threshold_exceeded");
    // Global first, then the tenant's.
    assert_eq!(events[0].str(keys::TENANT), None);
    assert_eq!(events[0].str(keys::WINDOW), Some("lifetime"));
    assert_eq!(events[0].measurement(keys::COST_USD), Some(0.09));
    assert_eq!(events[0].measurement(keys::THRESHOLD_USD), Some(0.07));
    assert_eq!(events[1].str(keys::TENANT), Some("acme"));
    assert_eq!(events[1].str(keys::WINDOW), Some("month"));
    assert_eq!(events[1].measurement(keys::COST_USD), Some(0.06));
    assert_eq!(events[1].measurement(keys::THRESHOLD_USD), Some(0.05));
    let statuses = tracker.budgets();
    assert_eq!(statuses[0].budget.scope, BudgetScope::Global);
    assert_eq!(
        statuses[1].budget.scope,
        BudgetScope::Tenant("acme".to_owned())
    );
    tracker.detach(Duration::ZERO).unwrap();
}

#[test]
fn budgets_count_without_a_listener_and_report_nothing_twice() {
    let bus = Bus::new();
    let tracker = CostTracker::builder()
        .prices(cent_model())
        .budget(Budget::global(Window::Lifetime, Usd::from_cents(2)))
        .attach(&bus)
        .unwrap();
    spend(&bus, "t", 3); // crosses while nobody listens
    let capture = Capture::attach(&bus, ["llm.cost.threshold_exceeded"]).unwrap();
    spend(&bus, "t", 3);
    assert!(capture.events().is_empty());
    assert!(tracker.budgets()[0].exceeded);
    tracker.detach(Duration::ZERO).unwrap();
}

#[test]
fn budgets_from_the_settings() {
    let mut settings = llm_telemetry_cost::CostSettings {
        budget_usd: Some(0.1),
        window: Window::Month,
        ..Default::default()
    };
    settings.tenant_budgets.insert("acme".to_owned(), 0.05);
    let bus = Bus::new();
    let tracker = CostTracker::builder()
        .prices(cent_model())
        .settings(&settings)
        .unwrap()
        .attach(&bus)
        .unwrap();
    let statuses = tracker.budgets();
    assert_eq!(statuses.len(), 2);
    assert_eq!(
        statuses[0].budget,
        Budget::global(Window::Month, Usd::from_cents(10))
    );
    assert_eq!(
        statuses[1].budget,
        Budget::tenant("acme", Window::Month, Usd::from_cents(5))
    );
    spend(&bus, "acme", 5);
    assert!(tracker.budgets()[1].exceeded);
    assert!(!tracker.budgets()[0].exceeded);
    tracker.detach(Duration::ZERO).unwrap();

    let mut bad = settings.clone();
    bad.tenant_budgets.insert("globex".to_owned(), -3.0);
    let err = CostTracker::builder().settings(&bad).unwrap_err();
    assert!(
        err.to_string().contains("cost.tenant_budgets.globex"),
        "{err}"
    );
}

#[test]
fn the_builder_attaches_and_the_handle_flushes_and_detaches() {
    let bus = Bus::new();
    let tracker = CostTracker::builder()
        .prices(cent_model())
        .attach(&bus)
        .unwrap();
    spend(&bus, "acme", 3);
    assert_eq!(tracker.flush(Duration::from_secs(1)), Ok(()));
    assert_eq!(tracker.tenant_total("acme"), Usd::from_cents(3));
    // A second tracker under the same id is refused with the bus's reason.
    let again = CostTracker::builder().attach(&bus).unwrap_err();
    assert!(again.to_string().contains("already attached"), "{again}");
    tracker.detach(Duration::from_secs(1)).unwrap();
    spend(&bus, "acme", 5);
    assert_eq!(tracker.tenant_total("acme"), Usd::from_cents(3));
    assert_eq!(
        tracker.detach(Duration::from_secs(1)),
        Err(LifecycleError::AlreadyShutDown)
    );
}
