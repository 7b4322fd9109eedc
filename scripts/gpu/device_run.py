"""quantbench's measurements on the lent H100, run ON the device machine (python3 of its image, with
llama-cpp-python built there for CUDA into /tmp/site; see scripts/gpu/README.md for the calls).

    python3 scripts/gpu/device_run.py measure --model smollm2-135m-instruct --base /tmp/x/smollm.gguf \
        --base-sha256 b179... --base-quant Q4_1 --ladder F16,Q8_0,Q4_K_M,Q2_K --out /tmp/gpu_out/smollm
    python3 scripts/gpu/device_run.py synthetic --tokenizer-gguf <gguf> --shapes llama3-8b-shape --out ...
    python3 scripts/gpu/device_run.py bandwidth          # JSON: device-to-device copy and read probes
    python3 scripts/gpu/device_run.py speed <gguf>       # JSON: pp512/tg128 of one file (a fresh process)

Everything is measured with quantbench's own code (lib.quantize, lib.speed, lib.perplexity,
lib.evaluate), every layer offloaded (n_gpu_layers=99). Rows come out in the shapes of the
warehouse's raw tables (defs/scoring/*.py and defs/measure/*.py write the same columns), tagged with a hardware_id of
their own, so the external_results asset (lib/measure/external.py) only has to insert them.

The bandwidth probe runs in a child process (torch's CUDA context must not sit in the process that
measures); VRAM is read by an nvidia-smi process polling beside the measuring one (SmiPoller).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import threading
import time
import traceback
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

N_GPU_LAYERS = 99
RESULTS_VERSION = 1


def now() -> str:
    return datetime.now(timezone.utc).isoformat()


class Log:
    def __init__(self, path: Path | None):
        self.path = path
        self.t0 = time.perf_counter()

    def __call__(self, msg: str) -> None:
        line = f"[{time.perf_counter() - self.t0:7.1f}s] {msg}"
        print(line, flush=True)
        if self.path:
            with open(self.path, "a") as f:
                f.write(line + "\n")


# ─── probes in child processes ────────────────────────────────────────────────────────────────


def bandwidth_probe(size_mib: int = 4096, reps: int = 20) -> dict:
    """GPU memory bandwidth with torch: a device-to-device copy (bytes read + written, the STREAM
    'copy' convention lib.hardware uses on CPUs) and a read-only reduction (bytes read). Median and
    best of `reps` timed with CUDA events after warm-ups."""
    import torch

    n = size_mib * 2**20 // 4
    a = torch.ones(n, dtype=torch.float32, device="cuda")
    b = torch.empty_like(a)
    ev = lambda: torch.cuda.Event(enable_timing=True)  # noqa: E731

    def timed(fn, nbytes):
        for _ in range(3):
            fn()
        torch.cuda.synchronize()
        out = []
        for _ in range(reps):
            s, e = ev(), ev()
            s.record()
            fn()
            e.record()
            e.synchronize()
            out.append(nbytes / (s.elapsed_time(e) / 1e3) / 1e9)
        return out

    copy = timed(lambda: b.copy_(a), 2 * a.nbytes)
    read = timed(lambda: a.sum(), a.nbytes)
    med = lambda x: sorted(x)[len(x) // 2]  # noqa: E731
    props = torch.cuda.get_device_properties(0)
    return {
        "copy_gb_per_s_best": max(copy), "copy_gb_per_s_median": med(copy), "copy_samples_gb_per_s": copy,
        "read_gb_per_s_best": max(read), "read_gb_per_s_median": med(read), "read_samples_gb_per_s": read,
        "array_bytes": a.nbytes, "reps": reps, "torch": torch.__version__, "torch_cuda": torch.version.cuda,
        "gpu_name": props.name, "sm_count": props.multi_processor_count,
        "l2_bytes": getattr(props, "L2_cache_size", None), "total_memory_bytes": props.total_memory,
        "method": "torch float32 tensors of size_mib: copy_ (read+write bytes) and sum (read bytes), "
                  "CUDA events, 3 warm-ups",
    }


def init_backends() -> None:
    """Register llama.cpp's backends before the first model load. Seen on the H100 (2026-11-22,
    llama-cpp-python 0.3.36 built for CUDA): in a fresh process, LlamaCppEngine's first Llama() died
    with SIGSEGV unless something had initialised the backends first (llama_print_system_info did)."""
    import llama_cpp

    llama_cpp.llama_backend_init()
    llama_cpp.llama_print_system_info()


class SmiPoller:
    """GPU memory in use, read by an nvidia-smi process polling every `interval_ms` (no NVML in this
    process: on the H100 a probe process that used NVML and then loaded a model died with SIGSEGV)."""

    def __init__(self, interval_ms: int = 10):
        self.interval_ms = interval_ms
        self.readings: list[int] = []

    @staticmethod
    def once(query: str = "--query-gpu=memory.used") -> str:
        return subprocess.run(["nvidia-smi", query, "--format=csv,noheader,nounits"], capture_output=True,
                              text=True, timeout=30).stdout.strip()

    def __enter__(self):
        self.proc = subprocess.Popen(["nvidia-smi", "--query-gpu=memory.used", "--format=csv,noheader,nounits",
                                      "-lms", str(self.interval_ms)], stdout=subprocess.PIPE, text=True)
        self._t = threading.Thread(target=self._read, daemon=True)
        self._t.start()
        time.sleep(0.3)
        return self

    def _read(self):
        for line in self.proc.stdout:
            try:
                self.readings.append(int(float(line.strip())) * 2**20)
            except ValueError:
                pass

    def __exit__(self, *exc):
        time.sleep(0.3)
        self.proc.terminate()
        self.proc.wait(timeout=10)
        self._t.join(timeout=5)


def vram_in_process(gguf: str, n_gpu_layers: int, n_ctx: int = 2048, n_prompt: int = 512, n_gen: int = 128,
                    seed: int = 1234) -> dict:
    """lib.memory's workload with the model on the GPU, in this (measuring) process: device memory in
    use while it runs (nvidia-smi, every 10 ms), less what was in use just before the load. This
    process already holds its CUDA context, so the figure is the model's: weights, KV cache,
    compute buffers and cuBLAS workspace, not the context."""
    import numpy as np

    import llama_cpp
    from quantbench_assets.lib.engines.llama import EngineSettings, LlamaCppEngine
    from quantbench_assets.lib.measure.memory import attention_shape, kv_cache_bytes

    settings = EngineSettings(n_ctx=n_ctx, n_gpu_layers=n_gpu_layers, seed=seed)
    with SmiPoller() as poll:
        before = poll.readings[-1] if poll.readings else None
        with LlamaCppEngine(gguf, settings) as eng:
            llm = eng.llm
            time.sleep(0.05)
            after_load = poll.readings[-1]
            apps = SmiPoller.once("--query-compute-apps=pid,used_memory")
            ids = np.random.default_rng(seed).integers(0, llm.n_vocab(), size=n_prompt + n_gen).tolist()
            llm.reset()
            llm.eval(ids[:n_prompt])
            for tok in ids[n_prompt:]:
                llm.eval([tok])
            time.sleep(0.05)
            after_workload = poll.readings[-1]
            shape = attention_shape(eng.metadata())
            n_params = int(llama_cpp.llama_model_n_params(llm._model.model))
            tensor_bytes = int(llama_cpp.llama_model_size(llm._model.model))
            n_ctx_actual = int(llm.n_ctx())
            build = eng.build
        time.sleep(0.1)
    after_close = poll.readings[-1]
    own = None
    for line in apps.splitlines():
        pid, _, used = line.partition(",")
        if pid.strip() == str(os.getpid()):
            own = int(float(used.strip())) * 2**20
    kv = kv_cache_bytes(shape, n_ctx_actual)
    peak = max(poll.readings)
    return {
        "vram_before_bytes": before, "vram_context_bytes": None,
        "vram_after_load_bytes": after_load - before, "vram_after_workload_bytes": after_workload - before,
        "vram_peak_bytes": peak - before, "vram_released_bytes": after_workload - after_close,
        "vram_peak_with_context_bytes": None, "vram_process_after_load_bytes": own,
        "vram_poll_samples": len(poll.readings), "vram_poll_interval_ms": poll.interval_ms,
        "tensor_bytes": tensor_bytes, "kv_cache_bytes": kv, "kv_cache_type": "f16",
        "vram_estimate_bytes": tensor_bytes + kv, "n_parameters": n_params, "n_layer": shape["n_layer"],
        "n_head_kv": max(shape["n_head_kv"]), "head_dim": shape["head_dim_k"], "n_ctx": n_ctx_actual,
        "n_prompt": n_prompt, "n_gen": n_gen, "n_gpu_layers": n_gpu_layers, "engine_build": build,
        "method": "nvidia-smi memory.used every 10 ms (MiB resolution) in the measuring process, which "
                  "already holds its CUDA context: peak during load + workload less the reading before load",
    }


def child_json(args: list[str], timeout: float = 600) -> dict:
    return child_json_script(Path(__file__), args, timeout)


def child_json_script(script: Path, args: list[str], timeout: float = 600) -> dict:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    out = subprocess.run([sys.executable, str(script), *args], capture_output=True, text=True, timeout=timeout, env=env)
    lines = [ln for ln in out.stdout.strip().splitlines() if ln.startswith("{")]
    if out.returncode != 0 or not lines:
        raise RuntimeError(f"child {args[0]} failed ({out.returncode}): {out.stderr[-3000:]}")
    return json.loads(lines[-1])


# ─── the machine ──────────────────────────────────────────────────────────────────────────────


def gpu_details() -> dict:
    q = ("name,memory.total,driver_version,pci.bus_id,clocks.max.sm,clocks.max.memory,power.limit,"
         "compute_cap,vbios_version")
    d: dict = {}
    try:
        out = subprocess.run(["nvidia-smi", f"--query-gpu={q}", "--format=csv,noheader,nounits"],
                             capture_output=True, text=True, timeout=30).stdout.strip().splitlines()[0]
        keys = q.split(",")
        d = {f"nvsmi_{k.replace('.', '_')}": v.strip() for k, v in zip(keys, out.split(","))}
    except Exception as e:  # noqa: BLE001
        d["nvsmi_error"] = str(e)
    try:
        d["nvcc_version"] = subprocess.run(["nvcc", "--version"], capture_output=True, text=True,
                                           timeout=30).stdout.strip().splitlines()[-1]
    except Exception:  # noqa: BLE001
        d["nvcc_version"] = None
    return d


def gpu_hardware_row(bw: dict) -> dict:
    """raw.hardware's columns for this machine with its GPU as the device. The hardware_id is the host
    profile's, salted with the backend, so CPU-only runs on this same host keep an id of their own."""
    from quantbench_assets.lib.measure.hardware import capture_hardware, memory_bandwidth

    profile = capture_hardware()
    host_id = profile["hardware_id"]
    hid = hashlib.sha256(f"{host_id}:llama.cpp-cuda-full-offload".encode()).hexdigest()[:16]
    cpu_bw = memory_bandwidth(1024 * 2**20, 3, profile["usable_cores"] or 1)
    return {
        **profile, "hardware_id": hid, "host_hardware_id": host_id, "device_kind": "gpu",
        "bandwidth_gb_per_s": bw["copy_gb_per_s_best"], "bandwidth_threads": None,
        "bandwidth_all_cores_gb_per_s": None, "bandwidth_1t_gb_per_s": None,
        "bandwidth_samples_gb_per_s": bw["copy_samples_gb_per_s"], "bandwidth_array_bytes": bw["array_bytes"],
        "bandwidth_method": "GPU HBM: " + bw["method"],
        "gpu_bandwidth_read_gb_per_s": bw["read_gb_per_s_best"],
        "gpu_bandwidth_copy_median_gb_per_s": bw["copy_gb_per_s_median"],
        "gpu_sm_count": bw["sm_count"], "gpu_l2_bytes": bw["l2_bytes"],
        "host_cpu_bandwidth_gb_per_s": cpu_bw["bandwidth_gb_per_s"],
        **gpu_details(), "probed_at": now(),
    }


