//! [`CostTracker`]: the handler. It prices each `llm.*.stop` event that carries token counts,
//! adds the cost to the running totals of its (tenant, provider, model), checks the budgets, and
//! emits `llm.cost.calculated` (and `llm.cost.threshold_exceeded` on a crossing) on the same bus.
//!
//! # The hot path
//!
//! For a key seen before: one pass over the measurements, one over the metadata, one hash and a
//! lock-free probe of the resolve-once key cache, the integer cost formula, two
//! atomic adds, and, only if someone listens, the `llm.cost.calculated` event. No lock, no
//! allocation. Budgets add one atomic add per scope, a sequence-lock read per budget and, for day
//! and month budgets, a clock read. The first call of a new key resolves it once on a cold path.
//!
//! The handler emits while handling, which the bus supports up to [`llm_telemetry_core::MAX_DEPTH`]
//! levels of nesting.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use llm_telemetry_core::{
    Attachment, Bus, Clock, Deadline, Delivery, Event, LifecycleError, SpanContext, SystemClock,
    Value,
};
use llm_telemetry_genai::catalog::{self, keys};

use crate::budget::{Budget, BudgetStatus, Budgets, Crossing};
use crate::error::{BuildError, Rejection};
use crate::keys::{Insert, KeyEntry, KeyTable, KeyTotals, Resolved};
use crate::money::Usd;
use crate::price::{ModelPrice, Rates, Usage};
use crate::settings::CostSettings;
use crate::table::PriceTable;
use crate::usage::{CallIdentity, RawTokens, TokenAccounting};

/// The id [`CostTrackerBuilder::attach`] attaches under unless [`CostTrackerBuilder::id`] names
/// another.
pub const HANDLER_ID: &str = "llm-telemetry-cost";
/// The events the tracker is attached to: every `llm.<operation>.stop`.
pub const ATTACH_PATTERN: &str = "llm.*.stop";
/// Emitted once per unpriced model; it lives in the catalog beside the other cost events.
pub use llm_telemetry_genai::catalog::LLM_COST_UNPRICED_MODEL;
/// The tenant, provider and model of the totals that calls past the key cap add to.
pub const OVERFLOW_LABEL: &str = "_overflow";
/// The default cap on distinct (tenant, provider, model) keys.
pub const DEFAULT_MAX_KEYS: usize = 4_096;
/// The default cap on one token count of one event: a billion tokens.
pub const DEFAULT_MAX_TOKENS_PER_EVENT: u64 = 1_000_000_000;
/// The most unpriced model names remembered (and warned about once each).
pub const MAX_WARNED_MODELS: usize = 256;
/// The longest model, provider or tenant name accepted, in bytes; longer ones are rejected, so
/// the names the tracker keeps (at most [`DEFAULT_MAX_KEYS`] keys, [`MAX_WARNED_MODELS`]
/// unpriced models) stay bounded in memory.
pub const MAX_LABEL_BYTES: usize = 256;
/// The largest allowed per-event token limit: 2⁵³, where `f64` counts stop being exact.
pub const MAX_TOKENS_LIMIT: u64 = 1 << 53;

/// What happened to one event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Priced and added to the totals.
    Priced {
        /// The exact cost of the call.
        cost: Usd,
    },
    /// The model has no price: counted as unpriced, nothing added.
    Unpriced,
    /// The event carries no token counts (not a priced call); ignored.
    NotACall,
}

/// The running total of one (tenant, provider, model).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CostTotal {
    /// The tenant (`""` when events carry none).
    pub tenant: String,
    /// The provider: the events' `gen_ai.provider.name`, else the price table's.
    pub provider: String,
    /// The model as the events name it.
    pub model: String,
    /// The exact spend.
    pub cost: Usd,
    /// Priced calls.
    pub calls: u64,
}

