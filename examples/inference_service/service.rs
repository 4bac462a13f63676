//! [`Service`]: the workload the main job runs, on the simulated providers (the default) or,
//! with `--backend mlx`, on a real MLX model (builds with the MLX backend only: `--features mlx`
//! on macOS, `--features mlx-system` through `scripts/mlx-cargo.sh` on Linux). [`serve_mlx`]
//! serves the OpenAI-compatible API (`--serve`) from the same MLX models.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use llm_telemetry::instrument::Instrumentation;

use llm_telemetry::config::{InferenceBackendKind, InferenceConfig};

use crate::cli::Options;
use crate::report::Report;
use crate::workload::Workload;

/// Why a build without the MLX backend refuses `--backend mlx`, and what to run instead.
#[cfg(not(any(all(feature = "mlx", target_os = "macos"), feature = "mlx-system")))]
const NO_MLX: &str = "this build has no MLX backend: on Linux run scripts/setup-mlx.sh, then \
    scripts/mlx-cargo.sh run --release --features mlx-system --example inference_service -- \
    --backend mlx --model DIR (on macOS: --features mlx)";

/// The MLX backend needs a model directory: `inference.model` (`--model DIR`) and/or
/// `inference.embed_model` (`--embed-model DIR`).
#[cfg(any(all(feature = "mlx", target_os = "macos"), feature = "mlx-system"))]
fn check_models(inference: &InferenceConfig) -> Result<(), Box<dyn std::error::Error>> {
    if inference.model.is_none() && inference.embed_model.is_none() {
        return Err("inference.backend = \"mlx\" needs inference.model and/or \
                    inference.embed_model (--model DIR / --embed-model DIR): a model directory"
            .into());
    }
    Ok(())
}

/// The workload the worker threads run.
pub enum Service {
    /// Two simulated providers.
    Simulated(Box<Workload>),
    /// A real MLX model.
    #[cfg(any(all(feature = "mlx", target_os = "macos"), feature = "mlx-system"))]
    Mlx(Box<crate::mlx_workload::MlxWorkload>),
}

impl Service {
    /// The workload `inference` (the configuration's `[inference]`) asks for; `options` give
    /// the simulated latency.
    pub fn new(
        inference: &InferenceConfig,
        options: &Options,
        telemetry: Instrumentation,
        report: Arc<Report>,
    ) -> Result<Self, Box<dyn std::error::Error>> {
        match inference.backend {
            InferenceBackendKind::Simulated => Ok(Service::Simulated(Box::new(Workload::new(
                telemetry,
                report,
                options.latency_scale,
            )))),
            #[cfg(any(all(feature = "mlx", target_os = "macos"), feature = "mlx-system"))]
            InferenceBackendKind::Mlx => {
                check_models(inference)?;
                Ok(Service::Mlx(Box::new(
                    crate::mlx_workload::MlxWorkload::new(
                        telemetry,
                        report,
                        inference.model.as_deref(),
                        inference.embed_model.as_deref(),
                    )?,
                )))
            }
            #[cfg(not(any(all(feature = "mlx", target_os = "macos"), feature = "mlx-system")))]
            InferenceBackendKind::Mlx => Err(NO_MLX.into()),
        }
    }

    /// One worker's loop, until `stop` is set.
    pub fn run(&self, worker: usize, stop: &AtomicBool) {
        match self {
            Service::Simulated(workload) => workload.run(worker, stop),
            #[cfg(any(all(feature = "mlx", target_os = "macos"), feature = "mlx-system"))]
            Service::Mlx(workload) => workload.run(worker, stop),
        }
    }
}

/// Serves the OpenAI-compatible API at `addr` from the MLX models of `options` (`--serve` with
/// `--backend mlx`): `/v1/models` lists the loaded generation model as a chat model and the
/// embedding model as an embedding model, owned by `mlx`.
#[cfg(any(all(feature = "mlx", target_os = "macos"), feature = "mlx-system"))]
pub fn serve_mlx(
    addr: std::net::SocketAddr,
    telemetry: &Instrumentation,
    inference: &InferenceConfig,
) -> Result<crate::serve::Server, Box<dyn std::error::Error>> {
    check_models(inference)?;
    let backend = llm_telemetry::mlx::load(
        telemetry,
        inference.model.as_deref(),
        inference.embed_model.as_deref(),
    )?;
    let models = crate::serve::Models {
        chat: backend
            .generator_model()
            .map(str::to_owned)
            .into_iter()
            .collect(),
        embedding: backend
            .embedder_model()
            .map(str::to_owned)
            .into_iter()
            .collect(),
        owned_by: "mlx".to_owned(),
    };
    let serve_options = crate::serve::ServeOptions {
        models,
        ..crate::serve::ServeOptions::default()
    };
    Ok(crate::serve::start(
        addr,
        backend,
        telemetry.clone(),
        serve_options,
    )?)
}

/// Without an MLX backend in the build, `--serve` with `--backend mlx` is the same clear error
/// as the workload's.
#[cfg(not(any(all(feature = "mlx", target_os = "macos"), feature = "mlx-system")))]
pub fn serve_mlx(
    _addr: std::net::SocketAddr,
    _telemetry: &Instrumentation,
    _inference: &InferenceConfig,
) -> Result<crate::serve::Server, Box<dyn std::error::Error>> {
    Err(NO_MLX.into())
}
