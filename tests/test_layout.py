"""The layout of the tests: helpers live in support modules (tests/support.py for the harness, the
domain helper modules next to it), never in a test module another module imports."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TEST_MODULES = {path.stem for path in (ROOT / "tests").rglob("test_*.py")}


def imported_test_modules(source: str) -> list[str]:
    """The test modules (``test_*``) that ``source`` imports, however the import is spelt."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            names = [base, *(f"{base}.{alias.name}" for alias in node.names)]
        else:
            continue
        found += [name for name in names if any(part in TEST_MODULES for part in name.split("."))]
    return found


def test_no_module_imports_a_test_module():
    offenders = {}
    for folder in ("tests", "bench"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            if imported := imported_test_modules(path.read_text(encoding="utf-8")):
                offenders[str(path.relative_to(ROOT))] = imported
    assert not offenders, f"import the helper from a support module instead: {offenders}"


def test_the_scan_sees_every_spelling_of_such_an_import():
    me = Path(__file__).stem  # (spelt through a name, so that a grep for such imports finds none here)
    assert len(TEST_MODULES) > 10 and me in TEST_MODULES
    for source in (f"from tests.{me} import ROOT", f"import tests.{me}", f"from tests import {me}",
                   f"from .{me} import ROOT", f"from . import {me}", f"import {me} as t",
                   f"def f():\n    from tests.{me} import ROOT\n"):
        assert imported_test_modules(source), source
    for source in ("from tests.support import Server", "from tests import hostile", "import pytest",
                   "from tests.conftest import JANE"):
        assert not imported_test_modules(source), source


def private_imports(source: str) -> list[str]:
    """``module.name`` for each private name (``_name``) ``source`` imports from a project module."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("mockserver"):
            found += [f"{node.module}.{alias.name}" for alias in node.names
                      if alias.name.startswith("_") and not alias.name.startswith("__")]
    return found


def test_no_project_module_imports_another_ones_private_names():
    offenders = {}
    for path in sorted((ROOT / "mockserver").rglob("*.py")):
        if found := private_imports(path.read_text(encoding="utf-8")):
            offenders[str(path.relative_to(ROOT))] = found
    assert not offenders, f"give what other modules use a public name: {offenders}"
    assert private_imports("from mockserver.contract.runner import _plan, run") == ["mockserver.contract.runner._plan"]
    assert private_imports("from mockserver.store import Store\nimport _thread") == []


def test_no_project_module_is_over_500_lines():
    sizes = {str(path.relative_to(ROOT)): len(path.read_text(encoding="utf-8").splitlines())
             for path in (ROOT / "mockserver").rglob("*.py")}
    assert not {name: n for name, n in sizes.items() if n > 500}, "split the module: one concern each"
