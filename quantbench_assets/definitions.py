"""Entry point: everything under defs/ is discovered; nobody lists assets by hand."""
from pathlib import Path

import dagster as dg

from quantbench_assets.lib.core import paths


def _project_path() -> Path:
    # In a checkout, pyproject.toml's [tool.dg] names the defs module; an installed package has no
    # pyproject.toml around it, so the project folder's dg.toml (written by `quantbench init`) does.
    here = Path(__file__).resolve().parent
    return here if (here.parent / "pyproject.toml").is_file() else paths.project_root()


@dg.definitions
def defs() -> dg.Definitions:
    return dg.load_from_defs_folder(path_within_project=_project_path())
