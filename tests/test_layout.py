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
    assert private_imports("from mockserver.store.memory import Store\nimport _thread") == []


def test_no_project_module_is_over_500_lines():
    sizes = {str(path.relative_to(ROOT)): len(path.read_text(encoding="utf-8").splitlines())
             for path in (ROOT / "mockserver").rglob("*.py")}
    assert not {name: n for name, n in sizes.items() if n > 500}, "split the module: one concern each"


# -- the layers of the package -------------------------------------------------------------------------------

# Each package of mockserver/ sits on one layer and imports only from its own layer or those below it.
# The checkers (contract, drift, record, proxy, and what they share in remote) sit on top beside the CLI; they
# build a fake only through the app builder and never import the store.
LAYERS = {
    "core": 0,       # raw ASGI, problems, files, text, loopback, clock: nothing of the Users API
    "spec": 1,       # what the contract says: routes, operations, schemas, coverage model
    "fixtures": 2,   # the fixture files: format, validation, generation
    "store": 3,      # the state: the in-memory backend, --state-file durability
    "server": 4,     # the request path of the Users API
    "features": 5,   # CORS, chaos, scenarios, sessions, journal, live coverage, --watch
    "admin": 5,      # the admin API and the dashboard (a feature with its own spec)
    "app": 6,        # the one builder and the one pipeline
    "remote": 7, "contract": 7, "drift": 7, "record": 7, "proxy": 7, "replay": 7,  # the checkers
}
CHECKERS = {name for name, rank in LAYERS.items() if rank == 7}
TOP_LEVEL_MODULES = {"__init__.py", "__main__.py", "cli.py", "pytest_plugin.py"}


def imported_project_modules(source: str) -> list[str]:
    """Every ``mockserver.*`` module (or ``module.name``) that ``source`` imports."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("mockserver"):
            found += [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
        elif isinstance(node, ast.Import):
            found += [alias.name for alias in node.names if alias.name.startswith("mockserver")]
    return found


def layer_violations(package: str, source: str) -> list[str]:
    """The imports in a module of ``package`` that point up the layers (or from a checker into the store)."""
    bad = []
    for module in imported_project_modules(source):
        parts = module.split(".")
        if len(parts) < 2 or parts[1] not in LAYERS or parts[1] == package:
            continue
        other = parts[1]
        if package in CHECKERS:
            if other == "store":
                bad.append(module)
        elif LAYERS[other] > LAYERS[package]:
            bad.append(module)
    return sorted(set(bad))


def test_the_top_of_the_package_holds_only_the_entry_points():
    top = {path.name for path in (ROOT / "mockserver").glob("*.py")}
    assert top <= TOP_LEVEL_MODULES, f"put these in the package of their layer: {sorted(top - TOP_LEVEL_MODULES)}"
    packages = {path.name for path in (ROOT / "mockserver").iterdir()
                if path.is_dir() and (path / "__init__.py").exists()}
    assert packages <= set(LAYERS), f"give these packages a layer in LAYERS: {sorted(packages - set(LAYERS))}"


def test_every_import_points_down_the_layers():
    offenders = {}
    for path in sorted((ROOT / "mockserver").rglob("*.py")):
        relative = path.relative_to(ROOT / "mockserver")
        if len(relative.parts) < 2:
            continue  # the entry points (cli, pytest_plugin) may import any layer
        if found := layer_violations(relative.parts[0], path.read_text(encoding="utf-8")):
            offenders[str(relative)] = found
    assert not offenders, f"an import points up the layers (spec <- store <- server <- features): {offenders}"


def test_the_layer_rule_sees_what_it_must():
    assert layer_violations("spec", "from mockserver.store.memory import Store") == [
        "mockserver.store.memory", "mockserver.store.memory.Store"]
    assert layer_violations("server", "import mockserver.features.chaos")
    assert layer_violations("drift", "from mockserver.store import memory")
    assert not layer_violations("drift", "from mockserver.app.build import build_app")
    assert not layer_violations("features", "from mockserver.admin.api import PREFIX")
    assert not layer_violations("store", "from mockserver.core.clock import format_timestamp")


def project_import_graph() -> dict[str, set[str]]:
    """Module -> the project modules it imports (anywhere in it, TYPE_CHECKING blocks and functions too)."""
    modules = {}
    for path in (ROOT / "mockserver").rglob("*.py"):
        name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        modules[name.removesuffix(".__init__")] = path
    graph = {}
    for name, path in modules.items():
        imported = set()
        for module in imported_project_modules(path.read_text(encoding="utf-8")):
            while module and module not in modules:
                module = module.rpartition(".")[0]
            if module and module != name:
                imported.add(module)
        # ``from mockserver.contract import checks`` names the package and its module: count the module.
        graph[name] = {module for module in imported if not any(other.startswith(module + ".") for other in imported)}
    return graph


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The cycles of ``graph``: each strongly connected set of more than one module, sorted."""
    order: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found = []

    def visit(module: str) -> None:
        order[module] = low[module] = len(order)
        stack.append(module)
        for other in sorted(graph.get(module, ())):
            if other not in order:
                visit(other)
                low[module] = min(low[module], low[other])
            elif other in stack:
                low[module] = min(low[module], order[other])
        if low[module] == order[module]:
            component = []
            while True:
                other = stack.pop()
                component.append(other)
                if other == module:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for module in sorted(graph):
        if module not in order:
            visit(module)
    return found


def test_no_two_project_modules_import_each_other():
    cycles = import_cycles(project_import_graph())
    assert not cycles, f"an import cycle (put what both need in one of them, or below both): {cycles}"
    assert import_cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert import_cycles({"a": {"b"}, "b": set()}) == []


