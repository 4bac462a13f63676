//! Reading LiteLLM's `model_prices_and_context_window.json`: which fields are per-token prices,
//! how tier names (`*_above_200k_tokens`) are read, and what is tolerated.
//!
//! The file is an object of model names (some with a provider prefix, `gemini/gemini-2.5-pro`)
//! to objects of fields. Numbers are read from their JSON text with [`crate::money`]'s exact
//! parser (through `serde_json`'s `RawValue`), never through `f64`. Tolerated, and reported in
//! [`LoadReport`] rather than failing the load: unknown fields (there are hundreds: batch,
//! priority, audio, image prices…), missing fields, non-numeric junk where a price should be,
//! negative prices, non-object entries, entries without any per-token price (image or per-second
//! models) and LiteLLM's `sample_spec` documentation entry.

use std::collections::BTreeMap;

use serde_json::value::RawValue;

use crate::error::PriceError;
use crate::money::{Usd, parse_decimal_atto};
use crate::price::{MAX_PRICE_PER_TOKEN, ModelPrice, Tier, TokenPrices};

/// The name of LiteLLM's documentation entry, which describes the fields instead of a model.
pub const SAMPLE_SPEC: &str = "sample_spec";

/// What a load read and what it left out.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LoadReport {
    /// Models loaded (added or replaced).
    pub loaded: usize,
    /// Entries left out, with why.
    pub skipped: Vec<Skipped>,
    /// Price fields left out of loaded models (non-numeric or negative values), with why.
    pub ignored_fields: Vec<IgnoredField>,
}

/// An entry of the file that was not loaded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Skipped {
    /// The entry's key.
    pub model: String,
    /// Why it was left out.
    pub reason: String,
}

/// A price field that was not used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IgnoredField {
    /// The model.
    pub model: String,
    /// The field name.
    pub field: String,
    /// Why it was not used.
    pub reason: String,
}

/// The five per-token price fields LiteLLM names, and where each lands in [`TokenPrices`].
/// Where one price field lands in [`TokenPrices`].
type FieldSlot = fn(&mut TokenPrices) -> &mut Option<Usd>;

const PRICE_FIELDS: [(&str, FieldSlot); 5] = [
    ("input_cost_per_token", |p| &mut p.input),
    ("output_cost_per_token", |p| &mut p.output),
    ("cache_read_input_token_cost", |p| &mut p.cache_read),
    ("cache_creation_input_token_cost", |p| &mut p.cache_write),
    ("output_cost_per_reasoning_token", |p| &mut p.reasoning),
];

/// Which price a field name is: (index into [`PRICE_FIELDS`], tier threshold or `None` for base).
/// `input_cost_per_token_above_200k_tokens` is tier 200,000; `…_above_128000_tokens` is 128,000;
/// variants with any other suffix (`_batches`, `_priority`, `_above_1hr`) are not ours.
fn classify(field: &str) -> Option<(usize, Option<u64>)> {
    for (index, (base, _)) in PRICE_FIELDS.iter().enumerate() {
        if field == *base {
            return Some((index, None));
        }
        let Some(rest) = field
            .strip_prefix(base)
            .and_then(|r| r.strip_prefix("_above_"))
        else {
            continue;
        };
        let Some(size) = rest.strip_suffix("_tokens") else {
            continue;
        };
        let (digits, multiplier) = match size.strip_suffix(['k', 'K']) {
            Some(d) => (d, 1_000),
            None => match size.strip_suffix(['m', 'M']) {
                Some(d) => (d, 1_000_000),
                None => (size, 1),
            },
        };
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let threshold = digits.parse::<u64>().ok()?.checked_mul(multiplier)?;
        return Some((index, Some(threshold)));
    }
    None
}

fn kind_of(raw: &RawValue) -> &'static str {
    match raw.get().trim_start().as_bytes().first() {
        Some(b'{') => "an object",
        Some(b'[') => "an array",
        Some(b'"') => "a string",
        Some(b't' | b'f') => "a bool",
        Some(b'n') => "null",
        _ => "a number",
    }
}

fn is_number(raw: &RawValue) -> bool {
    matches!(
        raw.get().trim_start().as_bytes().first(),
        Some(b'-' | b'0'..=b'9')
    )
}

/// Parses a LiteLLM price file into (model, price) pairs, in file order, plus a report.
pub(crate) fn parse(text: &str) -> Result<(Vec<(String, ModelPrice)>, LoadReport), PriceError> {
    let top: &RawValue =
        serde_json::from_str(text).map_err(|source| PriceError::Json { source })?;
    if !top.get().trim_start().starts_with('{') {
        return Err(PriceError::NotAnObject {
            found: kind_of(top),
        });
    }
    // Later duplicates win, as in the JSON object model LiteLLM itself reads the file with.
    let entries: BTreeMap<String, &RawValue> =
        serde_json::from_str(top.get()).map_err(|source| PriceError::Json { source })?;
    let mut report = LoadReport::default();
    let mut models = Vec::with_capacity(entries.len());
    for (model, raw) in entries {
        if model == SAMPLE_SPEC {
            report.skipped.push(Skipped {
                model,
                reason: "LiteLLM's documentation entry, not a model".to_owned(),
            });
            continue;
        }
        if !raw.get().trim_start().starts_with('{') {
            report.skipped.push(Skipped {
                reason: format!("the entry is {}, not an object", kind_of(raw)),
                model,
            });
            continue;
        }
        let fields: BTreeMap<String, &RawValue> = match serde_json::from_str(raw.get()) {
            Ok(fields) => fields,
            Err(e) => {
                report.skipped.push(Skipped {
                    reason: format!("the entry cannot be read: {e}"),
                    model,
                });
                continue;
            }
        };
        let price = parse_entry(&model, &fields, &mut report);
        let has_token_price = std::iter::once(&price.base)
            .chain(price.tiers.iter().map(|t| &t.prices))
            .any(|p| !p.is_empty());
        if !has_token_price {
            report.skipped.push(Skipped {
                model,
                reason: "no per-token price (priced per image, second, character or request)"
                    .to_owned(),
            });
            continue;
        }
        models.push((model, price));
    }
    report.loaded = models.len();
    Ok((models, report))
}

