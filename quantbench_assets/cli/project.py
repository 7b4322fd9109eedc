"""`init`: copy the project files into a folder and parse its dbt project there."""
from __future__ import annotations

import os
import sys
from pathlib import Path

from quantbench_assets.lib.core import paths


def init_project(folder: Path) -> int:
    try:
        home = paths.init_project(folder)
    except (paths.ProjectNotFound, FileExistsError) as e:
        print(f"quantbench init: error: {e}", file=sys.stderr)
        return 2
    # dagster-dbt loads the dbt project from its manifest: parse it once here, as set-up does in a checkout
    import shutil
    import subprocess

    dbt = shutil.which("dbt") or str(Path(sys.executable).parent / "dbt")
    try:
        proc = subprocess.run([dbt, "parse", "--profiles-dir", ".", "--quiet"], cwd=home / "dbt",
                              env={**os.environ, "DO_NOT_TRACK": "1"}, capture_output=True, text=True)
    except FileNotFoundError:
        print(f"quantbench init: files copied to {home}, but no dbt executable was found (PATH, or {dbt}) "
              "to parse the dbt project", file=sys.stderr)
        return 1
    if proc.returncode != 0:
        print(f"quantbench init: `dbt parse` failed in {home / 'dbt'}:\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}",
              file=sys.stderr)
        return 1
    print(f"quantbench project files copied to {home}\nuse it with:  export {paths.HOME_ENV}={home}")
    return 0
