"""The `models:` section of a policy."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from mlsecops.formats.kinds import NAMES as FORMAT_NAMES
from mlsecops.policy.checks import one_of
from mlsecops.policy.common import SeverityOrOff, Strict, Threshold
from mlsecops.policy.patterns import ImportGlob

ENGINES = ("mlsecops", "fickling", "modelscan")
"""The engines `models.engines` may name (scanfile.py runs them by these names)."""

EngineName = Annotated[str, one_of(ENGINES, "engine")]
FormatName = Annotated[str, one_of(FORMAT_NAMES, "format")]


class ModelLimits(Strict):
    """Bounds on what one file may cost; exceeding one is a finding, never a hang."""

    max_file_mb: int = Field(default=100 * 1024, ge=1, description="larger files are not read")
    max_depth: int = Field(default=8, ge=1, le=64, description="nested containers")
    max_members: int = Field(default=20_000, ge=1, description="members per archive")
    max_expanded_mb: int = Field(default=4096, ge=1, description="bytes decompressed per file")
    max_pickle_mb: int = Field(default=256, ge=1, description="largest pickle read from an archive")
    max_opcodes: int = Field(default=20_000_000, ge=1000)
    engine_max_opcodes: int = Field(
        default=300_000,
        ge=1000,
        description="fickling and modelscan see pickles up to this many opcodes",
    )
    timeout_seconds: float = Field(default=120, gt=0, description="per file")
    memory_mb: int = Field(default=2048, ge=256, description="per scanning worker")


class ModelsPolicy(Strict):
    fail_on: Threshold = "high"
    unknown_globals: SeverityOrOff = Field(
        default="medium",
        description="severity of an import that is neither allowlisted nor known-dangerous, "
        "from a third-party module",
    )
    unknown_calls: SeverityOrOff = Field(
        default="high",
        description="severity of such an import when the pickle calls it with arguments and nothing in the "
        "pickle shows it is a class (a function, or a callable handed to code that calls it)",
    )
    allow_globals: list[ImportGlob] = Field(
        default_factory=list, description="extra allowlist entries, 'module:name' globs"
    )
    deny_globals: list[ImportGlob] = Field(
        default_factory=list, description="extra denylist entries, 'module:name' globs"
    )
    allowed_formats: list[FormatName] = Field(
        default_factory=list, description="when set, any other model format is a finding"
    )
    blocked_formats: list[FormatName] = Field(default_factory=list)
    blocked_format_severity: SeverityOrOff = "high"
    engines: list[EngineName] = Field(
        default_factory=lambda: ["mlsecops", "fickling", "modelscan"],
        description="engines to run; mlsecops's own analysis always runs",
    )
    limits: ModelLimits = Field(default_factory=ModelLimits)
