"""Multiple-choice items from lm-eval's own task objects. A standard MC task (`data/tasks/<name>.yaml`
with `lmeval_task: qb_<name>`) reads its documents, each document's cloze requests (lm-eval's
`fewshot_context` + `construct_requests`: description, doc_to_text, target_delimiter, doc_to_choice,
few-shot settings), its choice strings and its gold (doc_to_target) from the lm-eval task YAML in
data/lm_eval_tasks, so the cloze prompt is written once, there, and the loglikelihood scorer sends
exactly the requests lm-eval would. quantbench adds only what its own extra scorers need: a stable item
id, the item's group, and the question and answer texts its lettered prompt shows (LETTERED_FIELDS).

Only the shipped folders are indexed (lmeval.task_manager: ~0.01 s); a loaded task is kept per
process until its YAML or data files change. The generation tasks (gen_docs.py) load their lm-eval
task, ids and splits through the same functions."""
from __future__ import annotations

import functools
import glob
import re
from contextlib import contextmanager
from pathlib import Path

from .benchmarks import LETTERED_FORMATS, LETTERS, MC_FORMATS, MCItem, TaskError, TaskSpec, read_jsonl

# Where the lettered prompt (letter_logits, TR125) finds the question and the answer texts in an
# lm-eval document, where they are not the task's own: MMLU's cloze choices are the letters, so
# its answer texts are the `choices` field; HellaSwag's question is the cleaned `query`.
LETTERED_FIELDS = {"mmlu": ("question", "choices"), "hellaswag": ("query", None)}
_LOADED: dict[str, tuple[tuple, object]] = {}


def _data_files(cfg: dict, split: str) -> list[str]:
    files = ((cfg.get("dataset_kwargs") or {}).get("data_files") or {})
    files = files.get(split, []) if isinstance(files, dict) else files
    return [files] if isinstance(files, str) else list(files)


def _eval_split(cfg: dict) -> str:
    split = cfg.get("test_split") or cfg.get("validation_split")  # lm-eval's eval_docs: test first
    if not split:
        raise TaskError(f"lm-eval task {cfg.get('task')!r} names no test_split or validation_split")
    return split


def _diagnose(spec: TaskSpec, cfg: dict, error: Exception) -> TaskError:
    """Why lm-eval could not read the dataset, told in quantbench's terms (file and line)."""
    paths = [p for pattern in _data_files(cfg, _eval_split(cfg)) for p in sorted(glob.glob(pattern))]
    rows = sum(len(read_jsonl(Path(p))) for p in paths if p.endswith(".jsonl"))  # raises on a bad line
    if paths and not rows:
        return TaskError(f"task {spec.name!r}: the subset is empty ({', '.join(paths)} hold no rows)")
    return TaskError(f"task {spec.name!r}: lm-eval task {spec.lmeval_task!r} failed to load: "
                     f"{type(error).__name__}: {error}")


def lmeval_task(spec: TaskSpec):
    """lm-eval's Task object for `spec.lmeval_task`, from the indexed folders only."""
    from .lmeval import task_config, task_dirs, task_manager

    tm = task_manager()
    entry = tm.task_index.get(spec.lmeval_task)
    if entry is None or entry.yaml_path is None:
        raise TaskError(f"task {spec.name!r}: no lm-eval task {spec.lmeval_task!r} in "
                        f"{[str(p) for p in task_dirs()]}")
    cfg = task_config(Path(entry.yaml_path))
    patterns = [p for split in ("test", "validation", "train", "dev") for p in _data_files(cfg, split)]
    for pattern in _data_files(cfg, _eval_split(cfg)):
        if not glob.glob(pattern):
            raise TaskError(f"task {spec.name!r}: dataset {pattern} not found")
    folder = Path(entry.yaml_path).parent  # its YAMLs (an `include` may name a sibling) and helpers
    files = sorted(folder.glob("*.yaml")) + sorted(folder.glob("*.py"))
    files += [Path(p) for pat in patterns for p in sorted(glob.glob(pat))]
    stamp = tuple((str(f), f.stat().st_mtime_ns, f.stat().st_size) for f in files if f.exists())
    kept = _LOADED.get(spec.lmeval_task)
    if kept and kept[0] == stamp:
        return kept[1]
    try:
        task = tm.load([spec.lmeval_task])["tasks"][spec.lmeval_task]
    except TaskError:
        raise
    except Exception as e:  # noqa: BLE001 - datasets/pyarrow errors name neither file nor line
        raise _diagnose(spec, cfg, e) from None
    expected = "multiple_choice" if spec.format in MC_FORMATS else "generate_until"
    if task.get_config("output_type") != expected:
        raise TaskError(f"task {spec.name!r}: lm-eval task {spec.lmeval_task!r} is "
                        f"{task.get_config('output_type')!r}, not {expected}")
    _LOADED[spec.lmeval_task] = (stamp, task)
    return task


def lmeval_version(spec: TaskSpec) -> str:
    """The lm-eval YAML's `metadata: {version: ...}`: part of quantbench's task version, so a changed
    prompt there never reuses samples cached under the old one."""
    v = (lmeval_task(spec).config.metadata or {}).get("version")
    if v is None:
        raise TaskError(f"task {spec.name!r}: lm-eval task {spec.lmeval_task!r} has no `metadata: {{version: ...}}`, "
                        "which quantbench's task version (and so its sample cache) needs")
    return str(v)


def doc_item_ids(spec: TaskSpec, docs, split: str) -> list[str]:
    """Stable item ids (the stored subsets and cache keys name items by them): ARC's own id; MMLU's
    subject and row within the subject's file; IFEval's key; otherwise the split and the row."""
    if spec.format == "arc":
        return [str(i) for i in docs["id"]]
    if spec.format == "ifeval":
        return [str(k) for k in docs["key"]]
    if spec.format == "mmlu":
        first: dict[str, int] = {}
        return [f"{s}/{i - first.setdefault(s, i)}" for i, s in enumerate(docs["subject"])]
    return [f"{split}/{i}" for i in range(len(docs))]


