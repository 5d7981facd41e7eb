#!/usr/bin/env python3
"""Build the pickle allowlist by identity: mlsecops/data/pickle_allowlist.json.

Run it where the ML libraries are installed at the versions pinned for it
(`scripts/allowlist-requirements.txt`; `make allowlist` does it in its own venv):

    python scripts/build_allowlist.py                  # write the data file
    python scripts/build_allowlist.py --check          # exit 1 when the committed file differs

It imports the modules `scripts/allowlist_spec.yml` names (trusted, installed
libraries; never a scanned file), and for every object records the identity
pickle would write for it (`__module__:__qualname__`). Three things come out:

- `allow`: objects defined inside an ML library (or named stdlib objects) that
  are in the spec's scope and whose reconstruction runs no code taken from the
  pickle. Reconstruction is what the unpickler calls: `__new__`/`__init__`
  (REDUCE on the class), `__setstate__`/`__setattr__` (BUILD), `__setitem__`,
  `append`/`extend`/`add` (SETITEMS, APPENDS, ADDITEMS), `__getattr__`, `__del__`,
  `__hash__`/`__eq__` (as dict keys). Their source is read (never run) and every
  call they make, transitively, is resolved to an identity; one that reaches a
  code, file, network or process sink (the denylist in pickle_globals.yml, plus
  eval/exec/compile/__import__/open) excludes the class, with the path found.
- `reexports`: names under an ML module that are an alias of a standard-library
  or another package's object (`sklearn.utils._joblib:Parallel` is
  joblib.parallel.Parallel). They are never allowed under the ML name.
- `unsafe`: classes excluded because reconstructing them can run code from state.

The scanner reads only the JSON; it never imports these libraries.
"""

from __future__ import annotations

import argparse
import ast
import builtins
import fnmatch
import importlib
import importlib.metadata
import inspect
import json
import pkgutil
import platform
import re
import sys
import textwrap
import types
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
SPEC = Path(__file__).with_name("allowlist_spec.yml")
OUT = ROOT / "mlsecops" / "data" / "pickle_allowlist.json"
DENY = ROOT / "mlsecops" / "data" / "pickle_globals.yml"

# What the unpickler (or a dict/set it fills) calls on a class or an instance.
ENTRY_METHODS = ("__new__", "__init__", "__setstate__", "__setattr__", "__setitem__", "__getattr__", "__del__",
                 "append", "extend", "add", "__hash__", "__eq__")
# Distributions whose import names differ from the package name pip knows.
DISTRIBUTIONS = {"sklearn": "scikit-learn", "xgboost": "xgboost-cpu", "dateutil": "python-dateutil"}
MAX_DEPTH = 5
# Spec sections that are not packages to allow from.
SECTIONS = ("reviewed", "state_checks", "deferred_calls", "denylist", "unstable")

# Builtins that are sinks when library code calls them (the denylist also lists getattr,
# type, map... as pickle globals: gadgets in a pickle, ordinary calls in library code).
BUILTIN_SINKS = {"eval", "exec", "compile", "__import__", "open", "breakpoint", "input", "execfile"}
# Denylisted modules whose functions are ordinary when library code calls them.
NOT_SINKS = ("builtins:*", "operator:*", "_operator:*", "functools:*", "types:*", "sys:*", "gc:*", "inspect:*",
             "copyreg:*", "threading:*", "_thread:*", "signal:*", "logging:*", "logging.**:*", "os:fspath", "os:getenv",
             "os:cpu_count", "os:getpid", "os:sched_getaffinity", "os:environ*", "os:get_terminal_size", "os:stat_result",
             "platform:*", "uuid:*", "io:FileIO.*", "tempfile:gettempdir", "importlib:*metadata*",
             "importlib.metadata:*", "importlib.util:find_spec", "pkgutil:*", "pickle:PicklingError", "pickle:UnpicklingError",
             "yaml:*Error*", "sympy:*", "sympy.**:*", "numpy:*", "numpy.**:*", "pandas:*", "pandas.**:*",
             "posix:fspath", "posix:urandom", "os:urandom", "posix:uname", "os:uname", "posix:getpid", "posix:cpu_count",
             # torch patches inspect.getfile with this when torch.package is imported: still getfile
             "torch.package.package_importer:_patched_getfile",
             "torch.jit:annotate", "torch.jit:is_scripting", "torch.jit:is_tracing", "torch.jit._trace:is_tracing",
             "torch.jit._script:is_scripting", "torch.jit:_overload_method", "torch.jit:unused", "torch.jit:ignore",
             "torch.distributed.distributed_c10d:is_*", "torch.distributed.distributed_c10d:get_rank",
             "torch.distributed.distributed_c10d:get_world_size", "torch.distributed:is_available",
             # ctypes values and sizes are data; loading a library (CDLL, LoadLibrary) stays a sink
             "ctypes:c_*", "ctypes:POINTER", "ctypes:byref", "ctypes:sizeof", "_ctypes:sizeof", "ctypes:addressof",
             "ctypes:create_string_buffer", "_ctypes:POINTER", "_ctypes:byref", "_ctypes:addressof")
