"""The library stays navigable: no module over ~400 lines, and no public name defined twice in lib/ (two
`summarize`s or two `GenItem`s that mean different things). Static: reads the source, imports nothing."""
from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

LIB = Path(__file__).resolve().parents[1] / "quantbench_assets" / "lib"
MAX_LINES = 420  # "~400": a module a reader can hold in their head

# Names defined in more than one module on purpose, with why.
SAME_MEANING = {
    "main": "each runnable module's command-line entry point (python -m ...)",
    "ALPHA": "the same 0.05 significance level in comparisons.py and equivalence.py",
}
# Clashes inside modules another change is reworking right now (the lm-eval bridge, the table schemas);
# each entry goes when that work lands.
CLASH_PENDING: set[str] = set()


def _public_names(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names |= {t.id for t in node.targets if isinstance(t, ast.Name)}
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return {n for n in names if not n.startswith("_")}


def _modules() -> list[Path]:
    # A package's __init__ only re-exports what its modules define: not a second definition.
    return sorted(p for p in LIB.rglob("*.py") if p.name != "__init__.py")


def test_no_library_module_is_over_about_400_lines():
    long = {str(p.relative_to(LIB)): n for p in _modules()
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert not long, long


def test_no_public_name_is_defined_in_two_library_modules():
    where: dict[str, list[str]] = defaultdict(list)
    for p in _modules():
        for name in _public_names(p):
            where[name].append(str(p.relative_to(LIB)))
    clashes = {n: ms for n, ms in where.items() if len(ms) > 1 and n not in SAME_MEANING and n not in CLASH_PENDING}
    assert not clashes, clashes


def test_the_checks_see_a_clash_and_a_long_module(tmp_path):
    """The two checks above can fail: a duplicated name and an oversized module are found."""
    a, b = tmp_path / "a.py", tmp_path / "b.py"
    a.write_text("def summarize(x):\n    return x\n" + "\n" * MAX_LINES)
    b.write_text("summarize = None\nSCORE_COLUMNS: dict = {}\n_private = 1\n")
    assert _public_names(a) & _public_names(b) == {"summarize"}
    assert len(a.read_text().splitlines()) > MAX_LINES
