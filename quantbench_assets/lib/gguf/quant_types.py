"""Quant-type names in one place: canonical spelling, the tensor type a llama.cpp file type is made
of, nominal bits per weight, and whether a rung fell back from what was requested.

A *file type* (llama-quantize's target, `general.file_type`: Q4_K_M, Q3_K_S, ...) names a recipe; a
*tensor type* (ggml's: Q4_K, Q6_K, Q8_0, F32, ...) is what a tensor is stored as. A Q4_K_M file
legitimately holds some Q6_K tensors, yet most of its weight bytes are Q4_K: that base tensor type is
what the majority of a rung's bytes must be for the rung to be what it was asked to be.
"""
from __future__ import annotations

# file type -> (base tensor type, nominal bits per weight of that recipe on a large model).
# The bits are llama.cpp's published figures for 7B-class models; used only for disk estimates.
FILE_TYPES: dict[str, tuple[str, float]] = {
    "F32": ("F32", 32.0), "F16": ("F16", 16.0), "BF16": ("BF16", 16.0),
    "Q8_0": ("Q8_0", 8.5),
    "Q6_K": ("Q6_K", 6.6),
    "Q5_K_M": ("Q5_K", 5.7), "Q5_K_S": ("Q5_K", 5.5),
    "Q5_1": ("Q5_1", 6.0), "Q5_0": ("Q5_0", 5.5),
    "Q4_K_M": ("Q4_K", 4.9), "Q4_K_S": ("Q4_K", 4.6),
    "Q4_1": ("Q4_1", 5.0), "Q4_0": ("Q4_0", 4.5),
    "Q3_K_L": ("Q3_K", 4.3), "Q3_K_M": ("Q3_K", 3.9), "Q3_K_S": ("Q3_K", 3.5),
    "Q2_K": ("Q2_K", 3.4), "Q2_K_S": ("Q2_K", 3.2),
    "IQ4_NL": ("IQ4_NL", 4.5), "IQ4_XS": ("IQ4_XS", 4.25),
    "IQ3_M": ("IQ3_S", 3.7), "IQ3_S": ("IQ3_S", 3.4), "IQ3_XS": ("IQ3_S", 3.3), "IQ3_XXS": ("IQ3_XXS", 3.06),
    "IQ2_M": ("IQ2_S", 2.7), "IQ2_S": ("IQ2_S", 2.5), "IQ2_XS": ("IQ2_XS", 2.31), "IQ2_XXS": ("IQ2_XXS", 2.06),
    "IQ1_M": ("IQ1_M", 1.75), "IQ1_S": ("IQ1_S", 1.56),
    "TQ1_0": ("TQ1_0", 1.69), "TQ2_0": ("TQ2_0", 2.06),
}

# A rung quantized with an importance matrix is named "<file type>-imat" (e.g. Q4_K_M-imat): the same
# llama.cpp file type, made with a different recipe. The suffix never changes which types the file
# should hold or how precise the type is; lib/gguf/imatrix.py builds such rungs.
IMATRIX_SUFFIX = "-imat"


def split_imatrix(quant: str) -> tuple[str, bool]:
    """"Q4_K_M-imat" -> ("Q4_K_M", True); "Q4_K_M" -> ("Q4_K_M", False). Case-insensitive suffix."""
    q = quant.strip()
    if q.lower().endswith(IMATRIX_SUFFIX):
        return q[: -len(IMATRIX_SUFFIX)], True
    return q, False


def file_type_of(quant: str) -> str:
    """The llama.cpp file type a rung name asks for, without the imatrix suffix."""
    return split_imatrix(quant)[0]


# Spellings people and tools use for the same type.
ALIASES = {"FP32": "F32", "FP16": "F16", "HALF": "F16", "BFLOAT16": "BF16", "Q8": "Q8_0"}


def canonical(name: str | None) -> str | None:
    """"fp16" -> "F16", " q4_k_m " -> "Q4_K_M"; unknown names are upper-cased and kept."""
    if name is None:
        return None
    n = name.strip().upper().replace("-", "_")
    return ALIASES.get(n, n)


def base_tensor_type(file_type: str | None) -> str | None:
    """The tensor type most weight bytes of a faithful `file_type` rung are stored as (None: unknown)."""
    entry = FILE_TYPES.get(canonical(file_type_of(file_type)) if file_type else "")
    return entry[0] if entry else None


def nominal_bits_per_weight(file_type: str | None, default: float = 4.5) -> float:
    entry = FILE_TYPES.get(canonical(file_type_of(file_type)) if file_type else "")
    return entry[1] if entry else default


def is_fallback(requested: str | None, obtained: str | None) -> bool | None:
    """True when the tensor type holding most weight bytes is not the requested type's base type.
    None when either side is unknown (an unknown type is not silently called faithful)."""
    base = base_tensor_type(requested)
    if base is None or obtained is None:
        return None
    return canonical(obtained) != base
