"""Find the repository's atheris harnesses and the in-repo code each one imports, without running any.

A harness is a Python file matching the policy's `harnesses` globs that
defines a module-level `TestOneInput`. Its imports are read with `ast` (parsed,
never executed) and resolved to files under PATH the way `python
fuzz/fuzz_x.py` would find them (the harness's folder, the repository root,
`src/`), transitively. As CIFuzz does, a harness is worth running on a pull
request when the PR changes it or any file in that closure.
"""

from __future__ import annotations

import ast
from pathlib import Path, PurePosixPath

from pydantic import BaseModel, Field

from mlsecops import globs
from mlsecops.changes import folder

MAX_SOURCE = 1024 * 1024
MAX_CLOSURE = 2000
# Installed packages and tool folders are not the repository's own harnesses.
SKIP_PARTS = frozenset({".venv", "venv", "site-packages", "dist-packages", "node_modules", ".tox", ".nox",
                        ".mlsecops", "__pycache__", ".eggs", "build"})


class Harness(BaseModel):
    path: str = Field(description="repo-relative")
    line: int = Field(description="line of `def TestOneInput`")
    closure: list[str] = Field(default_factory=list, description="in-repo files it imports, transitively")
    packages: list[str] = Field(default_factory=list, description="top-level in-repo module names (to instrument)")


def _parse(path: Path) -> ast.Module | None:
    try:
        if path.stat().st_size > MAX_SOURCE:
            return None
        return ast.parse(path.read_bytes(), filename=str(path))
    except (OSError, SyntaxError, ValueError, RecursionError, MemoryError):
        return None


def _test_one_input(tree: ast.Module) -> int | None:
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == "TestOneInput":
            return node.lineno
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "TestOneInput" for t in node.targets):
            return node.lineno
    return None


def _imports(tree: ast.Module, module: str, is_package: bool) -> set[str]:
    """Absolute module names imported anywhere in the file (relative imports resolved)."""
    names: set[str] = set()
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".") if package else []
                keep = len(parts) - (node.level - 1)
                if keep < 0:
                    continue
                base = ".".join([*parts[:keep], *([base] if base else [])])
            if base:
                names.add(base)
                names.update(f"{base}.{a.name}" for a in node.names if a.name != "*")
    return names


def _resolve(root: Path, search: list[str], name: str) -> list[tuple[str, str, bool]]:
    """(repo-relative file, module name, is package) for `name` and its parent packages."""
    found = []
    parts = name.split(".")
    for base in search:
        for i in range(1, len(parts) + 1):
            rel = PurePosixPath(base, *parts[:i]) if base else PurePosixPath(*parts[:i])
            for cand, pkg in ((rel / "__init__.py", True), (rel.with_name(rel.name + ".py"), False)):
                p = root / cand
                if p.is_file() and not p.is_symlink():
                    found.append((cand.as_posix(), ".".join(parts[:i]), pkg))
        if found:
            return found
    return found


def closure(root: Path, harness: str) -> tuple[list[str], list[str]]:
    """Files the harness imports from the repository (transitively) and their top-level names."""
    hdir = PurePosixPath(harness).parent.as_posix()
    search = [d for d in dict.fromkeys(["" if hdir == "." else hdir, "", "src"]) if d == "" or (root / d).is_dir()]
    seen: set[str] = {harness}
    tops: set[str] = set()
    todo: list[tuple[str, str, bool]] = [(harness, PurePosixPath(harness).stem, False)]
    while todo and len(seen) < MAX_CLOSURE:
        rel, module, is_pkg = todo.pop()
        tree = _parse(root / rel)
        if tree is None:
            continue
        for name in sorted(_imports(tree, module, is_pkg)):
            for path, mod, pkg in _resolve(root, search, name):
                if path not in seen:
                    seen.add(path)
                    tops.add(mod.split(".")[0])
                    todo.append((path, mod, pkg))
    seen.discard(harness)
    return sorted(seen), sorted(tops)


def discover(root: Path, patterns: list[str], exclude: tuple[str, ...] = ()) -> list[Harness]:
    found: list[Harness] = []
    for entry in folder.walk(root):
        if not isinstance(entry, tuple):
            continue
        rel = entry[0]
        if not rel.endswith(".py") or rel.startswith(exclude) or not globs.match_any(rel, patterns):
            continue
        if SKIP_PARTS.intersection(rel.split("/")[:-1]):
            continue
        tree = _parse(root / rel)
        line = _test_one_input(tree) if tree is not None else None
        if line is None:
            continue
        files, tops = closure(root, rel)
        found.append(Harness(path=rel, line=line, closure=files, packages=tops))
    return found


def affected(h: Harness, changed: set[str]) -> bool:
    return h.path in changed or any(f in changed for f in h.closure)
