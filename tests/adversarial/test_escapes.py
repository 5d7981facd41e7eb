"""Escapes: links never followed out of the workspace, archive members never written
outside a temp folder, and file names that try to inject workflow commands, break the
SARIF, or render as active content in the PR comment stay inert everywhere.

Regression tests: one file name that is not UTF-8 used to crash the whole models
stage (pydantic refused to serialise it), losing every finding; a name with `##[`
printed by the CLI could stop the runner's command processing.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from urllib.parse import unquote_to_bytes

import jsonschema
import pytest
from markdown_it import MarkdownIt

from tests.adversarial.attacks import EVIL, tarred, zipped
from tests.adversarial.conftest import SENTINEL
from tests.adversarial.harness import run_gate
from tests.conftest import SARIF_SCHEMA, git
from tests.rendering import github_render, ragged_tables, untrusted_links

HOSTILE_NAMES: list[bytes] = [
    b"a\nb::error file=x.py::injected.pkl",
    b"::warning::line-start.pkl",
    b"%0A::error::encoded.pkl",
    b"##[stop-commands]x.pkl",
    b"x##[set-output name=verdict;]pass.pkl",
    b"<img src=x onerror=alert(1)>.pkl",
    b"<script>alert(1)<\\script>.pkl",
    b"\x1b[31mred\x1b[0m\x1b]0;title\x07.pkl",
    b"[click](https:__evil.example).pkl",
    b"![img](https:__evil.example_x.png).pkl",
    b"www.evil.example.pkl",
    b"@octocat please merge.pkl",
    b"| a | b |.pkl",
    b"`code` *em* _u_ ~~s~~.pkl",
    b"\xff\xfe not utf8 \x80.pkl",
    b"\xe2\x80\xae rtl-override.pkl",
    b"tab\there.pkl",
]


def _hostile_workspace(root: Path) -> list[str]:
    root.mkdir(parents=True, exist_ok=True)
    names = []
    for raw in HOSTILE_NAMES:
        (Path(os.fsdecode(root)) / os.fsdecode(raw)).write_bytes(EVIL)
        names.append(os.fsdecode(raw))
    (root / SENTINEL).write_bytes(EVIL)
    return names


def _command_lines(text: str) -> list[str]:
    """Lines the Actions runner would read as workflow commands (v2 `::` or legacy `##[`)."""
    return [ln for ln in text.splitlines() if ln.lstrip().startswith("::") or "##[" in ln]


@pytest.fixture(scope="module")
def hostile_run(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    tmp = tmp_path_factory.mktemp("names")
    names = _hostile_workspace(tmp / "ws")
    return names, run_gate(tmp / "ws", tmp / "out", markdown=True, timeout=180)


def test_every_hostile_name_is_scanned_and_blocked(hostile_run) -> None:  # type: ignore[no-untyped-def]
    names, run = hostile_run
    assert run.report is not None, run.stderr[-2000:]
    assert not run.errors, run.errors
    blocked = {f["path"] for f in run.findings if f["status"] == "blocking"}
    assert len(blocked) == len(names) + 1, sorted(blocked)
    assert run.code == 1


def test_cli_output_cannot_inject_workflow_commands(hostile_run) -> None:  # type: ignore[no-untyped-def]
    _, run = hostile_run
    assert not _command_lines(run.stdout), _command_lines(run.stdout)
    assert not _command_lines(run.stderr), _command_lines(run.stderr)
    assert "\x1b" not in run.stdout + run.stderr and "\u202e" not in run.stdout


def test_sarif_is_schema_valid_and_points_at_the_real_files(hostile_run) -> None:  # type: ignore[no-untyped-def]
    names, run = hostile_run
    schema = json.loads(SARIF_SCHEMA.read_text())
    sarif = json.loads((run.out / "report.sarif").read_text(encoding="utf-8"))
    jsonschema.validators.validator_for(schema)(schema).validate(sarif)
    uris = {unquote_to_bytes(r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"])
            for r in sarif["runs"][0]["results"]}
    assert {os.fsencode(n) for n in names} <= uris


def test_json_report_is_valid_utf8(hostile_run) -> None:  # type: ignore[no-untyped-def]
    _, run = hostile_run
    raw = (run.out / "report.json").read_bytes()
    raw.decode("utf-8")
    assert "\ufffd" in json.loads(raw)["findings"][0]["path"] or any("\ufffd" in f["path"] for f in run.findings)


def test_pr_comment_renders_no_active_content(hostile_run) -> None:  # type: ignore[no-untyped-def]
    _, run = hostile_run
    text = (run.out / "comment.md").read_text(encoding="utf-8")
    html = MarkdownIt("commonmark", {"html": True}).enable("table").render(text)
    tags = set(re.findall(r"<\s*([a-zA-Z][\w-]*)", html))
    assert tags <= {"h2", "h3", "p", "strong", "table", "thead", "tbody", "tr", "th", "td", "code", "sub", "details",
                    "summary", "pre", "ul", "li", "em", "br", "a"}, tags
    for raw in ("<img", "<script", "www.evil", "@octocat", "\x1b", "##[", "\u202e"):
        assert raw not in text, raw
    gfm = github_render().to_html(text)  # as GitHub renders it
    assert not untrusted_links(gfm), untrusted_links(gfm)  # the only links are the gate's own
    assert not ragged_tables(gfm)  # no name adds a table column


def test_symlinks_are_never_followed_out(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "evil.pkl").write_bytes(EVIL)
    root = tmp_path / "ws"
    root.mkdir()
    (root / SENTINEL).write_bytes(EVIL)
    (root / "model.pkl").symlink_to(outside / "evil.pkl")
    (root / "linked_dir").symlink_to(outside, target_is_directory=True)
    (root / "abs.pt").symlink_to("/etc/passwd")
    run = run_gate(root, tmp_path / "out", timeout=120)
    assert run.blocked(SENTINEL)
    paths = {f["path"] for f in run.findings}
    assert paths == {SENTINEL}, paths
    assert not run.errors


def test_committed_symlinks_are_skipped_in_diff_mode(tmp_path: Path) -> None:
    outside = tmp_path / "outside.pkl"
    outside.write_bytes(EVIL)
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    (root / "README.md").write_text("x\n")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "base")
    (root / "model.pkl").symlink_to(outside)
    (root / SENTINEL).write_bytes(EVIL)
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "head")
    run = run_gate(root, tmp_path / "out", "--base", "HEAD~1", timeout=120)
    assert {f["path"] for f in run.findings} == {SENTINEL}


def test_hardlinks_are_scanned_as_what_a_loader_would_read(tmp_path: Path) -> None:
    """A hard link is the same file, not a pointer out: it is read and judged, and nothing is written."""
    outside = tmp_path / "outside.pkl"
    outside.write_bytes(EVIL)
    root = tmp_path / "ws"
    root.mkdir()
    os.link(outside, root / "model.pkl")
    before = outside.stat()
    run = run_gate(root, tmp_path / "out", timeout=120)
    assert run.blocked("model.pkl")
    after = outside.stat()
    assert (after.st_mtime_ns, after.st_size, after.st_nlink) == (before.st_mtime_ns, before.st_size, before.st_nlink)


def test_archive_members_are_never_written_outside_a_temp_folder(tmp_path: Path) -> None:
    """`../` and absolute member names are findings; nothing lands where they point, and the
    run's temp folder is empty afterwards."""
    target = tmp_path / "landing"
    target.mkdir()
    up = "../" * 12 + str(target).lstrip("/")
    members = {f"{up}/up.pkl": EVIL, f"{target}/abs.pkl": EVIL, "C:\\Windows\\win.pkl": EVIL, "ok/../../dots.pkl": EVIL}
    deflated = zipped({k: v + b"\0" * 100 for k, v in members.items()}, 8)
    root = tmp_path / "ws"
    root.mkdir()
    (root / "traversal.zip").write_bytes(deflated)
    (root / "traversal.tar").write_bytes(tarred(members))
    (root / "traversal.tar.gz").write_bytes(tarred(members, "w:gz"))
    temp = tmp_path / "tmpdir"
    temp.mkdir()
    cwd = tmp_path / "cwd" / "a" / "b"
    cwd.mkdir(parents=True)
    run = run_gate(root, tmp_path / "out", env={"TMPDIR": str(temp)}, cwd=cwd, timeout=120)
    for name in ("traversal.zip", "traversal.tar", "traversal.tar.gz"):
        assert "MLS114" in run.rules_for(name), (name, run.rules_for(name))
        assert run.blocked(name)
    assert list(target.iterdir()) == []
    assert list(temp.iterdir()) == [], list(temp.rglob("*"))
    assert not (root / "ok").exists() and not list(cwd.rglob("*"))


