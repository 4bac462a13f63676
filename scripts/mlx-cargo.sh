#!/usr/bin/env bash
# Runs cargo with the MLX backend built against the MLX that scripts/setup-mlx.sh installed
# (Linux): mlx-rs's `mlx-sys` is replaced by this repository's `mlx/sys` for this invocation
# only (a `[patch]` given on the command line), so the workspace's own builds never need MLX.
# Usage: scripts/mlx-cargo.sh test -p llm-telemetry-mlx --features system-mlx ...
# It keeps Cargo.lock as it was (the patch would otherwise rewrite mlx-sys's entry).
set -euo pipefail
REPO="$(cd "$(dirname "$0")/.." && pwd)"
export LLM_TELEMETRY_MLX_HOME="${LLM_TELEMETRY_MLX_HOME:-/opt/mlx-venv}"
cd "$REPO"
# Test binaries and examples load libmlx.so from the wheel.
MLX_LIB="$(cat "$LLM_TELEMETRY_MLX_HOME/mlx-c/mlx-lib" 2>/dev/null || true)"
export LD_LIBRARY_PATH="$MLX_LIB${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
BACKUP="${CARGO_TARGET_DIR:-target}/Cargo.lock.before-mlx"
mkdir -p "$(dirname "$BACKUP")"
cp Cargo.lock "$BACKUP"
restore() { cp "$BACKUP" Cargo.lock || true; }
trap restore EXIT
# After the subcommand: external subcommands (cargo clippy) only forward their own arguments.
sub="$1"
shift
cargo "$sub" --config "patch.crates-io.mlx-sys.path=\"$REPO/mlx/sys\"" "$@"