# ─── one model's ladder ───────────────────────────────────────────────────────────────────────


def provenance_row(manifest: dict, build: str, settings, run_at: str) -> dict:
    try:
        from quantbench_assets.lib.gguf.rungs import provenance

        return provenance(manifest, build, settings.as_dict(), run_at)
    except Exception:  # noqa: BLE001  (the shape defs/scoring writes, if the helper moved)
        s = settings.as_dict()
        return {"variant": manifest["variant"], "model": manifest["model"], "quant_requested": manifest["requested"],
                "quant_obtained": manifest["obtained"], "gguf_sha256": manifest["sha256"], "engine": "llama_cpp",
                "engine_build": build, "n_threads": s["n_threads"], "n_ctx": s["n_ctx"], "seed": s["seed"],
                "n_gpu_layers": s["n_gpu_layers"], "use_mmap": s["use_mmap"], "extra_buffers": s["extra_buffers"],
                "run_at": run_at}


class Results:
    """Everything one run produces, written after every step so a cut-off run leaves what it had."""

    TABLES = ("hardware", "speed_summary", "speed_samples", "gpu_memory", "gpu_roofline", "perplexity",
              "perplexity_windows", "benchmark_samples", "benchmark_scores", "rungs")

    def __init__(self, out: Path, meta: dict):
        self.out = out
        self.out.mkdir(parents=True, exist_ok=True)
        self.data = {"results_version": RESULTS_VERSION, "meta": meta, "errors": [],
                     "tables": {t: [] for t in self.TABLES}}

    def add(self, table: str, rows: list[dict]) -> None:
        self.data["tables"][table].extend(rows)
        self.save()

    def error(self, where: str, e: BaseException) -> None:
        self.data["errors"].append({"where": where, "error": f"{type(e).__name__}: {e}",
                                    "trace": traceback.format_exc()[-4000:]})
        self.save()

    def save(self) -> None:
        tmp = self.out / "results.json.partial"
        tmp.write_text(json.dumps(self.data, indent=1, default=str))
        os.replace(tmp, self.out / "results.json")


