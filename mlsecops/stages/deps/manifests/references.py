"""The requirement files a file names: its `-r`/`-c` includes, the `.in` it was compiled from, what it installs.

These are cheap text scans (no pip, no pip-audit): they only decide which files
are dependency manifests and which manifest a changed file belongs to. What
the files say is read later by the real parsers, which report anything odd.

- requirements files: `-r`/`--requirement`/`-c`/`--constraint` lines are
  includes; pip-compile's and uv's annotations (`# via -r requirements.in`)
  and header (`#    pip-compile ... requirements.in`) name the files the lock
  was compiled from;
- pyproject.toml: the requirements files `[tool.setuptools.dynamic]` or
  hatch-requirements-txt read dynamic dependencies from (includes);
- setup.cfg: `install_requires = file: requirements.txt` (includes);
- setup.py: string literals naming a `.txt`/`.in` file (`open("requirements.txt")`);
- conda environment files: `-r` lines of the `pip:` list (includes);
- installers (Dockerfiles, CI workflows, tox.ini, Makefiles, shell scripts:
  the policy's `deps.installers`): `pip install -r X`, `-c X`, `pip-sync X`,
  noxfile.py's `session.install("-r", "X")` (its string arguments, read with `ast`),
  `pip-compile X.in`, and Read the Docs' `requirements: X`.
"""

from __future__ import annotations

import ast
import configparser
import posixpath
import re
import tomllib
from typing import Any, Literal

import yaml
from pydantic import BaseModel

from mlsecops import yaml_depth

RefKind = Literal["include", "compiled-from", "installs"]


class Ref(BaseModel):
    """One requirement file named by another file, as written there."""

    kind: RefKind
    target: str
    line: int
    from_root: bool = False  # also try the target relative to the repository root (commands run there)


_OPTION = re.compile(r"""(?:^|\s)(?:-r|--requirement|-c|--constraint)(?:\s*=\s*|\s+|(?=[^\s-]))(['"]?)([^\s'";|&)`]+)\1""")
_REQ_INCLUDE = re.compile(r"""^\s*(?:-r|--requirement|-c|--constraint)(?:\s*=\s*|\s+|(?=[^\s-]))(['"]?)(\S+?)\1\s*(?:\s#.*)?$""")
_VIA = re.compile(r"^#\s+(?:via\s+)?-r\s+(\S+)\s*$")
_HEADER = re.compile(r"^#\s+(?:pip-compile|uv pip compile|pip-compile-multi)\b(.*)$")
_PIP = re.compile(r"\bpip[0-9.]*\b")
_SYNC = re.compile(r"\b(?:pip-sync|pip-compile|uv\s+pip\s+(?:sync|compile))\b(.*)")
_RTD = re.compile(r"""^\s*-?\s*requirements\s*:\s*(['"]?)([^\s'"]+)\1\s*$""")
_SUBSTITUTIONS = (
    (re.compile(r"\$\{\{\s*github\.workspace\s*\}\}/?"), ""),
    (re.compile(r"\$\{?GITHUB_WORKSPACE\}?/?"), ""),
    (re.compile(r"\$\{?CI_PROJECT_DIR\}?/?"), ""),
)
_MAX_TARGET = 512
SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when built in: the same safe loader, ~8x faster


def _logical_lines(text: str) -> list[tuple[int, str]]:
    """Lines with `\\` continuations joined, each with the number of its first physical line."""
    out: list[tuple[int, str]] = []
    pending: list[str] = []
    start = 0
    for number, line in enumerate(text.splitlines(), 1):
        if not pending:
            start = number
        if line.rstrip().endswith("\\"):
            pending.append(line.rstrip()[:-1])
            continue
        out.append((start, " ".join([*pending, line])))
        pending = []
    if pending:
        out.append((start, " ".join(pending)))
    return out


