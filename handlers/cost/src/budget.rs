//! Budgets: a threshold of spend per tenant or over every tenant, over a UTC calendar day, a UTC
//! calendar month or the lifetime of the tracker, and the state that detects a crossing exactly
//! once per window while many threads add to it.
//!
//! # How a crossing is detected exactly once
//!
//! Each scope (one tenant, or global) keeps a monotonic, lock-free total (two 64-bit atomic words).
//! Each windowed budget keeps the window it is in and the scope total at the window's start (its
//! *base*), published through a small sequence lock so readers never block; the spend in the window
//! is `total − base`. After adding an event's cost, the emitting thread reads the total and, if the
//! spend reaches the threshold, tries to move the budget's `fired` marker from below the window's
//! mark to the mark with one compare-and-swap. Only the thread whose swap succeeds reports the
//! crossing; every later event of that window sees the mark and stays silent. The total's reader
//! may briefly see it one carry short while another thread is mid-add, but that thread re-reads
//! after completing its own add, so the last adder always sees every completed add: a crossing is
//! never missed, only reported by whichever call sees it first. A new window moves the base (under
//! a mutex taken once per window change), and the budget can fire again.
//!
//! At a window boundary an event racing the change may be counted in either window; nothing is
//! lost from the totals. The clock (core's [`Clock`], read in whole seconds) is read only for
//! events that reach a day or month budget; UTC days and months come from core's [`UtcDate`].

use std::sync::atomic::{AtomicU64, Ordering, fence};
use std::sync::{Arc, Mutex, PoisonError};

use llm_telemetry_core::calendar::SECONDS_PER_DAY;
use llm_telemetry_core::{Clock, UtcDate};

use crate::atomic::AtomicUsd;
use crate::error::BudgetError;
use crate::money::Usd;

/// Whose spend a budget limits.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum BudgetScope {
    /// Every tenant together.
    Global,
    /// One tenant (the event's `tenant` metadata).
    Tenant(String),
}

impl std::fmt::Display for BudgetScope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BudgetScope::Global => f.write_str("all tenants"),
            BudgetScope::Tenant(t) => write!(f, "tenant {t:?}"),
        }
    }
}

/// The period a budget's spend is counted over.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Window {
    /// A UTC calendar day (00:00:00 to 23:59:59 UTC).
    Day,
    /// A UTC calendar month.
    Month,
    /// Since the tracker was built.
    Lifetime,
}

impl Window {
    /// The name carried in the `window` metadata of `llm.cost.threshold_exceeded`.
    pub fn as_str(self) -> &'static str {
        match self {
            Window::Day => "day",
            Window::Month => "month",
            Window::Lifetime => "lifetime",
        }
    }

    /// The window containing `unix_seconds`: days or months since 1970-01 (UTC), or 0 for the
    /// lifetime.
    pub fn index(self, unix_seconds: u64) -> u64 {
        match self {
            Window::Day => unix_seconds / SECONDS_PER_DAY,
            // A Unix time in seconds is never before 1970-01, so the count is never negative.
            Window::Month => UtcDate::from_unix_seconds(unix_seconds).months_since_epoch() as u64,
            Window::Lifetime => 0,
        }
    }

    /// A window's calendar label: `2026-11-21`, `2026-11`, or `lifetime`.
    pub fn label(self, index: u64) -> String {
        match self {
            // A day index is at most u64::MAX / 86 400 (from `index`), so it fits an `i64`.
            Window::Day => UtcDate::from_days_since_epoch(index as i64).to_string(),
            Window::Month => format!("{:04}-{:02}", 1970 + index / 12, index % 12 + 1),
            Window::Lifetime => "lifetime".to_owned(),
        }
    }
}

/// A spending threshold.
///
/// ```
/// use llm_telemetry_cost::{Budget, Usd, Window};
/// let daily = Budget::tenant("acme", Window::Day, Usd::from_dollars(50));
/// let monthly = Budget::global(Window::Month, Usd::from_dollars(10_000));
/// assert_eq!(daily.window.as_str(), "day");
/// # let _ = monthly;
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Budget {
    /// Whose spend.
    pub scope: BudgetScope,
    /// Over which period.
    pub window: Window,
    /// The spend at which `llm.cost.threshold_exceeded` is emitted (reaching it counts).
    pub threshold: Usd,
}

