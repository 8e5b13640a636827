"""The package's structure, as the design guide draws it: layers whose arrows point down, no
import cycle, a core without I/O, every topic name defined once."""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "ocd"


def test_import_contracts_hold():
    """The layers and purity contracts of pyproject.toml, checked by import-linter."""
    command = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    assert command is not None, "import-linter is part of the test extra"
    result = subprocess.run([command, "--no-cache"], cwd=ROOT, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def _cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0

    def visit(module: str) -> None:
        nonlocal counter
        index[module] = low[module] = counter
        counter += 1
        stack.append(module)
        on_stack.add(module)
        for imported in graph.find_modules_directly_imported_by(module):
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in on_stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == module:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    for module in sorted(graph.modules):
        if module not in index:
            visit(module)
    return found


def test_every_package_is_a_regular_package():
    """A folder of modules without ``__init__.py`` is a namespace package: the layer contracts
    and the cycle check do not see it, and setuptools leaves it out of a non-editable
    install."""
    data = {PACKAGE / "static", PACKAGE / "schemas"}
    folders = [path for path in PACKAGE.rglob("*") if path.is_dir()
               and path.name != "__pycache__" and not any(d in path.parents or d == path
                                                            for d in data)]
    assert [str(f.relative_to(ROOT)) for f in folders if not (f / "__init__.py").exists()] == []


def test_no_import_cycle_anywhere():
    graph = grimp.build_graph("ocd", cache_dir=None)
    assert _cycles(graph) == []


def test_the_cycle_finder_finds_a_cycle():
    """The check above can fail: a graph with a cycle is reported."""
    graph = grimp.ImportGraph()
    for name in ("pkg", "pkg.a", "pkg.b", "pkg.c"):
        graph.add_module(name)
    graph.add_import(importer="pkg.a", imported="pkg.b")
    graph.add_import(importer="pkg.b", imported="pkg.a")
    graph.add_import(importer="pkg.c", imported="pkg.a")
    assert _cycles(graph) == [["pkg.a", "pkg.b"]]


#: A topic-like string literal: ocd.<source>.<key> or ocd.<source>. (a prefix), or a TCS one.
TOPIC_LITERAL = re.compile(r"^(ocd\.(main_loop|states|run_shot|command|heartbeat)(\.\w*)?"
                           r"|tcs\.\w+\.\w+|pas\.\w+\.\w+)$")


def _topic_literals(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                  if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef,
                                       ast.AsyncFunctionDef))
                  and node.body and isinstance(node.body[0], ast.Expr)
                  and isinstance(node.body[0].value, ast.Constant)}
    return [(node.lineno, node.value) for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str)
            and id(node) not in docstrings and TOPIC_LITERAL.match(node.value)]


def test_every_topic_name_is_defined_once_in_the_core():
    definitions = PACKAGE / "core" / "topics.py"
    elsewhere = {str(path.relative_to(ROOT)): found for path in sorted(PACKAGE.rglob("*.py"))
                 if path != definitions and (found := _topic_literals(path))}
    assert elsewhere == {}
    defined = [value for _, value in _topic_literals(definitions)]
    assert len(defined) == len(set(defined)), "a topic name is defined twice"
    assert "ocd.run_shot.run" in defined and "tcs.receiver.heartbeat" in defined


def test_the_topic_check_sees_a_literal(tmp_path):
    """The check above can fail: a literal topic in code is found, a docstring is not."""
    sample = tmp_path / "sample.py"
    sample.write_text('"""Publishes ocd.run_shot.run."""\n'
                      'def f():\n    """On tcs.root.ra_dec."""\n    return "ocd.states.change"\n')
    assert _topic_literals(sample) == [(4, "ocd.states.change")]
