"""Reliability and security: each test is one real failure case (a broken file, a broken catalog, a kill -9,
a full disk, two writers, a hostile chat template) and checks that quantbench fails clearly, or recovers,
as RELIABILITY.md states. The model cases use the real CI model (SmolLM2-135M, Q8_0 rung)."""
from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from quantbench_assets.lib.catalog.acquire import acquire_base
from quantbench_assets.lib.core.cache import SampleCache
from quantbench_assets.lib.catalog.entries import (
    KNOWN_QUANTS, CatalogError, HfSource, LocalSource, ModelEntry, load_catalog, parse_variant_key,
)
from quantbench_assets.lib.engines.chat import ChatTemplateError, render_chat
from quantbench_assets.lib.engines.llama import EngineSettings, LlamaCppEngine
from quantbench_assets.lib.scoring.tr125 import run_mc_generation, score_mc_generation
from quantbench_assets.lib.gguf.info import GGUFError, file_type_code, read_gguf
from quantbench_assets.lib.core.paths import PROJECT_ROOT
from quantbench_assets.lib.gguf.quantize import QuantizeError, build_rung, quantize_file
from quantbench_assets.lib.core.store import ArtifactStore, ChecksumError
from quantbench_assets.lib.tasks.benchmarks import TaskError, load_task
from quantbench_assets.lib.gguf.rungs import manifest_path

pytestmark = pytest.mark.timeout(120)

CI_MODEL = "smollm2-135m-instruct"
# One thread: on these 2 shared cores two llama.cpp threads were measured 3-10x slower than one.
SETTINGS = EngineSettings(n_threads=1, n_ctx=1024)


def write_gguf(path: Path, arch: str = "llama", chat_template: str | None = None) -> Path:
    """A tiny GGUF (one 64x64 F32 tensor) written by gguf-py, llama.cpp's own writer."""
    import gguf

    w = gguf.GGUFWriter(str(path), arch)
    w.add_name("tiny")
    w.add_context_length(32)
    if chat_template is not None:
        w.add_chat_template(chat_template)
    w.add_tensor("token_embd.weight", np.arange(4096, dtype=np.float32).reshape(64, 64))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


def run_python(code: str, *args: str, **popen) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code), *args], cwd=PROJECT_ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **popen)


@pytest.fixture(scope="module")
def q8(smollm_rung):
    return smollm_rung("Q8_0")


@pytest.fixture(scope="module")
def engine(q8):
    with LlamaCppEngine(q8.stored.path, SETTINGS) as eng:
        yield eng


# ---- GGUF files --------------------------------------------------------------------------------------

