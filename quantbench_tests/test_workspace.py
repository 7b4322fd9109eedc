"""workspace.yaml (fixed by the design card) loads the code location the README's UI command serves."""
import os
import subprocess
import sys
from pathlib import Path

from quantbench_assets.lib.core import paths


def test_dagster_loads_the_code_location_from_workspace_yaml(tmp_path):
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    dagster = str(Path(sys.executable).parent / "dagster")
    result = subprocess.run(
        [dagster, "definitions", "validate", "-w", "workspace.yaml"],
        cwd=paths.PROJECT_ROOT, capture_output=True, text=True, timeout=300,
        env={**os.environ, "DAGSTER_HOME": str(home), "DO_NOT_TRACK": "1"},
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "Validation successful for code location quantbench" in result.stdout + result.stderr
