"""Run generated code against its tests in a sandbox, and say why it failed.

Each completion runs in its own interpreter process (`python -I -B`) with, in layers:

- resource limits (`resource.setrlimit`, set by the child's bootstrap before the completion runs:
  no preexec_fn, which is unsafe in a threaded parent): CPU seconds, address space, file size, number
  of processes (RLIMIT_NPROC only binds an unprivileged uid, see below);
- an empty temporary working directory; stdout/stderr go to files beside it (not into this
  process's memory), so printing forever hits the file-size limit;
- a wall-clock timeout, after which the whole process group is killed;
- a private network namespace (unshare(CLONE_NEWNET): no interface but a downed loopback) when the
  kernel allows it (root, or CAP_SYS_ADMIN); detected per run and recorded;
- an unprivileged uid when we run as root (a fresh uid that owns no file and no process: files
  outside the sandbox cannot be written, RLIMIT_NPROC binds), when an interpreter reachable by that
  uid exists (a python under /root is not: /root is 0700);
- an audit hook (`sys.addaudithook`) installed by the bootstrap before the completion runs: it
  refuses socket creation and use, process creation (fork, exec, spawn, subprocess, system),
  writes and deletions outside the sandbox directory, and ctypes' dlopen, and records each refusal
  (so a completion that swallows the exception is still recorded).

The audit hook is the first layer to see a forbidden call; the kernel layers are the backstop for
code that gets past Python (C extensions). `blocked_by` in the result says which layer stopped it.
The result travels back over a pipe with a per-run nonce, never through the completion's stdout.

This module is the parent side (interpreter, limits, process, pipe). The completion's code comes from
code_extraction.py, the child's bootstrap is sandbox_child.py, and the failure kinds and the
classification of a finished run are sandbox_results.py.
"""
from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from .code_extraction import extract_code
from .sandbox_child import BOOTSTRAP
from .sandbox_results import NO_CODE, SandboxResult, classify_run

SANDBOX_VERSION = "1"
CLONE_NEWNET = 0x40000000


@dataclass(frozen=True)
class SandboxLimits:
    wall_s: float = 10.0           # wall clock, whole process group killed after it
    cpu_s: int = 5                 # RLIMIT_CPU (soft; hard = soft + 1 -> SIGKILL)
    memory_bytes: int = 512 * 2**20  # RLIMIT_AS
    file_bytes: int = 1 * 2**20    # RLIMIT_FSIZE: any single file, stdout/stderr included
    nproc: int = 1                 # RLIMIT_NPROC: the process itself, nothing more
    audit_hook: bool = True        # the in-interpreter layer (tests turn it off to exercise the kernel layers)
    network_namespace: bool = True  # try unshare(CLONE_NEWNET)
    drop_privileges: bool = True   # when root: run as a fresh uid

    def as_dict(self) -> dict:
        return asdict(self)


# ------------------------------------------------------------------------------------ the parent side
def _reachable_by_others(path: str) -> bool:
    """Can a uid that owns nothing execute `path` (every directory above it traversable by others)?"""
    p = Path(path).resolve()
    try:
        if not p.stat().st_mode & stat.S_IXOTH:
            return False
        for parent in p.parents:
            if not parent.stat().st_mode & stat.S_IXOTH:
                return False
    except OSError:
        return False
    return True


def sandbox_interpreter(drop_privileges: bool) -> tuple[str, bool]:
    """(python, uid_drop): this interpreter, unless we are root and will drop to a fresh uid that
    cannot reach it; then a system python 3 of the same minor version that it can reach."""
    if not (drop_privileges and os.geteuid() == 0):
        return sys.executable, False
    if _reachable_by_others(sys.executable):
        return sys.executable, True
    want = f"python{sys.version_info.major}.{sys.version_info.minor}"
    for cand in (f"/usr/bin/{want}", f"/usr/local/bin/{want}", "/usr/bin/python3", "/usr/local/bin/python3"):
        if Path(cand).exists() and _reachable_by_others(cand):
            return cand, True
    return sys.executable, False


def probe_isolation(limits: SandboxLimits = SandboxLimits()) -> dict:
    """Which kernel layers this machine grants: the interpreter, whether we drop to a fresh uid, and
    whether a network namespace can be created (tried in a throwaway interpreter)."""
    python, uid_drop = sandbox_interpreter(limits.drop_privileges)
    netns = False
    if limits.network_namespace:
        probe = "import ctypes; print(ctypes.CDLL(None, use_errno=True).unshare(0x40000000))"
        try:
            out = subprocess.run([python, "-I", "-c", probe], capture_output=True, text=True, timeout=30)
            netns = out.stdout.strip() == "0"
        except (OSError, subprocess.SubprocessError):
            netns = False
    return {"python": python, "uid_drop": uid_drop, "netns": netns}


def _tail(path: Path, n: int = 2000) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - n))
            return f.read().decode("utf-8", "replace")
    except OSError:
        return ""


