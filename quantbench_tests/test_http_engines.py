"""Engines over HTTP. llama-cpp-python's server, started by our launcher on 127.0.0.1 with the CI model,
runs a benchmark end to end into DuckDB and is compared with the in-process engine (the
backend-equivalence study, as a library call and as the Dagster asset). The Ollama engine runs
against a replay of Ollama's documented API (quantbench_tests/ollama_replay.py): no Ollama here."""
from __future__ import annotations

import json
from datetime import datetime, timezone

import dagster as dg
import duckdb
import httpx
import polars as pl
import pytest

from quantbench_assets.defs.measure.equivalence import backend_equivalence
from quantbench_assets.defs.resources import EngineResource, StorageResource, WarehouseResource
from quantbench_assets.lib.core.cache import SampleCache
from quantbench_assets.lib.engines.llama import EngineSettings, LlamaCppEngine
from quantbench_assets.lib.engines.registry import open_engine
from quantbench_assets.lib.engines.http import HttpEngineError
from quantbench_assets.lib.engines.ollama_engine import NS_PER_MS, OllamaEngine
from quantbench_assets.lib.measure.equivalence import METRICS, run_study
from quantbench_assets.lib.scoring.tr125 import run_mc_generation, score_mc_generation
from quantbench_assets.lib.engines.server import LlamaCppServer, ServerStartError
from quantbench_assets.lib.core.store import ArtifactStore
from quantbench_assets.lib.tasks.benchmarks import load_task
from quantbench_assets.lib.gguf.rungs import provenance, write_manifest
from quantbench_assets.lib.core.warehouse import read_query, write_partition
from quantbench_tests.ollama_replay import (EVAL_NS_PER_TOKEN, LOAD_NS, OllamaReplay, PLACEHOLDER_VERSION,
                                            ReplayModel)

pytestmark = pytest.mark.timeout(120)

# Two cores shared with other jobs: one thread per engine, and a context the ARC prompts fit.
SETTINGS = EngineSettings(n_ctx=1024, n_threads=1)
VARIANT = "smollm2-135m-instruct__Q8_0"


@pytest.fixture(scope="module")
def ci_model(smollm_rung):
    return smollm_rung("Q8_0")


@pytest.fixture(scope="module")
def server(ci_model):
    with LlamaCppServer(ci_model.stored.path, SETTINGS, start_timeout_s=60) as s:
        proc = s.proc
        yield s
    assert proc.poll() is not None, "the server outlived its context"


def manifest_of(rung) -> dict:
    return {"variant": VARIANT, "model": "smollm2-135m-instruct", "requested": "Q8_0", "obtained": "Q8_0",
            "sha256": rung.stored.sha256, "path": str(rung.stored.path)}


# ─── llama-cpp-python's server through the launcher ──────────────────────────────────────────────


def test_the_launcher_serves_the_gguf_on_loopback_under_one_model_id(server):
    assert server.url.startswith("http://127.0.0.1:")
    ids = [m["id"] for m in httpx.get(f"{server.url}/v1/models").json()["data"]]
    assert ids == [server.model]


def test_a_file_the_server_cannot_load_fails_start_up_with_its_log_and_leaves_no_process(tmp_path):
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"GGUF" + b"\0" * 64)
    server = LlamaCppServer(bad, SETTINGS, start_timeout_s=30)
    with pytest.raises(ServerStartError, match="exited with code"):
        server.start()
    assert server.proc is None and server.port is None


def test_five_arc_items_run_through_the_http_engine_into_duckdb(server, ci_model, tmp_path):
    task = load_task("arc_challenge", "demo", limit=5)
    cache = SampleCache(tmp_path / "cache.sqlite")
    with open_engine("openai_http", ci_model.stored.path, SETTINGS, base_url=server.url,
                     model_tag=server.model) as eng:
        prov = provenance(manifest_of(ci_model), eng.build, eng.settings.as_dict(),
                          datetime.now(timezone.utc).isoformat(), engine=eng.name)
        rows = run_mc_generation(eng, task, prov, cache, log=lambda _: None)
    cache.close()
    db = tmp_path / "warehouse.duckdb"
    assert write_partition(db, "standard_benchmark_samples", pl.DataFrame(rows, infer_schema_length=None),
                           {"variant": VARIANT}) == 5
    stored = read_query(db, "select * from raw.standard_benchmark_samples order by item_id")
    assert stored.height == 5
    assert set(stored["engine"]) == {"openai_http"}
    assert stored["engine_build"][0] == "llama-cpp-python server 0.3.36 (openai /v1/completions)"
    assert all(o.strip() for o in stored["output"])
    assert (stored["prompt_tokens"] > 50).all() and (stored["completion_tokens"] >= 1).all()
    assert ((stored["ttft_ms"] > 0) & (stored["ttft_ms"] <= stored["wall_ms"])).all()
    # llama-cpp-python's server reports no timings: native columns stay empty, not guessed
    assert stored["eval_ms"].is_null().all() and stored["prompt_eval_ms"].is_null().all()
    assert len(score_mc_generation(stored.to_dicts())) == 5


