"""The gate's side of the sandbox: build a jail spec, start the jail, enforce the deadline.

Every fuzz target runs as `jail -> worker` in a fresh temp folder (its HOME and
TMPDIR), with an environment rebuilt from nothing but PATH and locale (no
token, no CI variable), Python started with -P -s (no current folder or user
site on sys.path), and Landlock allowing reads of the Python install, system
libraries and, for harnesses, the repository *without* `.git` (through a
folder of symlinks, see `repo_view`). The jail enforces limits; this module is
the backstop: if the jail itself overruns by more than a grace period, its
whole tree is stopped and killed from here. `StageGuard` makes the gate a
child subreaper and non-dumpable while the stage runs, so an orphan that
escaped a killed jail comes back to us, and no sandboxed process of the same
user can read the gate's /proc environ or ptrace it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType

import mlsecops
from mlsecops import processes
from mlsecops.stages.fuzz import proctree
from mlsecops.stages.fuzz.spec import JailSpec, JailStatus, Limits

ENV_KEEP = ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ")
SYSTEM_READ = ("/usr", "/lib", "/lib32", "/lib64", "/bin", "/sbin", "/etc", "/proc/cpuinfo", "/proc/meminfo",
               "/proc/stat", "/proc/sys", "/sys/devices/system/cpu", "/sys/fs/cgroup", "/dev/urandom",
               "/dev/random", "/dev/zero")
GRACE = 3.0


def scrubbed_env(home: Path, source: dict[str, str] | None = None) -> dict[str, str]:
    """Only PATH and locale survive; everything else is set by us."""
    src = os.environ if source is None else source
    env = {k: src[k] for k in ENV_KEEP if k in src}
    env.setdefault("PATH", "/usr/local/bin:/usr/bin:/bin")
    env.update(
        HOME=str(home), TMPDIR=str(home), PYTHONPATH=str(home / "lib"), PYTHONNOUSERSITE="1",
        PYTHONDONTWRITEBYTECODE="1", PYTHONHASHSEED="0", PYTHONUNBUFFERED="1", PYTHONFAULTHANDLER="1",
        OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1", HDF5_USE_FILE_LOCKING="FALSE",
        MPLBACKEND="Agg", TORCH_DISABLE_ADDR2LINE="1",
    )
    return env


def _python_paths() -> list[str]:
    """The interpreter, its prefixes and site-packages; never a folder that is a git checkout."""
    paths = {sys.prefix, sys.base_prefix, sys.exec_prefix, os.path.dirname(os.path.realpath(sys.executable))}
    for entry in sys.path:
        if entry and os.path.isdir(entry) and not os.path.exists(os.path.join(entry, ".git")):
            paths.add(os.path.realpath(entry))
    return sorted(p for p in paths if p and p != "/")


def prepare_home(home: Path) -> None:
    """The sandbox folder, with `lib/mlsecops` pointing at our package (PYTHONPATH)."""
    (home / "lib").mkdir(parents=True, exist_ok=True)
    link = home / "lib" / "mlsecops"
    if not link.exists():
        link.symlink_to(Path(mlsecops.__file__).resolve().parent, target_is_directory=True)


def repo_view(root: Path, home: Path) -> tuple[Path, list[str]]:
    """A folder of symlinks to every top-level entry of `root` except `.git`.

    Landlock grants whole hierarchies; this way the harness can import and read
    the repository while the git folder (which may hold a persisted token) is
    outside anything it was granted.
    """
    view = home / "repo"
    view.mkdir(parents=True, exist_ok=True)
    granted: list[str] = []
    for entry in sorted(os.listdir(root)):
        if entry == ".git" or (view / entry).exists():
            continue
        target = root / entry
        (view / entry).symlink_to(target, target_is_directory=target.is_dir())
        granted.append(str(target.resolve()))
    return view, granted


def build_spec(argv: list[str], home: Path, timeout: float, limits: Limits, idle_timeout: float | None = None,
               extra_read: list[str] | None = None, interactive: bool = False) -> JailSpec:
    prepare_home(home)
    read = [*SYSTEM_READ, *_python_paths(), str(Path(mlsecops.__file__).resolve().parent), *(extra_read or [])]
    return JailSpec(
        argv=argv, cwd=str(home), env=scrubbed_env(home), timeout=timeout, idle_timeout=idle_timeout,
        heartbeat=str(home / "inflight.bin"), status_path=str(home / "status.json"),
        stdout_path=None if interactive else str(home / "stdout.txt"), stderr_path=str(home / "stderr.txt"),
        limits=limits, read_paths=read, write_paths=[str(home), "/dev/null"],
    )


def worker_argv(*args: str) -> list[str]:
    return [sys.executable, "-P", "-s", "-m", "mlsecops.stages.fuzz.worker", *args]


class Jail:
    """One sandboxed run. `interactive` connects the worker's stdin/stdout to us."""

    def __init__(self, spec: JailSpec, interactive: bool = False) -> None:
        self.spec = spec
        self.home = Path(spec.cwd)
        spec_path = self.home / "jail.json"
        spec_path.write_text(spec.model_dump_json())
        Path(spec.status_path).unlink(missing_ok=True)
        self.deadline = time.monotonic() + spec.timeout + GRACE
        pipe = subprocess.PIPE if interactive else subprocess.DEVNULL
        self.proc = subprocess.Popen(
            [sys.executable, "-P", "-s", "-m", "mlsecops.stages.fuzz.jail", str(spec_path)],
            cwd=spec.cwd, env=spec.env, stdin=pipe, stdout=pipe, stderr=subprocess.DEVNULL,
            start_new_session=True, close_fds=True,
        )

    def alive(self) -> bool:
        return self.proc.poll() is None

    def wait(self) -> JailStatus:
        """Wait for the jail (never past its deadline plus grace), then read its status."""
        while self.proc.poll() is None and time.monotonic() < self.deadline:
            time.sleep(0.02)
        if self.proc.poll() is None:
            self.kill()
            return JailStatus(reason="deadline", message="the sandbox overran its deadline and was killed")
        return self.status()

    def stop(self) -> JailStatus:
        """Ask the jail to end the worker now (SIGTERM), then wait briefly."""
        if self.proc.poll() is None:
            try:
                self.proc.send_signal(signal.SIGTERM)
            except ProcessLookupError:
                pass
            self.deadline = min(self.deadline, time.monotonic() + GRACE)
        return self.wait()

    def kill(self) -> None:
        proctree.kill_tree(self.proc.pid, include_root=True)  # descendants that left the group with setsid
        processes.kill_group(self.proc)

    def status(self) -> JailStatus:
        try:
            return JailStatus.model_validate_json(Path(self.spec.status_path).read_bytes())
        except (OSError, ValueError):
            return JailStatus(reason="spawn-failed", message=f"the jail ended without a status (exit {self.proc.returncode})")

    def stderr(self, limit: int = 256 * 1024) -> str:
        return _tail(Path(self.spec.stderr_path), limit)


def _tail(path: Path, limit: int) -> str:
    try:
        with path.open("rb") as fh:
            fh.seek(max(0, path.stat().st_size - limit))
            return fh.read().decode("utf-8", "replace")
    except OSError:
        return ""


def run(spec: JailSpec) -> tuple[JailStatus, str]:
    """Run to completion (or deadline); the status and the worker's stderr tail."""
    jail = Jail(spec)
    status = jail.wait()
    return status, jail.stderr()


class StageGuard:
    """For the stage's duration: we are a child subreaper and not dumpable; strays are killed at exit."""

    def __enter__(self) -> StageGuard:
        self.was_subreaper = proctree.is_subreaper()
        self.was_dumpable = processes.is_dumpable()
        self.before = set(proctree.children(os.getpid()))
        proctree.set_subreaper(True)
        processes.set_dumpable(False)
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        for pid in proctree.children(os.getpid()):
            if pid not in self.before:
                proctree.kill_tree(pid, include_root=True, limit=1.0)
                try:
                    os.waitpid(pid, 0)
                except ChildProcessError:
                    pass
        proctree.set_subreaper(self.was_subreaper)
        processes.set_dumpable(self.was_dumpable)
