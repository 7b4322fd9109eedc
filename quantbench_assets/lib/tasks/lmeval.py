"""quantbench's engine as an lm-eval model, and any lm-eval task run on it into warehouse rows.

    import lm_eval
    from quantbench_assets.lib.tasks.lmeval import local_tasks, task_manager  # registers "quantbench"
    lm_eval.simple_evaluate(model="quantbench", model_args="model_path=<gguf>,n_threads=2",
                            tasks=local_tasks(["qb_arc_easy"]), task_manager=task_manager())

Why a bridge: lm-eval's `gguf` backend talks to a completions server through echo logprobs, which
llama-cpp-python 0.3.36 reports one position late, with no loglikelihood_rolling and a 16-token
generate_until. Here lm-eval's requests go straight to LlamaCppEngine, whose alignment is checked
against a hand computation, so lm-eval's own task code and metrics run on a GGUF in process.

With a sample cache, every request is answered once per GGUF, engine build, task version and exact
request. lmeval_runs.py runs any task on this model into warehouse rows (the lmeval_samples asset).
"""
from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, Callable

# Imported for its side effect: lm-eval 0.4.13 registers its built-in models ("gguf", "hf", ...) only
# while its registry is empty, so registering "quantbench" first would hide them.
import lm_eval.models  # noqa: F401
import numpy as np
from lm_eval.api.model import LM
from lm_eval.api.registry import register_model
from tqdm import tqdm

from ..core import paths
from ..core.cache import SampleCache, sample_key
from ..engines.llama import Engine, EngineSettings, LlamaCppEngine, row_log_softmax

# Part of every cache key: bump when how the bridge answers a request changes.
BRIDGE_REVISION = "1"
TASKS_DIR_ENV = "QUANTBENCH_LMEVAL_TASKS_DIR"  # extra task folders, os.pathsep-separated
# What a generate_until request without `max_gen_toks` gets: lm-eval's models' default (HFLM's 256).
DEFAULT_MAX_GEN_TOKENS = 256


def lm_eval_tasks_dir() -> Path:
    return paths.data_dir() / "lm_eval_tasks"


def task_dirs(extra: list[str] | None = None) -> list[Path]:
    """The folders whose YAMLs are indexed: the shipped tasks, $QUANTBENCH_LMEVAL_TASKS_DIR, `extra`."""
    env = [p for p in os.environ.get(TASKS_DIR_ENV, "").split(os.pathsep) if p]
    out: list[Path] = []
    for p in [lm_eval_tasks_dir(), *env, *(extra or [])]:
        path = Path(p).expanduser().resolve()
        if not path.is_dir():
            raise FileNotFoundError(f"lm-eval task folder {path} does not exist")
        if path not in out:
            out.append(path)
    return out


