#!/usr/bin/env bash
# The README's test command: set up if needed, then run the test suite on the real CI model.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export DO_NOT_TRACK=1 HF_HUB_OFFLINE=1 NLTK_DATA="$PWD/data/benchmarks/nltk_data" PATH="$PWD/.venv/bin:$PATH"
exec .venv/bin/python -m pytest -q "$@"