/// The tracker's counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CostStats {
    /// Calls priced and added to the totals.
    pub priced: u64,
    /// Calls of a model without a price.
    pub unpriced: u64,
    /// Calls refused for bad token counts or a missing model (see [`Rejection`]).
    pub rejected: u64,
    /// Stop events without token counts, ignored.
    pub not_calls: u64,
    /// Priced calls past the key cap, added to the overflow totals unless their key already
    /// had totals.
    pub overflowed: u64,
    /// Unpriced models not remembered because [`MAX_WARNED_MODELS`] were already.
    pub warnings_suppressed: u64,
    /// Stop events the bus dropped because the tracker's queue was full (queued delivery only,
    /// see [`CostTrackerBuilder::delivery`]); kept as of the detach once detached, 0 for a
    /// tracker never attached.
    pub queue_dropped: u64,
}

/// Builds a [`CostTracker`].
pub struct CostTrackerBuilder {
    prices: PriceTable,
    overrides: Vec<(String, ModelPrice)>,
    budgets: Vec<Budget>,
    accounting: TokenAccounting,
    max_keys: usize,
    max_tokens: u64,
    clock: Arc<dyn Clock>,
    id: String,
    delivery: Delivery,
}

impl std::fmt::Debug for CostTrackerBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CostTrackerBuilder")
            .field("models", &self.prices.len())
            .field("overrides", &self.overrides.len())
            .field("budgets", &self.budgets)
            .field("accounting", &self.accounting)
            .field("max_keys", &self.max_keys)
            .field("max_tokens", &self.max_tokens)
            .field("id", &self.id)
            .field("delivery", &self.delivery)
            .finish_non_exhaustive()
    }
}

