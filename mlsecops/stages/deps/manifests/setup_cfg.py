"""setup.cfg: `[options] install_requires` and `[options.extras_require]`, read as setuptools reads them.

The values follow setuptools' own rules (`setuptools.config.setupcfg`): a value
of several lines is one requirement per line, a one-line value is split on
`;`, lines starting with `#` are dropped, dashes in option names are
underscores, and `file: a.txt, b.txt` reads requirements files (followed here
like `-r` includes: inside the scanned folder, bounded in depth). `%` is not
interpolated. Lines point at each requirement inside its section.
"""

from __future__ import annotations

import configparser
import re

from packaging.utils import canonicalize_name

from mlsecops.stages.deps.manifests import requirements
from mlsecops.stages.deps.manifests.interface import ManifestError, ParsedManifest
from mlsecops.stages.deps.manifests.pins import pep508_entry
from mlsecops.stages.deps.manifests.reader import ManifestReader
from mlsecops.stages.deps.manifests.references import file_directive

_SECTION = re.compile(r"^\s*\[\s*([^\]]+?)\s*\]")


def _config(rel: str, text: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    try:
        parser.read_string(text, source=rel)
    except configparser.Error as exc:
        line = getattr(exc, "lineno", None)
        message = str(exc).splitlines()[0]
        raise ManifestError(rel, f"not a valid setup.cfg: {message}", line if isinstance(line, int) else None) from None
    return parser


def _option(parser: configparser.ConfigParser, section: str, name: str) -> str | None:
    if not parser.has_section(section):
        return None
    for key in (name, name.replace("_", "-")):
        if parser.has_option(section, key):
            return parser.get(section, key)
    return None


def _split(value: str) -> list[str]:
    """setuptools' `_parse_list_semicolon`, then comment lines dropped."""
    chunks = value.splitlines() if "\n" in value else value.split(";")
    return [c.strip() for c in chunks if c.strip() and not c.strip().startswith("#")]


class _Lines:
    """The line of each requirement inside its section, looked up in the text in the order written."""

    def __init__(self, text: str) -> None:
        self.lines = text.splitlines()
        self.sections: dict[str, int] = {}
        for number, line in enumerate(self.lines, 1):
            m = _SECTION.match(line)
            if m:
                self.sections.setdefault(m.group(1), number)
        self.cursor: dict[str, int] = {}

    def find(self, section: str, needle: str) -> int | None:
        start = self.cursor.get(section, self.sections.get(section, 0) + 1)  # several may share a line
        for number in range(start, len(self.lines) + 1):
            if number != self.sections.get(section) and _SECTION.match(self.lines[number - 1]):
                break
            if needle in self.lines[number - 1]:
                self.cursor[section] = number
                return number
        return self.sections.get(section)


def parse(rel: str, reader: ManifestReader, max_depth: int = 8, max_entries: int = 10_000) -> ParsedManifest:
    text = reader.read_text(rel)
    parser = _config(rel, text)
    lines = _Lines(text)
    out = ParsedManifest(path=rel, kind="setup.cfg", files=[rel])
    name = _option(parser, "metadata", "name")
    own = canonicalize_name(name) if name and name.strip() else None
    values: list[tuple[str, str]] = []
    install = _option(parser, "options", "install_requires")
    if install is not None:
        values.append(("options", install))
    if parser.has_section("options.extras_require"):
        values += [("options.extras_require", parser.get("options.extras_require", key)) for key in parser.options("options.extras_require")]
    for section, value in values:
        files = file_directive(value)
        if files is not None:
            line = lines.find(section, "file:")
            for target in files:
                requirements.include(out, rel, line, target, reader, max_depth, max_entries)
            continue
        reqs = _split(value)
        if len(reqs) + out.entries() > max_entries:
            raise ManifestError(rel, f"more than {max_entries} requirements (deps.limits.max_packages): not audited")
        for req in reqs:
            out.add(pep508_entry(req, rel, lines.find(section, req), "setup.cfg", own))
    return out