def test_a_truncated_gguf_is_refused_with_the_file_named(tmp_path, smollm_base):
    tiny = write_gguf(tmp_path / "tiny.gguf").read_bytes()
    for cut in (10, 100, len(tiny) // 2, len(tiny) - 1):
        path = tmp_path / f"cut-{cut}.gguf"
        path.write_bytes(tiny[:cut])
        with pytest.raises(GGUFError, match="truncated or corrupt") as err:
            read_gguf(path)
        assert str(path) in str(err.value) and f"({cut} bytes)" in str(err.value)

    # The real model as an interrupted download leaves it. (Cut early: gguf-py parses the whole
    # vocabulary before it notices, seconds per read on these machines; a cut in the tensor data was
    # checked by hand and gives the same error.)
    cut = tmp_path / "smollm-cut.gguf"
    with open(smollm_base.path, "rb") as f:
        cut.write_bytes(f.read(64 << 10))
    with pytest.raises(GGUFError, match=f"{cut}: truncated or corrupt"):
        read_gguf(cut)
    with pytest.raises(RuntimeError, match="could not load .*smollm-cut.gguf.*truncated or corrupt"):
        LlamaCppEngine(cut, SETTINGS)


def test_a_file_named_gguf_that_is_not_one_is_refused_by_its_magic_bytes(tmp_path):
    fake, empty = tmp_path / "model.gguf", tmp_path / "empty.gguf"
    fake.write_bytes(b"PK\x03\x04 a zip file, not a model")
    empty.write_bytes(b"")
    with pytest.raises(GGUFError, match=r"model.gguf: not a GGUF file \(first bytes b'PK\\x03\\x04'"):
        read_gguf(fake)
    with pytest.raises(GGUFError, match=r"empty.gguf: not a GGUF file \(first bytes b''"):
        read_gguf(empty)
    with pytest.raises(RuntimeError, match="could not load .*model.gguf.*not a GGUF file"):
        LlamaCppEngine(fake, SETTINGS)


def test_a_wrong_sha256_stores_nothing_and_names_both_hashes(tmp_path):
    tiny = write_gguf(tmp_path / "tiny.gguf")
    wrong = "ab" * 32
    entry = ModelEntry(name="tiny-local", family="t", parameters=4096, base_quant="F32",
                       source=LocalSource(kind="local", path=str(tiny), sha256=wrong))
    store = ArtifactStore(tmp_path / "artifacts")
    with pytest.raises(ChecksumError) as err:
        acquire_base(entry, store)
    msg = str(err.value)
    assert "model 'tiny-local'" in msg and wrong in msg and str(tiny) in msg and "nothing was stored" in msg
    assert not list((tmp_path / "artifacts").rglob("*.gguf"))
    # The hub path of the same check: test_hub.py::test_a_wrong_sha256_from_the_hub_stores_nothing_and_says_so


def test_an_unknown_architecture_is_refused_before_llama_cpp_loads_it(tmp_path):
    path = write_gguf(tmp_path / "alien.gguf", arch="notarealarch")
    with pytest.raises(GGUFError, match=f"{path}: architecture 'notarealarch' is unknown"):
        read_gguf(path)
    with pytest.raises(RuntimeError, match="could not load .*alien.gguf.*'notarealarch' is unknown"):
        LlamaCppEngine(path, SETTINGS)


def test_a_quant_type_llama_cpp_does_not_know_is_refused_by_the_catalog_and_the_quantizer(tmp_path):
    catalog = tmp_path / "models.yaml"
    catalog.write_text(yaml.safe_dump({"models": [{
        "name": "tiny-q", "family": "t", "parameters": 1, "base_quant": "F32", "ladder": ["Q8_0", "Q9_X"],
        "source": {"kind": "local", "path": "tiny.gguf"}}]}))
    with pytest.raises(CatalogError) as err:
        load_catalog(catalog)
    assert f"{catalog}: invalid catalog" in str(err.value)
    assert "model #1 ('tiny-q'): field 'ladder': " in str(err.value) and "'Q9_X'" in str(err.value)

    with pytest.raises(QuantizeError, match="'Q9_X' is not a llama.cpp file type"):
        quantize_file(tmp_path / "in.gguf", tmp_path / "out.gguf", "Q9_X")
    # and every name the catalog accepts is one llama.cpp's quantizer has
    assert all(file_type_code(q) >= 0 for q in KNOWN_QUANTS)


# ---- the catalog -------------------------------------------------------------------------------------

ENTRY = {"name": "tiny-one", "family": "t", "parameters": 5, "base_quant": "F32",
         "source": {"kind": "local", "path": "tiny.gguf"}}
HF = {"kind": "hf", "repo_id": "org/repo", "filename": "m.gguf", "revision": "a" * 40, "sha256": "0" * 64}


def _without(d: dict, key: str) -> dict:
    return {k: v for k, v in d.items() if k != key}


CATALOG_CASES = {
    # case: (models list, expected fragments of the message)
    "unknown key": ([ENTRY, {**ENTRY, "name": "tiny-two", "tokenizer": "x"}],
                    ["model #2 ('tiny-two')", "field 'tokenizer'", "Extra inputs are not permitted"]),
    "unknown key in the source": ([{**ENTRY, "source": {**HF, "colour": "red"}}],
                                  ["model #1 ('tiny-one')", "field 'source.colour'", "Extra inputs"]),
    "missing field": ([_without(ENTRY, "family")], ["model #1 ('tiny-one')", "field 'family'", "Field required"]),
    "missing source field": ([{**ENTRY, "source": _without(HF, "sha256")}],
                             ["model #1 ('tiny-one')", "field 'source.sha256'", "Field required"]),
    "duplicate names": ([ENTRY, {**ENTRY, "family": "u"}, ENTRY],
                        ["model #2 ('tiny-one'): field 'name': duplicate model name 'tiny-one' (first at model #1)",
                         "model #3 ('tiny-one'): field 'name'"]),
    "separator in a name": ([{**ENTRY, "name": "a__b"}], ["model #1 ('a__b')", "field 'name'", "'__'"]),
    "space and capitals": ([{**ENTRY, "name": "A B"}], ["model #1 ('A B')", "field 'name'", "pattern"]),
    "path in a name": ([{**ENTRY, "name": "../x"}], ["model #1 ('../x')", "field 'name'", "pattern"]),
    "hub file escaping": ([{**ENTRY, "source": {**HF, "filename": "../../etc/passwd"}}],
                          ["field 'source.filename'", "must be a relative path", "'../../etc/passwd'"]),
    "wheel member escaping": ([{**ENTRY, "source": {"kind": "pypi", "sha256": "0" * 64, "parts": [
        {"requirement": "pkg==1.0", "member": "pkg/../../x"}]}}], ["field 'source.parts.0.member'", "'pkg/../../x'"]),
    "absolute wheel member": ([{**ENTRY, "source": {"kind": "pypi", "sha256": "0" * 64, "parts": [
        {"requirement": "pkg==1.0", "member": "/etc/passwd"}]}}], ["field 'source.parts.0.member'", "'/etc/passwd'"]),
}


@pytest.mark.parametrize("case", list(CATALOG_CASES))
def test_a_broken_catalog_entry_is_named_by_file_entry_and_field(case, tmp_path):
    models, fragments = CATALOG_CASES[case]
    path = tmp_path / "models.yaml"
    path.write_text(yaml.safe_dump({"models": models}, sort_keys=False))
    with pytest.raises(CatalogError) as err:
        load_catalog(path)
    msg = str(err.value)
    assert msg.startswith(f"{path}: invalid catalog")
    for fragment in fragments:
        assert fragment in msg, msg


def test_a_yaml_syntax_error_names_the_file_and_the_line(tmp_path):
    path = tmp_path / "models.yaml"
    path.write_text("models:\n  - name: tiny-one\n    family: [unclosed\n")
    with pytest.raises(CatalogError) as err:
        load_catalog(path)
    assert str(err.value).startswith(f"{path}: YAML syntax error") and "line 3" in str(err.value)


def test_a_dropped_file_with_a_one_letter_name_still_loads(tmp_path):
    # Found here: "Q.gguf" became the model name "q", which the name rule refuses, and load_catalog
    # raised a bare pydantic ValidationError for the whole catalog.
    incoming = tmp_path / "incoming"
    incoming.mkdir()
    write_gguf(incoming / "Q.gguf")
    path = tmp_path / "models.yaml"
    path.write_text(yaml.safe_dump({"models": [ENTRY]}))
    assert [m.name for m in load_catalog(path, incoming).models] == ["tiny-one", "model-q"]


# ---- benchmark data ----------------------------------------------------------------------------------

@pytest.fixture
def task_data(tmp_path, monkeypatch):
    """A private data folder with one ARC-format task whose dataset file the test writes."""
    data = tmp_path / "data"
    (data / "tasks" / "subsets").mkdir(parents=True)
    (data / "benchmarks" / "mini").mkdir(parents=True)
    (data / "tasks" / "mini.yaml").write_text(yaml.safe_dump({
        "name": "mini", "version": "1", "lmeval_task": "qb_mini", "format": "arc",
        "sizes": {"demo": {"n": 2}, "full": "all"}, "scorers": ["generate_rescore"],
        "metrics": [{"name": "rescored_accuracy"}]}))
    # its documents come from an lm-eval task, as the shipped ones do (data/lm_eval_tasks/qb_arc_easy.yaml)
    (data / "lm_eval_tasks").mkdir()
    (data / "lm_eval_tasks" / "qb_mini.yaml").write_text(
        (PROJECT_ROOT / "data" / "lm_eval_tasks" / "qb_arc_easy.yaml").read_text()
        .replace("task: qb_arc_easy", "task: qb_mini")
        .replace("{test: ../benchmarks/arc/ARC-Easy/test.jsonl, validation: ../benchmarks/arc/ARC-Easy/validation.jsonl}",
                 "{test: ../benchmarks/mini/test.jsonl}").replace("validation_split: validation", ""))
    monkeypatch.setenv("QUANTBENCH_DATA_DIR", str(data))
    monkeypatch.delenv("QUANTBENCH_BENCHMARKS_DIR", raising=False)
    return data


def arc_row(i: int, **over) -> str:
    row = {"id": f"q{i}", "question": f"Question {i}?", "answerKey": "A",
           "choices": {"label": ["A", "B"], "text": ["yes", "no"]}}
    return json.dumps({**row, **over})


def test_a_malformed_dataset_row_names_the_file_and_the_line(task_data):
    dataset = task_data / "benchmarks" / "mini" / "test.jsonl"
    dataset.write_text(arc_row(1) + "\n" + '{"id": "q2", "question": \n' + arc_row(3) + "\n")
    with pytest.raises(TaskError, match=rf"{dataset}:2: malformed JSON row"):
        load_task("mini", "full")

    dataset.write_text(arc_row(1) + "\n" + arc_row(2, answerKey="E") + "\n")  # gold not among the labels
    with pytest.raises(TaskError, match=rf"{dataset}: row 2 is malformed \(ValueError"):
        load_task("mini", "full")

    dataset.write_text(arc_row(1) + "\n" + json.dumps({"id": "q2", "question": "?"}) + "\n")
    with pytest.raises(TaskError, match=r"row 2 is malformed \(KeyError: 'choices'\)"):
        load_task("mini", "full")


def test_a_missing_dataset_file_is_named(task_data):
    with pytest.raises(TaskError, match=rf"task 'mini': dataset {task_data}/benchmarks/mini/test.jsonl not found"):
        load_task("mini", "full")


def test_an_empty_subset_is_an_error_not_a_zero_row_result(task_data):
    dataset = task_data / "benchmarks" / "mini" / "test.jsonl"
    dataset.write_text(arc_row(1) + "\n" + arc_row(2) + "\n")
    assert [it.item_id for it in load_task("mini", "demo").items] == ["q1", "q2"]

    (task_data / "tasks" / "subsets" / "mini__demo.txt").write_text("\n")  # a stored subset with no ids
    with pytest.raises(TaskError, match="task 'mini' size 'demo': the subset is empty"):
        load_task("mini", "demo")
    with pytest.raises(TaskError, match="the subset is empty"):
        load_task("mini", "full", limit=0)
    dataset.write_text("")
    with pytest.raises(TaskError, match="the subset is empty"):
        load_task("mini", "full")


# ---- model behaviour (real CI model) -----------------------------------------------------------------

def test_max_tokens_is_enforced_on_output_that_never_stops(engine, tmp_path):
    prompt = engine.chat_prompt([{"role": "user", "content": "Laugh."}])
    # A grammar that never reaches an accepting state: end-of-generation is never allowed.
    g = engine.generate(prompt, max_tokens=7, grammar='root ::= "ha" root')
    assert g.finish_reason == "length" and g.completion_tokens == 7
    assert g.text.startswith("ha") and set(g.text) <= {"h", "a"}

    task = load_task("arc_challenge", "demo", limit=1)
    prov = {"variant": f"{CI_MODEL}__Q8_0", "gguf_sha256": "test-max-tokens", "engine_build": engine.build}
    [row] = run_mc_generation(engine, task, prov, SampleCache(tmp_path / "samples.sqlite"), log=lambda _m: None,
                              max_tokens=2)
    assert row["completion_tokens"] <= 2 and row["finish_reason"] in ("length", "stop")


def test_an_empty_output_is_counted_as_zero_tokens_and_scored_as_wrong(engine):
    prompt = engine.chat_prompt([{"role": "user", "content": "Say nothing."}])
    g = engine.generate(prompt, max_tokens=8, grammar='root ::= ""')  # only end-of-generation is allowed
    # Before the fix in engine.generate this reported 2 tokens for an empty output (perf.n_eval + 1).
    assert (g.text, g.finish_reason, g.completion_tokens) == ("", "stop", 0)
    assert g.decode_tok_per_s is None

    base = {"variant": "v__Q8_0", "task": "arc_challenge", "task_version": "1", "scorer": "generate_rescore",
            "n_choices": 4, "gold": "A"}
    scored = score_mc_generation([{**base, "item_id": "empty", "output": ""},
                                  {**base, "item_id": "null", "output": None}])
    assert [(s["raw_letter"], s["extracted_letter"], s["rescored_correct"]) for s in scored] == [
        (None, None, False), (None, None, False)]


def test_bytes_that_are_not_utf8_are_replaced_not_raised(engine):
    # Byte-level BPE has tokens for single bytes of multi-byte characters: alone they are invalid UTF-8.
    lone = next(t for t in range(engine.llm.n_vocab()) if not _is_utf8(engine.llm.detokenize([t])))
    assert "\ufffd" in engine.detokenize([lone])
    assert "\ufffd" in engine.detokenize([lone, lone])
    # and a generation over non-ASCII text returns text, whatever bytes the model emits
    g = engine.generate(engine.chat_prompt([{"role": "user", "content": "Écris «café» en 日本語 ✓"}]), max_tokens=6)
    assert isinstance(g.text, str) and g.completion_tokens <= 6


def _is_utf8(b: bytes) -> bool:
    try:
        b.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


# ---- faults ------------------------------------------------------------------------------------------

EVALUATE_IN_CHILD = """
    import sys
    from pathlib import Path
    from quantbench_assets.lib.core.cache import SampleCache
    from quantbench_assets.lib.engines.llama import EngineSettings, LlamaCppEngine
    from quantbench_assets.lib.scoring.tr125 import run_mc_generation
    from quantbench_assets.lib.tasks.benchmarks import load_task

    model, cache, n, max_tokens = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    eng = LlamaCppEngine(model, EngineSettings(n_threads=1, n_ctx=1024))
    prov = {"variant": "smollm2-135m-instruct__Q8_0", "gguf_sha256": sys.argv[5], "engine_build": eng.build}
    run_mc_generation(eng, load_task("arc_challenge", "demo", limit=n), prov, SampleCache(Path(cache)),
                      log=lambda m: None, max_tokens=max_tokens)
    print("finished all items", flush=True)
"""
N_ITEMS, MAX_TOKENS = 5, 4


def _cached(path: Path) -> int:
    try:
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
        try:
            return con.execute("select count(*) from samples").fetchone()[0]
        finally:
            con.close()
    except sqlite3.OperationalError:  # not created yet
        return 0


def test_a_variant_killed_mid_evaluation_resumes_from_its_cache_with_the_same_results(engine, q8, tmp_path):
    cache_path = tmp_path / "interrupted" / "samples.sqlite"
    child = run_python(EVALUATE_IN_CHILD, str(q8.stored.path), str(cache_path), str(N_ITEMS), str(MAX_TOKENS),
                       q8.stored.sha256)
    deadline = time.monotonic() + 90
    while _cached(cache_path) < 2 and child.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert child.poll() is None, f"the child ended before it could be killed: {child.communicate()}"
    os.kill(child.pid, signal.SIGKILL)
    out, _err = child.communicate(timeout=30)
    assert child.returncode == -signal.SIGKILL and "finished all items" not in out
    done = _cached(cache_path)
    assert 2 <= done < N_ITEMS

    task = load_task("arc_challenge", "demo", limit=N_ITEMS)
    prov = {"variant": f"{CI_MODEL}__Q8_0", "gguf_sha256": q8.stored.sha256, "engine_build": engine.build}
    resumed_cache = SampleCache(cache_path)
    resumed = run_mc_generation(engine, task, prov, resumed_cache, log=lambda _m: None, max_tokens=MAX_TOKENS)
    assert (resumed_cache.hits, resumed_cache.misses) == (done, N_ITEMS - done)  # nothing computed twice

    fresh_cache = SampleCache(tmp_path / "uninterrupted" / "samples.sqlite")
    uninterrupted = run_mc_generation(engine, task, prov, fresh_cache, log=lambda _m: None, max_tokens=MAX_TOKENS)
    assert fresh_cache.misses == N_ITEMS

    def outcome(rows):
        return [(r["item_id"], r["sample_key"], r["output"], r["finish_reason"], r["completion_tokens"]) for r in rows]

    assert outcome(resumed) == outcome(uninterrupted)


def test_quantizing_without_enough_disk_space_leaves_no_file_behind(smollm_base, tmp_path):
    store = ArtifactStore(tmp_path / "artifacts")
    with pytest.raises(QuantizeError, match=r"not enough disk space to quantize to Q8_0: need about \d+ MB, 0 MB free"):
        build_rung(smollm_base, "Q4_1", "Q8_0", store, min_free_bytes=1)
    assert not [p for p in (tmp_path / "artifacts").rglob("*") if p.is_file()]


@pytest.fixture
def small_filesystem(tmp_path):
    """A real 50 MB filesystem (tmpfs), smaller than the 145 MB Q8_0 rung."""
    mnt = tmp_path / "small"
    mnt.mkdir()
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=50M", "tmpfs", str(mnt)], capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {proc.stderr.strip() or proc.returncode}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", str(mnt)], check=False)


