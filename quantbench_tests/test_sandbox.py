"""The code sandbox: hostile completions are stopped and recorded with the right kind, nothing outside
the sandbox changes, correct code passes; and the code_execution asset lands rows for real SmolLM2
completions in a private warehouse."""
import os
from pathlib import Path

import pytest

from quantbench_assets.lib.scoring.code_extraction import extract_code
from quantbench_assets.lib.scoring.sandbox import SandboxLimits, execute_samples, probe_isolation, run_tests

FAST = SandboxLimits(wall_s=3.0, cpu_s=1, memory_bytes=256 * 2**20, file_bytes=256 * 2**10)
TESTS = ["assert add(1, 2) == 3", "assert add(-1, 1) == 0"]
GOOD = "def add(a, b):\n    return a + b\n"


@pytest.fixture(scope="module")
def iso():
    return probe_isolation(FAST)


@pytest.fixture
def sentinel(tmp_path):
    """A file outside the sandbox in a directory only its owner can write (not world-writable /tmp)."""
    d = tmp_path / "outside"
    d.mkdir(mode=0o755)
    f = d / "sentinel.txt"
    f.write_text("original")
    return f


def assert_untouched(sentinel: Path):
    assert sentinel.read_text() == "original"
    assert sorted(p.name for p in sentinel.parent.iterdir()) == ["sentinel.txt"]


def test_extract_code_prefers_the_fenced_block_that_defines_the_entry_point():
    text = "Here:\n```text\nnot code\n```\n```python\nimport os\n```\n```python\ndef add(a, b):\n    return a+b\n```\nDone."
    code, how = extract_code(text, "add")
    assert how == "fenced" and code.startswith("def add")
    assert extract_code("def add(a, b): return a + b", "add") == ("def add(a, b): return a + b\n", "raw")
    assert extract_code("```python\ndef add(a, b):\n    return a + b\n", "add")[1] == "fenced_unclosed"
    assert extract_code("   ", "add") == ("", "empty")


def test_a_correct_completion_passes_and_wrong_ones_get_their_kind(iso):
    ok = run_tests(GOOD, TESTS, FAST, iso)
    assert ok.passed and ok.failure_kind is None and ok.tests_passed == 2
    wrong = run_tests("def add(a, b):\n    return abs(a) + b\n", TESTS, FAST, iso)
    assert (wrong.passed, wrong.failure_kind) == (False, "assertion")
    assert wrong.tests_passed == 1  # add(1, 2) holds, add(-1, 1) does not
    syntax = run_tests("def add(a, b) return a + b\n", TESTS, FAST, iso)
    assert syntax.failure_kind == "syntax" and "SyntaxError" in syntax.detail
    exc = run_tests("def add(a, b):\n    return undefined_name\n", TESTS, FAST, iso)
    assert exc.failure_kind == "exception" and "NameError" in exc.detail
    assert run_tests("", TESTS, FAST, iso).failure_kind == "no_code"


def test_an_infinite_loop_is_stopped_by_cpu_time_and_a_sleep_by_the_wall_clock(iso, sentinel):
    loop = run_tests("while True:\n    pass\n", TESTS, FAST, iso)
    # on a loaded machine the wall clock may come first; either way it is a timeout
    assert loop.failure_kind == "timeout" and loop.blocked_by in ("rlimit_cpu", "wall_clock")
    # with a wall clock far away, the CPU limit is what stops it
    patient = SandboxLimits(**{**FAST.as_dict(), "wall_s": 30.0})
    loop = run_tests("while True:\n    pass\n", TESTS, patient, iso)
    assert (loop.failure_kind, loop.blocked_by) == ("timeout", "rlimit_cpu")
    sleep = run_tests("import time\ntime.sleep(60)\n", TESTS, FAST, iso)
    assert (sleep.failure_kind, sleep.blocked_by) == ("timeout", "wall_clock")
    assert sleep.wall_ms < (FAST.wall_s + 2) * 1000
    assert_untouched(sentinel)


@pytest.mark.parametrize("audit", [True, False], ids=["audit_hook", "kernel_only"])
def test_a_fork_loop_is_stopped(iso, sentinel, audit):
    limits = SandboxLimits(**{**FAST.as_dict(), "audit_hook": audit})
    if not audit and os.geteuid() == 0 and not iso["uid_drop"]:
        pytest.skip("root without a reachable unprivileged interpreter: RLIMIT_NPROC does not bind")
    r = run_tests("import os\nwhile True:\n    if os.fork() == 0:\n        os._exit(0)\n", TESTS, limits, iso)
    assert not r.passed
    assert (r.failure_kind, r.blocked_by) == (("process_blocked", "audit_hook") if audit
                                              else ("resource_limit", "rlimit_nproc"))
    assert_untouched(sentinel)


@pytest.mark.parametrize("audit", [True, False], ids=["audit_hook", "kernel_only"])
def test_a_large_file_and_endless_printing_hit_the_file_size_limit(iso, sentinel, audit):
    limits = SandboxLimits(**{**FAST.as_dict(), "audit_hook": audit})
    big = run_tests("with open('big.bin', 'wb') as f:\n    f.write(b'x' * (64 * 2**20))\n", TESTS, limits, iso)
    assert (big.failure_kind, big.blocked_by) == ("resource_limit", "rlimit_fsize")
    chatty = run_tests("while True:\n    print('x' * 1000)\n", TESTS, limits, iso)
    assert (chatty.failure_kind, chatty.blocked_by) == ("resource_limit", "rlimit_fsize")
    assert_untouched(sentinel)


