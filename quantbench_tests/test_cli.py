"""The command line: bad arguments are refused at once (exit 2, nothing touched), the study presets are
valid against the shipped catalog, progress lines carry a rate-scaled ETA, and a real tiny run prints a
few lines to the terminal while llama.cpp's and Dagster's output goes to the log file it names."""
from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from quantbench_assets import cli
from quantbench_assets.lib.core import paths
from quantbench_assets.lib.catalog.entries import load_catalog
from quantbench_assets.lib.core.progress import Steps
from quantbench_assets.lib.core.study import DEMO, STUDIES, TR125, StudyError, plan_baseline_runs


@pytest.mark.parametrize("argv, says", [
    (["run", "--speed-reps", "1"], "--speed-reps: must be ≥ 2"),
    (["demo", "--limit", "0"], "--limit: must be ≥ 1"),
    (["demo", "--ppl-windows", "x"], "is not a whole number"),
    (["demo", "--study", "nope"], "invalid choice: 'nope'"),
    (["demo", "--size", "huge"], "invalid choice: 'huge'"),
])
def test_malformed_options_exit_2_before_anything_runs(qb_env, capsys, argv, says):
    t0 = time.monotonic()
    with pytest.raises(SystemExit) as exc:
        cli.main(argv)
    assert exc.value.code == 2
    assert says in capsys.readouterr().err
    assert time.monotonic() - t0 < 5
    assert not (qb_env / "warehouse.duckdb").exists() and not list((qb_env / "dagster_home").iterdir())


@pytest.mark.parametrize("argv, says", [
    (["run", "--model", "no-such-model"], "unknown model(s) ['no-such-model']"),
    (["demo", "--quant", "Q9_9"], "unknown quant(s) ['Q9_9']"),
    (["demo", "--task", "no_such_task"], "task 'no_such_task': no task file"),
    (["demo", "--task", "gsm8k"], "task 'gsm8k' admits none of the scorers ['loglikelihood']"),
    (["demo", "--scorer", "generate"], "task 'arc_easy' admits none of the scorers ['generate']"),
    (["run", "--model", "smollm2-135m-instruct", "--quant", "Q6_K"], "leaves no rung of smollm2-135m-instruct"),
])
def test_invalid_choices_exit_2_with_the_reason_and_touch_nothing(qb_env, capsys, argv, says):
    t0 = time.monotonic()
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert says in err and err.startswith(f"quantbench {argv[0]}: error:")
    assert time.monotonic() - t0 < 5
    assert not (qb_env / "warehouse.duckdb").exists() and not list((qb_env / "dagster_home").iterdir())


def test_the_study_presets_are_valid_against_the_shipped_catalog():
    catalog = load_catalog(paths.catalog_path())
    for study in STUDIES.values():
        study.validate(catalog)
    # the demo has a model whose K-quant rungs are real K-quants, and it is not the generation study
    assert any(p.model == "qwen2.5-coder-1.5b-instruct" and "Q2_K" in p.rungs for p in DEMO.models)
    # TR125's generation benchmark is the benchmark chain's generate_rescore scorer, which the demo does not run
    assert "generate_rescore" not in DEMO.standard_scorers and TR125.standard_scorers == ("generate_rescore",)
    assert {"standard_benchmark_samples", "standard_benchmark_scores"} <= set(TR125.assets)
    assert TR125.run_config(["standard_benchmark_samples"])["ops"]["standard_benchmark_samples"]["config"] == {
        "tasks": ["mmlu", "arc_challenge"], "scorers": ["generate_rescore"], "size": "demo", "limit": None}
    cfg = DEMO.run_config(["standard_benchmark_samples", "speed_runs"], limit=7)["ops"]
    assert set(cfg) == {"standard_benchmark_samples", "speed_runs"}
    assert cfg["standard_benchmark_samples"]["config"]["limit"] == 7
    assert cfg["speed_runs"]["config"]["reps"] >= 2


def test_a_study_names_every_problem_at_once():
    from dataclasses import replace

    bad = replace(DEMO, speed_reps=1, ppl_windows=0, size="huge")
    with pytest.raises(StudyError) as e:
        bad.validate(load_catalog(paths.catalog_path()))
    assert all(s in str(e.value) for s in ("speed repetitions", "perplexity windows", "size 'huge'"))


def test_a_narrowed_run_adds_the_baseline_rung_and_says_so(qb_env):
    args = cli.build_parser().parse_args(["run", "--model", "smollm2-135m-instruct", "--quant", "Q2_K", "--limit", "3"])
    study, _catalog, notes = cli.plan_study(args)
    assert [p.rungs for p in study.models] == [("F16", "Q2_K")] and study.models[0].limit == 3
    assert notes and "baseline rung F16" in notes[0]


def test_quant_picks_from_the_catalog_ladder_not_only_the_studys_rungs(qb_env):
    # The demo leaves Qwen-1.5B's Q3_K_M out for time; `--quant Q3_K_M` brings it back.
    args = cli.build_parser().parse_args(["demo", "--model", "qwen2.5-coder-1.5b-instruct", "--quant", "Q3_K_M"])
    study, _catalog, notes = cli.plan_study(args)
    assert "Q3_K_M" not in next(p for p in DEMO.models if p.model == "qwen2.5-coder-1.5b-instruct").rungs
    assert [p.rungs for p in study.models] == [("Q4_K_M", "Q3_K_M")]
    assert notes and "baseline rung Q4_K_M" in notes[0]


