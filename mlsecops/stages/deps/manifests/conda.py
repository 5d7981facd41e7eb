"""Conda environment files (`environment.yml`): the `pip:` list as PyPI requirements, conda packages by name map.

The `pip:` entries are pip requirement lines, read like a requirements file
(`-r other.txt` relative to the environment file, as conda runs pip there).
A conda package is audited as the PyPI project(s) the name map says it holds
(see `conda_names.py`; the finding names the map). Conda's match specs are
read as conda reads them: `name==1.2.3`, `name=1.2.3=build` and `name 1.2.3`
fix one version; `name=1.2.3` means `1.2.3*` (any 1.2.3.x), so it is not a pin,
nor are ranges, `*` and `|`. A conda package that holds no PyPI project (the
interpreter, C libraries, CUDA) cannot be audited against PyPI advisories: the
file gets one "not audited" finding listing them. The YAML is composed with the
safe loader only (no tags, no objects), and aliases are never expanded. A key
written twice (`dependencies:` twice) is an error, not a guess at which list
installs.
"""

from __future__ import annotations

import re

import yaml
from packaging.version import InvalidVersion, Version

from mlsecops import yaml_depth
from mlsecops.stages.deps.manifests import requirements
from mlsecops.stages.deps.manifests.conda_names import CondaNames
from mlsecops.stages.deps.manifests.interface import ManifestError, ParsedManifest, Pin, Problem, Unaudited, Unpinned
from mlsecops.stages.deps.manifests.reader import ManifestReader
from mlsecops.stages.deps.manifests.references import SAFE_LOADER

_SPEC = re.compile(r"^(?:(?P<channel>[^\s:]+)::)?(?P<name>[A-Za-z0-9_][A-Za-z0-9_.\-]*)\s*(?P<bracket>\[[^\]]*\])?\s*(?P<rest>.*)$")
_BRACKET_VERSION = re.compile(r"""version\s*=\s*(['"]?)([^'",\]]+)\1""")
_PLAIN = re.compile(r"^[0-9][0-9A-Za-z.+!_-]*$")
NOT_MAPPED = "not audited (conda package with no PyPI mapping)"


def exact_version(spec: str) -> tuple[str, str | None]:
    """(name, the one version a conda match spec fixes, or None when it allows several)."""
    m = _SPEC.match(spec.strip())
    if not m:
        raise ValueError(f"not a conda match spec: {spec[:120]!r}")
    name, rest = m.group("name"), m.group("rest").strip()
    if m.group("bracket"):
        found = _BRACKET_VERSION.search(m.group("bracket"))
        if found and not rest:
            rest = found.group(2).strip()  # read like the spec's own version part: a bare version is exact
    version: str | None = None
    if rest.startswith("=="):
        version = rest[2:].split("=", 1)[0].strip()
    elif rest.startswith("="):
        parts = rest[1:].split("=")
        version = parts[0].strip() if len(parts) == 2 else None  # `=1.2` alone is `1.2*`
    elif rest[:1].isdigit():
        version = rest.split()[0]  # `name 1.2.3 [build]`: exact
    if version is not None and not _PLAIN.match(version):
        version = None
    return name, version


def _conda_entry(spec: str, line: int, rel: str, names: CondaNames) -> list[Pin | Unpinned | Unaudited | Problem]:
    try:
        name, version = exact_version(spec)
    except ValueError as exc:
        return [Problem(path=rel, line=line, message=str(exc))]
    mapped = names.pypi(name)
    if mapped is None:
        return [Unaudited(name=name.lower(), reason="conda-unmapped", message=NOT_MAPPED, path=rel, line=line, spec=spec)]
    pypi, label = mapped
    note = f"conda package {name} is PyPI {' / '.join(pypi)}, per the {label}"
    if version is None:
        return [Unpinned(name=pypi[0], spec=f"{spec} (conda package, PyPI {' / '.join(pypi)})", path=rel, line=line, origin="conda")]
    try:
        Version(version)
    except InvalidVersion:
        return [Problem(path=rel, line=line, message=f"{name}: conda version {version!r} is not a PEP 440 version: not audited")]
    return [Pin(name=p, version=version, path=rel, line=line, text=spec, origin="conda", note=note) for p in pypi]


