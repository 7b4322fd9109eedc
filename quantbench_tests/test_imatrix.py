"""Importance-matrix rungs ("<QUANT>-imat"): names, the baseline rule, the tools' command lines, and
(when llama.cpp's tools are built: scripts/build_llama_tools.sh) a real -imat rung of the CI model."""
import hashlib
import json
from pathlib import Path

import pytest

from quantbench_assets.lib.catalog.entries import CatalogError, is_known_rung, load_catalog, parse_variant_key
from quantbench_assets.lib.gguf import imatrix as im
from quantbench_assets.lib.gguf.ladder import baseline_quant, ladder_sort_key, precision_rank
from quantbench_assets.lib.gguf.quant_types import base_tensor_type, is_fallback, nominal_bits_per_weight, split_imatrix
from quantbench_assets.lib.gguf.quantize import QuantizeError

CI_MODEL = "smollm2-135m-instruct"


def test_suffix_names_the_same_file_type():
    assert split_imatrix("Q4_K_M-imat") == ("Q4_K_M", True)
    assert split_imatrix("Q4_K_M") == ("Q4_K_M", False)
    assert base_tensor_type("Q4_K_M-imat") == "Q4_K"
    assert nominal_bits_per_weight("Q2_K-imat") == nominal_bits_per_weight("Q2_K")
    assert is_fallback("Q4_K_M-imat", "Q5_0") is True and is_fallback("Q4_K_M-imat", "Q4_K") is False


def test_ladder_accepts_imat_rungs_but_not_float_or_odd_spellings():
    assert is_known_rung("Q4_K_M-imat") and is_known_rung("Q2_K-imat") and is_known_rung("Q4_0-imat")
    for bad in ("F16-imat", "BF16-imat", "Q4_K_M-IMAT", "Q4_K_M-imatrix", "Q9_K-imat"):
        assert not is_known_rung(bad), bad
    assert parse_variant_key(f"{CI_MODEL}__Q4_K_M-imat") == (CI_MODEL, "Q4_K_M-imat")
    with pytest.raises(ValueError):
        parse_variant_key(f"{CI_MODEL}__F16-imat")


def test_precision_ignores_the_suffix_and_an_imat_rung_is_never_the_baseline():
    assert precision_rank("Q4_K_M-imat") == precision_rank("Q4_K_M")
    order = sorted(["Q2_K-imat", "Q4_K_M-imat", "Q8_0", "Q4_K_M", "Q2_K"], key=ladder_sort_key)
    assert order == ["Q8_0", "Q4_K_M", "Q4_K_M-imat", "Q2_K", "Q2_K-imat"]
    assert baseline_quant(["Q4_K_M-imat", "Q4_K_M", "Q3_K_M"]) == "Q4_K_M"
    assert baseline_quant(["Q8_0-imat", "Q4_K_M"]) == "Q4_K_M"  # higher precision, but made with a matrix
    with pytest.raises(ValueError, match="imatrix"):
        baseline_quant(["Q4_K_M-imat"])


def test_catalog_takes_an_imat_ladder(tmp_path):
    sha = "0" * 64
    cat = tmp_path / "models.yaml"
    cat.write_text(f"""models:
  - name: mm
    family: f
    parameters: 1
    source: {{kind: local, path: m.gguf, sha256: "{sha}"}}
    base_quant: Q4_1
    ladder: [F16, Q4_K_M, Q4_K_M-imat]
""")
    entry = load_catalog(cat).get("mm")
    assert entry.baseline_quant == "F16"
    assert "mm__Q4_K_M-imat" in entry.partition_keys()
    cat.write_text(cat.read_text().replace("[F16, Q4_K_M, Q4_K_M-imat]", "[Q4_K_M-imat]"))
    with pytest.raises(CatalogError, match="only imatrix rungs"):
        load_catalog(cat)


def test_command_lines(tmp_path):
    s = im.ImatrixSettings(chunks=8, n_ctx=256, threads=2)
    cmd = im.imatrix_command(Path("/t/llama-imatrix"), Path("/m.gguf"), Path("/c.txt"), Path("/o.gguf"), s)
    assert cmd == ["/t/llama-imatrix", "-m", "/m.gguf", "-f", "/c.txt", "-o", "/o.gguf", "--chunks", "8",
                   "-c", "256", "-b", "256", "-t", "2", "--no-ppl", "--no-repack"]
    q = im.quantize_command(Path("/t/llama-quantize"), Path("/b.gguf"), Path("/r.partial"), "Q4_K_M-imat",
                            Path("/o.gguf"), 0)
    assert q == ["/t/llama-quantize", "--allow-requantize", "--imatrix", "/o.gguf", "/b.gguf", "/r.partial", "Q4_K_M", "1"]


def test_missing_tools_say_how_to_build_them(tmp_path, monkeypatch):
    monkeypatch.setenv(im.TOOLS_DIR_ENV, str(tmp_path))
    assert not im.tools_available()
    with pytest.raises(QuantizeError, match="build_llama_tools.sh"):
        im.tool("llama-imatrix")


def test_calibration_text_is_not_the_kld_text():
    cal = im.default_calibration()
    assert cal.path.exists()
    from quantbench_assets.lib.core import paths
    from quantbench_assets.lib.measure.ppl_windows import CORPUS_RELPATH
    wiki = (paths.benchmarks_dir() / CORPUS_RELPATH).read_bytes()
    assert cal.sha256 != hashlib.sha256(wiki).hexdigest()
    assert cal.path.read_text()[:200] not in wiki.decode()


