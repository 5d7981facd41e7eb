"""Judge one imported global: known dangerous, allowlisted, risky, or unknown.

The lists live in `mlsecops/data/pickle_globals.yml` so they can be reviewed as
data. Names are normalised the way the unpickler does (Python 2 module names),
and an attribute path hidden in the name (`torch` + `os.system`, which the
unpickler resolves by getattr) is judged on every module it could reach.
"""

from __future__ import annotations

import _compat_pickle
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from importlib.resources import files
from typing import Literal

import yaml

Verdict = Literal["deny", "allow", "risky", "unknown"]

_PY2_ROOTS = set(_compat_pickle.IMPORT_MAPPING) | {"__builtin__", "copy_reg", "exceptions", "commands", "popen2", "cPickle"}


@dataclass(frozen=True)
class Judgement:
    verdict: Verdict
    module: str
    name: str
    reason: str


def _module_rx(glob: str) -> str:
    out = []
    for part in glob.split("."):
        if part == "**":
            out.append(r"(?:\.[^.]+)*")
            continue
        piece = re.escape(part).replace(r"\*", "[^.]*").replace(r"\?", "[^.]")
        piece = re.sub(r"\\\[(.*?)\\\]", lambda m: "[" + m.group(1).replace("\\-", "-") + "]", piece)
        out.append(("." if out else "") + piece)
    rx = "".join(out)
    return rx.replace(r"(?:\.[^.]+)*.", r"(?:\.[^.]+)*\.")


def _name_rx(glob: str, dots: bool) -> str:
    star = ".*" if dots else "[^.]*"
    piece = re.escape(glob).replace(r"\*", star).replace(r"\?", ".")
    return re.sub(r"\\\[(.*?)\\\]", lambda m: "[" + m.group(1).replace("\\-", "-") + "]", piece)


def compile_globs(globs: list[str], dots_in_name: bool) -> re.Pattern[str] | None:
    """One regex over 'module:name' for a list of 'module:name' globs."""
    parts = []
    for g in globs:
        module, _, name = g.partition(":")
        parts.append(f"{_module_rx(module)}:{_name_rx(name or '*', dots_in_name)}")
    return re.compile("^(?:" + "|".join(parts) + ")$") if parts else None


@dataclass(frozen=True)
class Lists:
    deny: re.Pattern[str] | None
    deny_why: tuple[tuple[re.Pattern[str], str], ...]
    allow_first: re.Pattern[str] | None
    allow: re.Pattern[str] | None
    ml_roots: frozenset[str]
    policy_deny: re.Pattern[str] | None
    policy_allow: re.Pattern[str] | None


@lru_cache(maxsize=8)
def load_lists(policy_allow: tuple[str, ...] = (), policy_deny: tuple[str, ...] = ()) -> Lists:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when built in: 10x faster, same safety
    data = yaml.load((files("mlsecops") / "data" / "pickle_globals.yml").read_text("utf-8"), Loader=loader)  # noqa: S506
    deny_entries = [(e["glob"], e["why"]) for e in data["deny"]]
    return Lists(
        deny=compile_globs([g for g, _ in deny_entries], dots_in_name=True),
        deny_why=tuple((compile_globs([g], True), why) for g, why in deny_entries),  # type: ignore[misc]
        allow_first=compile_globs(list(data.get("allow_before_deny", [])), dots_in_name=False),
        allow=compile_globs(list(data["allow"]), dots_in_name=False),
        ml_roots=frozenset(data["ml_libraries"]),
        policy_deny=compile_globs(list(policy_deny), dots_in_name=True),
        policy_allow=compile_globs(list(policy_allow), dots_in_name=False),
    )


def normalise(module: str, name: str) -> tuple[str, str]:
    """Python 2 names as the unpickler maps them (fix_imports)."""
    if (module, name) in _compat_pickle.NAME_MAPPING:
        return _compat_pickle.NAME_MAPPING[(module, name)]
    if module in _compat_pickle.IMPORT_MAPPING:
        return _compat_pickle.IMPORT_MAPPING[module], name
    return module, name


def _candidates(module: str, name: str) -> list[str]:
    """Every 'module:name' the import may really reach: the split the unpickler makes,
    and, when the name is an attribute path, each module object it passes through."""
    out = [f"{module}:{name}"]
    mparts = module.split(".")
    nparts = name.split(".")
    if len(nparts) > 1:
        segs = mparts + nparts
        for start in range(len(mparts), len(segs) - 1):
            for split in range(start + 1, len(segs)):
                out.append(".".join(segs[start:split]) + ":" + ".".join(segs[split:]))
        for split in range(1, len(segs)):
            out.append(".".join(segs[:split]) + ":" + ".".join(segs[split:]))
    return out


def _why(lists: Lists, candidate: str) -> str:
    for rx, why in lists.deny_why:
        if rx.match(candidate):
            return why
    return "known dangerous"


def _is_dunder_traversal(name: str) -> bool:
    return any(p.startswith("__") and p.endswith("__") and len(p) > 4 for p in name.split("."))


def judge(module: str, name: str, lists: Lists) -> Judgement:
    module, name = normalise(module, name)
    cands = _candidates(module, name)
    if lists.policy_deny and any(lists.policy_deny.match(c) for c in cands):
        return Judgement("deny", module, name, "denied by the policy's models.deny_globals")
    if lists.policy_allow and lists.policy_allow.match(cands[0]):
        return Judgement("allow", module, name, "allowed by the policy's models.allow_globals")
    if lists.allow_first and lists.allow_first.match(cands[0]):
        return Judgement("allow", module, name, "allowlisted")
    for cand in cands:
        if lists.deny and lists.deny.match(cand):
            return Judgement("deny", module, name, _why(lists, cand))
    if _is_dunder_traversal(name):
        return Judgement("deny", module, name, "reaches a dunder attribute (__globals__, __dict__, ...) to escape to other objects")
    if not all(p.isidentifier() for p in module.split(".") + name.split(".")):
        return Judgement("risky", module, name, "not a valid module or attribute name")
    if lists.allow and lists.allow.match(cands[0]):
        return Judgement("allow", module, name, "allowlisted")
    root = module.split(".")[0]
    if root in sys.stdlib_module_names or root in _PY2_ROOTS:
        return Judgement("risky", module, name, "a standard-library import that legitimate models do not need")
    if root in lists.ml_roots:
        return Judgement("risky", module, name, f"an import from {root} that is not on the allowlist of what models need")
    return Judgement("unknown", module, name, "neither allowlisted nor known to be dangerous (user code or a third-party library)")


def dangerous(lists: Lists | Callable[[], Lists]):  # type: ignore[no-untyped-def]
    """A predicate for format detection: is importing module.name known-bad or risky in itself?

    `lists` may be a factory: detection asks only for text streams that import something,
    so the lists are built on first use, not on every run."""
    cache: list[Lists] = []

    def judge_import(module: str, name: str) -> bool:
        if not cache:
            cache.append(lists() if callable(lists) else lists)
        return judge(module, name, cache[0]).verdict in ("deny", "risky")

    return judge_import
