"""Judging one Jinja template (a chat template, a config value, a `.j2` file, GGUF metadata):
server-side template injection that escapes to Python (CVE-2024-34359).

Judged by behaviour first: the template is rendered the way transformers renders
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

import re
from typing import Any

from mlsecops.findings import Severity
from mlsecops.stages.models import rules
from mlsecops.stages.models.context import ScanState

MAX_NODES = 200_000
_JINJA_GLOBALS = {"range", "dict", "lipsum", "cycler", "joiner", "namespace", "raise_exception", "strftime_now"}
_ESCAPE_CALLS = {"getattr", "setattr", "delattr", "eval", "exec", "compile", "open", "globals", "locals", "vars",
                 "dir", "type", "chr", "ord", "__import__", "input", "breakpoint", "hasattr", "format"}
DUNDER_TEXT = re.compile(r"__(class|globals|subclasses|builtins|import|mro|base|bases|init|getattribute|dict|code|func)__")


def _problems(source: str) -> list[tuple[Severity, str]]:
    import jinja2
    from jinja2 import nodes

    from mlsecops.formats.chat_template import parse

    try:
        tree = parse(source)
    except (jinja2.TemplateSyntaxError, RecursionError, MemoryError, ValueError) as exc:
        if DUNDER_TEXT.search(source):
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
        state.observe(rules.SCAN_LIMIT_EXCEEDED, Severity.high, f"The template in {where} could not be checked to the end: rendering it "
                      f"{bound}", member, f"template-bound:{where}")
    problems = behaviour + _problems(source)
    if not problems:
        return
    worst = max((s for s, _ in problems), key=lambda s: s.rank)
    reasons = []
    for _, why in sorted(problems, key=lambda p: -p[0].rank):
        if why not in reasons:
            reasons.append(why)
    state.observe(rules.TEMPLATE_INJECTION, worst,
                  f"The template in {where} {reasons[0]}" + (f" (+{len(reasons) - 1} more)" if len(reasons) > 1 else ""),
                  member, f"template:{where}", evidence=reasons[:8])
