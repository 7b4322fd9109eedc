"""Render a GGUF's chat template in Jinja's immutable sandbox.

A GGUF carries its chat template as data, and that data is attacker-controlled: CVE-2024-34359 was a
template that ran code when llama-cpp-python rendered it in a plain Environment. Here a template can
read what it is given and nothing else; attribute tricks (`__class__`, `__globals__`) raise
SecurityError, which surfaces as ChatTemplateError.
"""
from __future__ import annotations

from jinja2 import TemplateError
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment


class ChatTemplateError(ValueError):
    pass


def _raise(message: str):
    raise TemplateError(message)


def render_chat(template: str | None, messages: list[dict], *, bos_token: str = "", eos_token: str = "",
                add_generation_prompt: bool = True) -> str:
    """The prompt text for `messages`. Without a template (base models): the user turns, plain."""
    if not template:
        return "\n\n".join(m["content"] for m in messages if m["role"] != "system") + "\n"
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    env.globals["raise_exception"] = _raise
    try:
        return env.from_string(template).render(
            messages=messages, bos_token=bos_token, eos_token=eos_token,
            add_generation_prompt=add_generation_prompt,
        )
    except SecurityError as e:
        raise ChatTemplateError(f"chat template refused by the sandbox: {e}") from e
    except TemplateError as e:
        raise ChatTemplateError(f"chat template failed to render: {e}") from e


def engine_has_chat_template(engine) -> bool | None:
    """Whether the engine's GGUF carries a chat template; None when the engine cannot say (a remote
    model without its local file)."""
    metadata = getattr(engine, "metadata", None)
    if callable(metadata):  # LlamaCppEngine: the GGUF's key-value metadata
        return bool(metadata().get("tokenizer.chat_template"))
    try:  # HTTP engines render chat prompts from the local GGUF's template (lib/engines/http.py)
        return bool(engine._chat_template.template)
    except (AttributeError, NotImplementedError):
        return None
