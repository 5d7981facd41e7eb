"""Guard libyaml's composer against deep nesting: untrusted YAML must not crash the process.

PyYAML's C loader (`CSafeLoader`, about 8x faster than the pure-Python one) composes the node
tree recursively in C: a few tens of thousands of nested collections (`[[[[...`, `- - - - x`,
`? ? ? x`, 60 KB of text) overflow the C stack and the process dies with SIGSEGV, taking every
stage's findings with it. libyaml's *parser* keeps its own heap stack, so the events are read
first and their nesting counted; only a document within `MAX_DEPTH` is composed.
"""

from __future__ import annotations

from typing import Any

import yaml

MAX_DEPTH = 500  # far more than any policy, environment file or workflow nests; far below a crash


class TooDeep(yaml.YAMLError):
    """The document nests collections deeper than MAX_DEPTH."""

    def __init__(self, line: int) -> None:
        self.line = line
        super().__init__(f"collections nested more than {MAX_DEPTH} deep (line {line})")


def check(text: str | bytes, loader: Any, max_depth: int = MAX_DEPTH) -> None:
    """Raise TooDeep (or the parser's own YAMLError) before `loader` would compose `text`."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    if sum(text.count(c) for c in "[{-?:") <= max_depth:
        return  # every level of nesting needs one of these: this text cannot nest deeper
    depth = 0
    for event in yaml.parse(text, Loader=loader):
        if isinstance(event, (yaml.SequenceStartEvent, yaml.MappingStartEvent)):
            depth += 1
            if depth > max_depth:
                raise TooDeep(event.start_mark.line + 1 if event.start_mark else 0)
        elif isinstance(event, (yaml.SequenceEndEvent, yaml.MappingEndEvent)):
            depth -= 1


def compose(text: str | bytes, loader: Any, max_depth: int = MAX_DEPTH) -> yaml.Node | None:
    """`yaml.compose(text, Loader=loader)` that raises TooDeep instead of crashing on deep nesting."""
    check(text, loader, max_depth)
    return yaml.compose(text, Loader=loader)