needs_tools = pytest.mark.skipif(not im.tools_available(),
                                 reason="llama.cpp's tools are not built (bash scripts/build_llama_tools.sh, 15-25 min)")


@needs_tools
def test_real_imat_rung_of_the_ci_model(smollm_base, catalog, artifact_store):
    """SmolLM2's Q4_K_M-imat: built by llama-quantize with a matrix from the calibration text, the same
    obtained types as the plain rung (576-wide rows: the K-quants fall back either way), other bytes."""
    from quantbench_assets.lib.gguf.quantize import build_rung

    base_quant = catalog.get(CI_MODEL).base_quant
    plain = build_rung(smollm_base, base_quant, "Q4_K_M", artifact_store)
    rung, matrix = im.build_imatrix_rung(smollm_base, base_quant, "Q4_K_M-imat", artifact_store,
                                         settings=im.ImatrixSettings(chunks=8))
    assert matrix.calibration == "gsm8k_train_400" and len(matrix.calibration_sha256) == 64
    assert rung.imatrix == matrix.provenance()
    assert "importance matrix" in rung.method
    assert rung.info.quant_obtained == plain.info.quant_obtained
    assert rung.info.tensor_type_histogram == plain.info.tensor_type_histogram
    assert rung.stored.sha256 != plain.stored.sha256
    index = json.loads(next((artifact_store.subdir("rungs")).glob(f"{smollm_base.sha256}__Q4_K_M-imat__*.json")).read_text())
    assert index["imatrix_calibration_sha256"] == matrix.calibration_sha256


def test_imatrix_mart_unit_test_passes(tmp_path):
    """fct_imatrix_effect pairs an -imat rung with its plain sibling (its dbt unit test, on an empty
    private warehouse: the staging views read absent raw tables as empty)."""
    import os
    import subprocess
    import sys

    from quantbench_assets.lib.core import paths

    project = paths.dbt_project_dir()
    env = {**os.environ, "QUANTBENCH_WAREHOUSE": str(tmp_path / "w.duckdb"), "DO_NOT_TRACK": "1",
           "PATH": str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", "")}
    r = subprocess.run(["dbt", "build", "--project-dir", str(project), "--profiles-dir", str(project),
                        "--target-path", str(tmp_path / "target"), "--log-path", str(tmp_path / "logs"),
                        "--select", "+fct_imatrix_effect", "--indirect-selection", "cautious"],
                       env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and "ERROR=0" in r.stdout, r.stdout[-4000:]
    assert "an_imat_rung_pairs_with_its_plain_sibling_only" in r.stdout


@needs_tools
def test_cli_quantizer_without_a_matrix_gives_the_in_process_bytes(smollm_base, catalog, artifact_store, tmp_path):
    """The control for every with/without comparison: llama-quantize without --imatrix writes the very file
    the in-process quantizer does, so a difference between Q4_K_M and Q4_K_M-imat is the matrix's."""
    import subprocess

    from quantbench_assets.lib.gguf.quantize import build_rung

    plain = build_rung(smollm_base, catalog.get(CI_MODEL).base_quant, "Q4_K_M", artifact_store)
    out = tmp_path / "q.gguf"
    subprocess.run([str(im.tool("llama-quantize")), "--allow-requantize", str(smollm_base.path), str(out), "Q4_K_M", "2"],
                   check=True, capture_output=True)
    assert hashlib.sha256(out.read_bytes()).hexdigest() == plain.stored.sha256


@needs_tools
def test_gguf_variant_builds_an_imat_partition_with_its_provenance(qb_env):
    """The asset path: a ladder listing Q4_K_M-imat gives the partition, gguf_variant builds it and
    raw.gguf_inventory carries requested/obtained types and the calibration text's name and sha256."""
    import dagster as dg
    import duckdb
    import yaml

    from quantbench_assets.definitions import defs as load_defs
    from quantbench_assets.defs.resources import StorageResource, WarehouseResource
    from quantbench_assets.lib.core import paths

    catalog = yaml.safe_load(paths.catalog_path().read_text())
    for m in catalog["models"]:
        if m["name"] == CI_MODEL:
            m["ladder"] = ["F16", "Q4_K_M", "Q4_K_M-imat"]
    catalog_path = qb_env / "models.yaml"
    catalog_path.write_text(yaml.safe_dump(catalog))
    (qb_env / "incoming").mkdir()
    defs = load_defs()
    db = qb_env / "warehouse.duckdb"
    resources = {**defs.resources, "duckdb": WarehouseResource(database=str(db)),
                 "storage": StorageResource(catalog_path=str(catalog_path), incoming_dir=str(qb_env / "incoming"))}
    with dg.instance_for_test() as instance:
        assert dg.materialize(list(defs.assets), selection=["model_catalog"], instance=instance,
                              resources=resources).success
        result = dg.materialize(list(defs.assets), selection=["gguf_variant"], partition_key=f"{CI_MODEL}__Q4_K_M-imat",
                                instance=instance, resources=resources, raise_on_error=False)
    assert result.success, [e.step_failure_data.error.message for e in result.all_events if e.is_step_failure]
    con = duckdb.connect(str(db), read_only=True)
    row = con.execute("select quant_requested, quant_obtained, is_quant_fallback, method, imatrix_calibration, "
                      "imatrix_calibration_sha256 from raw.gguf_inventory where variant = ?",
                      [f"{CI_MODEL}__Q4_K_M-imat"]).fetchone()
    con.close()
    assert row[:3] == ("Q4_K_M-imat", "Q5_0", True)
    assert "importance matrix" in row[3]
    assert row[4] == "gsm8k_train_400" and row[5] == im.default_calibration().sha256
