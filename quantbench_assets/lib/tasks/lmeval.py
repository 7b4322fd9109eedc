"""quantbench's engine as an lm-eval model, and lm-eval task configs that read the offline data.

    import lm_eval
    from quantbench_assets.lib.tasks.lmeval import local_tasks, task_manager  # registers "quantbench"
    lm_eval.simple_evaluate(model="quantbench", model_args="model_path=<gguf>,n_threads=2",
                            tasks=local_tasks(["qb_arc_easy"]), task_manager=task_manager())

Why a bridge: lm-eval's `gguf` backend talks to a completions server through echo logprobs, which
llama-cpp-python 0.3.36 reports one position late, with no loglikelihood_rolling and a 16-token
generate_until (FACTS.md). Here lm-eval's requests go straight to LlamaCppEngine, whose alignment
is checked against a hand computation, so lm-eval's own task code and metrics can be run on a GGUF
in process, and compared item by item with quantbench's scorers (quantbench_tests).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

# Imported for its side effect: lm-eval 0.4.13 registers its built-in models ("gguf", "hf", ...) only
# while its registry is empty, so registering "quantbench" first would hide them.
import lm_eval.models  # noqa: F401
import numpy as np
from lm_eval.api.model import LM
from lm_eval.api.registry import register_model
from tqdm import tqdm

from ..core import paths
from ..engines.llama import Engine, EngineSettings, LlamaCppEngine, log_softmax


def lm_eval_tasks_dir() -> Path:
    return paths.data_dir() / "lm_eval_tasks"


@register_model("quantbench")
class QuantbenchLM(LM):
    """lm-eval's three request types on a quantbench engine (greedy decoding only)."""

    def __init__(self, model_path: str | None = None, engine: Engine | None = None, n_ctx: int = 2048,
                 n_threads: int | None = None, max_gen_toks: int = 256, **_ignored: Any):
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
            total += float(log_softmax(row)[tok])
            greedy = greedy and int(np.argmax(row)) == tok
        return total, greedy

    # --- lm-eval's API ------------------------------------------------------------------------
    def loglikelihood(self, requests, disable_tqdm: bool = False) -> list[tuple[float, bool]]:
        out = []
        # In request order: lm-eval lists a document's choices together, so the engine's prefix reuse
        # evaluates each shared context once.
        for context, continuation in tqdm([r.args for r in requests], disable=disable_tqdm):
            if context:
                (r,) = self.engine.loglikelihood([(context, continuation)])
                out.append((r.logprob, r.is_greedy))
            else:  # the engine needs a context token to condition the first continuation token on
                cont = self.engine.tokenize(continuation, add_bos=False)
                out.append(self._score_tokens([self._prefix_token], cont))
        return out

    def loglikelihood_rolling(self, requests, disable_tqdm: bool = False) -> list[float]:
        """Whole-text loglikelihood in disjoint windows of the context size (lm-eval's rolling scheme)."""
        from lm_eval.utils import get_rolling_token_windows, make_disjoint_window

        out = []
        n_ctx = self.engine.settings.n_ctx
        for (text,) in tqdm([r.args for r in requests], disable=disable_tqdm):
            tokens = self.engine.tokenize(text, add_bos=False)
            windows = map(make_disjoint_window, get_rolling_token_windows(
                token_list=tokens, prefix_token=self._prefix_token, max_seq_len=n_ctx, context_len=1))
            out.append(sum(self._score_tokens(list(ctx), list(cont))[0] for ctx, cont in windows))
        return out

    def generate_until(self, requests, disable_tqdm: bool = False) -> list[str]:
        out = []
        for context, gen_kwargs in tqdm([r.args for r in requests], disable=disable_tqdm):
            kwargs = dict(gen_kwargs or {})
            until = kwargs.get("until") or []
            until = [until] if isinstance(until, str) else list(until)
            max_tokens = int(kwargs.get("max_gen_toks") or self.max_gen_toks)
            temperature = float(kwargs.get("temperature") or 0.0) if kwargs.get("do_sample") else 0.0
            g = self.engine.generate(context, max_tokens=max_tokens, stop=until, temperature=temperature)
            text = g.text
            for stop in until:  # the engine stops at these already; cut again as lm-eval's HFLM does
                text = text.split(stop)[0]
            out.append(text)
        return out

    def close(self) -> None:
        if self._owns_engine:
            self.engine.close()


def local_tasks(names: list[str]) -> list[dict]:
    """lm-eval task configs from data/lm_eval_tasks/<name>.yaml, their data files made absolute."""
    from lm_eval.tasks._yaml_loader import load_yaml  # lm-eval's loader: resolves !function and include

    configs = []
    for name in names:
        path = lm_eval_tasks_dir() / f"{name}.yaml"
        if not path.exists():
            raise FileNotFoundError(f"no lm-eval task file {path}")
        cfg = load_yaml(path)
        kwargs = cfg.get("dataset_kwargs", {})
        files = {split: str(paths.benchmarks_dir() / rel) for split, rel in kwargs.get("data_files", {}).items()}
        cfg["dataset_kwargs"] = {**kwargs, "data_files": files}
        configs.append(cfg)
    return configs


def task_manager():
    """A TaskManager that indexes no built-in tasks (indexing lm-eval's ~10k YAMLs takes seconds)."""
    from lm_eval.tasks import TaskManager

    return TaskManager(include_defaults=False, include_path=str(lm_eval_tasks_dir()))