def test_the_equivalence_study_compares_both_engines_item_by_item_on_the_ci_model(server, ci_model):
    task = load_task("arc_challenge", "demo", limit=5)
    with open_engine("llama_cpp", ci_model.stored.path, SETTINGS) as a, \
            open_engine("openai_http", ci_model.stored.path, SETTINGS, base_url=server.url,
                        model_tag=server.model) as b:
        study = run_study(a, b, task, log=lambda _: None)
    s = study.summary
    print("\nbackend equivalence, SmolLM2-135M Q8_0, 5 ARC-Challenge items, 1 thread each:\n"
          + json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in s.items()}, indent=1))
    for t in study.tests:
        print(f"  {t['metric']:17} {t['test']:21} differing {t['n_differing']}/{t['n_pairs']} "
              f"median diff {t['median_diff']:.4g}  p {t['p_value']}  holm {t['p_holm']}  {t['reason'] or ''}")
    assert s["n_items"] == 5 and len(study.items) == 5
    # Our GGUF-side renderer gives the in-process engine's prompt byte for byte.
    assert s["prompt_identical_share"] == 1.0
    # Same file, same library, greedy and the same sampling chain: the serving path must not change a
    # single output. (With the server's default repeat_penalty of 1.1, 5 of the first 10 items
    # changed, e.g. a dropped final period: lib/engines/http.py LLAMA_CPP_SAMPLING.)
    assert s["identical_output_share"] == 1.0 and s["identical_answer_share"] == 1.0
    assert s["rescored_accuracy_a"] == s["rescored_accuracy_b"]
    assert [t["metric"] for t in study.tests] == [m for m, _, _ in METRICS]
    for t in study.tests:
        if t["p_value"] is not None:
            assert t["p_value"] <= t["p_holm"] <= 1.0
    by_metric = {t["metric"]: t for t in study.tests}
    assert by_metric["output_chars"]["reason"].startswith("all paired differences are zero")
    assert by_metric["wall_ms"]["n_pairs"] == 5
    assert s["median_overhead_ms"] is not None and s["native_decode_tok_per_s_a"] > 0
    assert s["native_decode_tok_per_s_b"] is None  # this server reports no native timings


def test_the_backend_equivalence_asset_starts_its_own_server_and_writes_both_tables(ci_model, qb_env):
    store = ArtifactStore(qb_env / "artifacts")
    write_manifest(store, VARIANT, manifest_of(ci_model))
    db = qb_env / "warehouse.duckdb"
    resources = {"engine": EngineResource(n_ctx=1024, n_threads=1),
                 "storage": StorageResource(artifacts_dir=str(store.root)),
                 "duckdb": WarehouseResource(database=str(db))}
    config = {"ops": {"backend_equivalence": {"config": {"limit": 2}}}}
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("variants", [VARIANT])
        result = dg.materialize([backend_equivalence], partition_key=VARIANT, instance=instance,
                                resources=resources, run_config=config)
    assert result.success
    con = duckdb.connect(str(db), read_only=True)
    try:
        items = con.execute("select comparison, count(*), bool_and(prompt_identical) "
                            "from raw.backend_equivalence_items group by 1").fetchall()
        tests = con.execute("select metric, n_pairs from raw.backend_equivalence order by metric").fetchall()
    finally:
        con.close()
    assert items == [("llama_cpp_vs_openai_http", 2, True)]
    assert sorted(m for m, _, _ in METRICS) == [m for m, _ in tests] and {n for _, n in tests} == {2}
    meta = result.asset_materializations_for_node("backend_equivalence")[0].metadata
    assert meta["identical_output_share"].value == 1.0
    (check,) = result.get_asset_check_evaluations()
    assert check.check_name == "answers_agree" and check.passed


# ─── the factory and the resource ────────────────────────────────────────────────────────────────


def test_open_engine_names_what_is_missing_for_each_kind():
    with pytest.raises(ValueError, match="unknown engine kind 'vllm'"):
        open_engine("vllm", None)
    with pytest.raises(ValueError, match="base_url"):
        open_engine("openai_http", None)
    with pytest.raises(ValueError, match="model_tag"):
        open_engine("ollama", None)


def test_the_engine_resource_fails_clearly_when_no_server_answers():
    resource = EngineResource(kind="openai_http", base_url="http://127.0.0.1:9")  # discard port: refused
    with pytest.raises(dg.Failure, match="openai_http"):
        resource.open(None)