# Sinks that are harmless when every argument is a constant (a fixed module, a fixed file).
CONSTANT_OK = {"builtins:open", "builtins:__import__", "importlib:import_module", "io:open"}


def _glob_rx(glob: str) -> re.Pattern[str]:
    """'module:name' glob: `*` within a dotted part, `**` any module suffix (as pickle_globals.yml)."""
    module, _, name = glob.partition(":")
    mod = re.escape(module).replace(r"\*\*", "§").replace(r"\*", r"[^.]*").replace(r"\.§", r"(?:\..+)?").replace("§", ".*")
    nm = re.escape(name or "*").replace(r"\*", ".*")
    return re.compile(f"^{mod}:{nm}$")


def _module_rx(glob: str) -> re.Pattern[str]:
    return re.compile(_glob_rx(glob + ":x").pattern[:-3] + "$")


def _match(globs: list[str], module: str) -> bool:
    return any(_module_rx(g).match(module) for g in globs)


@dataclass
class Sinks:
    deny: list[tuple[re.Pattern[str], str]]
    not_sinks: list[re.Pattern[str]]

    def why(self, ident: str) -> str | None:
        if any(rx.match(ident) for rx in self.not_sinks):
            return None
        for rx, why in self.deny:
            if rx.match(ident):
                return why
        return None


def load_sinks() -> Sinks:
    data = yaml.safe_load(DENY.read_text("utf-8"))
    deny = [(_glob_rx(e["glob"]), e["why"]) for e in data["deny"]]
    deny += [(_glob_rx(f"builtins:{n}"), "runs or imports code, or opens files") for n in BUILTIN_SINKS]
    not_sinks = [_glob_rx(g) for g in NOT_SINKS if not g.startswith("builtins:")]
    not_sinks.append(re.compile(r"^builtins:(?!(%s)$).*$" % "|".join(map(re.escape, BUILTIN_SINKS))))
    return Sinks(deny=deny, not_sinks=not_sinks)


# --------------------------------------------------------------------------- identities


def identity(obj: Any) -> str | None:
    """The 'module:qualname' pickle writes for obj, or None when it is not pickled by name."""
    if isinstance(obj, types.ModuleType):
        return None
    module = getattr(obj, "__module__", None)
    qual = getattr(obj, "__qualname__", None) or getattr(obj, "__name__", None)
    if type(obj).__name__ == "ufunc":
        return f"{module or 'numpy'}:{obj.__name__}"
    if not isinstance(module, str) or not isinstance(qual, str) or "<" in qual:
        return None
    return f"{module}:{qual}"


def resolve(ident: str) -> Any:
    """What the unpickler's find_class returns for 'module:qualname' (raises when it cannot)."""
    module, _, qual = ident.partition(":")
    obj: Any = importlib.import_module(module)
    for part in qual.split("."):
        obj = getattr(obj, part)
    return obj


def top(module: str) -> str:
    return module.split(".")[0]


def is_stdlib(module: str) -> bool:
    return top(module) in sys.stdlib_module_names or top(module) == "builtins"


# --------------------------------------------------------------------------- the source analysis


