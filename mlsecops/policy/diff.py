"""What a policy change does: every field that differs between two validated policies, and whether
the change loosens the gate (lets through, or may let through, what the old policy blocked or
reported) or tightens it.

Each field has an order. "Tighter" means the gate sees at least as much and blocks at least as
often. Thresholds: a lower `fail_on` is tighter, `never` the loosest. Severities: higher is
tighter, `off` the loosest. Lists are sets: an added waiver, allowlist entry, ignored path or
skipped package loosens; an added denylist entry, blocked format, engine, manifest or harness
glob tightens; a `!` pattern in a glob list counts the other way round. `paths` and
`allowed_formats` mean "everything" when empty. Limits: a lower one is tighter only when the new
policy blocks what the limit stops (it fails closed); a higher one loosens (a hostile file may
cost more). Budgets and coverage limits: higher is tighter. A field with no known order, or a
change whose effect depends on the order of gitignore negations, is `unknown` and counts as a
loosening: the gate fails closed. docs/policy.md has the table.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal, get_args

from pydantic import BaseModel

from mlsecops.findings import Severity
from mlsecops.policy.common import SeverityOrOff, Threshold, blocks
from mlsecops.policy.model import Policy

Direction = Literal["loosens", "tightens", "unknown"]
WHOLE_FILE = "(the whole file)"
Loc = tuple[str | int, ...]


class Change(BaseModel):
    field: str
    direction: Direction
    before: str = ""
    after: str = ""
    line: int | None = None

    def text(self) -> str:
        if self.field == WHOLE_FILE:
            return self.after
        if self.before and self.after:
            what = f"{self.before} → {self.after}"
        elif self.after:
            what = f"+ {self.after}"
        elif self.before:
            what = f"- {self.before}"
        else:
            what = "changed"
        where = f" (line {self.line})" if self.line else ""
        return f"{self.field}: {what}{where}"


class PolicyDiff(BaseModel):
    changes: list[Change] = []

    @property
    def loosening(self) -> list[Change]:
        """What loosens, and what may (an unknown direction is taken as loosening)."""
        return [c for c in self.changes if c.direction != "tightens"]

    @property
    def tightening(self) -> list[Change]:
        return [c for c in self.changes if c.direction == "tightens"]


_THRESHOLD_RANK = {"never": 0, "critical": 1, "high": 2, "medium": 3, "low": 4, "info": 5}
_SEVERITY_RANK = {"off": 0, "info": 1, "low": 2, "medium": 3, "high": 4, "critical": 5}

# How each field is ordered, by dotted path. Thresholds and severities are recognised by type.
_MODELS_FAIL_CLOSED = "models-fail-closed"
_DEPS_FAIL_CLOSED = "deps-fail-closed"
ORDERS: dict[str, str] = {
    "version": "neutral",
    "fail_on_scanner_error": "true",
    "paths": "scope",
    "ignore": "fewer",
    "waivers": "waivers",
    "models.allow_globals": "fewer",
    "models.deny_globals": "more",
    "models.allowed_formats": "only",
    "models.blocked_formats": "more",
    "models.engines": "more",
    "models.limits.engine_max_opcodes": "higher",
    **{f"models.limits.{k}": _MODELS_FAIL_CLOSED for k in (
        "max_file_mb", "max_depth", "max_members", "max_expanded_mb", "max_pickle_mb", "max_opcodes",
        "timeout_seconds", "memory_mb")},
    "deps.resolve": "false",
    "deps.skip_packages": "fewer",
    "deps.ignore": "deps-ignore",
    "deps.manifests": "more",
    "deps.timeout_seconds": _DEPS_FAIL_CLOSED,
    **{f"deps.limits.{k}": _DEPS_FAIL_CLOSED for k in (
        "max_manifest_mb", "max_include_depth", "max_packages", "request_timeout_seconds", "max_record_mb")},
    "fuzz.budget_seconds": "higher",
    "fuzz.max_input_mb": "higher",
    "fuzz.inference": "true",
    "fuzz.harnesses": "more",
}


def diff(before: Policy, after: Policy, lines: dict[Loc, int] | None = None) -> PolicyDiff:
    """The changes from `before` (the policy in force) to `after` (the one proposed); `lines`
    maps fields of the proposed file to their lines."""
    out: list[Change] = []
    _walk(before, after, (), after, lines or {}, out)
    return PolicyDiff(changes=out)


def _line(loc: Loc, lines: dict[Loc, int]) -> int | None:
    while loc:
        if loc in lines:
            return lines[loc]
        loc = loc[:-1]
    return None


def _dotted(loc: Loc) -> str:
    return ".".join(str(p) for p in loc if isinstance(p, str))


def _walk(a: BaseModel, b: BaseModel, loc: Loc, after: Policy, lines: dict[Loc, int], out: list[Change]) -> None:
    for name, field in type(b).model_fields.items():
        va, vb = getattr(a, name, None), getattr(b, name, None)
        if va == vb:
            continue
        here = loc + (name,)
        if isinstance(va, BaseModel) and isinstance(vb, BaseModel) and type(va) is type(vb):
            _walk(va, vb, here, after, lines, out)
            continue
        kind = ORDERS.get(_dotted(here)) or _kind_of(field.annotation)
        out.extend(_compare(kind, va, vb, here, after, lines))


def _kind_of(annotation: Any) -> str:
    args = set(get_args(annotation))
    if args and args == set(get_args(Threshold)):
        return "threshold"
    if args and args == set(get_args(SeverityOrOff)):
        return "severity"
    return "unknown"


def _show(value: Any, limit: int = 160) -> str:
    if isinstance(value, BaseModel):
        describe = getattr(value, "describe", None)
        if callable(describe):
            text = describe()
        elif hasattr(value, "id") and hasattr(value, "expires"):
            text = f"{value.id} (until {value.expires})"
        else:
            text = value.model_dump_json(exclude_defaults=True)
    elif value is None:
        text = "(none)"
    elif isinstance(value, list):
        text = "[" + ", ".join(_show(v, limit) for v in value) + "]" if value else "[] (empty)"
    else:
        text = str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _compare(kind: str, va: Any, vb: Any, loc: Loc, after: Policy, lines: dict[Loc, int]) -> list[Change]:
    field = _dotted(loc)
    line = _line(loc, lines)

    def one(direction: Direction) -> list[Change]:
        return [Change(field=field, direction=direction, before=_show(va), after=_show(vb), line=line)]

    if kind == "neutral":
        return []
    if kind == "threshold":
        return one("tightens" if _THRESHOLD_RANK[vb] > _THRESHOLD_RANK[va] else "loosens")
    if kind == "severity":
        return one("tightens" if _SEVERITY_RANK[vb] > _SEVERITY_RANK[va] else "loosens")
    if kind in ("true", "false") and isinstance(va, bool) and isinstance(vb, bool):
        return one("tightens" if vb == (kind == "true") else "loosens")
    if kind == "higher" and _numbers(va, vb):
        return one("tightens" if vb > va else "loosens")
    if kind in (_MODELS_FAIL_CLOSED, _DEPS_FAIL_CLOSED) and _numbers(va, vb):
        if vb > va:
            return one("loosens")
        return one("tightens" if _FAIL_CLOSED[kind](after) else "unknown")
    if kind in _SET_KINDS and isinstance(va, list) and isinstance(vb, list):
        return _set_changes(kind, va, vb, loc, lines)
    if kind in _KEYED and isinstance(va, list) and isinstance(vb, list):
        return _keyed_changes(_KEYED[kind], va, vb, loc, lines)
    return one("unknown")


def _numbers(*values: Any) -> bool:
    return all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)


_FAIL_CLOSED: dict[str, Callable[[Policy], bool]] = {
    # Over a models limit is MLS115 (high) or a stage error (a timeout, memory).
    _MODELS_FAIL_CLOSED: lambda p: p.fail_on_scanner_error and blocks(Severity.high, p.models.fail_on),
    # Over a deps limit is a stage error.
    _DEPS_FAIL_CLOSED: lambda p: p.fail_on_scanner_error,
}

# For each kind of set: the direction of an added item (a removed one goes the other way).
_SET_KINDS: dict[str, Direction] = {"more": "tightens", "fewer": "loosens", "scope": "tightens", "only": "loosens"}
_FLIP: dict[Direction, Direction] = {"tightens": "loosens", "loosens": "tightens", "unknown": "unknown"}


def _set_changes(kind: str, va: list[Any], vb: list[Any], loc: Loc, lines: dict[Loc, int]) -> list[Change]:
    field = _dotted(loc)
    line = _line(loc, lines)
    if kind in ("scope", "only") and (not va or not vb):
        # Empty means "everything": a first entry restricts (scope: what is scanned; only: what is allowed).
        restricts = not va
        direction: Direction = ("loosens" if restricts else "tightens") if kind == "scope" else (
            "tightens" if restricts else "loosens")
        return [Change(field=field, direction=direction, before=_show(va), after=_show(vb), line=line)]
    added_dir = _SET_KINDS[kind]
    out: list[Change] = []
    negations = any(str(v).startswith("!") for v in va + vb)
    for i, item in enumerate(vb):
        if item not in va:
            d = _FLIP[added_dir] if str(item).startswith("!") else added_dir
            out.append(Change(field=field, direction=d, after=_show(item), line=_line(loc + (i,), lines)))
    for item in va:
        if item not in vb:
            d = added_dir if str(item).startswith("!") else _FLIP[added_dir]
            out.append(Change(field=field, direction=d, before=_show(item), line=line))
    common_a = [v for v in va if v in vb]
    common_b = [v for v in vb if v in va]
    if negations and common_a != common_b:
        # With `!` patterns the last match decides: moving one can change what the list matches.
        out.append(Change(field=field, direction="unknown", before=_show(common_a), after=_show(common_b), line=line))
    return out


def _waiver_key(w: Any) -> tuple[Any, ...]:
    return (w.rule, w.path, w.id)


def _ignore_key(w: Any) -> tuple[Any, ...]:
    return (w.id, tuple(sorted(p.lower() for p in w.packages)))


_KEYED: dict[str, Callable[[Any], tuple[Any, ...]]] = {"waivers": _waiver_key, "deps-ignore": _ignore_key}


def _keyed_changes(key: Callable[[Any], tuple[Any, ...]], va: list[Any], vb: list[Any], loc: Loc,
                   lines: dict[Loc, int]) -> list[Change]:
    """Waivers and ignores by what they cover: a new one loosens, a removed one tightens, and a
    later expiry loosens (an earlier one tightens). A new reason alone changes nothing enforced."""
    field = _dotted(loc)
    last_a: dict[tuple[Any, ...], Any] = {}
    for w in va:
        if key(w) not in last_a or w.expires > last_a[key(w)].expires:
            last_a[key(w)] = w
    seen_b: dict[tuple[Any, ...], Any] = {}
    out: list[Change] = []
    for i, w in enumerate(vb):
        k = key(w)
        line = _line(loc + (i,), lines)
        if k in seen_b and w.expires <= seen_b[k].expires:
            continue
        seen_b[k] = w
        old = last_a.get(k)
        if old is None:
            out.append(Change(field=field, direction="loosens", after=_show(w), line=line))
        elif w.expires != old.expires:
            out.append(Change(field=field, direction="loosens" if w.expires > old.expires else "tightens",
                              before=_show(old), after=_show(w), line=line))
    for k, w in last_a.items():
        if k not in seen_b:
            out.append(Change(field=field, direction="tightens", before=_show(w), line=_line(loc, lines)))
    return out
