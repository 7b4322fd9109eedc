"""quantbench: which small language model, at which GGUF quantization, for my task, memory and cost."""
import os

# llama.cpp's OpenMP threads spin while waiting by default. On a small shared machine that collapses
# throughput when anything else runs: SmolLM2 Q8_0 decode, 2 threads, load ~3.7 on 2 cores:
# 3.3 tok/s spinning vs 35 tok/s passive (1 thread: 39.5). Set before llama.cpp loads; an explicit
# OMP_WAIT_POLICY in the environment wins, and the value is recorded with every result. The CLI lets
# the threads spin briefly when the machine is otherwise idle (lib/engines/omp.py), never over what the
# user set: OMP_FROM_USER is what the environment held before this default.
from quantbench_assets.lib.engines.omp import VARS as _OMP_VARS  # noqa: E402 (os only)

OMP_FROM_USER = {k: os.environ[k] for k in _OMP_VARS if k in os.environ}
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
