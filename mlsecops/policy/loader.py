"""Read a policy file and explain, with file, line and field, anything wrong in it.

PyYAML gives values; pydantic gives errors by field path. This module walks the
YAML node tree once to remember the line of every field so each pydantic error
can be reported where the user has to fix it. YAML 1.1's `yes/no/on/off`
booleans are turned off (`off` is a valid severity here), and a key written twice
is an error instead of PyYAML's silent last-one-wins. Hostile YAML cannot hang
or crash the loader: an alias is walked once however often it is used (a
"billion laughs" document is linear here), nesting too deep to parse is a
PolicyError like any other mistake (checked before libyaml's composer, which
recurses in C and would crash the process), and so is a file of more than
MAX_POLICY_ENTRIES keys and entries (validating each costs time). A pull
request's proposed policy is parsed too, so its worst case is a few seconds.
"""

from __future__ import annotations

import difflib
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from mlsecops import yaml_depth
from mlsecops.policy.model import Policy

MAX_POLICY_BYTES = 1024 * 1024
MAX_POLICY_ENTRIES = 20_000  # every key and list entry is validated (globs compiled): bounded before that
_SHOWN_PROBLEMS = 50

Loc = tuple[str | int, ...]


class PolicyProblem(BaseModel):
    line: int | None
    field: str
    message: str


class PolicyError(Exception):
    """The policy cannot be used. `str()` is ready to show a person."""

    def __init__(self, source: str, problems: list[PolicyProblem]) -> None:
        self.source = source
        self.problems = problems
        super().__init__(self.render())

    def render(self) -> str:
        lines = []
        for p in self.problems:
            where = f"{self.source}:{p.line}" if p.line else self.source
            field = f" {p.field}:" if p.field else ""
            lines.append(f"{where}:{field} {p.message}")
        return "\n".join(lines)


class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """The safe loader (libyaml's parser where PyYAML has it: a pull request's proposed policy is
    parsed too, and 1 MiB of YAML costs ~30 s in pure Python) with YAML 1.2 booleans: only
    true/false, so `off` stays a string."""

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        """PyYAML's scalar constructors raise plain ValueError on what its resolvers accepted
        (`0x_` is an int to the resolver, `2020-13-45` a timestamp): a problem at the node's line."""
        try:
            return super().construct_object(node, deep)
        except yaml.YAMLError:
            raise
        except (ValueError, TypeError, OverflowError) as exc:
            shown = f" {node.value!r}" if isinstance(node, yaml.ScalarNode) else ""
            raise yaml.constructor.ConstructorError(
                None, None, f"the value{shown} cannot be read as {node.tag.rsplit(':', 1)[-1]} ({exc})", node.start_mark
            ) from None


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool",
    re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
    list("tTfF"),
)


def _walk(node: yaml.Node, loc: Loc, lines: dict[Loc, int], dupes: list[tuple[Loc, int]],
          visited: set[int] | None = None) -> None:
    """Record the line of every field; each node (an anchor used by many aliases) is entered once."""
    visited = set() if visited is None else visited
    lines[loc] = node.start_mark.line + 1
    if id(node) in visited:
        return
    visited.add(id(node))
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = str(key_node.value)
            if key in seen:
                dupes.append((loc + (key,), key_node.start_mark.line + 1))
            seen.add(key)
            _walk(value_node, loc + (key,), lines, dupes, visited)
            lines[loc + (key,)] = key_node.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _walk(item, loc + (i,), lines, dupes, visited)


def _line_for(loc: Loc, lines: dict[Loc, int]) -> int | None:
    while True:
        if loc in lines:
            return lines[loc]
        if not loc:
            return None
        loc = loc[:-1]


def _field(loc: Loc) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _allowed_keys(loc: Loc) -> list[str]:
    """Field names valid at `loc`'s parent, for 'did you mean' hints."""
    model: Any = Policy
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        field = getattr(model, "model_fields", {}).get(part)
        if field is None:
            return []
        ann = field.annotation
        args = getattr(ann, "__args__", ())
        model = next((a for a in (ann, *args) if isinstance(a, type) and issubclass(a, BaseModel)), None)
        if model is None:
            return []
    return list(getattr(model, "model_fields", {}))


