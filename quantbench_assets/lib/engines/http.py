"""Engines over HTTP: an OpenAI-compatible server (llama.cpp's llama-server, llama-cpp-python's server)
and Ollama. They implement `Engine.generate`, so evaluation code runs unchanged against them.

Chat prompts: rendered here, from the GGUF's own template, then sent as a plain completion
(`/v1/completions`, Ollama `raw: true`). The alternative, the server's chat endpoint, renders the
template on the server: llama-cpp-python with its own Jinja formatter, Ollama with a Go template
from its Modelfile rather than the GGUF's. Results would then differ from the in-process engine's
for a reason that is not the engine, and the prompt that produced a stored output could not be
hashed or shown. Rendering locally needs the GGUF file on this side (`gguf_path`); without it,
`chat_prompt` raises. `OllamaEngine.chat` exists for a tag with no local file, and says so.

Timings: wall time and time to first token are measured here on every call (requests stream).
Native timings are used when the server reports them: llama-server's `timings` object
(prompt_ms/predicted_ms), Ollama's `*_duration` fields (nanoseconds). llama-cpp-python's server
reports none, so its native fields stay None rather than being filled with client-side guesses.
"""
from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Iterator, Sequence

import httpx

from ..engines.llama import Engine, EngineSettings, Generation

NS_PER_MS = 1_000_000

# What LlamaCppEngine gets from Llama.create_completion's defaults. Sent explicitly because
# llama-cpp-python's server has other defaults: repeat_penalty 1.1 (create_completion: 1.0), and a
# penalty is applied before greedy selection, so temperature 0 alone does not make the two agree.
LLAMA_CPP_SAMPLING = {"top_p": 0.95, "min_p": 0.05, "repeat_penalty": 1.0}


class HttpEngineError(RuntimeError):
    pass


@dataclass
class HttpGeneration(Generation):
    """A Generation with what an HTTP engine knows beyond the in-process one."""

    timings_source: str = "none"     # "server" (native, reported by the server) or "none"
    eval_tokens: int | None = None   # tokens that eval_ms covers (servers count the first token in it)
    load_ms: float | None = None     # Ollama: time spent loading the model for this request
    server_total_ms: float | None = None

    @property
    def decode_tok_per_s(self) -> float | None:
        if self.eval_ms and self.eval_tokens:
            return self.eval_tokens / (self.eval_ms / 1000)
        return super().decode_tok_per_s

    @property
    def stream_decode_tok_per_s(self) -> float | None:
        """Tokens after the first over the time after the first arrived, as the client saw them."""
        if self.ttft_ms is None or self.completion_tokens is None or self.completion_tokens < 2:
            return None
        span = self.wall_ms - self.ttft_ms
        return (self.completion_tokens - 1) / (span / 1000) if span > 0 else None


# ─── the chat template, read from the GGUF ───────────────────────────────────────────────────────

@dataclass(frozen=True)
class GgufChatTemplate:
    template: str | None
    bos_token: str
    eos_token: str

    @classmethod
    def read(cls, path: Path | str) -> "GgufChatTemplate":
        """The template and bos/eos text exactly as LlamaCppEngine.chat_prompt gets them (llama.cpp
        detokenizes a control token to "", so a template that writes `bos_token` does not put a second
        BOS before the one the tokenizer adds). Read with a vocab-only llama.cpp load: ~0.3 s, where
        gguf-py parses the 49k-token vocabulary in Python (~6 s on a busy 2-core machine)."""
        from llama_cpp import Llama
        from llama_cpp._utils import suppress_stdout_stderr

        from ..engines.llama import model_params

        # vocab_only still builds a context, and llama.cpp prints a warning about it that verbose=False misses
        with model_params(use_extra_bufts=False), suppress_stdout_stderr(disable=False):
            llm = Llama(model_path=str(path), vocab_only=True, verbose=False)
        try:
            def text(token: int) -> str:
                return llm.detokenize([token]).decode("utf-8", errors="replace") if token >= 0 else ""

            return cls(llm.metadata.get("tokenizer.chat_template"), text(llm.token_bos()), text(llm.token_eos()))
        finally:
            llm.close()

    def render(self, messages: list[dict]) -> str:
        from ..engines.chat import render_chat

        return render_chat(self.template, messages, bos_token=self.bos_token, eos_token=self.eos_token)


