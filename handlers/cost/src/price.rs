//! One model's prices and the cost of one call: [`TokenPrices`], [`Tier`], [`ModelPrice`],
//! [`Usage`] and the LiteLLM-compatible cost formula.
//!
//! # The formula
//!
//! Token counts follow the OpenAI / OpenTelemetry GenAI convention once normalized (see
//! [`crate::TokenAccounting`]): `input` counts every prompt token *including* cache reads and
//! cache writes, `output` every completion token *including* reasoning. Then, as LiteLLM does:
//!
//! ```text
//! tier     = the highest tier whose threshold the input exceeds (input > N), if any
//! price(f) = tier's f, else the base f
//! cost     = (input − cache_read − cache_write) × price(input)
//!          + cache_read  × price(cache_read),  falling back to price(input)
//!          + cache_write × price(cache_write), falling back to price(input)
//!          + (output − reasoning) × price(output)
//!          + reasoning × price(reasoning),     falling back to price(output)
//! ```
//!
//! A missing cache or reasoning price falls back to the plain input or output price, so a model
//! whose sheet lists no cache discount is charged the full rate rather than nothing. Tiers apply
//! to the whole call, not to the tokens above the threshold (LiteLLM's `*_above_200k_tokens`).
//! All arithmetic is integer attodollars ([`Usd`]).

use crate::money::Usd;

/// The largest per-token price accepted: `u64::MAX` attodollars, about 18.44 USD per token.
/// Real prices are below 0.01 USD per token; anything larger is a unit mistake.
pub const MAX_PRICE_PER_TOKEN: Usd = Usd::from_atto(u64::MAX as u128);

/// Per-token prices for the five kinds of tokens; `None` where the price sheet says nothing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TokenPrices {
    /// `input_cost_per_token`: an uncached prompt token.
    pub input: Option<Usd>,
    /// `output_cost_per_token`: a completion token.
    pub output: Option<Usd>,
    /// `cache_read_input_token_cost`: a prompt token read from the provider's cache.
    pub cache_read: Option<Usd>,
    /// `cache_creation_input_token_cost`: a prompt token written to the provider's cache.
    pub cache_write: Option<Usd>,
    /// `output_cost_per_reasoning_token`: a reasoning ("thinking") token.
    pub reasoning: Option<Usd>,
}

impl TokenPrices {
    /// Whether no price is set.
    pub fn is_empty(&self) -> bool {
        *self == TokenPrices::default()
    }

    /// Each price with its LiteLLM field name, for validation and reports.
    pub(crate) fn fields(&self) -> [(&'static str, Option<Usd>); 5] {
        [
            ("input_cost_per_token", self.input),
            ("output_cost_per_token", self.output),
            ("cache_read_input_token_cost", self.cache_read),
            ("cache_creation_input_token_cost", self.cache_write),
            ("output_cost_per_reasoning_token", self.reasoning),
        ]
    }
}

/// Prices that replace the base prices for a whole call whose input exceeds a threshold
/// (LiteLLM's `input_cost_per_token_above_200k_tokens` and friends).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tier {
    /// The tier applies when the call's input tokens are strictly more than this.
    pub above_input_tokens: u64,
    /// The tier's prices; a `None` falls back to the base price.
    pub prices: TokenPrices,
}

/// Everything needed to price one model's calls.
///
/// ```
/// use llm_telemetry_cost::{ModelPrice, Usage, Usd};
/// let price = ModelPrice::new(Usd::from_micros(3), Usd::from_micros(15)) // $3 / $15 per M
///     .with_cache_read(Usd::from_nanos(300))
///     .with_cache_write(Usd::from_nanos(3_750));
/// let usage = Usage { input: 1_000, output: 100, cache_read: 800, ..Usage::default() };
/// // 200 × 3e-6 + 800 × 3e-7 + 100 × 1.5e-5 = 0.0006 + 0.00024 + 0.0015
/// assert_eq!(price.cost(&usage).to_string(), "0.00234");
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ModelPrice {
    /// LiteLLM's `litellm_provider` (`openai`, `anthropic`, `gemini`, …), if known.
    pub provider: Option<String>,
    /// LiteLLM's `mode` (`chat`, `embedding`, …), if known.
    pub mode: Option<String>,
    /// The base prices.
    pub base: TokenPrices,
    /// Tiers by input size, sorted by threshold, ascending.
    pub tiers: Vec<Tier>,
}

