//! [`MlxBackend`]: the [`InferenceBackend`] over a loaded [`Decoder`] (generate, stream) and
//! [`Encoder`] (embed), and the token loop both `generate` and `stream` run.

use std::fmt;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use tokenizers::Tokenizer;

use super::config::{DecoderConfig, EncoderConfig};
use super::decoder::{Decoder, KvCache};
use super::encoder::Encoder;
use super::error::MlxError;
use super::pooling::pool;
use super::sampling::Sampler;
use super::text::TextAssembler;
use super::weights::{Weights, check_vocabulary, decode, encode, load_tokenizer, model_name};
use llm_telemetry_genai::instrument::{
    BackendStream, Completion, EmbedRequest, Embeddings, FinishReason, GenerateRequest,
    InferenceBackend, Pooling, TextChunk,
};

/// The provider name the backend reports (`gen_ai.provider.name`); the OpenTelemetry handler
/// names its spans `mlx_lm.generate` and `mlx_embedding.embed` for it.
pub const PROVIDER: &str = "mlx";

/// `max_tokens` when a request sets none.
const DEFAULT_MAX_TOKENS: u32 = 256;

/// Locks a model. The models are never mutated, so a poisoned lock (a panic in another call)
/// leaves nothing inconsistent and is taken over.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A loaded text-generation model.
struct Generator {
    name: String,
    /// mlx-rs arrays are `Send` but not `Sync`; the lock also serialises MLX work.
    model: Mutex<Decoder>,
    eos_token_ids: Vec<u32>,
    /// The context length (`max_position_embeddings`), when known.
    max_positions: Option<usize>,
    tokenizer: Tokenizer,
}

/// A loaded embedding model.
struct Embedder {
    name: String,
    model: Mutex<Encoder>,
    dimension: usize,
    max_tokens: usize,
    tokenizer: Tokenizer,
}

/// An [`InferenceBackend`] running models through mlx-rs: on Apple silicon (Metal) on macOS, on
/// the CPU on Linux (feature `system-mlx`, after `scripts/setup-mlx.sh`).
///
/// Load a text-generation model, an embedding model, or both, each from a directory holding
/// `config.json`, the `*.safetensors` weights and `tokenizer.json` (a Hugging Face checkpoint;
/// see the [module docs](super) for the supported architectures), then wrap the backend in an
/// [`llm_telemetry_genai::instrument::InstrumentedBackend`] like any other:
///
/// ```no_run
/// use llm_telemetry_mlx::MlxBackend;
/// use llm_telemetry_genai::instrument::{GenerateRequest, InferenceBackend, Instrumentation, InstrumentedBackend, TelemetryLevel};
///
/// // The model directories scripts/setup-mlx.sh writes.
/// let backend = MlxBackend::new()
///     .load_generator("/opt/mlx-venv/models/tiny-llama")?
///     .load_embedder("/opt/mlx-venv/models/all-MiniLM-L6-v2")?;
/// let backend = InstrumentedBackend::new(backend, Instrumentation::global(TelemetryLevel::Basic));
/// let completion = backend.generate(&GenerateRequest::new("tinyllama", "The sky is").max_tokens(32))?;
/// println!("{} ({} tokens)", completion.text, completion.output_tokens);
/// # Ok::<(), llm_telemetry_mlx::MlxError>(())
/// ```
///
/// A request's `model` is only a label for telemetry: the backend always runs the model it
/// loaded, and reports that model's directory name as the response model when the two differ.
pub struct MlxBackend {
    generator: Option<Generator>,
    embedder: Option<Embedder>,
    default_max_tokens: u32,
    default_pooling: Pooling,
    calls: AtomicU64,
}

impl fmt::Debug for MlxBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MlxBackend")
            .field("generator", &self.generator_model())
            .field("embedder", &self.embedder_model())
            .field("default_max_tokens", &self.default_max_tokens)
            .field("default_pooling", &self.default_pooling)
            .finish_non_exhaustive()
    }
}

impl Default for MlxBackend {
    fn default() -> Self {
        Self::new()
    }
}

impl MlxBackend {
    /// A backend with no model loaded, 256 `max_tokens` by default and mean pooling by default.
    pub fn new() -> Self {
        Self {
            generator: None,
            embedder: None,
            default_max_tokens: DEFAULT_MAX_TOKENS,
            default_pooling: Pooling::Mean,
            calls: AtomicU64::new(0),
        }
    }

