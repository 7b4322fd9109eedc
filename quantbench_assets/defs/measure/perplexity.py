"""Perplexity on WikiText-2 and the shift of each rung's next-token distribution from its model's base
rung (llama-perplexity's method and its --kl-divergence statistics). Thin wrappers over
lib/measure: the base rung's top-k log-probabilities are cached once per model in the artifact
store, every rung of that model is compared with the cache, and every window's result goes through
the per-sample cache, so re-materializing a finished rung loads no model and evaluates nothing."""

from dataclasses import replace
from datetime import datetime, timezone

import dagster as dg
import numpy as np
import polars as pl
from pydantic import Field

from quantbench_assets.lib.catalog.entries import parse_variant_key
from quantbench_assets.lib.core import paths, warehouse
from quantbench_assets.lib.core.cache import SampleCache
from quantbench_assets.lib.core.progress import Progress
from quantbench_assets.lib.core.samples import Lazy
from quantbench_assets.lib.core.store import ArtifactStore, sha256_file
from quantbench_assets.lib.engines.llama import EngineSettings, LlamaCppEngine, engine_build_string
from quantbench_assets.lib.gguf.rungs import provenance, read_manifest
from quantbench_assets.lib.measure import base_logits as bl
from quantbench_assets.lib.measure import perplexity as ppl
from quantbench_assets.lib.measure import ppl_windows as pw

from ..common import catalog_or_fail, md_table, store_of, rung_or_fail
from ..partitions import models, variants
from ..resources import EngineResource, StorageResource, WarehouseResource


class PerplexityConfig(dg.Config):
    """Defaults are the demo; base_logits and distribution_shift must run with the same values
    (they address the same cache)."""

    n_windows: int = Field(default=8, description="first N windows of WikiText-2 test; 0 = all (SmolLM2: 592 at n_ctx 512)")
    n_ctx: int = Field(default=512, description="window length in tokens; the second half of each window is scored")
    top_k: int = Field(default=256, description="base tokens cached exactly per position")
    tail_bands: int = Field(default=15, description="the rest of the vocabulary in this many log-probability bands "
                                                    "(KLD equal to llama-perplexity's within 1%); 0 = top-k only, "
                                                    "a lower bound on the full KL")
    check_windows: int = Field(default=1, description="distribution_shift: windows where top-k KL is checked against "
                                                      "full-vocabulary KL (0 = no check)")

    def settings(self) -> pw.PerplexitySettings:
        try:
            return pw.PerplexitySettings(n_ctx=self.n_ctx, n_windows=self.n_windows, top_k=self.top_k,
                                         tail_bands=self.tail_bands)
        except pw.PerplexityError as e:
            raise dg.Failure(description=f"invalid perplexity config: {e}") from None


CHECK_COLUMNS = ("check_windows", "kld_full_mean_check", "kld_topk_mean_check", "kld_topk_gap_pct")


def _now() -> str:
    return datetime.now(timezone.utc).isoformat()


def _corpus() -> tuple[bytes, str]:
    path = paths.benchmarks_dir() / pw.CORPUS_RELPATH
    if not path.exists():
        raise dg.Failure(description=f"WikiText-2 test file missing: {path}")
    return pw.read_corpus(path), sha256_file(path)


def _settings(engine: EngineResource, n_ctx: int) -> EngineSettings:
    # EngineResource.open() has no n_ctx argument: the window length is this asset's setting, not the
    # resource's. logits_all stays off: window_logits asks llama.cpp for the scored rows itself.
    if engine.kind != "llama_cpp":
        raise dg.Failure(f"perplexity needs token logits; engine kind {engine.kind!r} is not supported")
    return replace(engine.settings(), n_ctx=n_ctx)


def _lazy(engine: EngineResource, model_path: str, n_ctx: int) -> Lazy:
    """The engine, loaded on the first window (or tokenization) the caches do not hold."""
    settings = _settings(engine, n_ctx)
    return Lazy(lambda: LlamaCppEngine(model_path, settings))


