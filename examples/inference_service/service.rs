//! [`Service`]: the workload the main job runs, on the simulated providers (the default) or,
//! with `--backend mlx`, on a real MLX model (builds with the MLX backend only: `--features mlx`
//! on macOS, `--features mlx-system` through `scripts/mlx-cargo.sh` on Linux).

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use llm_telemetry::instrument::Instrumentation;

use crate::cli::{Backend, Options};
use crate::report::Report;
use crate::workload::Workload;

/// The workload the worker threads run.
pub enum Service {
    /// Two simulated providers.
    Simulated(Box<Workload>),
    /// A real MLX model.
    #[cfg(any(all(feature = "mlx", target_os = "macos"), feature = "mlx-system"))]
    Mlx(Box<crate::mlx_workload::MlxWorkload>),
}

impl Service {
    /// The workload `options` ask for.
    pub fn new(
        options: &Options,
        telemetry: Instrumentation,
        report: Arc<Report>,
    ) -> Result<Self, Box<dyn std::error::Error>> {
        match options.backend {
            Backend::Simulated => Ok(Service::Simulated(Box::new(Workload::new(
                telemetry,
                report,
                options.latency_scale,
            )))),
            #[cfg(any(all(feature = "mlx", target_os = "macos"), feature = "mlx-system"))]
            Backend::Mlx => Ok(Service::Mlx(Box::new(
                crate::mlx_workload::MlxWorkload::new(
                    telemetry,
                    report,
                    options.model.as_deref(),
                    options.embed_model.as_deref(),
                )?,
            ))),
            #[cfg(not(any(all(feature = "mlx", target_os = "macos"), feature = "mlx-system")))]
            Backend::Mlx => Err(
                "this build has no MLX backend: on Linux run scripts/setup-mlx.sh, \
                 then scripts/mlx-cargo.sh run --release --features mlx-system --example \
                 inference_service -- --backend mlx --model DIR (on macOS: --features mlx)"
                    .into(),
            ),
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
