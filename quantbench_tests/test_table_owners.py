"""One owner per raw table: every raw table is written by exactly one Dagster asset, and nothing but
assets writes one.

The map is built from the code, not declared beside it: starting at every asset's compute function
(from the loaded definitions), the calls into quantbench's own functions are followed and every
write is collected — `replace_rows` / `write_partition` / `replace_table`, and SQL that creates,
inserts into, updates or deletes from `raw.<table>`. Table names are resolved from literals, module
constants, dicts of table names (`TABLES[name]`, `TABLES.values()`) and arguments passed down. Then
every such write found anywhere in lib/ or defs/ must have been reached from an asset, so a sensor, a
CLI step or a script writing a raw table fails this test as a second writer would.
"""
from __future__ import annotations

import ast
import inspect
import re
import textwrap
import types
from collections import defaultdict
from pathlib import Path

import pytest

import quantbench_assets
from quantbench_assets.lib.core import schemas

PACKAGE = Path(quantbench_assets.__file__).resolve().parent
WRITERS = {"replace_rows", "write_partition", "replace_table"}  # lib/core/warehouse.py, lib/core/snapshot.py
WRITER_MODULES = {PACKAGE / "lib" / "core" / "warehouse.py", PACKAGE / "lib" / "core" / "snapshot.py"}
SQL_WRITE = re.compile(r'(?:create\s+(?:or\s+replace\s+)?table(?:\s+if\s+not\s+exists)?|insert\s+into|update|'
                       r'delete\s+from)\s+"?raw"?\s*\.\s*("?)(\w*|\{)', re.IGNORECASE)
UNRESOLVED = "<unresolved>"


def _sql_tables(node: ast.AST) -> list[tuple[str, ast.AST | None]]:
    """(table, None) for a literal name, ("", expr) for an f-string's `raw."{expr}"`."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [(m.group(2), None) for m in SQL_WRITE.finditer(node.value) if m.group(2) not in ("", "{")]
    if isinstance(node, ast.JoinedStr):
        out, parts = [], node.values
        for i, part in enumerate(parts):
            if isinstance(part, ast.Constant) and isinstance(part.value, str):
                for m in SQL_WRITE.finditer(part.value):
                    if m.group(2) not in ("", "{"):
                        out.append((m.group(2), None))
                    elif m.end() == len(part.value) and i + 1 < len(parts) and isinstance(parts[i + 1], ast.FormattedValue):
                        out.append(("", parts[i + 1].value))
        return out
    return []


def _write_sites(tree: ast.AST):
    """(node, table expression or literal) for every write in a syntax tree."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", None)
            if name in WRITERS:
                arg = node.args[1] if len(node.args) > 1 else next((k.value for k in node.keywords if k.arg == "table"), None)
                yield node, arg
        for table, expr in _sql_tables(node) if isinstance(node, (ast.Constant, ast.JoinedStr)) else []:
            yield node, (table if expr is None else expr)


