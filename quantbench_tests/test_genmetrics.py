"""Generation and JSON metrics on hand-made inputs with known answers. Offline: the hub is switched
off and nltk's punkt_tab comes from the project's data folder (no nltk.download)."""
import os
from pathlib import Path

_ROOT = Path(__file__).resolve().parents[1]
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ["NLTK_DATA"] = str(_ROOT / "data" / "benchmarks" / "nltk_data")

import json  # noqa: E402

import pytest  # noqa: E402

from quantbench_assets.lib.scoring import metrics as gm  # noqa: E402
from quantbench_assets.lib.scoring.metrics import MetricValue  # noqa: E402

E2E_SCHEMA = json.loads((_ROOT / "data" / "generation" / "e2e_schema.json").read_text(encoding="utf-8"))
MR = ("name[The Eagle], eatType[coffee shop], food[French], priceRange[moderate], customer rating[3 out of 5], "
      "area[riverside], familyFriendly[yes], near[Burger King]")
FULL = ("The Eagle is a family-friendly coffee shop by the riverside near Burger King. It serves French food "
        "at moderate prices and has a customer rating of 3 out of 5.")


# ---------------------------------------------------------------------------------- MetricValue
def test_metric_value_needs_a_reason_when_empty():
    with pytest.raises(ValueError):
        MetricValue(None)
    with pytest.raises(ValueError):
        MetricValue(float("nan"))
    assert MetricValue.null("why").row("m") == {"metric": "m", "value": None, "null_reason": "why"}
    assert MetricValue(0.5).row("m") == {"metric": "m", "value": 0.5, "null_reason": None}


# ------------------------------------------------------------------------------ overlap metrics
def test_rouge_identical_is_one_and_takes_best_reference():
    text = "The quick brown fox jumps over the lazy dog."
    assert {k: v.value for k, v in gm.rouge(text, [text]).items()} == {"rouge1": 1.0, "rouge2": 1.0, "rougeL": 1.0}
    partial = gm.rouge("the quick brown cat", ["the quick brown fox"])["rouge1"].value
    assert partial == pytest.approx(0.75)
    multi = gm.rouge("the quick brown cat", ["an unrelated sentence entirely", "the quick brown fox"])
    assert multi["rouge1"].value == pytest.approx(0.75)
    assert gm.rouge("x", [])["rougeL"].null_reason == "no reference"


def test_bleu_identical_is_100_and_unrelated_is_low():
    text = "The committee approved the new budget after a long debate on Tuesday."
    assert gm.bleu(text, [text]).value == pytest.approx(100.0)
    assert gm.bleu("Bananas are yellow fruit.", [text]).value < 10
    corpus = gm.corpus_bleu([text, "a short line of four words here"],
                            [[text, "another reference"], ["a short line of four words here"]])
    assert corpus.value == pytest.approx(100.0)
    assert gm.bleu(text, []).null_reason == "no reference"


def test_exact_match_normalizes():
    assert gm.exact_match("The Pacific Ocean.", ["pacific ocean"]).value == 1.0
    assert gm.exact_match("Atlantic", ["Pacific", "the Pacific Ocean"]).value == 0.0
    assert gm.exact_match("x", []).value is None


def test_label_extraction():
    labels = ["positive", "negative", "neutral"]
    assert gm.extract_label("Negative.", labels) == "negative"
    assert gm.label_accuracy("Sentiment: positive", "positive", labels).value == 1.0
    assert gm.label_accuracy("I think it is mixed", "neutral", labels).value == 0.0


# --------------------------------------------------------------------------------- text shape
def test_length_ratio():
    assert gm.length_ratio("one two three four five six", ["a b c"]).value == 2.0
    assert gm.length_ratio("one two", ["a b c d", "a b"]).value == pytest.approx(2 / 3)
    assert gm.length_ratio("x", [""]).null_reason == "reference is empty"


def test_repetition():
    looped = gm.repetition("the cat sat on the mat " * 10)
    assert looped.value < 0.2
    assert gm.repetition("Every word in this sentence is different from the others.").value == 1.0
    short = gm.repetition("only three words")
    assert short.value is None and "fewer than 4 words" in short.null_reason


def test_length_compliance_brief():
    ok = gm.length_compliance("The Eagle is a French coffee shop by the river. It is family friendly.", "brief")
    assert ok.value == 1.0 and ok.detail["sentences"] == 2
    three = gm.length_compliance("It is a pub. It is cheap. It is near the river.", "brief")
    assert three.value == 0.0 and three.detail["checks"]["sentences"] is False
    long_one = gm.length_compliance(" ".join(["word"] * 60) + ".", "brief")
    assert long_one.value == 0.0 and long_one.detail["checks"]["words"] is False
    assert gm.length_compliance("", "brief").value == 0.0


