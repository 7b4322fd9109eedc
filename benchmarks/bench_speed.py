"""quantbench's speed figures against llama.cpp's own llama-bench, on the same GGUF, threads and kernels.

llama-bench is built from the llama.cpp sources vendored in the llama-cpp-python sdist that the
project pins (0.3.36), so both sides run the same ggml commit with the same native flags. Both run
with llama.cpp's extra buffer types off (`--repack 0` here, `EngineSettings.extra_buffers=False` in
quantbench): with them on, these AMX machines segfault in ggml_backend_amx_mul_mat on multi-token
batches. Flash attention is off on both sides (llama-cpp-python's default; llama-bench's is auto).

    python benchmarks/bench_speed.py --build-only            # ~10-20 min on 2 shared cores
    python benchmarks/bench_speed.py --variant smollm2-135m-instruct__Q8_0 --threads 2 --append-results

The ratio quantbench / llama-bench is reported for pp (prompt processing) and tg (generation);
the target is >= 0.95, i.e. the Python harness costs under 5% of what the engine can do.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tarfile
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

VERSION = "0.3.36"
SDIST_DIR = Path(os.environ.get("QUANTBENCH_SDIST_DIR", "/tmp/sdist"))
# Its own folder: the perplexity benchmark builds other tools from the same sdist in benchmarks/.build/.
BUILD_ROOT = ROOT / "benchmarks" / ".build" / "llama-bench"
SRC = BUILD_ROOT / "src"
BUILD = BUILD_ROOT / "build"
BINARY = BUILD / "bin" / "llama-bench"
RESULTS = ROOT / "benchmarks" / "RESULTS.md"


def sdist_path() -> Path:
    tarball = SDIST_DIR / f"llama_cpp_python-{VERSION}.tar.gz"
    if not tarball.exists():
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
                        f"llama-cpp-python=={VERSION}", "-d", str(SDIST_DIR)], check=True)
    return tarball


def extract_sources() -> Path:
    """Only vendor/llama.cpp, without its vocab test files (models/) and CI folders."""
    llama_dir = SRC / "llama.cpp"
    if (llama_dir / "CMakeLists.txt").exists():
        return llama_dir
    prefix = f"llama_cpp_python-{VERSION}/vendor/llama.cpp/"
    skip = ("models/", ".github/", ".devops/", "docs/", "media/")
    with tarfile.open(sdist_path()) as tar:
        members = []
        for m in tar.getmembers():
            if not m.name.startswith(prefix):
                continue
            rel = m.name[len(prefix):]
            if not rel or rel.startswith(skip):
                continue
            m.name = "llama.cpp/" + rel
            members.append(m)
        SRC.mkdir(parents=True, exist_ok=True)
        tar.extractall(SRC, members=members, filter="data")
    return llama_dir


def build_llama_bench(jobs: int = 2) -> Path:
    if BINARY.exists():
        return BINARY
    src = extract_sources()
    BUILD.mkdir(parents=True, exist_ok=True)
    log = open(BUILD_ROOT / "build.log", "w")
    generator = ["-G", "Ninja"] if shutil.which("ninja") else []
    subprocess.run(["cmake", "-S", str(src), "-B", str(BUILD), *generator, "-DCMAKE_BUILD_TYPE=Release",
                    "-DGGML_NATIVE=ON",  # what pip's build of llama-cpp-python uses on this machine
                    "-DBUILD_SHARED_LIBS=OFF", "-DLLAMA_BUILD_TESTS=OFF", "-DLLAMA_BUILD_EXAMPLES=OFF",
                    "-DLLAMA_BUILD_SERVER=OFF", "-DLLAMA_BUILD_TOOLS=ON", "-DLLAMA_CURL=OFF",
                    "-DLLAMA_OPENSSL=OFF",
                    "-DCMAKE_UNITY_BUILD=OFF"],  # a unity build of ggml-cpu fails (amx/mmq.cpp: block_q4_1 has no 'd')
                   check=True, stdout=log, stderr=subprocess.STDOUT)
    subprocess.run(["nice", "-n", "10", "cmake", "--build", str(BUILD), "--target", "llama-bench", "-j", str(jobs)],
                   check=True, stdout=log, stderr=subprocess.STDOUT)
    return BINARY


def llama_bench_build_info(binary: Path) -> str:
    out = subprocess.run([str(binary), "--version"], capture_output=True, text=True)
    return (out.stdout + out.stderr).strip().splitlines()[0] if (out.stdout + out.stderr).strip() else "unknown"


def run_llama_bench(binary: Path, gguf: str, threads: int, n_prompt: int, n_gen: int, reps: int,
                    n_batch: int, use_mmap: bool) -> dict[str, dict]:
    """{'pp': row, 'tg': row} from llama-bench's JSON output (one row per test, samples_ts kept)."""
    cmd = [str(binary), "-m", gguf, "-p", str(n_prompt), "-n", str(n_gen), "-r", str(reps), "-t", str(threads),
           "-b", str(n_batch), "-ub", str(min(n_batch, 512)), "-ngl", "0", "-fa", "off", "--repack", "0",
           "-lm", "mmap" if use_mmap else "none", "-o", "json"]
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"llama-bench failed ({out.returncode}): {' '.join(cmd)}\n{out.stderr[-2000:]}")
    rows = json.loads(out.stdout)
    result = {}
    for row in rows:
        kind = "pp" if row["n_prompt"] > 0 and row["n_gen"] == 0 else "tg"
        result[kind] = row
    result["command"] = " ".join(cmd)
    return result


