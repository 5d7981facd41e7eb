"""What a chat template does when it is rendered: every unsafe attribute, item, call and global
it reaches for, however the name was built.

A careless server renders `chat_template` with a plain `jinja2.Environment`, where
`{{ ''.__class__ }}` is Python (CVE-2024-34359); transformers uses an
`ImmutableSandboxedEnvironment` with `trim_blocks`, `lstrip_blocks`, `loopcontrols`, a
`{% generation %}` tag, `raise_exception`, `strftime_now` and a json.dumps `tojson`. Reading
the template's text finds the names written as constants; a template can also build them while
it runs (`'__cla' ~ 'ss__'`, `|join`, `|format`, `|attr`, `map(attribute=)`, format strings, keys
taken from the conversation). So the template is rendered the way transformers renders it,
inside jinja2's `SandboxedEnvironment` with a recording policy: every attribute, item, filter,
call and global name it attempts is seen, and the unsafe ones are refused (the render goes on
with an undefined value, so one refusal does not hide the rest).

It is rendered over the representative conversations of `data/chat_template_probes.json`
(several message shapes, tool calls, tools, documents, multimodal parts, with and without
`add_generation_prompt`), and again with every `if` taken both ways (all bodies run, both sides
of `x if c else y`, of `and` and `or`, and the `else` of every loop), so a payload behind a
condition the conversations do not meet is still reached. Nothing of the template runs outside
the sandbox's policy. Bounded: CPU time (checked at every attribute, item, call, filter and
output chunk, and a CPU-time timer signal where this runs in a main thread), output and string
size, and memory (the worker's limit).
"""

from __future__ import annotations

import copy
import functools
import json
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from importlib.resources import files
from typing import Any

import jinja2
from jinja2 import nodes
from jinja2.ext import Extension, loopcontrols
from jinja2.runtime import LoopContext, Macro
from jinja2.sandbox import (
    UNSAFE_ASYNC_GENERATOR_ATTRIBUTES,
    UNSAFE_COROUTINE_ATTRIBUTES,
    UNSAFE_FUNCTION_ATTRIBUTES,
    UNSAFE_GENERATOR_ATTRIBUTES,
    UNSAFE_METHOD_ATTRIBUTES,
    SandboxedEnvironment,
)
from jinja2.utils import missing
from jinja2.visitor import NodeTransformer

CPU_SECONDS = 2.0
MAX_OUTPUT = 1024 * 1024
MAX_VALUE = 4 * 1024 * 1024
FORCED_DEPTH = 4

_INTERNAL = (UNSAFE_FUNCTION_ATTRIBUTES | UNSAFE_METHOD_ATTRIBUTES | UNSAFE_GENERATOR_ATTRIBUTES
             | UNSAFE_COROUTINE_ATTRIBUTES | UNSAFE_ASYNC_GENERATOR_ATTRIBUTES
             | {"mro", "func_globals", "func_code", "func_closure", "im_func", "im_self", "im_class", "f_globals",
                "f_locals", "f_builtins", "f_code", "f_back", "tb_frame", "tb_next", "co_code", "gi_frame", "gi_code",
                "cr_frame", "cr_code", "ag_frame", "ag_code"})

DANGEROUS_GLOBALS = frozenset({
    # what server-side template injection reaches for in Flask/Django renderers
    "config", "request", "session", "url_for", "get_flashed_messages", "application",
    # Python builtins and modules no renderer provides and escapes rely on
    "os", "sys", "subprocess", "builtins", "importlib", "getattr", "setattr", "delattr", "eval", "exec", "compile",
    "open", "globals", "locals", "vars", "dir", "type", "object", "super", "chr", "ord", "input", "breakpoint",
    "memoryview", "classmethod", "staticmethod", "property",
})


def unsafe_name(name: str) -> bool:
    """An attribute or key no template needs: private (`_`), dunder, or a frame/code internal."""
    return name.startswith("_") or name in _INTERNAL


class Bound(BaseException):
    """The render hit a bound (time, output, size). A BaseException: jinja must not swallow it."""


@dataclass
class Behaviour:
    """What the renders saw."""

    unsafe: list[str] = field(default_factory=list)
    renders: int = 0
    completed: int = 0
    stopped: list[str] = field(default_factory=list)
    bound: str | None = None

    def add(self, what: str) -> None:
        if what not in self.unsafe and len(self.unsafe) < 64:
            self.unsafe.append(what)


