"""A publishable dataset folder: every mart as Parquet in the layout of a Hugging Face dataset repo,
with a dataset card (README.md with YAML front-matter) that gives each table's schema, the provenance
of the numbers, the licence of each source and the commands that produced it.

    <out>/README.md
    <out>/data/<mart>/train-00000-of-00001.parquet      one config per mart (the card's `configs:`)

The folder can be uploaded as it is (`hf upload <user>/<repo> <out> --repo-type dataset`).
"""
from __future__ import annotations

import re
import shutil
from datetime import datetime, timezone
from pathlib import Path

import pyarrow.parquet as pq
import yaml

from ..core import paths
from ..core import warehouse

PARQUET_NAME = "train-00000-of-00001.parquet"
LICENSE = "apache-2.0"  # the marts hold aggregate numbers and identifiers only, no benchmark item text

PRODUCED_BY = """\
```bash
bash scripts/setup.sh                                   # .venv with the pinned version set
bash scripts/demo.sh                                    # build the ladders, evaluate every rung, build the marts
.venv/bin/dagster asset materialize -m quantbench_assets.definitions --select dataset_export
```
The marts are dbt models (`dbt/models/marts/`) built on the DuckDB warehouse the Dagster assets write
(one row per sample in `raw`); this folder is a read-only copy of schema `marts`."""


def mart_docs(models_dir: Path | None = None) -> dict[str, dict]:
    """{mart: {"description": str, "columns": {column: description}}} from dbt's yml files."""
    models_dir = models_dir or paths.dbt_project_dir() / "models" / "marts"
    docs: dict[str, dict] = {}
    for f in sorted(models_dir.glob("*.yml")):
        spec = yaml.safe_load(f.read_text()) or {}
        for model in spec.get("models") or []:
            docs[model["name"]] = {
                "description": " ".join(str(model.get("description") or "").split()),
                "columns": {c["name"]: " ".join(str(c.get("description") or "").split())
                            for c in model.get("columns") or [] if "name" in c},
            }
    return docs


def source_licences(sources_md: Path | None = None) -> list[dict]:
    """The rows of data/benchmarks/SOURCES.md's table: dir, upstream dataset, licence."""
    sources_md = sources_md or paths.benchmarks_dir() / "SOURCES.md"
    if not sources_md.exists():
        return []
    rows = []
    for line in sources_md.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 4 and cells[0] not in ("dir", "") and not set(cells[0]) <= set("-: "):
            rows.append({"files": cells[0], "dataset": cells[1], "license": cells[3]})
    return rows


def _columns_with(con, name: str, schema: str = "raw") -> list[str]:
    return [r[0] for r in con.execute(
        "select distinct table_name from information_schema.columns where table_schema = ? and column_name = ? "
        "order by 1", [schema, name]).fetchall()]


def dataset_provenance(con) -> dict:
    """Models with sha256, engine builds, hardware and the dates of the measurements, as far as the
    warehouse has them (every part is optional)."""
    out: dict = {"models": [], "engine_builds": [], "hardware": [], "first_run": None, "last_run": None}
    if warehouse.table_exists(con, "marts", "dim_model_variants"):
        cols = {r[0] for r in con.execute("select column_name from information_schema.columns where "
                                          "table_schema = 'marts' and table_name = 'dim_model_variants'").fetchall()}
        want = [c for c in ("model", "variant", "quant_requested", "quant_obtained", "gguf_sha256") if c in cols]
        out["models"] = con.execute(f"select {', '.join(want)} from marts.dim_model_variants order by all").pl().to_dicts()
    if warehouse.table_exists(con, "raw", "catalog_models"):
        lic = {r[0]: r[1:] for r in con.execute(
            "select model, license, source_kind from raw.catalog_models").fetchall()}
        for m in out["models"]:
            m["model_license"], m["source_kind"] = lic.get(m.get("model"), (None, None))
    builds = set()
    for t in _columns_with(con, "engine_build"):
        builds |= {r[0] for r in con.execute(f'select distinct engine_build from raw."{t}"').fetchall() if r[0]}
    out["engine_builds"] = sorted(builds)
    if warehouse.table_exists(con, "marts", "dim_hardware"):
        out["hardware"] = con.execute("select * exclude (probed_at) from marts.dim_hardware order by hardware_id"
                                      if _has_col(con, "dim_hardware", "probed_at") else
                                      "select * from marts.dim_hardware").pl().to_dicts()
    dates = []
    for t in _columns_with(con, "run_at"):
        lo, hi = con.execute(f'select min(run_at::varchar), max(run_at::varchar) from raw."{t}"').fetchone()
        dates += [d for d in (lo, hi) if d]
    if dates:
        out["first_run"], out["last_run"] = min(dates)[:10], max(dates)[:10]
    return out


def _has_col(con, table: str, col: str, schema: str = "marts") -> bool:
    return bool(con.execute("select count(*) from information_schema.columns where table_schema = ? and "
                            "table_name = ? and column_name = ?", [schema, table, col]).fetchone()[0])


def _cell(v) -> str:
    return "" if v is None else str(v).replace("|", "\\|").replace("\n", " ")


