"""The dependency rule of docs/architecture.md: no import cycles, and few flat modules.

import-linter (`lint-imports` in ./dev check, contracts in pyproject.toml) checks the layers; this test
checks what its contracts cannot state: no cycle between any two modules of the gateway or the sandbox,
whatever their layer, and at most six modules outside a capability package.
"""

from __future__ import annotations

from pathlib import Path

import grimp
import pytest

import vouchery_gateway

FLAT_ALLOWED = 6  # besides __init__ and __main__ (docs/architecture.md)


def _cycles(package: str) -> list[list[str]]:
    """Every strongly connected component of more than one module (Tarjan, iterative)."""
    graph = grimp.build_graph(package, exclude_type_checking_imports=True)
    modules = sorted(graph.modules)
    edges = {m: sorted(graph.find_modules_directly_imported_by(m) & graph.modules) for m in modules}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for root in modules:
        if root in index:
            continue
        work = [(root, 0)]
        while work:
            node, i = work.pop()
            if i == 0:
                index[node] = low[node] = counter
                counter += 1
                stack.append(node)
                on_stack.add(node)
            successors = edges[node]
            if i < len(successors):
                work.append((node, i + 1))
                nxt = successors[i]
                if nxt not in index:
                    work.append((nxt, 0))
                elif nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
                continue
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
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
    return found


@pytest.mark.parametrize("package", ["vouchery_gateway", "vouchery_sandbox", "loadtest"])
def test_no_import_cycles(package: str) -> None:
    """No module imports, directly or through others, a module that imports it back."""
    assert _cycles(package) == []


def test_cycle_finder_finds_a_cycle(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The check can fail: a package whose two modules import each other is reported."""
    pkg = tmp_path / "cyclic_pkg_for_test"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from cyclic_pkg_for_test import b\n")
    (pkg / "b.py").write_text("from cyclic_pkg_for_test import a\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert _cycles("cyclic_pkg_for_test") == [["cyclic_pkg_for_test.a", "cyclic_pkg_for_test.b"]]


def test_few_flat_modules() -> None:
    """Everything but a handful of shared modules lives in a capability package."""
    root = Path(vouchery_gateway.__file__).parent
    flat = sorted(p.stem for p in root.glob("*.py") if p.stem not in ("__init__", "__main__"))
    assert len(flat) <= FLAT_ALLOWED, flat