def test_length_compliance_mid_and_strong():
    sentence = "The venue serves French food at moderate prices in a quiet spot beside the river bank today."
    mid = " ".join([sentence] * 5)  # 5 sentences, 85 words
    assert gm.length_compliance(mid, "mid").value == 1.0
    para = " ".join([sentence] * 6)  # 102 words
    assert gm.length_compliance(para + "\n\n" + para + "\n\n" + para, "strong").value == 1.0
    one_block = gm.length_compliance(" ".join([para] * 3), "strong")
    assert one_block.value == 0.0 and one_block.detail["checks"]["paragraphs"] is False
    with pytest.raises(ValueError):
        gm.length_compliance("x", "huge")


def test_refusal():
    assert gm.refusal("I'm sorry, but I can't help with that request.").value == 1.0
    assert gm.refusal("As an AI language model, I cannot write that.").value == 1.0
    assert gm.refusal("The Eagle is a coffee shop near Burger King.").value == 0.0
    story = "The door creaked. " * 30 + '"I can\'t go on," she whispered.'
    assert gm.refusal(story).value == 0.0  # past the opening window: content, not a refusal


# ------------------------------------------------------------------------------- E2E slot check
def test_parse_mr():
    slots = gm.parse_mr(MR)
    assert slots["customer rating"] == "3 out of 5" and slots["near"] == "Burger King" and len(slots) == 8
    with pytest.raises(ValueError):
        gm.parse_mr("no slots here")


def test_e2e_full_realization():
    m = gm.e2e_slot_check(MR, FULL)
    assert m["e2e_slot_coverage"].value == 1.0
    assert m["e2e_hallucinated_count"].value == 0.0
    assert m["e2e_hallucination_share"].value == 0.0


def test_e2e_wrong_food_is_a_hallucination():
    m = gm.e2e_slot_check(MR, FULL.replace("French", "Italian"))
    assert m["e2e_hallucinated_count"].value == 1.0
    assert ("food", "Italian") in m["e2e_hallucinated_count"].detail["hallucinated"]
    assert m["e2e_slot_coverage"].value == pytest.approx(7 / 8)


def test_e2e_phrasing_rules():
    mr = "name[Zizzi], eatType[pub], customer rating[average], familyFriendly[no], near[Raja Indian Cuisine]"
    text = "Zizzi is a pub near Raja Indian Cuisine rated 3 out of 5 by customers. It is not family-friendly."
    rep = gm.e2e_slot_report(mr, text)
    assert all(rep["realized"].values()), rep
    assert rep["hallucinated"] == []  # "Indian" inside a venue name is not a food claim
    negated = gm.e2e_slot_report("name[Zizzi], familyFriendly[yes]", "Zizzi is not kid friendly.")
    assert negated["realized"]["familyFriendly"] is False
    assert ("familyFriendly", "no") in negated["hallucinated"]
    # a stated attribute the MR lacks is a hallucination; "restaurant" alone is generic
    extra = gm.e2e_slot_check("name[Zizzi], eatType[pub]", "Zizzi is an expensive pub and restaurant.")
    assert extra["e2e_hallucinated_count"].detail["hallucinated"] == [("priceRange", "high")]
    nothing = gm.e2e_slot_check("name[Zizzi]", "Zizzi.")
    assert nothing["e2e_hallucination_share"].value is None and nothing["e2e_hallucination_share"].null_reason


# ---------------------------------------------------------------------------------------- JSON
def _e2e_obj(**changes):
    obj = {**gm.e2e_expected_fields(MR), "description": FULL}
    obj.update(changes)
    return obj


def test_extract_json():
    clean = json.dumps(_e2e_obj())
    assert gm.extract_json(clean) == (_e2e_obj(), False)
    obj, extraneous = gm.extract_json("Here is the JSON you asked for:\n" + clean + "\nHope this helps!")
    assert obj == _e2e_obj() and extraneous is True
    obj, extraneous = gm.extract_json("```json\n" + clean + "\n```")
    assert obj == _e2e_obj() and extraneous is True
    assert gm.extract_json('{"name": "The Eagle", "area": ') == (None, None)


