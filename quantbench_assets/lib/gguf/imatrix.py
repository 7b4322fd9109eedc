"""Importance-matrix rungs ("<QUANT>-imat"): llama.cpp's own `llama-imatrix` and `llama-quantize`.

llama-cpp-python's quantize API takes no importance matrix, so these rungs use the command-line tools
built from the llama.cpp sources vendored in the same llama-cpp-python sdist as the engine
(scripts/build_llama_tools.sh, an optional extra). Without them an -imat rung fails with the command
that builds them; nothing else needs them.

The matrix is computed on the model's base file from a calibration text shipped in data/calibration/
(never the WikiText-2 test text the KL divergence is measured on), and is content-addressed by the
base file, the text, the settings and the tools' version: the calibration text's name and sha256 and
the matrix's sha256 are the rung's provenance.

What the matrix can change: llama-quantize weights each column's rounding error by the mean squared
activation it saw, for every type that rounds to a grid (K-quants, legacy Q4_0/Q5_0..., IQ types).
What it cannot: which type a tensor gets. On models whose rows are not divisible by 256 (SmolLM2:
576) the K-quant types fall back to legacy ones (Q5_0, Q4_0, ...) exactly as without a matrix; the
matrix then only changes how those legacy blocks are rounded.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path

from ..core import paths
from ..core.store import ArtifactStore, StoredFile
from .info import read_gguf
from .quant_types import file_type_of, split_imatrix
from .quantize import QuantizeError, Rung, estimate_output_bytes

TOOLS_DIR_ENV = "QUANTBENCH_LLAMA_TOOLS_DIR"
BUILD_SCRIPT = "scripts/build_llama_tools.sh"
TOOLS_VERSION = "llama.cpp vendored in llama-cpp-python 0.3.36"  # what build_llama_tools.sh builds


@dataclass(frozen=True)
class Calibration:
    name: str
    path: Path

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.path.read_bytes()).hexdigest()


@dataclass(frozen=True)
class ImatrixSettings:
    chunks: int = 64  # windows of n_ctx tokens read from the calibration text (64 x 512 = 32k tokens)
    n_ctx: int = 512
    threads: int = 2


def default_calibration() -> Calibration:
    """400 GSM8K *train* problems with their worked solutions (data/calibration/README.md)."""
    return Calibration("gsm8k_train_400", paths.data_dir() / "calibration" / "gsm8k_train_400.txt")


def tools_dir() -> Path:
    default = paths.project_root() / "benchmarks" / ".build" / "llama.cpp-build" / "bin"
    return Path(os.environ.get(TOOLS_DIR_ENV) or default)


def tool(name: str) -> Path:
    path = tools_dir() / name
    if not (path.is_file() and os.access(path, os.X_OK)):
        raise QuantizeError(f"{name} is not built ({path} missing): importance-matrix rungs need llama.cpp's "
                            f"tools; build them with `bash {BUILD_SCRIPT}` (15-25 min on 2 cores) "
                            f"or set {TOOLS_DIR_ENV}")
    return path


def tools_available() -> bool:
    try:
        for t in ("llama-imatrix", "llama-quantize"):
            tool(t)
    except QuantizeError:
        return False
    return True


def imatrix_command(binary: Path, model: Path, text: Path, out: Path, s: ImatrixSettings) -> list[str]:
    # --no-repack: llama.cpp's extra buffer types crash a native 0.3.36 build on AMX CPUs (engine.py's
    # extra_buffers=False); --no-ppl: the matrix only, not its perplexity on the calibration text.
    return [str(binary), "-m", str(model), "-f", str(text), "-o", str(out), "--chunks", str(s.chunks),
            "-c", str(s.n_ctx), "-b", str(s.n_ctx), "-t", str(s.threads), "--no-ppl", "--no-repack"]


def quantize_command(binary: Path, src: Path, dst: Path, quant: str, imatrix: Path, threads: int) -> list[str]:
    # --allow-requantize: the sources obtainable here are already quantized (Q4_1, Q4_K_M), as for
    # the rungs built in process (quantize.py sets allow_requantize too)
    return [str(binary), "--allow-requantize", "--imatrix", str(imatrix), str(src), str(dst),
            file_type_of(quant), str(max(threads, 1))]


def _run(cmd: list[str], what: str) -> str:
    proc = subprocess.run(cmd, capture_output=True, text=True)
    log = proc.stdout + proc.stderr
    if proc.returncode != 0:
        raise QuantizeError(f"{what} exited {proc.returncode}: {' '.join(cmd)}\n{log[-2000:]}")
    return log


@dataclass(frozen=True)
class Imatrix:
    path: Path
    sha256: str
    calibration: str
    calibration_sha256: str
    settings: dict

    def provenance(self) -> dict:
        return {"imatrix_calibration": self.calibration, "imatrix_calibration_sha256": self.calibration_sha256,
                "imatrix_sha256": self.sha256}


def compute_imatrix(base: StoredFile, store: ArtifactStore, calibration: Calibration | None = None,
                    settings: ImatrixSettings = ImatrixSettings()) -> Imatrix:
    """The importance matrix of `base` on the calibration text; reused when already computed."""
    calibration = calibration or default_calibration()
    calib_sha = calibration.sha256
    spec = {"base_sha256": base.sha256, "calibration_sha256": calib_sha, "tools": TOOLS_VERSION,
            **{k: v for k, v in asdict(settings).items() if k != "threads"}}  # threads do not change the sums' meaning
    key = hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()
    out = store.subdir("imatrix") / f"{key}.gguf"
    if not out.exists():
        partial = out.with_name(f"{key}.partial.gguf")
        try:
            _run(imatrix_command(tool("llama-imatrix"), base.path, calibration.path, partial, settings), "llama-imatrix")
            if not partial.exists():
                raise QuantizeError(f"llama-imatrix wrote no matrix to {partial}")
            os.replace(partial, out)
        finally:
            partial.unlink(missing_ok=True)
        (out.with_suffix(".json")).write_text(json.dumps({**spec, "calibration": calibration.name}, indent=2))
    sha = hashlib.sha256(out.read_bytes()).hexdigest()
    return Imatrix(out, sha, calibration.name, calib_sha, asdict(settings))


def build_imatrix_rung(base: StoredFile, base_quant: str, quant: str, store: ArtifactStore, threads: int = 0,
                       calibration: Calibration | None = None,
                       settings: ImatrixSettings = ImatrixSettings()) -> tuple[Rung, Imatrix]:
    """`quant` = "<FILE TYPE>-imat": the base requantized by llama-quantize with the base's matrix."""
    file_type, imat = split_imatrix(quant)
    if not imat:
        raise QuantizeError(f"{quant!r} is not an importance-matrix rung (no '-imat' suffix)")
    matrix = compute_imatrix(base, store, calibration, settings)
    method = (f"requantized from {base_quant} with an importance matrix "
              f"({matrix.calibration}, sha256 {matrix.calibration_sha256[:12]})")
    index = store.subdir("rungs") / f"{base.sha256}__{quant}__{matrix.sha256[:16]}__{TOOLS_VERSION.split()[-1]}.json"
    if index.exists():
        cached = store.get(json.loads(index.read_text())["sha256"])
        if cached is not None:
            return Rung(cached, read_gguf(cached.path), quant, method, matrix.provenance()), matrix
    tmp_dir = store.subdir("tmp")
    need = estimate_output_bytes(read_gguf(base.path).n_parameters, file_type)
    if shutil.disk_usage(tmp_dir).free < need:
        raise QuantizeError(f"not enough disk space to quantize to {quant}: need about {need / 1e6:.0f} MB")
    partial = store.partial_path(quant)
    try:
        _run(quantize_command(tool("llama-quantize"), base.path, partial, quant, matrix.path,
                              threads or settings.threads), "llama-quantize")
        try:
            info = read_gguf(partial)
        except Exception as e:
            raise QuantizeError(f"llama-quantize output for {quant} does not read back: {e}") from e
        stored = store.ingest(partial, what=f"{quant} rung", move=True)
    finally:
        partial.unlink(missing_ok=True)
    info.path = str(stored.path)
    index.write_text(json.dumps({"sha256": stored.sha256, "base_sha256": base.sha256, "quant": quant,
                                 **matrix.provenance()}))
    return Rung(stored, info, quant, method, matrix.provenance()), matrix
