//! [`CostSettings`]: the cost handler's own settings (whether to attach, budgets and their window),
//! as data that the `llm-telemetry` facade composes into its configuration (`[cost]` section,
//! `LLM_TELEMETRY_COST_*` variables) and that [`CostTrackerBuilder::settings`] turns into budgets.
//!
//! [`CostTrackerBuilder::settings`]: crate::CostTrackerBuilder::settings

use std::collections::BTreeMap;

use crate::budget::Window;

/// The settings of the cost handler.
///
/// ```
/// use llm_telemetry_cost::{CostSettings, CostTracker, Window};
/// let mut settings = CostSettings::default();
/// settings.budget_usd = Some(100.0);
/// settings.window = Window::Month;
/// settings.tenant_budgets.insert("acme".into(), 2.5);
/// let tracker = CostTracker::builder().settings(&settings)?.build()?;
/// assert_eq!(tracker.budgets().len(), 2);
/// # Ok::<(), llm_telemetry_cost::BuildError>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct CostSettings {
    /// Whether costs are computed at all (`cost.enabled`, default `true`): the facade attaches
    /// the tracker only when set.
    pub enabled: bool,
    /// A budget for all tenants together, in US dollars (`cost.budget_usd`).
    pub budget_usd: Option<f64>,
    /// The window budgets apply to (`cost.window`, default [`Window::Day`]).
    pub window: Window,
    /// Per-tenant budgets in US dollars (`cost.tenant_budgets`).
    pub tenant_budgets: BTreeMap<String, f64>,
}

impl Default for CostSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            budget_usd: None,
            window: Window::Day,
            tenant_budgets: BTreeMap::new(),
        }
    }
}