def test_a_disk_that_fills_up_while_quantizing_fails_clearly_and_leaves_nothing(smollm_base, small_filesystem):
    store = ArtifactStore(small_filesystem / "artifacts")
    # Told there is space (as when the size estimate is wrong), the disk really fills up mid-write.
    with pytest.raises(QuantizeError) as err:
        build_rung(smollm_base, "Q4_1", "Q8_0", store, threads=1, min_free_bytes=1 << 40)
    assert "-> Q8_0) returned" in str(err.value) and "the disk is full" in str(err.value)
    assert str(small_filesystem) in str(err.value)
    assert not [p for p in small_filesystem.rglob("*") if p.is_file()], "no *.partial and no rung left behind"


WRITE_PARTITIONS = """
    import sys
    import polars as pl
    from quantbench_assets.lib.core import warehouse

    db, variant, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
    for i in range(rounds):
        df = pl.DataFrame({"variant": [variant] * 50, "item": list(range(50)), "round": [i] * 50})
        warehouse.write_partition(db, "samples", df, {"variant": variant},
                                  columns={"variant": "VARCHAR", "item": "BIGINT", "round": "BIGINT"})
    print("wrote", rounds, flush=True)
"""
def test_two_processes_writing_the_warehouse_at_once_both_succeed(tmp_path):
    import duckdb

    db = tmp_path / "warehouse.duckdb"
    # The hazard itself (docs/PLATFORM_NOTES.md): a second process on an open DuckDB file fails, even read-only.
    holder = duckdb.connect(str(db))
    probe = run_python("import sys, duckdb; duckdb.connect(sys.argv[1], read_only=True)", str(db))
    _out, err = probe.communicate(timeout=60)
    holder.close()
    assert probe.returncode != 0 and "Could not set lock" in err

    from quantbench_assets.lib.core import warehouse

    procs = [run_python(WRITE_PARTITIONS, str(db), v, "8") for v in ("a__Q8_0", "b__Q8_0")]
    reads = 0
    while any(p.poll() is None for p in procs):  # this process reads meanwhile: a third party on the file
        try:
            warehouse.read_query(db, "select count(*) as n from raw.samples")
            reads += 1
        except duckdb.CatalogException:  # the table does not exist yet
            pass
        time.sleep(0.01)
    for proc in procs:
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0 and out.startswith("wrote 8"), err
        assert "Could not set lock" not in err
    assert reads > 0
    counts = warehouse.read_query(db, "select variant, count(*) as n, max(round) as r from raw.samples "
                                      "group by variant order by variant")
    assert counts.rows() == [("a__Q8_0", 50, 7), ("b__Q8_0", 50, 7)]