impl CostTrackerBuilder {
    /// Uses `prices` instead of the built-in table.
    pub fn prices(mut self, prices: PriceTable) -> Self {
        self.prices = prices;
        self
    }
    /// Sets or overrides one model's price (checked at [`build`](Self::build)).
    pub fn price(mut self, model: impl Into<String>, price: ModelPrice) -> Self {
        self.overrides.push((model.into(), price));
        self
    }
    /// Adds a budget.
    pub fn budget(mut self, budget: Budget) -> Self {
        self.budgets.push(budget);
        self
    }
    /// Adds the budgets of `settings` (`budget_usd` over all tenants and `tenant_budgets`,
    /// both over `window`). Whether to attach at all (`enabled`) is the caller's decision. An
    /// amount that is not a finite number of dollars, 0 or more, is
    /// [`BuildError::ConfigAmount`] naming the setting (`cost.budget_usd`,
    /// `cost.tenant_budgets.<tenant>`).
    pub fn settings(mut self, settings: &CostSettings) -> Result<Self, BuildError> {
        let window = settings.window;
        let amount = |setting: String, dollars: f64| {
            Usd::from_dollars_f64(dollars)
                .map_err(|source| BuildError::ConfigAmount { setting, source })
        };
        if let Some(dollars) = settings.budget_usd {
            let threshold = amount("cost.budget_usd".to_owned(), dollars)?;
            self.budgets.push(Budget::global(window, threshold));
        }
        for (tenant, dollars) in &settings.tenant_budgets {
            let threshold = amount(format!("cost.tenant_budgets.{tenant}"), *dollars)?;
            self.budgets
                .push(Budget::tenant(tenant.clone(), window, threshold));
        }
        Ok(self)
    }
    /// Says what the events' token counts include (default: [`TokenAccounting::INCLUSIVE`]).
    pub fn token_accounting(mut self, accounting: TokenAccounting) -> Self {
        self.accounting = accounting;
        self
    }
    /// Caps distinct (tenant, provider, model) keys (default [`DEFAULT_MAX_KEYS`]).
    pub fn max_keys(mut self, max_keys: usize) -> Self {
        self.max_keys = max_keys;
        self
    }
    /// Caps each token count of one event (default [`DEFAULT_MAX_TOKENS_PER_EVENT`], at most
    /// [`MAX_TOKENS_LIMIT`]); larger counts are rejected as absurd.
    pub fn max_tokens_per_event(mut self, max_tokens: u64) -> Self {
        self.max_tokens = max_tokens;
        self
    }
    /// Uses `clock` for day and month windows (default: [`SystemClock`]).
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }
    /// The handler id on the bus (default [`HANDLER_ID`]); give each tracker on one bus its own.
    pub fn id(mut self, id: impl Into<String>) -> Self {
        self.id = id.into();
        self
    }
    /// How the bus delivers the stop events (default [`Delivery::Inline`]: pricing is a hash
    /// probe and a few atomic adds). [`Delivery::queued`] keeps the pricing off the emitting
    /// thread; the totals then lag the events by the queue ([`CostTracker::flush`] waits for
    /// it).
    pub fn delivery(mut self, delivery: Delivery) -> Self {
        self.delivery = delivery;
        self
    }
    /// Builds the tracker and attaches it to `bus` as a handler of [`ATTACH_PATTERN`]: the only
    /// way to attach one, and the shape every handler crate shares (`Builder → attach(&bus) →
    /// handle` with `stats`, `flush` and `detach`). It emits its events on the same bus.
    ///
    /// The handler keeps a handle to the bus, so the bus stays alive while it is attached;
    /// [`CostTracker::detach`] releases it. Dropping the tracker leaves it attached.
    pub fn attach(self, bus: &Bus) -> Result<CostTracker, BuildError> {
        let (id, delivery) = (self.id.clone(), self.delivery);
        let mut tracker = self.build()?;
        // Register the names this handler emits before attaching, so the table the attach
        // publishes already covers them and no emit from inside the handler has to resolve a
        // new name (which would publish a new table in the middle of a dispatch).
        for name in [
            &catalog::LLM_COST_CALCULATED,
            &catalog::LLM_COST_THRESHOLD_EXCEEDED,
            &LLM_COST_UNPRICED_MODEL,
        ] {
            let _ = name.get();
        }
        let inner = Arc::clone(&tracker.inner);
        let emit_on = bus.clone();
        bus.attach_with(
            id.clone(),
            ATTACH_PATTERN,
            move |event: &Event<'_>| {
                let _ = inner.process(event, Some(Sink::of(&emit_on, event)));
            },
            delivery,
        )?;
        tracker.attachment = Some(Arc::new(Attachment::new(bus.clone(), id)));
        Ok(tracker)
    }

    /// Builds the tracker without attaching it, to price events by hand
    /// ([`CostTracker::record`], [`CostTracker::record_on`]); [`Self::attach`] builds and
    /// attaches. The id and delivery options apply only to `attach`.
    pub fn build(self) -> Result<CostTracker, BuildError> {
        let mut prices = self.prices;
        for (model, price) in self.overrides {
            prices.insert(model, price)?;
        }
        if self.max_keys == 0 {
            return Err(BuildError::ZeroMaxKeys);
        }
        if self.max_tokens > MAX_TOKENS_LIMIT {
            return Err(BuildError::TokenLimitTooLarge {
                limit: self.max_tokens,
            });
        }
        let budgets = Budgets::new(&self.budgets, &*self.clock)?;
        let overflow = Arc::new(KeyTotals::new(
            OVERFLOW_LABEL,
            OVERFLOW_LABEL,
            OVERFLOW_LABEL,
        ));
        Ok(CostTracker {
            attachment: None,
            inner: Arc::new(Inner {
                prices,
                accounting: self.accounting,
                max_tokens: self.max_tokens,
                keys: KeyTable::new(self.max_keys),
                registry: Mutex::new(HashMap::new()),
                overflow,
                budgets,
                clock: self.clock,
                unpriced: AtomicU64::new(0),
                rejected: AtomicU64::new(0),
                not_calls: AtomicU64::new(0),
                overflowed: AtomicU64::new(0),
                warnings_suppressed: AtomicU64::new(0),
                warned: Mutex::new(HashSet::new()),
            }),
        })
    }
}