def _key(node: yaml.Node) -> str | None:
    return node.value if isinstance(node, yaml.ScalarNode) else None


def _refuse_duplicates(rel: str, mapping: yaml.MappingNode) -> None:
    """A key written twice is read differently by different loaders (PyYAML keeps the last, this
    parser looked at the first, conda's ruamel refuses the file): which list installs is not known."""
    seen: set[str] = set()
    for key, _ in mapping.value:
        name = _key(key)
        if name is None:
            continue
        if name in seen:
            raise ManifestError(rel, f"`{name[:60]}` is written twice; conda refuses such a file and other "
                                     "YAML readers take either one: not audited", key.start_mark.line + 1)
        seen.add(name)


def _compose(rel: str, text: str) -> yaml.Node | None:
    try:
        return yaml_depth.compose(text, SAFE_LOADER)
    except yaml_depth.TooDeep as exc:
        raise ManifestError(rel, f"not an environment file: {exc}", exc.line) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        raise ManifestError(rel, f"not valid YAML: {exc.problem or exc}", mark.line + 1 if mark else None) from None
    except (yaml.YAMLError, RecursionError) as exc:
        raise ManifestError(rel, f"not valid YAML: {type(exc).__name__}") from None


def parse(rel: str, reader: ManifestReader, names: CondaNames, max_depth: int = 8, max_entries: int = 10_000) -> ParsedManifest:
    out = ParsedManifest(path=rel, kind="conda", files=[rel])
    text = reader.read_text(rel)
    if text.count("\n") > 4 * max_entries + 1000:  # refuse before composing: YAML costs ~0.3 s per MB even in C
        raise ManifestError(rel, f"{text.count(chr(10))} lines, too many for {max_entries} dependencies "
                                 "(deps.limits.max_packages): not audited")
    root = _compose(rel, text)
    if root is None:
        return out
    if not isinstance(root, yaml.MappingNode):
        raise ManifestError(rel, "not a conda environment file (expected a mapping with `dependencies`)", root.start_mark.line + 1)
    _refuse_duplicates(rel, root)
    deps = next((v for k, v in root.value if _key(k) == "dependencies"), None)
    if deps is None or (isinstance(deps, yaml.ScalarNode) and deps.tag.endswith(":null")):
        return out
    if not isinstance(deps, yaml.SequenceNode):
        raise ManifestError(rel, "`dependencies` must be a list", deps.start_mark.line + 1)
    if len(deps.value) > max_entries:
        raise ManifestError(rel, f"{len(deps.value)} dependencies, over the limit of {max_entries} (deps.limits.max_packages): not audited")
    pip_lines: list[tuple[int, str]] = []
    for item in deps.value:
        line = item.start_mark.line + 1
        if isinstance(item, yaml.ScalarNode) and item.value.strip():
            for entry in _conda_entry(item.value, line, rel, names):
                out.add(entry)
        elif isinstance(item, yaml.MappingNode):
            _refuse_duplicates(rel, item)
            for key, value in item.value:
                if _key(key) == "pip" and isinstance(value, yaml.SequenceNode):
                    pip_lines += [(v.start_mark.line + 1, v.value) for v in value.value if isinstance(v, yaml.ScalarNode)]
                    if any(not isinstance(v, yaml.ScalarNode) for v in value.value):
                        out.problems.append(Problem(path=rel, line=line, message="a `pip:` entry that is not a string: not audited"))
                else:
                    out.problems.append(Problem(path=rel, line=key.start_mark.line + 1,
                                                message=f"unknown dependencies entry {str(_key(key))[:60]!r}: not audited"))
        else:
            out.problems.append(Problem(path=rel, line=line, message="a dependencies entry that is neither a package nor `pip:`: not audited"))
    if pip_lines:
        out.merge(requirements.parse_lines(rel, pip_lines, reader, max_depth, max_entries))
    return out
