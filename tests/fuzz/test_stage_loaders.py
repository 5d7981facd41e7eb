"""Changed safetensors, npy, ONNX and PyTorch files: the loader fuzzer (and ONNX inference
fuzzing) runs on each inside the budget, finds the model that produces Inf, and replays."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import make_repo
from tests.fuzz.fixtures import npy_bytes, onnx_bytes, run_stage, safetensors_bytes, torch_bytes
from tests.load import slowdown


def _models() -> dict[str, bytes]:
    files = {"models/w.safetensors": safetensors_bytes(), "data/a.npy": npy_bytes(), "models/net.onnx": onnx_bytes(0.0)}
    try:
        files["models/ckpt.pt"] = torch_bytes()
    except ImportError:
        pass
    return files


def test_changed_model_files_are_fuzzed_inside_the_budget(tmp_path):
    repo = tmp_path / "repo"
    files = _models()
    make_repo(repo, {"README.md": "x\n"}, files)
    factor = slowdown()  # four or five sandboxed starts (torch's alone takes seconds): scaled when loaded
    budget = 20 * factor
    result, seconds = run_stage(repo, tmp_path / "work", budget=budget)
    assert seconds <= budget + 10 * factor, (seconds, budget)
    assert not result.errors, result.errors
    assert result.stats["targets"] == len(files) + 1  # one loader target per file, plus ONNX inference
    assert "skipped" not in result.stats
    assert result.stats["executions"] > 100
    assert result.stats["crashes"] == len(result.findings)
    nonfinite = [f for f in result.findings if f.rule_id == "MLS306"]
    assert nonfinite and nonfinite[0].path == "models/net.onnx"
    assert nonfinite[0].properties["loader"] == "onnxruntime"
    for f in result.findings:
        assert f.stage.value == "fuzz" and f.line == 1 and f.fingerprint and f.reproducer
        assert f.properties.get("loader_version")
    proc = subprocess.run([sys.executable, "-m", "mlsecops.stages.fuzz.replay", "--inference", "models/net.onnx",
                           str(nonfinite[0].properties["reproducer_path"]), "--json"], cwd=repo,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert '"MLS306"' in proc.stdout


def test_a_tiny_npy_declaring_a_huge_array_is_a_memory_finding_that_replays(tmp_path):
    header = b"{'descr': '<f8', 'fortran_order': False, 'shape': (2147483647,), }"
    header += b" " * (63 - len(header) % 64) + b"\n"
    crafted = b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header + b"\x00" * 64
    path = tmp_path / "huge.npy"
    path.write_bytes(crafted)
    proc = subprocess.run([sys.executable, "-m", "mlsecops.stages.fuzz.replay", "--loader", "numpy", str(path), "--json"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert '"kind": "oom"' in proc.stdout and '"MLS305"' in proc.stdout


def test_a_file_that_itself_crashes_its_loader_is_reported_as_the_pr_s_file(tmp_path):
    header = b"{'descr': '<f8', 'fortran_order': False, 'shape': (2147483647,), }"
    header += b" " * (63 - len(header) % 64) + b"\n"
    crafted = b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header + b"\x00" * 64
    repo = tmp_path / "repo"
    make_repo(repo, {"data/a.npy": npy_bytes()}, {"data/a.npy": crafted})
    # 8 s when idle: fuzzing, a replay that confirms the crash, and a start on the base version to
    # compare; each is a sandboxed start, so a loaded machine gets proportionally more.
    result, _ = run_stage(repo, tmp_path / "work", budget=8 * slowdown())
    oom = [f for f in result.findings if f.rule_id == "MLS305"]
    assert oom, [f.message for f in result.findings]
    assert "as committed" in oom[0].message and oom[0].properties["pre_existing"] is False
    assert oom[0].properties["base"] == "no such crash on the base version"


@pytest.mark.slow
def test_all_mode_without_git_fuzzes_every_model_file(tmp_path):
    folder = tmp_path / "plain"
    folder.mkdir()
    (folder / "w.safetensors").write_bytes(safetensors_bytes())
    (folder / "notes.txt").write_text("not a model")
    factor = slowdown()
    result, seconds = run_stage(folder, tmp_path / "work", budget=6 * factor, base=None)
    assert result.stats["targets"] == 1 and seconds <= (6 + 10) * factor