def test_onnx_external_data_pointing_outside_is_a_finding(tmp_path: Path) -> None:
    pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    tensor = helper.make_tensor("w", TensorProto.FLOAT, [1], [0.0])
    tensor.data_location = TensorProto.EXTERNAL
    del tensor.float_data[:]
    tensor.external_data.add(key="location", value="../../../../etc/passwd")
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])], [tensor])
    root = tmp_path / "ws"
    root.mkdir()
    (root / "model.onnx").write_bytes(helper.make_model(graph).SerializeToString())
    run = run_gate(root, tmp_path / "out", timeout=120)
    assert "MLS114" in run.rules_for("model.onnx"), run.findings


def test_surrogate_names_serialise_through_the_worker_protocol() -> None:
    """The unit behind the regression: a lone surrogate survives the JSON line both ways."""
    from mlsecops.stages.models.policy import ModelLimits
    from mlsecops.stages.models.scanfile import FileResult, Task, from_line, to_line

    name = os.fsdecode(b"\xff\xfe.pkl")
    task = Task(source=f"/x/{name}", path=name, size=1, limits=ModelLimits(), tmpdir=".")
    assert from_line(Task, to_line(task)) == task
    result = FileResult(path=name, errors=[f"bad {name}"])
    assert from_line(FileResult, to_line(result)) == result
