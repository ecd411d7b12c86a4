"""The top-level packages depend on each other in one direction only (eval.imports)."""

from __future__ import annotations

from eval.imports import find_cycle, import_graph, imported_packages, problems, render


def test_no_cycle_and_the_core_imports_nothing_of_ours() -> None:
    graph = import_graph()
    assert problems(graph) == [], render(graph)
    assert graph["rag"] == set()


def test_interfaces_do_not_import_the_api() -> None:
    graph = import_graph()
    # The UI and eval receive rag.services.Services; only the process's entry (api.cli,
    # api.app mounting the UI) may know them all.
    for pkg in ("rag", "ingest", "ui", "eval", "integrations"):
        assert "api" not in graph[pkg], pkg
    assert graph["ingest"] <= {"rag"} and graph["integrations"] <= {"rag"}
    assert "ui" not in graph["eval"] and "eval" not in graph["ui"]


def test_the_reader_sees_every_kind_of_import() -> None:
    source = """
import rag.store
from eval import run
from . import sibling
def late():
    from ui.app import mount_ui
if TYPE_CHECKING:
    import integrations.discord
import os, rapidfuzz
"""
    assert imported_packages(source, "api") == {"rag", "eval", "ui", "integrations"}


def test_a_cycle_and_a_core_import_are_reported() -> None:
    graph = {"rag": {"ui"}, "ui": {"api"}, "api": {"rag"}, "ingest": set()}
    cycle = find_cycle(graph)
    assert cycle is not None and cycle[0] == cycle[-1] and set(cycle) == {"rag", "ui", "api"}
    assert problems(graph) == ["cycle: " + " -> ".join(cycle), "rag imports ui"]
