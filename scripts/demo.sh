#!/usr/bin/env bash
# The README's demo: set up if needed, then build the demo ladders, evaluate every rung, build the marts.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export DO_NOT_TRACK=1 HF_HUB_OFFLINE=${HF_HUB_OFFLINE:-1} NLTK_DATA="$PWD/data/benchmarks/nltk_data" PATH="$PWD/.venv/bin:$PATH"
exec .venv/bin/python -m quantbench_assets.cli demo "$@"