class _Probe:
    """The recording policy's state for one template: what was reached, and the budget."""

    def __init__(self, behaviour: Behaviour, deadline: float) -> None:
        self.behaviour = behaviour
        self.deadline = deadline
        self.raised: list[str] = []
        self.forced = False  # rendering a variant with every branch taken
        self.depth = 0

    def tick(self) -> None:
        if time.process_time() > self.deadline:
            raise Bound(f"did not finish rendering within {CPU_SECONDS:g} s of CPU")

    def reach(self, kind: str, name: str) -> None:
        self.behaviour.add(f"{kind} {name}")

    def size(self, value: Any) -> Any:
        if isinstance(value, (str, bytes, list, tuple, dict)) and len(value) > MAX_VALUE:
            raise Bound(f"built a value of more than {MAX_VALUE // (1024 * 1024)} MiB")
        return value


def _undefined_class(probe: _Probe) -> type[jinja2.ChainableUndefined]:
    """Undefined that records the global names looked up and lets the render go on whatever is
    done with it (a strict one would stop at the first unknown name and hide the rest)."""

    def same(self: Any, *args: Any, **kwargs: Any) -> Any:
        return self

    def false(self: Any, other: Any) -> bool:
        return False

    class Recording(jinja2.ChainableUndefined):
        __slots__ = ()

        def __init__(self, hint: str | None = None, obj: Any = missing, name: str | None = None,
                     exc: type[jinja2.TemplateRuntimeError] = jinja2.UndefinedError) -> None:
            super().__init__(hint, obj, name, exc)
            if obj is missing and isinstance(name, str) and (name in DANGEROUS_GLOBALS or unsafe_name(name)):
                probe.reach("global", name)

        __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = same
        __truediv__ = __rtruediv__ = __floordiv__ = __rfloordiv__ = __mod__ = __rmod__ = same
        __pos__ = __neg__ = __call__ = __pow__ = __rpow__ = same
        __lt__ = __le__ = __gt__ = __ge__ = false

        def __int__(self) -> int:
            return 0

        def __float__(self) -> float:
            return 0.0

    return Recording


class _Generation(Extension):
    """transformers' `{% generation %}...{% endgeneration %}` (it marks assistant tokens): the body renders."""

    tags = {"generation"}

    def parse(self, parser: Any) -> nodes.Node:
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(("name:endgeneration",), drop_needle=True)
        return nodes.Scope(body, lineno=lineno)


def _tojson(value: Any, ensure_ascii: bool = False, indent: int | None = None, separators: Any = None,
            sort_keys: bool = False) -> str:
    return json.dumps(value, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys,
                      default=str)


def _strftime_now(fmt: str) -> str:
    return time.strftime(str(fmt), time.gmtime(1_735_689_600))  # a fixed date: renders are reproducible


