"""An OpenAI-compatible server as an engine: `/v1/completions`, streamed (llama.cpp's llama-server,
llama-cpp-python's server). Chat prompts and timings: see http.py."""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Iterator, Sequence

import httpx

from .http import LLAMA_CPP_SAMPLING, HttpEngineError, HttpGeneration, LocalChatPrompt, stop_list
from .base import Engine, EngineSettings


class OpenAICompatibleEngine(LocalChatPrompt, Engine):
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
            "seed": self.settings.seed if seed is None else seed, "stop": stop_list(stop),
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