class Walker:
    """Follows an asset's compute function into quantbench's functions and collects the tables written."""

    def __init__(self):
        self.reached: set[tuple[str, int]] = set()  # (file, line) of every write site seen from an asset

    def tables(self, fn, bindings: dict[str, set[str]] | None = None, depth: int = 0, seen=None) -> set[str]:
        seen = set() if seen is None else seen
        fn = inspect.unwrap(fn)
        key = (fn, tuple(sorted((k, tuple(sorted(v))) for k, v in (bindings or {}).items())))
        if key in seen or depth > 6:
            return set()
        seen.add(key)
        try:
            source = textwrap.dedent(inspect.getsource(fn))
            file = str(Path(inspect.getsourcefile(fn)).resolve())
            first = fn.__code__.co_firstlineno
        except (OSError, TypeError):
            return set()
        tree = ast.parse(source)
        env = dict(fn.__globals__)
        if fn.__closure__:
            env.update({n: c.cell_contents for n, c in zip(fn.__code__.co_freevars, fn.__closure__)})
        local = self._local_bindings(tree, env, bindings or {})
        out: set[str] = set()
        for node, arg in _write_sites(tree):
            self.reached.add((file, first + node.lineno - 1))
            out |= self._resolve(arg, env, local) if not isinstance(arg, str) else {arg}
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                callee = self._callee(node.func, env)
                if callee is None or Path(inspect.getsourcefile(callee) or "").resolve() in WRITER_MODULES:
                    continue
                out |= self.tables(callee, self._bind(callee, node, env, local), depth + 1, seen)
        return out

    @staticmethod
    def _callee(func: ast.AST, env: dict):
        obj = None
        if isinstance(func, ast.Name):
            obj = env.get(func.id)
        elif isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
            base = env.get(func.value.id)
            obj = getattr(base, func.attr, None) if isinstance(base, types.ModuleType) else None
        if isinstance(obj, types.FunctionType) and obj.__module__.startswith("quantbench_assets"):
            return obj
        return None

    def _bind(self, callee, call: ast.Call, env, local) -> dict[str, set[str]]:
        params = list(inspect.signature(callee).parameters)
        bound = {}
        for name, arg in [*zip(params, call.args), *((k.arg, k.value) for k in call.keywords if k.arg)]:
            values = self._resolve(arg, env, local, quiet=True)
            if values:
                bound[name] = values
        return bound

    def _local_bindings(self, tree, env, bindings) -> dict[str, set[str]]:
        local = {k: set(v) for k, v in bindings.items()}
        for node in ast.walk(tree):
            targets, value = [], None
            if isinstance(node, ast.Assign):
                targets, value = node.targets, node.value
            elif isinstance(node, ast.For):
                targets, value = [node.target], node.iter
            if isinstance(node, ast.For) and isinstance(node.target, ast.Tuple) and len(node.target.elts) == 2 \
                    and isinstance(node.iter, ast.Call) and isinstance(node.iter.func, ast.Attribute) \
                    and node.iter.func.attr == "items" and isinstance(node.iter.func.value, ast.Name) \
                    and isinstance(env.get(node.iter.func.value.id), dict):  # for name, table in TABLES.items()
                value_target = node.target.elts[1]
                if isinstance(value_target, ast.Name):
                    local.setdefault(value_target.id, set()).update(
                        v for v in env[node.iter.func.value.id].values() if isinstance(v, str))
            for t in targets:
                if isinstance(t, ast.Name):
                    values = self._resolve(value, env, local, quiet=True, iterate=isinstance(node, ast.For))
                    if values:
                        local.setdefault(t.id, set()).update(values)
        return local

    def _resolve(self, node, env, local, quiet=False, iterate=False) -> set[str]:
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return {node.value}
        if isinstance(node, ast.Name):
            if node.id in local:
                return local[node.id]
            value = env.get(node.id)
            if isinstance(value, str):
                return {value}
            if iterate and isinstance(value, (list, tuple, set)):
                return {v for v in value if isinstance(v, str)}
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            base = env.get(node.value.id)
            if isinstance(base, types.ModuleType) and isinstance(getattr(base, node.attr, None), str):
                return {getattr(base, node.attr)}
        if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name) and isinstance(env.get(node.value.id), dict):
            return {v for v in env[node.value.id].values() if isinstance(v, str)}
        if iterate and isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                and node.func.attr == "values" and isinstance(node.func.value, ast.Name) \
                and isinstance(env.get(node.func.value.id), dict):
            return {v for v in env[node.func.value.id].values() if isinstance(v, str)}
        return set() if quiet else {UNRESOLVED}


@pytest.fixture(scope="module")
def ownership(tmp_path_factory):
    """(raw table -> the assets that write it, the walker) over the loaded definitions."""
    import os

    home = tmp_path_factory.mktemp("owners")
    os.environ.setdefault("DAGSTER_HOME", str(home))
    from quantbench_assets.definitions import defs

    walker, owners = Walker(), defaultdict(set)
    for assets_def in defs().assets or []:
        if not hasattr(assets_def, "op") or assets_def.is_external:
            continue
        fn = assets_def.op.compute_fn.decorated_fn
        name = assets_def.node_def.name
        for table in walker.tables(fn):
            owners[table].add(name)
    return dict(owners), walker


