"""lm-eval's helper functions for the `!function` tags of these YAMLs (lm-eval resolves a tag
relative to the YAML's folder). IFEval's import calls nltk.download unless punkt_tab is found, so
NLTK is pointed at the shipped copy first."""
import functools
import os
from pathlib import Path

_NLTK = str(Path(__file__).resolve().parents[1] / "benchmarks" / "nltk_data")
os.environ.setdefault("NLTK_DATA", _NLTK)


def _ifeval():
    import nltk

    if _NLTK not in nltk.data.path:
        nltk.data.path.insert(0, _NLTK)
    from lm_eval.tasks.ifeval import utils

    return utils


def hellaswag_process_docs(dataset):
    from lm_eval.tasks.hellaswag.utils import process_docs

    return process_docs(dataset)


def process_results_mc2(doc, results):
    from lm_eval.tasks.truthfulqa.utils import process_results_mc2 as f

    return f(doc, results)


def ifeval_process_results(doc, results):
    return _ifeval().process_results(doc, results)


def ifeval_agg_inst_level_acc(items):
    return _ifeval().agg_inst_level_acc(items)


@functools.cache
def _mmlu_task_class():
    from lm_eval.api.task import ConfigurableTask

    class SubjectFewshotTask(ConfigurableTask):
        """lm-eval runs MMLU as 57 subject tasks, so its first_n sampler takes the first dev questions
        of the item's own subject. qb_mmlu holds the 57 subjects in one task: before building an
        item's few-shot context, narrow the sampler's pool to the dev questions of the item's subject
        (the same examples, in the same order, as lm-eval's mmlu_<subject>)."""

        def __init__(self, config=None, **kwargs):
            # lm-eval hands a Python task its whole YAML, `class` key included; TaskConfig rejects it
            super().__init__(config={k: v for k, v in (config or {}).items() if k != "class"}, **kwargs)

        def fewshot_context(self, doc, num_fewshot, *args, **kwargs):
            if num_fewshot and hasattr(self, "sampler"):
                if not hasattr(self, "_dev_by_subject"):
                    self._dev_by_subject = {}
                    for d in self.sampler.fewshot_docs():
                        self._dev_by_subject.setdefault(d["subject"], []).append(d)
                pool = self._dev_by_subject.get(doc["subject"])
                if not pool:
                    raise ValueError(f"qb_mmlu: no few-shot ({self.config.fewshot_split}) questions for "
                                     f"subject {doc['subject']!r}")
                self.sampler.df, self.sampler._loaded = pool, True
            return super().fewshot_context(doc, num_fewshot, *args, **kwargs)

    return SubjectFewshotTask


def __getattr__(name):
    # lm-eval resolves `!function qb_utils.SubjectFewshotTask` when it reads the YAML: the class is
    # built on first access so that importing this module does not import lm-eval's task machinery.
    if name == "SubjectFewshotTask":
        return _mmlu_task_class()
    raise AttributeError(name)