def test_rematerializing_a_partition_gives_the_same_rows_every_time(qb_env, smollm_base):
    import dagster as dg

    from quantbench_assets.defs.gguf.assets import gguf_variant
    from quantbench_assets.defs.resources import EngineResource, StorageResource, WarehouseResource
    from quantbench_assets.defs.scoring.standard import standard_benchmark_samples, standard_benchmark_scores
    from quantbench_assets.lib.core import warehouse

    # The source rung (Q4_1) of the CI model: gguf_variant re-runs without a 12 s re-quantization each time.
    catalog = qb_env / "models.yaml"
    catalog.write_text(yaml.safe_dump({"models": [{
        "name": CI_MODEL, "family": "smollm2", "parameters": 134515008, "base_quant": "Q4_1", "ladder": ["Q4_1"],
        "source": {"kind": "local", "path": str(smollm_base.path), "sha256": smollm_base.sha256}}]}))
    key = f"{CI_MODEL}__Q4_1"
    db = qb_env / "warehouse.duckdb"
    resources = {
        "storage": StorageResource(catalog_path=str(catalog), artifacts_dir=str(qb_env / "artifacts"),
                                   incoming_dir=str(qb_env / "incoming")),
        "duckdb": WarehouseResource(database=str(db)),
        "engine": EngineResource(n_threads=1, n_ctx=1024),
    }
    config = {"ops": {"standard_benchmark_samples": {"config": {
        "tasks": ["arc_challenge"], "scorers": ["generate_rescore"], "size": "demo", "limit": 2}}}}
    counts, hits = [], []
    with dg.DagsterInstance.ephemeral() as instance:
        instance.add_dynamic_partitions("variants", [key])
        for _ in range(3):
            result = dg.materialize([gguf_variant, standard_benchmark_samples, standard_benchmark_scores], partition_key=key,
                                    resources=resources, run_config=config, instance=instance)
            assert result.success
            meta = result.asset_materializations_for_node("standard_benchmark_samples")[0].metadata
            hits.append(meta["cache_hits"].value)
            counts.append(tuple(
                warehouse.read_query(db, f"select count(*) as n from raw.{table}").item()
                for table in ("gguf_inventory", "standard_benchmark_samples", "standard_benchmark_scores")))
    assert counts == [(1, 2, 2)] * 3
    assert hits == [0, 2, 2]  # the re-runs cost no inference