def all_write_sites() -> list[tuple[str, int, str]]:
    """Every write in lib/ and defs/ outside the writer modules: (file, line, text)."""
    out = []
    for path in sorted([*(PACKAGE / "lib").rglob("*.py"), *(PACKAGE / "defs").rglob("*.py")]):
        if path.resolve() in WRITER_MODULES:
            continue
        for node, _ in _write_sites(ast.parse(path.read_text())):
            out.append((str(path.resolve()), node.lineno, ast.get_source_segment(path.read_text(), node)[:80]))
    return out


def test_every_raw_table_has_exactly_one_writing_asset(ownership):
    owners, _ = ownership
    assert UNRESOLVED not in owners, f"a write whose table could not be resolved, in {owners.get(UNRESOLVED)}"
    shared = {t: sorted(a) for t, a in owners.items() if len(a) > 1}
    assert not shared, f"raw tables with more than one writing asset: {shared}"
    declared = set(schemas.RAW)
    unowned = sorted(declared - set(owners))
    assert not unowned, f"raw tables declared in lib/core/schemas.py that no asset writes: {unowned}"
    undeclared = sorted(set(owners) - declared)
    assert not undeclared, f"raw tables written by assets but not declared in lib/core/schemas.py: {undeclared}"


def test_results_from_other_machines_have_one_writer_and_no_other_table(ownership):
    owners, _ = ownership
    external = {t: a for t, a in owners.items() if t.startswith("external_")}
    assert external and all(a == {"external_results"} for a in external.values()), external
    assert not {t for t, a in owners.items() if "external_results" in a} - set(external)


def test_nothing_but_an_asset_writes_a_raw_table(ownership):
    _, walker = ownership
    sites = all_write_sites()
    assert sites, "the write detector found no writes at all"
    stray = [f"{Path(f).relative_to(PACKAGE)}:{line}: {text}" for f, line, text in sites if (f, line) not in walker.reached]
    assert not stray, "raw-table writes not reached from any asset (a second writer outside Dagster?):\n" + "\n".join(stray)
    outside = []
    for path in [*(PACKAGE / "cli").rglob("*.py"), *(PACKAGE.parent / "scripts").rglob("*.py")]:
        if path.exists():
            outside += [f"{path.name}:{n.lineno}" for n, _ in _write_sites(ast.parse(path.read_text()))]
    assert not outside, f"raw tables written outside the assets: {outside}"


TABLE_NAMES = {"a": "external_one", "b": "external_two"}


def _second_writer(con, df):
    from quantbench_assets.lib.core import warehouse

    warehouse.replace_rows(con, "speed_samples", df, {"variant": "x"})
    for _name, table in TABLE_NAMES.items():
        con.execute(f'delete from raw."{table}"')


def test_the_detector_sees_a_second_writer(ownership):
    """The walk is not vacuous: a second function writing an owned table is found, with its tables."""
    owners, _ = ownership
    assert Walker().tables(_second_writer) == {"speed_samples", "external_one", "external_two"}
    src = 'def sneaky(con, df):\n    warehouse.replace_rows(con, "speed_samples", df, {"variant": "x"})\n'
    (node, arg), = list(_write_sites(ast.parse(src)))
    assert arg.value == "speed_samples" and "speed_samples" in owners
    assert _sql_tables(ast.parse('f\'delete from raw."{table}"\'').body[0].value)[0][0] == ""
    assert _sql_tables(ast.Constant("create or replace table raw.gguf_inventory as select 1")) == [("gguf_inventory", None)]


def test_architecture_md_lists_each_raw_table_with_its_one_writer(ownership):
    owners, _ = ownership
    text = (PACKAGE.parent / "ARCHITECTURE.md").read_text()
    section = text.split("## Raw tables and their one writer", 1)[1]
    listed = dict(re.findall(r"^\| `(\w+)` \| `(\w+)` \|$", section, re.MULTILINE))
    actual = {t: next(iter(a)) for t, a in owners.items() if len(a) == 1}
    assert listed == actual
