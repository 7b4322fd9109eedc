"""Speed (llama-bench's pp/tg), memory (isolated peak RSS), the roofline and cost, on the real CI model.
The cost formula and the TR125 reproduction of its $/1M rows are dbt unit tests of the one
implementation (int_speed_priced.yml, fct_cost_per_million_tokens.yml); here the real pipeline feeds it.

Sizes are small (pp64, tg16, 3 reps, one thread) so the file runs in well under a minute on a
2-core machine that other jobs share."""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from quantbench_assets.lib.engines.llama import EngineSettings, LlamaCppEngine
from quantbench_assets.lib.measure.hardware import (
    capture_hardware, configured_price, derive_hardware_class, hardware_class, hardware_id, memory_bandwidth,
)
from quantbench_assets.lib.measure.memory import (
    attention_shape, kv_cache_bytes, model_facts, probe_memory, seeds_memory_estimate,
)
from quantbench_assets.lib.measure.speed import (
    BenchSpec, decode_roofline, run_speed_bench, summarize_speed_samples, weight_bytes_read_per_token,
)

SMALL = BenchSpec(n_prompt=64, n_gen=16, reps=3, warmup=1)


@pytest.fixture(scope="module")
def q8(smollm_rung):
    return smollm_rung("Q8_0")


# ─── speed ────────────────────────────────────────────────────────────────────────────────────


def test_speed_bench_gives_positive_rates_with_a_spread_and_leaves_the_engine_usable(q8):
    with LlamaCppEngine(q8.stored.path, EngineSettings(n_ctx=256, n_threads=1)) as eng:
        result = run_speed_bench(eng, SMALL)
        after = eng.generate("The capital of France is", max_tokens=4)
    assert [t.name for t in result.tests()] == ["pp64", "tg16"]
    for test in result.tests():
        assert len(test.wall_ns) == 3 and all(r > 0 for r in test.tok_per_s)
        s = test.summary()
        assert s["sd"] > 0 and s["cv_pct"] > 0
        # the engine's own counter runs inside our clock: Python adds little around it
        for wall_ns, native_ms in zip(test.wall_ns, test.native_ms):
            assert 0.5 * wall_ns / 1e6 < native_ms <= wall_ns / 1e6 * 1.001
    assert len(result.sample_rows()) == 6
    assert result.settings["n_threads"] == 1 and result.settings["extra_buffers"] is False
    assert result.settings["n_gpu_layers"] == 0 and result.settings["n_batch"] > 0
    assert "llama-cpp-python" in result.engine_build
    assert after.completion_tokens >= 1  # the bench cleared its KV cells: generation still works


def test_summary_reports_mean_sd_cv_and_tukey_outliers():
    values = [10.0, 10.1, 9.9, 10.05, 20.0]
    s = summarize_speed_samples(values)
    assert s["mean"] == pytest.approx(np.mean(values))
    assert s["sd"] == pytest.approx(np.std(values, ddof=1))
    assert s["cv_pct"] == pytest.approx(s["sd"] / s["mean"] * 100)
    assert (s["n_outliers_low"], s["n_outliers_high"]) == (0, 1)
    assert s["ci_low"] < s["mean"] < s["ci_high"]


def test_a_bench_spec_without_a_spread_is_refused():
    with pytest.raises(ValueError, match="reps"):
        BenchSpec(reps=1)


# ─── roofline and bandwidth ───────────────────────────────────────────────────────────────────


def test_decode_roofline_is_bytes_per_token_times_rate():
    roof = decode_roofline(weight_bytes=2_000_000_000, tg_tok_per_s=5.0, bandwidth_gb_per_s=20.0)
    assert roof["effective_bandwidth_gb_per_s"] == pytest.approx(10.0)
    assert roof["bandwidth_share_pct"] == pytest.approx(50.0)
    assert roof["roofline_tok_per_s"] == pytest.approx(10.0)
    assert decode_roofline(1, 1.0, None)["bandwidth_share_pct"] is None


