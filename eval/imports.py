"""The import graph of careerbot's top-level packages: `python -m eval.imports`.

Every module's imports are read with `ast` (nothing is imported or run), at any depth: an
import inside a function, or under `if TYPE_CHECKING`, is a dependency too. They are
reduced to edges between the packages below. The rules, checked by tests/test_imports.py
and by this command's exit status: no cycle between packages, and `rag` (the core)
imports none of the others.
"""

from __future__ import annotations

import ast
import sys
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("rag", "ingest", "api", "ui", "eval", "integrations")
CORE = "rag"

Graph = dict[str, set[str]]


def imported_packages(source: str, own: str) -> set[str]:
    """Our top-level packages that a module of package `own` imports (itself left out)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            # A relative import stays inside its own top-level package.
            names = [own] if node.level else [node.module or ""]
        else:
            continue
        found |= {n.split(".")[0] for n in names} & set(PACKAGES)
    return found - {own}


def import_graph(root: Path = ROOT) -> Graph:
    """package -> the packages its modules import."""
    return {
        pkg: set().union(*(imported_packages(path.read_text(encoding="utf-8"), pkg)
                           for path in sorted((root / pkg).rglob("*.py"))))
        for pkg in PACKAGES
    }


def find_cycle(graph: Graph) -> list[str] | None:
    """One cycle of the graph (its first node repeated at the end), or None."""
    try:
        TopologicalSorter(graph).prepare()
    except CycleError as e:
        return list(e.args[1])
    return None


def problems(graph: Graph) -> list[str]:
    out = []
    if cycle := find_cycle(graph):
        out.append("cycle: " + " -> ".join(cycle))
    if graph.get(CORE):
        out.append(f"{CORE} imports {', '.join(sorted(graph[CORE]))}")
    return out


def render(graph: Graph) -> str:
    return "\n".join(f"{pkg} -> [{', '.join(sorted(graph[pkg]))}]" for pkg in PACKAGES)


def main() -> int:
    graph = import_graph()
    print(render(graph))
    found = problems(graph)
    for p in found:
        print(f"error: {p}", file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    raise SystemExit(main())
