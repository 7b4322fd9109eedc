"""ARCHITECTURE.md matches the tree: every module path it names exists, and every module under lib/ is
named (a module added or moved without updating the map fails here)."""
import re
from pathlib import Path

import quantbench_assets

PACKAGE = Path(quantbench_assets.__file__).resolve().parent
ROOT = PACKAGE.parent
TEXT = (ROOT / "ARCHITECTURE.md").read_text()
NAMED_CODE = set(re.findall(r"`((?:lib|defs|cli)/[\w/]+\.py|definitions\.py)`", TEXT))
NAMED_DBT = set(re.findall(r"`(dbt/[\w/]+\.(?:sql|yml))`", TEXT))


def test_every_path_architecture_md_names_exists():
    assert len(NAMED_CODE) > 60 and NAMED_DBT
    missing = sorted(p for p in NAMED_CODE if not (PACKAGE / p).is_file())
    missing += sorted(p for p in NAMED_DBT if not (ROOT / p).is_file())
    assert not missing, f"ARCHITECTURE.md names paths that do not exist: {missing}"


def test_every_lib_defs_and_cli_module_is_named_in_architecture_md():
    modules = {str(p.relative_to(PACKAGE)) for d in ("lib", "defs", "cli") for p in (PACKAGE / d).rglob("*.py")
               if p.name not in ("__init__.py", "__main__.py")}
    unnamed = sorted(modules - NAMED_CODE)
    assert not unnamed, f"modules missing from ARCHITECTURE.md's map: {unnamed}"


def test_every_concept_of_the_domain_has_an_owner_row():
    table = TEXT.split("## Concepts and their owners", 1)[1].split("\n## ", 1)[0]
    concepts = {m.strip() for m in re.findall(r"^\| ([^|]+?) \|", table, re.MULTILINE)} - {"concept", "---"}
    expected = {"model", "rung (variant)", "quant type", "baseline", "task", "scorer", "sample", "metric",
                "perplexity", "KLD", "speed", "memory", "cost", "verdict", "tier", "Pareto", "decision",
                "statistics", "report", "site"}
    assert expected <= concepts, sorted(expected - concepts)