impl Budget {
    /// A budget over every tenant.
    pub fn global(window: Window, threshold: Usd) -> Self {
        Budget {
            scope: BudgetScope::Global,
            window,
            threshold,
        }
    }
    /// A budget for one tenant.
    pub fn tenant(tenant: impl Into<String>, window: Window, threshold: Usd) -> Self {
        Budget {
            scope: BudgetScope::Tenant(tenant.into()),
            window,
            threshold,
        }
    }
}

/// A budget as it stands now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BudgetStatus {
    /// The budget.
    pub budget: Budget,
    /// The current window's label (`2026-11-21`, `2026-11`, `lifetime`).
    pub period: String,
    /// The spend in the current window.
    pub spent: Usd,
    /// Whether the threshold was crossed (and reported) in the current window.
    pub exceeded: bool,
}

/// The current window of one budget and the scope total at its start, behind a sequence lock:
/// readers retry instead of blocking; the single writer (under `BudgetState::roll`) is rare.
#[derive(Debug, Default)]
struct WindowCell {
    sequence: AtomicU64,
    index: AtomicU64,
    base_high: AtomicU64,
    base_low: AtomicU64,
}

impl WindowCell {
    fn read(&self) -> (u64, Usd) {
        loop {
            let before = self.sequence.load(Ordering::Acquire);
            if before & 1 == 0 {
                let index = self.index.load(Ordering::Relaxed);
                let high = self.base_high.load(Ordering::Relaxed);
                let low = self.base_low.load(Ordering::Relaxed);
                fence(Ordering::Acquire);
                if self.sequence.load(Ordering::Relaxed) == before {
                    return (index, Usd::from_atto(((high as u128) << 64) | low as u128));
                }
            }
            std::hint::spin_loop();
        }
    }

    /// Only one writer at a time (the caller holds the budget's roll mutex).
    fn write(&self, index: u64, base: Usd) {
        let sequence = self.sequence.load(Ordering::Relaxed);
        self.sequence.store(sequence + 1, Ordering::Relaxed);
        fence(Ordering::Release);
        self.index.store(index, Ordering::Relaxed);
        self.base_high
            .store((base.atto() >> 64) as u64, Ordering::Relaxed);
        self.base_low.store(base.atto() as u64, Ordering::Relaxed);
        self.sequence.store(sequence + 2, Ordering::Release);
    }
}

/// A crossing to report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Crossing {
    /// The spend in the window when it was detected.
    pub(crate) spent: Usd,
}

/// One budget's live state.
#[derive(Debug)]
pub(crate) struct BudgetState {
    pub(crate) budget: Budget,
    window: WindowCell,
    /// `index + 1` of the last window whose crossing was reported; 0 = never.
    fired: AtomicU64,
    roll: Mutex<()>,
}

impl BudgetState {
    fn new(budget: Budget, now: u64) -> Self {
        let window = WindowCell::default();
        window.write(budget.window.index(now), Usd::ZERO);
        BudgetState {
            budget,
            window,
            fired: AtomicU64::new(0),
            roll: Mutex::new(()),
        }
    }

    /// After `cost` was added to the scope, whose total is now `total`: the crossing to
    /// report, if this call is the one that reports it.
    fn check(&self, total: Usd, cost: Usd, now: u64) -> Option<Crossing> {
        let (mut index, mut base) = self.window.read();
        let current = self.budget.window.index(now);
        if current > index {
            (index, base) = self.roll(current, total.saturating_sub(cost));
        }
        let spent = total.saturating_sub(base);
        if spent < self.budget.threshold {
            return None;
        }
        let mark = index + 1;
        let mut fired = self.fired.load(Ordering::SeqCst);
        loop {
            if fired >= mark {
                return None;
            }
            match self
                .fired
                .compare_exchange(fired, mark, Ordering::SeqCst, Ordering::SeqCst)
            {
                Ok(_) => return Some(Crossing { spent }),
                Err(seen) => fired = seen,
            }
        }
    }

