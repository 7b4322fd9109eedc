"""Speed by llama-bench's definitions, measured on the engine with as little Python in the loop as possible.

- pp<N> (prompt processing): N random token ids decoded in batches of n_batch into an empty context,
  then llama_synchronize; tok/s = N / time.
- tg<N> (text generation): N single-token decodes into an empty context, each followed by
  llama_synchronize, the next id drawn at random rather than sampled (llama-bench does the same, so
  the sampler's cost is not in the figure); tok/s = N / time.
Each repetition starts from a cleared KV cache (not timed); `warmup` repetitions run first and are
discarded. Every repetition is kept, with the engine's own timing counter beside the wall clock.

Load: every measurement records the machine's load while it ran (`LoadMeter`: the 1-minute load
average and the share of the machine's CPU time that other processes used, from psutil). A
measurement during which other processes used more than `LOAD_THRESHOLD` (25 %) of the machine is
repeated once (`measure_speed`); if the repeat is loaded too it is kept and marked `under_load`, and
the marts flag it. On a 2-core machine one busy neighbour process is 50 %.

Why not `llm.eval(tokens)`: it fills its batch in a Python loop token by token; here the token ids
and single-token batches are prepared before the clock starts, so a tg step is three ctypes calls.
"""
from __future__ import annotations

import ctypes
import math
import time
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class BenchSpec:
    n_prompt: int = 512
    n_gen: int = 128
    reps: int = 5
    warmup: int = 1
    seed: int = 1234  # for the random token ids

    def __post_init__(self):
        if self.reps < 2:
            raise ValueError("reps must be >= 2: a spread needs at least two samples")
        if self.n_prompt < 0 or self.n_gen < 0 or self.n_prompt + self.n_gen == 0:
            raise ValueError("n_prompt and n_gen must be >= 0 and not both 0")


def summarize_speed_samples(values) -> dict:
    """Mean ± sd (n-1), CV %, quartiles, 95% t interval and Tukey outlier counts (outside 1.5 IQR)."""
    x = np.asarray(list(values), dtype=float)
    if x.size == 0:
        raise ValueError("no samples to summarize")
    mean = float(x.mean())
    sd = float(x.std(ddof=1)) if x.size > 1 else None
    q1, median, q3 = (float(v) for v in np.percentile(x, [25, 50, 75]))
    iqr = q3 - q1
    low_fence, high_fence = q1 - 1.5 * iqr, q3 + 1.5 * iqr
    half = None
    if sd is not None:
        from scipy import stats

        half = float(stats.t.ppf(0.975, x.size - 1) * sd / math.sqrt(x.size))
    return {
        "n": int(x.size), "mean": mean, "sd": sd,
        "cv_pct": (sd / mean * 100) if sd is not None and mean else None,
        "ci_low": mean - half if half is not None else None, "ci_high": mean + half if half is not None else None,
        "median": median, "q1": q1, "q3": q3, "iqr": iqr, "min": float(x.min()), "max": float(x.max()),
        "n_outliers_low": int((x < low_fence).sum()), "n_outliers_high": int((x > high_fence).sum()),
    }


@dataclass
class TestRun:
    """One llama-bench test (pp512 or tg128): every repetition kept."""

    kind: str  # "pp" | "tg"
    n_tokens: int
    n_ctx: int | None = None  # the context it ran in
    wall_ns: list[int] = field(default_factory=list)
    native_ms: list[float] = field(default_factory=list)  # llama_perf_context's t_p_eval / t_eval

    @property
    def name(self) -> str:
        return f"{self.kind}{self.n_tokens}"

    @property
    def tok_per_s(self) -> list[float]:
        return [self.n_tokens * 1e9 / ns for ns in self.wall_ns]

    @property
    def native_tok_per_s(self) -> list[float]:
        return [self.n_tokens * 1e3 / ms for ms in self.native_ms if ms > 0]

    def summary(self) -> dict:
        return summarize_speed_samples(self.tok_per_s)

    @property
    def mean_tok_per_s(self) -> float:
        return self.summary()["mean"]

    @property
    def sd_tok_per_s(self) -> float:
        return self.summary()["sd"]

    @property
    def cv_pct(self) -> float:
        return self.summary()["cv_pct"]


LOAD_COLUMNS = ("load_avg_1m", "other_cpu_share", "under_load", "load_threshold", "attempts")


