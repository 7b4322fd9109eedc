"""A study: which models and rungs to evaluate, with which per-variant assets, tasks, item counts,
perplexity windows and speed repetitions. One object holds these choices; the CLI runs it and the
sensors' job evaluates a new rung with the same assets and settings (defs/catalog/automation.py).

Two presets:

- `demo` (the default): fast, sensitive measures on ladders that show a real signal in ≤ 10 minutes
  on 2 cores: ARC-Easy scored by loglikelihood (both models are well above chance there), KL
  divergence / same-top-token rate vs the base rung and perplexity on WikiText-2, speed and memory.
  SmolLM2-135M's four rungs are cheap; Qwen2.5-Coder-1.5B is the model obtainable here whose K-quant
  rungs are real K-quants (its rows are divisible by 256). Its published file is Q4_K_M, so its base
  rung is that source file (no upcast), and the lower rungs are requantized from it.
- `tr125`: TR125's generation study (MMLU + ARC-Challenge by greedy generation, five generation
  tasks) on the former demo ladders; ~47 minutes on 2 cores (measured 2026-11-22).

No Dagster here: `run_config()` returns the plain run-config dict the assets read.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

from quantbench_assets.lib.catalog.entries import KNOWN_QUANTS, Catalog, is_known_rung
from quantbench_assets.lib.gguf.ladder import baseline_quant

# Every per-variant asset a study may run, in the order the CLI materializes them.
PER_VARIANT_ASSETS = (
    "standard_benchmark_samples", "standard_benchmark_scores", "generation_samples", "generation_scores",
    "perplexity", "perplexity_windows", "distribution_shift", "speed_runs", "memory_probe",
    # a study names these when it wants them: any lm-eval task, sandboxed code, the engine studies
    "lmeval_samples", "code_execution", "backend_equivalence", "determinism_check", "sampling_variance",
)
SIZES = ("demo", "seed_study", "full")


class StudyError(ValueError):
    """A study (or an override of one) that cannot run; the message says which setting and why."""


@dataclass(frozen=True)
class ModelPlan:
    model: str
    rungs: tuple[str, ...]          # ⊆ the catalog ladder; the base rung is F16 if listed, else the highest
    limit: int | None = None        # items per standard task for this model (None: the study's)


@dataclass(frozen=True)
class Study:
    name: str
    summary: str
    estimate: str                   # measured or estimated wall time on 2 cores, as stated in README / --help
    models: tuple[ModelPlan, ...]
    assets: tuple[str, ...]         # per-variant assets (⊆ PER_VARIANT_ASSETS)
    standard_tasks: tuple[str, ...] = ("arc_easy",)
    standard_scorers: tuple[str, ...] = ("loglikelihood",)
    size: str = "demo"
    limit: int | None = None        # items per task (first N of the fixed seeded subset)
    generation_limit: int = 1
    ppl_windows: int = 4
    speed_reps: int = 2
    speed_n_prompt: int = 128
    speed_n_gen: int = 32
    memory_mmap_modes: tuple[int, ...] = (1,)
    memory_n_prompt: int = 64
    memory_n_gen: int = 16
    extra: dict = field(default_factory=dict)

    # ── the settings each asset reads ────────────────────────────────────────────────────────
    def asset_config(self, limit: int | None = None) -> dict[str, dict]:
        lim = limit if limit is not None else self.limit
        return {
            "standard_benchmark_samples": {"tasks": list(self.standard_tasks), "scorers": list(self.standard_scorers),
                                           "size": self.size, "limit": lim},
            "generation_samples": {"limit": self.generation_limit},
            "perplexity": {"n_windows": self.ppl_windows},
            "distribution_shift": {"n_windows": self.ppl_windows},
            "base_logits": {"n_windows": self.ppl_windows},
            "speed_runs": {"reps": self.speed_reps, "n_prompt": self.speed_n_prompt, "n_gen": self.speed_n_gen},
            "memory_probe": {"mmap_modes": list(self.memory_mmap_modes), "n_prompt": self.memory_n_prompt,
                             "n_gen": self.memory_n_gen},
        }

    def run_config(self, selection, limit: int | None = None) -> dict:
        """Dagster run config for the selected assets (names), e.g. {"ops": {"perplexity": {"config": ...}}}."""
        chosen = set(selection)
        return {"ops": {k: {"config": v} for k, v in self.asset_config(limit).items() if k in chosen}}

    def variant_keys(self) -> list[str]:
        return [f"{p.model}__{q}" for p in self.models for q in p.rungs]

    def with_overrides(self, **changes) -> "Study":
        """A copy with the CLI's overrides applied (None means "keep"); validated by validate()."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})

    # ── checks made before any work starts ───────────────────────────────────────────────────
    def validate(self, catalog: Catalog | None = None) -> None:
        errors = []
        unknown = [a for a in self.assets if a not in PER_VARIANT_ASSETS]
        if unknown:
            errors.append(f"unknown per-variant assets {unknown} (known: {list(PER_VARIANT_ASSETS)})")
        if self.size not in SIZES:
            errors.append(f"size {self.size!r} is not one of {list(SIZES)}")
        if self.limit is not None and self.limit < 1:
            errors.append(f"limit must be ≥ 1 (got {self.limit})")
        if self.generation_limit < 1:
            errors.append(f"generation limit must be ≥ 1 (got {self.generation_limit})")
        if self.ppl_windows < 1:
            errors.append(f"perplexity windows must be ≥ 1 (got {self.ppl_windows})")
        if self.speed_reps < 2:
            errors.append(f"speed repetitions must be ≥ 2: a spread needs two samples (got {self.speed_reps})")
        if self.speed_n_prompt < 0 or self.speed_n_gen < 0 or self.speed_n_prompt + self.speed_n_gen == 0:
            errors.append("speed test sizes must be ≥ 0 and not both 0")
        if not self.models:
            errors.append("no models chosen")
        for p in self.models:
            bad = [q for q in p.rungs if not is_known_rung(q)]
            if bad:
                errors.append(f"{p.model}: unknown quant(s) {bad} (known: {', '.join(KNOWN_QUANTS)})")
            if not p.rungs:
                errors.append(f"{p.model}: no rungs left to evaluate")
            if p.limit is not None and p.limit < 1:
                errors.append(f"{p.model}: limit must be ≥ 1")
            if catalog is not None:
                try:
                    entry = catalog.get(p.model)
                except (KeyError, ValueError, LookupError):
                    entry = None
                if entry is None:
                    errors.append(f"unknown model {p.model!r} (catalog: {', '.join(m.name for m in catalog.models)})")
                else:
                    off = [q for q in p.rungs if q not in entry.ladder]
                    if off:
                        errors.append(f"{p.model}: rung(s) {off} are not in its catalog ladder {entry.ladder}")
                    base = baseline_quant(entry.ladder)
                    if p.rungs and base not in p.rungs:
                        errors.append(f"{p.model}: its baseline rung {base} (the rung every other is compared "
                                      f"with) is not among the rungs {list(p.rungs)}; add --quant {base}")
        errors += _check_tasks(self)
        if errors:
            raise StudyError("; ".join(errors))