def _base_manifest(store: ArtifactStore, storage: StorageResource, model: str) -> dict:
    """The model's baseline rung (ladder.BASELINE_RULE, decided from the catalog's ladder)."""
    entry = catalog_or_fail(storage).get(model)
    try:
        return read_manifest(store, entry.baseline_variant)
    except FileNotFoundError:
        raise dg.Failure(description=f"{model}: its baseline rung {entry.baseline_quant} is not built; "
                                     f"materialize gguf_variant for {entry.baseline_variant} first") from None


def _windows(store: ArtifactStore, manifest: dict, eng: Lazy, text: bytes, corpus_sha: str, build: str,
             settings: pw.PerplexitySettings) -> pw.Windows:
    """The rung's windows from its tokenized corpus, tokenized once and kept in the artifact store."""
    path = pw.tokens_path(store, pw.tokens_key(manifest["sha256"], corpus_sha, build))
    if path.exists():
        ct = pw.load_tokens(path)
    else:
        ct = pw.tokenize_for_windows(eng(), text)
        pw.save_tokens(path, ct)
    try:
        return pw.make_windows(ct.tokens, settings.n_ctx, settings.n_windows, ct.bos)
    except pw.PerplexityError as e:
        raise dg.Failure(description=str(e)) from None


def _rows(prov: dict, extra: dict, rows: list[dict]) -> pl.DataFrame:
    return pl.DataFrame([{**prov, **extra, **r} for r in rows], infer_schema_length=None)


@dg.asset(
    partitions_def=models, group_name="evaluation", pool="inference",
    deps=[dg.AssetDep("gguf_variant", partition_mapping=dg.AllPartitionMapping())],
    description="The baseline rung's (F16, else BF16, else highest precision) top-k next-token log-probabilities on "
                "WikiText-2, cached in the artifact store by base sha256 + settings.",
)
def base_logits(context: dg.AssetExecutionContext, config: PerplexityConfig, engine: EngineResource,
                storage: StorageResource) -> dg.MaterializeResult:
    store = store_of(storage)
    base = _base_manifest(store, storage, context.partition_key)
    text, corpus_sha = _corpus()
    settings = config.settings()
    path = bl.cache_path(store, bl.cache_key(base["sha256"], settings, corpus_sha))
    if path.exists():
        context.log.info(f"cache already built: {path}")
    else:
        build = engine_build_string()
        with _lazy(engine, base["path"], config.n_ctx) as eng:
            windows = _windows(store, base, eng, text, corpus_sha, build, settings)
            meta = {"base_variant": base["variant"], "base_sha256": base["sha256"], "corpus": pw.CORPUS_NAME,
                    "corpus_sha256": corpus_sha, "method_version": pw.METHOD_VERSION, "engine_build": build,
                    "created_at": _now()}
            progress = Progress(len(windows.tokens), f"base_logits[{base['variant']}]", context.log.info)
            cache = bl.build_base_logits(eng(), windows, config.top_k, meta, progress.step,
                                         tail_bands=config.tail_bands)
        bl.save_base_logits(path, cache)
    cache = bl.load_base_logits(path)
    return dg.MaterializeResult(metadata={
        "base_variant": base["variant"], "base_sha256": base["sha256"], "path": str(path),
        "file_mb": round(path.stat().st_size / 1e6, 2), "n_windows": int(cache.windows.tokens.shape[0]),
        "n_positions": int(cache.nll.size), "top_k": int(cache.ids.shape[-1]),
        "base_ppl": float(np.exp(cache.nll.astype(np.float64).mean())),
        "mean_rest_mass": float(cache.rest.mean()),  # what the top-k leaves out: the KL truncation's reach
    })


