//! The simulated traffic: worker loops issuing chat, generate, embed, streaming and hybrid-search
//! requests for two tenants against two simulated providers, through the typed instrumentation
//! helpers, with a small response cache (hits, misses, puts, evictions), provider rate limits,
//! failures, and clients that hang up mid-stream.

use std::collections::VecDeque;
use std::num::NonZeroU64;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use llm_telemetry::Value;
use llm_telemetry::catalog::keys;
use llm_telemetry::instrument::{
    BackendError, BackendStream, CacheTelemetry, ChatMessage, ChatRequest, Completion,
    EmbedRequest, Embeddings, GenerateRequest, InferenceBackend, Instrumentation,
    InstrumentedBackend, LatencyProfile, Pooling, SimulatedBackend, SimulatedError,
};

use crate::report::{Operation, Report};

/// The two tenants whose traffic, cost and traces are kept apart.
pub const TENANTS: [&str; 2] = ["acme", "globex"];

const QUESTIONS: [&str; 12] = [
    "What is the capital of France?",
    "Summarise the attached incident report in three bullet points.",
    "Translate 'good morning' into Japanese.",
    "Explain retrieval-augmented generation to a new engineer.",
    "Write a haiku about cache invalidation.",
    "Which of these contracts renews first?",
    "Classify this support ticket: 'my invoice is wrong'.",
    "Draft a polite reply declining the meeting.",
    "What does HTTP status 429 mean?",
    "List three risks of unbounded metric labels.",
    "Convert 72 degrees Fahrenheit to Celsius.",
    "Suggest a name for a vector database.",
];

/// A provider's HTTP layer: each call is an `llm.provider.request` span inside the model span,
/// finishing with the status code the simulated provider answered.
struct ProviderCalls {
    inner: SimulatedBackend,
    telemetry: Instrumentation,
}

impl ProviderCalls {
    fn call<T>(
        &self,
        model: &str,
        f: impl FnOnce() -> Result<T, SimulatedError>,
    ) -> Result<T, SimulatedError> {
        let span = self
            .telemetry
            .start_provider_request(self.inner.provider(), Some(model));
        let result = {
            let _entered = span.enter();
            f()
        };
        match &result {
            Ok(_) => span.finish(200),
            Err(e) if e.retry_after().is_some() => span.finish(429),
            Err(e) => span.fail(e.error_type(), &e.to_string()),
        }
        result
    }
}

impl InferenceBackend for ProviderCalls {
    type Error = SimulatedError;

    fn provider(&self) -> &str {
        self.inner.provider()
    }
    fn generate(&self, request: &GenerateRequest) -> Result<Completion, SimulatedError> {
        self.call(&request.options.model, || self.inner.generate(request))
    }
    fn chat(&self, request: &ChatRequest) -> Result<Completion, SimulatedError> {
        self.call(&request.options.model, || self.inner.chat(request))
    }
    fn embed(&self, request: &EmbedRequest) -> Result<Embeddings, SimulatedError> {
        self.call(&request.model, || self.inner.embed(request))
    }
    fn stream(
        &self,
        request: &GenerateRequest,
    ) -> Result<BackendStream<'_, SimulatedError>, SimulatedError> {
        self.call(&request.options.model, || self.inner.stream(request))
    }
}

type Backend = InstrumentedBackend<ProviderCalls>;

/// A response cache of a few entries, so that hits, misses, puts and evictions all happen.
struct ResponseCache {
    telemetry: CacheTelemetry,
    entries: Mutex<VecDeque<(String, String)>>,
    capacity: usize,
}

impl ResponseCache {
    fn get(&self, key: &str) -> Option<String> {
        let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        match entries.iter().find(|(k, _)| k == key) {
            Some((_, response)) => {
                self.telemetry.hit(key, Some(response.len() as u64));
                Some(response.clone())
            }
            None => {
                self.telemetry.miss(key);
                None
            }
        }
    }

    fn put(&self, key: String, response: String) {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if entries.iter().any(|(k, _)| *k == key) {
            return;
        }
        if entries.len() >= self.capacity {
            if let Some((old_key, old)) = entries.pop_front() {
                self.telemetry.evicted(&old_key, Some(old.len() as u64));
            }
        }
        self.telemetry.put(&key, Some(response.len() as u64));
        entries.push_back((key, response));
    }
}

/// Everything the worker loops share.
pub struct Workload {
    telemetry: Instrumentation,
    openai: Backend,
    anthropic: Backend,
    cache: ResponseCache,
    report: Arc<Report>,
}

impl Workload {
    /// Builds the backends (latency scaled by `speed`, 1.0 = a hosted 8B-class model).
    pub fn new(telemetry: Instrumentation, report: Arc<Report>, speed: f64) -> Self {
        let backend = |provider: &str, rate_limit_every: u64, fail_every: u64, seed_offset: f64| {
            let inner = SimulatedBackend::new(provider)
                .with_latency(LatencyProfile::realistic().scaled(speed * seed_offset))
                .with_dimension(1536)
                .rate_limit_every(NonZeroU64::new(rate_limit_every).unwrap_or(NonZeroU64::MIN))
                .fail_every(NonZeroU64::new(fail_every).unwrap_or(NonZeroU64::MIN))
                .with_retry_after(Duration::from_secs(2));
            InstrumentedBackend::new(
                ProviderCalls {
                    inner,
                    telemetry: telemetry.clone(),
                },
                telemetry.clone(),
            )
        };
        Self {
            openai: backend("openai", 23, 41, 1.0),
            anthropic: backend("anthropic", 31, 37, 1.2),
            cache: ResponseCache {
                telemetry: telemetry.cache("responses"),
                entries: Mutex::new(VecDeque::new()),
                capacity: 6,
            },
            telemetry,
            report,
        }
    }

