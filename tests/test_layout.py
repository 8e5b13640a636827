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


#: Modules of a package with a face that other packages may import directly, and why.
DEEP_IMPORTS_ALLOWED = {
    "ocd.bus.envelope": "pure (the wire format): pure modules read events without the ZeroMQ "
                        "the face brings",
    "ocd.bus.sequence": "pure (gaps and restarts per publisher), for the same reason",
    "ocd.bus.schemas": "the topic schemas, for the pure monitor and the doc generator (the face "
                       "loads them lazily: jsonschema is slow to import)",
}
#: Deep imports allowed to one importer only: (importer, imported) and why.
DEEP_IMPORTS_ALLOWED_TO = {
    ("ocd.app.keys", "ocd.bus.curve"): "ocd keys writes the key files whose layout curve "
                                       "defines",
    ("ocd.archive.store", "ocd.obsnum.mysql"): "the archive connects as the vl_obsnum "
                                               "allocator does (settings, deadlines, one-line "
                                               "errors); the obsnum face stays free of pymysql",
}
#: Faces that hold more than imports and ``__all__``, and why.
FACE_LOGIC_ALLOWED = {
    "ocd.bus": "the schema functions, imported on first use: jsonschema is slow to import and "
               "a one-shot command never needs it",
}


def _module_name(path: Path, root: Path = ROOT) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _faced_packages(package: Path = PACKAGE) -> set[str]:
    """The packages whose ``__init__`` declares what it offers (``__all__``)."""
    faced = set()
    for face in package.rglob("__init__.py"):
        tree = ast.parse(face.read_text(encoding="utf-8"))
        if any(isinstance(node, ast.Assign) and any(isinstance(t, ast.Name)
                                                    and t.id == "__all__" for t in node.targets)
               for node in tree.body):
            faced.add(_module_name(face, package.parent))
    return faced


def _deep_imports(path: Path, faced: set[str], root: Path = ROOT) -> list[tuple[str, str]]:
    """(importer, imported) for each import in ``path`` of a module inside a faced package
    the importer is not part of: ``from pkg.mod import x``, ``import pkg.mod`` and
    ``from pkg import mod``."""
    importer = _module_name(path, root)
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            targets = [node.module]
            if node.module in faced:  # a module of the package named through its face
                folder = root.joinpath(*node.module.split("."))
                targets += [f"{node.module}.{alias.name}" for alias in node.names
                            if (folder / f"{alias.name}.py").exists()
                            or (folder / alias.name / "__init__.py").exists()]
        else:
            continue
        for target in targets:
            package = max((p for p in faced if target.startswith(p + ".")), key=len,
                          default=None)
            if package is not None and not (importer == package
                                            or importer.startswith(package + ".")):
                found.append((importer, target))
    return found


def test_other_packages_import_a_package_through_its_face():
    """A package with a face (``__all__`` in its ``__init__``) is used through it: its modules
    can then move and change behind it. The exceptions are listed above, each with its
    reason."""
    faced = _faced_packages()
    assert {"ocd.bus", "ocd.config", "ocd.obsnum"} <= faced
    deep = [(importer, imported) for path in sorted(PACKAGE.rglob("*.py"))
            for importer, imported in _deep_imports(path, faced)
            if imported not in DEEP_IMPORTS_ALLOWED
            and (importer, imported) not in DEEP_IMPORTS_ALLOWED_TO]
    assert deep == []


def test_the_face_check_sees_a_deep_import(tmp_path):
    """The check above can fail: a deep import, named either way, is found; the face and
    the package's own modules are not."""
    package = tmp_path / "pkg"
    (package / "inner").mkdir(parents=True)
    (package / "__init__.py").write_text('from pkg.inner.mod import x\n__all__ = ["x"]\n')
    (package / "inner" / "__init__.py").write_text("")
    (package / "inner" / "mod.py").write_text("x = 1\n")
    (package / "user.py").write_text("from pkg.inner.mod import x\n")  # inside pkg: fine
    outside = tmp_path / "other.py"
    outside.write_text("from pkg import x\nfrom pkg.inner.mod import x\nimport pkg.inner.mod\n"
                       "from pkg import inner\n")
    assert _faced_packages(package) == {"pkg"}
    assert _deep_imports(package / "user.py", {"pkg"}, tmp_path) == []
    assert _deep_imports(outside, {"pkg"}, tmp_path) == [
        ("other", "pkg.inner.mod"), ("other", "pkg.inner.mod"), ("other", "pkg.inner")]


def _face_logic(face: Path) -> list[str]:
    """What a package's ``__init__`` holds beyond its docstring, imports and dunder names
    (``__all__``, ``__version__``)."""
    tree = ast.parse(face.read_text(encoding="utf-8"))
    extra = []
    for index, node in enumerate(tree.body):
        if index == 0 and isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            continue
        if isinstance(node, ast.Assign) and all(  # __all__, __version__
                isinstance(t, ast.Name) and t.id.startswith("__") for t in node.targets):
            continue
        extra.append(f"line {node.lineno}: {type(node).__name__}")
    return extra


def test_package_faces_hold_no_logic():
    """An ``__init__`` re-exports (or is empty): the code a newcomer looks for is in a module
    whose name says what it does."""
    logic = {_module_name(face): found for face in sorted(PACKAGE.rglob("__init__.py"))
             if (found := _face_logic(face)) and _module_name(face) not in FACE_LOGIC_ALLOWED}
    assert logic == {}


def test_the_face_logic_check_sees_code(tmp_path):
    face = tmp_path / "__init__.py"
    face.write_text('"""Doc."""\nfrom a import b\n__all__ = ["b"]\n\ndef f():\n    pass\n')
    assert _face_logic(face) == ["line 5: FunctionDef"]
