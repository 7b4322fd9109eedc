#!/usr/bin/env bash
# The README's test command: set up if needed, then run the test suite on the real CI model.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# The deployment tests (-m services) start private PostgreSQL and Redis servers from Debian's binaries.
if { ! command -v redis-server >/dev/null || ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; } \
   && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "[test] installing redis-server and postgresql for the deployment tests (they start private servers)"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server postgresql >/dev/null) \
    || echo "[test] redis-server/postgresql could not be installed: the 'services' tests will skip"
fi
export DO_NOT_TRACK=1 HF_HUB_OFFLINE=1 NLTK_DATA="$PWD/data/benchmarks/nltk_data" PATH="$PWD/.venv/bin:$PATH"
exec .venv/bin/python -m pytest -q "$@"