/// Prices LLM calls from their stop events and keeps exact running totals and budgets.
///
/// ```
/// use llm_telemetry_core::{Bus, Value, testing::Capture};
/// use llm_telemetry_genai::{catalog::{self, keys}};
/// use llm_telemetry_cost::{CostTracker, Usd};
///
/// let bus = Bus::new();
/// let tracker = CostTracker::builder().attach(&bus).unwrap();
/// let costs = Capture::attach(&bus, ["llm.cost.calculated"]).unwrap();
///
/// bus.execute(
///     &catalog::LLM_CHAT_STOP,
///     &[(keys::INPUT_TOKENS, 1_000.0), (keys::OUTPUT_TOKENS, 200.0)],
///     &[(keys::MODEL, Value::Str("gpt-4o")), (keys::PROVIDER, Value::Str("openai")),
///       (keys::TENANT, Value::Str("acme"))],
/// );
/// // gpt-4o: 1,000 × $2.50/M + 200 × $10/M
/// assert_eq!(tracker.total(), "0.0045".parse::<Usd>().unwrap());
/// assert_eq!(costs.events()[0].measurement(keys::COST_USD), Some(0.0045));
/// assert_eq!(tracker.stats().priced, 1);
/// tracker.detach(std::time::Duration::from_secs(1)).unwrap();
/// ```
///
/// Cheap to clone: clones share the totals and the attachment.
#[derive(Clone)]
pub struct CostTracker {
    inner: Arc<Inner>,
    /// Where it is attached; `None` when built with [`CostTrackerBuilder::build`].
    attachment: Option<Arc<Attachment>>,
}

impl std::fmt::Debug for CostTracker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CostTracker")
            .field("models", &self.inner.prices.len())
            .field("keys", &self.inner.keys.len())
            .field("handler_id", &self.handler_id())
            .field("stats", &self.stats())
            .finish()
    }
}

struct Inner {
    prices: PriceTable,
    accounting: TokenAccounting,
    max_tokens: u64,
    keys: KeyTable,
    /// Every totals cell by (tenant, provider, model); written on the cold path only.
    registry: Mutex<HashMap<(String, String, String), Arc<KeyTotals>>>,
    overflow: Arc<KeyTotals>,
    budgets: Budgets,
    clock: Arc<dyn Clock>,
    unpriced: AtomicU64,
    rejected: AtomicU64,
    not_calls: AtomicU64,
    overflowed: AtomicU64,
    warnings_suppressed: AtomicU64,
    warned: Mutex<HashSet<String>>,
}

impl CostTracker {
    /// A builder with the built-in price table, no budgets and the system clock.
    pub fn builder() -> CostTrackerBuilder {
        CostTrackerBuilder {
            prices: PriceTable::builtin(),
            overrides: Vec::new(),
            budgets: Vec::new(),
            accounting: TokenAccounting::default(),
            max_keys: DEFAULT_MAX_KEYS,
            max_tokens: DEFAULT_MAX_TOKENS_PER_EVENT,
            clock: Arc::new(SystemClock),
            id: HANDLER_ID.to_owned(),
            delivery: Delivery::Inline,
        }
    }

    /// The handler id on the bus, when attached by [`CostTrackerBuilder::attach`].
    pub fn handler_id(&self) -> Option<&str> {
        self.attachment.as_deref().map(Attachment::id)
    }

    /// Waits until every stop event emitted before the call is priced, by `deadline` (an
    /// `Instant`, or a `Duration` from now): with queued delivery
    /// ([`CostTrackerBuilder::delivery`]) until the queue has drained; inline, every event was
    /// priced when it was emitted and there is nothing to wait for. A tracker not attached
    /// (built with [`CostTrackerBuilder::build`], or detached) is
    /// [`LifecycleError::AlreadyShutDown`].
    pub fn flush(&self, deadline: impl Into<Deadline>) -> Result<(), LifecycleError> {
        match &self.attachment {
            Some(attachment) => attachment.flush(deadline.into()),
            None => Err(LifecycleError::AlreadyShutDown),
        }
    }

    /// Detaches the tracker from its bus, letting a queued lane price what it holds first, by
    /// `deadline` (an `Instant`, or a `Duration` from now). The totals, budgets and
    /// [`CostTracker::stats`] stay readable, frozen as of the detach. A tracker not attached
    /// (built with [`CostTrackerBuilder::build`], or detached already, by any clone) is
    /// [`LifecycleError::AlreadyShutDown`].
    ///
    /// Takes `&self`, as every handler handle of the workspace does (`OtelHandler`,
    /// `PrometheusReporter`, `LogHandle`, `TracingBridge`): the handle outlives the detach, so
    /// its totals and frozen stats can still be read, and a handle that is shared (cloned, or
    /// held inside the facade's `Telemetry`) can be detached without being moved out; a second
    /// call says [`LifecycleError::AlreadyShutDown`].
    pub fn detach(&self, deadline: impl Into<Deadline>) -> Result<(), LifecycleError> {
        match &self.attachment {
            Some(attachment) => attachment.detach(deadline.into()),
            None => Err(LifecycleError::AlreadyShutDown),
        }
    }

