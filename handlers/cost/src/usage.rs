//! Reading a call's token counts and identity out of an event: the five token measurements
//! (validated: whole, finite, non-negative, within a per-event limit), [`TokenAccounting`] (what
//! the counts include) and the model, provider and tenant metadata.
//!
//! One pass over the measurements and one over the metadata, no allocation.

use llm_telemetry_core::Event;
use llm_telemetry_genai::catalog::keys;

use crate::error::Rejection;
use crate::price::Usage;

/// What the event's token counts include. Providers differ; the cost formula needs the
/// normalized form (input includes cache tokens, output includes reasoning), and this says how
/// to get there.
///
/// | provider API | `input_includes_cache` | `output_includes_reasoning` |
/// |---|---|---|
/// | OpenAI, OpenTelemetry GenAI, LiteLLM | yes | yes |
/// | Anthropic (`input_tokens` excludes `cache_*_input_tokens`) | no | yes |
/// | Gemini (`candidatesTokenCount` excludes `thoughtsTokenCount`) | yes | no |
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TokenAccounting {
    /// `input_tokens` already counts `cache_read_tokens` and `cache_write_tokens`.
    pub input_includes_cache: bool,
    /// `output_tokens` already counts `reasoning_tokens`.
    pub output_includes_reasoning: bool,
}

impl TokenAccounting {
    /// OpenAI, OpenTelemetry GenAI and LiteLLM: both counts are inclusive (the default).
    pub const INCLUSIVE: TokenAccounting = TokenAccounting {
        input_includes_cache: true,
        output_includes_reasoning: true,
    };
    /// Anthropic's raw usage: cache tokens are reported beside `input_tokens`.
    pub const ANTHROPIC: TokenAccounting = TokenAccounting {
        input_includes_cache: false,
        output_includes_reasoning: true,
    };
    /// Gemini's raw usage: reasoning ("thoughts") tokens are reported beside the output.
    pub const GEMINI: TokenAccounting = TokenAccounting {
        input_includes_cache: true,
        output_includes_reasoning: false,
    };
}

impl Default for TokenAccounting {
    fn default() -> Self {
        Self::INCLUSIVE
    }
}

/// The token measurements as found, before validation.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct RawTokens {
    input: Option<f64>,
    output: Option<f64>,
    cache_read: Option<f64>,
    cache_write: Option<f64>,
    reasoning: Option<f64>,
}

impl RawTokens {
    /// The token measurements of `measurements`, or `None` if it carries none (the event is
    /// not a priced call: skipped, not rejected). The first occurrence of a key wins, as in
    /// [`Event::measurement`].
    #[inline]
    pub(crate) fn find(measurements: &[(&'static str, f64)]) -> Option<RawTokens> {
        let mut raw = RawTokens::default();
        let mut any = false;
        for &(key, value) in measurements {
            let slot = match key {
                keys::INPUT_TOKENS => &mut raw.input,
                keys::OUTPUT_TOKENS => &mut raw.output,
                keys::CACHE_READ_TOKENS => &mut raw.cache_read,
                keys::CACHE_WRITE_TOKENS => &mut raw.cache_write,
                keys::REASONING_TOKENS => &mut raw.reasoning,
                _ => continue,
            };
            if slot.is_none() {
                *slot = Some(value);
                any = true;
            }
        }
        any.then_some(raw)
    }

    /// Validates the counts and normalizes them to [`Usage`].
    #[inline]
    pub(crate) fn validate(
        &self,
        accounting: TokenAccounting,
        limit: u64,
    ) -> Result<Usage, Rejection> {
        let count = |key: &'static str, value: Option<f64>| -> Result<u64, Rejection> {
            let Some(value) = value else { return Ok(0) };
            if !value.is_finite() {
                return Err(Rejection::NotFinite { key, value });
            }
            if value < 0.0 {
                return Err(Rejection::Negative { key, value });
            }
            if value > limit as f64 {
                return Err(Rejection::TooLarge { key, value, limit });
            }
            // In range (0 ≤ value ≤ 2^53): truncating and converting back is exact, so this is
            // the whole-number test without a call to `trunc`.
            let whole = value as u64;
            if whole as f64 != value {
                return Err(Rejection::Fractional { key, value });
            }
            Ok(whole)
        };
        let mut usage = Usage {
            input: count(keys::INPUT_TOKENS, self.input)?,
            output: count(keys::OUTPUT_TOKENS, self.output)?,
            cache_read: count(keys::CACHE_READ_TOKENS, self.cache_read)?,
            cache_write: count(keys::CACHE_WRITE_TOKENS, self.cache_write)?,
            reasoning: count(keys::REASONING_TOKENS, self.reasoning)?,
        };
        // Each count is ≤ limit ≤ 2^53, so these sums cannot overflow a u64.
        if accounting.input_includes_cache {
            if usage.cache_read + usage.cache_write > usage.input {
                return Err(Rejection::CacheExceedsInput {
                    input: usage.input,
                    cache_read: usage.cache_read,
                    cache_write: usage.cache_write,
                });
            }
        } else {
            usage.input += usage.cache_read + usage.cache_write;
        }
        if accounting.output_includes_reasoning {
            if usage.reasoning > usage.output {
                return Err(Rejection::ReasoningExceedsOutput {
                    output: usage.output,
                    reasoning: usage.reasoning,
                });
            }
        } else {
            usage.output += usage.reasoning;
        }
        Ok(usage)
    }
}

/// Who made the call: model, provider and tenant from the metadata (`""` where absent).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct CallIdentity<'a> {
    pub(crate) model: &'a str,
    pub(crate) provider: &'a str,
    pub(crate) tenant: &'a str,
}

