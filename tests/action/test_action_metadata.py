"""action.yml, the Dockerfile and the example workflows: valid, and in step with the contract and the code."""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.action.action_support import REPO_ROOT
from mlsecops import __version__, install
from mlsecops.action.inputs import _FIELDS, ActionInputs

_spec = importlib.util.spec_from_file_location("pin_action_image", REPO_ROOT / "scripts" / "pin_action_image.py")
assert _spec and _spec.loader
pin_action_image = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(pin_action_image)

CONTRACT_INPUTS = {"path", "policy", "stages", "fuzz-budget", "advisory-db", "sarif-file", "comment",
                   "github-token", "base-ref", "head-ref"}
CONTRACT_OUTPUTS = {"verdict", "findings", "blocking", "sarif-file"}


def _check_jsonschema() -> str:
    exe = Path(sys.executable).with_name("check-jsonschema")
    found = str(exe) if exe.exists() else shutil.which("check-jsonschema")
    if not found:
        pytest.skip("check-jsonschema is not installed")
    return found


def _action(path: str = "action.yml") -> dict:
    return yaml.safe_load((REPO_ROOT / path).read_text())


def test_action_yml_is_valid_against_the_published_schema() -> None:
    proc = subprocess.run([_check_jsonschema(), "--builtin-schema", "vendor.github-actions", str(REPO_ROOT / "action.yml"),
                           str(REPO_ROOT / "from-source" / "action.yml")], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_the_action_runs_the_release_image_pinned_by_tag_and_digest() -> None:
    runs = _action()["runs"]
    assert set(runs) == {"using", "image"} and runs["using"] == "docker"
    ref = pin_action_image.parse(runs["image"])  # docker://IMAGE:vX.Y.Z@sha256:<64 hex>, or ValueError
    assert ref.image == install.IMAGE and ref.tag == f"v{__version__}" == install.for_version().ref
    assert pin_action_image.runs_image((REPO_ROOT / "action.yml").read_text()) == runs["image"]


def test_the_release_step_pins_a_pushed_digest(tmp_path: Path) -> None:
    copy = tmp_path / "action.yml"
    copy.write_text((REPO_ROOT / "action.yml").read_text())
    digest = "sha256:" + "ab" * 32
    assert pin_action_image.main([str(copy), "--image", install.IMAGE, "--tag", "v9.8.7", "--digest", digest]) == 0
    after = yaml.safe_load(copy.read_text())
    assert after["runs"]["image"] == f"docker://{install.IMAGE}:v9.8.7@{digest}"
    assert {k: v for k, v in after.items() if k != "runs"} == {k: v for k, v in _action().items() if k != "runs"}
    assert pin_action_image.main([str(copy), "--check", "--tag", "v9.8.7"]) == 0
    assert pin_action_image.main([str(copy), "--check", "--tag", "v9.8.8"]) == 1
    # the placeholder is never written, and a reference without a digest is not a pin
    assert pin_action_image.main([str(copy), "--image", install.IMAGE, "--tag", "v1.0.0",
                                  "--digest", pin_action_image.UNPUBLISHED]) == 1
    for bad in ("docker://ghcr.io/mlsecops/mlsecops:v1.0.0", "docker://ghcr.io/mlsecops/mlsecops@" + digest,
                "docker://ghcr.io/mlsecops/mlsecops:latest@" + digest, "Dockerfile", f"docker://{install.IMAGE}:v1.0.0@sha256:abc"):
        with pytest.raises(ValueError):
            pin_action_image.parse(bad)


def test_the_from_source_action_matches_the_release_action() -> None:
    release, source = _action(), _action("from-source/action.yml")
    assert source["inputs"] == release["inputs"] and source["outputs"] == release["outputs"]
    assert source["runs"] == {"using": "docker", "image": "../Dockerfile"}
    assert (REPO_ROOT / "from-source" / source["runs"]["image"]).resolve() == REPO_ROOT / "Dockerfile"


def test_example_workflows_are_valid_workflows() -> None:
    workflows = sorted((REPO_ROOT / "examples" / "workflows").glob("*.yml"))
    assert len(workflows) >= 4
    proc = subprocess.run([_check_jsonschema(), "--builtin-schema", "vendor.github-workflows", *map(str, workflows)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_inputs_and_outputs_follow_the_contract() -> None:
    action = _action()
    assert CONTRACT_INPUTS <= set(action["inputs"])
    assert set(action["inputs"]) == set(_FIELDS)  # every input is read, nothing read is undeclared
    assert set(action["outputs"]) == CONTRACT_OUTPUTS
    assert action["inputs"]["github-token"]["default"] == "${{ github.token }}"
    assert "args" not in action["runs"]  # no arguments: the entrypoint runs the Action, not the CLI
    for name, spec in action["inputs"].items():
        assert spec.get("required") is False, name
        assert spec.get("description"), name


def test_defaults_match_the_adapter() -> None:
    defaults = ActionInputs()
    action = _action()["inputs"]
    assert action["path"]["default"] == defaults.path
    assert action["sarif-file"]["default"] == defaults.sarif_file
    assert action["stages"]["default"] == ",".join(s.value for s in defaults.stages)
    assert action["comment"]["default"] == str(defaults.comment).lower()


def test_dockerfile_shape() -> None:
    text = (REPO_ROOT / "Dockerfile").read_text()
    code = [line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    assert code[0] == "ARG BASE_IMAGE=python:3.11-slim"
    assert len(re.findall(r"^FROM \$\{BASE_IMAGE\}", text, re.M)) == 3  # context, build, final: one base
    assert "-c constraints.txt" in text and "--only-binary=:all:" in text
    assert re.search(r'^ENTRYPOINT \[.*"/opt/mlsecops/entrypoint.py"\]$', text, re.M)
    assert "useradd" in text and "--uid 10001" in text
    # The legacy builder must build it: no BuildKit-only syntax (globs in COPY sources that may
    # match nothing, --mount/--link/--chmod flags, heredocs, a syntax directive).
    assert not re.search(r"^#\s*syntax=", text, re.M | re.I)
    for line in code:
        if line.startswith(("COPY", "ADD")):
            assert not re.search(r"[\[\]*?]", line.split()[1]) and "--link" not in line and "--chmod" not in line, line
        assert "--mount=" not in line and "<<" not in line, line
    ignore = [line for line in (REPO_ROOT / ".dockerignore").read_text().splitlines() if line and line[0] != "#"]
    assert ignore[0] == "*" and "!mlsecops/" in ignore  # a whitelist: anything new stays out of the context


def test_workflows_pin_third_party_actions_by_sha_and_ours_by_release() -> None:
    files = sorted((REPO_ROOT / "examples" / "workflows").glob("*.yml")) + sorted((REPO_ROOT / ".github" / "workflows").glob("*.yml"))
    seen = 0
    for path in files:
        for line in path.read_text().splitlines():
            m = re.match(r"^\s*(?:-\s+)?uses:\s*(\S+)(.*)$", line)
            if not m:
                continue
            seen += 1
            ref, rest = m.groups()
            if ref.startswith("mlsecops/mlsecops@"):
                assert ref == f"mlsecops/mlsecops@{install.for_version().ref}", (path.name, line)
                continue
            if ref.startswith(f"docker://{install.IMAGE}"):  # our image: the same tag and digest as action.yml
                assert ref == pin_action_image.runs_image((REPO_ROOT / "action.yml").read_text()), (path.name, line)
                continue
            assert re.fullmatch(r"[\w.-]+/[\w./-]+@[0-9a-f]{40}", ref), (path.name, line)
            assert re.match(r"\s+# v\d+\.\d+\.\d+$", rest), f"{path.name}: say which release the SHA is: {line}"
    assert seen >= 10