    /// Loads the text-generation model in `dir` (`config.json` of a `llama`, `mistral` or `qwen2`
    /// model, unquantized `*.safetensors`, `tokenizer.json`).
    pub fn load_generator(mut self, dir: impl AsRef<Path>) -> Result<Self, MlxError> {
        let dir = dir.as_ref();
        let config = DecoderConfig::read(&dir.join("config.json"))?;
        let tokenizer = load_tokenizer(dir)?;
        let model = Decoder::new(config, Weights::load(dir)?)?;
        check_vocabulary(
            dir,
            &tokenizer,
            "model.embed_tokens.weight",
            model.vocabulary(),
        )?;
        self.generator = Some(Generator {
            name: model_name(dir),
            max_positions: model.max_positions(),
            eos_token_ids: model.eos_token_ids().to_vec(),
            model: Mutex::new(model),
            tokenizer,
        });
        Ok(self)
    }

    /// Loads the embedding model in `dir` (`config.json` of a `bert` model, `*.safetensors`,
    /// `tokenizer.json`).
    pub fn load_embedder(mut self, dir: impl AsRef<Path>) -> Result<Self, MlxError> {
        let dir = dir.as_ref();
        let config = EncoderConfig::read(&dir.join("config.json"))?;
        let tokenizer = load_tokenizer(dir)?;
        let model = Encoder::new(config, Weights::load(dir)?)?;
        check_vocabulary(
            dir,
            &tokenizer,
            "word_embeddings.weight",
            model.vocabulary(),
        )?;
        self.embedder = Some(Embedder {
            name: model_name(dir),
            dimension: model.dimension(),
            max_tokens: model.max_tokens(),
            model: Mutex::new(model),
            tokenizer,
        });
        Ok(self)
    }

    /// `max_tokens` for requests that set none (at least 1).
    pub fn with_default_max_tokens(mut self, max_tokens: u32) -> Self {
        self.default_max_tokens = max_tokens.max(1);
        self
    }

    /// The pooling for embedding requests that ask for none.
    pub fn with_default_pooling(mut self, pooling: Pooling) -> Self {
        self.default_pooling = pooling;
        self
    }

    /// The loaded text-generation model's directory name.
    pub fn generator_model(&self) -> Option<&str> {
        self.generator.as_ref().map(|g| g.name.as_str())
    }

    /// The loaded embedding model's directory name.
    pub fn embedder_model(&self) -> Option<&str> {
        self.embedder.as_ref().map(|e| e.name.as_str())
    }

    /// The embedding dimension of the loaded embedding model.
    pub fn embedding_dimension(&self) -> Option<usize> {
        self.embedder.as_ref().map(|e| e.dimension)
    }

    fn generator(&self) -> Result<&Generator, MlxError> {
        self.generator.as_ref().ok_or(MlxError::NotLoaded {
            kind: "generation",
            loader: "load_generator",
        })
    }

    /// Validates `request`, encodes the prompt and sets up the token loop.
    fn start(&self, request: &GenerateRequest) -> Result<(u64, TokenLoop<'_>), MlxError> {
        let generator = self.generator()?;
        let options = &request.options;
        let max_tokens = options.max_tokens.unwrap_or(self.default_max_tokens);
        if max_tokens == 0 {
            return Err(MlxError::InvalidRequest {
                field: "max_tokens",
                value: "0".into(),
                expected: "at least 1".into(),
            });
        }
        let seed = options.seed.unwrap_or_else(|| self.fresh_seed());
        let sampler = Sampler::new(options.temperature, options.top_p, seed)?;
        // Checked before encoding: a tokenizer that adds a BOS token would make "" one token.
        if request.prompt.is_empty() {
            return Err(MlxError::InvalidRequest {
                field: "prompt",
                value: "\"\"".into(),
                expected: "a non-empty text".into(),
            });
        }
        let prompt = encode(&generator.tokenizer, &request.prompt, "the prompt")?;
        if prompt.is_empty() {
            return Err(MlxError::InvalidRequest {
                field: "prompt",
                value: format!("{:?}", request.prompt),
                expected: "text that encodes to at least one token".into(),
            });
        }
        // The room left for the completion; the prompt must leave room for one token.
        let room = match generator.max_positions {
            Some(context) if prompt.len() >= context => {
                return Err(MlxError::InvalidRequest {
                    field: "prompt",
                    value: format!("{} tokens", prompt.len()),
                    expected: format!(
                        "fewer than {context} tokens, the model's context length \
                         (max_position_embeddings in config.json): shorten the prompt"
                    ),
                });
            }
            Some(context) => context - prompt.len(),
            None => usize::MAX,
        };
        let input_tokens = prompt.len() as u64;
        Ok((
            input_tokens,
            TokenLoop {
                generator,
                cache: KvCache::default(),
                sampler,
                assembler: TextAssembler::new(&options.stop),
                pending: prompt,
                generated: Vec::new(),
                // Generation also ends (finish reason `length`) where the context is full.
                max_tokens: (max_tokens as usize).min(room),
                done: false,
            },
        ))
    }