@dataclass
class Analysis:
    sinks: Sinks
    memo: dict[tuple[int, int, frozenset[str]], list[tuple[str, Any]]] = field(default_factory=dict)
    keep: list[tuple[Any, Any]] = field(default_factory=list)
    # The denylist pass: also follow methods of module-level instances (urllib3.request calls
    # _DEFAULT_POOL.request) and check every method reached against the sinks (a package's own
    # connection layer is a sink there). The allowlist pass keeps the narrower reading it was reviewed with.
    deep: bool = False

    def unsafe_class(self, cls: type) -> list[tuple[str, str]]:
        """(entry method, path) for each way reconstructing cls reaches a sink (empty: none found)."""
        found: list[tuple[str, str]] = []
        for name in ENTRY_METHODS:
            for owner in cls.__mro__:
                if name in vars(owner):
                    fn = _function(vars(owner)[name])
                    if fn is not None and not _is_builtin_owner(owner):
                        tainted = _state_param(fn) if name == "__setstate__" else set()
                        path = self.function(fn, cls, f"{cls.__qualname__}.{name}", 0, tainted)
                        if path:
                            found.append((name, path))
                    break
        return found

    def function(self, fn: types.FunctionType, owner: type | None, label: str, depth: int = 0,
                 tainted: set[str] | None = None) -> str | None:
        """The nearest sink fn reaches, as 'a -> b -> sink', or None. `tainted`: names holding the pickled state.

        A breadth-first search over the call graph (each function's calls parsed once):
        linear in the graph, the same answer whatever order the classes come in."""
        start = (fn, owner, frozenset(tainted or ()))
        queue: list[tuple[tuple[types.FunctionType, type | None, frozenset[str]], list[str]]] = [(start, [label])]
        seen = {(id(fn), id(owner), start[2])}
        while queue:
            node, path = queue.pop(0)
            if len(path) > MAX_DEPTH + 1:
                continue
            for kind, value in self._edges(*node):
                if kind == "sink":
                    return " -> ".join([*path, value])
                sub_fn, sub_owner, sub_label = value
                key = (id(sub_fn), id(sub_owner), frozenset())
                if key not in seen:
                    seen.add(key)
                    queue.append(((sub_fn, sub_owner, frozenset()), [*path, sub_label]))
        return None

    def _edges(self, fn: types.FunctionType, owner: type | None, tainted: frozenset[str]) -> list[tuple[str, Any]]:
        """What fn's calls lead to, in source order: ("sink", text) or ("fn", (function, owner, label))."""
        key = (id(fn), id(owner), tainted)
        if key not in self.memo:
            out: list[tuple[str, Any]] = []
            tree = _parse(fn)
            if tree is not None:
                self_names = _self_names(fn)
                for node in ast.walk(tree):
                    if isinstance(node, ast.Call):
                        edge = self._call(node, fn, owner, self_names, set(tainted))
                        if edge:
                            out.append(edge)
            self.memo[key] = out
            self.keep.append((fn, owner))  # keep the objects alive so their ids stay theirs
        return self.memo[key]

    def _call(self, node: ast.Call, fn: types.FunctionType, owner: type | None, self_names: set[str],
              tainted: set[str]) -> tuple[str, Any] | None:
        f = node.func
        if isinstance(f, ast.Call) and isinstance(f.func, ast.Name) and f.func.id == "getattr" and len(f.args) >= 2 \
                and _mentions(f.args[1], tainted):
            return "sink", "getattr(obj, <name from the pickled state>)(...): calls an attribute the state names"
        chain = _chain(f)
        if not chain:
            return None
        head, rest = chain[0], chain[1:]
        if head in self_names and owner is not None and rest:
            target = _lookup_static(owner, rest[0])
            if target is _MISSING:
                return None  # an attribute set on the instance: called at use time, not while loading
            sub = _function(target)
            if sub is not None and len(rest) == 1:
                return self._method_edge(sub, owner, f"{owner.__qualname__}.{rest[0]}")
            return None
        if head == "super" and owner is not None and rest:
            for base in owner.__mro__[1:]:
                if rest[0] in vars(base) and not _is_builtin_owner(base):
                    sub = _function(vars(base)[rest[0]])
                    if sub is not None:
                        return self._method_edge(sub, owner, f"{base.__qualname__}.{rest[0]}")
                    break
            return None
        obj = _lookup_global(fn, head)
        if obj is _MISSING:
            return None
        instance_of: type | None = None
        for part in rest:
            if not isinstance(obj, (types.ModuleType, type)):
                if not self.deep or instance_of is not None or isinstance(obj, types.FunctionType):
                    return None
                instance_of = type(obj)  # a module-level instance: its class's method runs
                obj = instance_of
            try:
                obj = inspect.getattr_static(obj, part)
            except AttributeError:
                return None
            obj = _unwrap_descriptor(obj)
        if instance_of is not None:
            sub = _function(obj)
            return self._method_edge(sub, instance_of, f"{instance_of.__qualname__}.{rest[-1]}") if sub else None
        ident = _module_identity(obj) if isinstance(obj, types.ModuleType) else identity(obj)
        if ident is None:
            return None
        constant_args = all(isinstance(a, ast.Constant) for a in node.args[:1]) and bool(node.args)
        if head in BUILTIN_SINKS and obj is getattr(builtins, head, None):
            return None if constant_args and f"builtins:{head}" in CONSTANT_OK else ("sink", f"builtins.{head}")
        why = None if constant_args and ident in CONSTANT_OK else self.sinks.why(ident)
        if why:
            return "sink", f"{ident.replace(':', '.')} ({why})"
        if is_stdlib(ident.split(":")[0]):
            return None  # the standard library's sinks are named at the call; its internals are not re-read
        sub = _function(obj)
        if sub is not None:
            return "fn", (sub, None, ident.split(":")[1])
        if isinstance(obj, type) and "__init__" in vars(obj) and not _is_builtin_owner(obj):
            init = _function(vars(obj)["__init__"])
            if init is not None:
                return "fn", (init, obj, f"{obj.__qualname__}.__init__")
        return None


    def _method_edge(self, fn: types.FunctionType, owner: type, label: str) -> tuple[str, Any]:
        """A method reached through self, super() or an instance; in the deep pass, a sink when it is one."""
        if self.deep:
            ident = identity(fn)
            why = self.sinks.why(ident) if ident else None
            if why:
                return "sink", f"{ident.replace(':', '.')} ({why})"
        return "fn", (fn, owner, label)


