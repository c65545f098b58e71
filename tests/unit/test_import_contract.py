"""The import contract of docs/architecture.md ("Rooms and doors"), read from the source
files with `ast`: which rooms may import which, no import cycle between modules (imports
inside functions count), and a core that loads no plotting stack, pandas or Tornado.
Nothing is imported to check it, so a violation is found even on a path no test runs."""

from __future__ import annotations

import ast
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "streamvis"

# The doors: each room and the rooms it may import (itself and `errors` always). The same
# table is in docs/architecture.md; test_the_documented_table_is_this_one keeps them equal.
LOWER = ("core", "wire", "store", "layout", "transforms", "kinds", "page")
DOORS: dict[str, frozenset[str]] = {
    "errors": frozenset(),
    "core": frozenset(),
    "wire": frozenset({"core"}),
    "store": frozenset({"core"}),
    "layout": frozenset({"core", "wire", "store"}),
    "transforms": frozenset({"core", "wire", "store", "layout"}),
    "kinds": frozenset({"core", "wire", "store", "layout", "transforms"}),
    "page": frozenset({"core", "wire", "store", "layout", "transforms", "kinds"}),
    "compat": frozenset({"core", "wire", "layout", "kinds"}),
    "client": frozenset({"core", "wire", "layout", "kinds", "compat"}),
    "sources": frozenset({"core", "wire", "store", "layout"}),
    "server": frozenset({*LOWER, "sources"}),
    "top": frozenset({*LOWER, "compat", "client", "sources", "server"}),
}
TOP_MODULES = {"streamvis", "streamvis.cli", "streamvis.demo", "streamvis.ingest"}

# Libraries the core never imports, and those it imports only inside a function.
CORE_NEVER = frozenset({"pandas", "panel", "holoviews", "bokeh", "tornado"})
CORE_LAZY = frozenset({"streamz"})
# Rooms that may be imported without loading the plotting stack (the layout validator, the
# kinds' declarations, a producer's client): their import-time closure holds none of it.
PLOTTING = frozenset({"panel", "holoviews", "bokeh"})
LIGHT_ROOMS = frozenset({"errors", "core", "wire", "store", "layout", "kinds", "client"})

# Violations of today's code that other work in progress removes; each entry must still be
# a real violation (test_pending_entries_are_still_violations), so the list cannot go stale.
STORE = "helper B (the store interface: Backend protocol in core, hub built from a store once)"
SOURCES = "helper D (sources split: the page asks the hub, not sources; sources import no server)"
PENDING: dict[tuple[str, str], str] = {}


@dataclass(frozen=True)
class Import:
    """One import statement's target inside the package or outside it, and where it is."""

    importer: str  # dotted module name, `streamvis.core.hub`
    target: str  # dotted module name imported (a package's own name for its __init__)
    file: Path
    line: int
    in_function: bool
    type_only: bool  # under `if TYPE_CHECKING:`

    def where(self, root: Path) -> str:
        """`streamvis/core/hub.py:27`, for messages."""
        return f"{self.file.relative_to(root.parent).as_posix()}:{self.line}"


def module_name(path: Path, root: Path) -> str:
    """The dotted name of a source file under the package directory `root`."""
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def room_of(module: str, package: str = "streamvis") -> str:
    """The room a module of the package lives in (`top` for the entry points)."""
    if module in {package, *(f"{package}.{m}" for m in ("cli", "demo", "ingest"))}:
        return "top"
    return module.split(".")[1]


def package_modules(root: Path) -> dict[str, Path]:
    """Every module of the package rooted at `root`, by dotted name."""
    return {module_name(path, root): path for path in sorted(root.rglob("*.py"))}


def is_type_checking(test: ast.expr) -> bool:
    """`if TYPE_CHECKING:` or `if typing.TYPE_CHECKING:`."""
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def resolve_from(node: ast.ImportFrom, importer: str, is_package: bool) -> str:
    """The absolute module a `from ... import` reads from (relative forms resolved)."""
    if not node.level:
        return node.module or ""
    base = importer.split(".")
    if not is_package:
        base.pop()
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, *([node.module] if node.module else [])])


