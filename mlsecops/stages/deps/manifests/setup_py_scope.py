"""Which names in a setup.py hold a value the script never changes, and which calls are setuptools' `setup()`.

`setup_py.py` takes a keyword's value from the syntax tree, following module-level names. That is
only sound when running the script could not give the name another value, so a name is trusted
only when it is bound once, by a plain assignment, and every other use of it cannot change it:

- every binding counts, not only `x = ...`: imports (`from reqs import REQ`), `def`/`class`,
  `except ... as x`, `match` captures, `for`/`with` targets, `:=`, `del`, `global`;
- a use that could mutate it or hand it to code that could (`REQ.append(...)`, `REQ[0] = ...`,
  `R2 = REQ` then `R2 += ...`, `f(REQ)`, a dict holding it that is then changed) makes it opaque;
  reading it (or `EXTRAS['dev']`) inside `setup(...)`, `+` and `[*REQ]` copy or only read;
- a script that rewrites its namespace (`globals()`, `vars()`, `locals()`, `exec`, `eval`,
  `setattr`, `__dict__`) has no trusted name at all.

A call is setuptools' `setup()` when its callee is a name bound once by `from ... import setup
[as s]`, or `module.setup` of a module bound once by `import` and never assigned into. Anything
else (`mk = setuptools.setup; mk(...)`, `getattr(setuptools, "setup")(...)`, a local `def setup`
that wraps and rewrites the real one) is not recognised, and `setup_py.py` says the file's
dependencies could not be read instead of reading the wrong call.
"""

from __future__ import annotations

import ast

_DYNAMIC_CALLS = frozenset({"globals", "vars", "locals", "exec", "eval", "setattr", "delattr", "__import__", "compile"})
_COPIES = (ast.BinOp,)  # `a + b` makes a new list: the operands are only read


def _parents(module: ast.Module) -> dict[int, ast.AST]:
    return {id(child): node for node in ast.walk(module) for child in ast.iter_child_nodes(node)}


def _store_counts(module: ast.Module) -> dict[str, int]:
    """How many times each name is bound anywhere in the module (a `global` counts twice)."""
    counts: dict[str, int] = {}

    def add(name: str | None, n: int = 1) -> None:
        if name:
            counts[name] = counts.get(name, 0) + n

    for node in ast.walk(module):
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            add(node.id)
        elif isinstance(node, ast.alias):
            add((node.asname or node.name).split(".")[0])
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            add(node.name)
        elif isinstance(node, ast.ExceptHandler):
            add(node.name)
        elif isinstance(node, (ast.MatchAs, ast.MatchStar)):
            add(node.name)
        elif isinstance(node, ast.MatchMapping):
            add(node.rest)
        elif isinstance(node, (ast.Global, ast.Nonlocal)):
            for name in node.names:
                add(name, 2)
    return counts


def rewrites_namespace(module: ast.Module) -> bool:
    for node in ast.walk(module):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in _DYNAMIC_CALLS:
            return True
        if isinstance(node, ast.Attribute) and node.attr == "__dict__":
            return True
        if isinstance(node, ast.Name) and node.id in _DYNAMIC_CALLS and not isinstance(node.ctx, ast.Store):
            return True  # `g = globals` and the like
    return False


def _holder(name_node: ast.Name, parents: dict[int, ast.AST], setup_calls: set[int]) -> tuple[str, str | None]:
    """Where a read of a name ends up: ('safe', None), ('binding', holder name) or ('unsafe', None)."""
    node: ast.AST = name_node
    while True:
        parent = parents.get(id(node))
        if parent is None:
            return "unsafe", None
        if isinstance(parent, ast.keyword):
            call = parents.get(id(parent))
            return ("safe", None) if call is not None and id(call) in setup_calls else ("unsafe", None)
        if isinstance(parent, _COPIES) and isinstance(parent.op, ast.Add):
            return "safe", None
        if isinstance(parent, ast.Starred):
            outer = parents.get(id(parent))
            if isinstance(outer, (ast.List, ast.Tuple, ast.Set)):
                return "safe", None  # [*REQ] copies
            return "unsafe", None
        if isinstance(parent, (ast.List, ast.Tuple, ast.Set)) or (isinstance(parent, ast.Dict) and node in parent.values):
            node = parent  # held by the display: whoever holds the display holds it
            continue
        if isinstance(parent, ast.Subscript) and parent.value is node and isinstance(parent.ctx, ast.Load):
            node = parent  # EXTRAS['dev'] is part of EXTRAS: judged by where it goes
            continue
        if isinstance(parent, (ast.Assign, ast.AnnAssign)) and parent.value is node:
            targets = parent.targets if isinstance(parent, ast.Assign) else [parent.target]
            if len(targets) == 1 and isinstance(targets[0], ast.Name):
                return "binding", targets[0].id
        return "unsafe", None


