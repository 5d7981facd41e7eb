"""A local OSV database (a folder or a .zip of JSON/YAML records), indexed by package.

This is the offline half of the audit: the PyPA advisory database
(`vulns/<pkg>/<ID>.yaml`) and OSV's own `PyPI/all.zip` (`<ID>.json`) both load
here. Every record is parsed once and indexed by the canonical (PEP 503) names
of the PyPI packages it affects. Parsing YAML is the slow part (seconds for a few
thousand records), so the parsed records are cached as JSON, per file, keyed by
the file's size and mtime (a zip member's CRC and size): a second run re-reads
only what changed. A record
that cannot be read is reported, never skipped in silence: it may be the one
that matters.
"""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from mlsecops.files import atomic_write
from mlsecops.stages.deps.advisories.records import OsvRecord, parse_document

CACHE_VERSION = 1
SUFFIXES = (".json", ".yaml", ".yml")
MAX_MEMBERS = 2_000_000
MAX_TOTAL_BYTES = 8 * 1024**3

Stamp = list[int]
Parsed = tuple[str, list[dict[str, Any]], str | None]


class OsvDatabaseError(Exception):
    """The database cannot be used at all (missing, not a folder or zip, empty)."""


class OsvDatabase:
    """Records by canonical package name, plus what could not be read."""

    def __init__(self, source: Path, records: Iterable[OsvRecord], problems: list[str], files: int) -> None:
        self.source = source
        self.problems = problems
        self.files = files
        self._by_package: dict[str, list[OsvRecord]] = {}
        count = 0
        for record in records:
            count += 1
            for name in record.packages():
                self._by_package.setdefault(name, []).append(record)
        for recs in self._by_package.values():
            recs.sort(key=lambda r: r.id)
        self.record_count = count

    def records(self, package: str) -> list[OsvRecord]:
        """The records that name `package` (canonical) in an affected entry."""
        return self._by_package.get(package, [])


def _folder_entries(root: Path) -> dict[str, Stamp]:
    out: dict[str, Stamp] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in filenames:
            if not name.lower().endswith(SUFFIXES):
                continue
            full = Path(dirpath, name)
            try:
                st = full.stat()
            except OSError:
                continue
            out[full.relative_to(root).as_posix()] = [st.st_size, st.st_mtime_ns]
    return out


def _zip_entries(path: Path) -> dict[str, Stamp]:
    try:
        with zipfile.ZipFile(path) as zf:
            infos = [i for i in zf.infolist() if not i.is_dir() and i.filename.lower().endswith(SUFFIXES)]
    except (OSError, zipfile.BadZipFile) as exc:
        raise OsvDatabaseError(f"advisory database {path} is not a readable zip: {exc}") from None
    if len(infos) > MAX_MEMBERS:
        raise OsvDatabaseError(f"advisory database {path} has {len(infos)} members (limit {MAX_MEMBERS})")
    if sum(i.file_size for i in infos) > MAX_TOTAL_BYTES:
        raise OsvDatabaseError(f"advisory database {path} expands to more than {MAX_TOTAL_BYTES >> 30} GiB")
    return {i.filename: [i.CRC, i.file_size] for i in infos}


def _read(kind: str, base: str, name: str, zf: zipfile.ZipFile | None, max_bytes: int) -> bytes:
    if kind == "zip":
        assert zf is not None
        with zf.open(name) as fh:
            data = fh.read(max_bytes + 1)
    else:
        with open(os.path.join(base, name), "rb") as fh:
            data = fh.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise ValueError(f"larger than {max_bytes >> 20} MB (deps.limits.max_record_mb)")
    return data


def parse_files(kind: str, base: str, names: list[str], max_bytes: int) -> list[Parsed]:
    """Parse and validate some files of the database: (name, record mappings, error)."""
    out: list[Parsed] = []
    zf = zipfile.ZipFile(base) if kind == "zip" else None
    try:
        for name in names:
            try:
                items = parse_document(_read(kind, base, name, zf, max_bytes), name)
                out.append((name, [OsvRecord.model_validate(i).as_mapping() for i in items], None))
            except ValidationError as exc:
                first = exc.errors()[0]
                where = ".".join(str(p) for p in first["loc"]) or "record"
                out.append((name, [], f"invalid OSV record ({where}: {first['msg']})"))
            except (OSError, ValueError, zipfile.BadZipFile) as exc:
                out.append((name, [], str(exc)))
    finally:
        if zf is not None:
            zf.close()
    return out


def _cache_file(cache_dir: Path, source: Path) -> Path:
    key = hashlib.sha256(str(source).encode("utf-8", "surrogateescape")).hexdigest()[:24]
    return cache_dir / "advisory-index" / f"{key}.json"


def _load_cache(path: Path, source: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict) or data.get("version") != CACHE_VERSION or data.get("source") != str(source):
        return {}
    entries = data.get("entries")
    return entries if isinstance(entries, dict) else {}


INDEX_CHUNK = 500  # files parsed between two progress reports


def load(path: Path, cache_dir: Path | None = None, max_record_mb: float = 16,
         progress: Callable[[int, int], None] | None = None) -> OsvDatabase:
    """Load and index the database at `path`; raises OsvDatabaseError when unusable.
    `progress(done, total)` is told how far the parsing of uncached files is (a first run
    over a large database takes tens of seconds)."""
    try:
        source = path.expanduser().resolve(strict=True)
    except OSError as exc:
        raise OsvDatabaseError(f"advisory database {path} cannot be read: {exc.strerror or exc}") from None
    if source.is_dir():
        kind, entries = "folder", _folder_entries(source)
    elif source.is_file() and zipfile.is_zipfile(source):
        kind, entries = "zip", _zip_entries(source)
    else:
        raise OsvDatabaseError(f"advisory database {path} is neither a folder nor a .zip of OSV records")
    if not entries:
        raise OsvDatabaseError(f"advisory database {path} holds no .json/.yaml/.yml OSV records")
    cache_path = _cache_file(cache_dir, source) if cache_dir else None
    cached = _load_cache(cache_path, source) if cache_path else {}
    fresh: dict[str, Any] = {}
    todo: list[str] = []
    for name, stamp in entries.items():
        hit = cached.get(name)
        if isinstance(hit, dict) and hit.get("stamp") == stamp:
            fresh[name] = hit
        else:
            todo.append(name)
    max_bytes = int(max_record_mb * 1024 * 1024)
    todo.sort()
    for start in range(0, len(todo), INDEX_CHUNK):
        for name, records, error in parse_files(kind, str(source), todo[start:start + INDEX_CHUNK], max_bytes):
            fresh[name] = {"stamp": entries[name], "records": records, "error": error}
        if progress is not None and len(todo) > INDEX_CHUNK:
            progress(min(start + INDEX_CHUNK, len(todo)), len(todo))
    if cache_path and todo:
        try:
            atomic_write(cache_path, json.dumps({"version": CACHE_VERSION, "source": str(source), "entries": fresh}))
        except OSError:
            pass  # a read-only cache folder only costs time
    problems: list[str] = []
    records: list[OsvRecord] = []
    for name in sorted(fresh):
        entry = fresh[name]
        if entry.get("error"):
            problems.append(f"{name}: {entry['error']}")
            continue
        for item in entry.get("records") or []:
            try:
                records.append(OsvRecord.model_validate(item))
            except ValidationError:
                problems.append(f"{name}: invalid cached record (delete {cache_path})")
    if not records:
        raise OsvDatabaseError(f"advisory database {path} has no readable OSV record ({len(problems)} unreadable)")
    return OsvDatabase(source, records, problems, len(entries))
