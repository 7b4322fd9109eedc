"""Benchmark tasks as data: `data/tasks/<name>.yaml` names the subset sizes, the format, the scorers,
the lettered prompt's instruction and a `version` stored with every score. Subsets are fixed, seeded
id lists stored beside the task (`data/tasks/subsets/`), so an item set never drifts between runs,
machines or library versions.

Multiple choice (mmlu, arc, hellaswag, truthfulqa_mc1/mc2 -> MCItem): the documents, cloze requests,
choice strings and gold come from the lm-eval task YAML named by `lmeval_task` (data/lm_eval_tasks,
read by lm-eval itself: mc_docs.py), so the cloze prompt is written once and the loglikelihood scorer
sends exactly lm-eval's requests. Generation (gsm8k, ifeval -> GenItem) still reads its own dataset
file and `generation` prompt."""
from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, NamedTuple

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ..core import paths

LETTERS = "ABCDEFGHIJ"

MC_FORMATS = ("mmlu", "arc", "hellaswag", "truthfulqa_mc1", "truthfulqa_mc2")
GEN_FORMATS = ("gsm8k", "ifeval")
# Formats whose items can be asked as a lettered question (at most len(LETTERS) choices).
LETTERED_FORMATS = ("mmlu", "arc", "hellaswag")
# Which scorer each format admits (lib/scoring/scorers.py and lib/scoring/tr125.py implement them).
SCORERS_BY_FORMAT = {
    "mmlu": ("generate_rescore", "loglikelihood", "letter_logits"),
    "arc": ("generate_rescore", "loglikelihood", "letter_logits"),
    "hellaswag": ("generate_rescore", "loglikelihood", "letter_logits"),
    "truthfulqa_mc1": ("loglikelihood",),
    "truthfulqa_mc2": ("loglikelihood",),
    "gsm8k": ("generate",),
    "ifeval": ("generate",),
}


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


class GenerationSpec(BaseModel):
    """The prompt of generation tasks: optional few-shot examples, then the item, then greedy decoding."""
    model_config = ConfigDict(extra="forbid")
    template: str = "{question}"
    target_template: str = " {target}"  # how a few-shot example's answer follows its prompt
    fewshot_dataset: str | None = None  # file under data/benchmarks the few-shot examples come from
    fewshot_delimiter: str = "\n\n"
    until: list[str] = Field(default_factory=list)  # stop strings (the model's end token always stops)
    chat: bool = False  # wrap the prompt in the model's chat template (instruction following)


class TaskSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    version: str
    description: str = ""
    dataset: str | None = None  # generation formats: file under data/benchmarks
    lmeval_task: str | None = None  # multiple-choice formats: the lm-eval task its documents come from
    format: Literal["mmlu", "arc", "hellaswag", "truthfulqa_mc1", "truthfulqa_mc2", "gsm8k", "ifeval"]
    group_field: str | None = None
    seed: int = 1234
    sizes: dict[str, SubsetSpec | Literal["all"]]
    fewshot: int = 0
    scorers: list[str]
    metrics: list[MetricSpec]
    max_tokens: int = 16
    instruction: str = ""  # the lettered prompt's first line (letter_logits, TR125's chat prompt)
    generation: GenerationSpec | None = None

    @model_validator(mode="after")
    def _scorers_fit_the_format(self):
        allowed = SCORERS_BY_FORMAT[self.format]
        unknown = [s for s in self.scorers if s not in allowed]
        if unknown:
            raise ValueError(f"scorers {unknown} do not apply to format {self.format!r} (allowed: {list(allowed)})")
        if self.format in GEN_FORMATS and self.generation is None:
            raise ValueError(f"format {self.format!r} needs a `generation` section")
        if self.fewshot and not (self.generation and self.generation.fewshot_dataset):
            raise ValueError("fewshot > 0 needs generation.fewshot_dataset")
        if self.format in MC_FORMATS and (not self.lmeval_task or self.dataset):
            raise ValueError(f"format {self.format!r} reads its documents from an lm-eval task: set `lmeval_task` "
                             "(data/lm_eval_tasks) and no `dataset`")
        if self.format in GEN_FORMATS and not self.dataset:
            raise ValueError(f"format {self.format!r} needs a `dataset` file")
        return self


@dataclass(frozen=True)
class MCItem:
    """A multiple-choice document. `question` and `choices` (the answer texts) feed the lettered
    prompt; `context`, `continuations` and `cloze_choices` are lm-eval's cloze requests and choice
    strings for the same document; `gold` indexes both."""
    item_id: str
    question: str
    choices: tuple[str, ...]
    gold: int
    group: str | None = None
    labels: tuple[int, ...] | None = None  # 1 per true choice where several are true (TruthfulQA MC2)
    context: str = ""
    continuations: tuple[str, ...] = ()
    cloze_choices: tuple[str, ...] = ()
    description: str = ""  # lm-eval's description for this document (MMLU's subject line)

    @property
    def gold_letter(self) -> str:
        return LETTERS[self.gold]


@dataclass(frozen=True)
class GenItem:
    """An item answered by generation. `target`: the reference answer (GSM8K's worked solution ending
    in "#### N"; empty for IFEval, whose reference is the instructions in `meta`)."""
    item_id: str
    question: str
    target: str = ""
    group: str | None = None
    meta: dict = field(default_factory=dict, compare=False, hash=False)