# Two assets from one pass, one per table: dagster-dbt maps each dbt source to one asset key and
# rejects two sources sharing a key. Subsettable, so selecting "perplexity" alone works; a table is
# written only when its asset is selected.
@dg.multi_asset(
    name="perplexity", partitions_def=variants, group_name="evaluation", pool="inference", can_subset=True,
    specs=[
        dg.AssetSpec("perplexity", deps=["gguf_variant"],
                     description="Perplexity on WikiText-2 test (llama-perplexity's method) with its standard error "
                                 "and bits per byte: one row per variant. Every window's result is cached (rung, "
                                 "corpus, window tokens, settings, method version, engine build): a re-run of a "
                                 "finished rung evaluates nothing, and tok_per_s is the rate measured when each "
                                 "window was computed."),
        dg.AssetSpec("perplexity_windows", deps=["gguf_variant"],
                     description="The same run, one row per variant per window (NLL sum, PPL, bytes, time)."),
    ],
    check_specs=[dg.AssetCheckSpec("perplexity_is_finite", asset="perplexity", blocking=True,
                                   description="PPL finite and > 1, every window scored")],
)
def perplexity(context: dg.AssetExecutionContext, config: PerplexityConfig, engine: EngineResource,
               storage: StorageResource, duckdb: WarehouseResource):
    key = context.partition_key
    store, manifest = rung_or_fail(storage, key, "perplexity")
    text, corpus_sha = _corpus()
    settings = config.settings()
    build = engine_build_string()
    prov = provenance(manifest, build, _settings(engine, config.n_ctx).as_dict(), _now())
    cache = SampleCache(store.subdir("cache") / "samples.sqlite")
    try:
        with _lazy(engine, manifest["path"], config.n_ctx) as eng:
            windows = _windows(store, manifest, eng, text, corpus_sha, build, settings)
            run = ppl.run_rung(eng, windows, cache=cache, label=f"perplexity[{key}]", log=context.log.info,
                               key_parts={"gguf": manifest["sha256"], "corpus": corpus_sha, "build": build})
            loaded = eng.opened
    finally:
        cache.close()
    extra = {"corpus": pw.CORPUS_NAME, "corpus_sha256": corpus_sha, "method_version": pw.METHOD_VERSION}
    summary = run.perplexity()
    per_window = _rows(prov, extra, run.window_rows())
    selected = context.selected_asset_keys
    with duckdb.connect() as con:
        if dg.AssetKey("perplexity_windows") in selected:
            warehouse.replace_rows(con, "perplexity_windows", per_window, {"variant": key})
        if dg.AssetKey("perplexity") in selected:
            warehouse.replace_rows(con, "perplexity", _rows(prov, extra, [summary]), {"variant": key})
    if dg.AssetKey("perplexity_windows") in selected:
        yield dg.MaterializeResult(asset_key="perplexity_windows", metadata={
            "rows": per_window.height, "window_ppl_min": round(float(per_window["ppl"].min()), 3),
            "window_ppl_max": round(float(per_window["ppl"].max()), 3),
        })
    if dg.AssetKey("perplexity") not in selected:
        return
    yield dg.MaterializeResult(asset_key="perplexity", metadata={
        "ppl": round(summary["ppl"], 4), "ppl_se": round(summary["ppl_se"], 4),
        "bits_per_byte": round(summary["bits_per_byte"], 4), "n_tokens_scored": summary["n_tokens_scored"],
        "tok_per_s": round(summary["tok_per_s"], 1), "gguf_sha256": manifest["sha256"],
        "windows_evaluated": cache.misses, "windows_from_cache": cache.hits, "model_loaded": loaded,
    })
    if dg.AssetCheckKey(dg.AssetKey("perplexity"), "perplexity_is_finite") not in context.selected_asset_check_keys:
        return
    ok = np.isfinite(summary["ppl"]) and summary["ppl"] > 1 and summary["n_windows"] == len(windows.tokens)
    yield dg.AssetCheckResult(check_name="perplexity_is_finite", passed=bool(ok), severity=dg.AssetCheckSeverity.ERROR,
                              metadata={"ppl": summary["ppl"], "n_windows": summary["n_windows"]})


