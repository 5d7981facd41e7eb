"""Make untrusted text (file names, pickle strings, advisory text) inert in Markdown.

A file name in a pull request is attacker-chosen: it must not render as a link,
an image, HTML, a table break, a mention or a terminal escape.
"""

from __future__ import annotations

import re

_CONTROL = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b[@-_]|[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|~>])")


def plain(text: object, limit: int = 300) -> str:
    """One line of text with control characters and ANSI escapes removed, shortened."""
    s = _CONTROL.sub("", str(text)).replace("\r", " ").replace("\n", " ").replace("\t", " ")
    return s if len(s) <= limit else s[: limit - 1] + "…"


def md(text: object, limit: int = 300) -> str:
    """Inline Markdown text that renders literally: no links, HTML, emphasis or mentions."""
    s = plain(text, limit)
    s = s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    s = _MD_SPECIAL.sub(r"\\\1", s)
    return s.replace("@", "@\u200b").replace("://", ":\u200b//")


def code(text: object, limit: int = 200, table: bool = True) -> str:
    """An inline code span that holds any text, safe inside a table cell."""
    s = plain(text, limit)
    if table:
        s = s.replace("|", "\\|")
    longest = max((len(m) for m in re.findall(r"`+", s)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if s.startswith("`") or s.endswith("`") or not s.strip() else ""
    return f"{fence}{pad}{s}{pad}{fence}"


def annotation(text: object, limit: int = 4000) -> str:
    """A workflow-command value: `%`, CR and LF escaped so no text can start a new command."""
    s = _CONTROL.sub("", str(text))[:limit]
    return s.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def annotation_property(text: object, limit: int = 1000) -> str:
    """A workflow-command property (file=, title=): also `:` and `,` escaped."""
    return annotation(text, limit).replace(":", "%3A").replace(",", "%2C")