def test_invalid_json_is_a_parse_failure():
    bad = '{"name": "The Eagle", "food": French}'
    assert gm.json_parse(bad).value == 0.0
    rel = gm.json_reliability(bad, E2E_SCHEMA, expected=gm.e2e_expected_fields(MR))
    assert rel["json_parse"].value == 0.0
    # a failure scores the worst value (counted in every rate), never a null that avg() would skip
    for k in ("json_schema_compliance", "json_field_completeness", "json_key_accuracy"):
        assert rel[k].value == 0.0 and rel[k].detail["failure"] == gm.NO_JSON, k
    assert rel["json_extraneous"].value == 1.0
    assert gm.failure_of(bad, wants_json=True) == gm.NO_JSON and gm.failure_of(bad, wants_json=False) is None
    assert gm.failure_of("  \n", wants_json=False) == gm.EMPTY_OUTPUT
    rate = gm.parse_rate([bad, json.dumps(_e2e_obj()), "no json"])
    assert rate.value == pytest.approx(1 / 3)


def test_missing_required_field_fails_schema_but_parses():
    obj = _e2e_obj()
    del obj["area"]
    rel = gm.json_reliability(json.dumps(obj), E2E_SCHEMA, expected=gm.e2e_expected_fields(MR))
    assert rel["json_parse"].value == 1.0
    assert rel["json_schema_compliance"].value == 0.0
    assert any("area" in e for e in rel["json_schema_compliance"].detail["errors"])
    assert rel["json_field_completeness"].value == pytest.approx(8 / 9)
    assert rel["json_key_accuracy"].value == pytest.approx(7 / 8)
    assert rel["json_extraneous"].value == 0.0


def test_valid_json_scores_fully_and_key_accuracy_counts_wrong_values():
    rel = gm.json_reliability(json.dumps(_e2e_obj()), E2E_SCHEMA, expected=gm.e2e_expected_fields(MR))
    assert {k: v.value for k, v in rel.items()} == {
        "json_parse": 1.0, "json_extraneous": 0.0, "json_schema_compliance": 1.0,
        "json_field_completeness": 1.0, "json_key_accuracy": 1.0}
    wrong = _e2e_obj(food="Italian", family_friendly=False)
    assert gm.key_accuracy(wrong, gm.e2e_expected_fields(MR)).value == pytest.approx(6 / 8)
    assert gm.e2e_key_accuracy(_e2e_obj(name="Eagle"), MR).value == 1.0  # leading "The" optional
    assert gm.field_completeness({"name": "x", "near": None, "food": ""}, ["name", "near", "food"]).value \
        == pytest.approx(1 / 3)
    not_object = gm.key_accuracy([1, 2], {"a": 1})  # a failure: the worst value, with why
    assert not_object.value == 0.0 and not_object.detail["failure"] == "JSON value is not an object"


# ------------------------------------------------------------------------ embedding-based metrics
@pytest.fixture(scope="module")
def models():
    return gm.MetricModels()  # loads lazily, once for the module


def test_minilm_is_installed_locally():
    path = gm.minilm_path()
    assert (path / "config.json").is_file() and (path / "model.safetensors").is_file()


def test_bertscore_identical_beats_unrelated(models):
    ref = "The Eagle is a French coffee shop by the river near Burger King."
    scores = gm.bertscore([ref, "Quarterly tax filings are due at the end of April.", ""],
                          [[ref], [ref], [ref]], models)
    assert scores[0].value == pytest.approx(1.0, abs=1e-4)
    assert scores[1].value < scores[0].value - 0.2
    # an empty output is a failure: the worst value, not a null that avg() would skip
    assert scores[2].value == gm.WORST["bertscore"] == -1.0 and scores[2].detail["failure"] == gm.EMPTY_OUTPUT
    assert models.bert_scorer is models.bert_scorer  # one scorer, reused


def test_semscore_identical_beats_unrelated(models):
    ref = "A family-friendly pub in the city centre serving cheap English food."
    close = "A cheap pub in the centre of town with English food, good for families."
    scores = gm.semscore([ref, close, "The mitochondria is the powerhouse of the cell."],
                         [ref, ["totally different", ref], ref], models)
    assert scores[0].value == pytest.approx(1.0, abs=1e-4)
    assert scores[2].value < scores[1].value < scores[0].value
    empty = gm.semscore([""], [ref], models)[0]
    assert empty.value == gm.WORST["semscore"] == -1.0 and empty.value < scores[2].value  # below unrelated text
    assert models.describe()["bertscore_num_layers"] == 6
