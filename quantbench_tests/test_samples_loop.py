"""The one per-sample loop (lib/core/samples.py): a miss infers once, a hit never calls the model,
and every inference path keeps the cache keys it had before the loop was shared, so caches written
by earlier runs still hit. The keys below are spelled out as the paths built them before the loop
was factored out: a change to any of them makes these tests fail."""
import pytest

from quantbench_assets.lib.core.cache import SampleCache, sample_key
from quantbench_assets.lib.core.samples import run_samples
from quantbench_assets.lib.scoring.generation import decodings_for, run_generation
from quantbench_assets.lib.scoring.scorers import SCORER_REVISION, run_scorer
from quantbench_assets.lib.scoring.tr125 import run_mc_generation
from quantbench_assets.lib.tasks.benchmarks import load_task
from quantbench_assets.lib.tasks.generation import load_e2e_task

PROV = {"variant": "m__Q8_0", "gguf_sha256": "ab" * 32, "engine_build": "build-x", "n_ctx": 2048}
STORED = {"output": "B", "finish_reason": "stop", "prompt_tokens": 3, "completion_tokens": 1}


class NoModel:
    """An engine whose every call fails: a run that reaches the model is a test failure."""
    name = "no_model"

    def __getattr__(self, name):
        raise AssertionError(f"the model was called ({name}) although every sample is cached")


def _quiet(_msg):
    pass


def test_a_miss_infers_once_and_a_second_run_infers_nothing(tmp_path):
    cache = SampleCache(tmp_path / "s.sqlite")
    calls = []

    def infer(i):
        calls.append(i)
        return {"v": i * i}

    run = lambda: run_samples(range(4), cache=cache, key=lambda i: f"k{i}", infer=infer,  # noqa: E731
                              row=lambda i, k, v: {"i": i, "key": k, **v}, label="t", log=_quiet)
    first = run()
    assert calls == [0, 1, 2, 3] and (cache.hits, cache.misses) == (0, 4)
    assert run() == first and calls == [0, 1, 2, 3] and (cache.hits, cache.misses) == (4, 4)
    cache.close()


def test_tr125_generate_and_rescore_keeps_its_keys(tmp_path):
    task = load_task("arc_easy", "demo", limit=3)
    cache = SampleCache(tmp_path / "s.sqlite")
    for item in task.items:  # TR125's chat key, as written before prompt_method existed
        cache.put(sample_key(gguf=PROV["gguf_sha256"], task=task.name, version=task.version, item=item.item_id,
                             scorer="generate_rescore", decoding={"temperature": 0.0, "max_tokens": 8, "chat": True},
                             build=PROV["engine_build"]), STORED)
    rows = run_mc_generation(NoModel(), task, PROV, cache, _quiet, max_tokens=8, has_chat_template=True)
    assert [r["output"] for r in rows] == ["B"] * 3 and cache.misses == 0


@pytest.mark.parametrize("scorer", ["loglikelihood", "letter_logits"])
def test_the_standard_scorers_keep_their_keys(tmp_path, scorer):
    task = load_task("arc_easy", "demo", limit=3)
    cache = SampleCache(tmp_path / "s.sqlite")
    for item in task.items:
        cache.put(sample_key(gguf=PROV["gguf_sha256"], task=task.name, version=task.version, item=item.item_id,
                             scorer=scorer, decoding={"revision": SCORER_REVISION, "n_ctx": PROV["n_ctx"]},
                             build=PROV["engine_build"]), {"choice_loglikelihoods": "[-1.0, -2.0]"})
    rows = run_scorer(NoModel(), task, scorer, PROV, cache, _quiet, has_chat_template=True)
    assert len(rows) == 3 and cache.misses == 0 and rows[0]["choice_loglikelihoods"] == "[-1.0, -2.0]"


def test_the_generation_tasks_keep_their_keys_free_and_grammar(tmp_path):
    task = load_e2e_task("brief", "json", n=2)
    cache = SampleCache(tmp_path / "s.sqlite")
    for item in task.items:
        for mode in decodings_for(task):
            cache.put(sample_key(gguf=PROV["gguf_sha256"], task=task.name, version=task.version, item=item.id,
                                 scorer="generation", decoding={"temperature": 0.0, "max_tokens": item.max_tokens,
                                                                "decoding": mode},
                                 build=PROV["engine_build"]), {**STORED, "output": f"{item.id} {mode}"})
    rows = run_generation(NoModel(), task, PROV, cache, _quiet)  # no chat prompt is rendered for a hit
    assert len(rows) == 4 and cache.misses == 0
    assert {r["output"] for r in rows} == {f"{it.id} {m}" for it in task.items for m in ("free", "grammar")}


def test_the_rows_of_every_inference_path_fit_their_declared_tables(tmp_path):
    """What the loops return is what the assets write: every key a declared column of its table."""
    from quantbench_assets.lib.core import schemas
    from quantbench_assets.lib.gguf.rungs import provenance
    from quantbench_assets.lib.scoring.benchmark_scoring import score_samples
    from quantbench_assets.lib.scoring.tr125 import score_mc_generation

    manifest = {"variant": "m__Q8_0", "model": "m", "requested": "Q8_0", "obtained": "Q8_0", "sha256": "ab" * 32}
    settings = {"n_threads": 1, "n_ctx": 2048, "seed": 1, "n_gpu_layers": 0, "use_mmap": True, "extra_buffers": False,
                "omp_wait_policy": "PASSIVE"}
    prov = provenance(manifest, "build-x", settings, "2026-12-02T00:00:00+00:00")
    cache = SampleCache(tmp_path / "s.sqlite")
    task = load_task("arc_easy", "demo", limit=2)
    stored = {**STORED, "wall_ms": 1.0, "ttft_ms": 1.0, "prompt_eval_ms": 1.0, "eval_ms": 1.0, "n_fewshot": 0,
              "generated_at": "2026-12-02T00:00:00+00:00"}
    for item in task.items:
        cache.put(sample_key(gguf=prov["gguf_sha256"], task=task.name, version=task.version, item=item.item_id,
                             scorer="generate_rescore", decoding={"temperature": 0.0, "max_tokens": 8, "chat": True},
                             build="build-x"), stored)
    tr125 = run_mc_generation(NoModel(), task, prov, cache, _quiet, max_tokens=8, has_chat_template=True)
    assert schemas.frame("standard_benchmark_samples", tr125).height == 2
    assert len(score_mc_generation(tr125)) == 2
    standard = run_scorer(NoModel(), task, "generate_rescore", {**prov, "logits_all": True}, cache, _quiet,
                          max_tokens=8, has_chat_template=True)
    assert schemas.frame("standard_benchmark_samples", standard).height == 2
    # TR125's rows have one table, the benchmark chain's (no raw.benchmark_samples of their own)
    with pytest.raises(schemas.SchemaError, match="not a declared table"):
        schemas.frame("benchmark_samples", standard)
    assert schemas.frame("standard_benchmark_scores", score_samples(standard)).height == 2
    gen = load_e2e_task("brief", "json", n=1)
    for item in gen.items:
        for mode in decodings_for(gen):
            cache.put(sample_key(gguf=prov["gguf_sha256"], task=gen.name, version=gen.version, item=item.id,
                                 scorer="generation", decoding={"temperature": 0.0, "max_tokens": item.max_tokens,
                                                                "decoding": mode}, build="build-x"),
                      {k: v for k, v in stored.items() if k != "n_fewshot"})
    assert schemas.frame("generation_samples", run_generation(NoModel(), gen, prov, cache, _quiet)).height == 2
