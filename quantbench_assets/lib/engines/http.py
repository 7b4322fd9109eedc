"""What the engines over HTTP share: an OpenAI-compatible server (openai_engine.py: llama.cpp's
llama-server, llama-cpp-python's server) and Ollama (ollama_engine.py). They implement
`Engine.generate`, so evaluation code runs unchanged against them.

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

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Sequence

from .base import Generation

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


class LocalChatPrompt:
    """chat_prompt from a local GGUF, read once, on first use (mixed into both HTTP engines)."""

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


def stop_list(stop: Sequence[str]) -> list[str] | None:
    """Stop strings as the servers take them: a list, or None for none."""
    return list(stop) or None