def _check_tasks(study: Study) -> list[str]:
    """Task files exist, admit the scorers and the size (reads the small task YAMLs, no dataset)."""
    from quantbench_assets.lib.tasks.benchmarks import SCORERS_BY_FORMAT, load_spec

    errors = []
    wanted = []
    if "standard_benchmark_samples" in study.assets:
        wanted += [(t, study.standard_scorers) for t in study.standard_tasks]
    for name, scorers in wanted:
        try:
            spec = load_spec(name)
        except Exception as e:  # noqa: BLE001 - any reason the file cannot be used is reported
            errors.append(str(e).splitlines()[0])
            continue
        if study.size not in spec.sizes:
            errors.append(f"task {name!r} has no size {study.size!r} (sizes: {sorted(spec.sizes)})")
        if scorers and not any(s in SCORERS_BY_FORMAT[spec.format] for s in scorers):
            errors.append(f"task {name!r} admits none of the scorers {list(scorers)} "
                          f"(allowed: {list(SCORERS_BY_FORMAT[spec.format])})")
    return errors


DEMO = Study(
    name="demo",
    summary=("SmolLM2-135M (F16, Q8_0, Q4_K_M, Q2_K; K-quants fall back on its 576-wide rows) and "
             "Qwen2.5-Coder-1.5B (source Q4_K_M as base, real K-quant Q2_K): ARC-Easy by "
             "loglikelihood, KL divergence and same-top-token rate vs the base rung, perplexity, speed"),
    estimate="target ≤ 10 min on 2 cores after set-up, rung builds included (README: measured)",
    models=(
        # 100 items: with no item flipped, 100 paired items already show equivalence within ±3 pp
        # (0.97^100 < 0.05); 50 cannot, whatever the answers.
        ModelPlan("smollm2-135m-instruct", ("F16", "Q8_0", "Q4_K_M", "Q2_K"), limit=100),
        # Q3_K_M is in its catalog ladder but adds ~95 s cold: left out to keep the demo well under 10
        # minutes (9.9 min with it, measured 2026-12-02); `demo --model qwen2.5-coder-1.5b-instruct
        # --quant Q3_K_M` runs it against the base.
        ModelPlan("qwen2.5-coder-1.5b-instruct", ("Q4_K_M", "Q2_K"), limit=20),
    ),
    # memory_probe (peak RSS in an isolated process, ~20 s a rung on 2 cores) is left to tr125: the
    # decision matrix then sizes rungs from the file and KV-cache estimate and says so.
    assets=("standard_benchmark_samples", "standard_benchmark_scores", "perplexity", "perplexity_windows",
            "distribution_shift", "speed_runs"),
    standard_tasks=("arc_easy",),
    standard_scorers=("loglikelihood",),
    size="seed_study",  # 200 fixed seeded ARC-Easy items; the first N per model above
    ppl_windows=2,
    speed_reps=2,
    speed_n_prompt=128,
    speed_n_gen=32,
)

