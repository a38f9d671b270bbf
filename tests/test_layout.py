"""The package's shape: no import loop anywhere in zoo (lazy imports inside functions count too)."""

from __future__ import annotations

import grimp


def test_no_module_of_zoo_imports_itself_through_others():
    graph = grimp.build_graph("zoo", cache_dir=None)
    edges = {module: set(graph.find_modules_directly_imported_by(module)) for module in graph.modules}
    state: dict[str, int] = {}
    loops: list[list[str]] = []

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        path.append(module)
        for imported in sorted(edges.get(module, ())):
            if state.get(imported) == 1:
                loops.append(path[path.index(imported) :] + [imported])
            elif imported not in state:
                visit(imported, path)
        path.pop()
        state[module] = 2

    for module in sorted(edges):
        if module not in state:
            visit(module, [])
    assert len(edges) > 50 and not loops, " -> ".join(loops[0]) if loops else "too few modules found"
