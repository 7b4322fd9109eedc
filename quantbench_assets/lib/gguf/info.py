"""Facts read from a GGUF header with gguf-py's reader: architecture, file type, tensor types,
parameter count, bits per weight. Errors say which file and what is wrong with it.

`general.file_type` is the type llama-quantize was *asked* for, whatever it produced: on a small
model whose rows do not divide into 256-wide K-quant blocks, a "Q2_K" rung holds no Q2_K tensor.
What a rung *is* comes from its tensors: `quant_obtained` is the tensor type holding most of the
weight bytes and `quant_mix` the share of bytes per type."""
from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import asdict, dataclass, field, replace
from functools import lru_cache
from pathlib import Path

GGUF_MAGIC = b"GGUF"


class GGUFError(ValueError):
    pass


def file_type_name(code: int | None) -> str | None:
    """general.file_type code -> llama-quantize's name ("Q4_K_M", "F16", ...)."""
    if code is None:
        return None
    import gguf

    try:
        name = gguf.LlamaFileType(code).name
    except ValueError:
        return f"UNKNOWN_{code}"
    return name.removeprefix("MOSTLY_").removeprefix("ALL_")


def file_type_code(name: str) -> int:
    import gguf

    for prefix in ("MOSTLY_", "ALL_"):
        member = getattr(gguf.LlamaFileType, prefix + name, None)
        if member is not None:
            return int(member)
    raise ValueError(f"quant type {name!r} is not a llama.cpp file type")


@dataclass
class GGUFInfo:
    path: str
    size_bytes: int
    architecture: str
    model_name: str | None
    file_type: str | None
    context_length: int | None
    chat_template: str | None
    n_tensors: int
    n_parameters: int
    tensor_bytes: int
    bits_per_weight: float
    tensor_type_histogram: dict[str, int] = field(default_factory=dict)  # tensor count per type
    main_tensor_type: str | None = None  # kept for old readers: the same as quant_obtained
    tensor_type_bytes: dict[str, int] = field(default_factory=dict)
    quant_obtained: str | None = None
    quant_mix: str | None = None  # JSON {type: share of tensor bytes}, largest first

    @property
    def quant_labelled(self) -> str | None:
        """The header's file type: what was requested, not necessarily what the tensors are."""
        return self.file_type

    def as_row(self) -> dict:
        row = asdict(self)
        row["has_chat_template"] = bool(self.chat_template)
        row.pop("chat_template")
        return row


def _field_value(reader, key: str):
    f = reader.fields.get(key)
    if f is None:
        return None
    return f.contents()


def read_gguf(path: Path) -> GGUFInfo:
    path = Path(path)
    if not path.exists():
        raise GGUFError(f"{path}: file not found")
    # gguf-py parses every vocabulary string: 6-9 s for SmolLM2's header on these loaded 2-core machines,
    # paid again for each rung built from the same base. The file's identity (inode, size, mtimes) keys
    # a per-process memo, so a file rewritten or truncated in place is read afresh. A copy is returned
    # because callers set `path` on it.
    st = os.stat(path)
    return replace(_read_gguf_cached(str(path), st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns))


@lru_cache(maxsize=64)
def _read_gguf_cached(path_str: str, _ino: int, _size: int, _mtime_ns: int, _ctime_ns: int) -> GGUFInfo:
    return _read_gguf(Path(path_str))


def _read_gguf(path: Path) -> GGUFInfo:
    size = path.stat().st_size
    with open(path, "rb") as fh:
        magic = fh.read(4)
    if magic != GGUF_MAGIC:
        raise GGUFError(f"{path}: not a GGUF file (first bytes {magic!r}, expected b'GGUF')")
    import gguf

    try:
        reader = gguf.GGUFReader(str(path), "r")
    except Exception as e:  # the reader raises ValueError/IndexError/struct errors on truncation
        # Its own message is numpy's ("cannot reshape array ..."): say what that means for the user.
        raise GGUFError(f"{path}: truncated or corrupt GGUF ({size} bytes): gguf-py cannot parse it "
                        f"({type(e).__name__}: {e})") from e
    tensors = reader.tensors
    if tensors:
        last = max(tensors, key=lambda t: int(t.data_offset))
        end = int(last.data_offset) + int(last.n_bytes)
        if end > size:
            raise GGUFError(f"{path}: truncated: tensor data ends at byte {end} but the file has {size}")
    arch = _field_value(reader, "general.architecture")
    if not arch:
        raise GGUFError(f"{path}: header has no general.architecture")
    known = set(gguf.MODEL_ARCH_NAMES.values())
    if arch not in known:
        raise GGUFError(f"{path}: architecture {arch!r} is unknown to llama.cpp's gguf-py")
    hist = Counter(t.tensor_type.name for t in tensors)
    n_params = sum(int(t.n_elements) for t in tensors)
    tbytes = sum(int(t.n_bytes) for t in tensors)
    by_bytes = Counter()
    for t in tensors:
        by_bytes[t.tensor_type.name] += int(t.n_bytes)
    obtained = majority_type(by_bytes)
    ctx = _field_value(reader, f"{arch}.context_length")
    return GGUFInfo(
        path=str(path), size_bytes=size, architecture=arch,
        model_name=_field_value(reader, "general.name"),
        file_type=file_type_name(_field_value(reader, "general.file_type")),
        context_length=int(ctx) if ctx is not None else None,
        chat_template=_field_value(reader, "tokenizer.chat_template"),
        n_tensors=len(tensors), n_parameters=n_params, tensor_bytes=tbytes,
        bits_per_weight=round(tbytes * 8 / n_params, 4) if n_params else 0.0,
        tensor_type_histogram=dict(sorted(hist.items())),
        main_tensor_type=obtained, tensor_type_bytes=dict(sorted(by_bytes.items())),
        quant_obtained=obtained, quant_mix=quant_mix(by_bytes),
    )


# Every tensor in a GGUF is a weight, so all of them count, the token embedding included (on a small
# model it is a third of the bytes or more). F32 norm vectors and biases count too: they are under 0.1%
# of the bytes, so they never decide the majority, and counting them keeps the mix summing to 1.
def majority_type(type_bytes: dict[str, int]) -> str | None:
    """The tensor type holding most bytes (ties: the name sorting first, so the answer is stable)."""
    if not type_bytes:
        return None
    return min(type_bytes, key=lambda t: (-type_bytes[t], t))


def quant_mix(type_bytes: dict[str, int], digits: int = 4) -> str | None:
    """Compact JSON {type: share of bytes}, largest first: '{"Q8_0":0.52,"Q4_0":0.31,...}'."""
    total = sum(type_bytes.values())
    if not total:
        return None
    ordered = sorted(type_bytes.items(), key=lambda kv: (-kv[1], kv[0]))
    return json.dumps({t: round(b / total, digits) for t, b in ordered}, separators=(",", ":"))