def _clean(target: str, folder: str = "") -> str | None:
    """A target as a path, with the variables that mean "the repository" or "tox.ini's folder" resolved."""
    target = target.strip().strip("'\"")
    for pattern, value in _SUBSTITUTIONS:
        target = pattern.sub(value, target)
    target = target.replace("{toxinidir}/", f"{folder}/" if folder else "").replace("{toxinidir}", folder or ".")
    if not target or len(target) > _MAX_TARGET or any(c in target for c in "$*?{}`<>"):
        return None  # a variable, a glob or a template: unknowable without running it
    return target


def requirements_refs(text: str) -> list[Ref]:
    refs: list[Ref] = []
    for number, line in _logical_lines(text):
        stripped = line.strip()
        if stripped.startswith("#"):
            via = _VIA.match(stripped)
            if via:
                refs.append(Ref(kind="compiled-from", target=via.group(1), line=number, from_root=True))
            header = _HEADER.match(stripped)
            if header:
                refs += [Ref(kind="compiled-from", target=t, line=number, from_root=True)
                         for t in header.group(1).split() if t.endswith(".in") and not t.startswith("-")]
            continue
        m = _REQ_INCLUDE.match(line)
        if m:
            refs.append(Ref(kind="include", target=m.group(2), line=number))
    return refs


def table(doc: Any, *keys: str) -> dict[str, Any]:
    """doc[k1][k2]... when every step is a table, else an empty table."""
    for key in keys:
        doc = doc.get(key) if isinstance(doc, dict) else None
    return doc if isinstance(doc, dict) else {}


def _files(value: Any) -> list[str] | None:
    if isinstance(value, dict):
        value = value.get("file")
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    return None


def dynamic_sources(doc: dict[str, Any], field: str) -> tuple[str, list[str]] | None:
    """(table, files) a build backend reads pyproject's dynamic `field` from, when the project names them."""
    setuptools = table(doc, "tool", "setuptools", "dynamic")
    hatch = table(doc, "tool", "hatch", "metadata", "hooks", "requirements_txt")
    if field == "dependencies":
        for where, value in (("tool.setuptools.dynamic", setuptools.get("dependencies")),
                             ("tool.hatch.metadata.hooks.requirements_txt", hatch.get("files"))):
            files = _files(value)
            if files is not None:
                return where, files
        return None
    for where, extras in (("tool.setuptools.dynamic", setuptools.get("optional-dependencies")),
                          ("tool.hatch.metadata.hooks.requirements_txt", hatch.get("optional-dependencies"))):
        if isinstance(extras, dict):
            found = [f for value in extras.values() for f in (_files(value) or [])]
            if found:
                return where, found
    return None


def pyproject_refs(text: str) -> list[Ref]:
    try:
        doc = tomllib.loads(text)
    except (tomllib.TOMLDecodeError, RecursionError):
        return []
    dynamic = table(doc, "project").get("dynamic")
    if not isinstance(dynamic, list):
        return []
    refs = []
    for field in ("dependencies", "optional-dependencies"):
        found = dynamic_sources(doc, field) if field in dynamic else None
        refs += [Ref(kind="include", target=t, line=1) for t in (found[1] if found else [])]
    return refs


def file_directive(value: str) -> list[str] | None:
    """The files of setuptools' `file: a.txt, b.txt` directive, or None when `value` is not one."""
    value = value.strip()
    if not value.startswith("file:"):
        return None
    return [t.strip() for t in value[len("file:"):].split(",") if t.strip()]


def setup_cfg_refs(text: str) -> list[Ref]:
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read_string(text)
    except configparser.Error:
        return []
    values = []
    for section, keys in (("options", ["install_requires", "install-requires"]), ("options.extras_require", None)):
        if parser.has_section(section):
            for key in keys if keys is not None else parser.options(section):
                if parser.has_option(section, key):
                    values.append(parser.get(section, key))
    return [Ref(kind="include", target=t, line=1) for v in values for t in (file_directive(v) or [])]


