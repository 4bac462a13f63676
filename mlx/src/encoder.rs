//! [`Encoder`]: a BERT encoder (Hugging Face `BertModel` tensor names, with or without the
//! `bert.` prefix) written with plain mlx-rs array operations, returning every token's final
//! hidden state to the host for pooling.
//!
//! Each input is encoded on its own (a batch of one, with the tokenizer's padding turned off by
//! `weights::load_tokenizer`), so no attention mask is needed and mean pooling averages exactly
//! the input's tokens.

use mlx_rs::{Array, Dtype, fast, nn};

use super::config::EncoderConfig;
use super::decoder::linear;
use super::error::MlxError;
use super::weights::Weights;

/// A weight and a bias.
struct Affine {
    weight: Array,
    bias: Array,
}

impl Affine {
    fn take(weights: &mut Weights, prefix: &str) -> Result<Self, MlxError> {
        Ok(Self {
            weight: weights.take(&format!("{prefix}.weight"))?,
            bias: weights.take(&format!("{prefix}.bias"))?,
        })
    }

    fn linear(&self, x: &Array) -> Result<Array, MlxError> {
        linear(x, &self.weight, Some(&self.bias))
    }

    fn layer_norm(&self, x: &Array, eps: f32) -> Result<Array, MlxError> {
        Ok(fast::layer_norm(x, &self.weight, &self.bias, eps)?)
    }
}

/// One encoder layer's tensors.
struct Layer {
    query: Affine,
    key: Affine,
    value: Affine,
    attention_out: Affine,
    attention_norm: Affine,
    intermediate: Affine,
    output: Affine,
    output_norm: Affine,
}

/// A loaded BERT encoder.
pub(crate) struct Encoder {
    config: EncoderConfig,
    words: Array,
    positions: Array,
    token_types: Array,
    embeddings_norm: Affine,
    layers: Vec<Layer>,
}

impl Encoder {
    /// Builds the encoder from `weights`.
    pub(crate) fn new(config: EncoderConfig, mut weights: Weights) -> Result<Self, MlxError> {
        let root = if weights.has_prefix("bert.") {
            "bert."
        } else {
            ""
        };
        let mut layers = Vec::with_capacity(config.layers);
        for i in 0..config.layers {
            let p = format!("{root}encoder.layer.{i}");
            let mut take = |name: &str| Affine::take(&mut weights, &format!("{p}.{name}"));
            layers.push(Layer {
                query: take("attention.self.query")?,
                key: take("attention.self.key")?,
                value: take("attention.self.value")?,
                attention_out: take("attention.output.dense")?,
                attention_norm: take("attention.output.LayerNorm")?,
                intermediate: take("intermediate.dense")?,
                output: take("output.dense")?,
                output_norm: take("output.LayerNorm")?,
            });
        }
        Ok(Self {
            words: weights.take(&format!("{root}embeddings.word_embeddings.weight"))?,
            positions: weights.take(&format!("{root}embeddings.position_embeddings.weight"))?,
            token_types: weights.take(&format!("{root}embeddings.token_type_embeddings.weight"))?,
            embeddings_norm: Affine::take(&mut weights, &format!("{root}embeddings.LayerNorm"))?,
            config,
            layers,
        })
    }

    /// The hidden size (the embedding dimension).
    pub(crate) fn dimension(&self) -> usize {
        self.config.hidden_size as usize
    }

    /// The rows of the word embedding matrix: the vocabulary size.
    pub(crate) fn vocabulary(&self) -> i32 {
        self.words.shape().first().copied().unwrap_or(0)
    }

    /// The most tokens one input may have.
    pub(crate) fn max_tokens(&self) -> usize {
        self.config.max_positions
    }

    /// Encodes one input's token ids; returns `ids.len() × dimension` values, row-major.
    pub(crate) fn forward(&self, ids: &[u32]) -> Result<Vec<f32>, MlxError> {
        let len = i32::try_from(ids.len())
            .ok()
            .filter(|&n| n > 0 && ids.len() <= self.config.max_positions)
            .ok_or_else(|| MlxError::InvalidRequest {
                field: "inputs",
                value: format!("an input of {} tokens", ids.len()),
                expected: format!(
                    "1 to {} tokens per input: split longer texts",
                    self.config.max_positions
                ),
            })?;
        let c = &self.config;
        let head_dim = c.hidden_size / c.heads;
        let scale = (head_dim as f32).powf(-0.5);
        let positions: Vec<u32> = (0..ids.len() as u32).collect();
        let types = vec![0u32; ids.len()];
        let h = self
            .words
            .take_axis(Array::from_slice(ids, &[len]), 0)?
            .add(
                self.positions
                    .take_axis(Array::from_slice(&positions, &[len]), 0)?,
            )?
            .add(
                self.token_types
                    .take_axis(Array::from_slice(&types, &[len]), 0)?,
            )?;
        let mut h = self.embeddings_norm.layer_norm(&h, c.layer_norm_eps)?; // [len, hidden]
        let heads = |x: Array| -> Result<Array, MlxError> {
            Ok(x.reshape(&[1, len, c.heads, head_dim])?
                .transpose_axes(&[0, 2, 1, 3])?)
        };
        for layer in &self.layers {
            let q = heads(layer.query.linear(&h)?)?;
            let k = heads(layer.key.linear(&h)?)?;
            let v = heads(layer.value.linear(&h)?)?;
            let attention = fast::scaled_dot_product_attention(&q, &k, &v, scale, None, None)?
                .transpose_axes(&[0, 2, 1, 3])?
                .reshape(&[len, c.hidden_size])?;
            let attended = h.add(layer.attention_out.linear(&attention)?)?;
            h = layer
                .attention_norm
                .layer_norm(&attended, c.layer_norm_eps)?;
            let inner = nn::gelu(layer.intermediate.linear(&h)?)?;
            let out = h.add(layer.output.linear(&inner)?)?;
            h = layer.output_norm.layer_norm(&out, c.layer_norm_eps)?;
        }
        h.as_dtype(Dtype::Float32)?
            .to_vec_exact::<f32>()
            .map_err(|e| MlxError::Inference {
                reason: format!("reading the hidden states: {e}"),
            })
    }
}