fn parse_entry(
    model: &str,
    fields: &BTreeMap<String, &RawValue>,
    report: &mut LoadReport,
) -> ModelPrice {
    let mut price = ModelPrice::default();
    let mut tiers: BTreeMap<u64, TokenPrices> = BTreeMap::new();
    let mut ignore = |field: &str, reason: String| {
        report.ignored_fields.push(IgnoredField {
            model: model.to_owned(),
            field: field.to_owned(),
            reason,
        })
    };
    for (field, raw) in fields {
        match field.as_str() {
            "litellm_provider" => {
                price.provider = serde_json::from_str::<String>(raw.get()).ok();
                continue;
            }
            "mode" => {
                price.mode = serde_json::from_str::<String>(raw.get()).ok();
                continue;
            }
            _ => {}
        }
        let Some((index, tier)) = classify(field) else {
            continue;
        };
        if !is_number(raw) {
            ignore(
                field,
                format!("the value is {}, not a number", kind_of(raw)),
            );
            continue;
        }
        let value = match parse_decimal_atto(raw.get()) {
            Ok(atto) => Usd::from_atto(atto),
            Err(e) => {
                ignore(field, e.to_string());
                continue;
            }
        };
        if value > MAX_PRICE_PER_TOKEN {
            ignore(
                field,
                format!(
                    "{value} USD per token is above the 18.44 USD per token this crate accepts"
                ),
            );
            continue;
        }
        let target = match tier {
            None => &mut price.base,
            Some(threshold) => tiers.entry(threshold).or_default(),
        };
        *(PRICE_FIELDS[index].1)(target) = Some(value);
    }
    price.tiers = tiers
        .into_iter()
        .map(|(above_input_tokens, prices)| Tier {
            above_input_tokens,
            prices,
        })
        .collect();
    price
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_price_fields_and_tiers() {
        assert_eq!(classify("input_cost_per_token"), Some((0, None)));
        assert_eq!(
            classify("input_cost_per_token_above_200k_tokens"),
            Some((0, Some(200_000)))
        );
        assert_eq!(
            classify("cache_read_input_token_cost_above_272k_tokens"),
            Some((2, Some(272_000)))
        );
        assert_eq!(
            classify("output_cost_per_token_above_128000_tokens"),
            Some((1, Some(128_000)))
        );
        assert_eq!(classify("input_cost_per_token_batches"), None);
        assert_eq!(
            classify("input_cost_per_token_above_200k_tokens_priority"),
            None
        );
        assert_eq!(classify("cache_creation_input_token_cost_above_1hr"), None);
        assert_eq!(
            classify("cache_creation_input_token_cost_above_1hr_above_200k_tokens"),
            None
        );
        assert_eq!(classify("max_input_tokens"), None);
    }

    #[test]
    fn tolerates_junk_and_reports_it() {
        let text = r#"{
            "sample_spec": {"input_cost_per_token": 0.0, "max_tokens": "set to max_output_tokens"},
            "junk": [1, 2],
            "per-image": {"output_cost_per_image": 0.04, "litellm_provider": "x"},
            "weird": {"input_cost_per_token": "free", "output_cost_per_token": -1e-6,
                      "cache_read_input_token_cost": 1e-7, "unknown_field": {"a": 1},
                      "litellm_provider": 42, "mode": "chat"},
            "ok": {"input_cost_per_token": 1e-06, "output_cost_per_token": 2e-06,
                   "input_cost_per_token_above_200k_tokens": 2e-06, "litellm_provider": "p"}
        }"#;
        let (models, report) = parse(text).unwrap();
        let names: Vec<&str> = models.iter().map(|(m, _)| m.as_str()).collect();
        assert_eq!(names, ["ok", "weird"]);
        assert_eq!(report.loaded, 2);
        let skipped: Vec<&str> = report.skipped.iter().map(|s| s.model.as_str()).collect();
        assert_eq!(skipped, ["junk", "per-image", "sample_spec"]);
        let ignored: Vec<&str> = report
            .ignored_fields
            .iter()
            .map(|f| f.field.as_str())
            .collect();
        assert_eq!(ignored, ["input_cost_per_token", "output_cost_per_token"]);
        let weird = &models[1].1;
        assert_eq!(weird.base.cache_read, Some("1e-7".parse().unwrap()));
        assert_eq!(weird.base.input, None);
        assert_eq!(weird.provider, None);
        assert_eq!(weird.mode.as_deref(), Some("chat"));
        let ok = &models[0].1;
        assert_eq!(ok.tiers.len(), 1);
        assert_eq!(ok.tiers[0].above_input_tokens, 200_000);
        assert_eq!(ok.provider.as_deref(), Some("p"));
    }

    #[test]
    fn rejects_what_is_not_a_price_table() {
        assert!(matches!(
            parse("[1]"),
            Err(PriceError::NotAnObject { found: "an array" })
        ));
        assert!(matches!(parse("{"), Err(PriceError::Json { .. })));
    }
}
