"""The in-process engine on the real CI model: alignment, determinism, timings, MC scoring rules."""
import numpy as np
import pytest

from quantbench_assets.lib.engines.decoding import MIN_BATCH
from quantbench_assets.lib.engines.llama import EngineSettings, LlamaCppEngine, row_log_softmax
from quantbench_assets.lib.scoring.mc import extract_letter, raw_letter


@pytest.fixture(scope="module")
def engine(smollm_rung):
    with LlamaCppEngine(smollm_rung("Q8_0").stored.path, EngineSettings(n_ctx=512, logits_all=True)) as e:
        yield e


def test_loglikelihood_reads_the_logits_one_position_before_each_token(engine):
    # Hand computation: evaluate the whole text from scratch, take the row before the last token.
    tokens = engine.tokenize("The capital of France is Paris")
    rows, targets = engine.token_logprobs(tokens)
    hand = float(row_log_softmax(rows[-1])[targets[-1]])
    (ll,) = engine.loglikelihood([("The capital of France is", " Paris")])
    assert ll.n_tokens == 1
    assert ll.logprob == pytest.approx(hand, abs=1e-5)
    # The off-by-one reading (logits at the token's own position) gives a different number.
    assert abs(float(row_log_softmax(rows[-2])[targets[-1]]) - hand) > 0.1


def test_single_pass_letter_logprobs_equal_the_loglikelihood_path(engine):
    prompt = "Question: 2+2=?\nA. 3\nB. 4\nAnswer:"
    letters = engine.next_token_logprobs(prompt, [" A", " B"])
    lls = engine.loglikelihood([(prompt, " A"), (prompt, " B")])
    assert letters == pytest.approx([r.logprob for r in lls], abs=1e-4)


def test_greedy_generation_is_deterministic_and_reports_native_timings(engine):
    prompt = engine.chat_prompt([{"role": "user", "content": "Name a colour."}])
    a = engine.generate(prompt, max_tokens=12)
    b = engine.generate(prompt, max_tokens=12)
    assert a.text == b.text and a.text.strip()
    assert a.prompt_tokens > 5 and a.completion_tokens >= 1
    assert a.prompt_eval_ms > 0 and a.wall_ms >= a.ttft_ms > 0
    assert b.prompt_tokens_evaluated < a.prompt_tokens  # the prompt prefix was reused


def test_max_tokens_is_enforced(engine):
    g = engine.generate("Count: 1, 2, 3,", max_tokens=5)
    assert g.completion_tokens <= 5 and g.finish_reason == "length"


@pytest.mark.parametrize("text,raw,rescored", [
    ("B", "B", "B"), ("B.", "B", "B"), ("B)", None, "B"), ("(C)", None, "C"),
    ("The answer is D", None, "D"), ("Answer: A", None, "A"), ("I think C is right", None, "C"),
    ("", None, None), ("none of them", None, None), ("E", None, None),
])
def test_raw_and_rescored_letters_follow_tr125s_rules(text, raw, rescored):
    assert raw_letter(text, 4) == raw
    assert extract_letter(text, 4) == rescored


def test_log_softmax_is_normalised():
    row = np.array([1.0, 2.0, 3.0])
    assert np.exp(row_log_softmax(row)).sum() == pytest.approx(1.0)


# ── a multiple-choice item's choices: prefix reuse without changing a number ──────────────────
CONTEXT = ("The solar system has eight planets that orbit the Sun, along with dwarf planets, moons, "
           "asteroids and comets. Astronomers classify objects by their size and orbit.\n"
           "Question: Which of these is a planet?\nAnswer:")
CHOICES = [" Mars", " the Moon and the Sun", " a comet", " Alpha Centauri, a star system"]


def _hand(engine, context, continuation):
    """log p(continuation | context) from one evaluation of the whole text from scratch."""
    ctx = engine.tokenize(context)
    tokens = engine.tokenize(context + continuation)
    rows, _ = engine.token_logprobs(tokens)
    return sum(float(row_log_softmax(rows[i - 1])[tokens[i]]) for i in range(len(ctx), len(tokens)))


def test_a_choice_scores_the_same_whatever_was_scored_before_it(smollm_rung):
    # llama.cpp's CPU kernels differ for short decodes (and its attention with the KV cell layout):
    # scoring a choice after its siblings must give the number a cold evaluation gives, exactly.
    path = smollm_rung("Q8_0").stored.path
    with LlamaCppEngine(path, EngineSettings(n_ctx=512, n_threads=1)) as e:  # logits_all off
        forward = e.loglikelihood([(CONTEXT, c) for c in CHOICES])
        e.loglikelihood([(CONTEXT, CHOICES[-1])])
        reused = e.last_evaluated_tokens
        backward = e.loglikelihood([(CONTEXT, c) for c in reversed(CHOICES)])[::-1]
        n_ctx_tokens = len(e.tokenize(CONTEXT))
    with LlamaCppEngine(path, EngineSettings(n_ctx=512, n_threads=1, logits_all=True)) as h:
        hand = [_hand(h, CONTEXT, c) for c in CHOICES]
    assert [r.logprob for r in forward] == pytest.approx(hand, abs=1e-6)
    assert [r.logprob for r in backward] == [r.logprob for r in forward]
    # the last choice re-evaluated a full batch, not the whole context (n_ctx_tokens > MIN_BATCH)
    assert n_ctx_tokens > MIN_BATCH and reused == max(MIN_BATCH, forward[-1].n_tokens)
    assert sum(len(r.token_logprobs) for r in forward) == sum(r.n_tokens for r in forward)


