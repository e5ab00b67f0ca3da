"""The house (README, Layout): every import between our packages goes down the layers, no module
imports an edge (a view, API module, consumer or admin module), and there are no import circles,
imports inside functions included (an import moved into a function to dodge a circle is still a
circle)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# bottom to top; a module may import its own package and the ones below it
LAYERS = [
    "core",
    "rules",
    "conversations",
    "agents",
    "handover",
    "approvals",
    "insight",
    "orchestration",
    "stacks",
    "tools",
]
# the roof: the web stack Django loads by name (URLs, the ASGI app, the middleware), which
# wires the edges together
ROOF = {
    "config.urls",
    "config.asgi",
    "config.wsgi",
    "config.startup",
    "config.health",
    "config.security",
    "config.body_limit",
    "config.unavailable",
}
# the infrastructure under everything (settings, env, cache, rate limits, middleware)
BASE = "config"
EDGE_NAMES = {"views", "api", "consumers", "admin", "urls", "routing", "login"}


def is_edge(module: str) -> bool:
    parts = module.split(".")[1:]
    return any(
        part in EDGE_NAMES
        or part.endswith(("_api", "_admin", "_views"))
        or part in {"management", "routing"}
        for part in parts
    )


def modules() -> dict[str, Path]:
    found = {}
    for top in [*LAYERS, BASE]:
        for path in (ROOT / top).rglob("*.py"):
            relative = path.relative_to(ROOT)
            if "migrations" in relative.parts:
                continue
            name = ".".join(relative.with_suffix("").parts).removesuffix(".__init__")
            found[name] = path
    return found


def imports(path: Path, package: str, known: set[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    for node in ast.walk(ast.parse(path.read_text())):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            names = [f"{node.module}.{alias.name}" for alias in node.names] or [node.module]
        for name in names:
            while name and name not in known:
                name = name.rpartition(".")[0]
            if name:
                found.setdefault(name, node.lineno)
    return found


def graph() -> dict[str, dict[str, int]]:
    mods = modules()
    known = set(mods)
    return {
        name: {t: line for t, line in imports(path, name, known).items() if t != name}
        for name, path in mods.items()
    }


def level(module: str) -> int:
    top = module.split(".")[0]
    return -1 if top == BASE else LAYERS.index(top)


def test_imports_go_down_and_no_module_imports_an_edge():
    wrong = []
    for module, targets in graph().items():
        if module in ROOF:
            continue
        for target, line in targets.items():
            if target in ROOF:
                wrong.append(f"{module}:{line} imports the roof {target}")
            elif is_edge(target) and not is_edge(module):
                wrong.append(f"{module}:{line} imports the edge {target}")
            elif level(target) > level(module) and not is_edge(module):
                wrong.append(f"{module}:{line} imports {target}, a layer above it")
    assert wrong == []


def test_no_import_circles():
    edges = graph()
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    circles: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for v in edges:
        if v not in index:
            visit(v)
    assert circles == []
