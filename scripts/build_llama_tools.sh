#!/usr/bin/env bash
# Optional extra: builds llama.cpp's own command-line tools (llama-imatrix, llama-quantize,
# llama-perplexity) from the llama.cpp sources vendored in the llama-cpp-python sdist the project pins,
# so the tools run the same ggml as the in-process engine. Used by the imatrix rungs (-imat) and the
# KLD comparison against `llama-perplexity --kl-divergence`. Nothing in the default set-up or CI needs it:
# tests that need the tools skip when they are absent.
#
#   bash scripts/build_llama_tools.sh            # or: QUANTBENCH_LLAMA_TOOLS=1 bash scripts/setup.sh
#
# Idempotent: a tool already built is not rebuilt. Output: benchmarks/.build/ (git-ignored); the
# binaries in benchmarks/.build/llama.cpp-build/bin/. Same cmake flags as benchmarks/bench_perplexity.py
# (GGML_NATIVE like the pip build, static, no server/examples/tests).
set -euo pipefail
cd "$(dirname "$0")/.."
VERSION=0.3.36
BUILD=benchmarks/.build
SRC="$BUILD/llama_cpp_python-$VERSION/vendor/llama.cpp"
OUT="$BUILD/llama.cpp-build"
TARGETS=(llama-imatrix llama-quantize llama-perplexity)
PY=.venv/bin/python
[ -x "$PY" ] || PY=python3

missing=()
for t in "${TARGETS[@]}"; do [ -x "$OUT/bin/$t" ] || missing+=("$t"); done
if [ ${#missing[@]} -eq 0 ]; then
  echo "[llama-tools] already built: ${TARGETS[*]} in $OUT/bin"
  exit 0
fi
for tool in cmake ninja cc c++; do
  command -v "$tool" >/dev/null || { echo "[llama-tools] $tool is required to build the tools" >&2; exit 1; }
done
mkdir -p "$BUILD"
if [ ! -d "$SRC" ]; then
  sdist="$BUILD/llama_cpp_python-$VERSION.tar.gz"
  if [ ! -f "$sdist" ]; then
    echo "[llama-tools] fetching the llama-cpp-python $VERSION sdist"
    "$PY" -m pip download -q --no-deps --no-binary :all: "llama-cpp-python==$VERSION" -d "$BUILD"
  fi
  tar -xzf "$sdist" -C "$BUILD"
fi
start=$(date +%s)
echo "[llama-tools] building ${missing[*]} (15-25 min on 2 cores)"
cmake -S "$SRC" -B "$OUT" -G Ninja -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=ON -DBUILD_SHARED_LIBS=OFF \
  -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=OFF \
  -DLLAMA_BUILD_APP=OFF >/dev/null
cmake --build "$OUT" --target "${missing[@]}" -j "${LLAMA_TOOLS_JOBS:-$(nproc)}"
echo "[llama-tools] built ${missing[*]} in $(( $(date +%s) - start )) s: $OUT/bin"
