"""JSON schema -> llama.cpp GBNF grammar, so decoding can be constrained to schema-shaped JSON.

The conversion is llama-cpp-python's own (`llama_cpp.llama_grammar.json_schema_to_gbnf`, a port of
llama.cpp's json_schema_to_grammar.py), so the grammar matches what the engine's parser expects.
The result is a plain string: `Engine.generate(..., grammar=schema_to_gbnf(schema))`.

Why `validate_gbnf`: in llama-cpp-python 0.3.36 `LlamaGrammar.from_string` only stores the text; a
malformed grammar surfaces later, inside generation. llama.cpp's parser runs when a grammar sampler
is created, and that needs no model (a NULL vocabulary is allowed for parsing), so a grammar can be
checked up front.
"""
from __future__ import annotations

import json
from typing import Any, Mapping, Sequence


def schema_to_gbnf(schema: Mapping[str, Any], prop_order: Sequence[str] | None = None) -> str:
    """GBNF text for `schema`. Properties come out in `prop_order`, else in the schema's order
    (keep the free-text field last so the model states the attributes before describing them)."""
    from llama_cpp.llama_grammar import json_schema_to_gbnf

    order = list(prop_order) if prop_order is not None else list(schema.get("properties", {}))
    return json_schema_to_gbnf(json.dumps(schema), order or None)


def validate_gbnf(grammar: str, root: str = "root") -> None:
    """Raise ValueError when llama.cpp's grammar parser rejects `grammar` (the parser's message goes
    to stderr from C)."""
    import llama_cpp

    sampler = llama_cpp.llama_sampler_init_grammar(None, grammar.encode("utf-8"), root.encode("utf-8"))
    if not sampler:  # NULL pointer: parse error, undefined rule or missing root
        raise ValueError("llama.cpp rejected the grammar (parser message on stderr)")
    llama_cpp.llama_sampler_free(sampler)


def schema_grammar(schema: Mapping[str, Any], prop_order: Sequence[str] | None = None):
    """A checked `llama_cpp.LlamaGrammar` for `Llama.create_completion(grammar=...)`."""
    from llama_cpp import LlamaGrammar

    text = schema_to_gbnf(schema, prop_order)
    validate_gbnf(text)
    return LlamaGrammar.from_string(text, verbose=False)
