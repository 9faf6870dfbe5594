"""models/ has no import circle: each module's imports of its siblings, read from the source
(every import, deferred ones inside functions included), form a graph without a cycle.

The former alias paths (``registry.load``, ``zoo.pretrained``, ``zoo.load_model_spec``) were
module ``__getattr__`` hooks with a deferred ``from .loading import``: ``loading`` reads
``registry`` and ``zoo``, so each made a circle. This test keeps any such circle from coming
back.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import denoise_adv.models

PACKAGE = "denoise_adv.models"
FOLDER = Path(denoise_adv.models.__file__).parent


def module_names(folder: Path = FOLDER) -> set[str]:
    """The modules of the package: ``__init__`` and one per ``.py`` file."""
    return {path.stem for path in folder.glob("*.py")}


def sibling_imports(source: str, siblings: set[str]) -> set[str]:
    """The sibling modules ``source`` imports anywhere (top level or deferred).

    ``from .x import y`` and ``from denoise_adv.models.x import y`` import ``x``;
    ``from . import x`` imports ``x`` when it is a module, else the package's ``__init__``.

    Example:
        >>> sorted(sibling_imports("def f():\\n    from .loading import load", {"loading"}))
        ['loading']
    """
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom):
            found |= _from_import(node, siblings)
        elif isinstance(node, ast.Import):
            found |= {a.name.split(".")[2] for a in node.names
                      if a.name.startswith(PACKAGE + ".")}
    return found & (siblings | {"__init__"})


def _from_import(node: ast.ImportFrom, siblings: set[str]) -> set[str]:
    if node.level == 1:
        module = node.module
    elif node.level == 0 and node.module and node.module.startswith(PACKAGE):
        module = node.module.removeprefix(PACKAGE).lstrip(".") or None
    else:
        return set()  # the package's parents (``..noise``) or other packages
    if module is not None:
        return {module.split(".")[0]}
    return {a.name if a.name in siblings else "__init__" for a in node.names}


def import_graph(sources: dict[str, str]) -> dict[str, set[str]]:
    """``{module: the sibling modules it imports}`` of ``{module: source}``."""
    names = set(sources)
    return {name: sibling_imports(text, names) - {name} for name, text in sources.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """A cycle of ``graph`` as a path ``[a, b, ..., a]``, or ``None`` (depth-first search).

    Example:
        >>> find_cycle({"a": {"b"}, "b": {"a"}})
        ['a', 'b', 'a']
        >>> find_cycle({"a": {"b"}, "b": set()}) is None
        True
    """
    state: dict[str, str] = {}

    def visit(node: str, path: list[str]) -> list[str] | None:
        state[node] = "open"
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                return [*path[path.index(nxt):], nxt]
            if nxt not in state and (cycle := visit(nxt, [*path, nxt])):
                return cycle
        state[node] = "done"
        return None

    for start in sorted(graph):
        if start not in state and (cycle := visit(start, [start])):
            return cycle
    return None


def package_sources() -> dict[str, str]:
    return {name: (FOLDER / f"{name}.py").read_text() for name in module_names()}


def test_models_has_no_import_circle():
    graph = import_graph(package_sources())
    assert find_cycle(graph) is None, find_cycle(graph)
    # the loaders' story runs one way: loading reads registry and zoo, never the reverse
    assert {"registry", "zoo", "published", "pretrained"} <= graph["loading"]
    assert "loading" not in graph["registry"] | graph["zoo"]
    assert all("__init__" not in deps for name, deps in graph.items() if name != "__init__")


@pytest.mark.parametrize("deferred", [
    "\n\ndef __getattr__(name):\n    from .loading import load\n\n    return load\n",
    "\n\ndef __getattr__(name):\n    from . import loading\n\n    return loading.load\n",
    "\n\ndef f():\n    from denoise_adv.models.loading import load\n\n    return load\n",
])
def test_a_deferred_import_of_loading_in_registry_is_a_circle(deferred):
    sources = package_sources()
    sources["registry"] += deferred
    cycle = find_cycle(import_graph(sources))
    assert cycle is not None and "registry" in cycle and "loading" in cycle
