"""Which third-party modules a workflow script can import, through the taskspace package.

Static and conservative, so that a rule's conda env can be chosen (and tested) without running the rule.
From all of the script's code: every taskspace module it imports adds its module-level imports (and its
parent packages'); every taskspace function or class it names adds the imports in its body, function-level
imports included, and in turn what that body names. A class counts whole (all its methods). A branch that
a run never takes still counts: vision_split's CIFAR-100 loader imports torchvision, so the rule needs the
torch env even though the digits demo never goes there. ``importlib.util.find_spec("name")`` with a literal
name counts as reaching that package (gensim's bundled text is found that way, without an import). A name
that a package provides through a module-level ``__getattr__`` (imported on first use) reaches all of its
submodules.

The same parse gives the package's import graph: :func:`cycles` lists the groups of taskspace modules that
import each other, directly or round a circle, counting imports inside functions as well (they run on
first use, and a circle through one still ties the modules together).

    python tools/imports.py          # every rule script: the third-party modules it reaches
    python tools/imports.py --cycles # import circles among taskspace's modules (none: no output, exit 0)
"""

from __future__ import annotations

import ast
import sys
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "taskspace"
SCRIPTS = ROOT / "scripts"


@dataclass
class Module:
    name: str
    tree: ast.Module
    is_package: bool
    defs: dict[str, ast.AST] = field(default_factory=dict)  # top-level functions and classes
    bindings: dict[str, str] = field(default_factory=dict)  # name bound by an import -> dotted target


def module_path(name: str) -> Path | None:
    base = ROOT.joinpath(*name.split("."))
    if (base / "__init__.py").is_file():
        return base / "__init__.py"
    return base.with_suffix(".py") if base.with_suffix(".py").is_file() else None


def _parse(name: str, path: Path, is_package: bool) -> Module:
    module = Module(name, ast.parse(path.read_text(encoding="utf-8"), str(path)), is_package)
    for node in module.tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            module.defs[node.name] = node
    for node in ast.walk(module.tree):
        for bound, target in _import_targets(module, node):
            module.bindings.setdefault(bound, target)
    return module


@cache
def load(name: str) -> Module | None:
    path = module_path(name)
    return _parse(name, path, path.name == "__init__.py") if path else None


def _import_targets(module: Module, node: ast.AST) -> list[tuple[str, str]]:
    """(name bound, dotted target) of an import statement."""
    if isinstance(node, ast.Import):
        return [
            (alias.asname or alias.name.split(".")[0], alias.name if alias.asname else alias.name.split(".")[0])
            for alias in node.names
        ]
    if isinstance(node, ast.ImportFrom):
        base = node.module or ""
        if node.level:
            parts = module.name.split(".")
            parts = parts if module.is_package else parts[:-1]
            parts = parts[: len(parts) - (node.level - 1)]
            base = ".".join(parts + ([node.module] if node.module else []))
        return [(alias.asname or alias.name, f"{base}.{alias.name}") for alias in node.names if alias.name != "*"]
    return []


def _module_level(tree: ast.Module):
    """The statements that run when the module is imported (function and class bodies excluded)."""
    todo = list(tree.body)
    while todo:
        node = todo.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            todo.extend(node.decorator_list)
            continue
        yield node
        todo.extend(ast.iter_child_nodes(node))


@dataclass
class Reach:
    external: set[str] = field(default_factory=set)  # top-level third-party module names
    modules: set[str] = field(default_factory=set)  # taskspace modules imported
    units: set[tuple[str, str]] = field(default_factory=set)  # taskspace (module, function or class) named


