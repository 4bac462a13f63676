//! The workload on a real MLX model (`--backend mlx --model DIR [--embed-model DIR]`): the same
//! operations as the simulated one (chat, generate, embed, streaming with clients hanging up,
//! hybrid search) for the same two tenants, issued to an
//! [`MlxBackend`](llm_telemetry::mlx::MlxBackend) behind an `InstrumentedBackend`, so every
//! handler sees real `llm.*` events (provider `mlx`: spans `mlx_lm.generate`,
//! `mlx_embedding.embed`). The models are loaded by `llm_telemetry::mlx::load`, inside an
//! `llm.request` span that ends with an exception when a directory cannot be used. Operations
//! whose model is not loaded are skipped. The MLX backend runs one call at a time.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use llm_telemetry::Value;
use llm_telemetry::catalog::keys;
use llm_telemetry::instrument::{
    ChatMessage, ChatRequest, EmbedRequest, GenerateRequest, InferenceBackend, Instrumentation,
    InstrumentedBackend, Pooling,
};
use llm_telemetry::mlx::{MlxBackend, MlxError, load};

use crate::report::{Operation, Report};
use crate::workload::TENANTS;

const PROMPTS: [&str; 6] = [
    "The sky is",
    "Telemetry turns every inference call into",
    "Once upon a time there was a small language model",
    "Summarise: the invoice for the quarter is late",
    "Write a haiku about cache invalidation.",
    "What does HTTP status 429 mean?",
];

/// The service's MLX models and where it reports.
pub struct MlxWorkload {
    telemetry: Instrumentation,
    backend: InstrumentedBackend<MlxBackend>,
    generator: Option<String>,
    embedder: Option<String>,
    report: Arc<Report>,
}

impl MlxWorkload {
    /// Loads the text-generation model in `model` and/or the embedding model in `embed_model`.
    pub fn new(
        telemetry: Instrumentation,
        report: Arc<Report>,
        model: Option<&Path>,
        embed_model: Option<&Path>,
    ) -> Result<Self, MlxError> {
        let backend = load(&telemetry, model, embed_model)?;
        let generator = backend.generator_model().map(str::to_owned);
        let embedder = backend.embedder_model().map(str::to_owned);
        Ok(Self {
            backend: InstrumentedBackend::new(backend, telemetry.clone()),
            telemetry,
            generator,
            embedder,
            report,
        })
    }

    /// One worker's loop, until `stop` is set.
    pub fn run(&self, worker: usize, stop: &AtomicBool) {
        let mut n = worker as u64 * 7919;
        while !stop.load(Ordering::Relaxed) {
            n = n.wrapping_add(1);
            let tenant = TENANTS[(n % 2) as usize];
            let prompt = PROMPTS[(n % PROMPTS.len() as u64) as usize];
            let operation = match n % 5 {
                0 => Operation::Chat,
                1 => Operation::Generate,
                2 => Operation::Embed,
                3 => Operation::Stream,
                _ => Operation::HybridSearch,
            };
            let started = Instant::now();
            let outcome = match (operation, &self.generator, &self.embedder) {
                (Operation::Chat, Some(model), _) => self.chat(model, tenant, prompt),
                (Operation::Generate, Some(model), _) => self.generate(model, tenant, prompt, n),
                (Operation::Stream, Some(model), _) => self.stream(model, tenant, prompt, n),
                (Operation::Embed, _, Some(model)) => self.embed(model, tenant, prompt),
                (Operation::HybridSearch, Some(model), Some(embedder)) => {
                    self.hybrid_search(model, embedder, tenant, prompt)
                }
                _ => continue,
            };
            let (ok, tokens) = match outcome {
                Ok(tokens) => (true, tokens),
                Err(_) => (false, 0),
            };
            self.report.record(operation, ok, started.elapsed(), tokens);
        }
    }

    fn chat(&self, model: &str, tenant: &str, prompt: &str) -> Result<u64, MlxError> {
        let request = ChatRequest::new(
            model,
            vec![
                ChatMessage::system("You are a concise assistant."),
                ChatMessage::user(prompt),
            ],
        )
        .max_tokens(32)
        .tenant(tenant);
        Ok(self.backend.chat(&request)?.output_tokens)
    }

    fn generate(&self, model: &str, tenant: &str, prompt: &str, n: u64) -> Result<u64, MlxError> {
        let request = GenerateRequest::new(model, prompt)
            .max_tokens(48)
            .temperature(0.8)
            .top_p(0.9)
            .seed(n)
            .stop("\n\n")
            .tenant(tenant);
        Ok(self.backend.generate(&request)?.output_tokens)
    }

    fn stream(&self, model: &str, tenant: &str, prompt: &str, n: u64) -> Result<u64, MlxError> {
        let request = GenerateRequest::new(model, prompt)
            .max_tokens(48)
            .streaming(true)
            .tenant(tenant);
        // One client in ten hangs up after a few tokens: the span stops as cancelled.
        let hang_up_after = (n % 10 == 0).then_some(5);
        let mut tokens = 0;
        for chunk in self.backend.stream(&request)? {
            tokens += chunk?.tokens;
            if hang_up_after.is_some_and(|limit| tokens >= limit) {
                break;
            }
        }
        Ok(tokens)
    }

    fn embed(&self, model: &str, tenant: &str, prompt: &str) -> Result<u64, MlxError> {
        let request = EmbedRequest::new(model, [prompt, "a second document about telemetry"])
            .query(false)
            .pooling(Pooling::Mean)
            .tenant(tenant);
        self.backend.embed(&request)?;
        Ok(0)
    }

    fn hybrid_search(
        &self,
        model: &str,
        embedder: &str,
        tenant: &str,
        query: &str,
    ) -> Result<u64, MlxError> {
        self.telemetry.try_request(
            "hybrid_search",
            &[(keys::TENANT, Value::Str(tenant))],
            || {
                self.backend.embed(
                    &EmbedRequest::new(embedder, [query])
                        .query(true)
                        .pooling(Pooling::Mean)
                        .tenant(tenant),
                )?;
                let request = GenerateRequest::new(model, format!("Question: {query}\nAnswer:"))
                    .max_tokens(32)
                    .tenant(tenant);
                Ok(self.backend.generate(&request)?.output_tokens)
            },
        )
    }
}
