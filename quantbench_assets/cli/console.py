"""The terminal and the log file: `say` writes progress lines to the terminal while `quiet_to` points
fd 1 and fd 2 (llama.cpp's C output, Dagster's logs) at the log file a run names."""
from __future__ import annotations

import contextlib
import os
import sys
import time
from pathlib import Path

_TERM = None  # the terminal, kept while fd 1/2 point at the log file


def say(msg: str) -> None:
    line = f"[quantbench {time.strftime('%H:%M:%S')}] {msg}"
    if _TERM is not None:
        _TERM.write(line + "\n")
        _TERM.flush()
        print(line, flush=True)  # and into the log file, beside what it summarizes
    else:
        print(line, flush=True)


@contextlib.contextmanager
def quiet_to(log_path: Path):
    """Point fd 1 and fd 2 at the log file (so llama.cpp's C-level prints and Dagster's logs land there)
    while `say` keeps writing to the terminal."""
    global _TERM
    log_path.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved_out, saved_err = os.dup(1), os.dup(2)
    log_fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    _TERM = os.fdopen(os.dup(saved_out), "w", buffering=1)
    os.dup2(log_fd, 1)
    os.dup2(log_fd, 2)
    os.close(log_fd)
    try:
        yield
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved_out, 1)
        os.dup2(saved_err, 2)
        os.close(saved_out)
        os.close(saved_err)
        _TERM.close()
        _TERM = None
