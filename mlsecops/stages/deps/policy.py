"""The `deps:` section of a policy: what blocks, what is ignored, and the stage's bounds.

Every key is optional. `ignore` entries are applied by the judge (by vulnerability
id or alias); `skip_packages` is applied by the stage itself, before anything is
audited. `limits` bound what one run may cost: a manifest larger than the limit,
an include chain deeper than the limit or a service slower than the timeout is a
stage error, never a hang and never a silent pass. What the stage reads but
cannot audit (a git source, a conda package that is no PyPI project, a computed
setup.py value) and a repository where it finds no dependency at all are
findings whose severity is set here, so a team decides how loud they are.
"""

from __future__ import annotations

from datetime import date

from pydantic import Field

from mlsecops.policy.common import NonEmpty, SeverityOrOff, Strict, Threshold
from mlsecops.policy.patterns import PackageName, PathGlobs


class VulnIgnore(Strict):
    """Ignore one vulnerability (by id or any alias) for a while, with a reason."""

    id: NonEmpty
    reason: NonEmpty
    expires: date
    packages: list[PackageName] = Field(default_factory=list, description="limit to these packages")


class DepsLimits(Strict):
    """Bounds on what the deps stage may read, recurse into and wait for."""

    max_manifest_mb: float = Field(default=8, gt=0, le=1024, description="larger manifests are not read")
    max_include_depth: int = Field(default=8, ge=1, le=64, description="nested -r/-c includes")
    max_packages: int = Field(default=10_000, ge=1, description="requirements per manifest")
    request_timeout_seconds: float = Field(
        default=15, gt=0, le=600, description="one request to the OSV service"
    )
    max_record_mb: float = Field(
        default=16, gt=0, le=1024, description="largest single OSV record read from the advisory database"
    )


class DepsPolicy(Strict):
    fail_on: Threshold = "high"
    unknown_severity: SeverityOrOff = Field(
        default="high", description="severity of an advisory that does not state one"
    )
    unpinned: SeverityOrOff = Field(
        default="medium", description="severity of a requirement that is not pinned exactly"
    )
    unaudited: SeverityOrOff = Field(
        default="medium",
        description="severity of a dependency that cannot be audited: its source is git/hg/svn or a URL that "
        "names no release, or setup.py/pyproject computes it",
    )
    conda_unmapped: SeverityOrOff = Field(
        default="low",
        description="severity of the one finding per conda environment file that lists its packages with no PyPI "
        "project (the interpreter, C libraries, CUDA)",
    )
    no_manifest: SeverityOrOff = Field(
        default="low", description="severity of the finding that a whole-tree scan found no dependency declared anywhere"
    )
    conda_names: dict[str, list[str]] = Field(
        default_factory=dict, description="conda package -> the PyPI projects it holds, over the shipped map"
    )
    resolve: bool = Field(
        default=False,
        description="resolve unpinned requirements with pip (can run sdist build code)",
    )
    skip_packages: list[PackageName] = Field(default_factory=list)
    ignore: list[VulnIgnore] = Field(default_factory=list)
    manifests: PathGlobs = Field(
        default_factory=lambda: [
            "**/*requirements*.txt",
            "**/*requirements*.in",
            "**/requirements/*.txt",
            "**/requirements/*.in",
            "**/*constraints*.txt",
            "**/pyproject.toml",
            "**/setup.py",
            "**/setup.cfg",
            "**/Pipfile",
            "**/environment*.yml",
            "**/environment*.yaml",
            "**/pylock.toml",
            "**/pylock.*.toml",
            "**/uv.lock",
            "**/poetry.lock",
            "**/Pipfile.lock",
        ],
        description="globs of the dependency manifests to audit",
    )
    installers: PathGlobs = Field(
        default_factory=lambda: [
            "**/Dockerfile",
            "**/Dockerfile.*",
            "**/*.Dockerfile",
            "**/*.dockerfile",
            "**/Containerfile",
            "**/tox.ini",
            "**/noxfile.py",
            "**/Makefile",
            "**/*.mk",
            "**/*.sh",
            "**/justfile",
            ".github/workflows/*.yml",
            ".github/workflows/*.yaml",
            "**/.gitlab-ci.yml",
            ".circleci/config.yml",
            "**/azure-pipelines.yml",
            "**/.travis.yml",
            "**/Jenkinsfile",
            "**/.readthedocs.yml",
            "**/.readthedocs.yaml",
        ],
        description="globs of files whose `pip install -r X` (or `-c X`, `pip-sync X`) lines make X a manifest",
    )
    timeout_seconds: float = Field(default=120, gt=0, description="the whole stage")
    limits: DepsLimits = Field(default_factory=DepsLimits)
