"""The catalog: validation errors name file, entry and field; partition keys round-trip."""
from pathlib import Path

import pytest

from quantbench_assets.lib.catalog.entries import (
    CatalogError, load_catalog, parse_variant_key, variant_key,
)

GOOD_ENTRY = """
  - name: tiny
    family: test
    parameters: 1000
    source: {kind: local, path: /tmp/tiny.gguf}
    base_quant: F16
    ladder: [F16, Q8_0]
"""


def write(tmp_path: Path, body: str) -> Path:
    p = tmp_path / "models.yaml"
    p.write_text(body)
    return p


def test_the_shipped_catalog_validates_and_lists_the_demo_models(catalog):
    demo = [m.name for m in catalog.models if m.demo]
    assert demo == ["smollm2-135m-instruct", "qwen2.5-coder-0.5b-instruct"]
    assert "qwen2.5-coder-1.5b-instruct" in [m.name for m in catalog.models]
    # the demo study's ladder: the published Q4_K_M file is the baseline, Q3_K_M and Q2_K real K-quants
    assert catalog.get("qwen2.5-coder-1.5b-instruct").ladder == ["Q4_K_M", "Q3_K_M", "Q2_K"]


def test_variant_keys_round_trip():
    key = variant_key("qwen2.5-coder-0.5b-instruct", "Q4_K_M")
    assert key == "qwen2.5-coder-0.5b-instruct__Q4_K_M"
    assert parse_variant_key(key) == ("qwen2.5-coder-0.5b-instruct", "Q4_K_M")
    with pytest.raises(ValueError, match="not a variant key"):
        parse_variant_key("no-separator")


def test_a_missing_field_names_the_file_the_entry_and_the_field(tmp_path):
    body = "models:\n" + GOOD_ENTRY + """
  - name: broken
    family: test
    source: {kind: local, path: /tmp/x.gguf}
    base_quant: F16
"""
    with pytest.raises(CatalogError) as e:
        load_catalog(write(tmp_path, body))
    msg = str(e.value)
    assert "models.yaml" in msg and "model #2 ('broken')" in msg and "field 'parameters'" in msg


def test_a_bad_sha256_in_a_source_is_named_with_its_path(tmp_path):
    body = "models:\n" + GOOD_ENTRY.replace("path: /tmp/tiny.gguf}", "path: /tmp/tiny.gguf, sha256: xyz}")
    with pytest.raises(CatalogError, match=r"model #1 \('tiny'\): field 'source.sha256'"):
        load_catalog(write(tmp_path, body))


def test_unknown_keys_and_unknown_quants_are_rejected(tmp_path):
    with pytest.raises(CatalogError, match="field 'colour'"):
        load_catalog(write(tmp_path, "models:\n" + GOOD_ENTRY + "    colour: red\n"))
    with pytest.raises(CatalogError, match="unknown quant type"):
        load_catalog(write(tmp_path, "models:\n" + GOOD_ENTRY.replace("[F16, Q8_0]", "[F16, Q9_X]")))


def test_names_that_would_break_partition_keys_are_rejected(tmp_path):
    for bad in ("a__b", "A B", "../x"):
        with pytest.raises(CatalogError, match="field 'name'"):
            load_catalog(write(tmp_path, "models:\n" + GOOD_ENTRY.replace("name: tiny", f"name: '{bad}'")))


def test_duplicate_names_and_yaml_syntax_errors_are_clear(tmp_path):
    with pytest.raises(CatalogError, match="duplicate model name 'tiny'"):
        load_catalog(write(tmp_path, "models:\n" + GOOD_ENTRY + GOOD_ENTRY))
    with pytest.raises(CatalogError, match="YAML syntax error"):
        load_catalog(write(tmp_path, "models: [\n  - name: x\n"))


def test_a_gguf_in_the_drop_folder_becomes_a_local_model(tmp_path):
    incoming = tmp_path / "incoming"
    incoming.mkdir()
    (incoming / "My-Model.Q8_0.gguf").write_bytes(b"GGUF")
    catalog = load_catalog(write(tmp_path, "models:\n" + GOOD_ENTRY), incoming)
    dropped = catalog.get("my-model.q8-0")
    assert dropped.source.kind == "local" and dropped.base_quant == "Q8_0"