_MISSING = object()


def _module_identity(mod: types.ModuleType) -> str:
    return f"{mod.__name__}:*"


def _function(obj: Any) -> types.FunctionType | None:
    obj = _unwrap_descriptor(obj)
    obj = getattr(obj, "_implementation", obj)  # numpy's array-function dispatchers wrap a Python function
    obj = inspect.unwrap(obj) if callable(obj) else obj
    return obj if isinstance(obj, types.FunctionType) else None


def _unwrap_descriptor(obj: Any) -> Any:
    if isinstance(obj, (staticmethod, classmethod)):
        return obj.__func__
    return obj


def _is_builtin_owner(cls: type) -> bool:
    return cls.__module__ == "builtins"


def _lookup_static(cls: type, name: str) -> Any:
    try:
        return inspect.getattr_static(cls, name)
    except AttributeError:
        return _MISSING


def _lookup_global(fn: types.FunctionType, name: str) -> Any:
    if name in fn.__globals__:
        return fn.__globals__[name]
    if fn.__closure__ and name in fn.__code__.co_freevars:
        try:
            return fn.__closure__[fn.__code__.co_freevars.index(name)].cell_contents
        except ValueError:
            return _MISSING
    return getattr(builtins, name, _MISSING)


def _state_param(fn: types.FunctionType) -> set[str]:
    args = fn.__code__.co_varnames[: fn.__code__.co_argcount]
    return {args[1]} if len(args) > 1 else set()


def _mentions(node: ast.expr, names: set[str]) -> bool:
    return bool(names) and any(isinstance(n, ast.Name) and n.id in names for n in ast.walk(node))


def _self_names(fn: types.FunctionType) -> set[str]:
    args = fn.__code__.co_varnames[: fn.__code__.co_argcount]
    return {args[0]} if args else set()


def _chain(node: ast.expr) -> list[str]:
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return parts[::-1]
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "super":
        parts.append("super")
        return parts[::-1]
    return []


def _parse(fn: types.FunctionType) -> ast.AST | None:
    try:
        return ast.parse(textwrap.dedent(inspect.getsource(fn)))
    except (OSError, TypeError, SyntaxError, IndentationError):
        return None


# --------------------------------------------------------------------------- enumeration


def import_modules(walk: list[str], skip: list[str]) -> list[types.ModuleType]:
    out: list[types.ModuleType] = []
    seen: set[str] = set()

    def add(name: str) -> None:
        if name in seen or _match(skip, name):
            return
        seen.add(name)
        try:
            out.append(importlib.import_module(name))
        except Exception as exc:  # noqa: BLE001 - an optional submodule whose dependency is missing
            print(f"  skipped {name}: {type(exc).__name__}: {exc}"[:160], file=sys.stderr)

    for entry in walk:
        recursive = entry.endswith(".**")
        name = entry[:-3] if recursive else entry
        add(name)
        if recursive and name in sys.modules and hasattr(sys.modules[name], "__path__"):
            for info in pkgutil.walk_packages(sys.modules[name].__path__, name + ".", onerror=lambda _n: None):
                if not _match(skip, info.name):
                    add(info.name)
    return out


