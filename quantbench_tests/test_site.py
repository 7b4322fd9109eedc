"""The results site, built by the real dbt project from test_marts' known warehouse (plus a small
loglikelihood benchmark table and a hardware row, in the shapes the assets write), then opened from
disk in headless Chromium: every page loads with no console error, every chart draws, and a table
filter changes the rows shown. A site built from an empty warehouse says what to materialize."""
from __future__ import annotations

import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import dagster as dg
import polars as pl
import pytest
from quantbench_assets.defs.resources import WarehouseResource

from quantbench_assets.defs.analysis.assets import variant_statistics
from quantbench_assets.lib.core import paths
from quantbench_assets.lib.reporting import site, site_charts
from quantbench_tests.test_marts import KLD_MEAN, LADDER, foundation_tables, measurement_tables, write_warehouse

CHROMIUM = next((p for p in (shutil.which("chromium"), shutil.which("chromium-browser"), "/usr/bin/chromium")
                 if p and Path(p).exists()), None)


def extra_tables() -> dict[str, pl.DataFrame]:
    """ARC-Easy by loglikelihood for every rung (the demo's sensitive measure) and the CPU the speed
    rows were timed on: the inputs of fct_variant_benchmark_scores and rpt_leaderboard_by_hardware
    that test_marts does not write."""
    scores = [
        {"variant": v, "task": "arc_easy", "task_version": "1", "task_size": "test", "item_id": str(i),
         "scorer": "loglikelihood", "prompt_method": "continuation", "metric": "acc", "gold": "A",
         "prediction": "A" if i in correct else "B", "correct": i in correct, "score": float(i in correct),
         "chance_rate": 0.25, "acc": i in correct, "acc_norm": i in correct}
        for v, (_, _, _, _, _, correct) in LADDER.items() for i in range(200)
    ]
    hardware = pl.DataFrame([{"hardware_id": "cpu-test", "cpu_model": "Test CPU (2 cores)", "gpu_name": None,
                              "bandwidth_gb_per_s": 20.0, "usable_cores": 2}])
    run = {"engine_build": "test", "n_threads": 2, "run_at": "2026-11-22T10:00:00"}
    corpus = {"corpus": "wikitext-2-raw-v1", "corpus_sha256": "173c87a5", "method_version": "1", "n_ctx": 512,
              "n_windows": 8}
    ppl, shift = [], []
    for v, (m, q, _, _, sha, _) in LADDER.items():
        base = f"{m}__{'F16' if m == 'tiny-lm' else 'Q8_0'}"
        kld = KLD_MEAN.get(v, 0.0) if m == "tiny-lm" else {"twin-lm__Q8_0": 0.0}.get(v, 0.04)
        p = 8.0 * math.exp(kld)
        ident = {"variant": v, "model": m, "quant_requested": q, "quant_obtained": q, "gguf_sha256": sha}
        ppl.append({**ident, **corpus, **run, "n_windows_available": 560, "n_tokens_scored": 2048,
                    "bytes_scored": 9000, "nll_mean": math.log(p), "ppl": p, "ppl_se": 0.1, "bits_per_byte": 1.0,
                    "eval_s": 2.0, "wall_s": 2.5, "tok_per_s": 800.0, "engine": "llama_cpp", "use_mmap": True,
                    "extra_buffers": False})
        shift.append({**ident, **corpus, **run, "base_variant": base, "base_gguf_sha256": LADDER[base][4],
                      "base_cache_key": "k", "top_k": 32, "n_positions": 2048, "ppl": p, "ppl_base": 8.0,
                      "ppl_ratio": p / 8.0, "ppl_ratio_se": 0.001, "ln_ppl_ratio": kld, "ln_ppl_ratio_se": 0.001,
                      "kld_mean": kld, "kld_mean_se": kld / 20, "kld_median": kld / 2, "kld_p99": kld * 10,
                      "kld_max": kld * 30, "same_top_pct": 100 - 60 * kld, "same_top_pct_se": 0.5,
                      "delta_p_mean_pp": -kld, "delta_p_mean_pp_se": 0.1, "delta_p_rms_pp": 2 * kld,
                      "check_windows": 1, "kld_full_mean_check": kld, "kld_topk_mean_check": kld,
                      "kld_topk_gap_pct": 0.1})
    return {"standard_benchmark_scores": pl.DataFrame(scores), "hardware": hardware,
            "perplexity": pl.DataFrame(ppl), "distribution_shift": pl.DataFrame(shift)}


