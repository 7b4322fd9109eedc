"""Ollama as an engine, through its official Python client. Chat prompts and timings: see http.py."""
from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Sequence

import httpx

from .http import LLAMA_CPP_SAMPLING, HttpEngineError, HttpGeneration, LocalChatPrompt, stop_list
from .base import Engine, EngineSettings

NS_PER_MS = 1_000_000


class OllamaEngine(LocalChatPrompt, Engine):
    """Ollama through its official Python client (`ollama` 0.6).

    generate() sends `raw: true` with a prompt rendered from the GGUF (module docstring), and the
    decoding settings as Ollama `options`. Ollama reports durations in nanoseconds; they become the
    *_ms fields (eval_duration -> eval_ms, prompt_eval_duration -> prompt_eval_ms, load_duration ->
    load_ms). `settings` become Ollama's load options (num_ctx, num_thread, num_batch, num_gpu,
    use_mmap), so a run records, and asks for, the same configuration as the in-process engine.
    """

    name = "ollama"

    def __init__(self, model_tag: str, *, host: str | None = None, gguf_path: Path | str | None = None,
                 settings: EngineSettings = EngineSettings(), stream: bool = True, timeout_s: float = 300.0,
                 keep_alive: str | float | None = None, sampling: dict | None = None):
        import ollama

        if not model_tag:
            raise ValueError("OllamaEngine needs a model tag (e.g. 'smollm2:135m')")
        self.model_tag = model_tag
        self.host = host or os.environ.get("OLLAMA_HOST") or "http://127.0.0.1:11434"
        self.gguf_path = Path(gguf_path) if gguf_path else None
        self.settings = settings
        self.stream = stream
        self.keep_alive = keep_alive
        self.sampling = dict(LLAMA_CPP_SAMPLING if sampling is None else sampling)
        self.client = ollama.Client(host=self.host, timeout=timeout_s)
        self._errors = (ollama.ResponseError, ConnectionError, httpx.TransportError)

    # --- identity ---------------------------------------------------------------------------------
    def version(self) -> str:
        # The client (0.6) has no call for /api/version: a GET on its own httpx session (same host
        # parsing and headers as every other call).
        try:
            r = self.client._client.get("/api/version")
            r.raise_for_status()
        except httpx.HTTPError as e:
            raise HttpEngineError(f"{self.host}/api/version: {e}") from e
        return r.json().get("version", "?")

    def model_digest(self) -> str | None:
        for m in self._call(self.client.list).models:
            if m.model == self.model_tag or m.model == f"{self.model_tag}:latest":
                return m.digest
        return None

    @property
    def build(self) -> str:
        """Server version and the tag's digest: the same tag can name other weights after a pull.
        Not cached, so a pull() in between shows; no host in it (see OpenAICompatibleEngine)."""
        digest = self.model_digest()
        model = f"{self.model_tag}@{digest[:12]}" if digest else f"{self.model_tag} (not pulled)"
        return f"ollama {self.version()} ({model}; raw /api/generate)"

    def _call(self, fn, *args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except self._errors as e:
            raise HttpEngineError(f"ollama at {self.host}: {type(e).__name__}: {e}") from e

    # --- models -----------------------------------------------------------------------------------
    def pull(self, tag: str | None = None, log=None) -> str:
        """Pull `tag` (default: this engine's) and return the last status ("success")."""
        status = None
        try:
            for part in self.client.pull(tag or self.model_tag, stream=True):
                if part.status != status and log:
                    log(f"ollama pull {tag or self.model_tag}: {part.status}")
                status = part.status
        except self._errors as e:
            raise HttpEngineError(f"ollama pull {tag or self.model_tag}: {e}") from e
        if status != "success":
            raise HttpEngineError(f"ollama pull {tag or self.model_tag} ended with status {status!r}")
        return status

    # --- generation -------------------------------------------------------------------------------
    def options(self, *, max_tokens: int, stop: Sequence[str], temperature: float, seed: int | None) -> dict:
        s = self.settings
        opts = {
            "temperature": temperature, "top_k": 1 if temperature == 0 else 40, **self.sampling,
            "seed": s.seed if seed is None else seed, "num_predict": max_tokens, "stop": stop_list(stop),
            "num_ctx": s.n_ctx, "num_thread": s.threads(), "num_batch": s.n_batch, "num_gpu": s.n_gpu_layers,
            "use_mmap": s.use_mmap,
        }
        return {k: v for k, v in opts.items() if v is not None}  # unset means Ollama's default, not null

    def generate(self, prompt: str, *, max_tokens: int, stop: Sequence[str] = (), temperature: float = 0.0,
                 seed: int | None = None, grammar: str | None = None) -> HttpGeneration:
        if grammar:
            raise NotImplementedError("ollama takes a JSON schema (`format`), not a GBNF grammar")
        opts = self.options(max_tokens=max_tokens, stop=stop, temperature=temperature, seed=seed)
        t0 = time.perf_counter()
        parts = self._call(self.client.generate, model=self.model_tag, prompt=prompt, raw=True, stream=self.stream,
                           options=opts, keep_alive=self.keep_alive)
        return self._collect(parts if self.stream else [parts], t0, lambda p: p.response)

    def chat(self, messages: list[dict], *, max_tokens: int, stop: Sequence[str] = (), temperature: float = 0.0,
             seed: int | None = None) -> HttpGeneration:
        """/api/chat: Ollama renders its own (Modelfile) template. For a tag with no local GGUF;
        outputs are not comparable with prompts rendered by chat_prompt (module docstring)."""
        opts = self.options(max_tokens=max_tokens, stop=stop, temperature=temperature, seed=seed)
        t0 = time.perf_counter()
        parts = self._call(self.client.chat, model=self.model_tag, messages=messages, stream=self.stream,
                           options=opts, keep_alive=self.keep_alive)
        return self._collect(parts if self.stream else [parts], t0, lambda p: p.message.content)

    def _collect(self, parts, t0: float, text_of) -> HttpGeneration:
        pieces: list[str] = []
        ttft = None
        final = None
        try:
            for part in parts:
                text = text_of(part) or ""
                if text:
                    if ttft is None and self.stream:
                        ttft = (time.perf_counter() - t0) * 1000
                    pieces.append(text)
                if part.done:
                    final = part
        except self._errors as e:
            raise HttpEngineError(f"ollama at {self.host}: {type(e).__name__}: {e}") from e
        wall = (time.perf_counter() - t0) * 1000
        if final is None:
            raise HttpEngineError(f"ollama at {self.host}: the response ended without a final (done) message")
        return HttpGeneration(
            text="".join(pieces), finish_reason=final.done_reason or "stop",
            prompt_tokens=final.prompt_eval_count or 0, completion_tokens=final.eval_count or len(pieces),
            wall_ms=wall, ttft_ms=ttft, prompt_eval_ms=_ns_to_ms(final.prompt_eval_duration),
            eval_ms=_ns_to_ms(final.eval_duration), prompt_tokens_evaluated=final.prompt_eval_count,
            timings_source="server" if final.eval_duration is not None else "none",
            eval_tokens=final.eval_count, load_ms=_ns_to_ms(final.load_duration),
            server_total_ms=_ns_to_ms(final.total_duration),
        )

    def close(self) -> None:
        self.client.close()


def _ns_to_ms(ns: int | None) -> float | None:
    return ns / NS_PER_MS if ns is not None else None
