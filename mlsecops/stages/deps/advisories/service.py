"""pip-audit `VulnerabilityService`s: the local OSV database, and OSV itself (or a mirror).

Both hand pip-audit the same `VulnerabilityResult`s, built the way pip-audit's
own OSV service builds them (`VulnerabilityResult.create`: PYSEC ids first,
withdrawn records dropped, the summary as description), so an offline audit
reports the same ids as `pip-audit -s osv` against the same records. Each
service also remembers the raw records behind its answers, which is where the
severity comes from: pip-audit's results do not carry it. `GuardedService`
wraps either one with the stage's deadline and turns every way a query can fail
(HTTP errors, refused connections, timeouts, malformed answers) into one
`AdvisoryServiceError` with a message a person can act on.
"""

from __future__ import annotations

import json
import time
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any, cast

import requests
from packaging.version import Version
from pip_audit._service import (
    Dependency,
    OsvService,
    ResolvedDependency,
    ServiceError,
    VulnerabilityResult,
    VulnerabilityService,
)
from pip_audit._service.interface import VulnerabilityID
from pydantic import ValidationError

from mlsecops.stages.deps.advisories.matching import affects, fix_versions
from mlsecops.stages.deps.advisories.osv_db import OsvDatabase
from mlsecops.stages.deps.advisories.records import OsvRecord

QUERY_PATH = "/v1/query"


class AdvisoryServiceError(ServiceError):
    """A query could not be answered; nothing after it was checked."""


def query_url(osv_url: str | None) -> str:
    """The query endpoint for `--osv-url`: a base URL (mirror) or the full `/v1/query` URL."""
    if not osv_url:
        return OsvService.DEFAULT_OSV_URL
    url = osv_url.strip().rstrip("/")
    if url.endswith(QUERY_PATH):
        return url
    if url.endswith("/v1"):
        return url + "/query"
    return url + QUERY_PATH


def _published(text: str | None) -> datetime | None:
    try:
        return VulnerabilityService._parse_rfc3339(text)
    except ValueError:
        return None


def result_for(record: OsvRecord, fixes: list[Version]) -> VulnerabilityResult:
    ids = [VulnerabilityID(i) for i in record.ids()]
    return VulnerabilityResult.create(ids=ids, description=record.description(), fix_versions=fixes, published=_published(record.published))


class RecordKeeper:
    """The raw OSV records behind the results given for each package."""

    def __init__(self) -> None:
        self._records: dict[str, dict[str, OsvRecord]] = {}

    def keep(self, package: str, record: OsvRecord) -> None:
        self._records.setdefault(package, {})[record.id] = record

    def records_for(self, package: str, ids: set[str]) -> list[OsvRecord]:
        """The records of `package` whose id is one of `ids` (a result's id and aliases)."""
        return [r for rid, r in sorted(self._records.get(package, {}).items()) if rid in ids]


class OfflineOsvService(VulnerabilityService):
    """Answers from a local OSV database; never touches the network."""

    def __init__(self, db: OsvDatabase) -> None:
        self.db = db
        self.keeper = RecordKeeper()

    def query(self, spec: Dependency) -> tuple[Dependency, list[VulnerabilityResult]]:
        if spec.is_skipped():
            return spec, []
        dep = cast(ResolvedDependency, spec)
        package = dep.canonical_name
        results: list[VulnerabilityResult] = []
        for record in self.db.records(package):
            if record.withdrawn is not None:
                continue
            if record.schema_version and not record.schema_version.startswith("1."):
                continue  # pip-audit skips schema versions it does not know, so do we
            if not affects(record, package, dep.version):
                continue
            self.keeper.keep(package, record)
            results.append(result_for(record, fix_versions(record, package)))
        return spec, results


class OnlineOsvService(OsvService):
    """pip-audit's own OSV service, keeping the records it receives (for their severity)."""

    def __init__(self, osv_url: str | None, timeout: float, cache_dir: Path) -> None:
        super().__init__(cache_dir=cache_dir, timeout=cast(int, timeout), osv_url=query_url(osv_url))
        self.request_timeout = timeout
        self.keeper = RecordKeeper()
        self._last: list[dict[str, Any]] = []
        self.session.hooks["response"].append(self._capture)

    def _capture(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        try:
            body = response.json() if response.ok and response.content else {}
        except ValueError:
            body = {}
        vulns = body.get("vulns") if isinstance(body, dict) else None
        self._last = [v for v in vulns if isinstance(v, dict)] if isinstance(vulns, list) else []

    def query(self, spec: Dependency) -> tuple[Dependency, list[VulnerabilityResult]]:
        self._last = []
        spec, results = super().query(spec)
        package = spec.canonical_name
        for raw in self._last:
            try:
                self.keeper.keep(package, OsvRecord.model_validate(raw))
            except ValidationError:
                continue  # pip-audit used what it could; severity falls back to unknown
        return spec, [self._with_fixes(package, r) for r in results]

    def _with_fixes(self, package: str, result: VulnerabilityResult) -> VulnerabilityResult:
        """Every fixed release of the result's records: pip-audit reads fixes only from a range whose
        package name is spelled canonically ("PyYAML" gets none) and only from the first one."""
        fixes = set(result.fix_versions)
        for record in self.keeper.records_for(package, {result.id, *result.aliases}):
            fixes.update(fix_versions(record, package))
        return replace(result, fix_versions=sorted(fixes))


class GuardedService(VulnerabilityService):
    """Any service, bounded by a deadline, failing with one kind of error that names it."""

    def __init__(self, inner: OfflineOsvService | OnlineOsvService, deadline: float, where: str) -> None:
        self.inner = inner
        self.deadline = deadline
        self.where = where
        self.queries = 0

    @property
    def keeper(self) -> RecordKeeper:
        return self.inner.keeper

    def query(self, spec: Dependency) -> tuple[Dependency, list[VulnerabilityResult]]:
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise AdvisoryServiceError(f"{self.where}: the stage ran out of time (deps.timeout_seconds)")
        if isinstance(self.inner, OnlineOsvService):
            # One request may not outlive the stage: its timeout is capped by the time left.
            self.inner.timeout = cast(int, max(0.1, min(self.inner.request_timeout, remaining)))
        self.queries += 1
        try:
            return self.inner.query(spec)
        except AdvisoryServiceError:
            raise
        except requests.HTTPError as exc:
            status = exc.response.status_code if exc.response is not None else "?"
            raise AdvisoryServiceError(f"{self.where} answered HTTP {status} for {spec.name}") from exc
        except ServiceError as exc:
            cause = exc.__cause__ or exc
            raise AdvisoryServiceError(f"{self.where} failed for {spec.name}: {_reason(cause)}") from exc
        except requests.RequestException as exc:
            raise AdvisoryServiceError(f"{self.where} cannot be reached: {_reason(exc)}") from exc
        except (ValueError, KeyError, TypeError, json.JSONDecodeError) as exc:
            raise AdvisoryServiceError(f"{self.where} sent an answer that is not OSV JSON for {spec.name}: {_reason(exc)}") from exc


def _reason(exc: BaseException) -> str:
    if isinstance(exc, requests.HTTPError) and exc.response is not None:
        return f"HTTP {exc.response.status_code}"
    if isinstance(exc, requests.Timeout):
        return "timed out"
    if isinstance(exc, requests.ConnectionError):
        return "connection failed"
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:200]