class _LocalChatPrompt:
    """chat_prompt from a local GGUF, read once, on first use."""

    gguf_path: Path | None

    @cached_property
    def _chat_template(self) -> GgufChatTemplate:
        if self.gguf_path is None:
            raise NotImplementedError(
                f"{self.name}: chat prompts are rendered from the GGUF's template on this side; "
                "pass gguf_path (the same file the server loaded)")
        return GgufChatTemplate.read(self.gguf_path)

    def chat_prompt(self, messages: list[dict]) -> str:
        return self._chat_template.render(messages)


def _stop_list(stop: Sequence[str]) -> list[str] | None:
    return list(stop) or None


# ─── OpenAI-compatible servers ───────────────────────────────────────────────────────────────────


class OpenAICompatibleEngine(_LocalChatPrompt, Engine):
    """`/v1/completions` with streaming. `model` is the served model's id (None: the server's default).

    `settings` is what the server was started with (LlamaCppServer passes the same object); the
    client cannot read a remote server's threads or context size back, so it records what it asked for.
    """

    name = "openai_http"

    def __init__(self, base_url: str, model: str | None = None, *, gguf_path: Path | str | None = None,
                 settings: EngineSettings = EngineSettings(), api_key: str | None = None,
                 timeout_s: float = 300.0, sampling: dict | None = None):
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.gguf_path = Path(gguf_path) if gguf_path else None
        self.settings = settings
        self.sampling = dict(LLAMA_CPP_SAMPLING if sampling is None else sampling)
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._http = httpx.Client(base_url=self.base_url, headers=headers,
                                  timeout=httpx.Timeout(timeout_s, connect=10.0))
        self._tokenize_route: str | None | bool = False  # False: not probed yet; None: server has none
        try:
            self._build = self._identify()
        except BaseException:
            self._http.close()
            raise

    @property
    def build(self) -> str:
        return self._build

    def _get(self, path: str) -> httpx.Response | None:
        try:
            r = self._http.get(path)
        except httpx.TransportError as e:
            raise HttpEngineError(f"{self.base_url}{path}: {type(e).__name__}: {e}") from e
        return r if r.status_code == 200 else None

    def _identify(self) -> str:
        """Which server this is, for provenance. No URL or port in it: the build is part of the
        per-sample cache key, and a loopback server gets a new port every run."""
        models = self._get("/v1/models")
        if models is None:
            raise HttpEngineError(f"{self.base_url} does not answer GET /v1/models: not an OpenAI-compatible server?")
        props = self._get("/props")  # llama.cpp's llama-server
        if props is not None:
            info = props.json()
            return f"llama-server {info.get('build_info', 'unknown build')} (openai /v1/completions)"
        spec = self._get("/openapi.json")  # FastAPI servers, llama-cpp-python's among them
        if spec is not None:
            info = spec.json().get("info", {})
            if "llama.cpp Python" in info.get("title", ""):
                return f"llama-cpp-python server {info.get('version', '?')} (openai /v1/completions)"
            return f"{info.get('title', 'openai-compatible')} {info.get('version', '?')} (openai /v1/completions)"
        return "openai-compatible server, unknown build (openai /v1/completions)"

    def generate(self, prompt: str, *, max_tokens: int, stop: Sequence[str] = (), temperature: float = 0.0,
                 seed: int | None = None, grammar: str | None = None) -> HttpGeneration:
        body = {
            "prompt": prompt, "max_tokens": max_tokens, "temperature": temperature,
            "top_k": 1 if temperature == 0 else 40, **self.sampling,
            "seed": self.settings.seed if seed is None else seed, "stop": _stop_list(stop),
            "stream": True, "stream_options": {"include_usage": True},
        }
        if self.model:
            body["model"] = self.model
        if grammar:
            body["grammar"] = grammar  # llama.cpp servers' extension; others ignore or refuse it
        pieces: list[str] = []
        n_chunks = 0
        finish = "length"
        usage = timings = None
        ttft = None
        t0 = time.perf_counter()
        for event in self._events("/v1/completions", body):
            if event.get("choices"):
                choice = event["choices"][0]
                if ttft is None:
                    ttft = (time.perf_counter() - t0) * 1000
                text = choice.get("text") or ""
                if text:
                    pieces.append(text)
                    n_chunks += 1
                finish = choice.get("finish_reason") or finish
            usage = event.get("usage") or usage
            timings = event.get("timings") or timings
        wall = (time.perf_counter() - t0) * 1000
        prompt_tokens = (usage or {}).get("prompt_tokens")
        if prompt_tokens is None:
            prompt_tokens = self._count_tokens(prompt)  # after the clock stopped: not in wall_ms
        # Without usage, the count is the streamed text chunks: llama-cpp-python sends one per token
        # (the EOS token, which LlamaCppEngine counts, sends none).
        completion = (usage or {}).get("completion_tokens") or (timings or {}).get("predicted_n") or n_chunks
        return HttpGeneration(
            text="".join(pieces), finish_reason=finish, prompt_tokens=prompt_tokens,
            completion_tokens=int(completion), wall_ms=wall, ttft_ms=ttft,
            prompt_eval_ms=_float((timings or {}).get("prompt_ms")),
            eval_ms=_float((timings or {}).get("predicted_ms")),
            prompt_tokens_evaluated=(timings or {}).get("prompt_n"),
            timings_source="server" if timings else "none",
            eval_tokens=(timings or {}).get("predicted_n"),
        )

    def _events(self, path: str, body: dict) -> Iterator[dict]:
        """Server-sent events of a streamed completion, as dicts, up to `data: [DONE]`."""
        try:
            with self._http.stream("POST", path, json=body) as r:
                if r.status_code != 200:
                    r.read()
                    raise HttpEngineError(f"POST {self.base_url}{path}: HTTP {r.status_code}: {r.text[:500]}")
                for line in r.iter_lines():
                    if not line.startswith("data:"):
                        continue  # blank separators, comments (": ping"), event names
                    data = line[5:].strip()
                    if data == "[DONE]":
                        return
                    event = json.loads(data)
                    if "error" in event:
                        raise HttpEngineError(f"POST {self.base_url}{path}: {event['error']}")
                    yield event
        except httpx.TransportError as e:
            raise HttpEngineError(f"POST {self.base_url}{path}: {type(e).__name__}: {e}") from e

    def _count_tokens(self, text: str) -> int | None:
        """Prompt length from the server's tokenizer, for servers that stream no usage."""
        routes = {"/extras/tokenize/count": lambda r: r["count"],        # llama-cpp-python
                  "/tokenize": lambda r: len(r["tokens"])}               # llama-server
        if self._tokenize_route is False:
            self._tokenize_route = None
            for route in routes:
                r = self._http.post(route, json={"input": text, "content": text, "model": self.model})
                if r.status_code == 200:
                    self._tokenize_route = route
                    return routes[route](r.json())
            return None
        if self._tokenize_route is None:
            return None
        r = self._http.post(self._tokenize_route, json={"input": text, "content": text, "model": self.model})
        return routes[self._tokenize_route](r.json()) if r.status_code == 200 else None

    def close(self) -> None:
        self._http.close()


def _float(x) -> float | None:
    return float(x) if x is not None else None


# ─── Ollama ──────────────────────────────────────────────────────────────────────────────────────


class OllamaEngine(_LocalChatPrompt, Engine):
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
            "seed": s.seed if seed is None else seed, "num_predict": max_tokens, "stop": _stop_list(stop),
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