TR125 = Study(
    name="tr125",
    summary=("TR125's generation study on SmolLM2-135M and Qwen2.5-Coder-0.5B × F16/Q8_0/Q4_K_M/Q2_K: MMLU "
             "(57) + ARC-Challenge (50) by greedy generation (raw and rescored), the five generation tasks, "
             "perplexity/KLD, speed (pp512/tg128 × 3) and memory"),
    estimate="~47 min on 2 cores (measured 2026-11-22)",
    models=(
        ModelPlan("smollm2-135m-instruct", ("F16", "Q8_0", "Q4_K_M", "Q2_K")),
        ModelPlan("qwen2.5-coder-0.5b-instruct", ("F16", "Q8_0", "Q4_K_M", "Q2_K")),
    ),
    # TR125's benchmark is the benchmark chain with its generate_rescore scorer alone
    assets=("standard_benchmark_samples", "standard_benchmark_scores", "generation_samples", "generation_scores",
            "perplexity", "perplexity_windows", "distribution_shift", "speed_runs", "memory_probe"),
    standard_tasks=("mmlu", "arc_challenge"),
    standard_scorers=("generate_rescore",),
    size="demo",
    generation_limit=1,
    ppl_windows=4,
    speed_reps=3,
    speed_n_prompt=512,
    speed_n_gen=128,
    memory_mmap_modes=(0, 1),
    memory_n_prompt=512,
    memory_n_gen=128,
)

# The sensors' end-to-end test: every per-variant asset of the demo, on a handful of items.
CI = replace(DEMO, name="ci", summary="the demo's assets on a handful of items (tests)", estimate="~1 min per rung",
             models=(ModelPlan("smollm2-135m-instruct", ("F16", "Q8_0", "Q4_K_M", "Q2_K"), limit=4),),
             limit=4, ppl_windows=1, speed_reps=2, speed_n_prompt=16, speed_n_gen=4, memory_n_prompt=16,
             memory_n_gen=4)

STUDIES = {s.name: s for s in (DEMO, TR125, CI)}


def plan_baseline_runs(catalog: Catalog, latest) -> list[tuple[str, str, str]]:
    """(asset, partition, run_key) for what is stale: a model's base_logits older than its base rung's
    GGUF, and a rung's distribution_shift older than its GGUF or its model's base_logits.
    `latest(asset, partition)` is the storage id of the newest materialization, or None."""
    from quantbench_assets.lib.catalog.entries import variant_key

    runs = []
    for m in catalog.models:
        base_rung = latest("gguf_variant", variant_key(m.name, baseline_quant(m.ladder)))
        if base_rung is None:
            continue  # the base rung is not built yet
        logits = latest("base_logits", m.name)
        if logits is None or logits < base_rung:
            runs.append(("base_logits", m.name, f"base_logits:{m.name}@{base_rung}"))
            continue  # the rungs' KLD waits for the new logits
        for q in m.ladder:
            key = variant_key(m.name, q)
            rung = latest("gguf_variant", key)
            shift = latest("distribution_shift", key)
            if rung is not None and (shift is None or shift < max(rung, logits)):
                runs.append(("distribution_shift", key, f"distribution_shift:{key}@{max(rung, logits)}"))
    return runs


def get_study(name: str) -> Study:
    try:
        return STUDIES[name]
    except KeyError:
        raise StudyError(f"unknown study {name!r} (known: {', '.join(STUDIES)})") from None