    /// Prices and records one event without a bus (nothing is emitted; budgets still update).
    pub fn record(&self, event: &Event<'_>) -> Result<Outcome, Rejection> {
        self.inner.process(event, None)
    }

    /// Prices and records one event, emitting on `bus` as the attached handler does.
    pub fn record_on(&self, bus: &Bus, event: &Event<'_>) -> Result<Outcome, Rejection> {
        self.inner.process(event, Some(Sink::of(bus, event)))
    }

    /// The price table in use.
    pub fn prices(&self) -> &PriceTable {
        &self.inner.prices
    }

    /// Every running total, sorted by tenant, provider, model (the overflow totals last, if
    /// used).
    pub fn totals(&self) -> Vec<CostTotal> {
        let mut totals: Vec<CostTotal> = self
            .inner
            .registry
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .map(|t| snapshot(t))
            .collect();
        totals.sort_by(|a, b| {
            (&a.tenant, &a.provider, &a.model).cmp(&(&b.tenant, &b.provider, &b.model))
        });
        let overflow = snapshot(&self.inner.overflow);
        if overflow.calls > 0 {
            totals.push(overflow);
        }
        totals
    }

    /// The running total of one (tenant, provider, model), if it has one.
    pub fn total_for(&self, tenant: &str, provider: &str, model: &str) -> Option<CostTotal> {
        self.inner
            .registry
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&(tenant.to_owned(), provider.to_owned(), model.to_owned()))
            .map(|t| snapshot(t))
    }

    /// The spend of one tenant over every provider and model (overflow excluded).
    pub fn tenant_total(&self, tenant: &str) -> Usd {
        self.totals()
            .iter()
            .filter(|t| t.tenant == tenant && t.model != OVERFLOW_LABEL)
            .map(|t| t.cost)
            .sum()
    }

    /// The spend over everything, overflow included.
    pub fn total(&self) -> Usd {
        self.totals().iter().map(|t| t.cost).sum()
    }

    /// The counters: every stop event the tracker handled is counted once, as priced,
    /// unpriced, rejected or not a call; plus the bus's drops for it.
    pub fn stats(&self) -> CostStats {
        let inner = &self.inner;
        CostStats {
            priced: self.totals().iter().map(|t| t.calls).sum(),
            unpriced: inner.unpriced.load(Ordering::Relaxed),
            rejected: inner.rejected.load(Ordering::Relaxed),
            not_calls: inner.not_calls.load(Ordering::Relaxed),
            overflowed: inner.overflowed.load(Ordering::Relaxed),
            warnings_suppressed: inner.warnings_suppressed.load(Ordering::Relaxed),
            queue_dropped: self.attachment.as_deref().map_or(0, Attachment::dropped),
        }
    }

    /// The unpriced model names seen (at most [`MAX_WARNED_MODELS`]), sorted.
    pub fn unpriced_models(&self) -> Vec<String> {
        let mut models: Vec<String> = self
            .inner
            .warned
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .cloned()
            .collect();
        models.sort();
        models
    }

    /// Every budget's current status (global first, then tenants by name).
    pub fn budgets(&self) -> Vec<BudgetStatus> {
        self.inner.budgets.statuses(&*self.inner.clock)
    }
}

fn snapshot(totals: &KeyTotals) -> CostTotal {
    CostTotal {
        tenant: totals.tenant.clone(),
        provider: totals.provider.clone(),
        model: totals.model.clone(),
        cost: totals.cost.load(),
        calls: totals.calls.load(Ordering::Relaxed),
    }
}

/// Where the tracker's own events go: the bus, in the span of the call being priced (the stop
/// event's span), so `llm.cost.calculated` belongs to the same trace as the call.
#[derive(Clone, Copy)]
struct Sink<'a> {
    bus: &'a Bus,
    /// The event being priced; its span is read only when something is emitted.
    event: &'a Event<'a>,
}

