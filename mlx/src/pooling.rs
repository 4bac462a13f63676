//! Pooling of an encoder's token vectors into one embedding, on the host: mean, `[CLS]` (first
//! token), last token or element-wise maximum over a row-major `tokens × dimension` matrix.

use llm_telemetry_genai::instrument::Pooling;

/// Pools `hidden` (`tokens` rows of `dimension` values, row-major) into one vector. Returns an
/// empty vector when there are no tokens or the matrix is shorter than announced.
pub(crate) fn pool(hidden: &[f32], tokens: usize, dimension: usize, pooling: Pooling) -> Vec<f32> {
    if tokens == 0 || dimension == 0 || hidden.len() < tokens * dimension {
        return Vec::new();
    }
    let rows = hidden[..tokens * dimension].chunks_exact(dimension);
    match pooling {
        Pooling::Cls => hidden[..dimension].to_vec(),
        Pooling::LastToken => hidden[(tokens - 1) * dimension..tokens * dimension].to_vec(),
        Pooling::Mean => {
            let mut sum = vec![0.0f64; dimension];
            for row in rows {
                sum.iter_mut()
                    .zip(row)
                    .for_each(|(s, &x)| *s += f64::from(x));
            }
            sum.into_iter()
                .map(|s| (s / tokens as f64) as f32)
                .collect()
        }
        Pooling::Max => {
            let mut max = vec![f32::NEG_INFINITY; dimension];
            for row in rows {
                max.iter_mut().zip(row).for_each(|(m, &x)| *m = m.max(x));
            }
            max
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_pooling_reads_the_right_rows() {
        let hidden = [1.0, 10.0, 3.0, -2.0, 5.0, 4.0];
        assert_eq!(pool(&hidden, 3, 2, Pooling::Mean), [3.0, 4.0]);
        assert_eq!(pool(&hidden, 3, 2, Pooling::Cls), [1.0, 10.0]);
        assert_eq!(pool(&hidden, 3, 2, Pooling::LastToken), [5.0, 4.0]);
        assert_eq!(pool(&hidden, 3, 2, Pooling::Max), [5.0, 10.0]);
    }

    #[test]
    fn short_or_empty_input_gives_an_empty_vector() {
        assert!(pool(&[], 0, 4, Pooling::Mean).is_empty());
        assert!(pool(&[1.0, 2.0], 2, 2, Pooling::Cls).is_empty());
    }
}
