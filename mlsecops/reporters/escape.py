"""Make untrusted text (file names, pickle strings, advisory text) inert in Markdown.

A file name in a pull request is attacker-chosen: it must not render as a link,
an image, HTML, a table break, a mention or a terminal escape. Nor can it make a
report unwritable: bytes that are not UTF-8 reach us as lone surrogates, which
every writer here replaces with U+FFFD (`unicode_safe`).
"""

from __future__ import annotations

import re

_CONTROL = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b[@-_]|[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|~>])")
_SURROGATE = re.compile("[\ud800-\udfff]")


def unicode_safe(value: object) -> object:
    """`value` (text, or lists and dicts of it) with lone surrogates replaced by U+FFFD, so it encodes as UTF-8."""
    if isinstance(value, str):
        return _SURROGATE.sub("\ufffd", value)
    if isinstance(value, dict):
        return {unicode_safe(k): unicode_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [unicode_safe(v) for v in value]
    return value


def plain(text: object, limit: int = 300) -> str:
    """One line of text with control characters and ANSI escapes removed, shortened."""
    s = _CONTROL.sub("", _SURROGATE.sub("\ufffd", str(text))).replace("\r", " ").replace("\n", " ").replace("\t", " ")
    return s if len(s) <= limit else s[: limit - 1] + "…"


def md(text: object, limit: int = 300) -> str:
    """Inline Markdown text that renders literally: no links, HTML, emphasis or mentions."""
    s = plain(text, limit)
    s = s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    s = _MD_SPECIAL.sub(r"\\\1", s)
    return s.replace("@", "@\u200b").replace("://", ":\u200b//")


_CODE_SPECIAL = re.compile(r"[\\`*_{}\[\]()#+\-.!|~:@=&<>\"']")


def code(text: object, limit: int = 200, table: bool = True) -> str:
    """Literal text in a <code> element. Markdown still parses inside inline HTML,
    so every character that could start a link, emphasis, a mention, a table
    break or a tag is written as a numeric entity: the text renders as itself."""
    s = plain(text, limit)
    body = _CODE_SPECIAL.sub(lambda m: f"&#{ord(m.group(0))};", s)
    # cmark-gfm's autolinker still sees `a@b.example` once the entity is decoded (a mailto: link):
    # a zero-width space after the `@`, as `md` does, leaves no address to link.
    return "<code>" + body.replace("&#64;", "&#64;&#8203;") + "</code>"


def annotation(text: object, limit: int = 4000) -> str:
    """A workflow-command value: `%`, CR and LF escaped so no text can start a new command."""
    s = _CONTROL.sub("", _SURROGATE.sub("\ufffd", str(text)))[:limit]
    return s.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def annotation_property(text: object, limit: int = 1000) -> str:
    """A workflow-command property (file=, title=): also `:` and `,` escaped."""
    return annotation(text, limit).replace(":", "%3A").replace(",", "%2C")


_LINE_COMMAND = re.compile(r"^([ \t\f\v]*):(?=:)", re.MULTILINE)


def inert_log(text: object) -> str:
    """Log text the Actions runner cannot read as a workflow command.

    The runner treats a line whose first non-blank characters are `::` as a
    command, and `##[` anywhere in a line as a legacy command (so a file named
    `x##[stop-commands]t` could silence every later command). A zero-width
    space breaks both patterns without changing what a person reads.
    """
    s = _LINE_COMMAND.sub("\\1:\u200b", str(text))
    return s.replace("##[", "#\u200b#[")
