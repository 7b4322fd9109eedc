"""A base model (a GGUF without a chat template) is scored with prompts made for base models, and an
output that restates the prompt is a failure, never a source of answer letters (issue 14, item 9).

The base model is the CI model with its `tokenizer.chat_template` key removed (gguf-py: every other
key and every tensor copied as is), so it runs as fast as the CI model."""
from pathlib import Path

import dagster as dg
import duckdb
import pytest
import yaml
from quantbench_assets.defs.resources import WarehouseResource

from quantbench_assets.lib.core import paths
from quantbench_assets.lib.core.cache import SampleCache
from quantbench_assets.lib.engines.llama import EngineSettings, LlamaCppEngine
from quantbench_assets.lib.scoring.tr125 import run_mc_generation, score_mc_generation
from quantbench_assets.lib.gguf.info import read_gguf
from quantbench_assets.lib.scoring.mc import restatement
from quantbench_assets.lib.scoring.benchmark_scoring import score_samples
from quantbench_assets.lib.scoring.scorers import run_scorer
from quantbench_assets.lib.tasks.benchmarks import load_task

BASE_MODEL = "smollm2-135m-notemplate"
GEN_TOKENS = 8


def copy_without_chat_template(src: Path, dst: Path) -> None:
    """The GGUF at `src` without `tokenizer.chat_template` (gguf-py's gguf_new_metadata recipe)."""
    import gguf

    reader = gguf.GGUFReader(str(src), "r")
    arch = reader.fields[gguf.Keys.General.ARCHITECTURE].contents()
    writer = gguf.GGUFWriter(str(dst), arch=arch, endianess=reader.endianess)
    alignment = reader.fields.get(gguf.Keys.General.ALIGNMENT)
    if alignment is not None:
        writer.data_alignment = alignment.contents()
    for field in reader.fields.values():
        # the writer adds the architecture and the GGUF.* header fields itself
        if field.name == gguf.Keys.General.ARCHITECTURE or field.name.startswith("GGUF."):
            continue
        if field.name == gguf.Keys.Tokenizer.CHAT_TEMPLATE:
            continue
        sub_type = field.types[-1] if field.types[0] == gguf.GGUFValueType.ARRAY else None
        writer.add_key_value(field.name, field.contents(), field.types[0], sub_type=sub_type)
    for t in reader.tensors:
        writer.add_tensor_info(t.name, t.data.shape, t.data.dtype, t.data.nbytes, t.tensor_type)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_ti_data_to_file()
    for t in reader.tensors:
        writer.write_tensor_data(t.data)
    writer.close()