    /// A seed for requests that set none: the clock mixed with a call counter.
    fn fresh_seed(&self) -> u64 {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        nanos
            ^ self
                .calls
                .fetch_add(1, Ordering::Relaxed)
                .wrapping_mul(0x9E37_79B9_7F4A_7C15)
    }
}

/// One generated token: the text it made safe to show and, on the last one, why generation ended.
struct Step {
    text: String,
    finish: Option<FinishReason>,
}

/// The autoregressive loop: the prompt in one forward pass, then one token per step through the
/// KV cache, until an end-of-sequence token, a stop string or `max_tokens`.
struct TokenLoop<'a> {
    generator: &'a Generator,
    cache: KvCache,
    sampler: Sampler,
    assembler: TextAssembler,
    /// What the next forward pass reads: the prompt, then the last sampled token.
    pending: Vec<u32>,
    generated: Vec<u32>,
    max_tokens: usize,
    done: bool,
}

impl TokenLoop<'_> {
    fn step(&mut self) -> Result<Step, MlxError> {
        let logits = lock(&self.generator.model).forward(&self.pending, &mut self.cache)?;
        let token = self
            .sampler
            .sample(&logits)
            .ok_or_else(|| MlxError::Inference {
                reason: format!(
                    "the model returned no usable logits ({} values, all NaN or none)",
                    logits.len()
                ),
            })?;
        self.generated.push(token);
        self.pending.clear();
        self.pending.push(token);
        let eos = self.generator.eos_token_ids.contains(&token);
        let length = self.generated.len() >= self.max_tokens;
        // Decoding everything each step keeps multi-token characters and spacing right.
        let full = decode(&self.generator.tokenizer, &self.generated)?;
        let piece = self.assembler.push(&full, eos || length);
        let finish = if piece.stopped || eos {
            Some(FinishReason::Stop)
        } else if length {
            Some(FinishReason::Length)
        } else {
            None
        };
        Ok(Step {
            text: piece.text,
            finish,
        })
    }
}

impl Iterator for TokenLoop<'_> {
    type Item = Result<Step, MlxError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let step = self.step();
        self.done = match &step {
            Ok(step) => step.finish.is_some(),
            Err(_) => true,
        };
        Some(step)
    }
}

impl InferenceBackend for MlxBackend {
    type Error = MlxError;

    fn provider(&self) -> &str {
        PROVIDER
    }

    fn generate(&self, request: &GenerateRequest) -> Result<Completion, MlxError> {
        let (input_tokens, steps) = self.start(request)?;
        let name = steps.generator.name.clone();
        let mut text = String::new();
        let mut output_tokens = 0u64;
        let mut reason = FinishReason::Length;
        for step in steps {
            let step = step?;
            text.push_str(&step.text);
            output_tokens += 1;
            if let Some(finish) = step.finish {
                reason = finish;
            }
        }
        let completion = Completion::new(text, input_tokens, output_tokens).finish_reason(reason);
        Ok(if name == request.options.model {
            completion
        } else {
            completion.response_model(name)
        })
    }

    /// One chunk per generated token, yielded as soon as the token is sampled (its text may be
    /// empty while a possible stop string or a split character is held back).
    fn stream(&self, request: &GenerateRequest) -> Result<BackendStream<'_, MlxError>, MlxError> {
        let (input_tokens, steps) = self.start(request)?;
        Ok(BackendStream {
            input_tokens,
            chunks: Box::new(steps.map(|step| step.map(|s| TextChunk::new(s.text, 1)))),
        })
    }

    fn embed(&self, request: &EmbedRequest) -> Result<Embeddings, MlxError> {
        let embedder = self.embedder.as_ref().ok_or(MlxError::NotLoaded {
            kind: "embedding",
            loader: "load_embedder",
        })?;
        if request.inputs.is_empty() {
            return Err(MlxError::InvalidRequest {
                field: "inputs",
                value: "[]".into(),
                expected: "at least one text to embed".into(),
            });
        }
        let pooling = request.pooling.unwrap_or(self.default_pooling);
        let mut vectors = Vec::with_capacity(request.inputs.len());
        let mut input_tokens = 0u64;
        for (i, input) in request.inputs.iter().enumerate() {
            let ids = encode(&embedder.tokenizer, input, &format!("input {i}"))?;
            if ids.is_empty() || ids.len() > embedder.max_tokens {
                return Err(MlxError::InvalidRequest {
                    field: "inputs",
                    value: format!("input {i} of {} tokens", ids.len()),
                    expected: format!(
                        "1 to {} tokens per input: split longer texts",
                        embedder.max_tokens
                    ),
                });
            }
            input_tokens += ids.len() as u64;
            let hidden = lock(&embedder.model).forward(&ids)?;
            vectors.push(pool(&hidden, ids.len(), embedder.dimension, pooling));
        }
        Ok(Embeddings {
            vectors,
            input_tokens,
            pooling,
        })
    }
}
