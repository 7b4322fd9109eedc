"""Benchmark tasks as data, in the spirit of lm-eval's task YAMLs: `data/tasks/<name>.yaml` names the
dataset file, the subset sizes, the prompt format, the scorers and a `version` stored with every
score. Subsets are fixed, seeded id lists stored beside the task (`data/tasks/subsets/`), so an
item set never drifts between runs, machines or library versions."""
from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from . import paths

LETTERS = "ABCDEFGHIJ"


class TaskError(ValueError):
    pass


class MetricSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    higher_is_better: bool = True


class SubsetSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    per_group: int | None = Field(default=None, gt=0)
    n: int | None = Field(default=None, gt=0)


class TaskSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    version: str
    description: str = ""
    dataset: str  # file or folder under data/benchmarks
    format: Literal["mmlu", "arc"]
    group_field: str | None = None
    seed: int = 1234
    sizes: dict[str, SubsetSpec | Literal["all"]]
    fewshot: int = 0
    scorers: list[str]
    metrics: list[MetricSpec]
    max_tokens: int = 16
    instruction: str = ""


@dataclass(frozen=True)
class MCItem:
    item_id: str
    question: str
    choices: tuple[str, ...]
    gold: int
    group: str | None = None

    @property
    def gold_letter(self) -> str:
        return LETTERS[self.gold]


@dataclass
class Task:
    spec: TaskSpec
    items: list[MCItem] = field(default_factory=list)
    size: str = "demo"

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def version(self) -> str:
        return self.spec.version


def tasks_dir() -> Path:
    return paths.data_dir() / "tasks"


def load_spec(name: str, folder: Path | None = None) -> TaskSpec:
    path = (folder or tasks_dir()) / f"{name}.yaml"
    if not path.exists():
        raise TaskError(f"task {name!r}: no task file {path}")
    try:
        return TaskSpec.model_validate(yaml.safe_load(path.read_text()))
    except (yaml.YAMLError, ValidationError) as e:
        raise TaskError(f"{path}: invalid task definition: {e}") from None


def _read_jsonl(path: Path) -> list[dict]:
    rows = []
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as e:
                raise TaskError(f"{path}:{lineno}: malformed JSON row: {e.msg}") from None
    return rows


def _parse_row(fmt: str, row: dict, where: str, idx: int) -> MCItem:
    try:
        if fmt == "mmlu":
            choices = tuple(row["choices"])
            gold = int(row["answer"])
            item = MCItem(f"{row['subject']}/{idx}", row["question"], choices, gold, row["subject"])
        else:  # arc
            labels = list(row["choices"]["label"])
            choices = tuple(row["choices"]["text"])
            gold = labels.index(row["answerKey"])
            item = MCItem(row["id"], row["question"], choices, gold, None)
    except (KeyError, TypeError, ValueError) as e:
        raise TaskError(f"{where}: row {idx + 1} is malformed ({type(e).__name__}: {e})") from None
    if not 2 <= len(item.choices) <= len(LETTERS) or not 0 <= item.gold < len(item.choices):
        raise TaskError(f"{where}: row {idx + 1} has {len(item.choices)} choices and gold index {item.gold}")
    return item


def load_all_items(spec: TaskSpec) -> list[MCItem]:
    root = paths.benchmarks_dir() / spec.dataset
    if not root.exists():
        raise TaskError(f"task {spec.name!r}: dataset {root} not found")
    files = sorted(root.glob("*.jsonl")) if root.is_dir() else [root]
    items = []
    for f in files:
        for idx, row in enumerate(_read_jsonl(f)):
            items.append(_parse_row(spec.format, row, str(f), idx))
    return items


def subset_path(spec: TaskSpec, size: str) -> Path:
    return tasks_dir() / "subsets" / f"{spec.name}__{size}.txt"


def draw_subset(spec: TaskSpec, items: list[MCItem], size: str) -> list[str]:
    """The seeded draw that produced the stored id list (used to create it, and to verify it)."""
    rule = spec.sizes[size]
    if rule == "all":
        return [it.item_id for it in items]
    rng = random.Random(spec.seed)
    if rule.per_group:
        groups: dict[str, list[str]] = {}
        for it in items:
            groups.setdefault(it.group or "", []).append(it.item_id)
        return [i for g in sorted(groups) for i in rng.sample(groups[g], min(rule.per_group, len(groups[g])))]
    ids = [it.item_id for it in items]
    return sorted(rng.sample(ids, min(rule.n, len(ids))), key=ids.index)


def load_task(name: str, size: str = "demo", limit: int | None = None) -> Task:
    spec = load_spec(name)
    if size not in spec.sizes:
        raise TaskError(f"task {name!r} has no size {size!r} (sizes: {sorted(spec.sizes)})")
    items = load_all_items(spec)
    by_id = {it.item_id: it for it in items}
    stored = subset_path(spec, size)
    if spec.sizes[size] == "all":
        ids = list(by_id)
    elif stored.exists():
        ids = [line.strip() for line in stored.read_text().splitlines() if line.strip()]
        missing = [i for i in ids if i not in by_id]
        if missing:
            raise TaskError(f"{stored}: {len(missing)} ids not in the dataset, e.g. {missing[:3]}")
    else:
        ids = draw_subset(spec, items, size)
    if limit is not None:
        ids = ids[:limit]
    if not ids:
        raise TaskError(f"task {name!r} size {size!r}: the subset is empty")
    return Task(spec, [by_id[i] for i in ids], size)


def write_subset(name: str, size: str) -> Path:
    spec = load_spec(name)
    ids = draw_subset(spec, load_all_items(spec), size)
    out = subset_path(spec, size)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(ids) + "\n")
    return out


def mc_question_text(item: MCItem, task: TaskSpec) -> str:
    lines = []
    if task.instruction:
        subject = (item.group or "").replace("_", " ")
        lines += [task.instruction.format(subject=subject).strip(), ""]
    lines.append(f"Question: {item.question.strip()}")
    lines += [f"{LETTERS[i]}. {c}" for i, c in enumerate(item.choices)]
    lines.append("Answer:")
    return "\n".join(lines)
