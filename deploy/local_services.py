"""Private PostgreSQL and Redis servers on this machine, for the deployment tests and the benchmark.

Each server gets its own data folder and a free loopback port and is stopped on exit, so a run never
touches a system-wide service. PostgreSQL refuses to run as root; as root the server runs as the
`postgres` account that Debian's package creates.
"""
from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


class ServiceUnavailable(RuntimeError):
    """The server could not be started here; the message says why (tests skip with it)."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pg_bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}")) or [shutil.which(name)]
    if not found[-1]:
        raise ServiceUnavailable(f"PostgreSQL's {name} is not installed (Debian: apt-get install postgresql)")
    return found[-1]


def _run(cmd: list[str], as_user: str | None, **kw) -> subprocess.CompletedProcess:
    if as_user:
        cmd = ["runuser", "-u", as_user, "--", *cmd]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, **kw)


@contextmanager
def postgres(db_name: str = "dagster") -> Iterator[dict[str, str]]:
    """Start a private PostgreSQL server; yield the DAGSTER_PG_* variables deploy/postgres/dagster.yaml reads."""
    as_user = None
    if os.geteuid() == 0:
        try:
            import pwd
            pwd.getpwnam("postgres")
        except KeyError:
            raise ServiceUnavailable("running as root and there is no 'postgres' account to run the server as")
        as_user = "postgres"
    root = Path(tempfile.mkdtemp(prefix="qb-pg-"))
    os.chmod(root, 0o755)
    if as_user:
        shutil.chown(root, user=as_user)
    data, port = root / "data", free_port()
    user, password = "quantbench", "quantbench"
    pwfile = root / "pw"
    pwfile.write_text(password)
    if as_user:
        shutil.chown(pwfile, user=as_user)
    init = _run([_pg_bin("initdb"), "-D", str(data), "-U", user, "--pwfile", str(pwfile), "-A", "scram-sha-256",
                 "-E", "UTF8"], as_user)
    if init.returncode:
        shutil.rmtree(root, ignore_errors=True)
        raise ServiceUnavailable(f"initdb failed: {init.stderr.strip()[-400:]}")
    pg_ctl = _pg_bin("pg_ctl")
    start = _run([pg_ctl, "-D", str(data), "-l", str(root / "server.log"), "-w", "-t", "60", "-o",
                  f"-p {port} -k {root} -c listen_addresses=127.0.0.1", "start"], as_user)
    if start.returncode:
        log = (root / "server.log").read_text() if (root / "server.log").exists() else ""
        shutil.rmtree(root, ignore_errors=True)
        raise ServiceUnavailable(f"pg_ctl start failed: {(start.stderr + log).strip()[-400:]}")
    try:
        env = {"PGPASSWORD": password}
        made = _run([_pg_bin("createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", user, db_name], None,
                    env={**os.environ, **env})
        if made.returncode:
            raise ServiceUnavailable(f"createdb failed: {made.stderr.strip()}")
        yield {"DAGSTER_PG_HOST": "127.0.0.1", "DAGSTER_PG_PORT": str(port), "DAGSTER_PG_USERNAME": user,
               "DAGSTER_PG_PASSWORD": password, "DAGSTER_PG_DB": db_name}
    finally:
        _run([pg_ctl, "-D", str(data), "-m", "fast", "-w", "stop"], as_user)
        shutil.rmtree(root, ignore_errors=True)


class RedisServer:
    """A private redis-server with its data folder; restart() kills it and starts it again on the same
    port and folder, as a broker crash and restart would.

    Persistence is on, as a production broker needs it: every write is appended to the AOF and fsynced
    before Redis answers (`appendfsync always`), so the queued tasks survive even a SIGKILL.
    """

    def __init__(self) -> None:
        self.exe = shutil.which("redis-server")
        if not self.exe:
            raise ServiceUnavailable("redis-server is not installed (Debian: apt-get install redis-server)")
        self.root = Path(tempfile.mkdtemp(prefix="qb-redis-"))
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [self.exe, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.root), "--save", "",
             "--appendonly", "yes", "--appendfsync", "always", "--logfile", str(self.root / "redis.log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                    s.sendall(b"PING\r\n")
                    # "-LOADING" while it replays the AOF: not ready yet
                    if s.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                log = (self.root / "redis.log").read_text()[-400:] if (self.root / "redis.log").exists() else ""
                raise ServiceUnavailable(f"redis-server did not answer on port {self.port}: {log}")
            time.sleep(0.2)

    def stop(self, kill: bool = False) -> None:
        if self.proc is not None and self.proc.poll() is None:
            if kill:
                self.proc.kill()
            else:
                self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)

    def restart(self, down_s: float = 0.0) -> None:
        """Kill the server (SIGKILL: no shutdown save), leave it down `down_s` seconds, start it again."""
        self.stop(kill=True)
        time.sleep(down_s)
        self.start()

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


@contextmanager
def redis_server() -> Iterator[RedisServer]:
    """Start a private, persistent Redis server; yield it (its .url, .restart()); remove it on exit."""
    server = RedisServer()
    try:
        server.start()
        yield server
    finally:
        server.remove()


@contextmanager
def redis() -> Iterator[str]:
    """Start a private, persistent Redis server; yield its URL."""
    with redis_server() as server:
        yield server.url


class CeleryWorker:
    """One `dagster-celery worker` (a Celery main process and its pool of `concurrency` children)."""

    def __init__(self, name: str, queues: list[str], env: dict[str, str], log_path: Path, concurrency: int = 1):
        self.name, self.log_path = name, log_path
        root = Path(__file__).resolve().parents[1]
        venv_bin = str(Path(sys.executable).parent)
        cmd = [str(Path(venv_bin) / "dagster-celery"), "worker", "start", "-A", "dagster_celery.app",
               "-y", str(root / "deploy" / "celery" / "celery.yaml"), "-q", ",".join(queues), "-n", name,
               "--", "--concurrency", str(concurrency), "--without-gossip", "--without-mingle"]
        full_env = {**os.environ, **env, "PATH": venv_bin + os.pathsep + os.environ.get("PATH", "")}
        self._log = open(log_path, "w")
        # its own session, so stop() can end this worker's whole process group and nothing else
        self.proc = subprocess.Popen(cmd, cwd=root, env=full_env, stdout=self._log, stderr=subprocess.STDOUT,
                                     start_new_session=True)

    def wait_ready(self, timeout_s: float = 180) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ServiceUnavailable(f"celery worker {self.name} exited: {self.log_path.read_text()[-600:]}")
            if " ready." in self.log_path.read_text():
                return
            time.sleep(0.5)
        raise ServiceUnavailable(f"celery worker {self.name} not ready after {timeout_s:.0f} s")

    def pool_processes(self) -> list[int]:
        """PIDs of the pool children (the processes that run steps) under this worker's main process."""
        import psutil

        procs = psutil.Process(self.proc.pid).children(recursive=True)
        pids = {p.pid for p in procs}
        return [p.pid for p in procs if p.ppid() in pids and "celery" in " ".join(p.cmdline())]

    def stop(self) -> None:
        if self.proc.poll() is None:
            import signal

            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        self._log.close()


@contextmanager
def celery_workers(names_and_queues: dict[str, list[str]], env: dict[str, str], log_dir: Path) -> Iterator[dict]:
    """Start the named workers (name -> queues) and wait until each is ready; stop them on exit."""
    workers = {}
    try:
        for name, queues in names_and_queues.items():
            workers[name] = CeleryWorker(name, queues, env, log_dir / f"worker-{name}.log")
        for w in workers.values():
            w.wait_ready()
        yield workers
    finally:
        for w in workers.values():
            w.stop()
