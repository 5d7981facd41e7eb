"""setup.py, read as a syntax tree and never executed: the literal `install_requires` and `extras_require`.

Running a setup.py is running the contributor's code, so the file is parsed with
`ast` and only values that are literal are taken: a list or tuple of strings, a
string of lines, a dict of those, a module-level name bound once to such a value,
`+` of such lists, and `**kwargs` of a module-level dict. Anything computed
(`open("requirements.txt").read().splitlines()`, a function call, a loop) is not
guessed: it is one "not audited" entry naming the keyword and its line, and the
requirement files the script names are audited on their own (the discovery
follows string literals naming them). `setup_requires` and `tests_require` are
build- and test-time tools, left out like pyproject's `[build-system]`.

A value is read from the call only when running the script could not change it
(`setup_py_scope.py`): a name rebound by an import, aliased and mutated, or a
namespace rewritten by `exec` still has its value as written audited, plus a
"not audited" entry saying the script may change it; and a file with no
`setup()` the gate can tie to setuptools' (an alias assigned at run time, a
local `def setup` wrapping the real one) says so instead of reading nothing.
"""

from __future__ import annotations

import ast
import posixpath
from typing import Any

from packaging.utils import canonicalize_name

from mlsecops.stages.deps.manifests.interface import ManifestError, ParsedManifest, Unaudited
from mlsecops.stages.deps.manifests.pins import pep508_entry
from mlsecops.stages.deps.manifests.reader import ManifestReader
from mlsecops.stages.deps.manifests.references import named_files
from mlsecops.stages.deps.manifests.setup_py_scope import module_assignments, setup_calls, trusted_bindings

FIELDS = ("install_requires", "extras_require")
_MAX_DEPTH = 32


class NotLiteral(Exception):
    """A value that only running the script would give."""

    def __init__(self, node: ast.AST) -> None:
        self.line = getattr(node, "lineno", None)
        super().__init__(type(node).__name__)


Located = list[tuple[str, int]]  # (requirement string, line it is written on)


def tree(rel: str, text: str) -> ast.Module:
    """The module's syntax tree; raises ManifestError (with the line) when it does not parse."""
    try:
        return ast.parse(text, filename=rel)
    except SyntaxError as exc:
        raise ManifestError(rel, f"not valid Python: {exc.msg}", exc.lineno) from None
    except (ValueError, RecursionError, MemoryError) as exc:
        raise ManifestError(rel, f"not valid Python: {type(exc).__name__}") from None


_MUTATORS = frozenset({"append", "extend", "insert", "update", "setdefault", "pop", "popitem", "remove", "clear", "__setitem__", "__iadd__"})


def _bindings(module: ast.Module) -> dict[str, ast.AST | None]:
    """Module-level names bound once by a plain assignment and never changed anywhere after.

    A name that is bound twice, augmented (`+=`), mutated (`.append(...)`,
    `x[k] = ...`) or declared `global` somewhere maps to None: its value is
    whatever running the script makes of it.
    """
    bound = module_assignments(module)
    stores: dict[str, int] = {}
    for node in ast.walk(module):
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            stores[node.id] = stores.get(node.id, 0) + 1
        elif isinstance(node, ast.Global):
            for name in node.names:
                stores[name] = stores.get(name, 0) + 2
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and isinstance(node.func.value, ast.Name) \
                and node.func.attr in _MUTATORS:
            stores[node.func.value.id] = stores.get(node.func.value.id, 0) + 2
        elif isinstance(node, ast.Subscript) and isinstance(node.ctx, (ast.Store, ast.Del)) and isinstance(node.value, ast.Name):
            stores[node.value.id] = stores.get(node.value.id, 0) + 2
        elif isinstance(node, ast.AugAssign) and isinstance(node.target, ast.Name):
            stores[node.target.id] = stores.get(node.target.id, 0) + 2
    return {name: (value if stores.get(name, 0) <= 1 else None) for name, value in bound.items()}


class _Evaluator:
    """Literal values of expressions, following module-level names; raises NotLiteral."""

    def __init__(self, bindings: dict[str, ast.AST | None]) -> None:
        self.bindings = bindings

    def value(self, node: ast.AST, depth: int = 0) -> Any:
        if depth > _MAX_DEPTH:
            raise NotLiteral(node)
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return [(line.strip(), node.lineno) for line in node.value.splitlines() if line.strip() and not line.strip().startswith("#")]
        if isinstance(node, (ast.List, ast.Tuple)):
            items: Located = []
            for elt in node.elts:
                inner = elt.value if isinstance(elt, ast.Starred) else elt
                if isinstance(inner, ast.Constant) and isinstance(inner.value, str):
                    items.append((inner.value.strip(), inner.lineno))
                else:
                    items += self._requirements(inner, depth + 1)
            return items
        if isinstance(node, ast.Dict):
            out: dict[str, Located] = {}
            for key, val in zip(node.keys, node.values, strict=True):
                if key is None:  # {**other}
                    other = self.value(val, depth + 1)
                    if not isinstance(other, dict):
                        raise NotLiteral(val)
                    out.update(other)
                    continue
                if not (isinstance(key, ast.Constant) and isinstance(key.value, str)):
                    raise NotLiteral(key)
                out[key.value] = self._requirements(val, depth + 1)
            return out
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "dict" and not node.args:
            out = {}
            for kw in node.keywords:
                if kw.arg is None:
                    raise NotLiteral(kw.value)
                out[kw.arg] = self._requirements(kw.value, depth + 1)
            return out
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            left, right = self.value(node.left, depth + 1), self.value(node.right, depth + 1)
            if isinstance(left, list) and isinstance(right, list):
                return left + right
            raise NotLiteral(node)
        if isinstance(node, ast.Name) and self.bindings.get(node.id) is not None:
            return self.value(self.bindings[node.id], depth + 1)  # type: ignore[arg-type]
        raise NotLiteral(node)

    def _requirements(self, node: ast.AST, depth: int) -> Located:
        found = self.value(node, depth)
        if not isinstance(found, list):
            raise NotLiteral(node)
        return found