def docs_where(task, spec: TaskSpec, split: str) -> str:
    """The data files of a split, for error messages."""
    return ", ".join(_data_files({"dataset_kwargs": task.config.dataset_kwargs}, split)) or spec.lmeval_task


def split_docs(task, fewshot: bool) -> tuple[object, str, bool]:
    """(documents, split name, whether it is the evaluated split): the evaluation documents, or the
    few-shot ones (lm-eval's fewshot_split, else training, else validation documents)."""
    cfg = task.config
    eval_split = cfg.test_split or cfg.validation_split
    if not fewshot:
        return task.task_docs, eval_split, True
    split = cfg.fewshot_split or cfg.training_split or cfg.validation_split or eval_split
    return task.fewshot_docs(), split, split == eval_split


def item_refs(spec: TaskSpec, fewshot: bool = False) -> tuple[list[tuple[str, str | None]], bool]:
    """([(item id, group)] of every document in order, without rendering a prompt; whether the split
    is the evaluated one)."""
    docs, split, same = split_docs(lmeval_task(spec), fewshot)
    ids = doc_item_ids(spec, docs, split)
    groups = list(docs[spec.group_field]) if spec.group_field else [None] * len(ids)
    return list(zip(ids, groups)), same


def _item(task, spec: TaskSpec, doc: dict, item_id: str, doc_id: int) -> MCItem:
    num_fewshot = task.get_config("num_fewshot") or 0
    if num_fewshot:
        # The same seed for every document: its prompt never depends on which other documents were
        # drawn or in which order (cache keys name the item, not the prompt). lm-eval seeds once per run.
        task.set_fewshot_seed(seed=spec.seed)
    context = task.fewshot_context(doc, num_fewshot=num_fewshot, gen_prefix=task.doc_to_prefix(doc))
    if not isinstance(context, str):
        raise ValueError("multiple-input tasks (one context per choice) are not supported")
    requests = [tuple(r.arguments) for r in
                task.construct_requests(doc=doc, ctx=context, metadata=(spec.lmeval_task, doc_id, 1))]
    choices = tuple(str(c) for c in task.doc_to_choice(doc))
    gold = task.doc_to_target(doc)
    if not isinstance(gold, int):
        gold = choices.index(str(gold))
    q_field, texts_field = LETTERED_FIELDS.get(spec.format, ("question", None))
    texts = tuple(doc[texts_field]) if texts_field else choices
    labels = tuple(int(v) for v in doc["mc2_targets"]["labels"]) if spec.format == "truthfulqa_mc2" else None
    description = task.resolve_field(doc, task.config.description) or ""
    return MCItem(item_id, doc[q_field], texts, gold, doc[spec.group_field] if spec.group_field else None,
                  labels, context=context, continuations=tuple(c for _, c in requests),
                  cloze_choices=choices, description=description)


def _missing_field(task, spec: TaskSpec, doc: dict) -> str | None:
    """'KeyError: <field>' when the row lacks the field the prompt needed: `datasets` gives a field
    missing from one JSON row as None, and a template then fails on None, naming no field. Rendering
    again without the None fields makes the lookup itself fail, naming it."""
    import jinja2

    present = {k: v for k, v in doc.items() if v is not None}
    if len(present) == len(doc):
        return None
    try:
        _item(task, spec, present, "", 0)
    except KeyError as e:
        return f"KeyError: {e}"
    except jinja2.UndefinedError as e:
        m = re.search(r"'(\w+)' is undefined", str(e))
        return f"KeyError: {m.group(1)!r}" if m else None
    except Exception:  # noqa: BLE001 - another cause: the caller reports the first error
        return None
    return None


@contextmanager
def templates_kept():
    """lm-eval compiles a jinja template again on every call (lm_eval.utils.apply_template: ~1 ms,
    90% of building MMLU's 14k items). A source always compiles to the same stateless template, so
    while items are built, each source is compiled once; lm-eval's environment is restored after."""
    from lm_eval import utils

    env = utils.env
    if "from_string" in vars(env):  # already kept (a nested build)
        yield
        return
    env.from_string = functools.lru_cache(maxsize=512)(env.from_string)
    try:
        yield
    finally:
        del env.from_string


def load_mc_items(spec: TaskSpec, fewshot: bool = False, ids: set[str] | None = None) -> list[MCItem]:
    """The items of the evaluation documents, or with `fewshot` of the few-shot documents (_split).
    `ids`: build only these (rendering every prompt of a 10k-document task takes seconds)."""
    task = lmeval_task(spec)
    docs, split, _ = split_docs(task, fewshot)
    where = docs_where(task, spec, split)
    item_ids = doc_item_ids(spec, docs, split)
    items = []
    most = len(LETTERS) if spec.format in LETTERED_FORMATS else float("inf")
    with templates_kept():
        for i, item_id in enumerate(item_ids):
            if ids is not None and item_id not in ids:
                continue
            doc = docs[i]
            try:
                item = _item(task, spec, doc, item_id, i)
            except Exception as e:  # noqa: BLE001 - jinja, KeyError, ValueError ...: the row is malformed
                cause = _missing_field(task, spec, doc) or f"{type(e).__name__}: {e}"
                raise TaskError(f"{where}: row {i + 1} is malformed ({cause})") from None
            n = len(item.cloze_choices)
            if not 2 <= n <= most or not 0 <= item.gold < n:
                raise TaskError(f"{where}: row {i + 1} has {n} choices and gold index {item.gold}")
            items.append(item)
    return items