@dataclass
class SpeedResult:
    spec: BenchSpec
    settings: dict  # threads, n_batch, n_ubatch, n_ctx, n_gpu_layers, use_mmap, extra_buffers, flash_attn
    engine_build: str
    pp: TestRun | None
    tg: TestRun | None
    load: dict = field(default_factory=dict)  # LoadMeter's figures, under_load, attempts (measure_speed)

    def tests(self) -> list[TestRun]:
        return [t for t in (self.pp, self.tg) if t is not None]

    def sample_rows(self) -> list[dict]:
        rows = []
        for t in self.tests():
            for rep, (ns, tps) in enumerate(zip(t.wall_ns, t.tok_per_s)):
                native = t.native_ms[rep] if rep < len(t.native_ms) else None
                rows.append({"test": t.name, "test_kind": t.kind, "n_tokens": t.n_tokens, "n_ctx": t.n_ctx, "rep": rep,
                             "wall_ms": ns / 1e6, "tok_per_s": tps, "native_ms": native,
                             "native_tok_per_s": t.n_tokens * 1e3 / native if native else None})
        return rows

    def summary_rows(self) -> list[dict]:
        rows = []
        for t in self.tests():
            s = t.summary()
            native = summarize_speed_samples(t.native_tok_per_s) if t.native_tok_per_s else {}
            rows.append({
                "test": t.name, "test_kind": t.kind, "n_tokens": t.n_tokens, "n_ctx": t.n_ctx, "reps": s["n"],
                "warmup_reps": self.spec.warmup, "mean_tok_per_s": s["mean"], "sd_tok_per_s": s["sd"],
                "cv_pct": s["cv_pct"], "ci_low_tok_per_s": s["ci_low"], "ci_high_tok_per_s": s["ci_high"],
                "median_tok_per_s": s["median"], "q1_tok_per_s": s["q1"], "q3_tok_per_s": s["q3"],
                "min_tok_per_s": s["min"], "max_tok_per_s": s["max"],
                "n_outliers_low": s["n_outliers_low"], "n_outliers_high": s["n_outliers_high"],
                "native_mean_tok_per_s": native.get("mean"),
                **{k: self.load.get(k) for k in LOAD_COLUMNS},
            })
        return rows


class _Bench:
    """Direct llama_decode calls on the engine's context (llama-bench's test_prompt / test_gen)."""

    def __init__(self, llm, seed: int):
        import llama_cpp as C

        self.C = C
        self.llm = llm
        self.ctx = llm._ctx.ctx
        vocab = llm._model.vocab
        self.n_vocab = C.llama_vocab_n_tokens(vocab)
        self.bos = C.llama_vocab_bos(vocab) if C.llama_vocab_get_add_bos(vocab) else None
        self.memory = C.llama_get_memory(self.ctx)
        self.rng = np.random.default_rng(seed)
        self.n_batch = llm.n_batch

    def _ids(self, n: int, first_is_bos: bool) -> ctypes.Array:
        ids = self.rng.integers(0, self.n_vocab, size=n, dtype=np.int32)
        if first_is_bos and self.bos is not None and n:
            ids[0] = self.bos
        return (ctypes.c_int32 * n)(*ids.tolist())

    @staticmethod
    def _at(ids: ctypes.Array, i: int):
        """Pointer to ids[i] (the array must outlive the batches that point into it)."""
        return ctypes.cast(ctypes.addressof(ids) + 4 * i, ctypes.POINTER(ctypes.c_int32))

    def _fresh(self) -> None:
        self.C.llama_memory_clear(self.memory, False)  # metadata only, as llama-bench: cells are rewritten
        self.C.llama_perf_context_reset(self.ctx)

    def _decode(self, batch) -> None:
        rc = self.C.llama_decode(self.ctx, batch)
        if rc != 0:
            raise RuntimeError(f"llama_decode returned {rc}")

    def pp(self, n: int) -> tuple[int, float]:
        ids = self._ids(n, first_is_bos=True)
        starts = range(0, n, self.n_batch)
        batches = [self.C.llama_batch_get_one(self._at(ids, s), min(self.n_batch, n - s)) for s in starts]
        self._fresh()
        t0 = time.perf_counter_ns()
        for b in batches:
            self._decode(b)
        self.C.llama_synchronize(self.ctx)
        wall = time.perf_counter_ns() - t0
        return wall, float(self.C.llama_perf_context(self.ctx).t_p_eval_ms)

    def tg(self, n: int) -> tuple[int, float]:
        ids = self._ids(n, first_is_bos=True)
        batches = [self.C.llama_batch_get_one(self._at(ids, i), 1) for i in range(n)]
        decode, sync, ctx = self.C.llama_decode, self.C.llama_synchronize, self.ctx
        self._fresh()
        t0 = time.perf_counter_ns()
        for b in batches:
            if decode(ctx, b) != 0:
                raise RuntimeError("llama_decode failed during generation")
            sync(ctx)
        wall = time.perf_counter_ns() - t0
        return wall, float(self.C.llama_perf_context(self.ctx).t_eval_ms)

    def done(self) -> None:
        self.C.llama_memory_clear(self.memory, True)
        self.llm.reset()  # the Llama object's own token bookkeeping starts over too


