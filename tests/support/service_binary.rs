//! The main job's binary (`examples/inference_service`) for tests that run it as a process:
//! found next to the test executable, built on first use. Shared by `tests/e2e.rs`,
//! `tests/serve_openai.rs` and any test that includes this file with `#[path]`.

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

/// The example binary next to this test, built on first use when `cargo test` did not build it
/// already (it does with `--all-targets`, not with `--test e2e`).
pub fn service_binary() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let exe = std::env::current_exe().expect("test executable path");
            // target/<profile>/deps/e2e-<hash> → target/<profile>/examples/inference_service
            let profile_dir = exe
                .parent()
                .and_then(|d| d.parent())
                .expect("target/<profile>");
            let binary = profile_dir.join("examples").join("inference_service");
            let release = profile_dir.file_name().is_some_and(|n| n == "release");
            let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
            let mut build = Command::new(cargo);
            // cargo gives this test its package's variables (CARGO_MANIFEST_DIR, CARGO_PKG_*,
            // …); ring's build script reruns when they change, which would rebuild the TLS stack
            // and the example on every run (inside the timed section of the deadline test).
            for (key, _) in std::env::vars() {
                let from_cargo_for_this_test = key.starts_with("CARGO_PKG_")
                    || key.starts_with("CARGO_BIN_EXE_")
                    || [
                        "CARGO_MANIFEST_DIR",
                        "CARGO_MANIFEST_PATH",
                        "CARGO_CRATE_NAME",
                        "CARGO_PRIMARY_PACKAGE",
                        "CARGO_TARGET_TMPDIR",
                    ]
                    .contains(&key.as_str());
                if from_cargo_for_this_test {
                    build.env_remove(key);
                }
            }
            build
                .args(["build", "--example", "inference_service", "--manifest-path"])
                .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml"));
            if release {
                build.arg("--release");
            }
            let status = build
                .status()
                .expect("run cargo build --example inference_service");
            assert!(
                status.success(),
                "building the inference_service example failed"
            );
            assert!(
                binary.exists(),
                "{} is missing after the build",
                binary.display()
            );
            binary
        })
        .clone()
}

/// A command running the main job's binary without the developer's own settings (every
/// `LLM_TELEMETRY_*`, `OTEL_*` and `PHOENIX_*` variable removed) and with no standard input.
pub fn service_command() -> Command {
    let mut command = Command::new(service_binary());
    command.stdin(std::process::Stdio::null());
    for (key, _) in std::env::vars() {
        if key.starts_with("LLM_TELEMETRY_")
            || key.starts_with("OTEL_")
            || key.starts_with("PHOENIX_")
        {
            command.env_remove(key);
        }
    }
    command
}