impl<'a> CallIdentity<'a> {
    /// Reads the identity; later metadata entries override earlier ones, as in
    /// [`Event::value`]. The model is `gen_ai.request.model`, else `gen_ai.response.model`.
    #[inline]
    pub(crate) fn of(event: &Event<'a>) -> CallIdentity<'a> {
        let mut id = CallIdentity::default();
        let mut response_model = "";
        for &(key, value) in event.metadata() {
            let Some(text) = value.as_str() else { continue };
            match key {
                keys::MODEL => id.model = text,
                keys::PROVIDER => id.provider = text,
                keys::TENANT => id.tenant = text,
                keys::RESPONSE_MODEL => response_model = text,
                _ => {}
            }
        }
        if id.model.is_empty() {
            id.model = response_model;
        }
        id
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usage(m: &[(&'static str, f64)], accounting: TokenAccounting) -> Result<Usage, Rejection> {
        RawTokens::find(m)
            .unwrap()
            .validate(accounting, 1_000_000_000)
    }

    #[test]
    fn events_without_tokens_are_not_calls() {
        assert!(RawTokens::find(&[(keys::DURATION, 5.0)]).is_none());
        assert!(RawTokens::find(&[]).is_none());
    }

    #[test]
    fn bad_counts_are_rejected_with_the_value() {
        let inclusive = TokenAccounting::INCLUSIVE;
        assert_eq!(
            usage(&[(keys::INPUT_TOKENS, -1.0)], inclusive),
            Err(Rejection::Negative {
                key: keys::INPUT_TOKENS,
                value: -1.0
            })
        );
        assert!(matches!(
            usage(&[(keys::OUTPUT_TOKENS, 1.5)], inclusive),
            Err(Rejection::Fractional { .. })
        ));
        assert!(matches!(
            usage(&[(keys::OUTPUT_TOKENS, f64::NAN)], inclusive),
            Err(Rejection::NotFinite { .. })
        ));
        assert!(matches!(
            usage(&[(keys::OUTPUT_TOKENS, f64::INFINITY)], inclusive),
            Err(Rejection::NotFinite { .. })
        ));
        assert!(matches!(
            usage(&[(keys::INPUT_TOKENS, 1e12)], inclusive),
            Err(Rejection::TooLarge {
                limit: 1_000_000_000,
                ..
            })
        ));
        assert!(matches!(
            usage(
                &[(keys::INPUT_TOKENS, 10.0), (keys::CACHE_READ_TOKENS, 11.0)],
                inclusive
            ),
            Err(Rejection::CacheExceedsInput { .. })
        ));
        assert!(matches!(
            usage(
                &[(keys::OUTPUT_TOKENS, 1.0), (keys::REASONING_TOKENS, 2.0)],
                inclusive
            ),
            Err(Rejection::ReasoningExceedsOutput { .. })
        ));
    }

    #[test]
    fn accounting_normalizes_exclusive_counts() {
        let m = [
            (keys::INPUT_TOKENS, 100.0),
            (keys::CACHE_READ_TOKENS, 400.0),
            (keys::CACHE_WRITE_TOKENS, 50.0),
            (keys::OUTPUT_TOKENS, 20.0),
            (keys::REASONING_TOKENS, 30.0),
        ];
        let separate = TokenAccounting {
            input_includes_cache: false,
            output_includes_reasoning: false,
        };
        assert_eq!(
            usage(&m, separate),
            Ok(Usage {
                input: 550,
                output: 50,
                cache_read: 400,
                cache_write: 50,
                reasoning: 30
            })
        );
    }
}
