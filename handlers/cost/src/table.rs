//! [`PriceTable`]: model names to [`ModelPrice`]s, loaded from LiteLLM's JSON format, from the
//! built-in table, or set in code, and the lookup that finds a model with or without its provider
//! prefix.
//!
//! # Lookup
//!
//! LiteLLM keys some models bare (`gpt-4o`, `claude-sonnet-4-5`) and some with a provider prefix
//! (`gemini/gemini-2.5-pro`, `mistral/mistral-large-latest`); the same model may appear both ways
//! with different prices (Gemini on AI Studio vs Vertex). [`PriceTable::lookup`] with model `M`
//! and provider `P` (the event's `gen_ai.provider.name`) tries, in order:
//!
//! 1. `q/M` for each LiteLLM prefix `q` of `P` (OpenTelemetry names map to LiteLLM's:
//!    `gcp.gemini` → `gemini`, `mistral_ai` → `mistral`, `aws.bedrock` → `bedrock`, …);
//! 2. `M` as given;
//! 3. `M` without its first `prefix/` (`openai/gpt-4o` → `gpt-4o`).
//!
//! # The built-in table
//!
//! [`PriceTable::builtin`] holds 47 current models of OpenAI, Anthropic, Google Gemini, Mistral,
//! DeepSeek, xAI, Groq and Cohere. The figures are copied, unchanged, from
//! `litellm/model_prices_and_context_window_backup.json` in PyPI's `litellm` 1.109.1 wheel (each
//! entry keeps LiteLLM's `source` field naming the provider's price page). Prices change: for
//! production, load the current full file with [`PriceTable::merge_litellm_file`].

use std::collections::HashMap;
use std::path::Path;

use crate::error::PriceError;
use crate::litellm::{self, LoadReport};
use crate::money::Usd;
use crate::price::{ModelPrice, Usage};

/// The built-in table's JSON (LiteLLM format), for reference.
pub const BUILTIN_JSON: &str = include_str!("../prices/builtin.json");

/// The LiteLLM version the built-in figures come from.
pub const BUILTIN_SOURCE: &str =
    "litellm 1.109.1 (PyPI), litellm/model_prices_and_context_window_backup.json";

/// Model names to prices.
///
/// ```
/// use llm_telemetry_cost::{ModelPrice, PriceTable, Usage, Usd};
/// let mut table = PriceTable::builtin();
/// table.insert("my-finetune", ModelPrice::new(Usd::from_micros(1), Usd::from_micros(2))
///     .with_provider("openai")).unwrap();
/// let (key, _) = table.lookup("openai/gpt-4o", None).unwrap();
/// assert_eq!(key, "gpt-4o");
/// let (key, _) = table.lookup("gemini-2.5-flash", Some("gcp.gemini")).unwrap();
/// assert_eq!(key, "gemini/gemini-2.5-flash");
/// let usage = Usage { input: 1_000_000, ..Usage::default() };
/// assert_eq!(table.cost("my-finetune", None, &usage), Some(Usd::from_dollars(1)));
/// ```
#[derive(Clone, Debug, Default)]
pub struct PriceTable {
    models: HashMap<String, ModelPrice>,
}

/// LiteLLM provider prefixes for a provider name as events carry it (OpenTelemetry's
/// `gen_ai.provider.name` values, or LiteLLM's own names, which map to themselves).
pub fn litellm_prefixes(provider: &str) -> &[&str] {
    match provider {
        "gcp.gemini" | "google" | "google_ai_studio" => &["gemini"],
        "gcp.vertex_ai" | "vertex" | "vertexai" => &["vertex_ai"],
        "gcp.gen_ai" => &["gemini", "vertex_ai"],
        "aws.bedrock" => &["bedrock", "bedrock_converse"],
        "azure.ai.openai" | "azure_openai" => &["azure"],
        "azure.ai.inference" => &["azure_ai"],
        "mistral_ai" | "mistralai" => &["mistral"],
        "x_ai" | "x-ai" => &["xai"],
        "ibm.watsonx.ai" => &["watsonx"],
        _ => &[],
    }
}

impl PriceTable {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// The built-in table (see the module docs for the source of the figures).
    pub fn builtin() -> Self {
        let mut table = PriceTable::new();
        // The built-in file is checked by `builtin_table_loads_cleanly`; should it ever fail to
        // parse, an empty table (every model unpriced, and counted) beats a panic.
        if let Ok((models, _)) = litellm::parse(BUILTIN_JSON) {
            table.models.extend(models);
        }
        table
    }

    /// A table from the text of a LiteLLM `model_prices_and_context_window.json`.
    pub fn from_litellm_json(text: &str) -> Result<Self, PriceError> {
        let mut table = PriceTable::new();
        table.merge_litellm_json(text)?;
        Ok(table)
    }

    /// A table from a LiteLLM price file on disk.
    pub fn from_litellm_file(path: impl AsRef<Path>) -> Result<Self, PriceError> {
        let mut table = PriceTable::new();
        table.merge_litellm_file(path)?;
        Ok(table)
    }

    /// Adds every model of a LiteLLM price file's text, replacing models already present.
    /// Entries and fields it cannot use are listed in the report, not errors.
    pub fn merge_litellm_json(&mut self, text: &str) -> Result<LoadReport, PriceError> {
        let (models, report) = litellm::parse(text)?;
        self.models.extend(models);
        Ok(report)
    }

