"""llama-cpp-python's OpenAI-compatible server on 127.0.0.1, started our way.

Why not `python -m llama_cpp.server`: it builds `Llama(...)` with llama.cpp's default model params,
and on these machines' AMX CPUs a native 0.3.36 build segfaults in ggml_backend_amx_mul_mat on any
multi-token batch unless `use_extra_bufts=False` (engine.EngineSettings.extra_buffers). The server
exposes no switch for it, so this launcher applies the same patch as the in-process engine
(engine.model_params) for the server's whole life, then runs the server's own FastAPI app.

    python -m quantbench_assets.lib.engines.server --model X.gguf --port-file /tmp/port   # child process
    with LlamaCppServer(path, settings) as server: server.url                   # from Python

The port is ephemeral: the launcher binds 127.0.0.1:0 itself, hands the listening socket to uvicorn
and writes the port to --port-file only after the model has loaded, so "file exists" means "ready
to serve" and there is no pick-a-free-port race. Loopback only: no option binds another address.
"""
from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from .base import EngineSettings

HOST = "127.0.0.1"
MODEL_ALIAS = "quantbench"


# ─── the child process ───────────────────────────────────────────────────────────────────────────


def _serve(args: argparse.Namespace) -> None:
    import uvicorn
    from llama_cpp.server.app import create_app
    from llama_cpp.server.settings import ModelSettings, ServerSettings

    from ..engines.llama import model_params

    with model_params(use_extra_bufts=args.extra_buffers):  # held until the server exits (see above)
        model = ModelSettings(
            model=args.model, model_alias=MODEL_ALIAS, n_ctx=args.n_ctx, n_batch=args.n_batch,
            n_threads=args.n_threads, n_threads_batch=args.n_threads, seed=args.seed, use_mmap=args.use_mmap,
            n_gpu_layers=args.n_gpu_layers, main_gpu=args.main_gpu,
            # The server defaults to logits_all=True: n_ctx x vocab floats that /v1/completions
            # without logprobs never reads (docs/PLATFORM_NOTES.md: 1.24 GB for Qwen at 2048).
            logits_all=False, verbose=False,
        )
        app = create_app(server_settings=ServerSettings(host=HOST, port=0), model_settings=[model])
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((HOST, 0))
        port = sock.getsockname()[1]
        server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
        # Written after create_app (the model is loaded) and before serving: connections made once
        # the file exists wait in the listen backlog instead of being refused.
        sock.listen(64)
        tmp = Path(args.port_file + ".partial")
        tmp.write_text(str(port))
        os.replace(tmp, args.port_file)
        server.run(sockets=[sock])


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m quantbench_assets.lib.engines.server", description=__doc__.split("\n")[0])
    p.add_argument("--model", required=True)
    p.add_argument("--port-file", required=True, help="the bound port is written here once the model is loaded")
    d = EngineSettings()
    p.add_argument("--n-ctx", type=int, default=d.n_ctx)
    p.add_argument("--n-threads", type=int, default=d.threads())
    p.add_argument("--n-batch", type=int, default=d.n_batch)
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--no-mmap", dest="use_mmap", action="store_false")
    p.add_argument("--n-gpu-layers", type=int, default=d.n_gpu_layers)
    p.add_argument("--main-gpu", type=int, default=d.main_gpu)
    p.add_argument("--extra-buffers", action="store_true", help="use llama.cpp's extra buffer types (crashes on AMX)")
    _serve(p.parse_args(argv))


# ─── the parent side ─────────────────────────────────────────────────────────────────────────────


class ServerStartError(RuntimeError):
    pass


class LlamaCppServer:
    """The launcher as a context manager: start, wait until it answers, always terminate.

    Readiness is a bounded loop (`start_timeout_s`): the port file must appear and GET /v1/models
    must answer 200. The child runs in its own session, so stopping it (SIGTERM, then SIGKILL after
    `stop_timeout_s`) reaches nothing else; its output goes to a log file whose tail is quoted when
    start-up fails.
    """

    def __init__(self, model_path: Path | str, settings: EngineSettings = EngineSettings(), *,
                 start_timeout_s: float = 60.0, stop_timeout_s: float = 5.0):
        self.model_path = Path(model_path)
        self.settings = settings
        self.start_timeout_s = start_timeout_s
        self.stop_timeout_s = stop_timeout_s
        self.proc: subprocess.Popen | None = None
        self.port: int | None = None
        self.startup_s: float | None = None
        self._dir: tempfile.TemporaryDirectory | None = None

    @property
    def url(self) -> str:
        if self.port is None:
            raise RuntimeError("the server is not running")
        return f"http://{HOST}:{self.port}"

    @property
    def model(self) -> str:
        return MODEL_ALIAS

    def command(self, port_file: Path) -> list[str]:
        s = self.settings
        cmd = [sys.executable, "-m", "quantbench_assets.lib.engines.server", "--model", str(self.model_path),
               "--port-file", str(port_file), "--n-ctx", str(s.n_ctx), "--n-threads", str(s.threads()),
               "--n-batch", str(s.n_batch), "--seed", str(s.seed), "--n-gpu-layers", str(s.n_gpu_layers),
               "--main-gpu", str(s.main_gpu)]
        if not s.use_mmap:
            cmd.append("--no-mmap")
        if s.extra_buffers:
            cmd.append("--extra-buffers")
        return cmd

    def start(self) -> "LlamaCppServer":
        if not self.model_path.exists():
            raise FileNotFoundError(f"no GGUF at {self.model_path}")
        self._dir = tempfile.TemporaryDirectory(prefix="qb-server-")
        port_file = Path(self._dir.name) / "port"
        self._log_path = Path(self._dir.name) / "server.log"
        log = open(self._log_path, "wb")
        t0 = time.monotonic()
        # cwd: the project root, so `-m quantbench_assets...` resolves in an editable or plain checkout.
        self.proc = subprocess.Popen(self.command(port_file), stdout=log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True,
                                     cwd=Path(__file__).resolve().parents[3])
        log.close()
        try:
            self._wait_ready(port_file, t0)
        except BaseException:
            self.stop()
            raise
        self.startup_s = time.monotonic() - t0
        return self

    def _wait_ready(self, port_file: Path, t0: float) -> None:
        deadline = t0 + self.start_timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ServerStartError(f"the server exited with code {self.proc.returncode}:\n{self.log_tail()}")
            if self.port is None and port_file.exists():
                self.port = int(port_file.read_text())
            if self.port is not None:
                try:
                    if httpx.get(f"{self.url}/v1/models", timeout=2.0).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
            time.sleep(0.1)
        raise ServerStartError(f"the server was not ready after {self.start_timeout_s:.0f} s:\n{self.log_tail()}")

    def log_tail(self, n_chars: int = 2000) -> str:
        try:
            return self._log_path.read_text(errors="replace")[-n_chars:]
        except (AttributeError, OSError):
            return ""

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)  # its own session: the group is the server alone
            try:
                proc.wait(timeout=self.stop_timeout_s)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=self.stop_timeout_s)
        self.port = None
        if self._dir is not None:
            self._dir.cleanup()
            self._dir = None

    def __enter__(self) -> "LlamaCppServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


if __name__ == "__main__":
    main()
