"""The OSV record, as far as the audit needs it, validated at the boundary.

Records come from files anyone can write (a local database) or from the network
(the OSV service), so they are validated into these models before any field is
trusted. YAML records are read with PyYAML's BaseLoader, which keeps every
scalar a string: an unquoted `fixed: 2.10` stays "2.10" instead of becoming the
float 2.1. Fields the audit does not use (references, credits) are dropped, and
long texts are shortened, so the cached index stays small.
"""

from __future__ import annotations

import json
import re
from typing import Any

import yaml
from packaging.utils import canonicalize_name
from packaging.utils import canonicalize_version
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator

from mlsecops import yaml_depth

MAX_TEXT = 2000
PYPI = "PyPI"
_PLAIN_RELEASE = re.compile(r"^[0-9]+(?:\.[0-9]+)*$")


def canonical_version(text: str) -> str:
    """PEP 440 canonical form; equal forms mean equal versions ("1.0.0" and "1" -> "1").

    Plain releases (most of any `versions` list) take a fast path; anything else
    goes through `packaging`. A string that is not a version comes back as is.
    """
    text = text.strip()
    if _PLAIN_RELEASE.match(text):
        parts = [str(int(p)) for p in text.split(".")]
        while len(parts) > 1 and parts[-1] == "0":
            parts.pop()
        return ".".join(parts)
    return canonicalize_version(text)


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore", coerce_numbers_to_str=True)


class OsvPackage(_Lenient):
    name: str = ""
    ecosystem: str = ""


class OsvEvent(_Lenient):
    introduced: str | None = None
    fixed: str | None = None
    last_affected: str | None = None
    limit: str | None = None


class OsvRange(_Lenient):
    type: str = ""
    events: list[OsvEvent] = Field(default_factory=list)


class OsvAffected(_Lenient):
    package: OsvPackage | None = None
    ranges: list[OsvRange] = Field(default_factory=list)
    versions: list[str] = Field(default_factory=list)
    database_specific: dict[str, Any] | None = None
    ecosystem_specific: dict[str, Any] | None = None
    _canonical_versions: frozenset[str] | None = PrivateAttr(default=None)

    @field_validator("ranges", "versions", mode="before")
    @classmethod
    def _none_is_empty(cls, value: Any) -> Any:
        return [] if value is None else value

    @property
    def is_pypi(self) -> bool:
        return self.package is not None and self.package.ecosystem.split(":")[0] == PYPI

    @property
    def canonical_name(self) -> str:
        return canonicalize_name(self.package.name) if self.package else ""

    def canonical_versions(self) -> frozenset[str]:
        """`versions` in PEP 440 canonical form ("1.0.0" -> "1"), computed once per record."""
        if self._canonical_versions is None:
            self._canonical_versions = frozenset(canonical_version(v) for v in self.versions)
        return self._canonical_versions


class OsvSeverity(_Lenient):
    type: str = ""
    score: str = ""


class OsvRecord(_Lenient):
    id: str = Field(min_length=1)
    schema_version: str | None = None
    aliases: list[str] = Field(default_factory=list)
    summary: str | None = None
    details: str | None = None
    withdrawn: str | None = None
    published: str | None = None
    modified: str | None = None
    affected: list[OsvAffected] = Field(default_factory=list)
    severity: list[OsvSeverity] = Field(default_factory=list)
    database_specific: dict[str, Any] | None = None

    @field_validator("aliases", "affected", "severity", mode="before")
    @classmethod
    def _none_is_empty(cls, value: Any) -> Any:
        return [] if value is None else value

    @field_validator("withdrawn", mode="before")
    @classmethod
    def _null_words(cls, value: Any) -> Any:
        # BaseLoader keeps `withdrawn: null` as the string "null".
        if isinstance(value, str) and value.strip() in ("", "null", "Null", "NULL", "~"):
            return None
        return value

    @field_validator("summary", "details", mode="after")
    @classmethod
    def _shorten(cls, value: str | None) -> str | None:
        return value[:MAX_TEXT] if value else value

    def packages(self) -> set[str]:
        """Canonical names of the PyPI packages this record is about."""
        return {a.canonical_name for a in self.affected if a.is_pypi and a.canonical_name}

    def ids(self) -> list[str]:
        """The record's id then its aliases, without repeats."""
        out = [self.id]
        out.extend(a for a in self.aliases if a and a not in out)
        return out

    def description(self) -> str:
        """pip-audit's rule: the summary if any, else the details, on one line."""
        text = self.summary if self.summary is not None else self.details
        return (text if text is not None else "N/A").replace("\n", " ")

    def as_mapping(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=True)


def parse_document(raw: bytes, name: str) -> list[dict[str, Any]]:
    """The record mappings in one file: JSON or YAML, one record or a list of them.

    Raises ValueError with a short reason when the file is neither.
    """
    lower = name.lower()
    try:
        if lower.endswith(".json"):
            data = json.loads(raw)
        else:
            loader = getattr(yaml, "CBaseLoader", yaml.BaseLoader)
            yaml_depth.check(raw, loader)  # libyaml's composer recurses in C: deep nesting would crash the gate
            data = yaml.load(raw, Loader=loader)  # noqa: S506 - BaseLoader builds only str/list/dict
    except (ValueError, yaml.YAMLError) as exc:
        raise ValueError(f"not valid {'JSON' if lower.endswith('.json') else 'YAML'}: {str(exc).splitlines()[0]}") from None
    items = data if isinstance(data, list) else [data]
    if not items or not all(isinstance(i, dict) for i in items):
        raise ValueError("not an OSV record (expected a mapping with an `id`)")
    return items
