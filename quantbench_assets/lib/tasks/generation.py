"""Generation tasks: items with chat prompts, references and token budgets.

Two kinds of task live in data/generation/:
- fixed tasks written for this project (summarization, qa, code_generation, creative_writing,
  classification, product_descriptions): `<name>.jsonl` items plus a `<name>.yaml` header carrying
  the version, prompt template, max_tokens and the JSONL's sha256 (checked on load, so an edited
  item cannot pass under an old version);
- E2E venue descriptions (`e2e_descriptions.yaml`), built from the E2E NLG test set at three length
  levels (brief, mid, strong) x two formats (text, json): task names `e2e_<level>_<format>`.

Prompts are a single user turn: some chat templates (Gemma's) reject a system role, and the same
messages must render for every model.
"""
from __future__ import annotations

import csv
import hashlib
import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterator, Mapping

import yaml

from ..scoring.metrics import E2E_FIELD, e2e_expected_fields, parse_mr
from ..core.paths import benchmarks_dir, data_dir

FIXED_TASKS = ("summarization", "qa", "code_generation", "creative_writing", "classification",
               "product_descriptions")
E2E_LEVELS = ("brief", "mid", "strong")
E2E_FORMATS = ("text", "json")
E2E_TASKS = tuple(f"e2e_{lvl}_{fmt}" for lvl in E2E_LEVELS for fmt in E2E_FORMATS)
# MR slot -> how the fact is written in a prompt
_FACT_LABEL = {"name": "name", "eatType": "eat type", "food": "food", "priceRange": "price range",
               "customer rating": "customer rating", "area": "area", "familyFriendly": "family friendly",
               "near": "near"}


class TaskDataError(ValueError):
    pass


@dataclass(frozen=True)
class GenTaskItem:
    id: str
    task: str
    prompt: list[dict]        # chat messages: [{"role": "user", "content": ...}]
    references: list[str]
    max_tokens: int
    meta: dict = field(default_factory=dict)


@dataclass(frozen=True)
class GenTask:
    name: str
    version: str
    metrics: list[str]
    items: list[GenTaskItem]
    header: dict = field(default_factory=dict, repr=False)

    def __iter__(self) -> Iterator[GenTaskItem]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> GenTaskItem:
        return self.items[i]


def generation_dir() -> Path:
    return data_dir() / "generation"


def list_generation_tasks() -> list[str]:
    return [*FIXED_TASKS, *E2E_TASKS]


def load_generation_task(name: str, *, limit: int | None = None) -> GenTask:
    """Any task by name: one of FIXED_TASKS or e2e_<brief|mid|strong>_<text|json>."""
    if name in FIXED_TASKS:
        task = _load_fixed(name)
    elif name in E2E_TASKS:
        _, level, fmt = name.split("_")
        task = load_e2e_task(level, fmt)
    else:
        raise KeyError(f"unknown generation task {name!r}; one of {list_generation_tasks()}")
    if limit is not None:
        task = GenTask(task.name, task.version, task.metrics, task.items[:limit], task.header)
    return task