@register_model("quantbench")
class QuantbenchLM(LM):
    """lm-eval's three request types on a quantbench engine (greedy decoding only).

    With a `cache` (and `key_parts`: the GGUF's sha256, the engine build, ...), every request is
    looked up by its task, the task's version and its exact arguments first, and every answer is
    kept; `request_log` records each request with its answer, key, whether it was cached and its time."""

    def __init__(self, model_path: str | None = None, engine: Engine | None = None, n_ctx: int = 2048,
                 n_threads: int | None = None, max_gen_toks: int = DEFAULT_MAX_GEN_TOKENS,
                 cache: SampleCache | None = None, key_parts: dict | None = None,
                 task_versions: dict[str, str] | None = None, **_ignored: Any):
        # **_ignored: lm-eval passes batch_size, device, ... to every model; one process, one engine here.
        super().__init__()
        if engine is None:
            if not model_path:
                raise ValueError("quantbench model: pass model_path=<gguf> (or an engine)")
            settings = EngineSettings(n_ctx=int(n_ctx), n_threads=int(n_threads) if n_threads else None,
                                      logits_all=True)
            engine = LlamaCppEngine(model_path, settings)
            self._owns_engine = True
        else:
            self._owns_engine = False
        self.engine = engine
        self.max_gen_toks = int(max_gen_toks)
        self.cache = cache
        self.key_parts = dict(key_parts or {})
        self.task_versions = dict(task_versions or {})
        self.request_log: list[dict] = []

    # --- helpers ------------------------------------------------------------------------------
    @property
    def _prefix_token(self) -> int:
        """What an empty context conditions on (lm-eval's HFLM: BOS if the model has one, else EOS)."""
        llm = self.engine.llm
        return llm.token_bos() if llm.token_bos() >= 0 else llm.token_eos()

    def _score_tokens(self, context: list[int], continuation: list[int]) -> tuple[float, bool]:
        """Sum of log p(continuation | context) from one evaluation of context + continuation."""
        rows, _ = self.engine.token_logprobs(context + continuation)
        total, greedy = 0.0, True
        for j, tok in enumerate(continuation):
            row = rows[len(context) + j - 1]  # the row before a token predicts it
            total += float(row_log_softmax(row)[tok])
            greedy = greedy and int(np.argmax(row)) == tok
        return total, greedy

    def request_key(self, request_type: str, task: str | None, args: tuple) -> str:
        return sample_key(**self.key_parts, bridge=BRIDGE_REVISION, task=task, version=self.task_versions.get(task),
                          request_type=request_type, args=list(args), n_ctx=self.engine.settings.n_ctx,
                          max_gen_toks=self.max_gen_toks if request_type == "generate_until" else None)

    def _answer(self, request_type: str, requests, one: Callable, decode: Callable = lambda v: v,
                disable_tqdm: bool = False) -> list:
        """Each request from the cache, else from `one(*args)`, in request order: lm-eval lists a
        document's requests together, so the engine's prefix reuse evaluates a shared context once."""
        out = []
        for req in tqdm(requests, disable=disable_tqdm):
            args = tuple(req.args)
            task = getattr(req, "task_name", None)
            key = self.request_key(request_type, task, args) if self.cache is not None else None
            hit = self.cache.get(key) if key is not None else None
            if hit is None:
                t0 = time.perf_counter()
                hit = {"response": one(*args), "wall_ms": (time.perf_counter() - t0) * 1000,
                       "context_tokens_dropped": self._dropped(request_type, args)}
                if key is not None:
                    self.cache.put(key, hit)
                cached = False
            else:
                cached = True
            out.append(decode(hit["response"]))
            self.request_log.append({"task": task, "doc_id": getattr(req, "doc_id", None),
                                     "request_idx": getattr(req, "idx", None), "request_type": request_type,
                                     "arguments": args, "response": hit["response"], "sample_key": key,
                                     "cached": cached, "wall_ms": hit["wall_ms"],
                                     # stored with the answer; answers cached before the count existed
                                     # are counted again by tokenizing
                                     "context_tokens_dropped": hit["context_tokens_dropped"]
                                     if "context_tokens_dropped" in hit else self._dropped(request_type, args)})
        return out

    def _dropped(self, request_type: str, args: tuple) -> int | None:
        """Context tokens a request lost to the window (by tokenizing); None where it cannot happen
        (rolling windows) or is not measured (generation)."""
        if request_type != "loglikelihood":
            return None
        context, continuation = args[0], args[1]
        return self.engine.request_overflow(context, continuation) if context else 0

    def _loglikelihood_one(self, context: str, continuation: str) -> tuple[float, bool]:
        if context:
            (r,) = self.engine.loglikelihood([(context, continuation)])
            return r.logprob, r.is_greedy
        # the engine needs a context token to condition the first continuation token on
        return self._score_tokens([self._prefix_token], self.engine.tokenize(continuation, add_bos=False))

    def _rolling_one(self, text: str) -> float:
        """Whole-text loglikelihood in disjoint windows of the context size (lm-eval's rolling scheme)."""
        from lm_eval.utils import get_rolling_token_windows, make_disjoint_window

        tokens = self.engine.tokenize(text, add_bos=False)
        windows = map(make_disjoint_window, get_rolling_token_windows(
            token_list=tokens, prefix_token=self._prefix_token, max_seq_len=self.engine.settings.n_ctx,
            context_len=1))
        return sum(self._score_tokens(list(ctx), list(cont))[0] for ctx, cont in windows)

    def _generate_one(self, context: str, gen_kwargs: dict | None) -> str:
        kwargs = dict(gen_kwargs or {})
        until = kwargs.get("until") or []
        until = [until] if isinstance(until, str) else list(until)
        max_tokens = int(kwargs.get("max_gen_toks") or self.max_gen_toks)
        temperature = float(kwargs.get("temperature") or 0.0) if kwargs.get("do_sample") else 0.0
        text = self.engine.generate(context, max_tokens=max_tokens, stop=until, temperature=temperature).text
        for stop in until:  # the engine stops at these already; cut again as lm-eval's HFLM does
            text = text.split(stop)[0]
        return text

    # --- lm-eval's API ------------------------------------------------------------------------
    def loglikelihood(self, requests, disable_tqdm: bool = False) -> list[tuple[float, bool]]:
        return self._answer("loglikelihood", requests, self._loglikelihood_one,
                            decode=lambda v: (float(v[0]), bool(v[1])), disable_tqdm=disable_tqdm)

    def loglikelihood_rolling(self, requests, disable_tqdm: bool = False) -> list[float]:
        return self._answer("loglikelihood_rolling", requests, self._rolling_one, decode=float,
                            disable_tqdm=disable_tqdm)

    def generate_until(self, requests, disable_tqdm: bool = False) -> list[str]:
        return self._answer("generate_until", requests, self._generate_one, disable_tqdm=disable_tqdm)

    def close(self) -> None:
        if self._owns_engine:
            self.engine.close()