def bench_settings(engine) -> dict:
    """What llama-bench prints beside each result, read back from the live context."""
    import llama_cpp as C

    s = engine.settings.as_dict()
    cp = engine.llm.context_params
    return {
        "n_threads": s["n_threads"], "n_batch": int(engine.llm.n_batch), "n_ubatch": int(cp.n_ubatch),
        "n_ctx": int(engine.llm.n_ctx()), "n_gpu_layers": s["n_gpu_layers"], "use_mmap": s["use_mmap"],
        "extra_buffers": s["extra_buffers"],
        "flash_attn": int(cp.flash_attn_type) == int(C.LLAMA_FLASH_ATTN_TYPE_ENABLED),
        "type_k": "f16" if cp.type_k in (None, 1) else str(cp.type_k),
    }


def run_speed_bench(engine, spec: BenchSpec = BenchSpec(), log=None) -> SpeedResult:
    """llama-bench's pp and tg tests on an open LlamaCppEngine (see the module docstring)."""
    llm = engine.llm
    need = max(spec.n_prompt, spec.n_gen)
    if need > llm.n_ctx():
        raise ValueError(f"n_ctx={llm.n_ctx()} is smaller than the {need} tokens a test needs")
    bench = _Bench(llm, spec.seed)
    pp = TestRun("pp", spec.n_prompt, int(llm.n_ctx())) if spec.n_prompt else None
    tg = TestRun("tg", spec.n_gen, int(llm.n_ctx())) if spec.n_gen else None
    try:
        for test, fn in ((pp, bench.pp), (tg, bench.tg)):
            if test is None:
                continue
            for _ in range(spec.warmup):
                fn(test.n_tokens)
            for rep in range(spec.reps):
                wall, native = fn(test.n_tokens)
                test.wall_ns.append(wall)
                test.native_ms.append(native)
                if log:
                    log(f"{test.name} rep {rep}: {test.n_tokens * 1e9 / wall:.2f} tok/s")
    finally:
        bench.done()
    return SpeedResult(spec, bench_settings(engine), engine.build, pp, tg)


def bench_gguf(gguf_path: Path | str, settings, spec: BenchSpec = BenchSpec(), log=None) -> SpeedResult:
    """llama-bench's protocol in full: each test in a fresh context of its own size (llama-bench sets
    n_ctx = n_prompt + n_gen). llama.cpp pads n_ctx to 256 and attends over the used cells padded to
    256, so pp512/tg128 do the same work in a 2048 context; the point is the same protocol, and a
    figure that does not depend on the engine resource's n_ctx."""
    from dataclasses import replace

    from ..engines.llama import LlamaCppEngine

    merged: SpeedResult | None = None
    for kind, n in (("pp", spec.n_prompt), ("tg", spec.n_gen)):
        if not n:
            continue
        one = replace(spec, n_prompt=n if kind == "pp" else 0, n_gen=n if kind == "tg" else 0)
        with LlamaCppEngine(gguf_path, replace(settings, n_ctx=n)) as eng:
            result = run_speed_bench(eng, one, log)
        if merged is None:
            merged = result
        else:
            merged.tg = result.tg
    merged.spec = spec
    merged.settings.pop("n_ctx", None)  # per test: in the rows
    return merged


# ─── load ────────────────────────────────────────────────────────────────────────────────────

