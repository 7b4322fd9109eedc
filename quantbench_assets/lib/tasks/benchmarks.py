"""Benchmark tasks as data, in the spirit of lm-eval's task YAMLs: `data/tasks/<name>.yaml` names the
dataset file, the subset sizes, the prompt format, the scorers and a `version` stored with every
score. Subsets are fixed, seeded id lists stored beside the task (`data/tasks/subsets/`), so an
item set never drifts between runs, machines or library versions.

Formats: multiple choice (mmlu, arc, hellaswag, truthfulqa_mc1/mc2 -> MCItem) and generation
(gsm8k, ifeval -> GenItem). Prompts follow lm-eval's task YAMLs for the same benchmark, so a score
here and one from lm-eval on the same items mean the same thing (quantbench_tests checks this
through the lm-eval bridge)."""
from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

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


class ClozeSpec(BaseModel):
    """The prompt of loglikelihood scoring (lm-eval's `multiple_choice`): context, then each choice.

    Template fields: {question}, {question_stripped}, {choices_lettered} ("A. ...\nB. ..."),
    {subject}. `choices: letters` scores " A", " B", ... after a lettered question (lm-eval's MMLU);
    `text` scores each answer text (lm-eval's ARC, HellaSwag, TruthfulQA)."""
    model_config = ConfigDict(extra="forbid")
    description: str = ""  # once before the question (few-shot block, subject line)
    template: str
    choices: Literal["text", "letters"] = "text"
    target_delimiter: str = " "


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
    dataset: str  # file or folder under data/benchmarks
    format: Literal["mmlu", "arc", "hellaswag", "truthfulqa_mc1", "truthfulqa_mc2", "gsm8k", "ifeval"]
    group_field: str | None = None
    seed: int = 1234
    sizes: dict[str, SubsetSpec | Literal["all"]]
    fewshot: int = 0
    scorers: list[str]
    metrics: list[MetricSpec]
    max_tokens: int = 16
    instruction: str = ""
    cloze: ClozeSpec | None = None
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
        if "loglikelihood" in self.scorers and self.cloze is None:
            raise ValueError("the loglikelihood scorer needs a `cloze` prompt")
        return self

    def cloze_spec(self) -> ClozeSpec:
        if self.cloze is not None:
            return self.cloze
        raise TaskError(f"task {self.name!r} has no `cloze` prompt for loglikelihood scoring")


@dataclass(frozen=True)
class MCItem:
    item_id: str
    question: str
    choices: tuple[str, ...]
    gold: int
    group: str | None = None
    labels: tuple[int, ...] | None = None  # 1 per true choice where several are true (TruthfulQA MC2)

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


def hellaswag_preprocess(text: str) -> str:
    """lm-eval's HellaSwag cleaning (lm_eval/tasks/hellaswag/utils.py; importing it pulls in `datasets`,
    ~3 s): drop WikiHow's bracketed artefacts. A test compares the two on real rows."""
    text = text.strip()
    text = text.replace(" [title]", ". ")
    text = re.sub("\\[.*?\\]", "", text)
    return text.replace("  ", " ")


def _parse_row(fmt: str, row: dict, where: str, idx: int) -> MCItem | GenItem:
    try:
        if fmt == "mmlu":
            choices = tuple(row["choices"])
            gold = int(row["answer"])
            item = MCItem(f"{row['subject']}/{idx}", row["question"], choices, gold, row["subject"])
        elif fmt == "arc":
            labels = list(row["choices"]["label"])
            choices = tuple(row["choices"]["text"])
            gold = labels.index(row["answerKey"])
            item = MCItem(row["id"], row["question"], choices, gold, None)
        elif fmt == "hellaswag":  # `ind` repeats across rows: the row index is the identity
            query = hellaswag_preprocess(row["activity_label"] + ": " + row["ctx_a"] + " " + row["ctx_b"].capitalize())
            choices = tuple(hellaswag_preprocess(e) for e in row["endings"])
            item = MCItem(f"validation/{idx}", query, choices, int(row["label"]), None)
        elif fmt in ("truthfulqa_mc1", "truthfulqa_mc2"):
            targets = row["mc1_targets" if fmt == "truthfulqa_mc1" else "mc2_targets"]
            labels = tuple(int(v) for v in targets["labels"])
            gold = labels.index(1)  # the first choice is the true one in both (lm-eval: doc_to_target 0)
            item = MCItem(f"validation/{idx}", row["question"], tuple(targets["choices"]), gold, None,
                          labels if fmt == "truthfulqa_mc2" else None)
        elif fmt == "gsm8k":
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
    if isinstance(item, MCItem):
        most = len(LETTERS) if fmt in LETTERED_FORMATS else float("inf")
        if not 2 <= len(item.choices) <= most or not 0 <= item.gold < len(item.choices):
            raise TaskError(f"{where}: row {idx + 1} has {len(item.choices)} choices and gold index {item.gold}")
    return item


def load_all_items(spec: TaskSpec, dataset: str | None = None) -> list[MCItem | GenItem]:
    root = paths.benchmarks_dir() / (dataset or spec.dataset)
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


FEWSHOT = "fewshot"  # the stored id list of a task's few-shot examples: subsets/<task>__fewshot.txt


def draw_subset(spec: TaskSpec, items: list[MCItem | GenItem], size: str) -> list[str]:
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