def _keywords(call: ast.Call, ev: _Evaluator) -> tuple[dict[str, ast.AST], ast.AST | None]:
    """The setup() keywords (with those of a literal `**kwargs` dict) and the first `**` that is not one."""
    found: dict[str, ast.AST] = {}
    opaque: ast.AST | None = None
    for kw in call.keywords:
        if kw.arg is not None:
            found[kw.arg] = kw.value
            continue
        target = kw.value
        if isinstance(target, ast.Name) and ev.bindings.get(target.id) is not None:
            target = ev.bindings[target.id]  # type: ignore[assignment]
        if isinstance(target, ast.Dict) and all(isinstance(k, ast.Constant) and isinstance(k.value, str) for k in target.keys):
            found.update({k.value: v for k, v in zip(target.keys, target.values, strict=True)})  # type: ignore[union-attr]
        elif isinstance(target, ast.Call) and isinstance(target.func, ast.Name) and target.func.id == "dict" and not target.args \
                and all(k.arg for k in target.keywords):
            found.update({str(k.arg): k.value for k in target.keywords})
        elif opaque is None:
            opaque = kw.value
    return found, opaque


def _not_literal(rel: str, field: str, line: int | None, files: list[str], why: str) -> Unaudited:
    hint = f"; it names {', '.join(sorted(set(files))[:5])}, audited on its own where the file is in the repository" if files else ""
    return Unaudited(name=field, reason="not-literal", path=rel, line=line, spec=f"{field}=...",
                     message=f"not audited: {field} in setup.py is {why}, not a literal the gate can read without "
                     f"running the script{hint}")


def parse(rel: str, reader: ManifestReader, max_entries: int = 10_000) -> ParsedManifest:
    module = tree(rel, reader.read_text(rel))
    out = ParsedManifest(path=rel, kind="setup.py", files=[rel])
    recognised, other = setup_calls(module)
    strict = _Evaluator(trusted_bindings(module, {id(c) for c in recognised}))
    lenient = _Evaluator(_bindings(module))
    files = [posixpath.basename(str(node.value)) for node in named_files(module)]
    if not recognised:
        line = other[0].lineno if other else None
        why = ("calls a setup() the gate cannot tie to setuptools' (a local function, or an alias assigned at run time)"
               if other else "calls no setup() the gate can read")
        out.add(Unaudited(name="install_requires", reason="not-literal", path=rel, line=line, spec="setup(...)",
                          message=f"not audited: setup.py {why}, so what it installs is not known without running it"))
    for call in recognised + other:
        keywords, opaque = _keywords(call, lenient)
        own = None
        name = keywords.get("name")
        if isinstance(name, ast.Constant) and isinstance(name.value, str):
            own = canonicalize_name(name.value)
        for field in FIELDS:
            node = keywords.get(field)
            if node is None:
                if opaque is not None:
                    out.add(_not_literal(rel, field, getattr(opaque, "lineno", call.lineno), files, "possibly set through **kwargs"))
                continue
            try:
                value = _literal(strict, lenient, node)
            except NotLiteral as exc:
                out.add(_not_literal(rel, field, exc.line or node.lineno, files, "computed"))  # type: ignore[attr-defined]
                continue
            except _MayChange as exc:
                value = exc.value
                out.add(_not_literal(rel, field, exc.line or getattr(node, "lineno", None), files,
                                     "bound to a name the script may change before setup() runs (its value as written is audited)"))
            except RecursionError:
                out.add(_not_literal(rel, field, getattr(node, "lineno", None), files, "nested too deeply"))
                continue
            groups = list(value.values()) if isinstance(value, dict) else [value]
            if field == "extras_require" and not isinstance(value, dict) or field == "install_requires" and not isinstance(value, list):
                out.add(_not_literal(rel, field, getattr(node, "lineno", None), files, "of an unexpected type"))
                continue
            if sum(len(g) for g in groups) + out.entries() > max_entries:
                raise ManifestError(rel, f"more than {max_entries} requirements (deps.limits.max_packages): not audited")
            for group in groups:
                for text, line in group:
                    out.add(pep508_entry(text, rel, line, "setup.py", own))
    return out


class _MayChange(Exception):
    """The value as written is literal, but running the script could change it first."""

    def __init__(self, value: Any, line: int | None) -> None:
        self.value = value
        self.line = line
        super().__init__("may change")


def _literal(strict: _Evaluator, lenient: _Evaluator, node: ast.AST) -> Any:
    """The value of `node`; raises NotLiteral, or _MayChange carrying the value as written."""
    try:
        return strict.value(node)
    except NotLiteral as exc:
        try:
            value = lenient.value(node)
        except NotLiteral:
            raise exc from None
        raise _MayChange(value, exc.line) from None
