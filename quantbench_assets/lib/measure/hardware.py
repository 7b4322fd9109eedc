"""The hardware dimension of every speed and memory figure, captured rather than typed in, and the
memory-bandwidth ceiling that decode speed is compared with (the roofline in lib.speed).

Hardware class: the label a price is matched on (e.g. `cpu-2core-xeon`, `gpu-h100`). It is derived
from the profile (`derive_hardware_class`) and can be set with `QUANTBENCH_HARDWARE_CLASS`, so a
user whose machine is, say, an AWS m7i.xlarge can say so and get that seed price. This machine's
own hourly price comes from `QUANTBENCH_PRICE_PER_HOUR` (USD); without one, and without a seed row
for its class, its speed has no cost (the cost mart says why) rather than another machine's price.
"""
from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import shutil
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

SIMD_FLAGS = ("avx2", "avx512f", "avx512_bf16", "avx512_vnni", "avx_vnni", "amx_int8", "amx_bf16", "amx_tile", "neon", "sve")


def _cpuinfo(path: Path = Path("/proc/cpuinfo")) -> dict[str, str]:
    """The first processor's fields (model name, flags)."""
    fields: dict[str, str] = {}
    try:
        text = path.read_text()
    except OSError:
        return fields
    for line in text.splitlines():
        if not line.strip():
            if fields:
                break
            continue
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())
    return fields


def _gpus() -> list[dict]:
    """NVIDIA GPUs via nvidia-smi; [] where there is none (these CI machines)."""
    if not shutil.which("nvidia-smi"):
        return []
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=name,memory.total,driver_version",
                              "--format=csv,noheader,nounits"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return []
    if out.returncode != 0:
        return []
    gpus = []
    for line in out.stdout.strip().splitlines():
        name, mem_mib, driver = (p.strip() for p in line.split(",")[:3])
        gpus.append({"name": name, "memory_bytes": int(float(mem_mib)) * 2**20, "driver": driver})
    return gpus


def hardware_id(profile: dict) -> str:
    """A stable key for "this kind of machine": CPU, usable cores, memory (GiB), GPUs. Not the host
    name, so identical CI runners share one id and their figures can be pooled."""
    key = {k: profile.get(k) for k in ("cpu_model", "usable_cores", "physical_cores", "cpu_simd", "gpu_name", "gpu_count")}
    key["memory_gib"] = round((profile.get("memory_total_bytes") or 0) / 2**30)
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]


HARDWARE_CLASS_ENV = "QUANTBENCH_HARDWARE_CLASS"
PRICE_ENV = "QUANTBENCH_PRICE_PER_HOUR"

_CPU_FAMILIES = (  # (pattern in the lowercased CPU model, family label); first match wins
    ("epyc", "epyc"), ("xeon", "xeon"), ("threadripper", "threadripper"), ("ryzen", "ryzen"),
    ("core(tm) ultra", "core-ultra"), ("core(tm)", "core"), ("apple m", "apple"), ("graviton", "graviton"),
    ("neoverse", "neoverse"),
)
_GPU_NOISE = {"nvidia", "geforce", "tesla", "gpu", "pcie", "sxm", "sxm4", "sxm5", "nvl", "hbm3", "hbm2e", "hbm3e"}


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def derive_hardware_class(profile: dict) -> str:
    """`gpu-<name>` for a machine with a GPU (nvidia-smi's name less vendor, memory and form-factor
    words: "NVIDIA H100 80GB HBM3" -> gpu-h100), else `cpu-<usable cores>core-<family>`
    ("Intel(R) Xeon(R) Platinum 8481C", 2 cores -> cpu-2core-xeon)."""
    gpu = profile.get("gpu_name")
    if gpu:
        words = [w for w in _slug(gpu).split("-") if w and w not in _GPU_NOISE and not re.fullmatch(r"\d+gb", w)]
        return "gpu-" + "-".join(words or ["unknown"])
    model = (profile.get("cpu_model") or "").lower().replace("(r)", "")
    family = next((label for pattern, label in _CPU_FAMILIES if pattern.replace("(tm)", "") in model.replace("(tm)", "")),
                  None) or (_slug(model).split("-")[0] if model else "unknown")
    return f"cpu-{profile.get('usable_cores') or 0}core-{family}"


def hardware_class(profile: dict) -> tuple[str, str]:
    """(class, where it came from): QUANTBENCH_HARDWARE_CLASS if set, else derived from the profile."""
    override = os.environ.get(HARDWARE_CLASS_ENV, "").strip()
    if override:
        return _slug(override), f"configuration ({HARDWARE_CLASS_ENV})"
    return derive_hardware_class(profile), "derived from the hardware profile"


def configured_price() -> tuple[float | None, str | None]:
    """(USD per hour, source) of this machine from QUANTBENCH_PRICE_PER_HOUR, or (None, None)."""
    raw = os.environ.get(PRICE_ENV, "").strip()
    if not raw:
        return None, None
    try:
        price = float(raw)
    except ValueError:
        raise ValueError(f"{PRICE_ENV}={raw!r} is not a number (USD per hour)") from None
    if not price >= 0:
        raise ValueError(f"{PRICE_ENV}={raw!r}: an hourly price cannot be negative")
    return price, f"configuration ({PRICE_ENV})"


def capture_hardware() -> dict:
    import psutil

    info = _cpuinfo()
    flags = set(info.get("flags", "").split())
    gpus = _gpus()
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    profile = {
        "cpu_model": info.get("model name") or platform.processor() or platform.machine(),
        "cpu_simd": ",".join(f for f in SIMD_FLAGS if f in flags),
        "logical_cores": os.cpu_count(),
        "usable_cores": usable,  # what this process may run on (containers, taskset)
        "physical_cores": psutil.cpu_count(logical=False),
        "memory_total_bytes": int(psutil.virtual_memory().total),
        "gpu_name": gpus[0]["name"] if gpus else None,
        "gpu_count": len(gpus),
        "gpu_memory_bytes": gpus[0]["memory_bytes"] if gpus else None,
        "gpu_driver": gpus[0]["driver"] if gpus else None,
        "os": platform.platform(),
        "machine": platform.machine(),
    }
    profile["hardware_id"] = hardware_id(profile)
    profile["hardware_class"], profile["hardware_class_source"] = hardware_class(profile)
    return profile


def memory_bandwidth(size_bytes: int = 512 * 2**20, reps: int = 5, threads: int = 1) -> dict:
    """Copy bandwidth with numpy (STREAM "copy" convention: bytes read + bytes written), best of `reps`.

    The arrays must be far larger than the last-level cache or the cache is measured instead. With
    threads > 1 each thread copies its own slice (numpy releases the GIL in large copies), which is
    how llama.cpp's decode threads stream weights."""
    n = size_bytes // 8
    src = np.ones(n, dtype=np.float64)  # written: the pages are really backed before timing
    dst = np.zeros_like(src)
    bounds = np.linspace(0, n, threads + 1, dtype=np.int64)
    slices = [(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:])]

    def copy(span):
        a, b = span
        np.copyto(dst[a:b], src[a:b])

    samples = []
    with ThreadPoolExecutor(max_workers=threads) as pool:
        list(pool.map(copy, slices))  # warm-up
        for _ in range(reps):
            t0 = time.perf_counter()
            list(pool.map(copy, slices))
            samples.append(2 * n * 8 / (time.perf_counter() - t0) / 1e9)
    return {"bandwidth_gb_per_s": max(samples), "samples_gb_per_s": samples, "array_bytes": n * 8,
            "threads": threads, "reps": reps, "method": "numpy copyto, (read+write bytes)/time, best of reps"}