def test_a_memory_hog_hits_the_address_space_limit(iso):
    r = run_tests("hog = bytearray(2 * 2**30)\n", TESTS, FAST, iso)
    assert (r.failure_kind, r.blocked_by) == ("resource_limit", "rlimit_as")


@pytest.mark.parametrize("audit", [True, False], ids=["audit_hook", "kernel_only"])
def test_a_socket_is_refused_even_when_the_completion_swallows_the_error(iso, audit):
    if not audit and not iso["netns"]:
        pytest.skip("no network namespace on this machine: the audit hook is the only network layer")
    limits = SandboxLimits(**{**FAST.as_dict(), "audit_hook": audit})
    code = ("import socket\ntry:\n    socket.create_connection(('127.0.0.1', 9), timeout=1)\n"
            "except OSError:\n    pass\n" + GOOD) if audit else \
        "import socket\nsocket.create_connection(('1.1.1.1', 80), timeout=1)\n" + GOOD
    r = run_tests(code, TESTS, limits, iso)
    assert not r.passed and r.failure_kind == "network_blocked"
    assert r.blocked_by == ("audit_hook" if audit else "netns")
    assert ("audit_hook" in r.isolation) == audit


@pytest.mark.parametrize("audit", [True, False], ids=["audit_hook", "kernel_only"])
def test_writes_and_deletes_outside_the_sandbox_are_refused(iso, sentinel, audit):
    if not audit and not iso["uid_drop"]:
        pytest.skip("not root, or no interpreter an unprivileged uid can reach: the audit hook is the file layer")
    limits = SandboxLimits(**{**FAST.as_dict(), "audit_hook": audit})
    for code in (f"open({str(sentinel)!r}, 'w').write('changed')\n",
                 f"import os\nos.remove({str(sentinel)!r})\n",
                 f"open({str(sentinel.parent / 'new.txt')!r}, 'w').write('x')\n"):
        r = run_tests(code + GOOD, TESTS, limits, iso)
        assert not r.passed and r.failure_kind == "filesystem_blocked", (code, r)
        assert r.blocked_by == ("audit_hook" if audit else "uid")
    # inside its own directory a completion may write freely
    assert run_tests("open('scratch.txt', 'w').write('ok')\n" + GOOD, TESTS, limits, iso).passed
    assert run_tests("import tempfile\nwith tempfile.TemporaryFile() as f:\n    f.write(b'ok')\n" + GOOD,
                     TESTS, limits, iso).passed  # TMPDIR is the sandbox directory
    assert_untouched(sentinel)


def test_execute_samples_gives_a_null_with_reason_for_an_item_without_tests():
    samples = [{"variant": "v", "task": "code_generation", "task_version": "1", "item_id": "a",
                "output": "```python\n" + GOOD + "```"},
               {"variant": "v", "task": "code_generation", "task_version": "1", "item_id": "b", "output": GOOD}]
    rows = execute_samples(samples, {"a": {"tests": TESTS, "entry_point": "add"}}, FAST, log=lambda m: None)
    assert rows[0]["passed"] is True and rows[0]["code_source"] == "fenced" and rows[0]["null_reason"] is None
    assert rows[1]["passed"] is None and "no tests" in rows[1]["null_reason"]


def test_code_execution_asset_runs_real_completions_into_a_private_warehouse(qb_env, smollm_rung):
    import dagster as dg
    import duckdb
    from quantbench_assets.defs.resources import WarehouseResource

    from quantbench_assets.definitions import defs as load_defs

    smollm_rung("Q8_0")
    defs = load_defs()
    key = "smollm2-135m-instruct__Q8_0"
    resources = {**defs.resources, "duckdb": WarehouseResource(database=str(qb_env / "warehouse.duckdb"))}
    with dg.instance_for_test() as instance:
        def materialize(selection, partition_key=None, run_config=None):
            return dg.materialize(list(defs.assets), selection=selection, partition_key=partition_key,
                                  instance=instance, resources=resources, run_config=run_config)
        assert materialize(["model_catalog"]).success
        assert materialize(["gguf_variant"], key).success
        gen = {"ops": {"generation_samples": {"config": {"tasks": ["code_generation"], "limit": 2}}}}
        assert materialize(["generation_samples"], key, gen).success
        result = materialize(["code_execution"], key)
        assert result.success
        checks = result.get_asset_check_evaluations()
        assert checks and all(c.passed for c in checks)
    con = duckdb.connect(str(qb_env / "warehouse.duckdb"), read_only=True)
    rows = con.execute("select item_id, passed, failure_kind, isolation, code_source from raw.code_execution "
                       "where variant = ? order by item_id", [key]).fetchall()
    con.close()
    assert [r[0] for r in rows] == ["code_generation-001", "code_generation-002"]
    for _, passed, kind, isolation, how in rows:
        assert passed is not None and (passed == (kind is None))
        assert "rlimit_cpu" in isolation and how in ("fenced", "fenced_unclosed", "raw", "empty")
