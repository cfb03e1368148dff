"""The layers import only downwards (see the README's Architecture section)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
OURS = {"graph", "nodes", "specialists", "tools", "prompts", "runtime", "evals", "finetune"}


def imports_of(package: str) -> dict[str, set[str]]:
    """Every module of ours (dotted) that each file of ``package`` imports, lazily or not."""
    found: dict[str, set[str]] = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module)
                names.update(f"{node.module}.{alias.name}" for alias in node.names)
        found[str(path.relative_to(ROOT))] = {
            n for n in names if n.split(".")[0] in OURS or n.startswith("langgraph")
        }
    return found


def offending(package: str, allowed: tuple[str, ...]) -> list[str]:
    """``file: module`` for each import of ours outside ``package`` and ``allowed``."""
    bad = []
    for file, names in imports_of(package).items():
        for name in sorted(names):
            if name.split(".")[0] == package or name.startswith(allowed):
                continue
            if name.split(".")[0] not in OURS and not name.startswith("langgraph"):
                continue
            bad.append(f"{file}: {name}")
    return bad


@pytest.mark.parametrize("package", ["tools", "runtime", "prompts"])
def test_the_bottom_layers_import_nothing_of_ours_above_them(package: str) -> None:
    assert offending(package, ("langgraph",) if package == "tools" else ()) == []


def test_specialists_use_no_langgraph_no_graph_and_no_concrete_backend() -> None:
    backends = ("runtime.embedded", "runtime.ollama_backend", "runtime.registry")
    bad = offending("specialists", ("prompts", "tools", "runtime"))
    bad += [
        f"{file}: {name}"
        for file, names in imports_of("specialists").items()
        for name in names
        if name.startswith(backends)
    ]
    assert bad == []


def test_nodes_import_only_the_layers_below_them() -> None:
    allowed = ("specialists", "graph.state", "graph.context", "graph.approvals", "tools")
    assert offending("nodes", (*allowed, "runtime", "langgraph")) == []
    backends = ("runtime.embedded", "runtime.ollama_backend", "runtime.EmbeddedChatModel")
    assert [
        f"{file}: {name}"
        for file, names in imports_of("nodes").items()
        for name in names
        if name.startswith(backends)
    ] == []


@pytest.mark.parametrize("package", ["evals", "finetune", "specialists", "tools", "runtime"])
def test_only_the_builder_imports_nodes(package: str) -> None:
    assert [
        f"{file}: {name}"
        for file, names in imports_of(package).items()
        for name in names
        if name.split(".")[0] == "nodes"
    ] == []


def test_in_graph_only_the_builder_imports_nodes() -> None:
    users = {
        file
        for file, names in imports_of("graph").items()
        if any(name.split(".")[0] == "nodes" for name in names)
    }
    assert users <= {"graph/builder.py"}


def test_the_specialist_names_are_spelt_out_once() -> None:
    spelt = []
    for package in sorted(OURS):
        for path in sorted((ROOT / package).rglob("*.py")):
            text = path.read_text(encoding="utf-8")
            for quoted in ('"sql", "salesforce", "summarize"', "'sql', 'salesforce', 'summarize'"):
                if quoted in text:
                    spelt.append(str(path.relative_to(ROOT)))
    assert spelt == ["specialists/base.py"]
