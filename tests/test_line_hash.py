"""Our `primaryLocationLineHash` is upload-sarif's, value for value.

The expected hashes were computed by codeql-action's own `fingerprints.hash` (recorded in
tests/data/codeql_line_hashes.json). With CODEQL_ACTION_BUILD set to a compiled codeql-action
(`build/` folder) and node installed, the same inputs are also hashed by it live.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.line_hash_cases import cases
from mlsecops.reporters.line_hash import line_hashes, read_text

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = json.loads((ROOT / "tests/data/codeql_line_hashes.json").read_text())["cases"]
CASES = cases()


def test_every_recorded_case_is_generated() -> None:
    assert set(GOLDEN) == set(CASES)


@pytest.mark.parametrize("name", sorted(CASES))
def test_matches_codeql_action(name: str) -> None:
    got = line_hashes(CASES[name])
    want = GOLDEN[name]
    assert len(got) == want["lines"] and got[:3] == want["first"]
    assert hashlib.sha256("\n".join(got).encode()).hexdigest() == want["sha256"]


def test_a_known_value_by_hand() -> None:
    # One line "a": 'a' (97), LF, the end marker, then zeros; the marker opens line 2.
    powers = [pow(37, 99 - j, 1 << 64) for j in range(100)]
    line1 = (97 * powers[0] + 10 * powers[1] + 65535 * powers[2]) % (1 << 64)
    assert line_hashes(b"a\n") == [f"{line1:x}:1", f"{65535 * powers[0] % (1 << 64):x}:1"]
    # Blanks do not count, CRLF is LF: the same line hashes the same.
    assert line_hashes(b"  a \t\r\n") == line_hashes(b"a\n")


def test_repeated_lines_count_their_occurrences() -> None:
    hashes = line_hashes(b"x\n" * 120)
    assert len({h.split(":")[0] for h in hashes[:20]}) == 1  # far from the end the windows are equal
    assert [h.split(":")[1] for h in hashes[:3]] == ["1", "2", "3"]
    assert len({h.split(":")[0] for h in hashes[-50:]}) == 50  # near it the end marker and zeros differ


@pytest.mark.skipif(not (os.environ.get("CODEQL_ACTION_BUILD") and shutil.which("node")),
                    reason="set CODEQL_ACTION_BUILD to a compiled codeql-action build/ folder (and install node) to hash live")
def test_matches_codeql_action_live(tmp_path: Path) -> None:
    files = {}
    for name, data in CASES.items():
        (tmp_path / name).write_bytes(data)
        files[str(tmp_path / name)] = data
    out = subprocess.run(["node", str(ROOT / "benchmarks/upload_sarif_harness.js"), "hash", *files],
                         capture_output=True, text=True, check=True, timeout=600)
    theirs = json.loads(out.stdout)
    for path, data in files.items():
        assert line_hashes(data) == [h for _, h in theirs[path]], path


def test_read_text_takes_small_regular_text_files_only(tmp_path: Path) -> None:
    (tmp_path / "req.txt").write_bytes(b"requests==2.0\n")
    (tmp_path / "model.bin").write_bytes(b"\x80\x04\x00abc")
    (tmp_path / "model.pkl").write_bytes(b"\x80\x04\x8c\x02os")  # no NUL, but not UTF-8
    (tmp_path / "big.txt").write_bytes(b"a" * 101)
    (tmp_path / "link.txt").symlink_to(tmp_path / "req.txt")
    os.mkfifo(tmp_path / "fifo")
    assert read_text(tmp_path / "req.txt", 100) == b"requests==2.0\n"
    for name in ("model.bin", "model.pkl", "big.txt", "link.txt", "fifo", "missing", "."):
        assert read_text(tmp_path / name, 100) is None, name