@dg.asset(
    partitions_def=variants, group_name="evaluation", pool="inference",
    deps=["gguf_variant", dg.AssetDep("base_logits", partition_mapping=dg.AllPartitionMapping())],
    check_specs=[dg.AssetCheckSpec("topk_kl_close_to_full", asset="distribution_shift",
                                   description="top-k KL within 20% of full-vocabulary KL on the check windows")],
    description="KL divergence of the rung's next-token distribution from the base rung's (mean, median, "
                "p99, max), same-top-token %, PPL ratio and Δp, as llama-perplexity --kl-divergence reports them. "
                "Every window (and the full-vocabulary check) is cached by rung, base cache and engine build: a "
                "re-run of a finished rung evaluates nothing.",
)
def distribution_shift(context: dg.AssetExecutionContext, config: PerplexityConfig, engine: EngineResource,
                       storage: StorageResource, duckdb: WarehouseResource):
    key = context.partition_key
    model, _ = parse_variant_key(key)
    store, manifest = rung_or_fail(storage, key, "distribution_shift")
    base = _base_manifest(store, storage, model)
    _, corpus_sha = _corpus()
    path = bl.cache_path(store, bl.cache_key(base["sha256"], config.settings(), corpus_sha))
    if not path.exists():
        raise dg.Failure(description=f"distribution_shift[{key}]: no base-logit cache for {base['variant']} with "
                                     f"these settings ({path}); materialize base_logits[{model}] with the same config")
    base_cache = bl.load_base_logits(path)
    n_check = min(config.check_windows, len(base_cache.windows.tokens))
    build = engine_build_string()
    prov = provenance(manifest, build, _settings(engine, config.n_ctx).as_dict(), _now())
    parts = {"gguf": manifest["sha256"], "corpus": corpus_sha, "build": build}
    cache = SampleCache(store.subdir("cache") / "samples.sqlite")
    try:
        with _lazy(engine, manifest["path"], config.n_ctx) as eng, _lazy(engine, base["path"], config.n_ctx) as base_eng:
            run = ppl.run_rung(eng, base_cache.windows, base_cache, count_bytes=False, cache=cache, key_parts=parts,
                               base_key=path.stem, label=f"distribution_shift[{key}]", log=context.log.info)
            check = ppl.truncation_check(eng, base_eng, base_cache, n_check, cache=cache, key_parts=parts,
                                         base_key=path.stem, log=context.log.info) if n_check \
                else dict.fromkeys(CHECK_COLUMNS)
            loaded = eng.opened or base_eng.opened
    finally:
        cache.close()
    row = {
        **prov, "base_variant": base["variant"], "base_gguf_sha256": base["sha256"], "base_cache_key": path.stem,
        "top_k": int(base_cache.ids.shape[-1]), "n_windows": int(base_cache.windows.tokens.shape[0]),
        "corpus": pw.CORPUS_NAME, "corpus_sha256": corpus_sha, "method_version": pw.METHOD_VERSION,
        **run.shift(), **check,
    }
    with duckdb.connect() as con:
        warehouse.replace_rows(con, "distribution_shift", pl.DataFrame([row]), {"variant": key})
    shown = ["kld_mean", "kld_median", "kld_p99", "kld_max", "same_top_pct", "ppl_ratio", "delta_p_rms_pp"]
    yield dg.MaterializeResult(metadata={
        "base_variant": base["variant"], **{c: round(row[c], 6) for c in shown},
        "summary": dg.MetadataValue.md(md_table([{c: f"{row[c]:.5g}" for c in shown}], shown)),
        "windows_evaluated": cache.misses, "windows_from_cache": cache.hits, "model_loaded": loaded,
    })
    gap = check.get("kld_topk_gap_pct")
    yield dg.AssetCheckResult(
        check_name="topk_kl_close_to_full", passed=gap is None or abs(gap) <= 20 or row["kld_mean"] < 1e-6,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"kld_topk_gap_pct": gap if gap is not None else "not checked", "top_k": row["top_k"]},
    )