impl ModelPrice {
    /// A price with input and output prices per token.
    pub fn new(input: Usd, output: Usd) -> Self {
        ModelPrice {
            base: TokenPrices {
                input: Some(input),
                output: Some(output),
                ..TokenPrices::default()
            },
            ..ModelPrice::default()
        }
    }
    /// Sets the price of a prompt token read from cache.
    pub fn with_cache_read(mut self, price: Usd) -> Self {
        self.base.cache_read = Some(price);
        self
    }
    /// Sets the price of a prompt token written to cache.
    pub fn with_cache_write(mut self, price: Usd) -> Self {
        self.base.cache_write = Some(price);
        self
    }
    /// Sets the price of a reasoning token.
    pub fn with_reasoning(mut self, price: Usd) -> Self {
        self.base.reasoning = Some(price);
        self
    }
    /// Sets the provider name (LiteLLM's `litellm_provider`).
    pub fn with_provider(mut self, provider: impl Into<String>) -> Self {
        self.provider = Some(provider.into());
        self
    }
    /// Adds (or replaces) the tier for calls with more than `above_input_tokens` input tokens.
    pub fn with_tier(mut self, above_input_tokens: u64, prices: TokenPrices) -> Self {
        self.tiers
            .retain(|t| t.above_input_tokens != above_input_tokens);
        self.tiers.push(Tier {
            above_input_tokens,
            prices,
        });
        self.tiers.sort_by_key(|t| t.above_input_tokens);
        self
    }

    /// The first price above [`MAX_PRICE_PER_TOKEN`], as (field, price), if any.
    pub(crate) fn oversized(&self) -> Option<(&'static str, Usd)> {
        std::iter::once(&self.base)
            .chain(self.tiers.iter().map(|t| &t.prices))
            .flat_map(TokenPrices::fields)
            .find_map(|(field, price)| match price {
                Some(p) if p > MAX_PRICE_PER_TOKEN => Some((field, p)),
                _ => None,
            })
    }

    /// The exact cost of one call (see the module docs for the formula).
    ///
    /// `usage` must be normalized (cache within input, reasoning within output); out-of-range
    /// parts are clamped to zero rather than wrapping.
    #[inline]
    pub fn cost(&self, usage: &Usage) -> Usd {
        let tier = self
            .tiers
            .iter()
            .rev()
            .find(|t| usage.input > t.above_input_tokens)
            .map(|t| &t.prices);
        let pick = |get: fn(&TokenPrices) -> Option<Usd>| tier.and_then(get).or(get(&self.base));
        let input = pick(|p| p.input).unwrap_or(Usd::ZERO);
        let output = pick(|p| p.output).unwrap_or(Usd::ZERO);
        let cache_read = pick(|p| p.cache_read).unwrap_or(input);
        let cache_write = pick(|p| p.cache_write).unwrap_or(input);
        let reasoning = pick(|p| p.reasoning).unwrap_or(output);
        let uncached = usage
            .input
            .saturating_sub(usage.cache_read)
            .saturating_sub(usage.cache_write);
        let plain_output = usage.output.saturating_sub(usage.reasoning);
        input * uncached
            + cache_read * usage.cache_read
            + cache_write * usage.cache_write
            + output * plain_output
            + reasoning * usage.reasoning
    }
}

/// A [`ModelPrice`] flattened for the hot path: for the base and each tier, the five effective
/// per-token prices in attodollars with every fallback already applied, so a call costs five
/// 64×64→128-bit multiplications. Equal to [`ModelPrice::cost`] by construction (and checked by
/// the property test of the totals).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Rates {
    base: [u64; 5],
    /// (threshold, rates), ascending by threshold.
    tiers: Box<[(u64, [u64; 5])]>,
}

