"""The inference seam: what evaluation code calls (`Engine`), the settings every engine runs with
and the result types. `llama.LlamaCppEngine` runs llama-cpp-python in process; the HTTP engines
(OpenAI-compatible servers, Ollama) implement the same methods. Nothing here loads llama.cpp.
"""
from __future__ import annotations

import os
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, field
from typing import Sequence

import numpy as np

from .omp import omp_wait_policy


@dataclass(frozen=True)
class EngineSettings:
    n_ctx: int = 2048
    n_threads: int | None = None  # None: all cores of this machine
    n_batch: int = 512
    seed: int = 1234
    use_mmap: bool = True
    n_gpu_layers: int = 0
    main_gpu: int = 0
    logits_all: bool = False  # True for token_logprobs (every row kept: n_ctx x vocab floats); loglikelihood asks for its rows
    # llama.cpp's "extra buffer types" (AMX / repacked weights). Off by default: on these machines'
    # AMX CPUs a native build of 0.3.36 segfaults in ggml_backend_amx_mul_mat on any multi-token
    # batch (gdb backtrace, 2026-11-22); off also avoids the repack copy that inflates RSS
    # (docs/PLATFORM_NOTES.md, "llama.cpp's extra buffer types").
    extra_buffers: bool = False

    def threads(self) -> int:
        return self.n_threads or os.cpu_count() or 1

    def as_dict(self) -> dict:
        d = asdict(self)
        d["n_threads"] = self.threads()
        d["omp_wait_policy"] = omp_wait_policy()
        return d


@dataclass
class Generation:
    text: str
    finish_reason: str  # "stop" | "length"
    prompt_tokens: int
    completion_tokens: int
    wall_ms: float
    ttft_ms: float | None
    prompt_eval_ms: float | None = None  # native (engine-reported) timings
    eval_ms: float | None = None
    prompt_tokens_evaluated: int | None = None  # fewer than prompt_tokens when a prefix was reused

    @property
    def decode_tok_per_s(self) -> float | None:
        if self.eval_ms and self.completion_tokens > 1:
            return (self.completion_tokens - 1) / (self.eval_ms / 1000)  # tokens after the first
        return None


@dataclass
class LoglikelihoodResult:
    logprob: float
    is_greedy: bool
    n_tokens: int
    token_logprobs: list[float] = field(default_factory=list)


class Engine(ABC):
    """What quantbench needs from an inference engine."""

    name: str = "engine"

    @property
    @abstractmethod
    def build(self) -> str:
        """Engine name, version and build flags: part of every result's provenance."""

    @abstractmethod
    def generate(self, prompt: str, *, max_tokens: int, stop: Sequence[str] = (), temperature: float = 0.0,
                 seed: int | None = None, grammar: str | None = None) -> Generation: ...

    def chat_prompt(self, messages: list[dict]) -> str:
        raise NotImplementedError(f"{self.name} has no chat template rendering")

    def loglikelihood(self, requests: Sequence[tuple[str, str]]) -> list[LoglikelihoodResult]:
        raise NotImplementedError(f"{self.name} does not expose token logprobs")

    def next_token_logprobs(self, prompt: str, candidates: Sequence[str]) -> list[float]:
        raise NotImplementedError(f"{self.name} does not expose next-token logits")

    def request_overflow(self, context: str, continuation: str) -> int:
        raise NotImplementedError(f"{self.name} does not tokenize loglikelihood requests")

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def row_log_softmax(row: np.ndarray) -> np.ndarray:
    """One logits row's log-softmax in float64: a token's logprob (perplexity's batched float32 form
    is measure/ppl_math.log_softmax)."""
    row = row.astype(np.float64, copy=False)
    m = row.max()
    return row - (m + np.log(np.exp(row - m).sum()))
