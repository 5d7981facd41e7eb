"""What the gate tells the jail to run, and what the jail reports back.

The jail (`jail.py`) is a small supervisor process between the gate and the
untrusted worker; these two models are the JSON that crosses that boundary,
as a spec file going in and a status file coming out.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Reason = Literal["exited", "signaled", "hang", "deadline", "memory", "processes", "spawn-failed"]


class Limits(BaseModel):
    model_config = ConfigDict(extra="forbid")

    memory_mb: int = Field(description="resident memory of the whole worker tree")
    address_space_mb: int = Field(description="RLIMIT_AS backstop per process")
    cpu_seconds: int
    file_mb: int = 256
    open_files: int = 1024
    extra_processes: int = Field(default=512, description="RLIMIT_NPROC headroom (binds non-root users only)")
    max_processes: int = Field(default=256, description="processes in the worker tree; more is a fork bomb (root too)")


class JailSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    argv: list[str]
    cwd: str
    env: dict[str, str]
    timeout: float = Field(description="wall-clock seconds before the worker tree is killed")
    idle_timeout: float | None = Field(default=None, description="busy on one input this long is a hang")
    heartbeat: str | None = None
    status_path: str
    stdout_path: str | None = Field(default=None, description="None: inherit the jail's stdout (a pipe)")
    stderr_path: str
    limits: Limits
    read_paths: list[str] = Field(default_factory=list, description="Landlock: read-only hierarchies")
    write_paths: list[str] = Field(default_factory=list, description="Landlock: read-write hierarchies")
    isolate_network: bool = True


class JailStatus(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Reason
    returncode: int | None = None
    signal: int | None = None
    seconds: float = 0.0
    peak_rss_mb: float = 0.0
    network_isolated: bool = False
    landlock_abi: int = 0
    strays_killed: int = 0
    message: str = ""