def _md_table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def dataset_card(tables: dict[str, dict], prov: dict, sources: list[dict], docs: dict[str, dict],
                 built_at: str, pretty_name: str = "quantbench: small LLMs across GGUF quantizations") -> str:
    """README.md for the dataset repo. `tables`: {mart: {"rows": int, "schema": [(column, type)]}}."""
    front = {
        "license": LICENSE,
        "pretty_name": pretty_name,
        "language": ["en"],
        "tags": ["llm-evaluation", "quantization", "gguf", "llama.cpp", "benchmark", "kl-divergence"],
        "size_categories": ["n<1K" if max([t["rows"] for t in tables.values()] or [0]) < 1000 else "1K<n<10K"],
        "configs": [{"config_name": m, "data_files": [{"split": "train", "path": f"data/{m}/*.parquet"}]}
                    for m in tables],
    }
    parts = ["---", yaml.safe_dump(front, sort_keys=False).strip(), "---", "", f"# {pretty_name}", "",
             "Measurements of small language models at several GGUF quantizations (quant ladders built with "
             "llama.cpp's own quantizer, evaluated in process with llama-cpp-python): accuracy with 95% intervals, "
             "KL divergence and perplexity against the base rung, decode speed and memory per machine, TR125 "
             "quality tiers, Pareto fronts and per-budget decisions. One config per table (a dbt mart of the "
             "quantbench warehouse).", "",
             f"Exported {built_at}. Load one table with "
             f"`datasets.load_dataset(\"<user>/<repo>\", \"{next(iter(tables), 'dim_model_variants')}\")` or "
             "read its Parquet file with any Parquet reader.", "",
             "## Tables", "",
             _md_table(["config", "rows", "what one row is"],
                       [[f"[`{m}`](#{m})", t["rows"], docs.get(m, {}).get("description", "")[:200]]
                        for m, t in tables.items()]), "",
             "## Schema", ""]
    for m, t in tables.items():
        d = docs.get(m, {})
        parts += [f"### {m}", "", d.get("description") or "(no description in the dbt docs)", "",
                  _md_table(["column", "type", "description"],
                            [[f"`{c}`", ty, d.get("columns", {}).get(c, "")] for c, ty in t["schema"]]), ""]
    parts += ["## Provenance", ""]
    if prov.get("first_run"):
        parts += [f"Measured between {prov['first_run']} and {prov['last_run']} (UTC dates of the runs).", ""]
    if prov.get("models"):
        cols = [c for c in ("model", "variant", "quant_requested", "quant_obtained", "gguf_sha256", "model_license")
                if c in prov["models"][0]]
        parts += ["### Model files", "", "Every rung is identified by the sha256 of its GGUF file.", "",
                  _md_table(cols, [[r.get(c) for c in cols] for r in prov["models"]]), ""]
    if prov.get("engine_builds"):
        parts += ["### Engine builds", "", *[f"- `{b}`" for b in prov["engine_builds"]], ""]
    if prov.get("hardware"):
        cols = [c for c in ("hardware_id", "cpu_model", "usable_cores", "memory_gib", "gpu_name", "gpu_count",
                            "bandwidth_gb_per_s", "n_variants_measured") if c in prov["hardware"][0]]
        parts += ["### Hardware", "", _md_table(cols, [[r.get(c) for c in cols] for r in prov["hardware"]]), ""]
    parts += ["## Licences", "",
              f"This dataset: {LICENSE} (aggregate scores and identifiers; it contains no benchmark item text). "
              "The benchmark data the scores were measured on keeps its upstream licence:", ""]
    if sources:
        parts += [_md_table(["files", "upstream dataset", "licence"],
                            [[s["files"], s["dataset"], s["license"]] for s in sources]), ""]
    else:
        parts += ["(data/benchmarks/SOURCES.md was not found.)", ""]
    lic = sorted({f"{r.get('model')}: {r.get('model_license')}" for r in prov.get("models", []) if r.get("model_license")})
    if lic:
        parts += ["Models (weights not included):", "", *[f"- {x}" for x in lic], ""]
    parts += ["## How it was produced", "", PRODUCED_BY, ""]
    return "\n".join(parts)


def export_dataset(db_path: Path, out_dir: Path, built_at: str | None = None) -> dict[str, int]:
    """Write out_dir/data/<mart>/*.parquet for every table of schema marts and the card; returns rows per mart.
    The data/ folder is replaced as a whole, so a mart that no longer exists leaves no stale file."""
    built_at = built_at or datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    out_dir.mkdir(parents=True, exist_ok=True)
    data = out_dir / "data"
    if data.exists():
        shutil.rmtree(data)
    tables: dict[str, dict] = {}
    prov: dict = {}
    if Path(db_path).exists():
        with warehouse.connect(db_path, read_only=True) as con:
            names = [r[0] for r in con.execute(
                "select table_name from information_schema.tables where table_schema = 'marts' order by 1").fetchall()]
            for t in names:
                arrow = con.execute(f'select * from marts."{t}"').to_arrow_table()
                (data / t).mkdir(parents=True, exist_ok=True)
                pq.write_table(arrow, data / t / PARQUET_NAME)
                schema = [(c, ty) for c, ty, *_ in con.execute(f'describe marts."{t}"').fetchall()]
                tables[t] = {"rows": arrow.num_rows, "schema": schema}
            prov = dataset_provenance(con)
    card = dataset_card(tables, prov, source_licences(), mart_docs(), built_at)
    (out_dir / "README.md").write_text(card, encoding="utf-8")
    return {t: v["rows"] for t, v in tables.items()}


def front_matter(card: str) -> dict:
    """The YAML front-matter of a dataset card."""
    m = re.match(r"^---\n(.*?)\n---\n", card, re.S)
    if not m:
        raise ValueError("the card has no YAML front-matter")
    return yaml.safe_load(m.group(1))
