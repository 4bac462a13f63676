//! What the telemetry costs a real MLX inference call: tokens per second of the tiny random Llama
//! (greedy, 32 tokens) and embeddings per second of all-MiniLM-L6-v2 (batches of 8), through an
//! `InstrumentedBackend` on a bus with every handler attached (log to a discarding writer,
//! Prometheus with the default LLM metrics, cost, OpenTelemetry exporting OTLP/HTTP to a loopback
//! port nobody listens on, so exports fail in the background while the hot path does all its
//! work) vs a bus with none. Rounds alternate between the two; the medians are reported, with the
//! telemetry's share of a call in percent, in `target/bench/mlx.json`. On a shared machine the
//! share moves by several percent either way from run to run: the MLX call dominates.
//!
//! Needs the models of `scripts/setup-mlx.sh` (`$LLM_TELEMETRY_MLX_HOME/models`); run with
//! `scripts/mlx-cargo.sh bench -p llm-telemetry-mlx --features system-mlx`.

#[cfg(any(target_os = "macos", feature = "system-mlx"))]
mod run {
    use std::path::PathBuf;
    use std::time::Instant;

    use llm_telemetry_core::Bus;
    use llm_telemetry_cost::{CostTracker, PriceTable};
    use llm_telemetry_genai::instrument::{
        EmbedRequest, GenerateRequest, InferenceBackend, Instrumentation, InstrumentedBackend,
        TelemetryLevel,
    };
    use llm_telemetry_log::{Logger, Sink};
    use llm_telemetry_mlx::MlxBackend;
    use llm_telemetry_otel::{OtelHandler, Protocol};
    use llm_telemetry_prometheus::{PrometheusReporter, defaults};
    use serde_json::json;

    const ROUNDS: usize = 11;
    const GENERATIONS_PER_ROUND: usize = 20;
    const EMBED_BATCHES_PER_ROUND: usize = 3;
    const MAX_TOKENS: u32 = 32;
    const BATCH: usize = 8;

    fn models() -> PathBuf {
        std::env::var_os("LLM_TELEMETRY_MLX_HOME")
            .map_or_else(|| PathBuf::from("/opt/mlx-venv"), PathBuf::from)
            .join("models")
    }

    fn backend(bus: &Bus) -> InstrumentedBackend<MlxBackend> {
        let models = models();
        let backend = MlxBackend::new()
            .load_generator(models.join("tiny-llama"))
            .and_then(|b| b.load_embedder(models.join("all-MiniLM-L6-v2")))
            .unwrap_or_else(|e| panic!("{e} (run scripts/setup-mlx.sh)"));
        InstrumentedBackend::new(backend, Instrumentation::new(bus, TelemetryLevel::Detailed))
    }

    /// Every handler the main job attaches, on `bus`; returns what must stay alive.
    fn attach_all(bus: &Bus) -> impl Sized {
        let logger = Logger::builder()
            .sink(Sink::writer(std::io::sink()))
            .json()
            .attach(bus)
            .unwrap();
        let prometheus = PrometheusReporter::builder()
            .metrics(defaults::llm_metrics())
            .unwrap()
            .attach(bus)
            .unwrap();
        let cost = CostTracker::builder()
            .prices(PriceTable::builtin())
            .attach(bus)
            .unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .unwrap()
            .port();
        let otel = OtelHandler::builder()
            .read_env(false)
            .protocol(Protocol::HttpProtobuf)
            .endpoint(format!("http://127.0.0.1:{port}"))
            .service_name("mlx-bench")
            .attach(bus)
            .unwrap();
        (logger, prometheus, cost, otel)
    }

    /// Per round: (generated tokens per second, embeddings per second).
    fn round(backend: &InstrumentedBackend<MlxBackend>) -> (f64, f64) {
        let request = GenerateRequest::new("tiny-llama", "The sky is").max_tokens(MAX_TOKENS);
        let started = Instant::now();
        let mut tokens = 0;
        for _ in 0..GENERATIONS_PER_ROUND {
            tokens += backend.generate(&request).unwrap().output_tokens;
        }
        let tokens_per_second = tokens as f64 / started.elapsed().as_secs_f64();
        let texts: Vec<String> = (0..BATCH)
            .map(|i| format!("document {i} about telemetry, caches and tokens per second"))
            .collect();
        let request = EmbedRequest::new("all-MiniLM-L6-v2", texts);
        let started = Instant::now();
        let mut embedded = 0;
        for _ in 0..EMBED_BATCHES_PER_ROUND {
            embedded += backend.embed(&request).unwrap().vectors.len();
        }
        (
            tokens_per_second,
            embedded as f64 / started.elapsed().as_secs_f64(),
        )
    }

    pub fn main() {
        let quiet = Bus::new();
        let busy = Bus::new();
        let _handlers = attach_all(&busy);
        let none = backend(&quiet);
        let all = backend(&busy);
        // Warm-up: first calls allocate MLX buffers.
        round(&none);
        round(&all);
        let (mut gen_none, mut gen_all, mut emb_none, mut emb_all) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for i in 0..ROUNDS {
            // Alternating which goes first, so a drift in the machine's load hits both alike.
            let order = if i % 2 == 0 {
                [false, true]
            } else {
                [true, false]
            };
            for with_handlers in order {
                let (g, e) = round(if with_handlers { &all } else { &none });
                let (gens, embs) = if with_handlers {
                    (&mut gen_all, &mut emb_all)
                } else {
                    (&mut gen_none, &mut emb_none)
                };
                gens.push(g);
                embs.push(e);
            }
        }
        let median = llm_telemetry_bench_support::rounds::median;
        let (gen_none, gen_all) = (median(&gen_none), median(&gen_all));
        let (emb_none, emb_all) = (median(&emb_none), median(&emb_all));
        // The telemetry's share of a call: how much longer a call takes with every handler.
        let share = |none: f64, all: f64| (none / all - 1.0) * 100.0;
        let report = json!({
            "generation": {
                "model": "tiny-llama (2 layers, hidden 64, random)",
                "max_tokens": MAX_TOKENS,
                "tokens_per_second_no_handlers": gen_none,
                "tokens_per_second_all_handlers": gen_all,
                "telemetry_share_percent": share(gen_none, gen_all),
            },
            "embedding": {
                "model": "all-MiniLM-L6-v2",
                "batch": BATCH,
                "embeddings_per_second_no_handlers": emb_none,
                "embeddings_per_second_all_handlers": emb_all,
                "telemetry_share_percent": share(emb_none, emb_all),
            },
            "rounds": ROUNDS,
        });
        println!(
            "{}",
            serde_json::to_string_pretty(&report).unwrap_or_default()
        );
        if llm_telemetry_bench_support::measuring() {
            llm_telemetry_bench_support::write_json("mlx", &report);
        }
    }
}

fn main() {
    #[cfg(any(target_os = "macos", feature = "system-mlx"))]
    run::main();
    #[cfg(not(any(target_os = "macos", feature = "system-mlx")))]
    eprintln!(
        "the MLX bench needs the backend: scripts/setup-mlx.sh, then \
         scripts/mlx-cargo.sh bench -p llm-telemetry-mlx --features system-mlx"
    );
}
