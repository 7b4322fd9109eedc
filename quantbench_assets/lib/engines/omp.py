"""How llama.cpp's OpenMP threads wait at the barriers of a decode, and when a run may let them spin.

libgomp reads OMP_WAIT_POLICY and GOMP_SPINCOUNT once, when llama.cpp's library loads; an explicit
GOMP_SPINCOUNT replaces the spin count the policy implies (0 for passive), so PASSIVE plus
GOMP_SPINCOUNT=1000 spins briefly, then sleeps (measured: scoring 2.4 → 4.5 items/s, like no policy). quantbench's
default is passive (quantbench_assets/__init__.py): on a small shared machine spinning threads collapse
throughput when anything else runs. On a machine that is otherwise idle, a short spin makes the short
decodes of scoring ~2x faster with the same numbers (README, "OpenMP"); the CLI measures the load first
and picks it then. Whatever is chosen is recorded with every result (omp_wait_policy)."""
from __future__ import annotations

import os

VARS = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")
SHORT_SPIN = "1000"  # libgomp's default is 300,000: a short spin, then sleep, keeps a busy neighbour's share


def omp_wait_policy() -> str:
    """The wait settings as the environment holds them: OMP_WAIT_POLICY and libgomp's GOMP_SPINCOUNT."""
    policy = os.environ.get("OMP_WAIT_POLICY") or "default"
    spin = os.environ.get("GOMP_SPINCOUNT")
    return f"{policy}, GOMP_SPINCOUNT={spin}" if spin else policy


def wait_settings(other_cpu_share: float | None, user_env: dict, threshold: float) -> tuple[dict, str]:
    """(environment changes, why) for a run about to load llama.cpp. The user's own settings always win;
    a short spin only where other processes used at most `threshold` of the CPU just before."""
    if user_env:
        return {}, "as set in the environment (" + ", ".join(f"{k}={v}" for k, v in sorted(user_env.items())) + ")"
    if other_cpu_share is None:
        return {}, "passive (the machine's load could not be measured)"
    if other_cpu_share > threshold:
        return {}, (f"passive: other processes use {other_cpu_share:.0%} of the CPU "
                    f"(a spinning thread would take their share)")
    return ({"GOMP_SPINCOUNT": SHORT_SPIN},
            f"short spin (GOMP_SPINCOUNT={SHORT_SPIN}): other processes use {other_cpu_share:.0%} of the CPU; "
            f"OMP_WAIT_POLICY=PASSIVE keeps them passive")