LOAD_THRESHOLD = 0.25  # other processes' share of the machine's CPU time above which a run is "under load"


class LoadMeter:
    """The machine's load over a block: other processes' CPU share = (busy CPU time of the whole
    machine - this process's CPU time) / (wall time x CPUs), and the 1-minute load average at the
    end (which counts this process's own threads too: recorded, not judged)."""

    def __enter__(self) -> "LoadMeter":
        import psutil

        self._proc = psutil.Process()
        self._t0 = time.perf_counter()
        self._sys0 = psutil.cpu_times()
        self._own0 = self._proc.cpu_times()
        return self

    def __exit__(self, *exc) -> None:
        import os

        import psutil

        wall = time.perf_counter() - self._t0
        sys1, own1 = psutil.cpu_times(), self._proc.cpu_times()

        def busy(t) -> float:
            return sum(t) - t.idle - getattr(t, "iowait", 0.0)

        n_cpu = psutil.cpu_count() or 1
        own = (own1.user + own1.system + own1.children_user + own1.children_system) - \
              (self._own0.user + self._own0.system + self._own0.children_user + self._own0.children_system)
        other = max(0.0, busy(sys1) - busy(self._sys0) - own)
        self.result = {
            "load_avg_1m": float(os.getloadavg()[0]) if hasattr(os, "getloadavg") else None,
            "other_cpu_share": min(1.0, other / (wall * n_cpu)) if wall > 0 else None,
            "own_cpu_share": min(1.0, own / (wall * n_cpu)) if wall > 0 else None,
            "load_cpus": n_cpu,
            "load_wall_s": wall,
        }


def measure_speed(gguf_path: Path | str, settings, spec: BenchSpec = BenchSpec(), log=None,
                  threshold: float = LOAD_THRESHOLD) -> SpeedResult:
    """bench_gguf under a LoadMeter; a run taken under load (other processes above `threshold` of the
    machine's CPU) is repeated once, and the repeat is kept whatever its load, marked `under_load`."""
    result = None
    for attempt in (1, 2):
        with LoadMeter() as meter:
            result = bench_gguf(gguf_path, settings, spec, log)
        share = meter.result["other_cpu_share"]
        loaded = share is not None and share > threshold
        result.load = {**meter.result, "under_load": loaded, "load_threshold": threshold, "attempts": attempt}
        if not loaded:
            break
        if log and attempt == 1:
            log(f"other processes used {share:.0%} of the CPU (> {threshold:.0%}) during the run: repeating once")
    return result


# ─── roofline ─────────────────────────────────────────────────────────────────────────────────


@lru_cache(maxsize=64)
def _weight_bytes(path: str, size: int, mtime_ns: int) -> int:
    import gguf  # parses the whole header in Python (seconds on a 2-core machine): cached per file

    tensors = gguf.GGUFReader(path, "r").tensors
    names = {t.name for t in tensors}
    total = sum(int(t.n_bytes) for t in tensors)
    if "output.weight" in names:
        total -= sum(int(t.n_bytes) for t in tensors if t.name == "token_embd.weight")
    return total


def weight_bytes_read_per_token(gguf_path: Path | str) -> int:
    """Bytes of weights a decode step reads: every tensor, except that the token embedding is only
    indexed (one row per token) when the model has a separate output matrix. With tied embeddings
    (no output.weight, e.g. SmolLM2) the embedding is the output projection and is read in full."""
    st = Path(gguf_path).stat()
    return _weight_bytes(str(gguf_path), st.st_size, st.st_mtime_ns)


def decode_roofline(weight_bytes: int, tg_tok_per_s: float, bandwidth_gb_per_s: float | None) -> dict:
    """Decode is memory-bound: each token streams the weights once. Effective bandwidth = bytes per
    token x tok/s; its share of the measured bandwidth says how close decode runs to the ceiling.
    A model that fits in the last-level cache can exceed 100%."""
    effective = weight_bytes * tg_tok_per_s / 1e9
    share = effective / bandwidth_gb_per_s * 100 if bandwidth_gb_per_s else None
    ceiling = bandwidth_gb_per_s * 1e9 / weight_bytes if bandwidth_gb_per_s else None
    return {"weight_bytes_per_token": int(weight_bytes), "effective_bandwidth_gb_per_s": effective,
            "bandwidth_share_pct": share, "roofline_tok_per_s": ceiling}
