"""Jinja templates shipped with models (HF `chat_template`, GGUF
`tokenizer.chat_template`, YAML configs, `.j2` files): server-side template
injection that escapes to Python (CVE-2024-34359).

Judged by behaviour first: each template is rendered the way transformers renders
it, inside jinja2's sandbox with a recording policy, over representative
conversations and with every branch forced (`formats/chat_template.py`); any reach
for an unsafe attribute, item or global is critical however the name was built,
and a template that cannot be rendered to the end within its bounds is high (what
it does is not known). The syntax tree is also read (nothing rendered) for what a
sandbox forbids written as constants: private attributes (`_`-prefixed, which
covers every dunder), the `attr` filter used on them, attribute names built at
runtime, and calls to functions Jinja does not provide (getattr, chr, __import__...).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any, BinaryIO

from mlsecops.findings import Severity
from mlsecops.formats.kinds import Format
from mlsecops.stages.models.scanfile import ScanState

MAX_TEXT = 16 * 1024 * 1024
MAX_NODES = 200_000
MAX_RENDERED = 16
"""Templates rendered per file; more are read only, and the file says so (MLS115)."""
_JINJA_GLOBALS = {"range", "dict", "lipsum", "cycler", "joiner", "namespace", "raise_exception", "strftime_now"}
_ESCAPE_CALLS = {"getattr", "setattr", "delattr", "eval", "exec", "compile", "open", "globals", "locals", "vars",
                 "dir", "type", "chr", "ord", "__import__", "input", "breakpoint", "hasattr", "format"}
_DUNDER_TEXT = re.compile(r"__(class|globals|subclasses|builtins|import|mro|base|bases|init|getattribute|dict|code|func)__")


def _strings(node: Any, key: str = "", budget: list[int] | None = None, seen: set[int] | None = None) -> Iterator[tuple[str, str]]:
    """(key path, string) for every string in a JSON/YAML document, bounded and alias-safe."""
    budget = budget if budget is not None else [MAX_NODES]
    seen = seen if seen is not None else set()
    budget[0] -= 1
    if budget[0] < 0 or id(node) in seen:
        return
    if isinstance(node, str):
        yield key, node
    elif isinstance(node, dict):
        seen.add(id(node))
        for k, v in node.items():
            yield from _strings(v, f"{key}.{k}" if key else str(k), budget, seen)
    elif isinstance(node, list):
        seen.add(id(node))
        for i, v in enumerate(node):
            yield from _strings(v, f"{key}[{i}]", budget, seen)


def _problems(source: str) -> list[tuple[Severity, str]]:
    import jinja2
    from jinja2 import nodes

    from mlsecops.formats.chat_template import parse

    try:
        tree = parse(source)
    except (jinja2.TemplateSyntaxError, RecursionError, MemoryError, ValueError) as exc:
        if _DUNDER_TEXT.search(source):
            return [(Severity.high, f"does not parse ({type(exc).__name__}) and names Python internals")]
        return []
    out: list[tuple[Severity, str]] = []
    count = 0
    for node in tree.find_all((nodes.Getattr, nodes.Getitem, nodes.Name, nodes.Filter, nodes.Call)):
        count += 1
        if count > MAX_NODES:
            break
        if isinstance(node, nodes.Getattr) and node.attr.startswith("_"):
            out.append((Severity.critical, f"reads the private attribute .{node.attr}"))
        elif isinstance(node, nodes.Getitem):
            arg = node.arg
            if isinstance(arg, nodes.Const) and isinstance(arg.value, str) and arg.value.startswith("_"):
                out.append((Severity.critical, f"reads the private item [{arg.value!r}]"))
            elif isinstance(arg, (nodes.Call, nodes.Filter, nodes.Concat)) and _builds_name(arg):
                out.append((Severity.high, "indexes with a name built at runtime (chr/join/format)"))
        elif isinstance(node, nodes.Name) and node.name.startswith("_"):
            out.append((Severity.critical, f"uses the private name {node.name}"))
        elif isinstance(node, nodes.Filter) and node.name in ("attr", "map", "selectattr", "rejectattr", "groupby", "sort", "sum", "unique"):
            for a in list(node.args) + [kw.value for kw in node.kwargs]:
                if isinstance(a, nodes.Const) and isinstance(a.value, str) and (a.value.startswith("_") or "._" in a.value):
                    out.append((Severity.critical, f"uses the {node.name} filter on the private attribute {a.value!r}"))
                elif node.name == "attr" and not isinstance(a, nodes.Const):
                    out.append((Severity.high, "uses the attr filter with a name built at runtime"))
        elif isinstance(node, nodes.Call) and isinstance(node.node, nodes.Name):
            fn = node.node.name
            if fn in _ESCAPE_CALLS and fn not in _JINJA_GLOBALS:
                out.append((Severity.high, f"calls {fn}(), which Jinja does not provide and sandbox escapes rely on"))
    return out


def _builds_name(node: Any) -> bool:
    from jinja2 import nodes

    for sub in node.find_all((nodes.Call, nodes.Filter)):
        name = sub.node.name if isinstance(sub, nodes.Call) and isinstance(sub.node, nodes.Name) else getattr(sub, "name", "")
        if name in ("chr", "join", "format", "replace", "reverse", "lower", "upper"):
            return True
    return isinstance(node, nodes.Concat)


def _behaviour(source: str) -> tuple[list[tuple[Severity, str]], str | None]:
    """What rendering the template reaches for (formats/chat_template.py), and the bound it hit if any."""
    from mlsecops.formats.chat_template import render

    seen = render(source)
    out: list[tuple[Severity, str]] = []
    for reach in seen.unsafe:
        kind, _, name = reach.rpartition(" ")
        how = "written in the template" if name in source else "a name built while rendering"
        if kind == "global":
            out.append((Severity.critical, f"looks up the global {name} when rendered, which template escapes rely on"))
        else:
            out.append((Severity.critical, f"reaches the unsafe {kind} {name} when rendered ({how})"))
    if not seen.bound and seen.renders and not seen.completed and not seen.unsafe:
        out.append((Severity.high, "could not be rendered with any representative conversation, so what it does is "
                    f"not known ({seen.stopped[0] if seen.stopped else 'no render finished'})"))
    return out, seen.bound


def judge_template(state: ScanState, source: str, member: str | None, where: str, render: bool = True) -> None:
    state.engines_run.add("mlsecops")
    behaviour, bound = _behaviour(source) if render else ([], None)
    if bound:
        state.observe("MLS115", Severity.high, f"The template in {where} could not be checked to the end: rendering it "
                      f"{bound}", member, f"template-bound:{where}")
    problems = behaviour + _problems(source)
    if not problems:
        return
    worst = max((s for s, _ in problems), key=lambda s: s.rank)
    reasons = []
    for _, why in sorted(problems, key=lambda p: -p[0].rank):
        if why not in reasons:
            reasons.append(why)
    state.observe("MLS118", worst, f"The template in {where} {reasons[0]}" + (f" (+{len(reasons) - 1} more)" if len(reasons) > 1 else ""),
                  member, f"template:{where}", evidence=reasons[:8])


def _is_template(key: str, text: str) -> bool:
    return ("{{" in text or "{%" in text) and ("template" in key.lower() or len(text) < MAX_TEXT)


def analyze_config(state: ScanState, fmt: Format, fh: BinaryIO, size: int, name: str, member: str | None, depth: int) -> None:
    fh.seek(0)
    raw = fh.read(MAX_TEXT)
    text = raw.decode("utf-8", "replace")
    doc: Any
    try:
        doc = json.loads(text)
    except (ValueError, RecursionError):
        import yaml

        try:
            doc = yaml.safe_load(text)
        except (yaml.YAMLError, RecursionError, ValueError):
            doc = None
    if doc is None:
        if _DUNDER_TEXT.search(text):
            judge_template(state, text, member, name)
        return
    rendered = 0
    for key, value in _strings(doc):
        if _is_template(key, value):
            rendered += 1
            judge_template(state, value, member, key or name, render=rendered <= MAX_RENDERED)
    if rendered > MAX_RENDERED:
        state.observe("MLS115", Severity.high, f"{name} holds {rendered} templates; the {rendered - MAX_RENDERED} after the "
                      f"first {MAX_RENDERED} were read but not rendered", member, "template-limit")


def analyze_jinja(state: ScanState, fmt: Format, fh: BinaryIO, size: int, name: str, member: str | None, depth: int) -> None:
    fh.seek(0)
    judge_template(state, fh.read(MAX_TEXT).decode("utf-8", "replace"), member, name)