def run_tests(code: str, tests: list[str], limits: SandboxLimits = SandboxLimits(),
              isolation: dict | None = None) -> SandboxResult:
    """Execute `code` then each assert of `tests` in the sandbox. `isolation` is probe_isolation()'s
    answer (probed here when not given)."""
    iso = isolation or probe_isolation(limits)
    if not code.strip():
        return SandboxResult(False, NO_CODE, None, "no code in the completion", len(tests), 0, 0.0, None)
    uid_drop, netns = iso["uid_drop"], iso["netns"] and limits.network_namespace
    run_uid = 100000 + secrets.randbelow(800000) if uid_drop else None
    layers = ["process", "rlimit_cpu", "rlimit_as", "rlimit_fsize", "rlimit_nproc" if (uid_drop or os.geteuid() != 0)
              else "rlimit_nproc(not binding: root)", "empty_cwd", "wall_clock"]
    if netns:
        layers.append("netns")
    if uid_drop:
        layers.append("uid")
    if limits.audit_hook:
        layers.append("audit_hook")
    nonce = secrets.token_hex(16)
    outer = Path(tempfile.mkdtemp(prefix="qb-sandbox-"))
    work = outer / "work"
    work.mkdir()
    if uid_drop:
        os.chmod(outer, 0o711)
        os.chown(work, run_uid, run_uid)
    out_path, err_path = outer / "stdout", outer / "stderr"
    r_fd, w_fd = os.pipe()

    rlimits = {"RLIMIT_CPU": (limits.cpu_s, limits.cpu_s + 1), "RLIMIT_AS": (limits.memory_bytes,) * 2,
               "RLIMIT_FSIZE": (limits.file_bytes,) * 2, "RLIMIT_NPROC": (limits.nproc,) * 2, "RLIMIT_CORE": (0, 0)}
    payload = json.dumps({"nonce": nonce, "code": code, "tests": list(tests), "audit": limits.audit_hook,
                          "netns": netns, "uid": run_uid, "rlimits": rlimits, "result_fd": w_fd})
    env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": str(work), "TMPDIR": str(work), "PYTHONHASHSEED": "0"}
    t0 = time.perf_counter()
    timed_out = False
    try:
        with open(out_path, "wb") as out_f, open(err_path, "wb") as err_f:
            if uid_drop:
                os.chown(out_path, run_uid, run_uid)
                os.chown(err_path, run_uid, run_uid)
            proc = subprocess.Popen([iso["python"], "-I", "-B", "-c", BOOTSTRAP], stdin=subprocess.PIPE,
                                    stdout=out_f, stderr=err_f, cwd=work, env=env,
                                    pass_fds=(w_fd,), start_new_session=True, close_fds=True)
        os.close(w_fd)
        w_fd = -1
        try:
            proc.stdin.write(payload.encode())
            proc.stdin.close()
        except BrokenPipeError:
            pass
        try:
            proc.wait(timeout=limits.wall_s)
        except subprocess.TimeoutExpired:
            timed_out = True
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait()
        wall_ms = (time.perf_counter() - t0) * 1000
        os.set_blocking(r_fd, False)
        chunks = []
        try:
            while True:
                b = os.read(r_fd, 65536)
                if not b:
                    break
                chunks.append(b)
        except BlockingIOError:
            pass
        result = None
        for line in b"".join(chunks).decode("utf-8", "replace").splitlines():
            try:
                obj = json.loads(line)
            except ValueError:
                continue
            if isinstance(obj, dict) and obj.get("nonce") == nonce:
                result = obj
                break
        rc = proc.returncode
        stdout_tail, stderr_tail = _tail(out_path), _tail(err_path)
    finally:
        if w_fd >= 0:
            os.close(w_fd)
        os.close(r_fd)
        shutil.rmtree(outer, ignore_errors=True)

    return classify_run(tests_total=len(tests), timed_out=timed_out, result=result, rc=rc, wall_ms=wall_ms,
                        layers=layers, stdout_tail=stdout_tail, stderr_tail=stderr_tail, limits=limits)


def sandbox_provenance(limits: SandboxLimits, isolation: dict) -> dict:
    """Columns every execution row carries: the sandbox's settings and the layers granted here."""
    ver = subprocess.run([isolation["python"], "-I", "-c", "import sys; print(sys.version.split()[0])"],
                         capture_output=True, text=True, timeout=30).stdout.strip()
    return {"sandbox_version": SANDBOX_VERSION, "sandbox_python": f"{isolation['python']} {ver}",
            "sandbox_netns": bool(isolation["netns"]), "sandbox_uid_drop": bool(isolation["uid_drop"]),
            "limit_wall_s": limits.wall_s, "limit_cpu_s": limits.cpu_s, "limit_memory_bytes": limits.memory_bytes,
            "limit_file_bytes": limits.file_bytes, "limit_nproc": limits.nproc, "audit_hook": limits.audit_hook}


def execute_samples(samples: list[dict], items: dict[str, dict], limits: SandboxLimits = SandboxLimits(),
                    log=print) -> list[dict]:
    """One row per stored code_generation sample: extract, run, classify. `items` maps item_id to
    {'tests': [...], 'entry_point': ...}. A sample whose item has no tests gets a null outcome with its reason."""
    iso = probe_isolation(limits)
    prov = sandbox_provenance(limits, iso)
    rows = []
    for s in samples:
        item = items.get(s["item_id"])
        base = {"variant": s["variant"], "task": s["task"], "task_version": s["task_version"],
                "item_id": s["item_id"], "decoding": s.get("decoding", "free"), "sample_key": s.get("sample_key"),
                **prov}
        if not item or not item.get("tests"):
            rows.append({**base, "code_source": None, "code_chars": None, "passed": None, "failure_kind": None,
                         "blocked_by": None, "detail": None, "tests_total": 0, "tests_passed": None,
                         "wall_ms": None, "exit_code": None, "isolation": None,
                         "null_reason": "item has no tests in the task data"})
            continue
        code, how = extract_code(s.get("output"), item.get("entry_point"))
        res = run_tests(code, item["tests"], limits, iso)
        d = res.as_dict()
        d.pop("stdout_tail")
        d.pop("stderr_tail")
        rows.append({**base, "code_source": how, "code_chars": len(code), **d, "null_reason": None})
        log(f"{s['variant']} {s['item_id']}: {'pass' if res.passed else res.failure_kind} ({res.wall_ms:.0f} ms)")
    return rows
