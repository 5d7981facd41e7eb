"""The models stage's shape (issue 12, item 10): analyzers and engines stand alone, and no
module of the stage or of `formats` imports in a circle. Read from the source with `ast`,
so a lazy import inside a function counts as much as one at the top."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import mlsecops
from mlsecops.formats.kinds import Format
from mlsecops.stages.models import policy, registry
from mlsecops.stages.models.interface import Analyzer, Engine

ROOT = Path(mlsecops.__file__).resolve().parent
MODELS = "mlsecops.stages.models"
# What an analyzer, an engine or a shared helper must never import: another analyzer or
# engine (shared helpers: none at all), or the modules that drive them.
DRIVERS = {f"{MODELS}.{m}" for m in ("scanfile", "dispatch", "registry", "stage", "worker", "pool", "cache", "spawn")}


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules(*packages: str) -> dict[str, Path]:
    out = {}
    for package in packages:
        folder = ROOT.parent.joinpath(*package.split("."))
        for path in sorted(folder.rglob("*.py")):
            out[_module_name(path)] = path
    return out


def _type_checking_only(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def _imports(path: Path, module: str, known: set[str]) -> set[str]:
    """Every module `module` imports when it runs (not under `if TYPE_CHECKING:`), resolved
    to a module where `from x import y` names one."""
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    out: set[str] = set()

    def visit(node: ast.AST) -> None:
        if _type_checking_only(node):
            return
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            for alias in node.names:
                full = f"{base}.{alias.name}"
                out.add(full if full in known else base)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text("utf-8")))
    return out


ALL = _modules(MODELS, "mlsecops.formats")
GRAPH = {m: {i for i in _imports(p, m, set(ALL)) if i in ALL and i != m} for m, p in ALL.items()}


def _group(module: str) -> str | None:
    for group in ("analyzers", "engines", "shared"):
        prefix = f"{MODELS}.{group}"
        if module.startswith(prefix + "."):
            return group
    return None


@pytest.mark.parametrize("module", sorted(m for m in ALL if _group(m) and not m.endswith("__init__")
                                          and ALL[m].name != "__init__.py"))
def test_analyzers_engines_and_shared_helpers_import_nothing_that_drives_them(module: str) -> None:
    group = _group(module)
    bad = set()
    for target in GRAPH[module]:
        if target in DRIVERS:
            bad.add(target)
        target_group = _group(target)
        if target_group in ("analyzers", "engines") and (group == "shared" or target != module):
            bad.add(target)
    assert not bad, f"{module} imports {sorted(bad)}: recursion goes through state.scan_child, engines through state.engines"


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def strong(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            strong(v)
    return out


def test_no_import_cycle_in_the_models_stage_or_the_formats() -> None:
    assert _cycles(GRAPH) == []


def test_the_cycle_check_finds_a_cycle() -> None:
    """The check itself: two modules that import each other, and a longer ring, are found."""
    graph = {"a": {"b"}, "b": {"a"}, "c": {"d"}, "d": {"e"}, "e": {"c"}, "f": {"a"}}
    assert _cycles(graph) == [["a", "b"], ["c", "d", "e"]]


def test_the_import_reader_sees_lazy_and_relative_imports(tmp_path: Path) -> None:
    pkg = tmp_path / "p"
    pkg.mkdir()
    src = pkg / "m.py"
    src.write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import p.hidden\n"
                   "def f():\n    from p import other\n    from . import sib\n    import p.deep.x\n")
    found = _imports(src, "p.m", {"p.other", "p.sib"})
    assert found == {"typing", "p.other", "p.sib", "p.deep.x"}


def test_every_analyzer_and_engine_is_registered_and_conforms() -> None:
    analyzers = set(map(id, registry.ANALYZERS.values()))
    for module_name, path in ALL.items():
        if _group(module_name) == "analyzers" and path.name != "__init__.py":
            module = __import__(module_name, fromlist=["ANALYZERS"])
            assert module.ANALYZERS, module_name
            for analyzer in module.ANALYZERS:
                assert isinstance(analyzer, Analyzer)
                assert id(analyzer) in analyzers, f"{module_name} is not in registry.py"
                assert all(registry.ANALYZERS[fmt] is analyzer for fmt in analyzer.formats)
    for name, engine in registry.ENGINES.items():
        assert isinstance(engine, Engine) and engine.name == name
    assert list(registry.ENGINES) == ["fickling", "modelscan"]  # the order they run on a pickle
    assert set(policy.ENGINES) == {"mlsecops", *registry.ENGINES}  # what models.engines accepts


def test_every_format_that_can_be_scanned_has_an_analyzer() -> None:
    """Formats detection finds that no analyzer reads: recorded, and nothing more to read."""
    assert set(Format) - set(registry.ANALYZERS) == {Format.joblib, Format.lfs_pointer}
