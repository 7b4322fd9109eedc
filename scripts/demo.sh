#!/usr/bin/env bash
# The README's demo: set up if needed, then the demo study (≤ 10 min on 2 cores once set up; rungs are
# built on the first run and cached in data/artifacts), ending with the per-budget answer and where to
# look. Options pass through: `bash scripts/demo.sh --study tr125` runs TR125's study (~47 min).
# llama.cpp's and Dagster's own output go to data/reports/demo.log.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export DO_NOT_TRACK=1 HF_HUB_OFFLINE=${HF_HUB_OFFLINE:-1} NLTK_DATA="$PWD/data/benchmarks/nltk_data" PATH="$PWD/.venv/bin:$PATH"
exec .venv/bin/python -m quantbench_assets.cli demo "$@"