# ─── Ollama, against the replay ──────────────────────────────────────────────────────────────────

SMOL = ReplayModel("smollm2:135m", digest="a" * 64)


@pytest.fixture
def ollama():
    with OllamaReplay(local=[SMOL], replies={"Question?": "The answer is B. Because"}) as replay:
        yield replay


def test_ollama_streams_a_raw_generation_and_reports_its_ns_timings_in_ms(ollama):
    with open_engine("ollama", None, SETTINGS, base_url=ollama.url, model_tag=SMOL.name) as eng:
        g = eng.generate("Question?", max_tokens=32, seed=7)
    assert g.text == "The answer is B. Because" and g.finish_reason == "stop"
    final = ollama.final_messages[-1]
    assert g.completion_tokens == final["eval_count"] == 5
    assert g.eval_ms == final["eval_duration"] / NS_PER_MS == 5 * EVAL_NS_PER_TOKEN / 1e6
    assert g.prompt_eval_ms == final["prompt_eval_duration"] / 1e6
    assert g.load_ms == LOAD_NS / 1e6 == 12.345678
    assert g.server_total_ms == final["total_duration"] / 1e6
    assert g.decode_tok_per_s == pytest.approx(5 / (g.eval_ms / 1000))
    assert g.timings_source == "server" and 0 < g.ttft_ms < g.wall_ms
    (req,) = ollama.requests_to("/api/generate")
    assert req.body["raw"] is True and req.body["stream"] is True and req.body["prompt"] == "Question?"
    opts = req.body["options"]
    assert (opts["temperature"], opts["top_k"], opts["seed"], opts["num_predict"]) == (0.0, 1, 7, 32)
    assert (opts["repeat_penalty"], opts["num_ctx"], opts["num_thread"]) == (1.0, 1024, 1)
    assert "stop" not in opts  # no stop strings: the client drops the empty option


def test_ollama_without_streaming_stops_at_num_predict_and_stop_strings(ollama):
    eng = OllamaEngine(SMOL.name, host=ollama.url, settings=SETTINGS, stream=False)
    g = eng.generate("Question?", max_tokens=2)
    assert (g.text, g.finish_reason, g.completion_tokens, g.ttft_ms) == ("The answer", "length", 2, None)
    g = eng.generate("Question?", max_tokens=32, stop=["."])
    assert (g.text, g.finish_reason) == ("The answer is B", "stop")
    assert ollama.requests_to("/api/generate")[-1].body["options"]["stop"] == ["."]
    eng.close()


def test_ollama_pulls_a_tag_and_its_digest_enters_the_build(ollama):
    qwen = ReplayModel("qwen2.5-coder:0.5b", digest="b" * 64, quantization_level="Q4_K_M")
    ollama.registry.append(qwen)
    eng = OllamaEngine(qwen.name, host=ollama.url, settings=SETTINGS)
    assert eng.build == f"ollama {PLACEHOLDER_VERSION} (qwen2.5-coder:0.5b (not pulled); raw /api/generate)"
    with pytest.raises(HttpEngineError, match="not found"):
        eng.generate("Question?", max_tokens=4)
    statuses = []
    assert eng.pull(log=statuses.append) == "success"
    assert statuses[0].endswith("pulling manifest") and statuses[-1].endswith("success")
    assert eng.build == f"ollama {PLACEHOLDER_VERSION} (qwen2.5-coder:0.5b@bbbbbbbbbbbb; raw /api/generate)"
    assert eng.generate("Question?", max_tokens=4).completion_tokens == 4
    with pytest.raises(HttpEngineError, match="file does not exist"):
        eng.pull("no-such-model:1b")
    eng.close()


def test_ollama_chat_goes_through_the_servers_template_endpoint(ollama):
    with OllamaEngine(SMOL.name, host=ollama.url, settings=SETTINGS) as eng:
        g = eng.chat([{"role": "user", "content": "Question?"}], max_tokens=8)
        with pytest.raises(NotImplementedError, match="gguf_path"):
            eng.chat_prompt([{"role": "user", "content": "Question?"}])  # no local GGUF given
    assert g.text == "The answer is B. Because" and g.eval_ms == 5 * EVAL_NS_PER_TOKEN / 1e6
    (req,) = ollama.requests_to("/api/chat")
    assert req.body["messages"] == [{"role": "user", "content": "Question?"}]


def test_ollama_renders_chat_prompts_from_the_local_gguf_like_the_in_process_engine(ollama, ci_model):
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Name a colour."}]
    with LlamaCppEngine(ci_model.stored.path, SETTINGS) as local:
        expected = local.chat_prompt(messages)
    with OllamaEngine(SMOL.name, host=ollama.url, gguf_path=ci_model.stored.path, settings=SETTINGS) as eng:
        assert eng.chat_prompt(messages) == expected