    /// Adds every model of a LiteLLM price file on disk, replacing models already present.
    pub fn merge_litellm_file(&mut self, path: impl AsRef<Path>) -> Result<LoadReport, PriceError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| PriceError::Io {
            path: path.to_owned(),
            source,
        })?;
        self.merge_litellm_json(&text)
    }

    /// Sets (or overrides) one model's price; returns the price it replaced.
    /// A per-token price above 18.44 USD is refused as a unit mistake.
    pub fn insert(
        &mut self,
        model: impl Into<String>,
        price: ModelPrice,
    ) -> Result<Option<ModelPrice>, PriceError> {
        let model = model.into();
        if let Some((field, value)) = price.oversized() {
            return Err(PriceError::PriceTooLarge {
                model,
                field,
                price: value.to_string(),
            });
        }
        Ok(self.models.insert(model, price))
    }

    /// Removes a model; returns its price.
    pub fn remove(&mut self, model: &str) -> Option<ModelPrice> {
        self.models.remove(model)
    }

    /// The price stored under exactly this key.
    pub fn get(&self, key: &str) -> Option<&ModelPrice> {
        self.models.get(key)
    }

    /// Finds a model's price with or without its provider prefix (see the module docs);
    /// returns the key it was found under and the price.
    pub fn lookup(&self, model: &str, provider: Option<&str>) -> Option<(&str, &ModelPrice)> {
        let found = |key: &str| self.models.get_key_value(key).map(|(k, v)| (k.as_str(), v));
        if let Some(provider) = provider.filter(|p| !p.is_empty()) {
            let own = [provider];
            let mapped = litellm_prefixes(provider);
            for prefix in mapped.iter().chain(own.iter()) {
                if model.starts_with(prefix) && model[prefix.len()..].starts_with('/') {
                    continue;
                }
                if let Some(hit) = found(&format!("{prefix}/{model}")) {
                    return Some(hit);
                }
            }
        }
        if let Some(hit) = found(model) {
            return Some(hit);
        }
        let (_, bare) = model.split_once('/')?;
        found(bare)
    }

    /// The cost of one call of `model`, or `None` if the model has no price.
    pub fn cost(&self, model: &str, provider: Option<&str>, usage: &Usage) -> Option<Usd> {
        self.lookup(model, provider).map(|(_, p)| p.cost(usage))
    }

    /// How many models it prices.
    pub fn len(&self) -> usize {
        self.models.len()
    }

    /// Whether it prices no model.
    pub fn is_empty(&self) -> bool {
        self.models.is_empty()
    }

    /// Every (key, price), in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &ModelPrice)> {
        self.models.iter().map(|(k, v)| (k.as_str(), v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_table_loads_cleanly() {
        let (models, report) = litellm::parse(BUILTIN_JSON).unwrap();
        assert_eq!(models.len(), 47);
        assert!(report.skipped.is_empty(), "{:?}", report.skipped);
        assert!(
            report.ignored_fields.is_empty(),
            "{:?}",
            report.ignored_fields
        );
        let table = PriceTable::builtin();
        assert_eq!(table.len(), 47);
        let gpt4o = table.get("gpt-4o").unwrap();
        assert_eq!(gpt4o.base.input, Some("2.5e-06".parse().unwrap()));
        assert_eq!(gpt4o.provider.as_deref(), Some("openai"));
    }

    #[test]
    fn lookup_with_and_without_provider_prefix() {
        let table = PriceTable::builtin();
        let key = |m, p| table.lookup(m, p).map(|(k, _)| k);
        assert_eq!(key("gpt-4o", None), Some("gpt-4o"));
        assert_eq!(key("gpt-4o", Some("openai")), Some("gpt-4o"));
        assert_eq!(key("openai/gpt-4o", None), Some("gpt-4o"));
        assert_eq!(key("openai/gpt-4o", Some("openai")), Some("gpt-4o"));
        assert_eq!(
            key("mistral-large-latest", Some("mistral_ai")),
            Some("mistral/mistral-large-latest")
        );
        assert_eq!(
            key("mistral/mistral-large-latest", None),
            Some("mistral/mistral-large-latest")
        );
        // Gemini is keyed both ways: the provider picks AI Studio's entry, no provider Vertex's.
        assert_eq!(
            key("gemini-2.5-pro", Some("gcp.gemini")),
            Some("gemini/gemini-2.5-pro")
        );
        assert_eq!(key("gemini-2.5-pro", None), Some("gemini-2.5-pro"));
        assert_eq!(key("no-such-model", Some("openai")), None);
        assert_eq!(key("", None), None);
    }

    #[test]
    fn programmatic_prices_override_loaded_ones() {
        let mut table = PriceTable::builtin();
        let old = table
            .insert(
                "gpt-4o",
                ModelPrice::new(Usd::from_micros(1), Usd::from_micros(1)),
            )
            .unwrap();
        assert_eq!(old.unwrap().base.input, Some("2.5e-06".parse().unwrap()));
        assert_eq!(
            table.get("gpt-4o").unwrap().base.input,
            Some(Usd::from_micros(1))
        );
        let err = table
            .insert("oops", ModelPrice::new(Usd::from_dollars(20), Usd::ZERO))
            .unwrap_err();
        assert!(matches!(
            err,
            PriceError::PriceTooLarge {
                field: "input_cost_per_token",
                ..
            }
        ));
        assert!(table.get("oops").is_none());
    }

    #[test]
    fn a_missing_file_is_a_typed_error_naming_the_path() {
        let err = PriceTable::from_litellm_file("/nonexistent/prices.json").unwrap_err();
        assert!(
            err.to_string().contains("/nonexistent/prices.json"),
            "{err}"
        );
    }
}
