//! # llm-telemetry-cost
//!
//! Prices LLM calls from the token counts on their `llm.*.stop` events, keeps exact running
//! totals per (tenant, provider, model), watches per-tenant and global budgets, and reports
//! through the bus:
//!
//! | event | measurements | metadata |
//! |---|---|---|
//! | `llm.cost.calculated` | `cost_usd` | `gen_ai.request.model`, `gen_ai.provider.name`, `tenant` (when the call had one) |
//! | `llm.cost.threshold_exceeded` | `cost_usd` (spend in the window), `threshold_usd` | `tenant` (tenant budgets only), `window` (`day`, `month`, `lifetime`) |
//! | `llm.cost.unpriced_model` | — | `gen_ai.request.model`, `gen_ai.provider.name` (once per model) |
//!
//! Each is emitted in the span of the call being priced (the stop event's span context), so it
//! joins the call's trace. Other handlers pick cost up from these events (the Prometheus handler turns
//! `llm.cost.calculated` into `llm_cost_usd_total{provider,model,tenant}`) without depending on
//! this crate.
//!
//! ```
//! use llm_telemetry_core::{Bus, Value};
//! use llm_telemetry_genai::{catalog::{self, keys}};
//! use llm_telemetry_cost::{Budget, CostTracker, PriceTable, Usd, Window};
//!
//! let bus = Bus::new();
//! let tracker = CostTracker::builder()
//!     .prices(PriceTable::builtin())               // or PriceTable::from_litellm_file(path)?
//!     .budget(Budget::tenant("acme", Window::Day, Usd::from_dollars(50)))
//!     .attach(&bus)
//!     .unwrap();
//!
//! bus.execute(
//!     &catalog::LLM_CHAT_STOP,
//!     &[(keys::INPUT_TOKENS, 12_000.0), (keys::CACHE_READ_TOKENS, 8_000.0),
//!       (keys::OUTPUT_TOKENS, 900.0)],
//!     &[(keys::MODEL, Value::Str("claude-sonnet-4-5")), (keys::TENANT, Value::Str("acme"))],
//! );
//! // 4,000 × $3/M + 8,000 × $0.30/M + 900 × $15/M = 0.012 + 0.0024 + 0.0135
//! let total = tracker.total_for("acme", "anthropic", "claude-sonnet-4-5").unwrap();
//! assert_eq!(total.cost.to_string(), "0.0279");
//! tracker.detach(std::time::Duration::from_secs(5)).unwrap();
//! ```
//!
//! [`CostTracker`] is the handle [`CostTrackerBuilder::attach`] returns, with the shape every
//! handler crate shares: [`CostTracker::stats`], [`CostTracker::flush`] and
//! [`CostTracker::detach`], each error a [`llm_telemetry_core::LifecycleError`].
//!
//! ## Money
//!
//! Amounts are [`Usd`]: integer **attodollars** (10⁻¹⁸ USD) in a `u128`. Prices are read from
//! the JSON number text exactly (never through `f64`); costs and totals are integer sums; the
//! `cost_usd` measurement is the only float, converted at the edge for display and metrics.
//!
//! ## Prices
//!
//! [`PriceTable`] reads LiteLLM's `model_prices_and_context_window.json` (tolerating its unknown
//! fields, `sample_spec` entry and junk values), ships a built-in table of current models, takes
//! programmatic prices and overrides, and finds models with or without their provider prefix.
//! [`ModelPrice::cost`] documents the formula (cache reads and writes, reasoning tokens, tiers
//! by input size) and [`TokenAccounting`] what the token counts include.
//!
//! ## Bad input
//!
//! Nothing an event carries makes the handler panic. A model without a price is counted as
//! unpriced and announced once ([`CostTracker::unpriced_models`], bounded); negative, fractional,
//! non-finite or absurd token counts, and names longer than [`MAX_LABEL_BYTES`], are rejected
//! and counted ([`Rejection`], [`CostStats`]); distinct (tenant, provider, model) keys are capped
//! ([`CostTrackerBuilder::max_keys`], overflow totals past the cap) so hostile names cannot grow
//! memory.

#![warn(missing_docs)]

mod atomic;
pub mod budget;
pub mod error;
mod keys;
pub mod litellm;
pub mod money;
pub mod price;
pub mod settings;
pub mod table;
pub mod tracker;
pub mod usage;

pub use budget::{Budget, BudgetScope, BudgetStatus, Window};
pub use error::{AmountError, BudgetError, BuildError, PriceError, Rejection};
pub use keys::MAX_UNPRICED_KEYS;
pub use litellm::{IgnoredField, LoadReport, Skipped};
pub use llm_telemetry_core::{Clock, ManualClock, SystemClock};
pub use money::{ATTO_PER_USD, Usd};
pub use price::{MAX_PRICE_PER_TOKEN, ModelPrice, Tier, TokenPrices, Usage};
pub use settings::CostSettings;
pub use table::{BUILTIN_SOURCE, PriceTable};
pub use tracker::{
    ATTACH_PATTERN, CostStats, CostTotal, CostTracker, CostTrackerBuilder, DEFAULT_MAX_KEYS,
    DEFAULT_MAX_TOKENS_PER_EVENT, HANDLER_ID, LLM_COST_UNPRICED_MODEL, MAX_LABEL_BYTES,
    MAX_TOKENS_LIMIT, MAX_WARNED_MODELS, OVERFLOW_LABEL, Outcome,
};
pub use usage::TokenAccounting;
