"""Start `dagster dev` on 127.0.0.1, take a headless-Chromium screenshot of an asset page, stop it.

    .venv/bin/python scripts/screenshot_ui.py --asset charts_png --out data/reports/ui_charts_png.png

dagster dev ignores SIGINT/SIGTERM when started with a plain `&` (FACTS.md): it is started in its own
session and stopped by killing that process group.
"""
import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def wait_for(url: str, timeout_s: float) -> None:
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(1)
    raise TimeoutError(f"{url} did not answer within {timeout_s:.0f}s")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--asset", default="charts_png")
    ap.add_argument("--out", default=str(ROOT / "data" / "reports" / "ui_charts_png.png"))
    ap.add_argument("--port", type=int, default=3300)
    args = ap.parse_args()
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium:
        print("chromium not found: apt-get install chromium", file=sys.stderr)
        return 2
    env = {**os.environ, "DAGSTER_HOME": os.environ.get("DAGSTER_HOME", str(ROOT / ".dagster_home")),
           "DO_NOT_TRACK": "1", "PATH": f"{ROOT / '.venv' / 'bin'}:{os.environ['PATH']}"}
    log = open(Path(tempfile.gettempdir()) / "quantbench-dagster-dev.log", "w")
    server = subprocess.Popen([str(ROOT / ".venv" / "bin" / "dagster"), "dev", "-h", "127.0.0.1", "-p", str(args.port)],
                              cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        base = f"http://127.0.0.1:{args.port}"
        wait_for(f"{base}/server_info", 180)
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory() as profile:
            subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                            "--disable-background-networking", "--disable-component-update", "--disable-sync",
                            f"--user-data-dir={profile}", "--hide-scrollbars", "--window-size=1600,2400",
                            "--virtual-time-budget=25000", f"--screenshot={args.out}",
                            f"{base}/assets/{args.asset}"], check=True, timeout=180,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        print(f"screenshot: {args.out}")
        return 0
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)


if __name__ == "__main__":
    sys.exit(main())