def is_compiled(obj: Any) -> bool:
    if isinstance(obj, type):
        return not any(isinstance(v, types.FunctionType) for k in ENTRY_METHODS for c in obj.__mro__[:-1]
                       for v in [vars(c).get(k)] if v is not None) and _no_python_source(obj)
    return not isinstance(inspect.unwrap(obj) if callable(obj) else obj, types.FunctionType)


def _no_python_source(cls: type) -> bool:
    try:
        inspect.getsource(cls)
        return False
    except (OSError, TypeError):
        return True


@dataclass
class Result:
    allow: dict[str, str] = field(default_factory=dict)
    aliases: dict[str, str] = field(default_factory=dict)
    reexports: dict[str, str] = field(default_factory=dict)
    unsafe: dict[str, str] = field(default_factory=dict)
    construct: dict[str, str] = field(default_factory=dict)
    checks: dict[str, str] = field(default_factory=dict)
    check_values: dict[str, dict[str, Any]] = field(default_factory=dict)
    calls_args: dict[str, dict[str, str]] = field(default_factory=dict)
    denied: dict[str, str] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)


def build(spec: dict[str, Any]) -> tuple[Result, dict[str, str]]:
    sinks = load_sinks()
    analysis = Analysis(sinks)
    result = Result()
    versions: dict[str, str] = {}
    reviewed: dict[str, str] = spec.get("reviewed") or {}
    state_checks: dict[str, dict[str, Any]] = spec.get("state_checks") or {}
    for package, rules in spec.items():
        if package in SECTIONS or not isinstance(rules, dict):
            continue
        if package == "stdlib" or _installed(package, versions):
            _package(package, rules, analysis, result, reviewed, state_checks)
    for ident, roles in (spec.get("deferred_calls") or {}).items():
        if ident in result.allow:
            result.calls_args.setdefault(ident, {}).update({str(k): v for k, v in roles.items()})
    for package, rules in (spec.get("denylist") or {}).items():
        if _installed(package, versions):
            deny_package(package, rules or {}, sinks, result)
    return result, versions


def _installed(package: str, versions: dict[str, str]) -> bool:
    """Import the package and record its version; False (and a note) when it is not installed."""
    try:
        importlib.import_module(package)
    except ImportError:
        print(f"{package}: not installed, left out", file=sys.stderr)
        return False
    versions[package] = importlib.metadata.version(DISTRIBUTIONS.get(package, package))
    return True


def _candidate_kind(obj: Any, module: str, rules: dict[str, Any], ident: str) -> str | None:
    """Why obj is in scope for the allowlist (a kind), or None."""
    if type(obj).__name__ == "ufunc":
        return "ufunc" if _match(rules.get("ufuncs", []), module) else None
    for glob in rules.get("compiled", []):
        if _glob_rx(glob).match(ident):
            return "compiled"
    if isinstance(obj, type):
        return "class" if _match(rules.get("classes", []), module) else None
    if _function(obj) is not None and not isinstance(obj, type):
        return "function" if _match(rules.get("functions", []), module) else None
    for tname in rules.get("constants", []):
        tmod, _, tqual = tname.partition(":")
        try:
            tcls = resolve(tname)
        except (ImportError, AttributeError):
            continue
        if isinstance(tcls, type) and isinstance(obj, tcls):
            return "constant"
    return None