def run_quantbench(gguf: str, threads: int, n_prompt: int, n_gen: int, reps: int, warmup: int,
                   n_batch: int, use_mmap: bool):
    from quantbench_assets.lib.engines.llama import EngineSettings
    from quantbench_assets.lib.measure.speed import BenchSpec, bench_gguf

    settings = EngineSettings(n_threads=threads, n_batch=n_batch, use_mmap=use_mmap)  # n_ctx: per test, as llama-bench
    result = bench_gguf(gguf, settings, BenchSpec(n_prompt=n_prompt, n_gen=n_gen, reps=reps, warmup=warmup))
    return result, result.engine_build


def default_variants() -> list[str]:
    return sorted(p.stem for p in (ROOT / "data" / "artifacts" / "variants").glob("*.json"))


def compare(binary: Path, gguf: str, args) -> tuple[list[dict], str, str]:
    """Interleaved rounds (llama-bench, then quantbench) so that both sides meet the same background
    load; every sample of every round is pooled. On a machine shared with other jobs the median and
    the best sample are the robust figures; the mean is shown too."""
    import numpy as np

    use_mmap = not args.no_mmap
    lb_ts = {"pp": [], "tg": []}
    qb_ts = {"pp": [], "tg": []}
    overhead = {"pp": [], "tg": []}  # quantbench's wall clock over the engine's own counter
    command, build = "", ""
    for _ in range(args.rounds):
        lb = run_llama_bench(binary, gguf, args.threads, args.n_prompt, args.n_gen, args.reps, args.n_batch, use_mmap)
        command = lb["command"]
        qb, build = run_quantbench(gguf, args.threads, args.n_prompt, args.n_gen, args.reps, args.warmup,
                                   args.n_batch, use_mmap)
        for kind, test in (("pp", qb.pp), ("tg", qb.tg)):
            lb_ts[kind] += lb[kind]["samples_ts"]
            qb_ts[kind] += test.tok_per_s
            overhead[kind] += [ns / 1e6 / ms - 1 for ns, ms in zip(test.wall_ns, test.native_ms)]
    rows = []
    for kind, n in (("pp", args.n_prompt), ("tg", args.n_gen)):
        q, ref = np.array(qb_ts[kind]), np.array(lb_ts[kind])
        rows.append({
            "test": f"{kind}{n}", "n": len(q),
            "qb_mean": q.mean(), "qb_sd": q.std(ddof=1), "qb_median": np.median(q), "qb_best": q.max(),
            "lb_mean": ref.mean(), "lb_sd": ref.std(ddof=1), "lb_median": np.median(ref), "lb_best": ref.max(),
            "ratio_median": np.median(q) / np.median(ref), "ratio_best": q.max() / ref.max(),
            "ratio_mean": q.mean() / ref.mean(), "harness_overhead_pct": 100 * float(np.median(overhead[kind])),
        })
    return rows, command, build


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build-only", action="store_true")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--variant", action="append", help="variant key (default: every built variant)")
    ap.add_argument("--gguf", action="append", help="a GGUF path instead of a variant (NAME=PATH to label it)")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--n-prompt", type=int, default=512)
    ap.add_argument("--n-gen", type=int, default=128)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=3, help="interleaved llama-bench/quantbench rounds")
    ap.add_argument("--n-batch", type=int, default=512)
    ap.add_argument("--no-mmap", action="store_true")
    ap.add_argument("--append-results", action="store_true", help=f"append a section to {RESULTS.name}")
    args = ap.parse_args()

    binary = build_llama_bench(args.jobs)
    print(f"llama-bench: {binary} ({llama_bench_build_info(binary)})", flush=True)
    if args.build_only:
        return 0

    from quantbench_assets.lib.core import paths
    from quantbench_assets.lib.measure.hardware import capture_hardware
    from quantbench_assets.lib.core.store import ArtifactStore
    from quantbench_assets.lib.gguf.rungs import read_manifest

    targets: list[tuple[str, str]] = [tuple(g.split("=", 1)) if "=" in g else (Path(g).name, g) for g in (args.gguf or [])]
    if not targets and not args.gguf:
        store = ArtifactStore(paths.artifacts_dir())
        targets = [(v, read_manifest(store, v)["path"]) for v in (args.variant or default_variants())]
    hw = capture_hardware()
    load_before = os.getloadavg()[0]
    header = ("| variant | test | samples | quantbench tok/s: mean ± sd, median, best | "
              "llama-bench tok/s: mean ± sd, median, best | ratio median (best, mean) | harness overhead |\n"
              "|---|---|---|---|---|---|---|")
    lines = []
    command = build = ""
    for name, gguf in targets:
        rows, command, build = compare(binary, gguf, args)
        for r in rows:
            line = (f"| {name} | {r['test']} | {r['n']} + {r['n']} | {r['qb_mean']:.1f} ± {r['qb_sd']:.1f}, "
                    f"{r['qb_median']:.1f}, {r['qb_best']:.1f} | {r['lb_mean']:.1f} ± {r['lb_sd']:.1f}, "
                    f"{r['lb_median']:.1f}, {r['lb_best']:.1f} | **{r['ratio_median']:.3f}** "
                    f"({r['ratio_best']:.3f}, {r['ratio_mean']:.3f}) | {r['harness_overhead_pct']:.2f}% |")
            print(line, flush=True)
            lines.append(line)
    load_after = os.getloadavg()[0]
    print(header)
    print("\n".join(lines))
    if args.append_results:
        when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        section = (
            f"\n## Speed: quantbench vs llama-bench ({when}, threads {args.threads})\n\n"
            f"Machine: {hw['cpu_model']} ({hw['cpu_simd']}), {hw['usable_cores']} usable cores, "
            f"{hw['memory_total_bytes'] / 2**30:.0f} GiB, GPU {hw['gpu_name'] or 'none'}; hardware_id {hw['hardware_id']}; "
            f"{platform.platform()}. 1-min load average {load_before:.2f} before, {load_after:.2f} after: "
            f"the cores are shared with other jobs, so medians and best samples are the robust figures.\n\n"
            f"- quantbench: {build}; lib.speed.bench_gguf (llama_decode on llama_batch_get_one, random ids, "
            f"a fresh context per test, KV cleared before each rep), {args.warmup} warm-up + {args.reps} reps per round.\n"
            f"- llama-bench: {llama_bench_build_info(binary)}, built from the llama-cpp-python {VERSION} sdist's "
            f"vendored llama.cpp with -DGGML_NATIVE=ON; `{command.replace(str(ROOT) + '/', '')}`.\n"
            f"- Same on both sides: threads {args.threads}, n_batch {args.n_batch}, n_ubatch {min(args.n_batch, 512)}, "
            f"ngl 0, flash attention off, extra buffers off (`--repack 0`; on, this AMX CPU segfaults in "
            f"ggml_backend_amx_mul_mat), mmap {'on' if not args.no_mmap else 'off'}; {args.rounds} interleaved rounds.\n"
            f"- Harness overhead: quantbench's wall clock over llama.cpp's own t_p_eval/t_eval counter in the same "
            f"repetition (median); it does not depend on the background load.\n\n"
            f"{header}\n" + "\n".join(lines) + "\n"
        )
        with open(RESULTS, "a") as fh:
            fh.write(section)
        print(f"appended to {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