def measure_ladder(args, log: Log) -> int:
    import llama_cpp

    from quantbench_assets.lib.catalog.entries import variant_key
    from quantbench_assets.lib.engines.llama import EngineSettings, LlamaCppEngine, engine_build_string
    from quantbench_assets.lib.gguf.quantize import build_rung
    from quantbench_assets.lib.measure.speed import BenchSpec, bench_gguf, decode_roofline, weight_bytes_read_per_token
    from quantbench_assets.lib.core.store import ArtifactStore

    init_backends()
    out = Path(args.out)
    meta = {"command": " ".join(sys.argv), "started_at": now(), "model": args.model, "base_quant": args.base_quant,
            "ladder": args.ladder, "llama_cpp_python": llama_cpp.__version__, "engine_build": engine_build_string(),
            "system_info": llama_cpp.llama_print_system_info().decode(errors="replace"),
            "gpu_offload": bool(llama_cpp.llama_supports_gpu_offload()), "cmake_args": os.environ.get("CMAKE_ARGS"),
            "python": sys.version, "platform": platform.platform(), "host": platform.node()}
    res = Results(out, meta)
    log(f"engine: {meta['engine_build']}; offload={meta['gpu_offload']}")
    if not meta["gpu_offload"] and args.n_gpu_layers:
        log("WARNING: this llama.cpp build cannot offload to a GPU")

    # the machine and its bandwidth
    try:
        bw = child_json(["bandwidth"]) if args.n_gpu_layers else None
    except Exception as e:  # noqa: BLE001
        res.error("bandwidth", e)
        bw = None
    if bw:
        hw = gpu_hardware_row(bw)
        res.add("hardware", [hw])
        log(f"hardware {hw['hardware_id']}: {hw['gpu_name']}, copy {bw['copy_gb_per_s_best']:.0f} GB/s, "
            f"read {bw['read_gb_per_s_best']:.0f} GB/s")
    else:
        from quantbench_assets.lib.measure.hardware import capture_hardware

        hw = {**capture_hardware(), "device_kind": "cpu", "bandwidth_gb_per_s": None}
    hid = hw["hardware_id"]

    # the rungs, built here with llama.cpp's quantizer from the verified base
    store = ArtifactStore(Path(args.work) / "artifacts")
    base = store.ingest(Path(args.base), expected_sha256=args.base_sha256, what=f"{args.model} base")
    log(f"base {base.sha256[:12]} verified ({base.size_bytes} bytes)")
    settings = EngineSettings(n_gpu_layers=args.n_gpu_layers)
    rungs = []
    for quant in args.ladder.split(","):
        t0 = time.perf_counter()
        try:
            rung = build_rung(base, args.base_quant, quant, store, threads=os.cpu_count() or 0)
        except Exception as e:  # noqa: BLE001
            res.error(f"quantize {quant}", e)
            log(f"quantize {quant} FAILED: {e}")
            continue
        info = rung.info
        manifest = {"variant": variant_key(args.model, quant), "model": args.model, "requested": quant,
                    "obtained": info.file_type or info.main_tensor_type, "sha256": rung.stored.sha256,
                    "path": str(rung.stored.path), "method": rung.method}
        rungs.append(manifest)
        res.add("rungs", [{**{k: v for k, v in manifest.items() if k != "path"}, "size_bytes": rung.stored.size_bytes,
                           "tensor_type_histogram": json.dumps(info.tensor_type_histogram),
                           "n_parameters": info.n_parameters, "bits_per_weight": info.bits_per_weight,
                           "quantize_s": round(time.perf_counter() - t0, 2), "hardware_id": hid}])
        log(f"rung {quant}: {rung.stored.sha256[:12]} {rung.stored.size_bytes / 1e6:.1f} MB ({rung.method})")

    spec = BenchSpec(n_prompt=512, n_gen=128, reps=args.reps, warmup=args.warmup)
    bandwidth = hw.get("bandwidth_gb_per_s")
    read_bw = hw.get("gpu_bandwidth_read_gb_per_s")

    # 1) speed (llama-bench's pp512/tg128) and the roofline; 2) VRAM: the headline, first
    for m in rungs:
        key = m["variant"]
        try:
            result = bench_gguf(m["path"], settings, spec)
            prov = provenance_row(m, result.engine_build, settings, now())
            prov.update({k: result.settings[k] for k in ("n_batch", "n_ubatch", "flash_attn", "type_k")})
            prov["hardware_id"] = hid
            samples = [{**prov, **r} for r in result.sample_rows()]
            wbytes = weight_bytes_read_per_token(m["path"])
            summary = []
            for r in result.summary_rows():
                roof = decode_roofline(wbytes, r["mean_tok_per_s"], bandwidth) if r["test_kind"] == "tg" else {}
                summary.append({**prov, **r, "weight_bytes_per_token": roof.get("weight_bytes_per_token"),
                                "effective_bandwidth_gb_per_s": roof.get("effective_bandwidth_gb_per_s"),
                                "bandwidth_gb_per_s": bandwidth if roof else None,
                                "bandwidth_share_pct": roof.get("bandwidth_share_pct")})
            res.add("speed_samples", samples)
            res.add("speed_summary", summary)
            tg = next(r for r in summary if r["test_kind"] == "tg")
            pp = next(r for r in summary if r["test_kind"] == "pp")
            res.add("gpu_roofline", [roofline_row(key, args.model, m["requested"], m["sha256"], hid, wbytes,
                                                  tg, bandwidth, read_bw, synthetic=False)])
            log(f"{key}: pp512 {pp['mean_tok_per_s']:.0f} tok/s (CV {pp['cv_pct']:.1f}%), tg128 "
                f"{tg['mean_tok_per_s']:.1f} tok/s (CV {tg['cv_pct']:.1f}%), share "
                f"{tg['bandwidth_share_pct'] or 0:.2f}% of {bandwidth or 0:.0f} GB/s")
        except Exception as e:  # noqa: BLE001
            res.error(f"speed {key}", e)
            log(f"speed {key} FAILED: {e}")
        if args.n_gpu_layers:
            try:
                v = vram_in_process(m["path"], args.n_gpu_layers)
                from quantbench_assets.lib.measure.memory import seeds_memory_estimate

                bpw = round(v["tensor_bytes"] * 8 / v["n_parameters"], 4)
                res.add("gpu_memory", [{
                    "variant": key, "model": args.model, "quant_requested": m["requested"],
                    "quant_obtained": m["obtained"], "gguf_sha256": m["sha256"], "hardware_id": hid,
                    **v, "file_size_bytes": Path(m["path"]).stat().st_size, "bits_per_weight": bpw,
                    "seeds_estimate_bytes": seeds_memory_estimate(v["n_parameters"], bpw), "run_at": now()}])
                log(f"{key}: VRAM peak {v['vram_peak_bytes'] / 1e6:.0f} MB (estimate {v['vram_estimate_bytes'] / 1e6:.0f} MB)")
            except Exception as e:  # noqa: BLE001
                res.error(f"vram {key}", e)
                log(f"vram {key} FAILED: {e}")

    # 3) perplexity: the CPU asset's defaults (8 windows of 512 on WikiText-2 test), so they compare
    if args.ppl_windows:
        from quantbench_assets.lib.core import paths
        from quantbench_assets.lib.measure import perplexity as ppl
        from quantbench_assets.lib.measure import ppl_windows as pw
        from quantbench_assets.lib.core.store import sha256_file

        corpus_path = paths.benchmarks_dir() / pw.CORPUS_RELPATH
        text, corpus_sha = pw.read_corpus(corpus_path), sha256_file(corpus_path)
        extra = {"corpus": pw.CORPUS_NAME, "corpus_sha256": corpus_sha, "method_version": pw.METHOD_VERSION}
        for m in rungs:
            key = m["variant"]
            try:
                with LlamaCppEngine(m["path"], replace(settings, n_ctx=args.ppl_ctx)) as eng:
                    bos = eng.llm.token_bos() if pw.adds_bos(eng) else None
                    windows = pw.make_windows(pw.tokenize_corpus(eng, text), args.ppl_ctx, args.ppl_windows, bos)
                    prov = provenance_row(m, eng.build, eng.settings, now())
                    run = ppl.run_rung(eng, windows)
                prov["hardware_id"] = hid
                s = run.perplexity()
                res.add("perplexity_windows", [{**prov, **extra, **r} for r in run.window_rows()])
                res.add("perplexity", [{**prov, **extra, **s}])
                log(f"{key}: PPL {s['ppl']:.4f} ± {s['ppl_se']:.4f} ({s['n_windows']} windows, {s['tok_per_s']:.0f} tok/s)")
            except Exception as e:  # noqa: BLE001
                res.error(f"perplexity {key}", e)
                log(f"perplexity {key} FAILED: {e}")

    # 4) benchmark subset: greedy generation, TR125's method, the CPU demo's items
    if args.tasks:
        from quantbench_assets.lib.core.cache import SampleCache
        from quantbench_assets.lib.scoring.tr125 import run_mc_generation, score_mc_generation
        from quantbench_assets.lib.tasks.benchmarks import load_task

        tasks = [load_task(t, args.size, args.limit) for t in args.tasks.split(",")]
        cache = SampleCache(Path(args.work) / "cache" / "samples.sqlite")
        try:
            for m in rungs:
                key = m["variant"]
                try:
                    rows = []
                    with LlamaCppEngine(m["path"], settings) as eng:
                        prov = provenance_row(m, eng.build, eng.settings, now())
                        for task in tasks:
                            rows += run_mc_generation(eng, task, prov, cache, log=lambda s: None)
                    rows = [{**r, "hardware_id": hid} for r in rows]
                    scores = [{**s, "hardware_id": hid} for s in score_mc_generation(rows)]
                    res.add("benchmark_samples", rows)
                    res.add("benchmark_scores", scores)
                    acc = sum(s["rescored_correct"] for s in scores) / len(scores)
                    log(f"{key}: {len(scores)} items, rescored accuracy {acc:.3f}")
                except Exception as e:  # noqa: BLE001
                    res.error(f"benchmark {key}", e)
                    log(f"benchmark {key} FAILED: {e}")
        finally:
            cache.close()
    res.data["meta"]["finished_at"] = now()
    res.save()
    log(f"done: {len(res.data['errors'])} errors; {out / 'results.json'}")
    return 0


