"""`demo` / `run` (a study, planned from the command line's options, then run step by step through
Dagster) and `report` (statistics, marts, charts and the report from what the warehouse holds)."""
from __future__ import annotations

import os
import time

from quantbench_assets.lib.core import paths

from .console import say
from .instance import materializer


def choose_omp_wait(sample_s: float = 1.0) -> str:
    """Let llama.cpp's threads spin briefly if the machine is otherwise idle (lib/engines/omp.py):
    measured over `sample_s` seconds, before llama.cpp loads (libgomp reads its settings then)."""
    import sys

    from quantbench_assets import OMP_FROM_USER
    from quantbench_assets.lib.engines.omp import omp_wait_policy, wait_settings
    from quantbench_assets.lib.measure.speed import LOAD_THRESHOLD, LoadMeter

    if "llama_cpp" in sys.modules:
        return f"OpenMP threads: {omp_wait_policy()} (llama.cpp was loaded already)"
    with LoadMeter() as meter:
        time.sleep(sample_s)
    changes, why = wait_settings(meter.result["other_cpu_share"], OMP_FROM_USER, LOAD_THRESHOLD)
    os.environ.update(changes)
    return f"OpenMP threads: {why}"


def plan_study(args):
    """The study with the command line's overrides, validated against the catalog (no Dagster, no
    warehouse). Raises StudyError with every problem found."""
    from quantbench_assets.lib.catalog.entries import CatalogError, load_catalog
    from quantbench_assets.lib.core.study import ModelPlan, StudyError, get_study

    study = get_study(args.study)
    try:
        catalog = load_catalog(paths.catalog_path(), paths.incoming_dir())
    except CatalogError as e:
        raise StudyError(str(e)) from None
    from quantbench_assets.lib.gguf.ladder import baseline_quant

    known = {m.name for m in catalog.models}
    plans = {p.model: p for p in study.models}
    notes: list[str] = []
    if args.model:
        unknown = [m for m in args.model if m not in known]
        if unknown:
            raise StudyError(f"unknown model(s) {unknown} (catalog: {', '.join(sorted(known))})")
        chosen = [plans.get(m) or ModelPlan(m, tuple(catalog.get(m).ladder)) for m in dict.fromkeys(args.model)]
    else:
        chosen = list(study.models)
    if args.quant:
        from quantbench_assets.lib.catalog.entries import KNOWN_QUANTS, is_known_rung

        bad = [q for q in args.quant if not is_known_rung(q)]
        if bad:
            raise StudyError(f"unknown quant(s) {bad} (known: {', '.join(KNOWN_QUANTS)})")
        narrowed = []
        for p in chosen:
            ladder = catalog.get(p.model).ladder
            rungs = [q for q in ladder if q in args.quant]  # any rung of the catalog ladder, not only the study's
            if not rungs:
                raise StudyError(f"--quant {args.quant} leaves no rung of {p.model} (its catalog ladder: {ladder})")
            base = baseline_quant(ladder)
            if base not in rungs:  # every comparison and the KLD need the baseline rung: evaluate it too
                notes.append(f"{p.model}: adding its baseline rung {base} (comparisons and KLD are against it)")
                rungs.insert(0, base)
            narrowed.append(ModelPlan(p.model, tuple(rungs), p.limit))
        chosen = narrowed
    if args.limit is not None:  # an explicit limit applies to every model
        chosen = [ModelPlan(p.model, p.rungs, args.limit) for p in chosen]
    overrides = {"models": tuple(chosen), "size": args.size, "limit": args.limit,
                 "generation_limit": args.generation_limit, "ppl_windows": args.ppl_windows,
                 "speed_reps": args.speed_reps}
    if args.task:
        overrides["standard_tasks"] = tuple(args.task)
    if args.scorer:
        overrides["standard_scorers"] = tuple(args.scorer)
    study = study.with_overrides(**overrides)
    study.validate(catalog)
    return study, catalog, notes


# ─── running a study ─────────────────────────────────────────────────────────────────────────


def _weights(study, catalog) -> dict:
    """Rough seconds per step on 2 cores, so the ETA scales with the work left (not the step count)."""
    out = {}
    for p in study.models:
        size_b = max(catalog.get(p.model).parameters / 1e9, 0.05)
        # a greedy generation (generate_rescore) costs about 8 loglikelihood items
        per_item = 8 if "generate_rescore" in study.standard_scorers else 1
        items = (p.limit or study.limit or 50) * len(study.standard_tasks) * per_item \
            if "standard_benchmark_samples" in study.assets else 0
        items += study.generation_limit * 5 * 40 if "generation_samples" in study.assets else 0
        # fitted to the cold demo on 2 cores (2026-12-02): SmolLM2-135M 0.33 s an ARC-Easy item, 4 s a
        # perplexity + KLD window; Qwen-1.5B 1.1 s and 16 s; rung builds 3 s and 21-39 s
        out[p.model] = {"base": 2 + 12 * size_b, "build": 3 + 20 * size_b,
                        "logits": 5 + study.ppl_windows * (1 + 4 * size_b),
                        "eval": 5 + (0.25 + 0.55 * size_b) * items + study.ppl_windows * (2 + 9 * size_b)
                        + study.speed_reps * (1.5 + 4.5 * size_b)}
    return out


