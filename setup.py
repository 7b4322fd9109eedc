"""Everything about the package is in pyproject.toml except one list that must be computed: the project
files (the dbt project and the input data) installed under <prefix>/share/quantbench, which
`quantbench init DIR` copies into a project folder. The rule for which files those are is
lib/core/paths.py's project_files, shared with `quantbench init`."""
import importlib.util
from pathlib import Path

from setuptools import setup

ROOT = Path(__file__).resolve().parent
# paths.py imports only the standard library: load it by file, without importing the package
_spec = importlib.util.spec_from_file_location("_qb_paths", ROOT / "quantbench_assets" / "lib" / "core" / "paths.py")
_paths = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_paths)

data_files: dict[str, list[str]] = {}
for rel in _paths.project_files(ROOT):
    data_files.setdefault(str(Path("share", "quantbench", rel.parent)), []).append(str(rel))

setup(data_files=sorted(data_files.items()))
