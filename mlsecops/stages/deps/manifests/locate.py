"""Find the line a TOML or JSON value was written on, for findings that point at it.

`tomllib` and `json` give values, not positions. The values come from those
parsers; this module only looks the text up again to say where: the line of a
table header, of a quoted string, of a key inside a table, or of each
`[[package]]` block's `name = ...` in a lock file. The text is indexed in one
pass, so a manifest with thousands of entries costs one scan, not one per
entry. When a lookup fails the finding falls back to the enclosing table's
line: a line number is a pointer for a person, never the source of what is
audited.
"""

from __future__ import annotations

import json
import re
from bisect import bisect_left

from pydantic import BaseModel

_HEADER = re.compile(r"^\s*\[\s*([^\[\]]+?)\s*\]\s*(#.*)?$")
_ARRAY_HEADER = re.compile(r"^\s*\[\[\s*([^\[\]]+?)\s*\]\]\s*(#.*)?$")
_KEY_VALUE = re.compile(r"""^\s*(?:"([^"]+)"|'([^']+)'|([A-Za-z0-9_.-]+))\s*=\s*(.*)$""")
_STRING = re.compile(r"""^(?:"((?:[^"\\]|\\.)*)"|'([^']*)')""")
_STRINGS = re.compile(r""""((?:[^"\\\n]|\\.)*)"|'([^'\n]*)'""")
_JSON_KEY = re.compile(r"""^\s*"((?:[^"\\]|\\.)*)"\s*:""")


def _clean(header: str) -> str:
    return ".".join(p.strip().strip("\"'") for p in header.split("."))


def _unescape(raw: str) -> str:
    try:
        return str(json.loads(f'"{raw}"'))
    except ValueError:
        return raw


class TextIndex:
    """Where tables, keys and string literals of one TOML or JSON text are, built in one pass."""

    def __init__(self, lines: list[str]) -> None:
        self.tables: dict[str, int] = {}
        self.keys: dict[tuple[str, str], int] = {}
        self._strings: dict[str, list[int]] = {}
        self._json_keys: dict[str, list[int]] = {}
        table = ""
        for number, text in enumerate(lines, 1):
            header = _HEADER.match(text) or _ARRAY_HEADER.match(text)
            if header:
                table = _clean(header.group(1))
                self.tables.setdefault(table, number)
                continue
            kv = _KEY_VALUE.match(text)
            if kv:
                self.keys.setdefault((table, kv.group(1) or kv.group(2) or kv.group(3)), number)
            jk = _JSON_KEY.match(text)
            if jk:
                self._json_keys.setdefault(_unescape(jk.group(1)), []).append(number)
            for m in _STRINGS.finditer(text):
                value = _unescape(m.group(1)) if m.group(1) is not None else m.group(2)
                self._strings.setdefault(value, []).append(number)

    @staticmethod
    def _first_from(lines: list[int] | None, start: int | None) -> int | None:
        if not lines:
            return None
        i = bisect_left(lines, start or 1)
        return lines[i] if i < len(lines) else None

    def table_line(self, table: str) -> int | None:
        """The line of `[table]` (quotes and spaces in the header are ignored)."""
        return self.tables.get(table)

    def string_line(self, value: str, start: int | None) -> int | None:
        """The first line at or after `start` holding `value` as a quoted string."""
        return self._first_from(self._strings.get(value), start)

    def key_line(self, table: str, key: str) -> int | None:
        """The line of `key = ...` directly inside `[table]`."""
        return self.keys.get((table, key))

    def json_key_line(self, key: str, start: int | None) -> int | None:
        """The first line at or after `start` where `"key":` opens a JSON member."""
        return self._first_from(self._json_keys.get(key), start)


class Block(BaseModel):
    """One `[[package]]` entry of a lock file, as far as lines go."""

    line: int
    name: str | None = None
    name_line: int | None = None
    version: str | None = None


def _string_value(rest: str) -> str | None:
    m = _STRING.match(rest.strip())
    if not m:
        return None
    return m.group(1) if m.group(1) is not None else m.group(2)


def package_blocks(lines: list[str], array: str) -> list[Block]:
    """Each `[[array]]` block in order, with the lines of its top-level name and version."""
    blocks: list[Block] = []
    current: Block | None = None
    top = False
    for i, text in enumerate(lines, 1):
        arr = _ARRAY_HEADER.match(text)
        if arr:
            top = _clean(arr.group(1)) == array
            if top:
                current = Block(line=i)
                blocks.append(current)
            continue
        if _HEADER.match(text):
            top = False  # a sub-table such as [package.dependencies]
            continue
        if not top or current is None:
            continue
        m = _KEY_VALUE.match(text)
        if not m:
            continue
        key = m.group(1) or m.group(2) or m.group(3)
        if key == "name" and current.name is None:
            current.name, current.name_line = _string_value(m.group(4)), i
        elif key == "version" and current.version is None:
            current.version = _string_value(m.group(4))
    return blocks