# -- slow tests are marked where they are defined ---------------------------------------------------------

# What starts a server or a process: the command (Server, ProxyProcess, MockserverProcess, run_cli of
# tests.support), an app on a real socket (LiveServer, Served), any subprocess.
STARTERS = {"Server", "ProxyProcess", "MockserverProcess", "LiveServer", "Served", "Popen"}


def _is_slow_mark(decorators: list[ast.expr]) -> bool:
    return any("mark.slow" in ast.unparse(decorator) for decorator in decorators)


def _starts_something(node: ast.AST, run_cli_is_a_process: bool, helpers: frozenset[str] = frozenset()) -> bool:
    for call in ast.walk(node):
        if isinstance(call, ast.Call):
            function = call.func
            name = function.id if isinstance(function, ast.Name) else getattr(function, "attr", None)
            owner = function.value.id if isinstance(function, ast.Attribute) and isinstance(function.value, ast.Name) else ""
            if name in STARTERS or name in helpers or owner == "subprocess" or (name == "run_cli" and run_cli_is_a_process):
                return True
    return False


def unmarked_starters(source: str, shared_fixtures: set[str] = frozenset()) -> list[str]:
    """The tests of a module (``Class.test`` or ``test``) that start a server or a process, directly or through a
    fixture of the module (or one of ``shared_fixtures``), and are not marked slow (nor their class or module)."""
    tree = ast.parse(source)
    if any(isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "pytestmark" for t in node.targets)
           and "mark.slow" in ast.unparse(node.value) for node in tree.body):
        return []
    run_cli_is_a_process = any(isinstance(node, ast.ImportFrom) and node.module == "tests.support"
                               and any(alias.name == "run_cli" for alias in node.names) for node in tree.body)
    # The module's own helpers (not tests) that start something, followed one level deep.
    helpers = frozenset(node.name for node in tree.body if isinstance(node, ast.FunctionDef)
                        and not node.name.startswith("test") and _starts_something(node, run_cli_is_a_process))
    fixtures = set(shared_fixtures) | {
        node.name for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)
        and any("fixture" in ast.unparse(d) for d in node.decorator_list)
        and _starts_something(node, run_cli_is_a_process, helpers)}
    found = []

    def visit(body: list[ast.stmt], slow: bool, prefix: str) -> None:
        for node in body:
            if isinstance(node, ast.ClassDef):
                visit(node.body, slow or _is_slow_mark(node.decorator_list), f"{prefix}{node.name}.")
            elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith("test"):
                if slow or _is_slow_mark(node.decorator_list):
                    continue
                arguments = {argument.arg for argument in node.args.args}
                if _starts_something(node, run_cli_is_a_process, helpers) or arguments & fixtures:
                    found.append(prefix + node.name)

    visit(tree.body, False, "")
    return found


def test_every_test_that_starts_a_server_or_process_is_marked_slow():
    conftest = ast.parse((ROOT / "tests" / "conftest.py").read_text(encoding="utf-8"))
    shared = {node.name for node in ast.walk(conftest) if isinstance(node, ast.FunctionDef)
              and _starts_something(node, False)}
    offenders = {}
    for path in sorted((ROOT / "tests").rglob("test_*.py")):
        if found := unmarked_starters(path.read_text(encoding="utf-8"), shared):
            offenders[str(path.relative_to(ROOT))] = found
    assert not offenders, f"mark these @pytest.mark.slow (or the module: pytestmark = pytest.mark.slow): {offenders}"


def test_the_slow_scan_sees_what_it_must():
    assert unmarked_starters("def test_a():\n    with LiveServer(app):\n        pass\n") == ["test_a"]
    assert unmarked_starters("class TestX:\n    def test_a(self):\n        Server('--x')\n") == ["TestX.test_a"]
    assert unmarked_starters("import subprocess\ndef test_a():\n    subprocess.run(['x'])\n") == ["test_a"]
    assert unmarked_starters("from tests.support import run_cli\ndef test_a():\n    run_cli('x')\n") == ["test_a"]
    assert unmarked_starters("from tests.drift_support import run_cli\ndef test_a():\n    run_cli('x')\n") == []
    assert unmarked_starters("@pytest.fixture\ndef live():\n    return LiveServer(a)\ndef test_a(live):\n    pass\n") == [
        "test_a"]
    assert unmarked_starters("def test_a(https_fake):\n    pass\n", {"https_fake"}) == ["test_a"]
    assert unmarked_starters("def serve():\n    return Server()\ndef test_a():\n    serve()\n") == ["test_a"]
    assert unmarked_starters("@pytest.mark.slow\ndef test_a():\n    Server()\n") == []
    assert unmarked_starters("@pytest.mark.slow\nclass TestX:\n    def test_a(self):\n        Server()\n") == []
    assert unmarked_starters("pytestmark = [pytest.mark.slow]\ndef test_a():\n    Server()\n") == []


def test_no_file_holds_a_merge_conflict_marker():
    skipped = {".git", ".venv", "node_modules", "__pycache__", ".hypothesis", ".pytest_cache"}
    offenders = []
    for path in ROOT.rglob("*"):
        if skipped.intersection(path.relative_to(ROOT).parts) or not path.is_file():
            continue
        if path.suffix not in {".py", ".md", ".yaml", ".yml", ".toml", ".json", ".txt", ".cfg", ".ts", ".js"}:
            continue
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError):
            continue
        offenders += [f"{path.relative_to(ROOT)}:{number}" for number, line in enumerate(lines, 1)
                      if line.startswith(("<<<<<<< ", ">>>>>>> "))]
    assert not offenders, offenders
