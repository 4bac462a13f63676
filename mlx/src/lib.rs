//! An [`InferenceBackend`](llm_telemetry_genai::instrument::InferenceBackend) running models on Apple silicon
//! through [mlx-rs](https://github.com/oxiglade/mlx-rs): `MlxBackend` (generate, stream, embed)
//! and its error, [`MlxError`].
//!
//! **macOS only.** mlx-rs links Apple frameworks and builds MLX from source, so the `mlx` cargo
//! feature pulls its dependencies (mlx-rs, tokenizers, serde_json) only on
//! `target_os = "macos"`, and `MlxBackend` exists only there. On any other target
//! `--features mlx` builds and does nothing. Written against **mlx-rs 0.33.0** and
//! **tokenizers 0.23.2** (`fancy-regex`, no default features). It is **not compiled in the
//! project's Linux CI**; only its platform-independent parts are (see below).
//!
//! # Use
//!
//! Point `MlxBackend::load_generator` and/or `MlxBackend::load_embedder` at a directory holding a
//! Hugging Face checkpoint: `config.json`, the weights as `*.safetensors` (all files in the
//! directory are loaded, so sharded checkpoints work) and `tokenizer.json`. Wrap the backend in
//! [`InstrumentedBackend`](llm_telemetry_genai::instrument::InstrumentedBackend) exactly like
//! [`SimulatedBackend`](llm_telemetry_genai::instrument::SimulatedBackend); its provider is `"mlx"`, which the
//! OpenTelemetry handler turns into the `mlx_lm.generate` / `mlx_embedding.embed` span names.
//!
//! - **Generation**: Llama-family decoders, `model_type` `llama`, `mistral` or `qwen2`, with
//!   unquantized weights (float16, bfloat16 or float32) and no `rope_scaling`; anything else is
//!   refused at load time with an error naming the `config.json` key. The prompt is encoded as
//!   is (no chat template; `chat` goes through the trait's default `role: content` rendering),
//!   run in one forward pass, then tokens are generated one at a time with a KV cache. Sampling
//!   is greedy unless `temperature` > 0, then temperature plus `top_p` nucleus filtering on the
//!   host, seeded by `seed` (reproducible) or by the clock. Generation ends at an
//!   `eos_token_id` from `config.json` (finish reason `stop`), at a stop string (cut before it,
//!   `stop`) or at `max_tokens` (256 when unset, `length`). `input_tokens` is the prompt's
//!   token count, `output_tokens` the number of sampled tokens (an end-of-sequence token
//!   counts). `stream` yields one chunk per token as it is sampled.
//! - **Embeddings**: BERT encoders (`model_type` `bert`, e.g. bge or MiniLM sentence-transformers
//!   checkpoints). Each input is encoded on its own (so `batch_size` does not change the
//!   computation), pooled with the request's pooling (`mean` by default; `cls`, `last_token` and
//!   `max` too) and returned unnormalised, with the hidden size as the dimension.
//!
//! # Design
//!
//! The models are written with plain mlx-rs array operations over the tensors read by
//! `Array::load_safetensors` (Hugging Face tensor names), not with the `ModuleParameters`
//! derive macros of the mlx-rs examples: every tensor is looked up by its exact name, and a
//! missing one is a clear `model_load` error. The forward pass follows the mlx-rs Mistral
//! example (`examples/mistral/src/model.rs`): RMSNorm, RoPE and attention from `mlx_rs::fast`,
//! the KV cache as per-layer `(keys, values)` concatenated along the sequence axis. Sampling,
//! stop strings and pooling run on the host in plain Rust, which avoided depending on the less
//! documented parts of the mlx-rs API (the random module, indexing operators) and lets them be
//! tested without a Mac. The models sit behind a mutex (mlx-rs arrays are `Send` but not
//! `Sync`), so calls on one backend run one at a time.
//!
//! Errors are [`MlxError`], whose `error.type` is `model_load`, `tokenizer`, `inference`,
//! `not_loaded` or `invalid_request`.
//!
//! # What was checked, and what was not
//!
//! - Checked: every mlx-rs item used (`Array::{load_safetensors, from_slice, take_axis, matmul,
//!   transpose, transpose_axes, reshape, add, multiply, as_dtype, to_vec_exact}`,
//!   `ops::concatenate`, `fast::{rms_norm, layer_norm, rope, scaled_dot_product_attention,
//!   ScaledDotProductAttentionMask::Causal}`, `nn::{silu, gelu}`, `Dtype::Float32`,
//!   `error::Exception::what`) was read in the published mlx-rs 0.33.0 source (the crate as
//!   downloaded by cargo, also on docs.rs) for its exact signature; the tokenizers calls
//!   (`Tokenizer::{from_file, encode, decode}`, `Encoding::get_ids`) in the tokenizers 0.23.2
//!   source. The host-side parts (config parsing, sampling, stop strings, pooling, errors) are
//!   unit-tested on Linux.
//! - Not checked: this code has never been compiled or run, because mlx-rs cannot be built off
//!   macOS. Type inference around mlx-rs's `impl Into<Option<_>>` parameters, the numerical
//!   output of the models, and performance are unverified; treat the first macOS build as its
//!   first test. The mlx-rs 0.33 release notes and API may differ from older examples.
// The platform-independent submodules are also compiled for the crate's unit tests on every
// target; without the backend that uses them some of their items look unused there.
#![cfg_attr(not(any(target_os = "macos", feature = "system-mlx")), allow(dead_code))]

mod config;
mod error;
mod pooling;
mod sampling;
mod text;

#[cfg(any(target_os = "macos", feature = "system-mlx"))]
mod backend;
#[cfg(any(target_os = "macos", feature = "system-mlx"))]
mod decoder;
#[cfg(any(target_os = "macos", feature = "system-mlx"))]
mod encoder;
#[cfg(any(target_os = "macos", feature = "system-mlx"))]
mod load;
#[cfg(any(target_os = "macos", feature = "system-mlx"))]
mod weights;

#[cfg(any(target_os = "macos", feature = "system-mlx"))]
pub use backend::{MlxBackend, PROVIDER};
#[cfg(any(target_os = "macos", feature = "system-mlx"))]
pub use load::{LOAD_OPERATION, load};
pub use error::MlxError;
