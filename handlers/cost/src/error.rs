//! The crate's typed errors: bad amounts, bad price files, bad budgets, and why an event was
//! rejected. Each carries the bad value and says what to do about it.

use std::path::PathBuf;

/// A decimal amount that could not be read exactly.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AmountError {
    /// Not a decimal number.
    #[error(
        "{text:?} is not a usable amount: {reason}; write a plain decimal such as 0.25 or 2.5e-06"
    )]
    Invalid {
        /// The text as given.
        text: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A negative amount (prices and budgets are never negative).
    #[error("{text:?} is negative; prices and budgets must be zero or more")]
    Negative {
        /// The text as given.
        text: String,
    },
    /// Larger than the amounts this crate can hold (3.4 × 10²⁰ USD).
    #[error(
        "{text:?} is too large to hold in attodollars; check the units (prices are USD per token)"
    )]
    TooLarge {
        /// The text as given.
        text: String,
    },
}

/// A price table that could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum PriceError {
    /// The file could not be read.
    #[error("cannot read the price file {path}: {source}; check the path and its permissions")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The text is not JSON.
    #[error(
        "the price table is not valid JSON ({source}); expected LiteLLM's model_prices_and_context_window.json format"
    )]
    Json {
        /// The parser's error, with line and column.
        #[source]
        source: serde_json::Error,
    },
    /// The JSON is not an object of model names.
    #[error(
        "the price table's top level is {found}, not an object of model names; expected LiteLLM's model_prices_and_context_window.json format"
    )]
    NotAnObject {
        /// What the top level is (`an array`, `a number`, …).
        found: &'static str,
    },
    /// A per-token price (given programmatically) does not fit.
    #[error(
        "the {field} price of {model:?} is {price} USD per token, above the 18.44 USD per token this crate accepts; check the units (USD per token, not per million)"
    )]
    PriceTooLarge {
        /// The model.
        model: String,
        /// Which price.
        field: &'static str,
        /// The price as given.
        price: String,
    },
}

/// A budget that cannot be set.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BudgetError {
    /// The tenant name is empty.
    #[error(
        "a tenant budget needs a tenant name; use BudgetScope::Global for a budget over every tenant"
    )]
    EmptyTenant,
    /// Two budgets with the same scope and window.
    #[error(
        "a {window} budget for {scope} is already set ({existing} USD); set each scope and window once"
    )]
    Duplicate {
        /// The scope, as text.
        scope: String,
        /// The window.
        window: &'static str,
        /// The threshold already set.
        existing: String,
    },
}

/// Why an event's token counts were refused: nothing is added to any total for it.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum Rejection {
    /// A token count below zero.
    #[error("measurement {key} is {value}, a negative token count; report tokens as counts ≥ 0")]
    Negative {
        /// The measurement key.
        key: &'static str,
        /// Its value.
        value: f64,
    },
    /// A token count that is not a whole number.
    #[error("measurement {key} is {value}, not a whole number of tokens")]
    Fractional {
        /// The measurement key.
        key: &'static str,
        /// Its value.
        value: f64,
    },
    /// A token count that is NaN or infinite (the bus normally strips these before delivery).
    #[error("measurement {key} is {value}, not a finite number")]
    NotFinite {
        /// The measurement key.
        key: &'static str,
        /// Its value.
        value: f64,
    },
    /// A token count above the per-event limit (see `CostTrackerBuilder::max_tokens_per_event`).
    #[error(
        "measurement {key} is {value} tokens, above the per-event limit of {limit}; raise the limit if this is real"
    )]
    TooLarge {
        /// The measurement key.
        key: &'static str,
        /// Its value.
        value: f64,
        /// The limit.
        limit: u64,
    },
    /// Cache tokens exceed the input tokens they are supposed to be part of.
    #[error(
        "cache read ({cache_read}) + cache write ({cache_write}) tokens exceed input_tokens ({input}); with TokenAccounting::input_includes_cache the input count includes cached tokens (OpenAI/OpenTelemetry style), otherwise switch it off (Anthropic style)"
    )]
    CacheExceedsInput {
        /// `input_tokens`.
        input: u64,
        /// `cache_read_tokens`.
        cache_read: u64,
        /// `cache_write_tokens`.
        cache_write: u64,
    },
    /// Reasoning tokens exceed the output tokens they are supposed to be part of.
    #[error(
        "reasoning_tokens ({reasoning}) exceed output_tokens ({output}); with TokenAccounting::output_includes_reasoning the output count includes reasoning (OpenAI style), otherwise switch it off (Gemini style)"
    )]
    ReasoningExceedsOutput {
        /// `output_tokens`.
        output: u64,
        /// `reasoning_tokens`.
        reasoning: u64,
    },
    /// A model, provider or tenant name longer than any real one (see
    /// `tracker::MAX_LABEL_BYTES`): refused so hostile names cannot take memory.
    #[error(
        "metadata {key} is {len} bytes long, above the {max}-byte limit for model, provider and tenant names"
    )]
    LabelTooLong {
        /// The metadata key.
        key: &'static str,
        /// Its length in bytes.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The event names no model (`gen_ai.request.model` or `gen_ai.response.model`).
    #[error(
        "the event carries token counts but no gen_ai.request.model; add the model to the metadata"
    )]
    MissingModel,
}

/// A tracker that cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// A programmatic price was refused.
    #[error(transparent)]
    Price(#[from] PriceError),
    /// A budget was refused.
    #[error(transparent)]
    Budget(#[from] BudgetError),
    /// A budget amount from the configuration that is not a usable amount.
    #[error("cost budget {setting}: {source}")]
    ConfigAmount {
        /// Which setting (`cost.budget_usd`, `cost.tenant_budgets.acme`).
        setting: String,
        /// Why.
        #[source]
        source: AmountError,
    },
    /// The bus refused the tracker (its id is attached already, or the bus was shut down).
    #[error("attaching the cost tracker: {0}")]
    Attach(#[from] llm_telemetry_core::AttachError),
    /// `max_keys(0)`.
    #[error("max_keys is 0; allow at least one (tenant, provider, model) key")]
    ZeroMaxKeys,
    /// A per-event token limit past 2⁵³.
    #[error(
        "max_tokens_per_event is {limit}, above 2^53 where token counts stop being exact; use a smaller limit"
    )]
    TokenLimitTooLarge {
        /// The limit asked for.
        limit: u64,
    },
}