def test_tied_embeddings_are_read_in_full_every_token(q8):
    # SmolLM2 has no output.weight: token_embd is the output projection, so every byte is read
    assert weight_bytes_read_per_token(q8.stored.path) == q8.info.tensor_bytes


def test_bandwidth_probe_is_positive_and_hardware_id_is_stable():
    bw = memory_bandwidth(size_bytes=64 * 2**20, reps=2, threads=1)
    assert bw["bandwidth_gb_per_s"] > 0 and len(bw["samples_gb_per_s"]) == 2
    assert bw["bandwidth_gb_per_s"] == max(bw["samples_gb_per_s"])
    hw = capture_hardware()
    assert hw["cpu_model"] and hw["usable_cores"] >= 1 and hw["memory_total_bytes"] > 0
    assert len(hw["hardware_id"]) == 16 and hw["hardware_id"] == capture_hardware()["hardware_id"]
    assert hardware_id({**hw, "usable_cores": hw["usable_cores"] + 1}) != hw["hardware_id"]
    if not any(Path(p, "nvidia-smi").exists() for p in os.environ.get("PATH", "").split(os.pathsep)):
        assert hw["gpu_name"] is None and hw["gpu_count"] == 0


# ─── memory ───────────────────────────────────────────────────────────────────────────────────


@pytest.fixture(scope="module")
def q8_facts(q8):
    return model_facts(q8.stored.path)


def test_kv_cache_bytes_follow_the_gguf_shape(q8, q8_facts):
    shape = attention_shape(q8_facts["metadata"])
    # SmolLM2-135M: 30 layers, 3 KV heads of 64; llama.cpp logs "KV buffer size = 45.00 MiB" at 2048
    assert (shape["n_layer"], set(shape["n_head_kv"]), shape["head_dim_k"]) == (30, {3}, 64)
    assert kv_cache_bytes(shape, 2048) == 45 * 2**20
    assert (q8_facts["n_parameters"], q8_facts["tensor_bytes"]) == (q8.info.n_parameters, q8.info.tensor_bytes)


def test_per_layer_kv_heads_are_summed_layer_by_layer():
    md = {"general.architecture": "x", "x.block_count": "3", "x.attention.head_count": "4",
          "x.attention.head_count_kv": "[2, 2, 0]", "x.embedding_length": "256"}
    assert kv_cache_bytes(attention_shape(md), n_ctx=10) == (2 + 2 + 0) * (64 + 64) * 10 * 2


