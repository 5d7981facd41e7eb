"""The `deps:` section of a policy."""

from __future__ import annotations

from datetime import date

from pydantic import Field

from mlsecops.policy.common import NonEmpty, SeverityOrOff, Strict, Threshold


class VulnIgnore(Strict):
    """Ignore one vulnerability (by id or any alias) for a while, with a reason."""

    id: NonEmpty
    reason: NonEmpty
    expires: date
    packages: list[str] = Field(default_factory=list, description="limit to these packages")


class DepsPolicy(Strict):
    fail_on: Threshold = "high"
    unknown_severity: SeverityOrOff = Field(
        default="high", description="severity of an advisory that does not state one"
    )
    unpinned: SeverityOrOff = Field(
        default="medium", description="severity of a requirement that is not pinned exactly"
    )
    resolve: bool = Field(
        default=False,
        description="resolve unpinned requirements with pip (can run sdist build code)",
    )
    skip_packages: list[str] = Field(default_factory=list)
    ignore: list[VulnIgnore] = Field(default_factory=list)
    manifests: list[str] = Field(
        default_factory=lambda: [
            "**/requirements*.txt",
            "**/requirements*.in",
            "**/requirements/*.txt",
            "**/requirements/*.in",
            "**/constraints*.txt",
            "**/pyproject.toml",
            "**/pylock.toml",
            "**/pylock.*.toml",
            "**/uv.lock",
            "**/poetry.lock",
            "**/Pipfile.lock",
        ],
        description="globs of the dependency manifests to audit",
    )
    timeout_seconds: float = Field(default=120, gt=0, description="the whole stage")
