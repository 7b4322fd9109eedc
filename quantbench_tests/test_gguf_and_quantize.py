"""GGUF files: acquisition from the PyPI wheel, rung building, header facts, bad files."""
import shutil

import pytest

from quantbench_assets.lib.gguf_info import GGUFError, read_gguf
from quantbench_assets.lib.quantize import QuantizeError, build_rung
from quantbench_assets.lib.store import ChecksumError, sha256_file


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
