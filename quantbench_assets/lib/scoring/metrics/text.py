"""Text metrics: overlap with references (ROUGE, BLEU, exact match, label accuracy) and the shape of
the text (length ratio and compliance, repetition, refusal). Sentences come from nltk punkt
(`punkt_tab`, shipped in data/benchmarks/nltk_data; never downloaded)."""
from __future__ import annotations

import re
import string
import unicodedata
from functools import lru_cache
from typing import Sequence

from .value import MetricValue, as_references, words


# --------------------------------------------------------------------------------------------- nltk
@lru_cache(maxsize=1)
def _punkt_ready() -> bool:
    """Make punkt_tab findable without nltk.download (no network here): the project ships it."""
    import nltk

    try:
        nltk.data.find("tokenizers/punkt_tab/english/")
        return True
    except LookupError:
        pass
    from ...core.paths import benchmarks_dir

    shipped = benchmarks_dir() / "nltk_data"
    if shipped.is_dir() and str(shipped) not in nltk.data.path:
        nltk.data.path.append(str(shipped))
    nltk.data.find("tokenizers/punkt_tab/english/")  # LookupError with nltk's own message if absent
    return True


def sentences(text: str) -> list[str]:
    import nltk

    _punkt_ready()
    return [s for s in nltk.sent_tokenize(text.strip()) if s.strip()] if text.strip() else []


def paragraphs(text: str) -> list[str]:
    return [p for p in re.split(r"\n\s*\n", text.strip()) if p.strip()]


# ------------------------------------------------------------------------------------ overlap metrics
@lru_cache(maxsize=1)
def _rouge_scorer():
    from rouge_score import rouge_scorer

    # Porter stemming as in the ROUGE-1.5.5 convention most papers report.
    return rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=True)


def rouge(prediction: str, references: str | Sequence[str]) -> dict[str, MetricValue]:
    """ROUGE-1/2/L F1 against the best-matching reference (rouge-score's score_multi: max F per type)."""
    refs = as_references(references)
    if not refs:
        return {k: MetricValue.null("no reference") for k in ("rouge1", "rouge2", "rougeL")}
    best = _rouge_scorer().score_multi(refs, prediction)
    return {k: MetricValue(float(best[k].fmeasure)) for k in ("rouge1", "rouge2", "rougeL")}


def bleu(prediction: str, references: str | Sequence[str]) -> MetricValue:
    """sacrebleu sentence BLEU (0-100, default exp smoothing, 13a tokenizer), all references at once."""
    import sacrebleu

    refs = as_references(references)
    if not refs:
        return MetricValue.null("no reference")
    return MetricValue(float(sacrebleu.sentence_bleu(prediction, refs).score))


def corpus_bleu(predictions: Sequence[str], references: Sequence[str | Sequence[str]]) -> MetricValue:
    """sacrebleu corpus BLEU; items may have different numbers of references (padded with None)."""
    import sacrebleu

    if len(predictions) != len(references):
        raise ValueError("predictions and references differ in length")
    if not predictions:
        return MetricValue.null("no items")
    per_item = [as_references(r) for r in references]
    if any(not r for r in per_item):
        return MetricValue.null("an item has no reference")
    width = max(len(r) for r in per_item)
    streams = [[r[i] if i < len(r) else None for r in per_item] for i in range(width)]
    res = sacrebleu.corpus_bleu(list(predictions), streams)
    return MetricValue(float(res.score), detail={"signature": "sacrebleu corpus_bleu 13a exp", "bp": res.bp})


_ARTICLES = re.compile(r"\b(a|an|the)\b")


def normalize_answer(text: str) -> str:
    """SQuAD normalization: lowercase, drop punctuation and articles, collapse whitespace."""
    text = unicodedata.normalize("NFKC", text).lower()
    text = "".join(ch for ch in text if ch not in string.punctuation)
    return " ".join(_ARTICLES.sub(" ", text).split())


def exact_match(prediction: str, references: str | Sequence[str]) -> MetricValue:
    refs = as_references(references)
    if not refs:
        return MetricValue.null("no reference")
    pred = normalize_answer(prediction)
    return MetricValue(float(any(pred == normalize_answer(r) for r in refs)))


