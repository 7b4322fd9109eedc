"""What a sandboxed run came to: the failure kinds, the result record, and the classification of a run
whose interpreter reported (the child's own verdict) or died before it could (signal, exit code, stderr)."""
from __future__ import annotations

import signal
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .sandbox import SandboxLimits

# Failure kinds (failure_kind is null when the completion passed every test).
SYNTAX, ASSERTION, EXCEPTION, TIMEOUT, RESOURCE_LIMIT = "syntax", "assertion", "exception", "timeout", "resource_limit"
NETWORK_BLOCKED, PROCESS_BLOCKED, FILESYSTEM_BLOCKED, NO_CODE = ("network_blocked", "process_blocked",
                                                                 "filesystem_blocked", "no_code")
FAILURE_KINDS = (SYNTAX, ASSERTION, EXCEPTION, TIMEOUT, RESOURCE_LIMIT, NETWORK_BLOCKED, PROCESS_BLOCKED,
                 FILESYSTEM_BLOCKED, NO_CODE)


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


def classify_run(*, tests_total: int, timed_out: bool, result: dict | None, rc: int | None, wall_ms: float,
                 layers: list[str], stdout_tail: str, stderr_tail: str, limits: "SandboxLimits") -> SandboxResult:
    """The SandboxResult of one run: the child's result line (`result`, None when it never came), its
    exit status and output tails, and the isolation layers that were requested."""
    total = tests_total
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