@pytest.fixture(scope="module")
def base_gguf(smollm_base, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("base_model") / "smollm2-135m-notemplate.Q4_1.gguf"
    copy_without_chat_template(smollm_base.path, out)
    return out


@pytest.fixture(scope="module")
def base_engine(base_gguf):
    with LlamaCppEngine(base_gguf, EngineSettings(n_ctx=2048, n_threads=1, logits_all=True)) as e:
        # a base model must never be given a chat prompt: fail loudly if anything asks for one
        def no_chat(messages):
            raise AssertionError(f"chat prompt requested for a model without a chat template: {messages}")
        e.chat_prompt = no_chat
        yield e


def _prov(engine, gguf_path) -> dict:
    return {"variant": f"{BASE_MODEL}__Q4_1", "gguf_sha256": "test-" + Path(gguf_path).name,
            "engine_build": engine.build, "n_ctx": engine.settings.n_ctx}


# ─── restated prompts are failures ─────────────────────────────────────────────────────────────

def _row(output: str, gold: str = "A", question: str | None = None) -> dict:
    return {"variant": "v", "task": "mmlu", "task_version": "1.0", "item_id": "x/0", "scorer": "generate_rescore",
            "n_choices": 4, "gold": gold, "output": output, "question": question}


def test_an_output_that_restates_the_options_is_scored_wrong_with_a_reason_not_read_for_a_letter():
    # what a base model asked zero-shot produced: the options again, from which rule 1 read "A"
    restated = "A. Cryptocurrencies are expensive\nB. Cryptocurrencies are cheap\nC. Cryptocurrencies are"
    [s] = score_mc_generation([_row(restated, gold="A")])
    assert s["rescored_correct"] is False and s["extracted_letter"] is None
    assert "restates the options" in s["failure_reason"]


def test_an_output_that_echoes_the_question_or_the_prompt_layout_is_a_failure():
    q = "Which of the following is true of cryptocurrencies in general?"
    [echo] = score_mc_generation([_row(f"{q} A is the answer", gold="A", question=q)])
    assert echo["rescored_correct"] is False and echo["failure_reason"] == "restates the question"
    [layout] = score_mc_generation([_row("Question: what is money?\nAnswer: A", gold="A")])
    assert layout["rescored_correct"] is False and "Question:" in layout["failure_reason"]


@pytest.mark.parametrize("output,letter", [
    ("A", "A"), (" B\n", "B"), ("The answer is C", "C"), ("D. Cryptocurrencies are cheap", "D"),
    ("(B) because A is wrong", "B"), ("A.\nThe answer is A.\n\nThe answer is A.\n", "A"),
])
def test_honest_answers_are_still_read(output, letter):
    assert restatement(output, "Which of the following is true of cryptocurrencies in general?") is None
    [s] = score_mc_generation([_row(output, gold=letter)])
    assert s["rescored_correct"] is True and s["failure_reason"] is None


# ─── base models get base-model prompts ────────────────────────────────────────────────────────

def test_the_derived_base_model_has_no_chat_template_and_the_same_tensors(base_gguf, smollm_base):
    info, orig = read_gguf(base_gguf), read_gguf(smollm_base.path)
    assert info.chat_template is None and orig.chat_template
    assert info.as_row()["has_chat_template"] is False
    assert (info.n_parameters, info.tensor_type_bytes) == (orig.n_parameters, orig.tensor_type_bytes)


def test_a_base_model_is_scored_few_shot_and_never_with_a_chat_prompt(base_engine, base_gguf, tmp_path):
    cache = SampleCache(tmp_path / "samples.sqlite")
    rows = []
    for name in ("mmlu", "arc_challenge"):
        task = load_task(name, "demo", limit=2)
        rows += run_mc_generation(base_engine, task, _prov(base_engine, base_gguf), cache, log=lambda _: None,
                                  max_tokens=GEN_TOKENS)  # has_chat_template read from the engine's GGUF
    cache.close()
    assert {r["prompt_method"] for r in rows} == {"completion_few_shot_k5"}
    assert all(r["n_fewshot"] == 5 for r in rows)
    assert all("\n" not in (r["output"] or "") for r in rows)  # stopped at the end of the answer line
    scores = score_mc_generation(rows)
    assert {s["prompt_method"] for s in scores} == {"completion_few_shot_k5"}
    # the same item through the decision the assets take from the manifest
    task = load_task("arc_challenge", "demo", limit=1)
    [again] = run_mc_generation(base_engine, task, _prov(base_engine, base_gguf), SampleCache(tmp_path / "c2"),
                                log=lambda _: None, max_tokens=GEN_TOKENS, has_chat_template=False)
    assert again["prompt_method"] == "completion_few_shot_k5" and again["item_id"] == rows[2]["item_id"]


def test_an_instruct_model_keeps_tr125s_chat_zero_shot_prompt(smollm_base, tmp_path):
    task = load_task("arc_challenge", "demo", limit=1)
    with LlamaCppEngine(smollm_base.path, EngineSettings(n_ctx=1024, n_threads=1)) as eng:
        prov = {"variant": "smollm2-135m-instruct__Q4_1", "gguf_sha256": smollm_base.sha256,
                "engine_build": eng.build, "n_ctx": 1024}
        [row] = run_mc_generation(eng, task, prov, SampleCache(tmp_path / "c"), log=lambda _: None,
                                  max_tokens=GEN_TOKENS)
    assert row["prompt_method"] == "chat_zero_shot" and row["n_fewshot"] == 0


def test_standard_scorers_record_their_method_and_give_a_base_model_no_chat_prompt(base_engine, base_gguf, tmp_path):
    cache = SampleCache(tmp_path / "samples.sqlite")
    prov = _prov(base_engine, base_gguf)
    rows = []
    for name, scorer in [("arc_easy", "loglikelihood"), ("arc_easy", "letter_logits"),
                         ("arc_easy", "generate_rescore"), ("ifeval", "generate")]:
        rows += run_scorer(base_engine, load_task(name, "demo", limit=1), scorer, prov, cache,
                           log=lambda _: None, max_tokens=GEN_TOKENS)
    cache.close()
    methods = {r["scorer"]: r["prompt_method"] for r in rows}
    assert methods == {"loglikelihood": "loglikelihood", "letter_logits": "completion_zero_shot",
                       "generate_rescore": "completion_few_shot_k5", "generate": "completion_zero_shot"}
    scored = {s["scorer"]: s["prompt_method"] for s in score_samples(rows)}
    assert scored == methods


def test_the_pipeline_records_a_base_model_method_in_the_warehouse(qb_env, base_gguf):
    import shutil
    import sys

    from dagster_dbt import DbtCliResource

    from quantbench_assets.defs.resources import StorageResource
    from quantbench_assets.definitions import defs as load_defs

    catalog = yaml.safe_load((paths.PROJECT_ROOT / "data/catalog/models.yaml").read_text())
    catalog["models"].append({"name": BASE_MODEL, "family": "test", "parameters": 134515008, "base_quant": "Q4_1",
                              "ladder": ["Q4_1"], "source": {"kind": "local", "path": str(base_gguf)}})
    catalog_path = qb_env / "models.yaml"
    catalog_path.write_text(yaml.safe_dump(catalog))
    (qb_env / "incoming").mkdir()
    defs = load_defs()
    db = qb_env / "warehouse.duckdb"
    resources = {**defs.resources, "duckdb": WarehouseResource(database=str(db)),
                 "storage": StorageResource(catalog_path=str(catalog_path), incoming_dir=str(qb_env / "incoming"))}
    config = {"ops": {"standard_benchmark_samples": {"config": {"tasks": ["arc_challenge"],
                                                                "scorers": ["generate_rescore"], "limit": 2}}}}
    with dg.instance_for_test() as instance:
        assert dg.materialize(list(defs.assets), selection=["model_catalog"], instance=instance,
                              resources=resources).success
        result = dg.materialize(list(defs.assets), selection=["gguf_variant", "standard_benchmark_samples",
                                                                         "standard_benchmark_scores"],
                                partition_key=f"{BASE_MODEL}__Q4_1", instance=instance, resources=resources,
                                run_config=config, raise_on_error=False)
    assert result.success, [e.step_failure_data.error.message for e in result.all_events if e.is_step_failure]
    dbt = DbtCliResource(project_dir=str(paths.dbt_project_dir()), profiles_dir=str(paths.dbt_project_dir()),
                         dbt_executable=shutil.which("dbt") or str(Path(sys.executable).parent / "dbt"))
    dbt.cli(["run", "--select", "stg_gguf_inventory stg_standard_benchmark_samples stg_standard_benchmark_scores"]).wait()
    con = duckdb.connect(str(db), read_only=True)
    try:
        inv = con.execute("select has_chat_template, quant_obtained, is_quant_fallback from staging.stg_gguf_inventory "
                          "where model = ?", [BASE_MODEL]).fetchone()
        samples = con.execute("select distinct prompt_method, n_fewshot from staging.stg_standard_benchmark_samples").fetchall()
        scores = con.execute("select distinct prompt_method from staging.stg_standard_benchmark_scores").fetchall()
    finally:
        con.close()
    assert inv == (False, "Q4_1", False)
    assert samples == [("completion_few_shot_k5", 5)] and scores == [("completion_few_shot_k5",)]
