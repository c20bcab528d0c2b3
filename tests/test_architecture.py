"""The package's shape: no import circle (function-local imports counted), at most 12 modules
at the package root, no function over 80 lines (config builders aside), every
function-local import commented, and the old flat module paths still importable."""

from __future__ import annotations

import ast
import importlib
import sys
import warnings
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "gwa_jax"
MAX_ROOT_MODULES = 12
MAX_FUNCTION_LINES = 80
# Functions that may be longer: the config builders, which read as one flat list of keys.
LONG_FUNCTIONS_ALLOWED = {"get_config", "default_config"}


def module_files(root: Path = PACKAGE) -> dict[str, tuple[Path, bool]]:
    """``{dotted name: (file, is_package)}`` for every module under ``root``."""
    out = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        if is_package:
            parts = parts[:-1]
        out[".".join(parts)] = (path, is_package)
    return out


def _owner(name: str, modules: dict) -> str | None:
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def _imports(tree: ast.AST, module: str, is_package: bool, modules: dict):
    """Yields (imported module, line, function-local?) for every gwa_jax import."""
    package = module if is_package else module.rpartition(".")[0]

    def visit(node: ast.AST, local: bool):
        for child in ast.iter_child_nodes(node):
            inside = local or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef))
            if isinstance(child, ast.Import):
                for alias in child.names:
                    target = _owner(alias.name, modules)
                    if target:
                        yield target, child.lineno, local
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    parts = package.split(".")[:len(package.split(".")) - child.level + 1]
                    base = ".".join(parts + ([base] if base else []))
                for alias in child.names:
                    full = f"{base}.{alias.name}"
                    target = full if full in modules else _owner(base, modules)
                    if target:
                        yield target, child.lineno, local
            yield from visit(child, inside)

    yield from visit(tree, False)


