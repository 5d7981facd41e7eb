"""The pattern types a policy holds, each checked when the policy loads.

A pattern that cannot compile, or that would silently match nothing, is a PolicyError naming
the file, the line and the field (`waivers[0].path`), never an "internal error" halfway through
a scan and never a rule that quietly stops applying:

- `PathGlob`: one gitignore-style path glob (`globs.py`), in a list where `!` re-includes;
- `PathGlobs`: such a list (a list of nothing but negations is an error);
- `SinglePathGlob`: one glob on its own, e.g. a waiver's `path` (no `!`);
- `RuleGlob`: a rule id or glob that must name at least one rule mlsecops has;
- `ImportGlob`: a `module:name` glob of the allowlist's syntax;
- `PackageName`: a Python distribution name (PEP 508 syntax).
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, StringConstraints

from mlsecops import globs
from mlsecops.policy.checks import checked

_PACKAGE = re.compile(r"^([A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9._-]*[A-Za-z0-9])$")
_IMPORT_PART = re.compile(r"^[A-Za-z0-9_*?\[\]!^-]+$")


def _path_glob(pattern: str) -> str | None:
    return globs.problem(pattern, negation=True)


def _single_path_glob(pattern: str) -> str | None:
    return globs.problem(pattern, negation=False)


def _glob_list(patterns: list[str]) -> list[str]:
    why = globs.list_problem(patterns)
    if why:
        raise ValueError(why)
    return patterns


def known_rule_ids() -> list[str]:
    from mlsecops.rules import catalog

    return sorted(catalog())


def _rule_glob(pattern: str) -> str | None:
    why = globs.problem(pattern, negation=False)
    if why:
        return why
    ids = known_rule_ids()
    if not any(globs.match(rule_id, pattern) for rule_id in ids):
        return f"{pattern!r} matches no rule mlsecops has; allowed: {', '.join(ids)} (or a glob such as MLS1*)"
    return None


def _import_glob(pattern: str) -> str | None:
    """The syntax `stages/models/allowlist.py` compiles: `module.path[:name.path]`, each dotted part
    made of identifier characters and glob characters, `**` for any number of module parts."""
    module, colon, name = pattern.partition(":")
    if ":" in name:
        return "more than one ':' (write module:name)"
    if colon and not name:
        return "nothing after ':' (write module:name, or module:* for every name)"
    for label, text in (("module", module), ("name", name if colon else "*")):
        parts = text.split(".")
        if not text or any(not p for p in parts):
            return f"an empty {label} part (write module:name, e.g. mypkg.models:MyModel)"
        bad = next((p for p in parts if not _IMPORT_PART.match(p)), None)
        if bad is not None:
            return f"{bad!r} is not a {label} name or glob (letters, digits, _, and the glob characters * ? [ ])"
    from mlsecops.stages.models.allowlist import compile_globs

    try:
        compile_globs([pattern], dots_in_name=True)
        compile_globs([pattern], dots_in_name=False)
    except re.error as exc:
        return f"does not compile: {exc.msg}"
    except (ValueError, OverflowError, RecursionError) as exc:
        return f"does not compile: {exc}"
    return None


PathGlob = Annotated[str, checked(_path_glob)]
PathGlobs = Annotated[list[PathGlob], AfterValidator(_glob_list)]
SinglePathGlob = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1), checked(_single_path_glob)]
RuleGlob = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1), checked(_rule_glob)]
ImportGlob = Annotated[str, checked(_import_glob)]
PackageName = Annotated[
    str,
    checked(lambda v: None if _PACKAGE.match(v) else "not a Python package name (letters, digits, '.', '_', '-')"),
]
