"""Start `dagster dev` on 127.0.0.1, take a headless-Chromium screenshot of an asset page, stop it.

    .venv/bin/python scripts/screenshot_ui.py --asset charts_png --out data/reports/ui_charts_png.png
    .venv/bin/python scripts/screenshot_ui.py --graph --out data/reports/ui_asset_graph.png   # the asset graph

DAGSTER_HOME is the instance whose materializations are shown (default .dagster_home). dagster dev
ignores SIGINT/SIGTERM when started with a plain `&` (docs/PLATFORM_NOTES.md): it is started in its own session and
stopped by killing that process group. The browser is Debian's chromium driven by playwright; the
"Join the Dagster community" dialog a fresh instance opens is dismissed before the screenshot.
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


def screenshot(url: str, out: Path, chromium: str, width: int = 1600, height: int = 2000, wait_text: str = "") -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": width, "height": height})
        page.goto(url, wait_until="networkidle", timeout=120_000)
        skip = page.get_by_role("button", name="Skip")
        try:  # the newsletter dialog of a fresh instance covers the page
            skip.click(timeout=5_000)
        except Exception:  # noqa: BLE001 - no dialog: nothing to dismiss
            pass
        if wait_text:
            page.get_by_text(wait_text).first.wait_for(timeout=60_000)
        page.wait_for_timeout(3_000)  # images decode, the graph lays out
        out.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(out), full_page=True)
        browser.close()


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--asset", default="charts_png")
    ap.add_argument("--graph", action="store_true", help="the global asset graph instead of an asset page")
    ap.add_argument("--out", default=str(ROOT / "data" / "reports" / "ui_charts_png.png"))
    ap.add_argument("--port", type=int, default=3300)
    ap.add_argument("--wait-text", default="", help="text to wait for on the page before the screenshot")
    args = ap.parse_args()
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium:
        print("chromium not found: apt-get install chromium", file=sys.stderr)
        return 2
    env = {**os.environ, "DAGSTER_HOME": os.environ.get("DAGSTER_HOME", str(ROOT / ".dagster_home")),
           "DO_NOT_TRACK": "1", "PATH": f"{ROOT / '.venv' / 'bin'}:{os.environ['PATH']}"}
    Path(env["DAGSTER_HOME"]).mkdir(parents=True, exist_ok=True)
    log = open(Path(tempfile.gettempdir()) / "quantbench-dagster-dev.log", "w")
    server = subprocess.Popen([str(ROOT / ".venv" / "bin" / "dagster"), "dev", "-h", "127.0.0.1", "-p", str(args.port)],
                              cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        base = f"http://127.0.0.1:{args.port}"
        wait_for(f"{base}/server_info", 240)
        url = f"{base}/asset-groups" if args.graph else f"{base}/assets/{args.asset}"
        screenshot(url, Path(args.out), chromium, wait_text=args.wait_text)
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