    /// Cold: moves to window `index`, whose spend starts at `base`.
    #[cold]
    fn roll(&self, index: u64, base: Usd) -> (u64, Usd) {
        let _guard = self.roll.lock().unwrap_or_else(PoisonError::into_inner);
        let (seen, seen_base) = self.window.read();
        if seen >= index {
            return (seen, seen_base);
        }
        self.window.write(index, base);
        (index, base)
    }

    fn status(&self, total: Usd, now: u64) -> BudgetStatus {
        let (index, base) = self.window.read();
        let current = self.budget.window.index(now);
        let (spent, fired_here) = if current > index {
            (Usd::ZERO, false)
        } else {
            (
                total.saturating_sub(base),
                self.fired.load(Ordering::SeqCst) > index,
            )
        };
        BudgetStatus {
            budget: self.budget.clone(),
            period: self.budget.window.label(current.max(index)),
            spent,
            exceeded: fired_here,
        }
    }
}

/// One scope's total and its budgets.
#[derive(Debug)]
pub(crate) struct Scope {
    total: AtomicUsd,
    budgets: Vec<BudgetState>,
    /// Whether any budget is per day or month (the clock is read only then).
    windowed: bool,
}

impl Scope {
    /// Adds `cost`, then calls `report` for each budget this call crossed.
    #[inline]
    pub(crate) fn charge(
        &self,
        cost: Usd,
        clock: &dyn Clock,
        mut report: impl FnMut(&Budget, Crossing),
    ) {
        self.total.add(cost);
        let total = self.total.load();
        let now = if self.windowed {
            clock.now_unix_seconds()
        } else {
            0
        };
        for state in &self.budgets {
            if let Some(crossing) = state.check(total, cost, now) {
                report(&state.budget, crossing);
            }
        }
    }
}

/// Every budget, grouped by scope.
#[derive(Debug, Default)]
pub(crate) struct Budgets {
    global: Option<Arc<Scope>>,
    tenants: std::collections::HashMap<String, Arc<Scope>>,
}

impl Budgets {
    /// Groups `budgets` by scope, refusing duplicates and empty tenant names.
    pub(crate) fn new(budgets: &[Budget], clock: &dyn Clock) -> Result<Self, BudgetError> {
        let now = clock.now_unix_seconds();
        let mut by_scope: Vec<(BudgetScope, Vec<BudgetState>)> = Vec::new();
        for budget in budgets {
            if budget.scope == BudgetScope::Tenant(String::new()) {
                return Err(BudgetError::EmptyTenant);
            }
            let position = match by_scope.iter().position(|(s, _)| *s == budget.scope) {
                Some(p) => p,
                None => {
                    by_scope.push((budget.scope.clone(), Vec::new()));
                    by_scope.len() - 1
                }
            };
            let states = &mut by_scope[position].1;
            if let Some(existing) = states.iter().find(|s| s.budget.window == budget.window) {
                return Err(BudgetError::Duplicate {
                    scope: budget.scope.to_string(),
                    window: budget.window.as_str(),
                    existing: existing.budget.threshold.to_string(),
                });
            }
            states.push(BudgetState::new(budget.clone(), now));
        }
        let mut result = Budgets::default();
        for (scope, states) in by_scope {
            let windowed = states.iter().any(|s| s.budget.window != Window::Lifetime);
            let scope_state = Arc::new(Scope {
                total: AtomicUsd::default(),
                budgets: states,
                windowed,
            });
            match scope {
                BudgetScope::Global => result.global = Some(scope_state),
                BudgetScope::Tenant(tenant) => {
                    result.tenants.insert(tenant, scope_state);
                }
            }
        }
        Ok(result)
    }

    /// The scopes an event of `tenant` is charged to (global first).
    pub(crate) fn scopes_for(&self, tenant: &str) -> Vec<Arc<Scope>> {
        self.global
            .iter()
            .chain(self.tenants.get(tenant))
            .cloned()
            .collect()
    }