def _package(package: str, rules: dict[str, Any], analysis: Analysis, result: Result, reviewed: dict[str, str],
             state_checks: dict[str, dict[str, Any]]) -> None:
    pkg_top = package if package != "stdlib" else None
    modules = import_modules(rules.get("walk", []), rules.get("skip", []))
    for mod in modules:
        for name, obj in sorted(vars(mod).items()):
            if name.startswith("__") and not name.startswith("__pyx_unpickle") and name not in ("__randomstate_ctor",
                                                                                                 "__bit_generator_ctor",
                                                                                                 "__generator_ctor"):
                continue
            spelled = f"{mod.__name__}:{name}"
            if isinstance(obj, types.ModuleType):
                if top(obj.__name__) != pkg_top:
                    result.reexports[spelled] = f"{obj.__name__}:*"
                continue
            ident = identity(obj)
            if not callable(obj) and _candidate_kind(obj, mod.__name__, rules, spelled) != "constant":
                continue
            if _candidate_kind(obj, mod.__name__, rules, spelled) == "constant":
                ident = spelled
            if ident is None:
                continue
            imod = ident.split(":")[0]
            if top(imod) != pkg_top:
                result.reexports[spelled] = ident
                continue
            if ident != spelled:
                result.aliases[spelled] = ident  # kept only when the target ends up allowed
            try:
                if resolve(ident) is not obj:
                    continue  # pickle would refuse to write it under this name
            except (ImportError, AttributeError):
                continue
            _consider(obj, ident, rules, analysis, result, reviewed, state_checks)
    for entry in rules.get("names", []):
        try:
            obj = resolve(entry)
        except (ImportError, AttributeError):
            result.missing.append(entry)
            continue
        ident = identity(obj) or entry
        if "." in entry.split(":")[1] and ident != entry:
            ident = entry  # a method or classmethod: pickle names it through getattr on its class
        if ident != entry:
            result.aliases[entry] = ident
        _consider(obj, ident, {**rules, "force": True}, analysis, result, reviewed, state_checks)
    for glob in rules.get("methods", []):
        cls_glob, _, meth = glob.rpartition(".")
        crx = _glob_rx(cls_glob)
        for ident in sorted(k for k, v in result.allow.items() if v == "class" and crx.match(k)):
            cls = resolve(ident)
            for mname in sorted(n for c in cls.__mro__ for n in vars(c) if fnmatch.fnmatchcase(n, meth)):
                member = getattr(cls, mname, None)
                fn = _function(member)
                if fn is None:
                    continue
                hit = analysis.function(fn, cls, f"{cls.__qualname__}.{mname}", 0)
                key = f"{ident}.{mname}"
                if hit and key not in reviewed:
                    result.unsafe[key] = hit
                else:
                    result.allow[key] = "method"
    for entry in rules.get("compat", []):
        name = entry["name"]
        if "absent" in entry:
            result.aliases[name] = entry["absent"]
            continue
        try:
            obj = resolve(name)
        except (ImportError, AttributeError):
            result.missing.append(name)
            continue
        ident = identity(obj)
        if ident:
            result.aliases[name] = ident


def defining_module(obj: Any) -> str | None:
    """The module whose file holds obj's source (pandas and numpy re-label public objects with
    set_module, so `__module__` alone would put pandas.io's HDFStore in `pandas`)."""
    path = None
    if _function(obj) is not None and not isinstance(obj, type):
        path = _function(obj).__code__.co_filename  # type: ignore[union-attr]
    elif isinstance(obj, type):
        for value in vars(obj).values():
            fn = _function(value)
            if fn is not None and fn.__qualname__.startswith(obj.__qualname__ + "."):
                path = fn.__code__.co_filename
                break
    if not path:
        return None
    for name, mod in list(sys.modules.items()):
        if getattr(mod, "__file__", None) == path:
            return name
    return None


def _consider(obj: Any, ident: str, rules: dict[str, Any], analysis: Analysis, result: Result, reviewed: dict[str, str],
              state_checks: dict[str, dict[str, Any]]) -> None:
    module = ident.split(":")[0]
    kind = "name" if rules.get("force") else _candidate_kind(obj, module, rules, ident)
    if kind is None:
        return
    if ident in (rules.get("exclude") or {}):
        result.unsafe[ident] = f"held out after review: {rules['exclude'][ident]}"
        return
    if kind in ("class", "function"):
        where = defining_module(obj)
        if where and _match(rules.get("skip", []) + rules.get("defined_outside", []), where):
            return
    if kind == "name":
        kind = "ufunc" if type(obj).__name__ == "ufunc" else "class" if isinstance(obj, type) else \
            "function" if _function(obj) is not None else "compiled"
    init_only: list[str] = []
    if kind == "class":
        found = analysis.unsafe_class(obj)
        paths = [p for entry, p in found if entry != "__init__"]
        init_only = [p for entry, p in found if entry == "__init__"]
        if is_compiled(obj):
            kind = "compiled class"
    elif kind == "function":
        hit = analysis.function(_function(obj), None, ident.split(":")[1], 0)  # type: ignore[arg-type]
        paths = [hit] if hit else []
    else:
        paths = []
    if ident in reviewed:
        paths, init_only = [], []
    check = next(({**c, "base": base} for base, c in state_checks.items() if isinstance(obj, type) and _subclass_of(obj, base)),
                 None)
    if check and (paths or init_only or check.get("always")):
        result.checks[ident] = check["check"]
        if check["check"] not in result.check_values:
            result.check_values[check["check"]] = {
                "attribute": check["attribute"], "values": _check_values(check),
                **{k: check[k] for k in ("anywhere", "no_arguments") if check.get(k)}}
        result.allow[ident] = kind
        result.unsafe.pop(ident, None)
        _record_arg_roles(obj, ident, kind, result)
        return
    if paths:
        result.unsafe[ident] = paths[0]
        result.allow.pop(ident, None)
        return
    if init_only:
        result.construct[ident] = init_only[0]
    result.allow[ident] = kind
    _record_arg_roles(obj, ident, kind, result)