def test_progress_lines_scale_the_eta_by_the_work_left():
    now = [0.0]
    lines: list[str] = []
    steps = Steps([10, 30, 60], lines.append, clock=lambda: now[0])
    now[0] = 20.0  # the first step (weight 10) took twice its estimate: the rest should take ~180 s
    steps.done("one")
    assert lines[-1].startswith("[1/3] one: ok in 20s") and "ETA 3m00s" in lines[-1]
    now[0] = 80.0
    steps.done("two", ok=False, note="boom")
    assert "two: FAILED in 1m00s · boom" in lines[-1] and "ETA 2m00s" in lines[-1]
    steps.skip("three", "no input")
    assert lines[-1] == "[3/3] three: skipped (no input)"


def test_the_baseline_sensor_plan_orders_logits_before_kld_and_redoes_stale_ones():
    catalog = load_catalog(paths.catalog_path())
    m = "smollm2-135m-instruct"
    ids = {("gguf_variant", f"{m}__Q8_0"): 5}
    latest = lambda asset, p: ids.get((asset, p))  # noqa: E731
    assert plan_baseline_runs(catalog, latest) == []  # base rung (F16) not built: nothing yet
    ids[("gguf_variant", f"{m}__F16")] = 7
    assert plan_baseline_runs(catalog, latest) == [("base_logits", m, f"base_logits:{m}@7")]
    ids[("base_logits", m)] = 9
    assert sorted(plan_baseline_runs(catalog, latest)) == [
        ("distribution_shift", f"{m}__F16", f"distribution_shift:{m}__F16@9"),
        ("distribution_shift", f"{m}__Q8_0", f"distribution_shift:{m}__Q8_0@9")]
    ids[("distribution_shift", f"{m}__F16")] = ids[("distribution_shift", f"{m}__Q8_0")] = 11
    assert plan_baseline_runs(catalog, latest) == []
    ids[("gguf_variant", f"{m}__Q8_0")] = 12  # a rebuilt rung gets its KLD again, nothing else
    assert plan_baseline_runs(catalog, latest) == [("distribution_shift", f"{m}__Q8_0", f"distribution_shift:{m}__Q8_0@12")]


def test_quiet_to_sends_fd_level_output_to_the_log_and_keeps_the_terminal_for_progress(tmp_path):
    log = tmp_path / "x.log"
    code = ("import ctypes, os, sys; from quantbench_assets import cli\n"
            f"with cli.quiet_to(__import__('pathlib').Path({str(log)!r})):\n"
            "    os.write(2, b'native stderr\\n'); ctypes.CDLL(None).puts(b'native stdout'); print('python print')\n"
            "    cli.say('progress line')\n"
            "print('after')\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=paths.PROJECT_ROOT, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "progress line" in proc.stdout and "after" in proc.stdout
    assert "native" not in proc.stdout + proc.stderr and "python print" not in proc.stdout
    text = log.read_text()
    assert all(s in text for s in ("native stderr", "native stdout", "python print", "progress line"))


@pytest.mark.timeout(900)
def test_a_tiny_real_run_prints_a_few_lines_and_sends_dagster_logs_to_the_log_file(qb_env, smollm_rung):
    """Two rungs of the CI model, 3 items, through Dagster, dbt and the reports."""
    smollm_rung("F16"), smollm_rung("Q8_0")  # built once per machine (shared store), not timed here
    env = {**os.environ, "QUANTBENCH_WAREHOUSE": str(qb_env / "warehouse.duckdb"),
           "DAGSTER_HOME": str(qb_env / "dagster_home"), "QUANTBENCH_REPORTS_DIR": str(qb_env / "reports"),
           "PATH": f"{os.path.dirname(sys.executable)}{os.pathsep}{os.environ.get('PATH', '')}"}
    log = qb_env / "run.log"
    target = paths.dbt_project_dir() / "target"
    before = {p.name for p in target.iterdir()}
    proc = subprocess.run([sys.executable, "-m", "quantbench_assets.cli", "run", "--model", "smollm2-135m-instruct",
                           "--quant", "Q8_0", "--limit", "3", "--ppl-windows", "1", "--log", str(log)],
                          capture_output=True, text=True, env=env, cwd=paths.PROJECT_ROOT, timeout=880)
    out = (proc.stdout + proc.stderr).splitlines()
    assert proc.returncode == 0, "\n".join(out[-30:])
    # dbt's artifacts land in one folder that each build replaces, not a new folder per build
    assert {p.name for p in target.iterdir()} - before <= {"last_build"}
    assert (target / "last_build" / "run_results.json").is_file()
    assert len(out) < 45, "\n".join(out)
    assert not [line for line in out if "llama_model_loader" in line or "DEBUG" in line]
    text = log.read_text()
    # Dagster's event log went to the file, with the progress lines beside it (fd-level capture of
    # llama.cpp's C output is shown by the quiet_to test above: cached rungs print nothing here)
    assert " - dagster - INFO - " in text and "[ 1/" in text
    assert any("the answer" in line for line in out) and any(str(log) in line for line in out)
    assert any("ETA" in line for line in out)
    # the environment named a wait policy (this suite's PASSIVE): the run keeps it and says so
    assert any("OpenMP threads: as set in the environment (OMP_WAIT_POLICY=PASSIVE)" in line for line in out)
