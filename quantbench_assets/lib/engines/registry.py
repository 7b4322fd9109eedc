"""One way to open any engine: the in-process one or an HTTP one, by name. The name is what result
rows carry in their `engine` column (variants.provenance), so it must stay stable."""
from __future__ import annotations

from pathlib import Path

from .base import Engine, EngineSettings

ENGINE_KINDS = ("llama_cpp", "openai_http", "ollama")


def open_engine(kind: str, model_path: Path | str | None, settings: EngineSettings = EngineSettings(),
                base_url: str | None = None, model_tag: str | None = None) -> Engine:
    """kind: llama_cpp (in process), openai_http (base_url: a server's root, model_tag: the served
    model id or None for its default), ollama (model_tag required, base_url: Ollama's host or
    OLLAMA_HOST). For HTTP kinds model_path is the local copy of the GGUF the server serves: chat
    prompts are rendered from its template (engines_http docstring)."""
    if kind == "llama_cpp":
        if model_path is None:
            raise ValueError("llama_cpp needs model_path")
        from ..engines.llama import LlamaCppEngine

        return LlamaCppEngine(model_path, settings)
    if kind == "openai_http":
        if not base_url:
            raise ValueError("openai_http needs base_url (e.g. http://127.0.0.1:8080)")
        from ..engines.openai_engine import OpenAICompatibleEngine

        return OpenAICompatibleEngine(base_url, model_tag, gguf_path=model_path, settings=settings)
    if kind == "ollama":
        if not model_tag:
            raise ValueError("ollama needs model_tag (e.g. smollm2:135m)")
        from ..engines.ollama_engine import OllamaEngine

        return OllamaEngine(model_tag, host=base_url, gguf_path=model_path, settings=settings)
    raise ValueError(f"unknown engine kind {kind!r} (known: {', '.join(ENGINE_KINDS)})")