def _subclass_of(cls: type, base_ident: str) -> bool:
    try:
        base = resolve(base_ident)
    except (ImportError, AttributeError):
        return False
    return isinstance(base, type) and issubclass(cls, base)


def _check_values(check: dict[str, Any]) -> list[str]:
    """The values the named state check accepts, taken from the library's own instances."""
    attr = check["attribute"]
    base = resolve(check["base"])
    values: set[str] = set()
    for source in check.get("instances_from", []):
        mod = importlib.import_module(source)
        for obj in vars(mod).values():
            if isinstance(obj, base) and isinstance(getattr(obj, attr, None), str):
                values.add(getattr(obj, attr))
    return sorted(values)


# --------------------------------------------------------------------------- callables that call their arguments


def _record_arg_roles(obj: Any, ident: str, kind: str, result: Result) -> None:
    """Which arguments an allowed callable calls (`call`) or only instantiates (`new`): a global the
    pickle hands there runs as if the pickle called it (numpy's __generator_ctor(name, ctor) calls ctor)."""
    roles: dict[str, str] = {}
    if isinstance(obj, type):
        for entry, prefix in (("__init__", ""), ("__new__", "new:")):
            for owner in obj.__mro__:
                if entry in vars(owner):
                    fn = _function(vars(owner)[entry])
                    if fn is not None and not _is_builtin_owner(owner):
                        roles.update({prefix + k: v for k, v in arg_roles(fn, skip_first=True).items()})
                    break
    else:
        fn = _function(obj)
        if fn is not None:
            bound = "." in ident.split(":")[1] and not isinstance(inspect.getattr_static(
                resolve(ident.rsplit(".", 1)[0]), ident.rsplit(".", 1)[1], None), staticmethod)
            roles = arg_roles(fn, skip_first=bound)
    if roles:
        result.calls_args[ident] = roles


def arg_roles(fn: types.FunctionType, skip_first: bool) -> dict[str, str]:
    """{position: "call" | "new"} for the positional parameters fn calls (`p(...)`, `p.method(...)`)
    or instantiates (`p.__new__(...)`, `object.__new__(p)`), also through a local alias (`c = p; c()`)."""
    tree = _parse(fn)
    if tree is None:
        return {}
    code = fn.__code__
    params = list(code.co_varnames[: code.co_argcount])
    if skip_first and params:
        params = params[1:]
    names = {p: i for i, p in enumerate(params)}
    for node in ast.walk(tree):  # aliases: `bit_gen_class = bit_generator`
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Name) and node.value.id in names:
            for target in node.targets:
                if isinstance(target, ast.Name) and target.id not in names:
                    names[target.id] = names[node.value.id]
    roles: dict[str, str] = {}

    def mark(pos: int, role: str) -> None:
        if roles.get(str(pos)) != "call":
            roles[str(pos)] = role

    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        chain = _chain(node.func)
        if chain and chain[0] in names:
            mark(names[chain[0]], "new" if chain[1:] == ["__new__"] else "call")
        if chain and chain[-1] == "__new__" and node.args and isinstance(node.args[0], ast.Name) \
                and node.args[0].id in names:
            mark(names[node.args[0].id], "new")
    return roles


# --------------------------------------------------------------------------- the third-party denylist


