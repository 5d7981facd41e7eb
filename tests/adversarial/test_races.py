"""Files that change mid-scan are errors (fail closed), never a hang, never followed out,
and never scanned as something other than what was listed; the rest of the scan goes on.

Regression tests: a file swapped for a FIFO after listing blocked a worker until its
deadline, and the gate itself forever if the swap came before detection (a plain
`open()` in the parent, where no deadline runs); a swapped-in symlink was followed out
of the workspace; a file that grew was scanned only up to its listed size, silently.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.adversarial.races import RACES, run_race
from tests.load import slowdown

EXPECTED_ERROR = {
    "vanish": "vanished",
    "grow": "changed during the scan",
    "shrink": "changed during the scan",
    "fifo-swap": "not a regular file",
    "symlink-swap": "symlink",
}


@pytest.mark.parametrize("kind", sorted(RACES))
def test_a_file_that_changes_mid_scan_is_an_error_and_the_rest_goes_on(kind: str, tmp_path: Path) -> None:
    factor = slowdown()
    outcome = run_race(kind, tmp_path)
    assert outcome["sentinel"], outcome
    assert any(EXPECTED_ERROR[kind] in e for e in outcome["errors"]), outcome  # not the per-file deadline's error
    assert outcome["seconds"] < 30 * factor, outcome  # far from the 120 s deadline, on this machine now
    if kind == "symlink-swap":
        assert not outcome["findings"], "the symlink was followed out of the workspace"


def test_detection_never_opens_a_fifo(tmp_path: Path) -> None:
    import os

    from mlsecops.formats.detect import detect_path

    fifo = tmp_path / "model.pkl"
    os.mkfifo(fifo)
    with pytest.raises(OSError):
        detect_path(fifo)