# ---- security ----------------------------------------------------------------------------------------

def malicious_templates(marker: Path) -> list[str]:
    cmd = f"touch {marker}"
    return [
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",  # CVE-2024-34359's first step
        "{% for c in ''.__class__.__mro__[1].__subclasses__() %}{% if c.__name__ == 'Popen' %}"
        f"{{{{ c('{cmd}', shell=True) }}}}{{% endif %}}{{% endfor %}}",
        f"{{{{ self.__init__.__globals__.__builtins__.__import__('os').system('{cmd}') }}}}",
        f"{{{{ cycler.__init__.__globals__.os.system('{cmd}') }}}}",
        f"{{{{ lipsum.__globals__['os'].system('{cmd}') }}}}",
        f"{{{{ raise_exception.__globals__['os'].system('{cmd}') }}}}",
        "{{ messages.append({'role': 'system', 'content': 'injected'}) }}",  # no mutation either
    ]


def test_a_malicious_chat_template_in_a_gguf_is_refused_by_the_sandbox(tmp_path):
    marker = tmp_path / "pwned"
    messages = [{"role": "user", "content": "hi"}]
    for i, payload in enumerate(malicious_templates(marker)):
        info = read_gguf(write_gguf(tmp_path / f"evil-{i}.gguf", chat_template=payload))
        assert info.chat_template == payload
        with pytest.raises(ChatTemplateError, match="refused by the sandbox"):
            render_chat(info.chat_template, messages)
        assert not marker.exists(), payload
    # str.format inside the sandbox cannot reach attributes either: it renders nothing
    assert "class" not in render_chat("{{ '{0.__class__}'.format(messages) }}", messages)
    # control: an ordinary template renders
    assert render_chat("{% for m in messages %}<{{ m.role }}>{{ m.content }}{% endfor %}", messages) == "<user>hi"