def roofline_row(variant, model, quant, sha, hid, wbytes, tg, bandwidth, read_bw, synthetic, extra=None) -> dict:
    tps = tg["mean_tok_per_s"]
    eff = wbytes * tps / 1e9
    return {
        "variant": variant, "model": model, "quant": quant, "gguf_sha256": sha, "hardware_id": hid,
        "synthetic": synthetic, "weight_bytes_per_token": int(wbytes), "tg_tok_per_s": tps,
        "tg_sd_tok_per_s": tg["sd_tok_per_s"], "tg_cv_pct": tg["cv_pct"], "effective_bandwidth_gb_per_s": eff,
        "bandwidth_copy_gb_per_s": bandwidth, "bandwidth_read_gb_per_s": read_bw,
        "share_of_copy_pct": eff / bandwidth * 100 if bandwidth else None,
        "share_of_read_pct": eff / read_bw * 100 if read_bw else None,
        "roofline_tok_per_s": bandwidth * 1e9 / wbytes if bandwidth else None,
        "ms_per_token": 1e3 / tps, **(extra or {}), "run_at": now(),
    }


def measure_synthetic(args, log: Log) -> int:
    """Speed-only roofline on synthetic models of larger shapes (scripts/gpu/synthetic.py)."""
    from quantbench_assets.lib.engines.llama import EngineSettings
    from quantbench_assets.lib.measure.speed import BenchSpec, bench_gguf, weight_bytes_read_per_token

    out = Path(args.out)
    prev = out / "results.json"
    res = Results(out, {"command": " ".join(sys.argv), "started_at": now()})
    if prev.exists():  # append to the ladder's results file
        res.data = json.loads(prev.read_text())
    hw = (res.data["tables"].get("hardware") or [None])[0]
    if hw is None:
        try:
            hw = gpu_hardware_row(child_json(["bandwidth"]))
            res.add("hardware", [hw])
        except Exception as e:  # noqa: BLE001  (no GPU: speed without a roofline share)
            res.error("bandwidth", e)
            from quantbench_assets.lib.measure.hardware import capture_hardware

            hw = {**capture_hardware(), "bandwidth_gb_per_s": None}
    hid, bandwidth, read_bw = hw["hardware_id"], hw["bandwidth_gb_per_s"], hw.get("gpu_bandwidth_read_gb_per_s")
    settings = EngineSettings(n_gpu_layers=args.n_gpu_layers)
    work = Path(args.work) / "synthetic"
    work.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + args.budget_s
    for shape in args.shapes.split(","):
        if time.monotonic() > deadline:
            log(f"synthetic {shape}: skipped, past the time budget")
            res.error(f"synthetic {shape}", TimeoutError("skipped: past --budget-s"))
            continue
        path = work / f"{shape}.gguf"
        try:
            # written by a child process: writing it in this one, then loading it here, died (SIGSEGV)
            info = child_json_script(Path(__file__).parent / "synthetic.py",
                                     [str(path), "--shape", shape, "--tokenizer-gguf", args.tokenizer_gguf])
            log(f"synthetic {shape}: {info['size_bytes'] / 1e9:.2f} GB, {info['n_parameters'] / 1e9:.2f} B params, "
                f"written in {info['write_s']} s")
            sp = child_json(["speed", str(path), "--reps", str(args.reps), "--n-gpu-layers", str(args.n_gpu_layers)])
            wbytes = weight_bytes_read_per_token(path)
            rows = {r["test_kind"]: r for r in sp["summary"]}
            extra = {k: info[k] for k in ("n_parameters", "n_embd", "n_layer", "n_ff", "n_head", "n_head_kv",
                                          "n_vocab", "size_bytes", "quant_mix")}
            extra.update({"pp512_tok_per_s": rows["pp"]["mean_tok_per_s"], "engine_build": sp["engine_build"],
                          "n_gpu_layers": args.n_gpu_layers, "flash_attn": sp["settings"].get("flash_attn"),
                          "tg_samples_tok_per_s": json.dumps(sp["tg_tok_per_s"])})
            row = roofline_row(f"synthetic-{shape}__Q4_K_M", f"synthetic-{shape}", "Q4_K_M", None, hid, wbytes,
                               rows["tg"], bandwidth, read_bw, synthetic=True, extra=extra)
            res.add("gpu_roofline", [row])
            log(f"synthetic {shape}: tg128 {row['tg_tok_per_s']:.1f} tok/s, {row['effective_bandwidth_gb_per_s']:.0f} GB/s"
                f" = {row['share_of_copy_pct'] or 0:.1f}% of copy, {row['share_of_read_pct'] or 0:.1f}% of read bandwidth")
        except Exception as e:  # noqa: BLE001
            res.error(f"synthetic {shape}", e)
            log(f"synthetic {shape} FAILED: {e}")
        finally:
            path.unlink(missing_ok=True)
    res.save()
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="quantbench on the lent GPU")
    sub = ap.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("bandwidth")
    b.add_argument("--size-mib", type=int, default=4096)
    sp = sub.add_parser("speed")
    sp.add_argument("gguf")
    sp.add_argument("--reps", type=int, default=5)
    sp.add_argument("--n-gpu-layers", type=int, default=N_GPU_LAYERS)
    m = sub.add_parser("measure")
    m.add_argument("--model", required=True)
    m.add_argument("--base", required=True)
    m.add_argument("--base-sha256", required=True)
    m.add_argument("--base-quant", required=True)
    m.add_argument("--ladder", default="F16,Q8_0,Q4_K_M,Q2_K")
    m.add_argument("--out", required=True)
    m.add_argument("--work", default="/tmp/qb")
    m.add_argument("--n-gpu-layers", type=int, default=N_GPU_LAYERS)
    m.add_argument("--reps", type=int, default=10)
    m.add_argument("--warmup", type=int, default=2)
    m.add_argument("--ppl-windows", type=int, default=8)
    m.add_argument("--ppl-ctx", type=int, default=512)
    m.add_argument("--tasks", default="mmlu,arc_challenge")
    m.add_argument("--size", default="demo")
    m.add_argument("--limit", type=int, default=None)
    s = sub.add_parser("synthetic")
    s.add_argument("--tokenizer-gguf", required=True)
    s.add_argument("--shapes", default="qwen2.5-1.5b-shape,llama3-8b-shape,qwen2.5-32b-shape")
    s.add_argument("--out", required=True)
    s.add_argument("--work", default="/tmp/qb")
    s.add_argument("--n-gpu-layers", type=int, default=N_GPU_LAYERS)
    s.add_argument("--reps", type=int, default=5)
    s.add_argument("--budget-s", type=float, default=240)
    args = ap.parse_args(argv)
    if args.cmd == "bandwidth":
        print(json.dumps(bandwidth_probe(args.size_mib)))
        return 0
    if args.cmd == "speed":  # started the way a process that loaded fine was started: llama_cpp first
        import llama_cpp

        llama_cpp.llama_print_system_info()
        from quantbench_assets.lib.engines.llama import EngineSettings
        from quantbench_assets.lib.measure.speed import BenchSpec, bench_gguf

        r = bench_gguf(args.gguf, EngineSettings(n_gpu_layers=args.n_gpu_layers),
                       BenchSpec(n_prompt=512, n_gen=128, reps=args.reps, warmup=1))
        print(json.dumps({"summary": r.summary_rows(), "engine_build": r.engine_build, "settings": r.settings,
                          "tg_tok_per_s": r.tg.tok_per_s}))
        return 0
    log = Log(Path(args.out) / "run.log" if Path(args.out).parent.exists() else None)
    Path(args.out).mkdir(parents=True, exist_ok=True)
    log.path = Path(args.out) / "run.log"
    return measure_ladder(args, log) if args.cmd == "measure" else measure_synthetic(args, log)


if __name__ == "__main__":
    raise SystemExit(main())
