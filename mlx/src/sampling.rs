//! Token sampling on the host: greedy (temperature 0 or unset), or temperature with nucleus
//! (top-p) filtering, drawn from a seeded SplitMix64 generator.
//!
//! The model's last-position logits are copied to the host (one `f32` per vocabulary entry) and
//! sampled here in plain Rust, which keeps the sampling exactly reproducible for a given seed and
//! independent of the MLX random API.

use super::error::MlxError;

/// Validated sampling parameters plus the random state.
#[derive(Clone, Debug)]
pub(crate) struct Sampler {
    /// 0 means greedy.
    temperature: f64,
    top_p: f64,
    state: u64,
}

impl Sampler {
    /// A sampler for `temperature` (`None` or 0: greedy) and `top_p` (`None`: 1), seeded with
    /// `seed`. Rejects a negative or non-finite temperature and a `top_p` outside (0, 1].
    pub(crate) fn new(
        temperature: Option<f64>,
        top_p: Option<f64>,
        seed: u64,
    ) -> Result<Self, MlxError> {
        let temperature = temperature.unwrap_or(0.0);
        if !temperature.is_finite() || temperature < 0.0 {
            return Err(MlxError::InvalidRequest {
                field: "temperature",
                value: temperature.to_string(),
                expected: "a finite number >= 0 (0 means greedy)".into(),
            });
        }
        let top_p = top_p.unwrap_or(1.0);
        if !(top_p > 0.0 && top_p <= 1.0) {
            return Err(MlxError::InvalidRequest {
                field: "top_p",
                value: top_p.to_string(),
                expected: "a number in (0, 1]".into(),
            });
        }
        Ok(Self {
            temperature,
            top_p,
            state: seed,
        })
    }

    /// Picks the next token id from `logits` (one per vocabulary entry). NaN logits are never
    /// picked; `None` when every logit is NaN or there are none.
    pub(crate) fn sample(&mut self, logits: &[f32]) -> Option<u32> {
        if self.temperature == 0.0 {
            return argmax(logits);
        }
        let max = logits
            .iter()
            .copied()
            .filter(|l| !l.is_nan())
            .fold(f32::NEG_INFINITY, f32::max);
        if !max.is_finite() {
            return argmax(logits);
        }
        // Unnormalised softmax weights, highest first.
        let mut weights: Vec<(u32, f64)> = logits
            .iter()
            .enumerate()
            .filter(|(_, l)| !l.is_nan())
            .map(|(i, &l)| {
                (
                    i as u32,
                    ((f64::from(l) - f64::from(max)) / self.temperature).exp(),
                )
            })
            .collect();
        weights.sort_by(|a, b| b.1.total_cmp(&a.1));
        let total: f64 = weights.iter().map(|w| w.1).sum();
        // Nucleus: the smallest prefix whose mass reaches top_p (at least one token).
        let mut kept = weights.len();
        if self.top_p < 1.0 {
            let mut mass = 0.0;
            for (i, w) in weights.iter().enumerate() {
                mass += w.1;
                if mass >= self.top_p * total {
                    kept = i + 1;
                    break;
                }
            }
        }
        let weights = &weights[..kept];
        let kept_total: f64 = weights.iter().map(|w| w.1).sum();
        let mut target = self.next_unit() * kept_total;
        for &(id, weight) in weights {
            if target < weight {
                return Some(id);
            }
            target -= weight;
        }
        weights.last().map(|w| w.0)
    }

    /// A uniform number in [0, 1) from SplitMix64.
    fn next_unit(&mut self) -> f64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// The index of the largest non-NaN logit (the first on ties).
fn argmax(logits: &[f32]) -> Option<u32> {
    let mut best: Option<(usize, f32)> = None;
    for (i, &l) in logits.iter().enumerate() {
        if l.is_nan() {
            continue;
        }
        if best.is_none_or(|(_, b)| l > b) {
            best = Some((i, l));
        }
    }
    best.map(|(i, _)| i as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greedy_picks_the_largest_logit_and_skips_nan() {
        let mut greedy = Sampler::new(None, None, 1).unwrap();
        assert_eq!(greedy.sample(&[0.1, 2.0, f32::NAN, 1.9]), Some(1));
        assert_eq!(greedy.sample(&[f32::NAN, f32::NAN]), None);
        assert_eq!(greedy.sample(&[]), None);
        let mut zero = Sampler::new(Some(0.0), Some(0.5), 1).unwrap();
        assert_eq!(zero.sample(&[3.0, 1.0, 5.0]), Some(2));
    }

    #[test]
    fn same_seed_same_tokens_and_top_p_cuts_the_tail() {
        let logits = [2.0, 1.0, 0.5, 0.0, -1.0];
        let draw = |seed| {
            let mut s = Sampler::new(Some(1.0), None, seed).unwrap();
            (0..64)
                .map(|_| s.sample(&logits).unwrap())
                .collect::<Vec<_>>()
        };
        assert_eq!(draw(7), draw(7));
        assert_ne!(draw(7), draw(8));
        assert!(
            draw(7)
                .iter()
                .collect::<std::collections::HashSet<_>>()
                .len()
                > 1,
            "temperature 1 should not be greedy"
        );
        // Probabilities: ~0.53, 0.20, 0.12, 0.07, 0.03 — top_p 0.5 keeps only the first.
        let mut nucleus = Sampler::new(Some(1.0), Some(0.5), 3).unwrap();
        assert!((0..200).all(|_| nucleus.sample(&logits) == Some(0)));
        // top_p 0.7 keeps the first two.
        let mut two = Sampler::new(Some(1.0), Some(0.7), 3).unwrap();
        let picked: std::collections::HashSet<_> =
            (0..400).map(|_| two.sample(&logits).unwrap()).collect();
        assert_eq!(picked, [0, 1].into_iter().collect());
    }

    #[test]
    fn low_temperature_concentrates_on_the_best_token() {
        let mut cold = Sampler::new(Some(0.05), None, 11).unwrap();
        assert!((0..200).all(|_| cold.sample(&[1.0, 2.0, 1.5]) == Some(1)));
    }

    #[test]
    fn invalid_parameters_are_rejected_with_the_value() {
        for (t, p, field) in [
            (Some(-0.1), None, "temperature"),
            (Some(f64::NAN), None, "temperature"),
            (None, Some(0.0), "top_p"),
            (None, Some(1.5), "top_p"),
        ] {
            match Sampler::new(t, p, 0) {
                Err(MlxError::InvalidRequest { field: f, .. }) => assert_eq!(f, field),
                other => panic!("expected an invalid {field}, got {other:?}"),
            }
        }
    }
}
