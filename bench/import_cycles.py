"""Print the import cycles among Tessera's own modules (issue 13's "no import knots").

Usage:  .venv/bin/python bench/import_cycles.py [--graph]

Every `import` and `from ... import` in app/ counts, including imports inside functions
(a deferred import hides a cycle from Python, not from the reader). A module that imports a
package also depends on that package's `__init__`. The one allowed exception is the lazy
provider registry (`app.providers`): it imports an SDK-backed implementation only when
configuration chooses it, and its implementations import the base module, not the registry.

Prints each cycle (a strongly connected component of more than one module, or a module that
imports itself) and exits 1 when there is one; `--graph` also prints every module's imports.
Standard library only, so it runs before the project is installed.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / "app"


def module_name(path: Path) -> str:
    """`app/auth/login.py` -> `app.auth.login`; a package's `__init__.py` -> the package."""
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def app_modules() -> dict[str, Path]:
    """Every module under app/, by dotted name."""
    return {module_name(path): path for path in sorted(APP.rglob("*.py"))}


def _resolve(name: str, modules: dict[str, Path]) -> str | None:
    """The app module `name` refers to: itself, or the package holding the attribute."""
    while name:
        if name in modules:
            return name
        name = name.rpartition(".")[0]
    return None


def imports_of(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The app modules that module `name` imports, anywhere in its body."""
    is_package = path.name == "__init__.py"
    package = name if is_package else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            # `from app.auth import login` imports the module app.auth.login; `from app.auth
            # import login_required` imports a name from the package app.auth.
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
                       for alias in node.names]
        for target in targets:
            resolved = _resolve(target, modules)
            if resolved and resolved != name:
                found.add(resolved)
    # Importing a.b.c runs a/__init__ and a/b/__init__ first; those are not edges worth
    # reporting (a package's __init__ is its own module), so parents are not added.
    return found


def import_graph() -> dict[str, set[str]]:
    """Module -> the app modules it imports."""
    modules = app_modules()
    return {name: imports_of(name, path, modules) for name, path in modules.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return sorted(found)


def cycle_edges(graph: dict[str, set[str]], component: list[str]) -> list[tuple[str, str]]:
    """The imports that hold one component together."""
    members = set(component)
    return [(a, b) for a in component for b in sorted(graph[a]) if b in members]


def main(argv: list[str]) -> int:
    graph = import_graph()
    if "--graph" in argv:
        for name in sorted(graph):
            print(f"{name}: {', '.join(sorted(graph[name])) or '-'}")
        print()
    found = cycles(graph)
    edges = sum(len(targets) for targets in graph.values())
    print(f"{len(graph)} app modules, {edges} imports between them, {len(found)} cycles")
    for component in found:
        print(f"\ncycle of {len(component)} modules:")
        for a, b in cycle_edges(graph, component):
            print(f"  {a} -> {b}")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
