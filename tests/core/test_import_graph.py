"""`ichigo/` depends one way: no module imports itself back through others, and no package of
`ichigo/` (data, training, speech_tokenizer, ...) imports one that imports it back. Imports inside
functions count too: a lazy import hides a cycle from Python, not from the reader.

`ichigo.data` (the data pipeline) depends only downward: the model, training, tokenizers, serving
logic and the shared records, world and prompts sit below it and never import it."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import REPO

ROOT = REPO / "ichigo"


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules(root: Path = ROOT) -> dict[str, Path]:
    return {_module_name(p, root): p for p in sorted(root.rglob("*.py"))}


def _resolve(target: str, names: list[str], known: set[str]) -> set[str]:
    """`from target import a, b`: each name that is a submodule is the edge, else the module."""
    out = set()
    for n in names:
        if f"{target}.{n}" in known:
            out.add(f"{target}.{n}")
        elif target in known:
            out.add(target)
    return out


def import_graph(root: Path = ROOT) -> dict[str, set[str]]:
    mods = modules(root)
    known = set(mods)
    graph: dict[str, set[str]] = {}
    for name, path in mods.items():
        is_pkg = path.name == "__init__.py"
        edges: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                for a in node.names:
                    if a.name in known:
                        edges.add(a.name)
            elif isinstance(node, ast.ImportFrom):
                if node.level:  # relative: from the package of this module
                    base = name.split(".")
                    base = base[: len(base) - node.level + (1 if is_pkg else 0)]
                    target = ".".join(base + ([node.module] if node.module else []))
                else:
                    target = node.module or ""
                if target.split(".")[0] != root.name:
                    continue
                edges |= _resolve(target, [a.name for a in node.names], known)
        edges.discard(name)
        graph[name] = edges
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle as [a, b, ..., a], or None (iterative DFS with colours)."""
    state: dict[str, int] = {}  # 1: on the stack, 2: done
    for start in sorted(graph):
        if state.get(start):
            continue
        stack = [(start, iter(sorted(graph[start])))]
        path = [start]
        state[start] = 1
        while stack:
            node, it = stack[-1]
            nxt = next(it, None)
            if nxt is None:
                state[node] = 2
                stack.pop()
                path.pop()
                continue
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if not state.get(nxt):
                state[nxt] = 1
                stack.append((nxt, iter(sorted(graph.get(nxt, ())))))
                path.append(nxt)
    return None


def package_graph(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """Collapse modules to the first level under ichigo/ (ichigo.data.x -> ichigo.data)."""
    def unit(m: str) -> str:
        return ".".join(m.split(".")[:2])

    out: dict[str, set[str]] = {}
    for m, edges in graph.items():
        u = unit(m)
        out.setdefault(u, set()).update(unit(e) for e in edges if unit(e) != u)
    return out


def _inside(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def forbidden_uses(graph: dict[str, set[str]], package: str,
                   allowed: dict[str, set[str]]) -> dict[str, set[str]]:
    """Modules outside `package` that import it, with the imports of it that `allowed` does not
    grant them (a grant covers the named module and everything under it)."""
    out = {}
    for m, edges in graph.items():
        if _inside(m, package):
            continue
        bad = {e for e in edges if _inside(e, package)
               and not any(_inside(e, ok) for ok in allowed.get(m, ()))}
        if bad:
            out[m] = bad
    return out


# The one use of the data pipeline from outside it: the ASR benchmark reads test sets with the
# data sources' readers (one reader per layout, shared rather than copied).
DATA_USES_ALLOWED = {"ichigo.eval.benchmarks.asr_test": {"ichigo.data.sources"}}


def test_the_walker_finds_a_planted_cycle(tmp_path):
    pkg = tmp_path / "ichigo"
    (pkg / "a").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "a" / "__init__.py").write_text("")
    (pkg / "a" / "x.py").write_text("def f():\n    from ichigo.b import y\n")
    (pkg / "b.py").write_text("from ichigo.a.x import f\n")
    (pkg / "c.py").write_text("from . import b\n")
    g = import_graph(pkg)
    assert g["ichigo.c"] == {"ichigo.b"}
    assert find_cycle(g) in (["ichigo.a.x", "ichigo.b", "ichigo.a.x"], ["ichigo.b", "ichigo.a.x", "ichigo.b"])
    assert find_cycle(package_graph(g)) is not None
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_module_cycle_in_ichigo():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_no_package_cycle_in_ichigo():
    cycle = find_cycle(package_graph(import_graph()))
    assert cycle is None, "package import cycle: " + " -> ".join(cycle)


def test_the_layering_check_finds_a_planted_upward_import(tmp_path):
    pkg = tmp_path / "ichigo"
    for d in ("data", "model", "eval"):
        (pkg / d).mkdir(parents=True)
        (pkg / d / "__init__.py").write_text("")
    (pkg / "__init__.py").write_text("")
    (pkg / "data" / "sources.py").write_text("")
    (pkg / "data" / "stages.py").write_text("")
    (pkg / "model" / "base.py").write_text("def f():\n    from ichigo.data import stages\n")
    (pkg / "eval" / "asr.py").write_text("from ichigo.data.sources import x\nfrom ichigo.data import stages\n")
    allowed = {"ichigo.eval.asr": {"ichigo.data.sources"}}
    assert forbidden_uses(import_graph(pkg), "ichigo.data", allowed) == {
        "ichigo.model.base": {"ichigo.data.stages"}, "ichigo.eval.asr": {"ichigo.data.stages"}}


def test_nothing_outside_the_data_pipeline_imports_it():
    """ichigo.model, ichigo.training, ichigo.speech_tokenizer, ichigo.records, ichigo.world, ...
    never import ichigo.data; eval only through DATA_USES_ALLOWED."""
    bad = forbidden_uses(import_graph(), "ichigo.data", DATA_USES_ALLOWED)
    assert not bad, "imports of the data pipeline from below it: " + "; ".join(
        f"{m} -> {sorted(e)}" for m, e in sorted(bad.items()))