    /// Every budget's status: global first, then tenants by name; day, month, lifetime.
    pub(crate) fn statuses(&self, clock: &dyn Clock) -> Vec<BudgetStatus> {
        let now = clock.now_unix_seconds();
        let mut statuses: Vec<BudgetStatus> = self
            .global
            .iter()
            .chain(self.tenants.values())
            .flat_map(|scope| {
                let total = scope.total.load();
                scope.budgets.iter().map(move |b| b.status(total, now))
            })
            .collect();
        statuses.sort_by(|a, b| {
            let rank = |w: Window| match w {
                Window::Day => 0,
                Window::Month => 1,
                Window::Lifetime => 2,
            };
            let key = |s: &BudgetStatus| match &s.budget.scope {
                BudgetScope::Global => (0, String::new(), rank(s.budget.window)),
                BudgetScope::Tenant(t) => (1, t.clone(), rank(s.budget.window)),
            };
            key(a).cmp(&key(b))
        });
        statuses
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use llm_telemetry_core::{ManualClock, SystemClock};

    use super::*;

    #[test]
    fn calendar_windows_are_utc_days_and_months() {
        // 2026-11-21T03:07:27Z
        let t = 1_795_230_447;
        assert_eq!(Window::Day.label(Window::Day.index(t)), "2026-11-21");
        assert_eq!(Window::Month.label(Window::Month.index(t)), "2026-11");
        assert_eq!(Window::Lifetime.index(t), 0);
        // 2024-02-29T23:59:59Z and one second later.
        let leap = 1_709_251_199;
        assert_eq!(Window::Day.label(Window::Day.index(leap)), "2024-02-29");
        assert_eq!(Window::Month.label(Window::Month.index(leap)), "2024-02");
        assert_eq!(Window::Day.label(Window::Day.index(leap + 1)), "2024-03-01");
        assert_eq!(
            Window::Month.label(Window::Month.index(leap + 1)),
            "2024-03"
        );
        assert_eq!(Window::Month.index(leap + 1), Window::Month.index(leap) + 1);
        assert_eq!(Window::Day.label(0), "1970-01-01");
        // 2000-12-31T12:00:00Z → 2001-01.
        let new_year = 978_264_000;
        assert_eq!(Window::Day.label(Window::Day.index(new_year)), "2000-12-31");
        assert_eq!(
            Window::Month.label(Window::Month.index(new_year + 86_400)),
            "2001-01"
        );
    }

    #[test]
    fn a_budget_fires_once_per_window() {
        let clock = ManualClock::from_unix_seconds(1_795_230_447);
        let budgets =
            Budgets::new(&[Budget::global(Window::Day, Usd::from_dollars(1))], &clock).unwrap();
        let scope = budgets.scopes_for("anyone").pop().unwrap();
        let mut fired = Vec::new();
        let mut charge = |cents| {
            scope.charge(Usd::from_cents(cents), &clock, |_, c| fired.push(c.spent));
        };
        charge(60);
        charge(60); // crosses: 1.20
        charge(60); // already reported today
        clock.advance(Duration::from_secs(86_400));
        charge(90);
        charge(10); // crosses tomorrow: 1.00 reaches the threshold
        assert_eq!(fired, [Usd::from_cents(120), Usd::from_cents(100)]);
        let status = &budgets.statuses(&clock)[0];
        assert!(status.exceeded);
        assert_eq!(status.spent, Usd::from_dollars(1));
        assert_eq!(status.period, "2026-11-22");
    }

    #[test]
    fn duplicate_and_nameless_budgets_are_refused() {
        let clock = SystemClock;
        let one = Budget::tenant("a", Window::Month, Usd::from_dollars(1));
        assert!(matches!(
            Budgets::new(&[one.clone(), one], &clock),
            Err(BudgetError::Duplicate {
                window: "month",
                ..
            })
        ));
        assert_eq!(
            Budgets::new(&[Budget::tenant("", Window::Day, Usd::ZERO)], &clock).unwrap_err(),
            BudgetError::EmptyTenant
        );
    }
}
