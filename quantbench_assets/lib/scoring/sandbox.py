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
"""
from __future__ import annotations

import errno
import json
import os
import re
import resource
import secrets
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

SANDBOX_VERSION = "1"
CLONE_NEWNET = 0x40000000

# Failure kinds (failure_kind is null when the completion passed every test).
SYNTAX, ASSERTION, EXCEPTION, TIMEOUT, RESOURCE_LIMIT = "syntax", "assertion", "exception", "timeout", "resource_limit"
NETWORK_BLOCKED, PROCESS_BLOCKED, FILESYSTEM_BLOCKED, NO_CODE = ("network_blocked", "process_blocked",
                                                                 "filesystem_blocked", "no_code")
FAILURE_KINDS = (SYNTAX, ASSERTION, EXCEPTION, TIMEOUT, RESOURCE_LIMIT, NETWORK_BLOCKED, PROCESS_BLOCKED,
                 FILESYSTEM_BLOCKED, NO_CODE)


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


@dataclass
class SandboxResult:
    passed: bool
    failure_kind: str | None       # one of FAILURE_KINDS, null when passed
    blocked_by: str | None         # the layer that stopped it: audit_hook, netns, rlimit_*, wall_clock, uid
    detail: str | None             # exception type and message, or the signal
    tests_total: int
    tests_passed: int
    wall_ms: float
    exit_code: int | None
    isolation: list[str] = field(default_factory=list)  # the layers that were in force
    stdout_tail: str = ""
    stderr_tail: str = ""

    def as_dict(self) -> dict:
        d = asdict(self)
        d["isolation"] = ",".join(self.isolation)
        return d


# ------------------------------------------------------------------------------------ code extraction
_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[^\n]*\n(.*?)(?:```|\Z)", re.DOTALL)


def extract_code(completion: str | None, entry_point: str | None = None) -> tuple[str, str]:
    """(code, how): the fenced block that defines `entry_point` (python-tagged first), else the first
    python/untagged fenced block, else the raw completion. how is 'fenced' | 'fenced_unclosed' | 'raw' | 'empty'."""
    text = completion or ""
    blocks = []
    for m in _FENCE.finditer(text):
        lang, body = m.group(1).lower(), m.group(2)
        blocks.append((lang, body, m.group(0).endswith("```")))
    pyish = [b for b in blocks if b[0] in ("python", "py", "python3", "")]
    if pyish:
        chosen = None
        if entry_point:
            chosen = next((b for b in pyish if re.search(rf"\bdef\s+{re.escape(entry_point)}\s*\(", b[1])), None)
        chosen = chosen or pyish[0]
        return chosen[1].strip("\n") + "\n", "fenced" if chosen[2] else "fenced_unclosed"
    if not text.strip():
        return "", "empty"
    return text.strip("\n") + "\n", "raw"


# ------------------------------------------------------------------------------------ the child side
# Runs in the sandboxed interpreter: read the payload, install the audit hook, exec code and tests,
# write one JSON result line carrying the nonce to fd 3.
_BOOTSTRAP = r'''
import errno as _errno, json as _json, os as _os, sys as _sys
_payload = _json.loads(_sys.stdin.read())
_nonce = _payload.pop("nonce")
# Kernel layers, applied here in a fresh single-threaded interpreter before any completion code runs
# (not in a preexec_fn: that runs Python between fork and exec, unsafe when the parent has threads).
_applied = []
if _payload.get("netns"):
    import ctypes as _ctypes
    if _ctypes.CDLL(None, use_errno=True).unshare(0x40000000) == 0:  # CLONE_NEWNET
        _applied.append("netns")
if _payload.get("uid") is not None:
    _os.setgroups([])
    _os.setgid(_payload["uid"])
    _os.setuid(_payload["uid"])
    _applied.append("uid")
import resource as _resource
for _name, _value in _payload["rlimits"].items():
    _resource.setrlimit(getattr(_resource, _name), tuple(_value))
_root = _os.path.realpath(_os.getcwd())
_violations = []
_RESULT_FD = _payload.pop("result_fd")

def _result(**kw):
    kw["nonce"] = _nonce
    kw["violations"] = _violations[:20]
    kw["applied"] = _applied
    try:
        _os.write(_RESULT_FD, (_json.dumps(kw) + "\n").encode())
    except OSError:
        pass

_PROC = ("os.fork", "os.forkpty", "os.posix_spawn", "os.spawn", "os.exec", "os.system", "subprocess.Popen",
         "os.kill", "os.killpg", "pty.spawn")
_FS = ("os.remove", "os.rename", "os.rmdir", "os.mkdir", "os.chmod", "os.chown", "os.truncate", "os.symlink",
       "os.link", "os.utime", "shutil.rmtree", "shutil.move", "shutil.copyfile", "shutil.copytree", "os.chdir",
       "os.chroot", "os.setxattr", "os.removexattr")

def _inside(p):
    if isinstance(p, int):
        return True
    try:
        p = _os.fsdecode(p)
    except Exception:
        return False
    real = _os.path.realpath(_os.path.join(_root, p))
    return real == _root or real.startswith(_root + _os.sep)

def _hook(event, args):
    kind = None
    if event.startswith("socket."):
        kind = "network_blocked"
    elif event in _PROC:
        kind = "process_blocked"
    elif event == "open":
        path, mode, flags = (list(args) + [None, None, None])[:3]
        writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
            isinstance(flags, int) and flags & (_os.O_WRONLY | _os.O_RDWR | _os.O_CREAT | _os.O_TRUNC | _os.O_APPEND))
        if writing and not _inside(path):
            kind = "filesystem_blocked"
    elif event in _FS:
        paths = [a for a in args[:2] if isinstance(a, (str, bytes, _os.PathLike))]
        if event in ("os.chdir", "os.chroot") or not all(_inside(p) for p in paths):
            kind = "filesystem_blocked"
    elif event == "ctypes.dlopen":
        kind = "process_blocked"
    if kind:
        _violations.append({"kind": kind, "event": event})
        raise PermissionError(_errno.EPERM, "sandbox: %s refused (%s)" % (event, kind))

def _classify(e):
    if isinstance(e, AssertionError):
        return "assertion", None
    if isinstance(e, MemoryError):
        return "resource_limit", "rlimit_as"
    if isinstance(e, RecursionError):
        return "exception", None
    if isinstance(e, OSError):
        if e.errno == _errno.EFBIG:
            return "resource_limit", "rlimit_fsize"
        if isinstance(e, BlockingIOError) and e.errno == _errno.EAGAIN:
            return "resource_limit", "rlimit_nproc"
        if e.errno in (_errno.ENETUNREACH, _errno.EHOSTUNREACH, _errno.EADDRNOTAVAIL) or (
                e.errno == _errno.ECONNREFUSED and "netns" in _applied):
            return "network_blocked", "netns"
        if e.errno in (_errno.EACCES, _errno.EPERM) and "uid" in _applied:
            return "filesystem_blocked", "uid"
    return "exception", None

def _detail(e):
    return ("%s: %s" % (type(e).__name__, e))[:500]

if _payload.get("audit"):
    _sys.addaudithook(_hook)

_ns = {"__name__": "__sandbox__", "__builtins__": __builtins__}
_tests = _payload["tests"]
try:
    _code = compile(_payload["code"], "<completion>", "exec")
except (SyntaxError, ValueError) as e:
    _result(stage="compile", kind="syntax", blocked_by=None, detail=_detail(e), passed=0, total=len(_tests))
    _sys.exit(0)
_first = None
_passed = 0
try:
    exec(_code, _ns)
except BaseException as e:
    _first = e
if _first is None:
    for _t in _tests:
        try:
            exec(compile(_t, "<test>", "exec"), _ns)
            _passed += 1
        except BaseException as e:
            if _first is None:
                _first = e
if _violations:
    _kind, _by, _det = _violations[0]["kind"], "audit_hook", "refused " + _violations[0]["event"]
elif _first is not None:
    _kind, _by = _classify(_first)
    _det = _detail(_first)
else:
    _kind, _by, _det = None, None, None
_result(stage="run", kind=_kind, blocked_by=_by, detail=_det, passed=_passed, total=len(_tests))
_sys.stdout.flush()
_os._exit(0)
'''


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
            proc = subprocess.Popen([iso["python"], "-I", "-B", "-c", _BOOTSTRAP], stdin=subprocess.PIPE,
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

    total = len(tests)
    base = dict(tests_total=total, wall_ms=round(wall_ms, 1), exit_code=rc, isolation=layers,
                stdout_tail=stdout_tail[-500:], stderr_tail=stderr_tail[-500:])
    if timed_out:
        return SandboxResult(False, TIMEOUT, "wall_clock", f"killed after {limits.wall_s:g} s wall clock",
                             tests_passed=(result or {}).get("passed", 0), **base)
    if result is not None:
        applied = set(result.get("applied", []))
        base["isolation"] = [x for x in layers if x not in ("netns", "uid") or x in applied]
        kind = result.get("kind")
        return SandboxResult(kind is None and result.get("passed") == total, kind, result.get("blocked_by"),
                             result.get("detail"), tests_passed=int(result.get("passed", 0)), **base)
    # No result line: the interpreter died (signal or exit) before the bootstrap could report.
    if rc is not None and rc < 0:
        sig = -rc
        if sig == signal.SIGXCPU or (sig == signal.SIGKILL and not timed_out):
            return SandboxResult(False, TIMEOUT, "rlimit_cpu", f"killed by {signal.Signals(sig).name} "
                                 f"after {limits.cpu_s} CPU s", tests_passed=0, **base)
        if sig == signal.SIGXFSZ:
            return SandboxResult(False, RESOURCE_LIMIT, "rlimit_fsize", "SIGXFSZ", tests_passed=0, **base)
        return SandboxResult(False, EXCEPTION, None, f"killed by {signal.Signals(sig).name}", tests_passed=0, **base)
    low = stderr_tail.lower()
    if "memoryerror" in low:
        return SandboxResult(False, RESOURCE_LIMIT, "rlimit_as", "MemoryError before a result", tests_passed=0, **base)
    if "file too large" in low:
        return SandboxResult(False, RESOURCE_LIMIT, "rlimit_fsize", "File too large before a result",
                             tests_passed=0, **base)
    return SandboxResult(False, EXCEPTION, None, f"exited {rc} without a result: {stderr_tail[-200:]}",
                         tests_passed=0, **base)


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