def test_memory_probe_measures_its_own_peak_above_the_file_size_without_mmap(q8, q8_facts):
    # A large parent: on Linux the child's getrusage ru_maxrss inherits this high-water mark across
    # fork+exec (seen here: 2.0 GB reported for a 0.2 GB child); VmHWM, which the probe uses, does not.
    ballast = np.ones(768 * 2**20 // 8)
    m = probe_memory(q8.stored.path, use_mmap=False, n_ctx=256, n_prompt=32, n_gen=4, threads=1)
    del ballast
    assert m["peak_source"] == "VmHWM"
    assert m["peak_rss_bytes"] > m["file_size_bytes"] == q8.stored.size_bytes
    assert m["model_rss_bytes"] >= m["tensor_bytes"]
    assert m["peak_rss_bytes"] < 700 * 2**20  # the ballast is not counted
    assert m["use_mmap"] is False and m["extra_buffers"] is False
    assert m["kv_cache_bytes"] == kv_cache_bytes(attention_shape(q8_facts["metadata"]), m["n_ctx"])
    assert m["tensor_bytes"] == q8.info.tensor_bytes and m["bits_per_weight"] == q8.info.bits_per_weight
    assert m["seeds_estimate_bytes"] == int(q8.info.n_parameters * q8.info.bits_per_weight / 8 * 1.1)


def test_memory_probe_runs_as_a_module_and_prints_json(q8):
    out = subprocess.run([sys.executable, "-m", "quantbench_assets.lib.measure.memory", str(q8.stored.path), "--mmap", "1",
                          "--n-ctx", "128", "--n-prompt", "8", "--n-gen", "2", "--threads", "1"],
                         capture_output=True, text=True, timeout=120, cwd=Path(__file__).resolve().parents[1])
    assert out.returncode == 0, out.stderr[-1000:]
    import json

    m = json.loads(out.stdout.strip().splitlines()[-1])
    assert m["use_mmap"] is True and m["peak_rss_bytes"] > 0 and m["rss_file_bytes"] > 0


# ─── cost ─────────────────────────────────────────────────────────────────────────────────────


def test_hardware_class_is_derived_and_can_be_set(monkeypatch):
    assert derive_hardware_class({"gpu_name": "NVIDIA H100 80GB HBM3", "gpu_count": 1}) == "gpu-h100"
    assert derive_hardware_class({"gpu_name": "NVIDIA A10G"}) == "gpu-a10g"
    assert derive_hardware_class({"cpu_model": "Intel(R) Xeon(R) Platinum 8488C", "usable_cores": 2}) == "cpu-2core-xeon"
    assert derive_hardware_class({"cpu_model": "AMD EPYC 9R14 96-Core Processor", "usable_cores": 4}) == "cpu-4core-epyc"
    monkeypatch.delenv("QUANTBENCH_HARDWARE_CLASS", raising=False)
    assert hardware_class({"cpu_model": "Intel(R) Xeon(R) CPU", "usable_cores": 2})[0] == "cpu-2core-xeon"
    monkeypatch.setenv("QUANTBENCH_HARDWARE_CLASS", "cpu-4core-xeon")
    assert hardware_class({"cpu_model": "whatever", "usable_cores": 2}) == ("cpu-4core-xeon", "configuration (QUANTBENCH_HARDWARE_CLASS)")
    monkeypatch.delenv("QUANTBENCH_PRICE_PER_HOUR", raising=False)
    assert configured_price() == (None, None)
    monkeypatch.setenv("QUANTBENCH_PRICE_PER_HOUR", "0.12")
    assert configured_price()[0] == 0.12
    monkeypatch.setenv("QUANTBENCH_PRICE_PER_HOUR", "-1")
    with pytest.raises(ValueError):
        configured_price()


def test_seeds_memory_estimate():
    assert seeds_memory_estimate(8_030_000_000, 8.5) == int(8_030_000_000 * 8.5 / 8 * 1.1)


# ─── the assets, the warehouse and dbt ────────────────────────────────────────────────────────


def test_speed_and_memory_assets_feed_the_cost_mart(q8, tmp_path):
    import dagster as dg
    import duckdb

    from quantbench_assets.defs.measure.speed import hardware_profile, memory_probe, speed_runs
    from quantbench_assets.defs.resources import EngineResource, StorageResource, WarehouseResource
    from quantbench_assets.lib.core import paths
    from quantbench_assets.lib.core.store import ArtifactStore
    from quantbench_assets.lib.gguf.rungs import write_manifest

    key = "smollm2-135m-instruct__Q8_0"
    store = ArtifactStore(tmp_path / "artifacts")
    write_manifest(store, key, {"variant": key, "model": "smollm2-135m-instruct", "requested": "Q8_0",
                                "obtained": "Q8_0", "sha256": q8.stored.sha256, "path": str(q8.stored.path)})
    db = tmp_path / "warehouse.duckdb"
    resources = {"engine": EngineResource(n_threads=1, n_ctx=256),
                 "storage": StorageResource(artifacts_dir=str(store.root)),
                 "duckdb": WarehouseResource(database=str(db))}
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions("variants", [key])
    hw = dg.materialize([hardware_profile], resources=resources, instance=instance, run_config={
        "ops": {"hardware_profile": {"config": {"bandwidth_array_mib": 64, "bandwidth_reps": 2}}}})
    assert hw.success
    run = dg.materialize([speed_runs, memory_probe], partition_key=key, resources=resources, instance=instance,
                         run_config={"ops": {
                             "speed_runs": {"config": {"reps": 3, "warmup": 1, "n_prompt": 64, "n_gen": 16}},
                             "memory_probe": {"config": {"n_ctx": 256, "n_prompt": 32, "n_gen": 4, "mmap_modes": [0],
                                                         "threads": 1}}}})
    assert run.success
    checks = {e.check_name: e.passed for e in run.get_asset_check_evaluations()}
    assert checks["speed_samples_complete"] and checks["peak_rss_covers_weights"]

    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("select count(*) from raw.speed_samples where variant = ?", [key]).fetchone()[0] == 6
        tg = con.execute("select mean_tok_per_s, bandwidth_share_pct, hardware_id, n_threads, extra_buffers "
                         "from raw.speed_summary where test = 'tg16'").fetchone()
        assert tg[0] > 0 and tg[1] > 0 and tg[3] == 1 and tg[4] is False
        assert con.execute("select hardware_id from raw.hardware").fetchone()[0] == tg[2]
        assert con.execute("select count(*) from raw.memory_probe").fetchone()[0] == 1

    # dbt: seeds, staging, dim_hardware and the cost implementation build on these rows; tests pass.
    # This CPU's class has no seed price (the seed rows are GPUs and other CPU classes): its cost is
    # null with the reason, never another machine's price (the old mart priced it at every row).
    cls = capture_hardware()["hardware_class"]
    env = {**os.environ, "QUANTBENCH_WAREHOUSE": str(db), "DO_NOT_TRACK": "1"}
    dbt = Path(sys.executable).parent / "dbt"
    select = ("hardware_prices stg_hardware stg_speed_samples stg_speed_summary stg_memory_probe stg_gguf_inventory "
              "stg_external_hardware stg_external_speed_summary dim_hardware int_speed_measured int_speed_priced")

    def build() -> list[tuple]:
        out = subprocess.run(
            [str(dbt), "build", "--project-dir", str(paths.dbt_project_dir()), "--profiles-dir", str(paths.dbt_project_dir()),
             "--target-path", str(tmp_path / "dbt_target"), "--log-path", str(tmp_path / "dbt_logs"),
             "--indirect-selection", "cautious", "--select", select],
            capture_output=True, text=True, env=env, timeout=300)
        assert out.returncode == 0, out.stdout[-3000:]
        with duckdb.connect(str(db), read_only=True) as con:
            return con.execute("select price_id, hardware_class, cost_per_million_tokens_usd, decode_tok_per_s, "
                               "cost_null_reason, speed_flag from intermediate.int_speed_priced").fetchall()

    import csv

    with open(paths.dbt_project_dir() / "seeds" / "hardware_prices.csv", newline="") as f:
        seeded = {r["hardware_class"] for r in csv.DictReader(f)}
    rows = build()
    if cls not in seeded:
        assert len(rows) == 1
        price_id, row_class, cost, tg_rate, reason, _ = rows[0]
        assert price_id is None and cost is None and row_class == cls
        assert reason.startswith(f"no price for hardware class {cls}: set QUANTBENCH_PRICE_PER_HOUR")

    # this machine's price from configuration: hardware_profile records it, the cost uses it
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("QUANTBENCH_PRICE_PER_HOUR", "0.035")
        assert dg.materialize([hardware_profile], resources=resources, instance=instance).success
    rows = build()
    configured = [r for r in rows if r[0] == f"configured:{tg[2]}"]
    assert len(configured) == 1
    assert configured[0][2] == pytest.approx(0.035 / (configured[0][3] * 3600) * 1e6, abs=1e-6)