def _resolve_data_files(cfg: dict, folder: Path) -> dict:
    """Relative `data_files` resolved against the YAML's folder (lm-eval would use the working
    directory), so a task folder can be moved or named from anywhere."""
    kwargs = cfg.get("dataset_kwargs") or {}
    files = kwargs.get("data_files")
    if not files:
        return cfg

    def fix(p):
        if isinstance(p, list):
            return [fix(x) for x in p]
        return p if "://" in str(p) or Path(p).is_absolute() else str((folder / p).resolve())

    files = {k: fix(v) for k, v in files.items()} if isinstance(files, dict) else fix(files)
    return {**cfg, "dataset_kwargs": {**kwargs, "data_files": files}}


def task_config(path: Path) -> dict:
    """An lm-eval task YAML as lm-eval reads it (!function and include resolved), data files absolute."""
    from lm_eval.tasks._yaml_loader import load_yaml

    return _resolve_data_files(load_yaml(path), path.parent)


def local_tasks(names: list[str]) -> list[dict]:
    """lm-eval task configs from data/lm_eval_tasks/<name>.yaml, their data files made absolute."""
    configs = []
    for name in names:
        path = lm_eval_tasks_dir() / f"{name}.yaml"
        if not path.exists():
            raise FileNotFoundError(f"no lm-eval task file {path}")
        configs.append(task_config(path))
    return configs


def task_manager(include_path: list[str] | None = None):
    """A TaskManager that indexes only the shipped task folder, $QUANTBENCH_LMEVAL_TASKS_DIR and
    `include_path`: indexing lm-eval's own ~14,700 configs takes ~8 s (0.01 s for these); and whose
    tasks read relative data files from their YAML's folder."""
    from lm_eval.tasks import TaskManager
    from lm_eval.tasks._factory import TaskFactory

    class LocalDataFactory(TaskFactory):
        def _load_full_config(self, entry, overrides=None):
            cfg = super()._load_full_config(entry, overrides)
            return _resolve_data_files(cfg, Path(entry.yaml_path).parent) if entry.yaml_path else cfg

    tm = TaskManager(include_defaults=False, include_path=[str(p) for p in task_dirs(include_path)])
    tm._factory = LocalDataFactory(meta=tm.metadata)  # lm-eval 0.4.13 has no public hook for this
    return tm