def run(study, catalog, skip_dbt: bool = False) -> int:
    import dagster as dg

    from quantbench_assets.lib.core.progress import Steps

    t_start = time.time()
    materialize, present = materializer()
    per_rung = [a for a in study.assets if a in present]
    weights = _weights(study, catalog)
    steps: list[tuple[str, float]] = [("catalog: validate, sync partitions", 5)]
    if "hardware_profile" in present:
        steps.append(("this machine: CPU, memory bandwidth", 7))
    for p in study.models:
        w = weights[p.model]
        steps.append((f"{p.model}: base file ({catalog.get(p.model).source.kind})", w["base"]))
        steps += [(f"{p.model} {q}: build rung", w["build"]) for q in p.rungs]
        if "distribution_shift" in per_rung and "base_logits" in present:
            steps.append((f"{p.model}: base-rung logits for KLD", w["logits"]))
        steps += [(f"{p.model} {q}: evaluate", w["eval"]) for q in p.rungs]
    after = [a for a in ("variant_statistics",) if a in present]
    if after:
        steps.append(("statistics across rungs", 10))
    if not skip_dbt:
        steps += [("dbt marts (build + tests)", 20), ("charts, report, site, parquet", 5)]
    progress = Steps([w for _, w in steps], say)
    labels = iter([label for label, _ in steps])
    failures: list[str] = []

    def step(selection, partition=None, config=None) -> bool:
        label = next(labels)
        progress.start()
        err = materialize(selection, partition, config)
        progress.done(label, ok=err is None, note=err or "")
        if err:
            failures.append(f"{label}: {err}")
        return err is None

    step(["model_catalog"])
    if "hardware_profile" in present:
        step(["hardware_profile"])
    for p in study.models:
        if not step(["gguf_base"], p.model):
            for _ in range(len(p.rungs) * 2 + ("distribution_shift" in per_rung and "base_logits" in present)):
                progress.skip(next(labels), "no base file")
            continue
        built = [q for q in p.rungs if step(["gguf_variant"], f"{p.model}__{q}")]
        rung_assets = per_rung
        if "distribution_shift" in per_rung and "base_logits" in present:
            if not built:
                progress.skip(next(labels), "no rung built")
            if not built or not step(["base_logits"], p.model, study.run_config(["base_logits"])):
                rung_assets = [a for a in per_rung if a != "distribution_shift"]
        for q in p.rungs:
            if q not in built:
                progress.skip(next(labels), "rung not built")
                continue
            step(rung_assets, f"{p.model}__{q}", study.run_config(rung_assets, p.limit))
    if after:
        step(after)
    if not skip_dbt:
        load_gpu_results(materialize, present)
        step(dg.AssetSelection.kind("dbt"))
        step(dg.AssetSelection.groups("reports"))
    say(f"finished in {(time.time() - t_start) / 60:.1f} min" + (f" with {len(failures)} failure(s):" if failures else ""))
    for f in failures:
        say(f"  {f}")
    return 1 if failures else 0


def load_gpu_results(materialize, present) -> None:
    """Results measured elsewhere (data/gpu_results, a lent H100) enter only when the user opts in
    (QUANTBENCH_INCLUDE_EXTERNAL=1), through the external_results asset, into tables of their own."""
    if "external_results" not in present or os.environ.get("QUANTBENCH_INCLUDE_EXTERNAL", "").strip().lower() \
            not in ("1", "true", "yes"):
        return
    say("loading results measured on other machines (QUANTBENCH_INCLUDE_EXTERNAL=1): external_results")
    err = materialize(["external_results"])
    if err:
        say(f"  external results not loaded: {err}")


def rebuild_reports() -> int:
    """Statistics, dbt marts, charts and the report from what the warehouse holds (no inference)."""
    import dagster as dg

    materialize, present = materializer()
    load_gpu_results(materialize, present)
    ok = True
    for label, selection in (("statistics", [a for a in ("variant_statistics",) if a in present]),
                             ("dbt marts", dg.AssetSelection.kind("dbt")),
                             ("charts, report, site", dg.AssetSelection.groups("reports"))):
        say(f"building {label}")
        err = materialize(selection)
        if err:
            say(f"  FAILED: {err}")
        ok = err is None and ok
    return 0 if ok else 1