def test_generation_after_scoring_reuses_the_cache_and_equals_a_fresh_engine(smollm_rung):
    path = smollm_rung("Q8_0").stored.path
    prompt = CONTEXT + " Mars. The next planet out is"
    with LlamaCppEngine(path, EngineSettings(n_ctx=512, n_threads=1)) as e:
        e.loglikelihood([(CONTEXT, c) for c in CHOICES])
        after_scoring = e.generate(prompt, max_tokens=8)
    with LlamaCppEngine(path, EngineSettings(n_ctx=512, n_threads=1)) as fresh:
        expected = fresh.generate(prompt, max_tokens=8)
    assert after_scoring.text == expected.text
    assert after_scoring.prompt_tokens_evaluated < after_scoring.prompt_tokens  # the context was reused


def test_one_token_choices_share_the_row_that_predicts_them(smollm_rung):
    # MMLU's " A".." D": the context is evaluated once; each letter is read from the same row, and
    # equals the number a cold evaluation of that request alone gives.
    path = smollm_rung("Q8_0").stored.path
    letters = [" A", " B", " C", " D"]
    prompt = CONTEXT.replace("Answer:", "A. Mars\nB. the Moon\nC. a comet\nD. a star\nAnswer:")
    with LlamaCppEngine(path, EngineSettings(n_ctx=512, n_threads=1)) as e:
        together = e.loglikelihood([(prompt, x) for x in letters])
        assert e.last_evaluated_tokens == len(e.tokenize(prompt))
        cold = []
        for x in letters:
            e.llm.n_tokens = 0  # forget the cache: each request from scratch
            e._last_row = None
            cold.append(e.loglikelihood([(prompt, x)])[0].logprob)
    assert [r.logprob for r in together] == cold


def test_a_prompts_next_token_logits_do_not_depend_on_what_the_cache_held(smollm_rung):
    # Greedy generation starts from the prompt's last row. With the prompt cached, the old code
    # re-evaluated its last token alone: a 1-token decode takes another kernel path, and on this rung
    # and prompt it moved the row by 0.57 (determinism_check flagged rungs whose greedy outputs differed
    # between runs). Now the last MIN_BATCH tokens are re-evaluated and the row equals a cold one's.
    path = smollm_rung("Q8_0").stored.path
    prompt = "Question: Which gas do plants absorb from the air to make food?\nAnswer:"
    shared = "Question: Which gas do plants absorb from the soil?\nAnswer:"
    with LlamaCppEngine(path, EngineSettings(n_ctx=512, n_threads=1)) as e:
        n = len(e.tokenize(prompt))
        e._eval_reusing_prefix(e.tokenize(prompt))
        cold = e._row(e.llm.n_tokens - 1).copy()
        e._eval_reusing_prefix(e.tokenize(prompt))  # the same prompt again: all of it is cached
        again = e._row(e.llm.n_tokens - 1).copy()
        assert e.last_evaluated_tokens == MIN_BATCH < n
        e._eval_reusing_prefix(e.tokenize(shared))  # the cache now holds a shared prefix only
        e._eval_reusing_prefix(e.tokenize(prompt))
        warm = e._row(e.llm.n_tokens - 1).copy()
    assert np.array_equal(cold, again) and np.array_equal(cold, warm)


def test_the_openmp_wait_settings_recorded_with_results_include_libgomps_spin_count(monkeypatch):
    # A short spin (GOMP_SPINCOUNT) changes small decodes' speed 2-3x: a result must say it ran with one.
    from quantbench_assets.lib.engines.llama import EngineSettings

    monkeypatch.setenv("OMP_WAIT_POLICY", "")
    monkeypatch.setenv("GOMP_SPINCOUNT", "1000")
    assert EngineSettings().as_dict()["omp_wait_policy"] == "default, GOMP_SPINCOUNT=1000"
    monkeypatch.setenv("OMP_WAIT_POLICY", "PASSIVE")
    monkeypatch.delenv("GOMP_SPINCOUNT")
    assert EngineSettings().as_dict()["omp_wait_policy"] == "PASSIVE"


def test_a_run_lets_threads_spin_only_on_an_idle_machine_and_never_over_the_users_setting(monkeypatch):
    # The CLI picks the wait before llama.cpp loads: a short spin where other processes leave the
    # CPU free (scoring ~2x faster, README "OpenMP"), passive under load, the user's own choice always.
    import sys

    import quantbench_assets
    from quantbench_assets.cli import choose_omp_wait
    from quantbench_assets.lib.engines.omp import omp_wait_policy, wait_settings

    changes, why = wait_settings(0.03, {}, threshold=0.25)
    assert changes == {"GOMP_SPINCOUNT": "1000"} and "3%" in why
    assert wait_settings(0.40, {}, threshold=0.25)[0] == {}
    assert wait_settings(None, {}, threshold=0.25)[0] == {}
    mine, why = wait_settings(0.0, {"OMP_WAIT_POLICY": "ACTIVE"}, threshold=0.25)
    assert mine == {} and "OMP_WAIT_POLICY=ACTIVE" in why

    # once llama.cpp is loaded, libgomp has read its settings: nothing changes, and the line says so
    monkeypatch.setattr(quantbench_assets, "OMP_FROM_USER", {})
    monkeypatch.setenv("OMP_WAIT_POLICY", "PASSIVE")
    monkeypatch.delenv("GOMP_SPINCOUNT", raising=False)
    monkeypatch.setitem(sys.modules, "llama_cpp", sys.modules.get("llama_cpp") or object())
    assert "loaded already" in choose_omp_wait(sample_s=0.01) and omp_wait_policy() == "PASSIVE"
