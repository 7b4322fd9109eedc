"""Metrics for generation tasks and JSON output: all offline, library implementations where one exists.

Every metric returns a `MetricValue` (value.py): a number, or None with the reason it could not be
computed (`null_reason`). Nothing falls back to a silent 0. `MetricValue.row(name)` gives the warehouse
shape `{metric, value, null_reason}`. The families, one module each:

- failures.py: when an output is a failure and the worst value it scores (`WORST`, `failure_of`).
- text.py: overlap with references (ROUGE, BLEU, exact match, labels) and text shape (length,
  repetition, refusal).
- embedding.py: BERTScore and SemScore on the local all-MiniLM-L6-v2 (`MetricModels`).
- e2e.py: E2E slot realization and hallucination, and the E2E JSON answer's key accuracy.
- json_output.py: JSON parse rate, extraneous text, schema compliance, field completeness, key accuracy.

Conventions decided here (document-level, so results stay comparable):
- words: whitespace-separated tokens (`str.split`), what a person counts for "≤ 50 words".
- sentences: nltk punkt (`punkt_tab`, shipped in data/benchmarks/nltk_data; never downloaded).
- repetition: distinct-4 = unique word 4-grams / all word 4-grams over lowercased `\\w+` tokens
  (punctuation ignored so "the cat. the cat." repeats); None with reason when < 4 tokens.
- failures count as failures: an empty output, or a JSON task's output with no parseable JSON value,
  scores every quality metric's worst value (`WORST`, 0 for the similarity, overlap and accuracy
  metrics, 1 for the extraneous-text rate), never a null that `avg()` would skip. BERTScore and
  SemScore have nothing to embed in an empty output: it gets the floor of a cosine, -1.0, with
  `detail["failure"]` (0.0 would not be the worst: an unrelated text scores slightly below 0 on
  SemScore). Descriptive metrics without a "worse" direction (length ratio, repetition, refusal,
  hallucination counts) keep what the text gives, or None with a reason.

The package namespace is the API (`from ..scoring import metrics as gm; gm.rouge(...)`).
"""
from .e2e import (E2E_FIELD, E2E_SLOTS, E2E_VENUES, e2e_expected_fields, e2e_slot_check,
                  e2e_key_accuracy, e2e_slot_report, parse_mr)
from .embedding import (BERTSCORE_NUM_LAYERS, MINILM_PACKAGE, MINILM_REQUIREMENT, MetricModels, bertscore,
                        minilm_path, semscore)
from .failures import EMPTY_OUTPUT, NO_JSON, WORST, extract_json, failure_of, worst
from .json_output import (extraneous_output, field_completeness, json_parse, json_reliability, key_accuracy,
                          parse_rate, schema_compliance)
from .text import (LENGTH_LEVELS, REFUSAL_PHRASES, REFUSAL_WINDOW, bleu, corpus_bleu, exact_match, extract_label,
                   label_accuracy, length_compliance, length_ratio, normalize_answer, paragraphs, refusal,
                   repetition, rouge, sentences)
from .value import MetricValue, as_references, fold_text, words

__all__ = [
    "BERTSCORE_NUM_LAYERS", "E2E_FIELD", "E2E_SLOTS", "E2E_VENUES", "EMPTY_OUTPUT", "LENGTH_LEVELS",
    "MINILM_PACKAGE", "MINILM_REQUIREMENT", "NO_JSON", "REFUSAL_PHRASES", "REFUSAL_WINDOW", "WORST",
    "MetricModels", "MetricValue", "as_references", "bertscore", "bleu", "corpus_bleu", "e2e_expected_fields",
    "e2e_slot_check", "e2e_key_accuracy", "e2e_slot_report", "exact_match", "extract_json",
    "extract_label", "extraneous_output", "failure_of", "field_completeness", "fold_text", "json_parse",
    "json_reliability", "key_accuracy", "label_accuracy", "length_compliance", "length_ratio", "minilm_path",
    "normalize_answer", "paragraphs", "parse_mr", "parse_rate", "refusal", "repetition", "rouge",
    "schema_compliance", "semscore", "sentences", "worst", "words",
]
