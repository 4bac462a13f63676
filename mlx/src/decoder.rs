//! [`Decoder`]: a Llama-family decoder (Llama, Mistral, Qwen2 layouts) written with plain mlx-rs
//! array operations over the checkpoint's tensors, and its per-request [`KvCache`].
//!
//! One forward pass takes new token ids, runs them through every layer (RMSNorm, attention with
//! RoPE and grouped-query heads via `fast::scaled_dot_product_attention`, SwiGLU MLP), appends
//! the layer's keys and values to the cache, and returns the last position's logits as `f32` on
//! the host. The same structure as the mlx-rs Mistral example, with Hugging Face tensor names and
//! no `Module` derive, so every tensor is looked up by the exact name and a missing one is a
//! clear error.

use mlx_rs::fast::{self, ScaledDotProductAttentionMask};
use mlx_rs::{Array, Dtype, nn, ops};

use super::config::DecoderConfig;
use super::error::MlxError;
use super::weights::Weights;

/// `x @ weight.T (+ bias)`: a Hugging Face `nn.Linear` (weight `[out, in]`).
pub(crate) fn linear(x: &Array, weight: &Array, bias: Option<&Array>) -> Result<Array, MlxError> {
    let y = x.matmul(weight.transpose()?)?;
    Ok(match bias {
        Some(bias) => y.add(bias)?,
        None => y,
    })
}

/// One decoder layer's tensors.
struct Layer {
    input_norm: Array,
    q: Array,
    q_bias: Option<Array>,
    k: Array,
    k_bias: Option<Array>,
    v: Array,
    v_bias: Option<Array>,
    o: Array,
    post_norm: Array,
    gate: Array,
    up: Array,
    down: Array,
}

/// The keys and values of every layer for the tokens seen so far (`[1, kv_heads, tokens,
/// head_dim]` each).
#[derive(Default)]
pub(crate) struct KvCache {
    layers: Vec<(Array, Array)>,
    tokens: i32,
}

/// A loaded Llama-family decoder.
pub(crate) struct Decoder {
    config: DecoderConfig,
    embed: Array,
    layers: Vec<Layer>,
    norm: Array,
    /// `None` when the output projection is tied to the embedding.
    lm_head: Option<Array>,
}

impl Decoder {
    /// Builds the decoder from `weights` (Hugging Face names: `model.layers.{i}.self_attn.q_proj`, …).
    pub(crate) fn new(config: DecoderConfig, mut weights: Weights) -> Result<Self, MlxError> {
        let mut layers = Vec::with_capacity(config.layers);
        for i in 0..config.layers {
            let p = format!("model.layers.{i}");
            layers.push(Layer {
                input_norm: weights.take(&format!("{p}.input_layernorm.weight"))?,
                q: weights.take(&format!("{p}.self_attn.q_proj.weight"))?,
                q_bias: weights.take_optional(&format!("{p}.self_attn.q_proj.bias")),
                k: weights.take(&format!("{p}.self_attn.k_proj.weight"))?,
                k_bias: weights.take_optional(&format!("{p}.self_attn.k_proj.bias")),
                v: weights.take(&format!("{p}.self_attn.v_proj.weight"))?,
                v_bias: weights.take_optional(&format!("{p}.self_attn.v_proj.bias")),
                o: weights.take(&format!("{p}.self_attn.o_proj.weight"))?,
                post_norm: weights.take(&format!("{p}.post_attention_layernorm.weight"))?,
                gate: weights.take(&format!("{p}.mlp.gate_proj.weight"))?,
                up: weights.take(&format!("{p}.mlp.up_proj.weight"))?,
                down: weights.take(&format!("{p}.mlp.down_proj.weight"))?,
            });
        }
        let embed = weights.take("model.embed_tokens.weight")?;
        if embed.shape().last() != Some(&config.hidden_size) {
            return Err(MlxError::ModelLoad {
                path: weights.dir().to_owned(),
                reason: format!(
                    "`model.embed_tokens.weight` has shape {:?} but config.json says \
                     hidden_size = {}: the weights and config.json do not match",
                    embed.shape(),
                    config.hidden_size
                ),
            });
        }
        let norm = weights.take("model.norm.weight")?;
        let lm_head = if config.tie_word_embeddings {
            weights.take_optional("lm_head.weight")
        } else {
            Some(weights.take("lm_head.weight")?)
        };
        Ok(Self {
            config,
            embed,
            layers,
            norm,
            lm_head,
        })
    }