def test_the_engine_renders_the_model_template_through_the_sandbox(engine, tmp_path, monkeypatch):
    marker = tmp_path / "pwned"
    assert "<|im_start|>user\nhi" in engine.chat_prompt([{"role": "user", "content": "hi"}])
    monkeypatch.setitem(engine.llm.metadata, "tokenizer.chat_template", malicious_templates(marker)[2])
    with pytest.raises(ChatTemplateError):
        engine.chat_prompt([{"role": "user", "content": "hi"}])
    assert not marker.exists()


def test_the_dagster_webserver_listens_on_loopback_unless_told_otherwise():
    from dagster._cli.dev import dev_command
    from dagster_webserver.cli import DEFAULT_WEBSERVER_HOST

    # `dagster dev` passes --host to the webserver only when given one; the webserver's default is loopback.
    assert dev_command.make_context("dev", [], resilient_parsing=True).params["host"] is None
    assert DEFAULT_WEBSERVER_HOST == "127.0.0.1"


def test_paths_cannot_escape_the_artifact_folder(tmp_path):
    store = ArtifactStore(tmp_path / "artifacts")
    with pytest.raises(ValueError, match="escapes the artifact folder"):
        store.subdir("..", "elsewhere")
    outside = tmp_path / "outside"
    outside.mkdir()
    (tmp_path / "artifacts").mkdir(exist_ok=True)
    (tmp_path / "artifacts" / "link").symlink_to(outside)  # a symlink planted inside the store
    with pytest.raises(ValueError, match="escapes the artifact folder"):
        store.subdir("link")
    with pytest.raises(ValueError, match="not a sha256"):
        store.path_for("../../etc/passwd")
    # A partition key is a file name too (variant manifests): one with a path in it is refused.
    for key in ("../../x__Q8_0", "a/b__Q8_0", "x__y__Q8_0"):
        with pytest.raises(ValueError, match="not a variant key"):
            parse_variant_key(key)
        with pytest.raises(ValueError):
            manifest_path(store, key)
    with pytest.raises(Exception, match="must be a relative path"):
        HfSource(kind="hf", repo_id="o/r", filename="../../etc/passwd", revision="r", sha256="0" * 64)


def test_a_failed_dbt_event_stream_stops_dbt_before_the_warehouse_lock_is_released(catalog_pipeline, monkeypatch):
    """When reading dbt's events fails (a stale manifest raised dagster-dbt's KeyError on an unknown
    node), the dbt process it started is stopped inside the warehouse lock: left running, it held the
    DuckDB file while the next writer ran ("Could not set lock")."""
    import dagster as dg
    from dagster_dbt.core.dbt_cli_invocation import DbtCliInvocation

    started = []

    def failing_stream(self):
        started.append(self.process)
        raise KeyError("test.quantbench.a_node_the_manifest_does_not_know")
        yield  # a generator, as the real stream is

    materialize = catalog_pipeline(lambda catalog: None)
    assert materialize(["model_catalog"]).success
    monkeypatch.setattr(DbtCliInvocation, "stream", failing_stream)
    result = materialize(dg.AssetSelection.kind("dbt"))
    assert not result.success and len(started) == 1
    assert started[0].poll() is not None  # dbt is no longer running when the step has failed