def deny_package(package: str, rules: dict[str, Any], base: Sinks, result: Result) -> None:
    """Callables of a non-ML third-party package that reach a sink (process, network, file write,
    code): denied by identity, under every spelling the package gives them."""
    extra = [(_glob_rx(f"{mod}:*"), f"{why} ({package}'s own {mod})") for mod, why in (rules.get("sinks") or {}).items()]
    sinks = Sinks(deny=base.deny + extra, not_sinks=base.not_sinks)
    analysis = Analysis(sinks, deep=True)
    verdicts: dict[str, str | None] = {}
    for mod in import_modules(rules.get("walk", [f"{package}.**"]), rules.get("skip", [])):
        for name, obj in sorted(vars(mod).items()):
            if isinstance(obj, types.ModuleType) or (name.startswith("__") and name.endswith("__")):
                continue
            ident = identity(obj)
            if ident is None or top(ident.split(":")[0]) != package or not callable(obj):
                continue
            if ident not in verdicts:
                verdicts[ident] = _deny_path(obj, ident, analysis)
                if isinstance(obj, type):
                    _deny_methods(obj, ident, analysis, result)
            path = verdicts[ident]
            if path:
                result.denied[ident] = path
                result.denied[f"{mod.__name__}:{name}"] = path


def _deny_path(obj: Any, ident: str, analysis: Analysis) -> str | None:
    why = analysis.sinks.why(ident)
    if why:
        return f"{ident.replace(':', '.')} ({why})"
    if isinstance(obj, type):
        found = analysis.unsafe_class(obj)
        return found[0][1] if found else None
    fn = _function(obj)
    return analysis.function(fn, None, ident.split(":")[1], 0) if fn is not None else None


def _deny_methods(cls: type, ident: str, analysis: Analysis, result: Result) -> None:
    """Public methods (a pickle calls them as bound methods: getattr(instance, 'kill')())."""
    for mname in sorted({n for c in cls.__mro__ if top(c.__module__) == top(cls.__module__) for n in vars(c)}):
        if mname.startswith("_"):
            continue
        fn = _function(inspect.getattr_static(cls, mname, None))
        if fn is None:
            continue
        why = analysis.sinks.why(identity(fn) or "")
        path = f"{identity(fn)} ({why})" if why else analysis.function(fn, cls, f"{cls.__qualname__}.{mname}", 0)
        if path:
            result.denied[f"{ident}.{mname}"] = path


def drop_unstable(result: Result, unstable: dict[str, str]) -> None:
    """Names whose value differs from one import of the library to the next (a loop variable over a
    set): left out, so the generated file is the same on every run (they are judged "not listed")."""
    for section in (result.allow, result.aliases, result.reexports, result.unsafe, result.construct, result.checks,
                    result.calls_args, result.denied):
        for name in unstable:
            section.pop(name, None)  # type: ignore[attr-defined]


def render(result: Result, versions: dict[str, str]) -> str:
    allowed = set(result.allow)
    data = {
        "_comment": "Generated by scripts/build_allowlist.py from scripts/allowlist_spec.yml: do not edit.",
        "python": ".".join(platform.python_version_tuple()[:2]),
        "versions": dict(sorted(versions.items())),
        "allow": dict(sorted(result.allow.items())),
        "aliases": {k: v for k, v in sorted(result.aliases.items()) if v in allowed and k not in allowed},
        "checks": dict(sorted(result.checks.items())),
        "check_values": dict(sorted(result.check_values.items())),
        "construct": dict(sorted(result.construct.items())),
        "calls_args": {k: dict(sorted(v.items())) for k, v in sorted(result.calls_args.items()) if k in allowed and v},
        "denied": dict(sorted(result.denied.items())),
        "unsafe": dict(sorted(result.unsafe.items())),
        "reexports": dict(sorted(result.reexports.items())),
    }
    return json.dumps(data, indent=1, sort_keys=False, ensure_ascii=True) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--check", action="store_true", help="compare with the committed file instead of writing it")
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore")
    spec = yaml.safe_load(SPEC.read_text("utf-8"))
    result, versions = build(spec)
    drop_unstable(result, spec.get("unstable") or {})
    text = render(result, versions)
    if result.missing:
        print("spec names that do not resolve here: " + ", ".join(result.missing), file=sys.stderr)
    if args.check:
        old = args.out.read_text("utf-8") if args.out.exists() else ""
        if old != text:
            print(f"{args.out} is out of date: run scripts/build_allowlist.py", file=sys.stderr)
            return 1
        return 0
    args.out.write_text(text, "utf-8")
    data = json.loads(text)
    print(f"wrote {args.out}: {len(data['allow'])} allowed, {len(data['aliases'])} aliases, {len(data['unsafe'])} unsafe, "
          f"{len(data['construct'])} construct-only, {len(data['checks'])} under a state check, "
          f"{len(data['calls_args'])} that call an argument, {len(data['reexports'])} re-exports, "
          f"{len(data['denied'])} third-party names denied; " + ", ".join(f"{k} {v}" for k, v in data["versions"].items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