    /// The rows of the token embedding matrix (`model.embed_tokens.weight`): the vocabulary size.
    pub(crate) fn vocabulary(&self) -> i32 {
        self.embed.shape().first().copied().unwrap_or(0)
    }

    /// The context length from `config.json`, when it gives one.
    pub(crate) fn max_positions(&self) -> Option<usize> {
        self.config.max_positions
    }

    /// The end-of-sequence token ids from `config.json`.
    pub(crate) fn eos_token_ids(&self) -> &[u32] {
        &self.config.eos_token_ids
    }

    /// Runs `ids` (the prompt, then one new token per step) after what `cache` holds, appends
    /// their keys and values to it, and returns the logits of the last position.
    pub(crate) fn forward(&self, ids: &[u32], cache: &mut KvCache) -> Result<Vec<f32>, MlxError> {
        let len = i32::try_from(ids.len()).map_err(|_| MlxError::InvalidRequest {
            field: "prompt",
            value: format!("{} tokens", ids.len()),
            expected: format!("at most {} tokens", i32::MAX),
        })?;
        if len == 0 {
            return Err(MlxError::InvalidRequest {
                field: "prompt",
                value: "0 tokens".into(),
                expected: "at least one token".into(),
            });
        }
        let c = &self.config;
        let offset = cache.tokens;
        let scale = (c.head_dim as f32).powf(-0.5);
        let tokens = Array::from_slice(ids, &[len]);
        let mut h = self.embed.take_axis(&tokens, 0)?; // [len, hidden]
        let heads = |x: Array, n: i32| -> Result<Array, MlxError> {
            Ok(x.reshape(&[1, len, n, c.head_dim])?
                .transpose_axes(&[0, 2, 1, 3])?)
        };
        for (i, layer) in self.layers.iter().enumerate() {
            let x = fast::rms_norm(&h, Some(&layer.input_norm), c.rms_norm_eps)?;
            let q = heads(linear(&x, &layer.q, layer.q_bias.as_ref())?, c.heads)?;
            let k = heads(linear(&x, &layer.k, layer.k_bias.as_ref())?, c.kv_heads)?;
            let v = heads(linear(&x, &layer.v, layer.v_bias.as_ref())?, c.kv_heads)?;
            let q = fast::rope(&q, c.head_dim, false, c.rope_theta, 1.0, offset, None)?;
            let k = fast::rope(&k, c.head_dim, false, c.rope_theta, 1.0, offset, None)?;
            let (k, v) = match cache.layers.get(i) {
                Some((k_cache, v_cache)) => (
                    ops::concatenate(&[k_cache, &k], 2)?,
                    ops::concatenate(&[v_cache, &v], 2)?,
                ),
                None => (k, v),
            };
            // Only the prompt (empty cache) has more than one query; it attends causally.
            let mask = (len > 1).then_some(ScaledDotProductAttentionMask::Causal);
            let attention = fast::scaled_dot_product_attention(&q, &k, &v, scale, mask, None)?;
            let attention = attention
                .transpose_axes(&[0, 2, 1, 3])?
                .reshape(&[len, c.heads * c.head_dim])?;
            h = h.add(linear(&attention, &layer.o, None)?)?;
            let x = fast::rms_norm(&h, Some(&layer.post_norm), c.rms_norm_eps)?;
            let gate = nn::silu(linear(&x, &layer.gate, None)?)?;
            let up = linear(&x, &layer.up, None)?;
            h = h.add(linear(&gate.multiply(&up)?, &layer.down, None)?)?;
            match cache.layers.get_mut(i) {
                Some(slot) => *slot = (k, v),
                None => cache.layers.push((k, v)),
            }
        }
        cache.tokens += len;
        let last = h.take_axis(Array::from_slice(&[len - 1], &[1]), 0)?; // [1, hidden]
        let last = fast::rms_norm(&last, Some(&self.norm), c.rms_norm_eps)?;
        let head = self.lm_head.as_ref().unwrap_or(&self.embed);
        let logits = linear(&last, head, None)?.as_dtype(Dtype::Float32)?;
        logits
            .to_vec_exact::<f32>()
            .map_err(|e| MlxError::Inference {
                reason: format!("reading the logits: {e}"),
            })
    }
}
