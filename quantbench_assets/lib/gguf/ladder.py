"""A model's quant ladder: the order of precision of quant types and the one baseline rule.

Everything that compares rungs — KL divergence, tiers, paired statistics, cost savings, charts —
compares them with the rung this module names. The rule is decided once per model, when the catalog
is validated (`model_catalog` writes it to `raw.catalog_models.baseline_quant`), and every later
step reads it from there: no other module chooses a baseline.
"""
from __future__ import annotations

from collections.abc import Iterable

from .quant_types import split_imatrix

# Highest precision first, as llama.cpp's quantize tool lists the types by bits per weight. Where
# two types have about the same size, the K-quant comes first: it has lower error at that size.
PRECISION_ORDER: tuple[str, ...] = (
    "F32", "BF16", "F16",
    "Q8_0",
    "Q6_K",
    "Q5_1", "Q5_K_M", "Q5_K_S", "Q5_0",
    "Q4_1", "Q4_K_M", "Q4_K_S", "Q4_0", "IQ4_NL", "IQ4_XS",
    "Q3_K_L", "Q3_K_M", "IQ3_M", "Q3_K_S", "IQ3_S", "IQ3_XS", "IQ3_XXS",
    "Q2_K", "Q2_K_S", "IQ2_M", "IQ2_S", "IQ2_XS", "IQ2_XXS",
    "IQ1_M", "IQ1_S",
)
_ALIASES = {"FP16": "F16", "FP32": "F32"}  # Ollama tags and TR125 write FP16

# TR125 measures loss against the model's own 16-bit weights: those come first, F16 before BF16.
SIXTEEN_BIT = ("F16", "BF16")

BASELINE_RULE = ("the model's F16 rung, else its BF16 rung, else its highest-precision rung "
                 "(TR125's rule; decided once from the catalog's ladder)")


def canonical_quant(name: str) -> str:
    base, imat = split_imatrix(name)
    upper = base.upper()
    return _ALIASES.get(upper, upper) + ("-imat" if imat else "")


def precision_rank(quant: str) -> int | None:
    """Position in PRECISION_ORDER (0 = highest precision), or None for an unknown type. An imatrix
    rung (Q4_K_M-imat) ranks as its file type: the matrix changes the recipe, not the type."""
    try:
        return PRECISION_ORDER.index(canonical_quant(split_imatrix(quant)[0]))
    except ValueError:
        return None


def ladder_sort_key(quant: str) -> tuple[int, str]:
    """Highest precision first; unknown types after every known one, by name (so an imatrix rung
    follows its plain sibling)."""
    rank = precision_rank(quant)
    return (len(PRECISION_ORDER) if rank is None else rank, canonical_quant(quant))


def baseline_quant(available_quants: Iterable[str]) -> str:
    """The rung every other rung of the model is compared with (BASELINE_RULE).

    Returns the name exactly as given; names match case-insensitively and FP16 counts as F16.
    An imatrix rung is never the baseline: it is a variant of a recipe, measured against the base.
    Raises when no quant is given or none is a known type (an unknown type cannot be ranked).
    """
    given = list(available_quants)
    if not given:
        raise ValueError("no quants available to choose a baseline from")
    available = [q for q in given if not split_imatrix(q)[1]]
    if not available:
        raise ValueError(f"only imatrix rungs {given}: a baseline must be a rung quantized without a matrix")
    by_canonical: dict[str, str] = {}
    for name in available:
        by_canonical.setdefault(canonical_quant(name), name)
    for preferred in SIXTEEN_BIT:
        if preferred in by_canonical:
            return by_canonical[preferred]
    known = [(precision_rank(c), original) for c, original in by_canonical.items() if precision_rank(c) is not None]
    if not known:
        raise ValueError(f"no known quant type among {available}; known: {PRECISION_ORDER}")
    return min(known)[1]