impl<'a> Sink<'a> {
    fn of(bus: &'a Bus, event: &'a Event<'a>) -> Self {
        Sink { bus, event }
    }

    fn span(&self) -> Option<SpanContext> {
        self.event.span()
    }
}

impl Inner {
    #[inline]
    fn process(&self, event: &Event<'_>, sink: Option<Sink<'_>>) -> Result<Outcome, Rejection> {
        let Some(raw) = RawTokens::find(event.measurements()) else {
            self.not_calls.fetch_add(1, Ordering::Relaxed);
            return Ok(Outcome::NotACall);
        };
        let usage = raw
            .validate(self.accounting, self.max_tokens)
            .inspect_err(|_| {
                self.rejected.fetch_add(1, Ordering::Relaxed);
            })?;
        let id = CallIdentity::of(event);
        if id.model.is_empty() {
            self.rejected.fetch_add(1, Ordering::Relaxed);
            return Err(Rejection::MissingModel);
        }
        if let Some((key, len)) = [
            (keys::MODEL, id.model.len()),
            (keys::PROVIDER, id.provider.len()),
            (keys::TENANT, id.tenant.len()),
        ]
        .into_iter()
        .find(|(_, len)| *len > MAX_LABEL_BYTES)
        {
            self.rejected.fetch_add(1, Ordering::Relaxed);
            return Err(Rejection::LabelTooLong {
                key,
                len,
                max: MAX_LABEL_BYTES,
            });
        }
        let hash = self.keys.hash(&id);
        match self.keys.get(hash, &id) {
            Some(entry) => Ok(self.charge_entry(entry, &usage, &id, sink)),
            None => Ok(self.process_new_key(hash, &usage, &id, sink)),
        }
    }

    #[inline]
    fn charge_entry(
        &self,
        entry: &KeyEntry,
        usage: &Usage,
        id: &CallIdentity<'_>,
        sink: Option<Sink<'_>>,
    ) -> Outcome {
        match &entry.resolved {
            Some(resolved) => self.charge(resolved, usage, id, sink),
            None => {
                self.unpriced.fetch_add(1, Ordering::Relaxed);
                Outcome::Unpriced
            }
        }
    }

    /// Cold: the first call of a key (or any call past the key cap).
    #[cold]
    #[inline(never)]
    fn process_new_key(
        &self,
        hash: u64,
        usage: &Usage,
        id: &CallIdentity<'_>,
        sink: Option<Sink<'_>>,
    ) -> Outcome {
        let inserted = self.keys.insert(hash, id, |room| self.resolve(id, room));
        let priced = match &inserted {
            Insert::Cached(entry) => entry.resolved.is_some(),
            Insert::Full(resolved) => resolved.is_some(),
        };
        if !priced {
            // Outside the insert lock: this may emit.
            self.warn_unpriced(id, sink);
        }
        match inserted {
            Insert::Cached(entry) => self.charge_entry(entry, usage, id, sink),
            Insert::Full(Some(resolved)) => {
                self.overflowed.fetch_add(1, Ordering::Relaxed);
                self.charge(&resolved, usage, id, sink)
            }
            Insert::Full(None) => {
                self.unpriced.fetch_add(1, Ordering::Relaxed);
                Outcome::Unpriced
            }
        }
    }

    /// What a key resolves to: `None` if the model has no price. With `new_totals` false (past
    /// the key cap) a key without totals yet adds to the overflow totals.
    fn resolve(&self, id: &CallIdentity<'_>, new_totals: bool) -> Option<Resolved> {
        let provider_hint = Some(id.provider).filter(|p| !p.is_empty());
        let (_, price) = self.prices.lookup(id.model, provider_hint)?;
        let provider: &str = if !id.provider.is_empty() {
            id.provider
        } else if let Some(p) = price.provider.as_deref() {
            p
        } else {
            id.model.split_once('/').map(|(p, _)| p).unwrap_or("")
        };
        let key = (
            id.tenant.to_owned(),
            provider.to_owned(),
            id.model.to_owned(),
        );
        let totals = {
            let mut registry = self.registry.lock().unwrap_or_else(PoisonError::into_inner);
            match registry.get(&key) {
                Some(t) => Arc::clone(t),
                None if new_totals => {
                    let t = Arc::new(KeyTotals::new(&key.0, &key.1, &key.2));
                    registry.insert(key, Arc::clone(&t));
                    t
                }
                None => Arc::clone(&self.overflow),
            }
        };
        Some(Resolved {
            rates: Rates::of(price),
            provider: Arc::from(provider),
            totals,
            scopes: self.budgets.scopes_for(id.tenant).into_boxed_slice(),
        })
    }