impl Rates {
    /// Flattens `price`. Prices above [`MAX_PRICE_PER_TOKEN`] never reach here (tables refuse
    /// them); were one to, it would saturate at that maximum.
    pub(crate) fn of(price: &ModelPrice) -> Rates {
        let flatten = |tier: Option<&TokenPrices>| -> [u64; 5] {
            let pick =
                |get: fn(&TokenPrices) -> Option<Usd>| tier.and_then(get).or(get(&price.base));
            let input = pick(|p| p.input).unwrap_or(Usd::ZERO);
            let output = pick(|p| p.output).unwrap_or(Usd::ZERO);
            let rate = |u: Usd| u64::try_from(u.atto()).unwrap_or(u64::MAX);
            [
                rate(input),
                rate(output),
                rate(pick(|p| p.cache_read).unwrap_or(input)),
                rate(pick(|p| p.cache_write).unwrap_or(input)),
                rate(pick(|p| p.reasoning).unwrap_or(output)),
            ]
        };
        Rates {
            base: flatten(None),
            tiers: price
                .tiers
                .iter()
                .map(|t| (t.above_input_tokens, flatten(Some(&t.prices))))
                .collect(),
        }
    }

    /// The exact cost of one call. Token counts are at most 2⁵³ and rates at most 2⁶⁴, so each
    /// product is below 2¹¹⁷ and the sum of five cannot overflow.
    #[inline]
    pub(crate) fn cost(&self, usage: &Usage) -> Usd {
        let rates = self
            .tiers
            .iter()
            .rev()
            .find(|(above, _)| usage.input > *above)
            .map_or(&self.base, |(_, r)| r);
        let uncached = usage
            .input
            .saturating_sub(usage.cache_read)
            .saturating_sub(usage.cache_write);
        let plain_output = usage.output.saturating_sub(usage.reasoning);
        let times = |tokens: u64, rate: u64| tokens as u128 * rate as u128;
        Usd::from_atto(
            times(uncached, rates[0])
                + times(plain_output, rates[1])
                + times(usage.cache_read, rates[2])
                + times(usage.cache_write, rates[3])
                + times(usage.reasoning, rates[4]),
        )
    }
}