# ------------------------------------------------------------------------------------ fixed tasks
def _render(value: Any) -> str:
    """Template value: dicts become '- key: value' lines (lists joined with commas)."""
    if isinstance(value, Mapping):
        return "\n".join(f"- {k.replace('_', ' ')}: {_render(v)}" for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return ", ".join(map(str, value))
    return str(value)


def _read_header(path: Path) -> dict:
    if not path.is_file():
        raise TaskDataError(f"task header missing: {path}")
    header = yaml.safe_load(path.read_text(encoding="utf-8"))
    for key in ("name", "version"):
        if not header.get(key):
            raise TaskDataError(f"{path}: header has no {key}")
    return header


def _load_fixed(name: str) -> GenTask:
    folder = generation_dir()
    header = _read_header(folder / f"{name}.yaml")
    raw = (folder / header["items_file"]).read_bytes()
    digest = hashlib.sha256(raw).hexdigest()
    if digest != header["sha256"]:
        raise TaskDataError(f"{name}: {header['items_file']} sha256 {digest} differs from the header's "
                            f"{header['sha256']}: items changed without a new version")
    rows = [json.loads(line) for line in raw.decode("utf-8").splitlines() if line.strip()]
    if len(rows) != header["item_count"]:
        raise TaskDataError(f"{name}: {len(rows)} items, header says {header['item_count']}")
    extra = {"labels": ", ".join(header["labels"])} if header.get("labels") else {}
    items = []
    for row in rows:
        if not row.get("references"):
            raise TaskDataError(f"{name}/{row.get('id')}: no references")
        fields = {k: _render(v) for k, v in row["input"].items()}
        content = header["prompt"].format(**fields, **extra)
        meta = dict(row.get("meta", {}))
        if header.get("labels"):
            meta["labels"] = list(header["labels"])
        items.append(GenTaskItem(id=row["id"], task=name, prompt=[{"role": "user", "content": content}],
                             references=list(row["references"]), max_tokens=int(header["max_tokens"]),
                             meta=meta))
    if len({it.id for it in items}) != len(items):
        raise TaskDataError(f"{name}: duplicate item ids")
    return GenTask(name=name, version=str(header["version"]), metrics=list(header.get("metrics", [])),
                   items=items, header=header)


# -------------------------------------------------------------------------------------------- E2E
@lru_cache(maxsize=1)
def load_e2e_schema() -> dict:
    return json.loads((generation_dir() / "e2e_schema.json").read_text(encoding="utf-8"))


def e2e_header() -> dict:
    return _read_header(generation_dir() / "e2e_descriptions.yaml")


def mr_id(mr: str) -> str:
    """Stable id of a meaning representation: independent of file order and subset size."""
    return "e2e-" + hashlib.sha256(mr.encode("utf-8")).hexdigest()[:10]


def load_e2e_mrs(csv_path: Path | None = None) -> list[tuple[str, list[str]]]:
    """[(mr, [references...])] in first-appearance order; references grouped per MR."""
    header = e2e_header()
    path = csv_path or benchmarks_dir() / header["source"]
    raw = path.read_bytes()
    if csv_path is None and hashlib.sha256(raw).hexdigest() != header["source_sha256"]:
        raise TaskDataError(f"{path}: sha256 differs from e2e_descriptions.yaml's source_sha256")
    groups: dict[str, list[str]] = {}
    for row in csv.DictReader(raw.decode("utf-8").splitlines()):
        groups.setdefault(row["mr"].strip(), []).append(row["ref"].strip())
    return list(groups.items())


def e2e_subset(n: int, seed: int) -> list[tuple[str, list[str]]]:
    """n MRs ordered by sha256('<seed>:<mr>'): deterministic, and a prefix of any larger subset."""
    mrs = load_e2e_mrs()
    if n > len(mrs):
        raise ValueError(f"asked for {n} MRs, the test set has {len(mrs)}")
    return sorted(mrs, key=lambda m: hashlib.sha256(f"{seed}:{m[0]}".encode()).hexdigest())[:n]


def e2e_facts(mr: str) -> str:
    slots = parse_mr(mr)
    return "\n".join(f"- {_FACT_LABEL.get(k, k)}: {v}" for k, v in slots.items())


def load_e2e_task(level: str, fmt: str, *, n: int | None = None, seed: int | None = None) -> GenTask:
    """E2E descriptions at `level` (brief|mid|strong) in `fmt` (text|json). Item ids are
    '<mr_id>-<level>-<fmt>'; meta.mr_id pairs items across levels and formats.

    References are the E2E human references (1-2 sentences each), which match the brief level; at
    mid/strong they anchor meaning and facts, not length (see length_ratio).
    """
    if level not in E2E_LEVELS or fmt not in E2E_FORMATS:
        raise KeyError(f"level must be one of {E2E_LEVELS}, format one of {E2E_FORMATS}")
    header = e2e_header()
    n = header["subset"]["n_mrs"] if n is None else n
    seed = header["subset"]["seed"] if seed is None else seed
    spec = header["levels"][level]
    schema = load_e2e_schema()
    schema_text = json.dumps(schema, ensure_ascii=False)
    items = []
    for mr, refs in e2e_subset(n, seed):
        facts = e2e_facts(mr)
        content = header["prompts"][fmt].format(instruction=spec["instruction"], facts=facts, schema=schema_text)
        meta: dict[str, Any] = {"mr": mr, "mr_id": mr_id(mr), "level": level, "format": fmt}
        if fmt == "json":
            expected = e2e_expected_fields(mr)
            meta["expected"] = expected
            # completeness: the fields this MR fills plus the schema's always-non-empty ones
            meta["required_nonempty"] = [f for f in (*E2E_FIELD.values(), "description")
                                         if f in expected or f in ("name", "description")]
        items.append(GenTaskItem(id=f"{mr_id(mr)}-{level}-{fmt}", task=f"e2e_{level}_{fmt}",
                             prompt=[{"role": "user", "content": content}], references=list(refs),
                             max_tokens=int(spec["max_tokens"][fmt]), meta=meta))
    return GenTask(name=f"e2e_{level}_{fmt}", version=str(header["version"]),
                   metrics=list(header["metrics"][fmt]), items=items,
                   header={**header, "subset": {"n_mrs": n, "seed": seed}})
