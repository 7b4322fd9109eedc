"""Benchmark tasks as data: `data/tasks/<name>.yaml` names the lm-eval task its documents come from,
the subset sizes, the format, the scorers, the lettered prompt's instruction and a `version` stored
with every score. Subsets are fixed, seeded id lists stored beside the task (`data/tasks/subsets/`), so
an item set never drifts between runs, machines or library versions.

One task format: every task's documents, prompts and references come from the lm-eval task YAML named
by `lmeval_task` (data/lm_eval_tasks, read by lm-eval itself), so a prompt is written once, there, and
the scorers send exactly lm-eval's requests. Multiple choice (mmlu, arc, hellaswag, truthfulqa_mc1/mc2
-> MCItem, mc_docs.py): cloze requests, choice strings and gold. Generation (gsm8k, ifeval -> GenItem,
gen_docs.py): the prompt with its few-shot examples, `until` and `max_gen_toks`, and the reference."""
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


class TaskSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    version: str
    description: str = ""
    lmeval_task: str  # the lm-eval task (data/lm_eval_tasks) its documents, prompts and references come from
    format: Literal["mmlu", "arc", "hellaswag", "truthfulqa_mc1", "truthfulqa_mc2", "gsm8k", "ifeval"]
    group_field: str | None = None
    seed: int = 1234
    sizes: dict[str, SubsetSpec | Literal["all"]]
    scorers: list[str]
    metrics: list[MetricSpec]
    # generate_rescore's budget; a generation task's comes from its lm-eval generation_kwargs (load_task)
    max_tokens: int = 16
    instruction: str = ""  # the lettered prompt's first line (letter_logits, TR125's chat prompt)
    # generation: wrap lm-eval's prompt in the model's chat template (instruction following; lm-eval's
    # counterpart is its run option apply_chat_template), where the model has one
    chat: bool = False

    @model_validator(mode="after")
    def _scorers_fit_the_format(self):
        allowed = SCORERS_BY_FORMAT[self.format]
        unknown = [s for s in self.scorers if s not in allowed]
        if unknown:
            raise ValueError(f"scorers {unknown} do not apply to format {self.format!r} (allowed: {list(allowed)})")
        if self.format in GEN_FORMATS and "max_tokens" in self.model_fields_set:
            raise ValueError(f"format {self.format!r} takes its max tokens from the lm-eval task's "
                             "generation_kwargs (max_gen_toks): remove `max_tokens`")
        if self.chat and self.format not in GEN_FORMATS:
            raise ValueError(f"`chat` applies to generation formats {list(GEN_FORMATS)}, not {self.format!r}")
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
    in "#### N"; empty for IFEval, whose reference is the instructions in `meta`). `context`, `until`
    and `max_gen_toks`: lm-eval's generate_until request for the document (gen_docs.py)."""
    item_id: str
    question: str
    target: str = ""
    group: str | None = None
    meta: dict = field(default_factory=dict, compare=False, hash=False)
    context: str = ""
    until: tuple[str, ...] = ()
    max_gen_toks: int = 0


@dataclass
class Task:
    spec: TaskSpec
    items: list[MCItem | GenItem] = field(default_factory=list)
    size: str = "demo"
    fewshot: list[GenItem] = field(default_factory=list)  # generation: the examples every prompt shows
    lmeval_version: str | None = None  # the lm-eval YAML's metadata.version

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def version(self) -> str:
        """quantbench's version and the lm-eval task's: a prompt changed in either changes the
        version, so cached samples of the old prompt are never reused."""
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


def load_all_items(spec: TaskSpec) -> list[MCItem | GenItem]:
    """Every item of the task's evaluation split."""
    if spec.format in MC_FORMATS:
        from .mc_docs import load_mc_items

        return load_mc_items(spec)
    from .gen_docs import load_gen_items

    return load_gen_items(spec)


def subset_path(spec: TaskSpec, size: str) -> Path:
    return tasks_dir() / "subsets" / f"{spec.name}__{size}.txt"


def draw_subset(spec: TaskSpec, items: list[MCItem | GenItem | ItemRef], size: str) -> list[str]:
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


class ItemRef(NamedTuple):
    """What a subset draw needs of an item, known without building its prompt."""
    item_id: str
    group: str | None


def load_task(name: str, size: str = "demo", limit: int | None = None, num_fewshot: int | None = None) -> Task:
    """`num_fewshot` (generation tasks): instead of the lm-eval task's own number of examples."""
    from .mc_docs import item_refs, lmeval_version

    spec = load_spec(name)
    if size not in spec.sizes:
        raise TaskError(f"task {name!r} has no size {size!r} (sizes: {sorted(spec.sizes)})")
    mc = spec.format in MC_FORMATS
    if mc and num_fewshot is not None:
        raise TaskError(f"task {name!r}: num_fewshot applies to generation tasks (the lm-eval YAML sets "
                        "a multiple-choice task's)")
    refs = [ItemRef(i, g) for i, g in item_refs(spec)[0]]  # lm-eval renders only the selected prompts
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
        from .mc_docs import load_mc_items

        by_id = {it.item_id: it for it in load_mc_items(spec, ids=set(ids))}
        return Task(spec, [by_id[i] for i in ids], size, [], lmeval_version(spec))
    from .gen_docs import fewshot_items, load_gen_items

    by_id = {it.item_id: it for it in load_gen_items(spec, set(ids), num_fewshot)}
    items = [by_id[i] for i in ids]
    budgets = {it.max_gen_toks for it in items}
    if len(budgets) != 1:
        raise TaskError(f"task {name!r}: the lm-eval requests ask for different max_gen_toks {sorted(budgets)}")
    spec = spec.model_copy(update={"max_tokens": budgets.pop()})  # the one budget: lm-eval's max_gen_toks
    return Task(spec, items, size, fewshot_items(spec, num_fewshot), lmeval_version(spec))


def write_subset(name: str, size: str) -> Path:
    from .mc_docs import item_refs

    spec = load_spec(name)
    ids = draw_subset(spec, [ItemRef(i, g) for i, g in item_refs(spec)[0]], size)
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