class _Recorder(SandboxedEnvironment):
    """jinja2's sandbox with a policy that records every attempt and refuses the unsafe ones."""

    intercepted_binops = frozenset({"*", "**", "+"})

    def __init__(self, probe: _Probe) -> None:
        super().__init__(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols, _Generation],
                         undefined=_undefined_class(probe))
        self.probe = probe
        for name, fn in list(self.filters.items()):
            self.filters[name] = self._bounded(fn)
        self.filters["tojson"] = self._bounded(_tojson)
        self.filters["attr"] = self._bounded(_attr_filter_for(self))
        self.globals["raise_exception"] = self._raise_exception
        self.globals["strftime_now"] = _strftime_now

    def _bounded(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        probe = self.probe

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            probe.tick()
            return probe.size(fn(*args, **kwargs))

        return wrapper

    def _raise_exception(self, message: Any = "") -> str:
        """transformers raises; here the render goes on, so what follows is seen too."""
        self.probe.raised.append(str(message)[:200])
        return ""

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        safe = super().is_safe_attribute(obj, attr, value) and not unsafe_name(attr)
        if not safe:
            self.probe.reach("attribute", attr)
        return safe

    def getattr(self, obj: Any, attribute: str) -> Any:
        self.probe.tick()
        if isinstance(attribute, str) and unsafe_name(attribute):
            self.probe.reach("attribute", attribute)
            return self.undefined(obj=obj, name=attribute)
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        self.probe.tick()
        if isinstance(argument, str) and unsafe_name(argument):
            self.probe.reach("item", argument)
            return self.undefined(obj=obj, name=argument)
        return super().getitem(obj, argument)

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805 - jinja's signature
        probe = __self.probe
        probe.tick()
        if not __self.is_safe_callable(__obj):
            probe.reach("call", type(__obj).__name__)
            return __self.undefined(name="unsafe call")
        recursive = isinstance(__obj, (Macro, LoopContext))
        if recursive and probe.forced and probe.depth >= FORCED_DEPTH:
            # With every branch taken, the guard that ends a recursion is taken away too.
            return __self.undefined(name="forced recursion")
        probe.depth += recursive
        try:
            return probe.size(__context.call(__obj, *args, **kwargs))
        finally:
            probe.depth -= recursive

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        self.probe.tick()
        sized = [v for v in (left, right) if isinstance(v, (str, bytes, list, tuple))]
        if operator == "*" and sized and any(isinstance(v, int) and not isinstance(v, bool) for v in (left, right)):
            count = right if isinstance(right, int) else left
            if count * len(sized[0]) > MAX_VALUE:
                raise Bound(f"built a value of more than {MAX_VALUE // (1024 * 1024)} MiB")
        if operator == "**" and isinstance(right, int) and abs(right) > 4096:
            raise Bound("raised a number to a huge power")
        return self.probe.size(self.binop_table[operator](left, right))


def _attr_filter_for(env: _Recorder) -> Callable[..., Any]:
    """`|attr(name)`: jinja checks the name only when the object has the attribute; record it always."""
    from jinja2.filters import do_attr

    @jinja2.pass_environment
    def attr(environment: Any, obj: Any, name: Any) -> Any:
        if isinstance(name, str) and unsafe_name(name):
            env.probe.reach("attribute (|attr)", name)
            return environment.undefined(obj=obj, name=name)
        return do_attr(environment, obj, name)

    return attr


class _ForceBranches(NodeTransformer):
    """Every `if` runs all its bodies (after evaluating every test), loop filters and `else` bodies
    run, both sides of `and`/`or` are evaluated, and `x if c else y` takes one chosen side."""

    def __init__(self, take_else: bool) -> None:
        self.take_else = take_else

    def _stmts(self, body: list[nodes.Node]) -> list[nodes.Node]:
        out: list[nodes.Node] = []
        for child in body:
            done = self.visit(child)
            if done is not None:
                out.extend(done if isinstance(done, list) else [done])
        return out

    def visit_If(self, node: nodes.If) -> list[nodes.Node]:
        out: list[nodes.Node] = [nodes.ExprStmt(self.visit(node.test), lineno=node.lineno), *self._stmts(node.body)]
        for elif_ in node.elif_:
            out += [nodes.ExprStmt(self.visit(elif_.test), lineno=elif_.lineno), *self._stmts(elif_.body)]
        return out + self._stmts(node.else_)

    def visit_For(self, node: nodes.For) -> list[nodes.Node]:
        body = self._stmts(node.body)
        if node.test is not None:
            body.insert(0, nodes.ExprStmt(self.visit(node.test), lineno=node.lineno))
        loop = nodes.For(self.visit(node.target), self.visit(node.iter), body, [], None, node.recursive,
                         lineno=node.lineno)
        return [loop, *self._stmts(node.else_)]

    def visit_CondExpr(self, node: nodes.CondExpr) -> nodes.Node:
        self.generic_visit(node)
        chosen = node.expr2 if (self.take_else and node.expr2 is not None) else node.expr1
        if chosen is None:
            return node
        return nodes.CondExpr(node.test, chosen, copy.deepcopy(chosen), lineno=node.lineno)

    def visit_And(self, node: nodes.And) -> nodes.Node:
        self.generic_visit(node)  # l and r, with r evaluated either way: the value is unchanged
        r2 = copy.deepcopy(node.right)
        return nodes.CondExpr(node.left, node.right, nodes.CondExpr(r2, copy.deepcopy(node.left),
                              copy.deepcopy(node.left)), lineno=node.lineno)

    def visit_Or(self, node: nodes.Or) -> nodes.Node:
        self.generic_visit(node)
        l2 = copy.deepcopy(node.left)
        return nodes.CondExpr(node.left, nodes.CondExpr(node.right, l2, copy.deepcopy(node.left)),
                              copy.deepcopy(node.right), lineno=node.lineno)


def parse(source: str) -> nodes.Template:
    """The syntax tree as transformers' environment parses it (its extensions included)."""
    return jinja2.Environment(extensions=[loopcontrols, _Generation]).parse(source)


@functools.lru_cache(maxsize=1)
def probes() -> dict[str, Any]:
    return json.loads((files("mlsecops") / "data" / "chat_template_probes.json").read_text("utf-8"))


def _contexts() -> Iterator[dict[str, Any]]:
    data = probes()
    for conv in data["conversations"]:
        for generation_prompt in (True, False):
            yield {
                **data["special_tokens"],
                "messages": copy.deepcopy(conv["messages"]),
                "tools": copy.deepcopy(data["tools"]) if conv.get("tools") else None,
                "documents": copy.deepcopy(data["documents"]) if conv.get("documents") else None,
                "add_generation_prompt": generation_prompt,
            }


def render(source: str, cpu_seconds: float = CPU_SECONDS) -> Behaviour:
    """Render `source` over every probe, plainly and with its branches forced; never raises for
    anything the template does. A template that does not parse is reported in `stopped`."""
    behaviour = Behaviour()
    probe = _Probe(behaviour, time.process_time() + cpu_seconds)
    env = _Recorder(probe)
    with _cpu_timer(cpu_seconds):
        try:
            tree = env.parse(source)
            templates = [_compile(env, tree)]
            for take_else in (False, True):
                forced = _ForceBranches(take_else).visit(copy.deepcopy(tree))
                templates.append(_compile(env, forced))
        except Bound as exc:
            behaviour.bound = str(exc)
            return behaviour
        except (jinja2.TemplateError, RecursionError, MemoryError, ValueError, TypeError, SyntaxError) as exc:
            behaviour.stopped.append(f"does not compile: {type(exc).__name__}: {str(exc)[:200]}")
            return behaviour
        for template in templates[:1]:
            for context in _contexts():
                if not _render_one(template, context, probe, behaviour):
                    return behaviour  # a bound hit by the template as written: reported
        probe.forced = True
        for template in templates[1:]:
            for context in _contexts():
                if not _render_one(template, context, probe, behaviour):
                    # A bound hit only with every branch forced may be the forcing's doing: noted, not judged.
                    bound, behaviour.bound = behaviour.bound, None
                    behaviour.stopped.append(f"with its branches forced: {bound}")
                    if time.process_time() > probe.deadline:
                        return behaviour
                    break
    return behaviour


def _compile(env: _Recorder, tree: nodes.Template) -> jinja2.Template:
    code = env.compile(tree)
    template = env.template_class.from_code(env, code, env.make_globals(None))
    # `~` joins with jinja's str_join, bound into the compiled module: bound it too.
    module = template.root_render_func.__globals__

    def str_join(seq: Any) -> str:
        probe: _Probe = env.probe
        probe.tick()
        return probe.size("".join(map(str, seq)))

    module["str_join"] = str_join
    return template


def _render_one(template: jinja2.Template, context: dict[str, Any], probe: _Probe, behaviour: Behaviour) -> bool:
    """One render; False when a bound was hit (the remaining renders are not tried)."""
    behaviour.renders += not probe.forced
    written = 0
    try:
        for chunk in template.generate(context):
            written += len(chunk)
            if written > MAX_OUTPUT:
                raise Bound(f"wrote more than {MAX_OUTPUT // 1024} KiB for one short conversation")
            probe.tick()
        behaviour.completed += not probe.forced
        return True
    except Bound as exc:
        behaviour.bound = str(exc)
        return False
    except MemoryError:
        behaviour.bound = "ran out of memory"
        return False
    except RecursionError:
        behaviour.bound = "recursed without end"
        return False
    except Exception as exc:  # noqa: BLE001 - whatever the template raises stops this render only
        if len(behaviour.stopped) < 8:
            behaviour.stopped.append(f"{type(exc).__name__}: {str(exc)[:160]}")
        return True


class _cpu_timer:  # noqa: N801 - used as a context manager
    """A CPU-time timer (SIGVTALRM) that raises Bound in a loop no hook sees; only in a main
    thread, where signals are delivered, and only when no such timer is already set."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.armed = False
        self.previous: Any = None

    def __enter__(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        if signal.getitimer(signal.ITIMER_VIRTUAL)[0] > 0:
            return

        def expire(signum: int, frame: Any) -> None:
            raise Bound(f"did not finish rendering within {self.seconds:g} s of CPU")

        self.previous = signal.signal(signal.SIGVTALRM, expire)
        signal.setitimer(signal.ITIMER_VIRTUAL, self.seconds + 0.5)
        self.armed = True

    def __exit__(self, *exc: Any) -> None:
        if self.armed:
            signal.setitimer(signal.ITIMER_VIRTUAL, 0)
            signal.signal(signal.SIGVTALRM, self.previous)