def extract_label(text: str, labels: Sequence[str]) -> str | None:
    """The label a free-text answer gives: the earliest label word in it (whole word, case-insensitive)."""
    best: tuple[int, str] | None = None
    for label in labels:
        m = re.search(rf"(?<![\w-]){re.escape(label.lower())}(?![\w-])", text.lower())
        if m and (best is None or m.start() < best[0]):
            best = (m.start(), label)
    return best[1] if best else None


def label_accuracy(prediction: str, gold: str, labels: Sequence[str]) -> MetricValue:
    got = extract_label(prediction, labels)
    if got is None:
        return MetricValue(0.0, detail={"extracted": None})  # no label given is a wrong answer, not missing data
    return MetricValue(float(got == gold), detail={"extracted": got})


# ------------------------------------------------------------------------------------- text shape
def length_ratio(prediction: str, references: str | Sequence[str]) -> MetricValue:
    """Output words / reference words (mean over references when there are several)."""
    refs = as_references(references)
    if not refs:
        return MetricValue.null("no reference")
    ref_words = sum(len(words(r)) for r in refs) / len(refs)
    if ref_words == 0:
        return MetricValue.null("reference is empty")
    return MetricValue(len(words(prediction)) / ref_words)


def repetition(text: str, n: int = 4) -> MetricValue:
    """Distinct-n: unique word n-grams / total. 1.0 = no repeats; loops drive it toward 0."""
    toks = re.findall(r"\w+", text.lower())
    if len(toks) < n:
        return MetricValue.null(f"fewer than {n} words: no {n}-gram")
    grams = [tuple(toks[i:i + n]) for i in range(len(toks) - n + 1)]
    return MetricValue(len(set(grams)) / len(grams), detail={"ngrams": len(grams)})


# level -> (sentences, words, paragraphs); None = not constrained at that level.
LENGTH_LEVELS: dict[str, dict[str, tuple[int, int] | None]] = {
    "brief": {"sentences": (1, 2), "words": (1, 50), "paragraphs": None},
    "mid": {"sentences": (3, 5), "words": (75, 150), "paragraphs": None},
    "strong": {"sentences": None, "words": (200, 400), "paragraphs": (2, 4)},
}


def length_compliance(text: str, level: str) -> MetricValue:
    """1.0 when the text meets every bound of its description level, else 0.0; detail has the counts."""
    if level not in LENGTH_LEVELS:
        raise ValueError(f"unknown level {level!r}; one of {sorted(LENGTH_LEVELS)}")
    if not text.strip():
        return MetricValue(0.0, detail={"sentences": 0, "words": 0, "paragraphs": 0})
    counts = {"sentences": len(sentences(text)), "words": len(words(text)), "paragraphs": len(paragraphs(text))}
    checks = {k: lo <= counts[k] <= hi for k, b in LENGTH_LEVELS[level].items() if b for lo, hi in [b]}
    return MetricValue(float(all(checks.values())), detail={**counts, "checks": checks})


# Refusal: phrases assistants use to decline. Matched case-insensitively in the first 300 characters
# only: a refusal leads the answer, while "I can't" later on is usually content (e.g. story dialogue).
REFUSAL_PHRASES: tuple[str, ...] = (
    "i'm sorry, but", "i am sorry, but", "sorry, but i can", "i apologize, but", "i apologise, but",
    "i cannot", "i can't", "i can not", "i won't be able", "i will not", "i won't",
    "i'm unable to", "i am unable to", "i'm not able to", "i am not able to",
    "as an ai", "as a language model", "as an ai language model",
    "i must decline", "i have to decline", "i'm not comfortable", "i am not comfortable",
    "cannot assist with", "can't assist with", "cannot help with", "can't help with",
    "cannot provide", "can't provide", "not able to provide", "unable to provide",
    "i do not have the ability", "i don't have the ability",
)
REFUSAL_WINDOW = 300


def refusal(text: str) -> MetricValue:
    head = unicodedata.normalize("NFKC", text[:REFUSAL_WINDOW]).lower().replace("\u2019", "'")
    hits = [p for p in REFUSAL_PHRASES if p in head]
    return MetricValue(float(bool(hits)), detail={"matched": hits})