def reach(script: Path) -> Reach:
    """Everything the script can import, directly or through taskspace (see the module docstring)."""
    found = Reach()
    script_module = _parse("__script__", script, False)
    todo: list[tuple[Module, ast.AST | None]] = [(script_module, script_module.tree)]

    def target(dotted: str) -> None:
        top = dotted.split(".")[0]
        if top != PACKAGE:
            local = (SCRIPTS / f"{top}.py").is_file()
            if top != "__future__" and top not in sys.stdlib_module_names and not local:
                found.external.add(top)
            return
        parts = dotted.split(".")
        for end in range(1, len(parts) + 1):
            name = ".".join(parts[:end])
            module = load(name)
            if module is None:  # parts[end - 1] is a function, class or constant of the module before it
                owner = load(".".join(parts[: end - 1]))
                symbol(owner, parts[end - 1])
                return
            if name not in found.modules:
                found.modules.add(name)
                todo.append((module, None))

    def symbol(module: Module, name: str) -> None:
        if name in module.defs:
            if (module.name, name) not in found.units:
                found.units.add((module.name, name))
                todo.append((module, module.defs[name]))
        elif name in module.bindings:  # re-exported from elsewhere
            target(module.bindings[name])
        elif "__getattr__" in module.defs and module.is_package:  # a lazy attribute: any submodule may hold it
            symbol(module, "__getattr__")
            for path in sorted(module_path(module.name).parent.glob("[!_]*.py")):
                target(f"{module.name}.{path.stem}")

    while todo:
        module, node = todo.pop()
        nodes = _module_level(module.tree) if node is None else ast.walk(node)
        for child in nodes:
            for _, dotted in _import_targets(module, child):
                target(dotted)
            if isinstance(child, ast.Name) and isinstance(child.ctx, ast.Load):
                if child.id in module.defs:
                    symbol(module, child.id)
                elif module.bindings.get(child.id, "").startswith(PACKAGE):
                    target(module.bindings[child.id])
            elif isinstance(child, ast.Attribute) and isinstance(child.value, ast.Name):
                bound = module.bindings.get(child.value.id, "")
                if bound.startswith(PACKAGE) and load(bound) is not None:  # module.attr
                    target(f"{bound}.{child.attr}")
            elif isinstance(child, ast.Call) and _is_find_spec(child.func):
                if child.args and isinstance(child.args[0], ast.Constant) and isinstance(child.args[0].value, str):
                    target(child.args[0].value)
    return found


def _is_find_spec(func: ast.AST) -> bool:
    return (isinstance(func, ast.Attribute) and func.attr == "find_spec") or (
        isinstance(func, ast.Name) and func.id == "find_spec"
    )


def helper_imported_first(script: Path, helper: str) -> bool:
    """Whether the script imports ``helper`` (a module of scripts/) before anything from taskspace."""
    for node in ast.parse(script.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Import) and any(alias.name == helper for alias in node.names):
            return True
        if isinstance(node, ast.Import) and any(alias.name.split(".")[0] == PACKAGE for alias in node.names):
            return False
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == PACKAGE:
            return False
    return False


def package_modules() -> list[str]:
    """Every module of the package by dotted name (a package by its own name, not ``__init__``)."""
    names = []
    for path in sorted((ROOT / PACKAGE).rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


def import_graph() -> dict[str, set[str]]:
    """taskspace module -> the taskspace modules its code imports anywhere (function bodies included).

    ``from .pkg import name`` counts as an import of ``pkg.name`` when that is a module, else of ``pkg``.
    """
    graph = {}
    for name in package_modules():
        module = load(name)
        imported = set()
        for node in ast.walk(module.tree):
            for _, dotted in _import_targets(module, node):
                parts = dotted.split(".")
                if parts[0] != PACKAGE:
                    continue
                while load(".".join(parts)) is None:  # a function, class or constant: its module
                    parts.pop()
                imported.add(".".join(parts))
        graph[name] = imported - {name}
    return graph


def cycles(graph: dict[str, set[str]] | None = None) -> list[list[str]]:
    """The import circles: every group of two or more modules each reachable from the others, sorted."""
    graph = import_graph() if graph is None else graph
    order, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(module: str) -> None:  # Tarjan's strongly connected components
        order[module] = low[module] = len(order)
        stack.append(module)
        on_stack.add(module)
        for other in sorted(graph.get(module, ())):
            if other not in order:
                visit(other)
                low[module] = min(low[module], low[other])
            elif other in on_stack:
                low[module] = min(low[module], order[other])
        if low[module] == order[module]:
            group = []
            while not group or group[-1] != module:
                group.append(stack.pop())
                on_stack.discard(group[-1])
            if len(group) > 1:
                found.append(sorted(group))

    for module in sorted(graph):
        if module not in order:
            visit(module)
    return sorted(found)


if __name__ == "__main__":
    if sys.argv[1:] == ["--cycles"]:
        circles = cycles()
        for group in circles:
            print(" <-> ".join(group))
        sys.exit(1 if circles else 0)
    for path in sorted(SCRIPTS.glob("[!_]*.py")):
        print(f"{path.name:28} {' '.join(sorted(reach(path).external))}")