def named_files(module: ast.Module) -> list[ast.Constant]:
    """String literals of a setup.py that name a requirements file (`open("requirements.txt")`)."""
    return [node for node in ast.walk(module) if isinstance(node, ast.Constant) and isinstance(node.value, str)
            and len(node.value) < 256 and "\n" not in node.value and node.value.endswith((".txt", ".in"))]


def setup_py_refs(text: str) -> list[Ref]:
    try:
        module = ast.parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return []
    return [Ref(kind="installs", target=str(node.value), line=node.lineno) for node in named_files(module)]


def conda_refs(text: str) -> list[Ref]:
    if text.count("\n") > 50_000:
        return []  # far too large for an environment file: its parser reports it
    try:
        root = yaml_depth.compose(text, SAFE_LOADER)
    except (yaml.YAMLError, RecursionError):
        return []  # read (and reported) by its parser when it is audited
    if not isinstance(root, yaml.MappingNode):
        return []
    refs = []
    for key, deps in root.value:
        if getattr(key, "value", None) != "dependencies" or not isinstance(deps, yaml.SequenceNode):
            continue
        for item in deps.value:
            if not isinstance(item, yaml.MappingNode):
                continue
            for k, pip in item.value:
                if getattr(k, "value", None) == "pip" and isinstance(pip, yaml.SequenceNode):
                    for entry in pip.value:
                        m = _REQ_INCLUDE.match(str(getattr(entry, "value", "")))
                        if m:
                            refs.append(Ref(kind="include", target=m.group(2), line=entry.start_mark.line + 1))
    return refs


_REQ_FLAGS = ("-r", "--requirement", "-c", "--constraint")


def _python_installer_refs(rel: str, text: str) -> list[Ref]:
    """noxfile.py and other Python installers: `session.install("-r", "deps/test.txt")` passes the
    option and its file as separate string arguments, which no line pattern sees."""
    try:
        module = ast.parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return []
    folder = posixpath.dirname(rel)
    refs: list[Ref] = []
    for node in ast.walk(module):
        if not isinstance(node, ast.Call):
            continue
        args = [a.value if isinstance(a, ast.Constant) and isinstance(a.value, str) else None for a in node.args]
        for i, arg in enumerate(args):
            target = None
            if arg in _REQ_FLAGS and i + 1 < len(args):
                target = args[i + 1]
            elif arg and arg.startswith(("-r", "-c")) and len(arg) > 2 and not arg.startswith("--"):
                target = arg[2:]
            elif arg and arg.startswith(("--requirement=", "--constraint=")):
                target = arg.split("=", 1)[1]
            if target and (cleaned := _clean(target, folder)):
                refs.append(Ref(kind="installs", target=cleaned, line=node.lineno, from_root=True))
    return refs


def installer_refs(rel: str, text: str) -> list[Ref]:
    """What a Dockerfile, CI workflow, tox.ini, Makefile or script installs with pip."""
    folder = posixpath.dirname(rel)
    name = posixpath.basename(rel).lower()
    if name.endswith(".py"):
        return _python_installer_refs(rel, text)
    every_line = name == "tox.ini"  # `deps = -r{toxinidir}/requirements.txt`: no `pip` on the line
    readthedocs = name.startswith(".readthedocs")
    refs: list[Ref] = []
    for number, line in _logical_lines(text):
        if readthedocs:
            m = _RTD.match(line)
            if m and (target := _clean(m.group(2), folder)):
                refs.append(Ref(kind="installs", target=target, line=number, from_root=True))
            continue
        if not (every_line or _PIP.search(line)):
            continue
        for m in _OPTION.finditer(line):
            target = _clean(m.group(2), folder)
            if target:
                refs.append(Ref(kind="installs", target=target, line=number, from_root=True))
        sync = _SYNC.search(line)
        if sync:
            for token in sync.group(1).split():
                if token.startswith("-") or not token.strip("'\"").endswith((".txt", ".in")):
                    continue
                target = _clean(token, folder)
                if target and not any(r.target == target and r.line == number for r in refs):
                    refs.append(Ref(kind="installs", target=target, line=number, from_root=True))
    return refs