@dataclass
class Task:
    spec: TaskSpec
    items: list[MCItem | GenItem] = field(default_factory=list)
    size: str = "demo"
    fewshot: list[GenItem] = field(default_factory=list)  # the same examples before every item
    lmeval_version: str | None = None  # the lm-eval YAML's metadata.version (multiple choice)

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def version(self) -> str:
        """quantbench's version, and for multiple choice the lm-eval task's: a prompt changed in
        either changes the version, so cached samples of the old prompt are never reused."""
        if self.lmeval_version is None:
            return self.spec.version
        return f"{self.spec.version}/{self.spec.lmeval_task}@{self.lmeval_version}"


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


def read_jsonl(path: Path) -> list[dict]:
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


def _parse_row(fmt: str, row: dict, where: str, idx: int) -> GenItem:
    try:
        if fmt == "gsm8k":
            item = GenItem(f"{Path(where).stem}/{idx}", row["question"], row["answer"])
            if "####" not in item.target:
                raise ValueError("answer has no '#### N' line")
        else:  # ifeval
            ids, kwargs = list(row["instruction_id_list"]), list(row["kwargs"])
            if len(ids) != len(kwargs) or not ids:
                raise ValueError(f"{len(ids)} instruction ids and {len(kwargs)} kwargs")
            item = GenItem(str(row["key"]), row["prompt"], "", None,
                           {"key": row["key"], "instruction_id_list": ids, "kwargs": kwargs})
    except (KeyError, TypeError, ValueError) as e:
        raise TaskError(f"{where}: row {idx + 1} is malformed ({type(e).__name__}: {e})") from None
    return item


def load_all_items(spec: TaskSpec, dataset: str | None = None) -> list[MCItem | GenItem]:
    """Every item of the task's evaluation split (generation: of `dataset` if given)."""
    if spec.format in MC_FORMATS:
        from .mc_docs import load_mc_items

        return load_mc_items(spec)
    root = paths.benchmarks_dir() / (dataset or spec.dataset)
    if not root.exists():
        raise TaskError(f"task {spec.name!r}: dataset {root} not found")
    files = sorted(root.glob("*.jsonl")) if root.is_dir() else [root]
    items = []
    for f in files:
        for idx, row in enumerate(read_jsonl(f)):
            items.append(_parse_row(spec.format, row, str(f), idx))
    return items


def subset_path(spec: TaskSpec, size: str) -> Path:
    return tasks_dir() / "subsets" / f"{spec.name}__{size}.txt"


FEWSHOT = "fewshot"  # the stored id list of a task's few-shot examples: subsets/<task>__fewshot.txt


def draw_subset(spec: TaskSpec, items: list[MCItem | GenItem | ItemRef], size: str) -> list[str]:
    """The seeded draw that produced the stored id list (used to create it, and to verify it)."""
    if size == FEWSHOT:  # examples from the few-shot split, in the order they are shown
        ids = [it.item_id for it in items]
        return random.Random(spec.seed).sample(ids, min(spec.fewshot, len(ids)))
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


class ItemRef(NamedTuple):
    """What a subset draw needs of an item, known without building its prompt."""
    item_id: str
    group: str | None


def load_task(name: str, size: str = "demo", limit: int | None = None) -> Task:
    spec = load_spec(name)
    if size not in spec.sizes:
        raise TaskError(f"task {name!r} has no size {size!r} (sizes: {sorted(spec.sizes)})")
    mc = spec.format in MC_FORMATS
    if mc:  # lm-eval renders the prompts: only those of the selected documents are built
        from .mc_docs import item_refs, lmeval_version, load_mc_items

        refs: list = [ItemRef(i, g) for i, g in item_refs(spec)[0]]
    else:
        refs = load_all_items(spec)
    known = {r.item_id for r in refs}
    stored = subset_path(spec, size)
    if spec.sizes[size] == "all":
        ids = list(dict.fromkeys(r.item_id for r in refs))
    elif stored.exists():
        ids = [line.strip() for line in stored.read_text().splitlines() if line.strip()]
        missing = [i for i in ids if i not in known]
        if missing:
            raise TaskError(f"{stored}: {len(missing)} ids not in the dataset, e.g. {missing[:3]}")
    else:
        ids = draw_subset(spec, refs, size)
    if limit is not None:
        ids = ids[:limit]
    if not ids:
        raise TaskError(f"task {name!r} size {size!r}: the subset is empty")
    if mc:
        by_id = {it.item_id: it for it in load_mc_items(spec, ids=set(ids))}
        return Task(spec, [by_id[i] for i in ids], size, [], lmeval_version(spec))
    by_id = {it.item_id: it for it in refs}
    return Task(spec, [by_id[i] for i in ids], size, load_fewshot(spec))


def load_fewshot(spec: TaskSpec) -> list[GenItem]:
    """The task's few-shot examples: one fixed list shown before every item, so the whole block is a
    shared prompt prefix the engine evaluates once (lm-eval draws per item; see gsm8k.yaml)."""
    if not spec.fewshot:
        return []
    pool = load_all_items(spec, spec.generation.fewshot_dataset)
    by_id = {it.item_id: it for it in pool}
    stored = subset_path(spec, FEWSHOT)
    if stored.exists():
        ids = [line.strip() for line in stored.read_text().splitlines() if line.strip()]
        missing = [i for i in ids if i not in by_id]
        if missing or len(ids) != spec.fewshot:
            raise TaskError(f"{stored}: expected {spec.fewshot} ids of {spec.generation.fewshot_dataset}, "
                            f"got {len(ids)} ({len(missing)} unknown)")
    else:
        ids = draw_subset(spec, pool, FEWSHOT)
    return [by_id[i] for i in ids]


def write_subset(name: str, size: str) -> Path:
    spec = load_spec(name)
    pool = load_all_items(spec, spec.generation.fewshot_dataset if size == FEWSHOT else None)
    ids = draw_subset(spec, pool, size)
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
