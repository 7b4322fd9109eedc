"""lm-eval's helper functions for the `!function` tags of these YAMLs (lm-eval resolves a tag
relative to the YAML's folder). IFEval's import calls nltk.download unless punkt_tab is found, so
NLTK is pointed at the shipped copy first."""
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