def module_assignments(module: ast.Module) -> dict[str, ast.AST | None]:
    """Names assigned by a plain `x = ...` (or `x: T = ...`) at module level: the value, or None
    when the module assigns the name more than once."""
    bound: dict[str, ast.AST | None] = {}
    for stmt in module.body:
        if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name):
            name = stmt.targets[0].id
            bound[name] = None if name in bound else stmt.value
        elif isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name) and stmt.value is not None:
            name = stmt.target.id
            bound[name] = None if name in bound else stmt.value
    return bound


def trusted_bindings(module: ast.Module, setup_calls: set[int]) -> dict[str, ast.AST | None]:
    """Module-level names mapped to their value when running the script could not change it, else None."""
    bound = module_assignments(module)
    if rewrites_namespace(module):
        return {name: None for name in bound}
    stores = _store_counts(module)
    parents = _parents(module)
    unsafe: set[str] = {name for name in bound if stores.get(name, 0) != 1}
    held_by: dict[str, set[str]] = {}
    for node in ast.walk(module):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
            kind, holder = _holder(node, parents, setup_calls)
            if kind == "unsafe":
                unsafe.add(node.id)
            elif kind == "binding" and holder is not None:
                held_by.setdefault(node.id, set()).add(holder)
    changed = True
    while changed:  # a value held by an opaque name can be changed through it
        changed = False
        for name, holders in held_by.items():
            if name not in unsafe and (holders & unsafe or any(h not in bound for h in holders)):
                unsafe.add(name)
                changed = True
    return {name: (None if name in unsafe else value) for name, value in bound.items()}


def _imported_setup_names(module: ast.Module, stores: dict[str, int]) -> tuple[set[str], set[str]]:
    """(names bound once to an imported `setup`, module names bound once by `import`)."""
    functions: set[str] = set()
    modules: set[str] = set()
    for node in ast.walk(module):
        if isinstance(node, ast.ImportFrom):
            for alias in node.names:
                if alias.name == "setup":
                    functions.add(alias.asname or "setup")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                modules.add((alias.asname or alias.name).split(".")[0])
    assigned_into = {n.value.id for n in ast.walk(module)
                     if isinstance(n, ast.Attribute) and isinstance(n.ctx, (ast.Store, ast.Del)) and isinstance(n.value, ast.Name)}
    return ({f for f in functions if stores.get(f, 0) == 1},
            {m for m in modules if stores.get(m, 0) == 1 and m not in assigned_into})


def _root_name(node: ast.AST) -> str | None:
    while isinstance(node, ast.Attribute):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def setup_calls(module: ast.Module) -> tuple[list[ast.Call], list[ast.Call]]:
    """(calls of setuptools' setup(), other calls named `setup` whose callee the gate cannot tie to an import)."""
    stores = _store_counts(module)
    functions, modules = _imported_setup_names(module, stores)
    recognised: list[ast.Call] = []
    other: list[ast.Call] = []
    for node in ast.walk(module):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if isinstance(func, ast.Name) and func.id in functions:
            recognised.append(node)
        elif isinstance(func, ast.Attribute) and func.attr == "setup" and _root_name(func.value) in modules:
            recognised.append(node)
        elif (isinstance(func, ast.Name) and func.id == "setup") or (isinstance(func, ast.Attribute) and func.attr == "setup"):
            other.append(node)
    return recognised, other