    /// Remembers an unpriced model and emits `llm.cost.unpriced_model` the first time.
    #[cold]
    fn warn_unpriced(&self, id: &CallIdentity<'_>, sink: Option<Sink<'_>>) {
        let first = {
            let mut warned = self.warned.lock().unwrap_or_else(PoisonError::into_inner);
            if warned.contains(id.model) {
                false
            } else if warned.len() >= MAX_WARNED_MODELS {
                self.warnings_suppressed.fetch_add(1, Ordering::Relaxed);
                false
            } else {
                warned.insert(id.model.to_owned())
            }
        };
        if let (true, Some(sink)) = (first, sink) {
            if sink.bus.is_listening(&LLM_COST_UNPRICED_MODEL) {
                sink.bus.execute_in_span(
                    &LLM_COST_UNPRICED_MODEL,
                    &[],
                    &[
                        (keys::MODEL, Value::Str(id.model)),
                        (keys::PROVIDER, Value::Str(id.provider)),
                    ],
                    sink.span(),
                );
            }
        }
    }

    #[inline]
    fn charge(
        &self,
        resolved: &Resolved,
        usage: &Usage,
        id: &CallIdentity<'_>,
        sink: Option<Sink<'_>>,
    ) -> Outcome {
        let cost = resolved.rates.cost(usage);
        resolved.totals.cost.add(cost);
        resolved.totals.calls.fetch_add(1, Ordering::Relaxed);
        if let Some(sink) = sink {
            if sink.bus.is_listening(&catalog::LLM_COST_CALCULATED) {
                emit_calculated(sink, cost, id, &resolved.provider);
            }
        }
        for scope in resolved.scopes.iter() {
            scope.charge(cost, &*self.clock, |budget, crossing| {
                if let Some(sink) = sink {
                    emit_crossing(sink, budget, crossing);
                }
            });
        }
        Outcome::Priced { cost }
    }
}

#[inline(never)]
fn emit_calculated(sink: Sink<'_>, cost: Usd, id: &CallIdentity<'_>, provider: &str) {
    let metadata = [
        (keys::MODEL, Value::Str(id.model)),
        (keys::PROVIDER, Value::Str(provider)),
        (keys::TENANT, Value::Str(id.tenant)),
    ];
    let used = if id.tenant.is_empty() { 2 } else { 3 };
    sink.bus.execute_in_span(
        &catalog::LLM_COST_CALCULATED,
        &[(keys::COST_USD, cost.as_f64())],
        &metadata[..used],
        sink.span(),
    );
}

#[cold]
fn emit_crossing(sink: Sink<'_>, budget: &Budget, crossing: Crossing) {
    let bus = sink.bus;
    if !bus.is_listening(&catalog::LLM_COST_THRESHOLD_EXCEEDED) {
        return;
    }
    let window = (keys::WINDOW, Value::Str(budget.window.as_str()));
    let measurements = [
        (keys::COST_USD, crossing.spent.as_f64()),
        (keys::THRESHOLD_USD, budget.threshold.as_f64()),
    ];
    match &budget.scope {
        crate::budget::BudgetScope::Global => bus.execute_in_span(
            &catalog::LLM_COST_THRESHOLD_EXCEEDED,
            &measurements,
            &[window],
            sink.span(),
        ),
        crate::budget::BudgetScope::Tenant(tenant) => bus.execute_in_span(
            &catalog::LLM_COST_THRESHOLD_EXCEEDED,
            &measurements,
            &[(keys::TENANT, Value::Str(tenant)), window],
            sink.span(),
        ),
    }
}