def _explain(err: dict[str, Any]) -> str:
    loc: Loc = tuple(err["loc"])
    if err["type"] == "extra_forbidden":
        key = str(loc[-1])
        hint = difflib.get_close_matches(key, _allowed_keys(loc), n=1)
        suffix = f" (did you mean '{hint[0]}'?)" if hint else ""
        return f"unknown key '{key}'{suffix}"
    if err["type"] == "missing":
        return "required field is missing"
    value = err.get("input")
    shown = repr(value) if isinstance(value, (str, int, float, bool)) or value is None else type(value).__name__
    if err["type"] == "value_error":
        msg = str(err["msg"]).removeprefix("Value error, ")
        return msg if shown in msg else f"{msg} (got {shown})"
    if err["type"] == "literal_error" and isinstance(value, str):
        expected = [e.strip(" '") for e in str(err.get("ctx", {}).get("expected", "")).replace(" or ", ", ").split(",")]
        hint = difflib.get_close_matches(value, [e for e in expected if e], n=1)
        if hint:
            return f"{err['msg']} (got {shown}; did you mean {hint[0]!r}?)"
    return f"{err['msg']} (got {shown})"


def load_policy_text(text: str, source: str) -> Policy:
    """Parse and validate policy YAML; raise PolicyError naming source, line and field."""
    return parse_policy_text(text, source)[0]


def parse_policy_text(text: str, source: str) -> tuple[Policy, dict[Loc, int]]:
    """The policy and the line of every field in `text` (to point at what a change touches)."""
    try:
        return _load(text, source)
    except RecursionError:
        raise PolicyError(source, [PolicyProblem(line=None, field="", message="the YAML is nested too deeply")]) from None


def line_of(loc: Loc, lines: dict[Loc, int]) -> int | None:
    """The line of `loc`, or of the nearest enclosing field written in the file."""
    return _line_for(loc, lines)


def _load(text: str, source: str) -> tuple[Policy, dict[Loc, int]]:
    try:
        yaml_depth.check(text, _Loader)  # libyaml's composer recurses in C: deep nesting would crash the gate
    except yaml_depth.TooDeep as exc:
        raise PolicyError(source, [PolicyProblem(line=exc.line, field="", message="the YAML is nested too deeply")]) from None
    except yaml.YAMLError:
        pass  # reported with its line below
    loader = _Loader(text)
    try:
        root = loader.get_single_node()  # parsed once: the values are constructed from this tree
        data = loader.construct_document(root) if root is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        raise PolicyError(source, [PolicyProblem(line=line, field="", message=f"invalid YAML: {exc.problem}")]) from None
    except yaml.YAMLError as exc:
        raise PolicyError(source, [PolicyProblem(line=None, field="", message=f"invalid YAML: {exc}")]) from None
    finally:
        loader.dispose()
    if root is None:
        raise PolicyError(source, [PolicyProblem(line=None, field="", message="the policy file is empty")])
    if not isinstance(data, dict):
        raise PolicyError(
            source,
            [PolicyProblem(line=root.start_mark.line + 1, field="", message="a policy must be a mapping of keys to values")],
        )
    lines: dict[Loc, int] = {}
    dupes: list[tuple[Loc, int]] = []
    _walk(root, (), lines, dupes)
    if len(lines) > MAX_POLICY_ENTRIES:
        raise PolicyError(source, [PolicyProblem(line=None, field="", message=(
            f"{len(lines):,} keys and list entries, more than the {MAX_POLICY_ENTRIES:,} a policy may have"))])
    if dupes:
        raise PolicyError(
            source, [PolicyProblem(line=line, field=_field(loc), message="key written twice") for loc, line in dupes[:_SHOWN_PROBLEMS]]
        )
    try:
        return Policy.model_validate(data), lines
    except ValidationError as exc:
        problems = [
            PolicyProblem(line=_line_for(tuple(e["loc"]), lines), field=_field(tuple(e["loc"])), message=_explain(e))
            for e in exc.errors()[:_SHOWN_PROBLEMS]
        ]
        raise PolicyError(source, problems) from None


def load_policy(path: Path, display: str | None = None) -> Policy:
    """Read a policy file; unreadable or oversized files are PolicyErrors too."""
    source = display or str(path)
    try:
        if path.stat().st_size > MAX_POLICY_BYTES:
            raise PolicyError(source, [PolicyProblem(line=None, field="", message="the policy file is larger than 1 MiB")])
        raw = path.read_bytes()
    except OSError as exc:
        raise PolicyError(source, [PolicyProblem(line=None, field="", message=f"cannot read the policy: {exc.strerror or exc}")]) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PolicyError(source, [PolicyProblem(line=None, field="", message=f"not UTF-8 text ({exc.reason} at byte {exc.start})")]) from None
    return load_policy_text(text, source)