def imported_modules(
    path: Path, root: Path, modules: dict[str, Path]
) -> list[tuple[str, int, bool, bool]]:
    """(target, line, in_function, type_only) for every import in one file: statements at
    any depth, and `importlib.import_module("...")` / `__import__("...")` with a literal."""
    importer = module_name(path, root)
    is_package = path.name == "__init__.py"
    found: list[tuple[str, int, bool, bool]] = []
    todo: list[tuple[ast.AST, bool, bool]] = [(ast.parse(path.read_text()), False, False)]
    while todo:
        node, in_function, type_only = todo.pop()
        if isinstance(node, ast.Import):
            found.extend((a.name, node.lineno, in_function, type_only) for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            source = resolve_from(node, importer, is_package)
            for alias in node.names:
                submodule = f"{source}.{alias.name}"
                target = submodule if submodule in modules else source
                found.append((target, node.lineno, in_function, type_only))
        elif isinstance(node, ast.Call) and (name := dynamic_import_name(node)) is not None:
            found.append((name, node.lineno, in_function, type_only))
        if isinstance(node, ast.If) and is_type_checking(node.test):
            todo.extend((child, in_function, True) for child in node.body)
            todo.extend((child, in_function, type_only) for child in node.orelse)
            continue
        inside = in_function or isinstance(
            node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda
        )
        todo.extend((child, inside, type_only) for child in ast.iter_child_nodes(node))
    return sorted(found, key=lambda item: item[1])


def dynamic_import_name(call: ast.Call) -> str | None:
    """The literal module name of `importlib.import_module("x")` or `__import__("x")`."""
    func = call.func
    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
    if name not in {"import_module", "__import__"} or not call.args:
        return None
    first = call.args[0]
    if isinstance(first, ast.Constant) and isinstance(first.value, str):
        return first.value
    return None


def collect(root: Path) -> list[Import]:
    """Every import of every module of the package at `root`."""
    modules = package_modules(root)
    found = []
    for importer, path in modules.items():
        for target, line, in_function, type_only in imported_modules(path, root, modules):
            found.append(Import(importer, target, path, line, in_function, type_only))
    return found


def internal(imports: list[Import], package: str) -> list[Import]:
    """The imports of modules of the package itself."""
    return [i for i in imports if i.target == package or i.target.startswith(package + ".")]


def door_violations(
    imports: list[Import], package: str = "streamvis"
) -> dict[tuple[str, str], Import]:
    """(importer, imported) -> the first import that passes no door of DOORS."""
    found: dict[tuple[str, str], Import] = {}
    for imp in internal(imports, package):
        own, other = room_of(imp.importer, package), room_of(imp.target, package)
        if other in {own, "errors"} or other in DOORS.get(own, frozenset()):
            continue
        found.setdefault((imp.importer, imp.target), imp)
    return found


def import_graph(
    imports: list[Import], package: str = "streamvis", without: Iterable[tuple[str, str]] = ()
) -> dict[str, dict[str, Import]]:
    """importer -> imported -> first import, between modules of the package; imports under
    `if TYPE_CHECKING:` never run, so they are left out, and so are the pairs `without`."""
    skip = set(without)
    edges: dict[str, dict[str, Import]] = {}
    for imp in internal(imports, package):
        pair = (imp.importer, imp.target)
        if not imp.type_only and imp.target != imp.importer and pair not in skip:
            edges.setdefault(imp.importer, {}).setdefault(imp.target, imp)
    return edges


def import_cycles(
    imports: list[Import], package: str = "streamvis", without: Iterable[tuple[str, str]] = ()
) -> list[list[Import]]:
    """One cycle of imports per tangle of modules, as the imports that close it; imports
    inside functions count (the cycle is there the moment that function runs)."""
    edges = import_graph(imports, package, without)
    return [cycle_through(c, edges) for c in strongly_connected(edges) if len(c) > 1]


def tangled_pairs(imports: list[Import], package: str = "streamvis") -> set[tuple[str, str]]:
    """Every (importer, imported) inside a tangle: removing it may be part of a cycle's fix."""
    edges = import_graph(imports, package)
    pairs = set()
    for component in strongly_connected(edges):
        for importer in component:
            pairs.update((importer, t) for t in edges.get(importer, {}) if t in component)
    return pairs


def strongly_connected(edges: dict[str, dict[str, Import]]) -> list[set[str]]:
    """Tarjan's strongly connected components of the module graph (iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components = []
    for start in sorted(edges):
        if start in index:
            continue
        work = [(start, iter(sorted(edges.get(start, {}))))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is None:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = set()
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.add(member)
                        if member == node:
                            break
                    components.append(component)
            elif child not in index:
                index[child] = low[child] = len(index)
                stack.append(child)
                on_stack.add(child)
                work.append((child, iter(sorted(edges.get(child, {})))))
            elif child in on_stack:
                low[node] = min(low[node], index[child])
    return components


def cycle_through(component: set[str], edges: dict[str, dict[str, Import]]) -> list[Import]:
    """One closed path of imports inside a strongly connected component."""
    start = min(component)
    path: list[Import] = []
    seen = {start}
    node = start
    while True:
        targets = sorted(t for t in edges[node] if t in component)
        back = [t for t in targets if t == start]
        if back and path:
            path.append(edges[node][start])
            return path
        step = next((t for t in targets if t not in seen), targets[0])
        path.append(edges[node][step])
        if step in seen:  # closed a loop that does not pass through start: report it
            first = next(i for i, imp in enumerate(path) if imp.importer == step)
            return path[first:]
        seen.add(step)
        node = step


def third_party_violations(imports: list[Import], package: str = "streamvis") -> list[Import]:
    """Imports of the core that break CORE_NEVER / CORE_LAZY (a lazy library may also be
    imported under `if TYPE_CHECKING:`, which never runs)."""
    bad = []
    for imp in imports:
        top = imp.target.split(".")[0]
        if room_of(imp.importer, package) != "core" or top == package:
            continue
        if top in CORE_NEVER or (top in CORE_LAZY and not (imp.in_function or imp.type_only)):
            bad.append(imp)
    return bad


def loaded_at_import(module: str, imports: list[Import], package: str = "streamvis") -> set[str]:
    """Every module an `import module` runs (parent packages included), read statically:
    module-level imports, followed through the package; outside names as their top level."""
    by_importer: dict[str, list[Import]] = {}
    for imp in imports:
        if not imp.in_function and not imp.type_only:
            by_importer.setdefault(imp.importer, []).append(imp)
    loaded: set[str] = set()
    todo = [module]
    while todo:
        name = todo.pop()
        parts = name.split(".")
        for cut in range(1, len(parts) + 1):  # importing a.b.c runs a, a.b, a.b.c
            prefix = ".".join(parts[:cut])
            if prefix in loaded:
                continue
            loaded.add(prefix)
            if prefix == package or prefix.startswith(package + "."):
                todo.extend(i.target for i in by_importer.get(prefix, []))
    return loaded


def report(imp: Import, root: Path) -> str:
    """One line naming the import and where it is."""
    kind = " (inside a function)" if imp.in_function else ""
    return f"{imp.where(root)}: {imp.importer} imports {imp.target}{kind}"


IMPORTS = collect(PACKAGE)


def pending_violations(imports: list[Import], package: str = "streamvis") -> set[tuple[str, str]]:
    """Every pair that breaks a rule today (a door, the core's libraries, a cycle)."""
    return {
        *door_violations(imports, package),
        *((imp.importer, imp.target.split(".")[0]) for imp in third_party_violations(imports)),
        *tangled_pairs(imports, package),
    }


def test_every_module_is_in_a_room() -> None:
    modules = package_modules(PACKAGE)
    rooms = {room_of(name) for name in modules}
    assert rooms <= set(DOORS), rooms - set(DOORS)
    assert {name for name in modules if room_of(name) == "top"} == TOP_MODULES
    errors_imports = [i.target for i in IMPORTS if i.importer == "streamvis.errors"]
    assert not [t for t in errors_imports if t.split(".")[0] == "streamvis"]


def test_imports_pass_only_through_doors() -> None:
    found = door_violations(IMPORTS)
    new = [report(imp, PACKAGE) for key, imp in sorted(found.items()) if key not in PENDING]
    assert not new, "imports through no door (docs/architecture.md):\n" + "\n".join(new)


def test_no_import_cycles() -> None:
    cycles = import_cycles(IMPORTS, without=PENDING)
    text = ["cycle:\n  " + "\n  ".join(report(imp, PACKAGE) for imp in c) for c in cycles]
    assert not text, "\n".join(text)


def test_the_core_loads_no_plotting_stack_pandas_or_tornado() -> None:
    bad = [
        report(imp, PACKAGE)
        for imp in third_party_violations(IMPORTS)
        if (imp.importer, imp.target.split(".")[0]) not in PENDING
    ]
    assert not bad, "the core imports (docs/architecture.md):\n" + "\n".join(bad)


@pytest.mark.parametrize("room", sorted(LIGHT_ROOMS))
def test_light_rooms_load_no_plotting_stack_at_import(room: str) -> None:
    for module in package_modules(PACKAGE):
        if room_of(module) == room:
            heavy = sorted(loaded_at_import(module, IMPORTS) & PLOTTING)
            assert not heavy, f"import {module} loads {heavy}"


def test_pending_entries_are_still_violations() -> None:
    stale = {
        pair: owner for pair, owner in PENDING.items() if pair not in pending_violations(IMPORTS)
    }
    assert not stale, f"PENDING lists imports that are gone or allowed now; remove: {stale}"


def documented_doors(text: str) -> dict[str, frozenset[str]]:
    """room -> rooms it may import, from the doors table of docs/architecture.md."""
    section = text.split("## Rooms and doors", 1)[1].split("\n## ", 1)[0]
    doors = {}
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) != 3 or not cells[0].startswith("`"):
            continue
        room = cells[0].split("`")[1]
        doors[room] = frozenset(name for name in cells[2].split("`")[1::2])
    return doors


def test_the_documented_table_is_this_one() -> None:
    text = (PACKAGE.parent / "docs" / "architecture.md").read_text()
    assert documented_doors(text) == DOORS


# The checker itself, on a small package written for the test: what it must report, and where.
FAKE_FILES = {
    "__init__.py": "",
    "cli.py": "from fake.page import view\n",
    "errors.py": "class FakeError(Exception):\n    pass\n",
    "core/__init__.py": "",
    "core/hub.py": (
        "from typing import TYPE_CHECKING\n"
        "from fake import errors\n"
        "if TYPE_CHECKING:\n"
        "    import streamz\n"
        "def source():\n"
        "    import streamz\n"
        "    return streamz.Stream()\n"
    ),
    "layout/__init__.py": "",
    "layout/a.py": "from fake.core import hub\nfrom . import b\n",
    "layout/b.py": (
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    from fake.layout.a import hub\n"
        "def later():\n"
        "    from fake.core.hub import source\n"
        "    return source\n"
    ),
    "page/__init__.py": "",
    "page/view.py": "import panel\nfrom fake.layout import a\n",
}


def fake_package(tmp_path: Path, **changed: str) -> tuple[Path, list[Import]]:
    """The package `fake` (every rule kept) with some files changed; its imports."""
    root = tmp_path / "fake"
    for name, text in {**FAKE_FILES, **changed}.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root, collect(root)


def test_the_checker_finds_nothing_in_a_package_that_keeps_the_rules(tmp_path: Path) -> None:
    root, imports = fake_package(tmp_path)
    assert {(i.importer, i.target) for i in internal(imports, "fake")} >= {
        ("fake.layout.a", "fake.layout.b"),  # a relative import, resolved
        ("fake.layout.b", "fake.layout.a"),  # under TYPE_CHECKING: never a cycle
    }
    assert not door_violations(imports, "fake")
    assert not import_cycles(imports, "fake")
    assert not third_party_violations(imports, "fake")
    assert "panel" not in loaded_at_import("fake.layout.a", imports, "fake")
    assert "panel" in loaded_at_import("fake.cli", imports, "fake")


def test_the_checker_reports_a_forbidden_import_with_file_and_line(tmp_path: Path) -> None:
    hub = FAKE_FILES["core/hub.py"] + "def draw():\n    from fake.page.view import panel\n"
    hub += "from fake import Hub\n"  # a name of the package's __init__: the top room
    root, imports = fake_package(tmp_path, **{"core/hub.py": hub})
    found = door_violations(imports, "fake")
    assert list(found) == [("fake.core.hub", "fake.page.view"), ("fake.core.hub", "fake")]
    assert report(found["fake.core.hub", "fake.page.view"], root) == (
        "fake/core/hub.py:9: fake.core.hub imports fake.page.view (inside a function)"
    )


def test_the_checker_reads_import_module_with_a_literal_name(tmp_path: Path) -> None:
    text = "import importlib\nVIEW = importlib.import_module('fake.page.view')\n"
    root, imports = fake_package(tmp_path, **{"layout/c.py": text})
    found = door_violations(imports, "fake")
    assert [report(i, root) for i in found.values()] == [
        "fake/layout/c.py:2: fake.layout.c imports fake.page.view"
    ]


def test_the_checker_reports_a_cycle_through_a_function_local_import(tmp_path: Path) -> None:
    b = FAKE_FILES["layout/b.py"] + "def back():\n    from fake.layout import a\n    return a\n"
    root, imports = fake_package(tmp_path, **{"layout/b.py": b})
    assert not door_violations(imports, "fake")  # one room: the doors allow it, not the cycle
    cycles = import_cycles(imports, "fake")
    assert [[report(i, root) for i in cycle] for cycle in cycles] == [
        [
            "fake/layout/a.py:2: fake.layout.a imports fake.layout.b",
            "fake/layout/b.py:8: fake.layout.b imports fake.layout.a (inside a function)",
        ]
    ]
    assert ("fake.layout.b", "fake.layout.a") in tangled_pairs(imports, "fake")
    assert not import_cycles(imports, "fake", without={("fake.layout.b", "fake.layout.a")})


def test_the_checker_reports_the_core_loading_pandas_or_streamz_at_import(tmp_path: Path) -> None:
    hub = "import pandas\nimport streamz\n" + FAKE_FILES["core/hub.py"]
    root, imports = fake_package(tmp_path, **{"core/hub.py": hub})
    assert [report(i, root) for i in third_party_violations(imports, "fake")] == [
        "fake/core/hub.py:1: fake.core.hub imports pandas",
        "fake/core/hub.py:2: fake.core.hub imports streamz",
    ]


def test_the_package_ships_its_types() -> None:
    """`py.typed` tells a user's type checker to read streamvis's hints (PEP 561)."""
    pyproject = tomllib.loads((PACKAGE.parent / "pyproject.toml").read_text())
    assert (PACKAGE / "py.typed").is_file()
    assert "py.typed" in pyproject["tool"]["setuptools"]["package-data"]["streamvis"]