/// The token counts of one call, normalized: `input` includes `cache_read` and `cache_write`,
/// `output` includes `reasoning` (the OpenAI and OpenTelemetry GenAI convention, and LiteLLM's).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    /// Every prompt token, cached or not.
    pub input: u64,
    /// Every completion token, reasoning included.
    pub output: u64,
    /// Prompt tokens read from the provider's cache.
    pub cache_read: u64,
    /// Prompt tokens written to the provider's cache.
    pub cache_write: u64,
    /// Completion tokens spent on reasoning.
    pub reasoning: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usd(s: &str) -> Usd {
        s.parse().unwrap()
    }

    /// Gemini 2.5 Pro on AI Studio (LiteLLM 1.109.1): $1.25 / $10 per M, $2.50 / $15 above 200k
    /// input tokens; cache reads $0.125, $0.25 above 200k.
    fn gemini_25_pro() -> ModelPrice {
        ModelPrice::new(usd("1.25e-06"), usd("1e-05"))
            .with_cache_read(usd("1.25e-07"))
            .with_tier(
                200_000,
                TokenPrices {
                    input: Some(usd("2.5e-06")),
                    output: Some(usd("1.5e-05")),
                    cache_read: Some(usd("2.5e-07")),
                    ..TokenPrices::default()
                },
            )
    }

    #[test]
    fn plain_input_and_output() {
        // gpt-4o: $2.50 / $10 per M. 1200 in, 350 out = 0.003 + 0.0035.
        let p = ModelPrice::new(usd("2.5e-06"), usd("1e-05"));
        let u = Usage {
            input: 1200,
            output: 350,
            ..Usage::default()
        };
        assert_eq!(p.cost(&u), usd("0.0065"));
    }

    #[test]
    fn cache_reads_and_writes_are_priced_separately() {
        // claude-sonnet-4-5: $3 / $15 per M, cache read $0.30, cache write $3.75.
        // 10,000 input of which 6,000 cache reads and 2,000 cache writes, 500 output:
        // 2,000 × 3e-6 = 0.006; 6,000 × 3e-7 = 0.0018; 2,000 × 3.75e-6 = 0.0075;
        // 500 × 1.5e-5 = 0.0075. Total 0.0228.
        let p = ModelPrice::new(usd("3e-06"), usd("1.5e-05"))
            .with_cache_read(usd("3e-07"))
            .with_cache_write(usd("3.75e-06"));
        let u = Usage {
            input: 10_000,
            output: 500,
            cache_read: 6_000,
            cache_write: 2_000,
            reasoning: 0,
        };
        assert_eq!(p.cost(&u), usd("0.0228"));
    }

    #[test]
    fn missing_cache_and_reasoning_prices_fall_back_to_the_full_rate() {
        let p = ModelPrice::new(usd("1e-06"), usd("2e-06"));
        let u = Usage {
            input: 100,
            output: 10,
            cache_read: 40,
            cache_write: 10,
            reasoning: 5,
        };
        // Everything at the base rates: 100 × 1e-6 + 10 × 2e-6.
        assert_eq!(p.cost(&u), usd("0.00012"));
    }

    #[test]
    fn reasoning_tokens_use_their_own_price() {
        // gemini-2.5-flash: $0.30 / $2.50 per M, reasoning $2.50. Made-up reasoning price to
        // make it visible: $3.00. 1,000 in; 400 out of which 300 reasoning:
        // 1,000 × 3e-7 = 0.0003; 100 × 2.5e-6 = 0.00025; 300 × 3e-6 = 0.0009.
        let p = ModelPrice::new(usd("3e-07"), usd("2.5e-06")).with_reasoning(usd("3e-06"));
        let u = Usage {
            input: 1_000,
            output: 400,
            reasoning: 300,
            ..Usage::default()
        };
        assert_eq!(p.cost(&u), usd("0.00145"));
    }

    #[test]
    fn tiered_prices_apply_to_the_whole_call_above_the_threshold() {
        let p = gemini_25_pro();
        // At the threshold: base prices. 200,000 × 1.25e-6 + 1,000 × 1e-5 = 0.25 + 0.01.
        let at = Usage {
            input: 200_000,
            output: 1_000,
            ..Usage::default()
        };
        assert_eq!(p.cost(&at), usd("0.26"));
        // One token above: every token at the tier. 200,001 × 2.5e-6 + 1,000 × 1.5e-5
        // = 0.5000025 + 0.015.
        let above = Usage {
            input: 200_001,
            ..at
        };
        assert_eq!(p.cost(&above), usd("0.5150025"));
        // Above, with 100,000 cache reads: 100,001 × 2.5e-6 + 100,000 × 2.5e-7 + 0.015
        // = 0.2500025 + 0.025 + 0.015.
        let cached = Usage {
            cache_read: 100_000,
            ..above
        };
        assert_eq!(p.cost(&cached), usd("0.2900025"));
    }

    #[test]
    fn a_tier_without_a_cache_price_falls_back_to_the_base_cache_price() {
        let p = ModelPrice::new(usd("1e-06"), usd("1e-06"))
            .with_cache_read(usd("1e-07"))
            .with_tier(
                10,
                TokenPrices {
                    input: Some(usd("2e-06")),
                    ..TokenPrices::default()
                },
            );
        let u = Usage {
            input: 20,
            cache_read: 10,
            ..Usage::default()
        };
        // 10 × 2e-6 + 10 × 1e-7 (base cache price) + 0 output.
        assert_eq!(p.cost(&u), usd("0.000021"));
    }

    #[test]
    fn flattened_rates_agree_with_the_formula() {
        let p = gemini_25_pro()
            .with_cache_write(usd("3e-07"))
            .with_reasoning(usd("2e-05"));
        let rates = Rates::of(&p);
        for input in [0, 1, 1_000, 200_000, 200_001, 1_000_000] {
            let u = Usage {
                input,
                output: 5_000,
                cache_read: input / 3,
                cache_write: input / 5,
                reasoning: 1_234,
            };
            assert_eq!(rates.cost(&u), p.cost(&u), "{u:?}");
        }
    }

    #[test]
    fn the_highest_exceeded_tier_wins() {
        let tier = |input: &str| TokenPrices {
            input: Some(usd(input)),
            ..TokenPrices::default()
        };
        let p = ModelPrice::new(usd("1e-06"), Usd::ZERO)
            .with_tier(272_000, tier("4e-06"))
            .with_tier(128_000, tier("2e-06"));
        let cost = |input| {
            p.cost(&Usage {
                input,
                ..Usage::default()
            })
        };
        assert_eq!(cost(100_000), usd("0.1"));
        assert_eq!(cost(200_000), usd("0.4"));
        assert_eq!(cost(300_000), usd("1.2"));
    }
}
