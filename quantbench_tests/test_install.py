"""The package installs and runs outside the checkout: `pip install .` into a fresh venv, then the CLI
from another directory, with the project folder coming from QUANTBENCH_HOME (or `quantbench init`).

The venv gets its dependencies from the project's .venv through a .pth file (a `--system-site-packages`
venv made from .venv's interpreter would see the base Python's packages, not .venv's), and the
package itself with `pip install --no-deps --no-build-isolation`, so nothing is downloaded."""
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from quantbench_assets.lib.core import paths

CHECKOUT = Path(__file__).resolve().parents[1]


def _env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("QUANTBENCH_", "PYTHONPATH", "DAGSTER_HOME"))}
    # dbt comes from the project's venv, as every other dependency does
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    return {**env, **extra}


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(venv python, venv bin) with quantbench installed from a copy of this checkout's sources."""
    root = tmp_path_factory.mktemp("install")
    src = root / "src"
    shutil.copytree(CHECKOUT / "quantbench_assets", src / "quantbench_assets",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for name in ("pyproject.toml", "setup.py", "README.md"):
        shutil.copy2(CHECKOUT / name, src / name)
    for rel in paths.project_files(CHECKOUT):
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(CHECKOUT / rel, src / rel)
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    py = venv / "bin" / "python"
    site = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    Path(site, "_quantbench_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    proc = subprocess.run([str(py), "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", str(src)],
                          capture_output=True, text=True, cwd=root, env=_env(), timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    shutil.rmtree(src)  # nothing may be read from the sources afterwards
    return py, venv / "bin"


def test_the_cli_runs_from_any_directory_and_says_how_to_find_the_project(installed, tmp_path):
    py, bin_ = installed
    where = subprocess.run([str(py), "-c", "import quantbench_assets; print(quantbench_assets.__file__)"],
                           capture_output=True, text=True, cwd=tmp_path, env=_env())
    assert str(bin_.parent) in where.stdout, where.stdout + where.stderr  # the installed copy, not the checkout

    help_ = subprocess.run([str(bin_ / "quantbench"), "--help"], capture_output=True, text=True, cwd=tmp_path, env=_env())
    assert help_.returncode == 0, help_.stderr
    assert "init" in help_.stdout

    lost = subprocess.run([str(bin_ / "quantbench"), "run", "--model", "smollm2-135m-instruct"],
                          capture_output=True, text=True, cwd=tmp_path, env=_env())
    assert lost.returncode == 2
    assert "set QUANTBENCH_HOME to a quantbench checkout or run `quantbench init DIR`" in lost.stderr
    assert "Traceback" not in lost.stderr

    wrong = subprocess.run([str(bin_ / "quantbench"), "answer"], capture_output=True, text=True, cwd=tmp_path,
                           env=_env(QUANTBENCH_HOME=str(tmp_path)))
    assert wrong.returncode == 2 and "is not a quantbench project folder" in wrong.stderr


def test_init_copies_every_project_file_and_the_installed_cli_reads_the_catalog_from_it(installed, tmp_path):
    py, bin_ = installed
    home = tmp_path / "qb"
    init = subprocess.run([str(bin_ / "quantbench"), "init", str(home)], capture_output=True, text=True,
                          cwd=tmp_path, env=_env(), timeout=300)
    assert init.returncode == 0, init.stdout + init.stderr
    # every input file of the checkout was shipped and copied (a new dbt folder or data file included)
    assert set(paths.project_files(home)) == set(paths.project_files(CHECKOUT))
    assert (home / "dbt" / "target" / "manifest.json").is_file()  # parsed, so dagster-dbt can load it

    env = _env(QUANTBENCH_HOME=str(home), DAGSTER_HOME=str(tmp_path / "dagster_home"))
    plan = subprocess.run([str(bin_ / "quantbench"), "run", "--model", "no-such-model"], capture_output=True,
                          text=True, cwd="/", env=env)
    assert plan.returncode == 2
    assert "unknown model(s) ['no-such-model']" in plan.stderr and "smollm2-135m-instruct" in plan.stderr

    code = ("from quantbench_assets.definitions import defs; from quantbench_assets.lib.core import paths; "
            "d = defs(); print(len(list(d.assets)), paths.dbt_project_dir(), paths.warehouse_path())")
    load = subprocess.run([str(py), "-c", code], capture_output=True, text=True, cwd="/", env=env, timeout=300)
    assert load.returncode == 0, load.stderr[-3000:]
    n_assets, dbt_dir, warehouse = load.stdout.split()[-3:]
    assert int(n_assets) > 10
    assert Path(dbt_dir) == home / "dbt" and Path(warehouse) == home / "data" / "warehouse" / "quantbench.duckdb"

    again = subprocess.run([str(bin_ / "quantbench"), "init", str(home)], capture_output=True, text=True, env=_env())
    assert again.returncode == 2 and "already a quantbench project folder" in again.stderr