    /// One worker's loop, until `stop` is set.
    pub fn run(&self, worker: usize, stop: &AtomicBool) {
        let mut rng =
            Rng(0x9E37_79B9_7F4A_7C15 ^ (worker as u64 + 1).wrapping_mul(0xD1B5_4A32_D192_ED03));
        while !stop.load(Ordering::Relaxed) {
            let tenant = TENANTS[(rng.next() % 2) as usize];
            let operation = match rng.next() % 100 {
                0..=39 => Operation::Chat,
                40..=57 => Operation::Generate,
                58..=71 => Operation::Embed,
                72..=89 => Operation::Stream,
                _ => Operation::HybridSearch,
            };
            let started = Instant::now();
            let outcome = match operation {
                Operation::Chat => self.chat(tenant, &mut rng),
                Operation::Generate => self.generate(tenant, &mut rng),
                Operation::Embed => self.embed(tenant, &mut rng).map(|_| 0),
                Operation::Stream => self.stream(tenant, &mut rng),
                Operation::HybridSearch => self.hybrid_search(tenant, &mut rng),
            };
            let (ok, tokens) = match outcome {
                Ok(tokens) => (true, tokens),
                Err(_) => (false, 0),
            };
            self.report.record(operation, ok, started.elapsed(), tokens);
        }
    }

    fn backend_for(&self, rng: &mut Rng) -> (&Backend, &'static str) {
        match rng.next() % 3 {
            0 => (&self.anthropic, "claude-haiku-4-5"),
            1 => (&self.openai, "gpt-4o"),
            _ => (&self.openai, "gpt-4o-mini"),
        }
    }

    fn chat(&self, tenant: &str, rng: &mut Rng) -> Result<u64, SimulatedError> {
        let question = QUESTIONS[(rng.next() % QUESTIONS.len() as u64) as usize];
        let (backend, model) = self.backend_for(rng);
        let key = format!("{model}\u{1f}{question}");
        if self.cache.get(&key).is_some() {
            return Ok(0);
        }
        let request = ChatRequest::new(
            model,
            vec![
                ChatMessage::system("You are a concise assistant."),
                ChatMessage::user(question),
            ],
        )
        .max_tokens(256)
        .temperature(0.2)
        .tenant(tenant);
        let completion = backend.chat(&request)?;
        self.cache.put(key, completion.text.clone());
        Ok(completion.output_tokens)
    }

    fn generate(&self, tenant: &str, rng: &mut Rng) -> Result<u64, SimulatedError> {
        let (backend, model) = self.backend_for(rng);
        let words = 40 + (rng.next() % 400) as usize;
        let prompt = document(rng, words);
        let request = GenerateRequest::new(model, format!("Summarise:\n{prompt}"))
            .max_tokens(128 + (rng.next() % 256) as u32)
            .top_p(0.9)
            .seed(rng.next() % 1000)
            .stop("\n\n")
            .tenant(tenant);
        Ok(backend.generate(&request)?.output_tokens)
    }

    fn embed(&self, tenant: &str, rng: &mut Rng) -> Result<usize, SimulatedError> {
        let batch = 1 + (rng.next() % 8) as usize;
        let inputs: Vec<String> = (0..batch).map(|_| document(rng, 60)).collect();
        let request = EmbedRequest::new("text-embedding-3-small", inputs)
            .query(false)
            .pooling(Pooling::Mean)
            .tenant(tenant);
        Ok(self.openai.embed(&request)?.dimension())
    }

    fn stream(&self, tenant: &str, rng: &mut Rng) -> Result<u64, SimulatedError> {
        let (backend, model) = self.backend_for(rng);
        let request = GenerateRequest::new(
            model,
            QUESTIONS[(rng.next() % QUESTIONS.len() as u64) as usize],
        )
        .max_tokens(200)
        .streaming(true)
        .tenant(tenant);
        // One client in ten hangs up after a few tokens: the span stops as cancelled.
        let hang_up_after = if rng.next() % 10 == 0 { Some(5) } else { None };
        let mut tokens = 0;
        for chunk in backend.stream(&request)? {
            tokens += chunk?.tokens;
            if hang_up_after.is_some_and(|n| tokens >= n) {
                break;
            }
        }
        Ok(tokens)
    }

    fn hybrid_search(&self, tenant: &str, rng: &mut Rng) -> Result<u64, SimulatedError> {
        let query = QUESTIONS[(rng.next() % QUESTIONS.len() as u64) as usize];
        self.telemetry.try_request(
            "hybrid_search",
            &[(keys::TENANT, Value::Str(tenant))],
            || {
                self.openai.embed(
                    &EmbedRequest::new("text-embedding-3-small", [query])
                        .query(true)
                        .pooling(Pooling::Mean)
                        .tenant(tenant),
                )?;
                let context = document(rng, 200);
                let request = GenerateRequest::new(
                    "gpt-4o-mini",
                    format!("Context:\n{context}\n\nQuestion: {query}"),
                )
                .max_tokens(200)
                .tenant(tenant);
                Ok(self.openai.generate(&request)?.output_tokens)
            },
        )
    }
}

/// `words` words of filler text.
fn document(rng: &mut Rng, words: usize) -> String {
    const WORDS: [&str; 16] = [
        "invoice", "latency", "customer", "vector", "policy", "renewal", "cluster", "ticket",
        "model", "quarter", "revenue", "incident", "region", "contract", "budget", "release",
    ];
    let mut text = String::with_capacity(words * 8);
    for i in 0..words {
        if i > 0 {
            text.push(' ');
        }
        text.push_str(WORDS[(rng.next() % WORDS.len() as u64) as usize]);
    }
    text
}

/// A tiny deterministic generator (xorshift64*): the workload is reproducible per worker.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}
