#!/usr/bin/env bash
# Installs what the tests need (idempotently) and runs every test of the workspace, including the
# ones against a real Prometheus (promtool + server, Debian's `prometheus` package) and a real
# Arize Phoenix (PyPI `arize-phoenix`, in a virtualenv). Run as root on Debian.
set -euo pipefail
cd "$(dirname "$0")/.."

PHOENIX_VENV="${LLM_TELEMETRY_PHOENIX_VENV:-/opt/phoenix-venv}"

step() { printf '\n==> %s\n' "$*"; }

step "system packages (prometheus, promtool, wrk, openssl, curl)"
if ! command -v promtool >/dev/null 2>&1 || ! command -v prometheus >/dev/null 2>&1 \
   || ! command -v python3 >/dev/null 2>&1 || ! command -v wrk >/dev/null 2>&1 \
   || ! command -v openssl >/dev/null 2>&1 || ! command -v curl >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # openssl, curl: the TLS Phoenix tests; wrk: the 200-connection load of
  # handlers/prometheus/tests/server_faults.rs.
  apt-get install -y -qq prometheus python3 python3-venv openssl curl wrk >/dev/null
fi
# Debian's package starts a system Prometheus on :9090; the tests run their own on free ports.
systemctl stop prometheus >/dev/null 2>&1 || true

step "Arize Phoenix virtualenv at $PHOENIX_VENV"
if [ ! -x "$PHOENIX_VENV/bin/phoenix" ]; then
  mkdir -p "$(dirname "$PHOENIX_VENV")"
  python3 -m venv "$PHOENIX_VENV"
  "$PHOENIX_VENV/bin/pip" install -q --disable-pip-version-check arize-phoenix
fi

step "the official openai Python client in $PHOENIX_VENV (tests/serve_openai.rs)"
if ! "$PHOENIX_VENV/bin/python" -c "import openai" >/dev/null 2>&1; then
  "$PHOENIX_VENV/bin/pip" install -q --disable-pip-version-check openai
fi
export LLM_TELEMETRY_OPENAI_PYTHON="$PHOENIX_VENV/bin/python"

export LLM_TELEMETRY_PROMTOOL="$(command -v promtool)"
export LLM_TELEMETRY_PROMETHEUS="$(command -v prometheus)"
export LLM_TELEMETRY_PHOENIX="$PHOENIX_VENV/bin/phoenix"
export LLM_TELEMETRY_WRK="$(command -v wrk)"
export LLM_TELEMETRY_REQUIRE_SERVERS=1

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy -D warnings"
cargo clippy --workspace --all-targets -- -D warnings

step "otel handler with one transport (grpc alone, http alone): clippy -D warnings and its unit tests"
for transport in grpc http; do
    cargo clippy -p llm-telemetry-otel --no-default-features --features "$transport" \
        --all-targets -- -D warnings
    cargo test -p llm-telemetry-otel --no-default-features --features "$transport" --lib
done

step "no import circles between the modules of a crate"
python3 scripts/module-cycles.py

step "loom model checks (the ring's claim/publish/reset protocol, snapshot publication)"
# Its own target dir: --cfg loom changes every crate's fingerprint.
RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom \
  cargo test -p llm-telemetry-core --release --test loom

step "cargo test (all tests, including those against real Prometheus and Phoenix)"
# Server tests are #[ignore]d in a plain `cargo test`; --include-ignored runs them here, and they
# fail (not skip) when the server is missing. Benches are compiled by clippy above and run with
# `cargo bench`, not here.
cargo test --workspace --lib --bins --tests --examples -- --include-ignored
cargo test --workspace --doc

step "MLX backend on a real MLX (Linux CPU): set-up, clippy, tests against mlx-lm and MiniLM, main job"
# Self-contained: scripts/setup-mlx.sh installs MLX (PyPI wheel), mlx-lm, MiniLM and builds mlx-c
# under /opt/mlx-venv (idempotent); scripts/mlx-cargo.sh builds the backend against it.
scripts/setup-mlx.sh
scripts/mlx-cargo.sh clippy -p llm-telemetry-mlx --features system-mlx --all-targets -- -D warnings
scripts/mlx-cargo.sh test -p llm-telemetry-mlx --features system-mlx -- --include-ignored
mlx_models="${LLM_TELEMETRY_MLX_HOME:-/opt/mlx-venv}/models"
# The backend through the configuration ([inference] keys, here their environment variables);
# the --serve run below takes the same through its command-line flags.
mlx_summary="$(LLM_TELEMETRY_INFERENCE_BACKEND=mlx \
  LLM_TELEMETRY_INFERENCE_MODEL="$mlx_models/tiny-llama" \
  LLM_TELEMETRY_INFERENCE_EMBED_MODEL="$mlx_models/all-MiniLM-L6-v2" \
  scripts/mlx-cargo.sh run -q --features mlx-system --example inference_service -- \
  --seconds 5 --workers 2 --set metrics.listen=127.0.0.1:0 2>/dev/null)"
echo "$mlx_summary" | sed -n '/summary/,/^all /p'
# Every operation served, none failed.
echo "$mlx_summary" | grep -Eq '^all +[1-9][0-9]* +0$'
for op in chat generate embed stream hybrid_search; do
  echo "$mlx_summary" | grep -Eq "^$op +[1-9][0-9]* +0$"
done
# The OpenAI-compatible API (--serve) from the same MLX models, driven by the official openai
# client (the binary the run above built; killed when the check ends, pass or fail).
mlx_port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
LD_LIBRARY_PATH="$(cat "${LLM_TELEMETRY_MLX_HOME:-/opt/mlx-venv}/mlx-c/mlx-lib")" \
  target/debug/examples/inference_service --backend mlx --model "$mlx_models/tiny-llama" \
  --embed-model "$mlx_models/all-MiniLM-L6-v2" --serve "127.0.0.1:$mlx_port" --seconds 120 \
  --set metrics.listen=127.0.0.1:0 >/dev/null 2>&1 &
mlx_server=$!
trap 'kill "$mlx_server" 2>/dev/null || true' EXIT
"$LLM_TELEMETRY_OPENAI_PYTHON" tests/python/mlx_served.py "http://127.0.0.1:$mlx_port/v1"
kill "$mlx_server" 2>/dev/null || true
wait "$mlx_server" 2>/dev/null || true