def dbt_build(db: Path, target: Path, marts) -> subprocess.CompletedProcess:
    """test_marts.dbt_build, for the site's marts and what they read."""
    env = {**os.environ, "QUANTBENCH_WAREHOUSE": str(db), "DO_NOT_TRACK": "1",
           "PATH": str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", "")}
    project = paths.dbt_project_dir()
    return subprocess.run(
        ["dbt", "build", "--project-dir", str(project), "--profiles-dir", str(project),
         "--target-path", str(target / "target"), "--log-path", str(target / "logs"),
         "--select", *[f"+{m}" for m in marts], "--indirect-selection", "cautious",
         "--exclude-resource-type", "unit_test"],
        env=env, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def site_warehouse(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("site")
    db = tmp / "warehouse.duckdb"
    measurements = measurement_tables()
    # test_marts' superseded run keeps its hardware_id null; one machine here, so the latest run only
    measurements["speed_summary"] = measurements["speed_summary"].filter(pl.col("run_at") >= "2026-11-22") \
        .with_columns(pl.lit("cpu-test").alias("hardware_id"), pl.lit(0).alias("n_gpu_layers"))
    foundation = foundation_tables()
    if "baseline_variant" not in foundation["catalog_models"].columns:  # the catalog asset writes it now
        foundation["catalog_models"] = foundation["catalog_models"].with_columns(
            (pl.col("model") + "__" + pl.col("base_quant")).alias("baseline_variant"))
    extra = extra_tables()  # ARC-Easy's loglikelihood rows next to the foundation's generate_rescore rows
    extra["standard_benchmark_scores"] = pl.concat([foundation["standard_benchmark_scores"],
                                                    extra["standard_benchmark_scores"]], how="diagonal_relaxed")
    write_warehouse(db, {**foundation, **measurements, **extra})
    variant_statistics(context=dg.build_asset_context(), duckdb=WarehouseResource(database=str(db)))
    build = dbt_build(db, tmp, site.SITE_MARTS)
    assert build.returncode == 0, build.stdout[-6000:]
    return db


@pytest.fixture(scope="module")
def built_site(site_warehouse, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("site_out") / "site"
    site.build_site(site.read_marts(site_warehouse), out, "test")
    return out


def test_every_site_mart_has_rows_in_the_test_warehouse(site_warehouse):
    marts = site.read_marts(site_warehouse)
    assert [m for m, df in marts.items() if df is None] == []


def test_the_site_is_self_contained_and_leads_with_the_decision(built_site, site_warehouse):
    assert sorted(p.name for p in built_site.glob("*.html")) == ["charts.html", "index.html", "tables.html"]
    assert (built_site / "assets" / "plotly.min.js").stat().st_size > 1_000_000
    assert (built_site / "assets" / "LICENSE.tabulator").exists()
    for page in built_site.glob("*.html"):
        text = page.read_text()
        # nothing fetched from the network: every script and stylesheet is a relative file
        assert "http://" not in text.split("<main>")[0] and "https://" not in text.split("<main>")[0]
        assert "no data yet" not in text, page.name
    index = (built_site / "index.html").read_text()
    assert index.index("Decision") < index.index("Leaderboard")
    # every pick of the decision mart is in its budget's row, with its verdict
    decision = index.split('<table class="decision">')[1].split("</table>")[0]
    matrix = site.read_marts(site_warehouse)["fct_decision_matrix"]
    for r in matrix.to_dicts():
        row = decision.split(f"<th>{r['budget_label']}</th>")[1].split("</tr>")[0]
        assert f"<b>{r['recommended_label']}</b>" in row and f">{r['verdict']}</span>" in row


def test_an_empty_warehouse_gives_pages_that_say_what_to_materialize(tmp_path):
    marts = site.read_marts(tmp_path / "absent.duckdb")
    assert set(marts) == set(site.SITE_MARTS) and all(v is None for v in marts.values())
    site.build_site(marts, tmp_path / "site")
    charts = (tmp_path / "site" / "charts.html").read_text()
    assert charts.count('class="nodata"') == len(site_charts.CHARTS)
    assert "no data yet: materialize <code>marts/fct_variant_distribution_shift</code>" in charts
    assert "no data yet: materialize <code>marts/fct_decision_matrix</code>" in (tmp_path / "site" / "index.html").read_text()


def test_a_mart_with_other_columns_than_expected_does_not_break_the_page(built_site, site_warehouse, tmp_path):
    marts = site.read_marts(site_warehouse)
    marts["fct_quality_tiers"] = marts["fct_quality_tiers"].with_columns(pl.lit(1).alias("a_new_column"))
    marts["fct_pareto_frontier"] = marts["fct_pareto_frontier"].drop("quality")  # renamed upstream, say
    site.build_site(marts, tmp_path / "site")
    charts = (tmp_path / "site" / "charts.html").read_text()
    assert "no data yet: materialize <code>marts/fct_pareto_frontier</code>" in charts
    assert "a_new_column" in (tmp_path / "site" / "tables.html").read_text()


# ─── in the browser ─────────────────────────────────────────────────────────────────────────────


@pytest.fixture(scope="module")
def browser():
    if CHROMIUM is None:
        pytest.skip("chromium is not installed (scripts/setup.sh installs it: apt-get install -y chromium)")
    playwright = pytest.importorskip("playwright.sync_api")
    with playwright.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True,
                              args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"])
        yield b
        b.close()


def open_page(browser, path: Path):
    """Load a page from file://, refusing every non-file request; returns (page, console errors)."""
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    errors: list[str] = []
    page.on("console", lambda m: errors.append(f"console.{m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(f"pageerror: {e}"))
    page.on("requestfailed", lambda r: errors.append(f"requestfailed: {r.url}"))
    page.route("**/*", lambda route: route.continue_() if route.request.url.startswith(("file:", "data:"))
               else (errors.append(f"network: {route.request.url}"), route.abort()))
    page.goto(path.resolve().as_uri(), wait_until="load")
    return page, errors


@pytest.mark.parametrize("name", ["index.html", "charts.html", "tables.html"])
def test_every_page_loads_from_disk_with_no_console_error(browser, built_site, name):
    page, errors = open_page(browser, built_site / name)
    page.wait_for_timeout(500)
    assert page.locator("header nav a").count() == 3
    n_tables = page.locator(".grid").count()
    assert page.locator(".grid .tabulator-row").count() >= n_tables  # every table drew rows
    assert errors == []
    page.close()


def test_each_chart_renders_svg(browser, built_site):
    page, errors = open_page(browser, built_site / "charts.html")
    charts = page.locator("div.plotly-graph-div")
    assert charts.count() == len(site_charts.CHARTS)
    for i in range(charts.count()):
        chart = charts.nth(i)
        chart.locator("svg.main-svg").first.wait_for(timeout=15_000)
        # drawn marks, not an empty frame: scatter points, lines or heatmap cells
        marks = chart.locator("g.trace path, g.trace image, g.hm image, path.point")
        assert marks.count() > 0, chart.get_attribute("id")
    assert errors == []
    page.close()


def test_a_filter_changes_the_rows_shown(browser, built_site, site_warehouse):
    n = site.read_marts(site_warehouse)["fct_quality_tiers"].height
    page, errors = open_page(browser, built_site / "tables.html")
    count = page.locator("#t-tiers-count")
    assert count.inner_text() == f"{n} of {n} rows"
    rows = page.locator("#t-tiers .tabulator-row")
    assert rows.count() == n
    # the text filter under the "variant" header
    header = page.locator('#t-tiers .tabulator-col[tabulator-field="variant"] input')
    header.press_sequentially("twin")  # as typed: Tabulator filters on key presses
    page.wait_for_function("document.querySelector('#t-tiers-count').textContent.startsWith('3 ')")
    assert rows.count() == 3
    assert set(page.locator('#t-tiers .tabulator-row [tabulator-field="variant"]').all_inner_texts()) == {
        "twin-lm__Q8_0", "twin-lm__Q3_K_S", "twin-lm__Q2_K"}
    header.fill("")
    header.press("Backspace")
    page.wait_for_function(f"document.querySelector('#t-tiers-count').textContent.startsWith('{n} ')")
    # sorting by a header click reorders the rows
    page.locator('#t-tiers .tabulator-col[tabulator-field="benchmark_delta_pp"] .tabulator-col-title').click()
    shown = page.locator('#t-tiers .tabulator-row [tabulator-field="benchmark_delta_pp"]').all_inner_texts()
    values = [float(v) for v in shown if v.strip()]
    assert len(values) >= 4 and values == sorted(values)
    # the drop-down filter on "model" (values looked up from the data)
    page.locator('#t-tiers .tabulator-col[tabulator-field="model"] input').click()
    page.locator(".tabulator-edit-list-item", has_text="tiny-lm").first.click()
    page.wait_for_function("document.querySelector('#t-tiers-count').textContent.startsWith('4 ')")
    assert set(page.locator('#t-tiers .tabulator-row [tabulator-field="model"]').all_inner_texts()) == {"tiny-lm"}
    assert errors == []
    page.close()


def test_the_accuracy_chart_draws_each_task_and_scorer_once(site_warehouse):
    """TR125's generate_rescore scores are rows of the benchmark chain: the chart shows them in their
    task's panel next to the loglikelihood task, not a second time under another name."""
    marts = site.read_marts(site_warehouse)
    chart = site_charts.accuracy_vs_bpw_figure(marts)
    panels = {a.text for a in chart.figure.layout.annotations}
    assert panels == {"arc_easy (loglikelihood)", "mmlu (generate_rescore)", "arc_challenge (generate_rescore)"}
    # one point per rung and panel: no rung is drawn twice in one panel
    scored = marts["fct_variant_benchmark_scores"].filter(pl.col("is_primary")).select("variant", "task", "scorer")
    assert sum(len(t.x) for t in chart.figure.data if t.name != "chance") == scored.unique().height == 3 * 7 + 2 * 2


def test_the_reports_accuracy_chart_reads_every_tasks_primary_metric(site_warehouse):
    """The report's PNG of accuracy vs bits per weight reads the benchmark chain's scores, so a demo
    scored by loglikelihood alone gets it too (it read TR125's generation rows only)."""
    from quantbench_assets.defs.reporting.assets import chart_inputs

    marts = site.read_marts(site_warehouse, ("fct_variant_benchmark_scores",))
    marts["fct_variant_benchmark_scores"] = marts["fct_variant_benchmark_scores"].filter(pl.col("scorer") == "loglikelihood")
    _, frame = chart_inputs(marts)["accuracy_vs_bpw"]
    assert set(frame["task"]) == {"arc_easy (loglikelihood)"} and frame.height == len(LADDER)
    assert frame["accuracy"].is_between(0, 1).all()
