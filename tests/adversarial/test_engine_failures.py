"""Scanner-engine failures fail closed: when fickling or modelscan raises on a file, the
default policy's verdict is `error` (exit 2), and only `fail_on_scanner_error: false`
lets it pass. The engines are made to raise in-process, through `scanfile`, with the
worker pool replaced by one that runs `scan_file` in this process (monkeypatching
cannot reach real worker processes).
"""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from mlsecops import cli, pipeline
from mlsecops import fixtures as fx
from mlsecops.stages.models import stage as models_stage
from mlsecops.stages.models.scanfile import FileResult, Task, scan_file
from mlsecops.stages.models.spawn import WorkerStarter
from tests.adversarial.harness import policy_file

BENIGN_WITH_IMPORT = fx.pickle2(fx.call(fx.glob2("collections", "OrderedDict")))


class InProcessPool:
    """WorkerPool's interface, scanning in this process (so monkeypatches apply)."""

    def __init__(self, size: int, starter: WorkerStarter) -> None:
        self.workdir = starter.workdir

    def run(self, tasks: list[Task], timeout: float) -> Iterator[FileResult]:
        for n, task in enumerate(tasks):
            tmp = self.workdir / f"task-{n}"
            tmp.mkdir(parents=True, exist_ok=True)
            yield scan_file(task.model_copy(update={"tmpdir": str(tmp)}))


def _boom(*args: object, **kwargs: object) -> None:
    raise RuntimeError("engine exploded on hostile input")


@pytest.fixture
def in_process(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(models_stage, "WorkerPool", InProcessPool)
    saved = signal.getsignal(signal.SIGTERM)
    yield
    signal.signal(signal.SIGTERM, saved)


def _scan(tmp_path: Path, files: dict[str, bytes], *extra: str) -> tuple[int, dict]:
    root = tmp_path / "ws"
    root.mkdir(exist_ok=True)
    for name, data in files.items():
        (root / name).write_bytes(data)
    report = tmp_path / "report.json"
    code = cli.main(["scan", str(root), "--stages", "models", "--no-cache", "-q", "--json", str(report),
                     "--sarif", str(tmp_path / "report.sarif"), *extra])
    return code, json.loads(report.read_text())


@pytest.mark.parametrize("engine", ["fickling", "modelscan"])
def test_an_engine_that_raises_fails_closed_by_default(engine: str, tmp_path: Path, in_process: None,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    if engine == "fickling":
        import fickling.analysis

        monkeypatch.setattr(fickling.analysis, "check_safety", _boom)
    else:
        from mlsecops.stages.models.engines import modelscan_engine

        monkeypatch.setattr(modelscan_engine, "_run", _boom)
    code, report = _scan(tmp_path, {"model.pkl": BENIGN_WITH_IMPORT})
    assert code == 2 and report["verdict"] == "error", report
    assert any(engine in e["message"] and "exploded" in e["message"] for e in report["errors"]), report["errors"]

    open_policy = policy_file(tmp_path / "open", fail_on_scanner_error=False)
    code, report = _scan(tmp_path, {"model.pkl": BENIGN_WITH_IMPORT}, "--policy", str(open_policy))
    assert code == 0 and report["verdict"] == "pass", report
    assert report["errors"], "the error is still reported when the policy does not fail on it"


def test_a_raising_engine_cannot_hide_what_mlsecops_found(tmp_path: Path, in_process: None,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    import fickling.analysis

    from mlsecops.stages.models.engines import modelscan_engine

    monkeypatch.setattr(fickling.analysis, "check_safety", _boom)
    monkeypatch.setattr(modelscan_engine, "_run", _boom)
    open_policy = policy_file(tmp_path / "open", fail_on_scanner_error=False)
    code, report = _scan(tmp_path, {"evil.pkl": fx.malicious_pickle()}, "--policy", str(open_policy))
    assert code == 1 and report["verdict"] == "fail"
    assert any(f["rule_id"] == "MLS101" and f["status"] == "blocking" for f in report["findings"])


def test_a_crash_in_detection_is_one_files_error_not_the_stages(tmp_path: Path, in_process: None,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """Defence in depth behind the detector fixes: whatever detection raises costs one file."""
    real = models_stage.detect_path

    def flaky(path: Path, name: str | None = None, *rest):  # type: ignore[no-untyped-def]
        if path.name == "weird.bin":
            raise RecursionError("deep")
        return real(path, name, *rest)

    monkeypatch.setattr(models_stage, "detect_path", flaky)
    code, report = _scan(tmp_path, {"weird.bin": b"\x80\x04N.", "evil.pkl": fx.malicious_pickle()})
    assert code == 1
    assert any(e["path"] == "weird.bin" for e in report["errors"]), report["errors"]
    assert any(f["path"] == "evil.pkl" and f["status"] == "blocking" for f in report["findings"])


def test_an_unexpected_crash_exits_2_not_1(tmp_path: Path, in_process: None, monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    """A bare traceback exits 1, which CONTRACT.md reserves for "the policy failed"."""
    def explode(*args: object, **kwargs: object) -> None:
        raise ValueError("unexpected")

    monkeypatch.setattr(pipeline, "scan", explode)  # the CLI imports it when the scan starts
    root = tmp_path / "ws"
    root.mkdir()
    assert cli.main(["scan", str(root), "--stages", "models", "--no-cache", "--sarif", str(tmp_path / "s")]) == 2
    assert "internal error" in capsys.readouterr().err