def import_graph() -> tuple[dict[str, set[str]], list[tuple[str, int]]]:
    """The import edges between gwa_jax modules, and the function-local imports."""
    modules = module_files()
    edges: dict[str, set[str]] = {m: set() for m in modules}
    local = []
    for module, (path, is_package) in modules.items():
        tree = ast.parse(path.read_text(), str(path))
        for target, line, is_local in _imports(tree, module, is_package, modules):
            if target != module:
                edges[module].add(target)
            if is_local:
                local.append((module, line))
    return edges, local


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One import circle (as a path that returns to its start), or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def walk(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (found := walk(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(edges):
        if node not in state and (found := walk(node)):
            return found
    return None


def test_find_cycle_finds_a_circle_and_none_in_a_tree():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_the_graph_sees_function_local_and_relative_imports(tmp_path):
    pkg = tmp_path / "gwa_jax"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("def f():\n    from gwa_jax.sub import b\n")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "sub" / "b.py").write_text("from .. import a\n")
    modules = module_files(pkg)
    found = {m: set(t for t, _, _ in _imports(ast.parse(p.read_text()), m, is_pkg, modules))
             for m, (p, is_pkg) in modules.items()}
    assert found["gwa_jax.a"] == {"gwa_jax.sub.b"}
    assert found["gwa_jax.sub.b"] == {"gwa_jax.a"}
    assert find_cycle(found) is not None


def test_no_import_circle():
    edges, _ = import_graph()
    assert find_cycle(edges) is None, " -> ".join(find_cycle(edges))


METHOD = {"alignment", "accumulator", "criteria", "latents", "uncertainty", "tracker"}
# Package (or root module group) -> what it may import besides itself (src/gwa_jax/README.md).
ALLOWED = {
    "method": {"method"},
    "config_base": {"run"},
    "data": set(),
    "models": {"method", "config_base"},
    "config_check": {"config_base", "run", "data", "models", "train"},
    "run": {"config_base", "config_check", "data"},
    "train": {"method", "config_check", "data", "models", "run"},
    "experiments": {"method", "config_base", "data", "run", "train", "cli"},
    "cli": {"method", "config_base", "config_check", "data", "models", "run", "train",
            "experiments", "package"},
    "package": {"cli"},  # gwa_jax/__init__.py (lazy public names) and __main__.py.
}


def layer(module: str) -> str:
    parts = module.split(".")
    if len(parts) == 1 or parts[1] == "__main__":
        return "package"
    return "method" if parts[1] in METHOD else parts[1]


def test_packages_import_only_what_they_may():
    edges, _ = import_graph()
    bad = sorted(f"{a} -> {b}" for a, targets in edges.items() for b in targets
                 if layer(a) != layer(b) and layer(b) not in ALLOWED[layer(a)])
    assert not bad, bad


def test_at_most_twelve_modules_at_the_package_root():
    root = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert len(root) <= MAX_ROOT_MODULES, root


def uncommented_local_imports(path: Path) -> list[int]:
    """Lines of function-local import blocks (consecutive import statements) with no comment
    saying "late import" or "optional" on or up to three lines above the block's first line."""
    lines = path.read_text().splitlines()
    missing = []
    for func in ast.walk(ast.parse("\n".join(lines))):
        if not isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        for node in ast.walk(func):
            for field in ("body", "orelse", "finalbody"):
                block = getattr(node, field, None)
                if not isinstance(block, list):
                    continue
                previous_is_import = False
                for stmt in block:
                    is_import = isinstance(stmt, (ast.Import, ast.ImportFrom))
                    if is_import and not previous_is_import:
                        above = " ".join(lines[max(0, stmt.lineno - 4):stmt.lineno]).lower()
                        if "late import" not in above and "optional" not in above:
                            missing.append(stmt.lineno)
                    previous_is_import = is_import
    return sorted(set(missing))


def test_uncommented_local_imports_are_found(tmp_path):
    path = tmp_path / "m.py"
    path.write_text("def f():\n    import json\n    import os\n\n\n\n"
                    "def g():\n    # A deliberate late import: start-up.\n    import json\n")
    assert uncommented_local_imports(path) == [2]


def test_every_function_local_import_says_why():
    """A function-local import is a deliberate late import or an optional dependency, and
    the comment right above it (or on its line) says which."""
    missing = [f"{module}:{line}" for module, (path, _) in module_files().items()
               for line in uncommented_local_imports(path)]
    assert not missing, missing


def test_no_function_over_80_lines():
    long = []
    for module, (path, _) in module_files().items():
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            length = node.end_lineno - node.lineno + 1
            if length > MAX_FUNCTION_LINES and node.name not in LONG_FUNCTIONS_ALLOWED:
                long.append(f"{module}.{node.name}: {length} lines")
    assert not long, long


@pytest.mark.parametrize("old", ["trainer", "run_guard", "sweep_cli", "entry", "sharding"])
def test_an_old_module_path_still_imports_with_a_deprecation_warning(old):
    from gwa_jax import MOVED_MODULES

    sys.modules.pop(f"gwa_jax.{old}", None)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        module = importlib.import_module(f"gwa_jax.{old}")
    assert module is importlib.import_module(f"gwa_jax.{MOVED_MODULES[old]}")
    assert any(issubclass(w.category, DeprecationWarning) and old in str(w.message)
               for w in caught)


def test_the_old_train_and_cli_names_forward_with_a_deprecation_warning():
    import gwa_jax.cli
    import gwa_jax.train
    from gwa_jax.cli import train_run
    from gwa_jax.train import step

    with pytest.warns(DeprecationWarning, match="gwa_jax.train.step.make_train_step"):
        assert gwa_jax.train.make_train_step is step.make_train_step
    with pytest.warns(DeprecationWarning, match="gwa_jax.cli.train_run.parse_command_line"):
        assert gwa_jax.cli.parse_command_line is train_run.parse_command_line
    with pytest.raises(AttributeError):
        gwa_jax.train.no_such_name  # noqa: B018

