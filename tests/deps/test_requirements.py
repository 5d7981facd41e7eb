"""requirements files: pip's syntax, includes kept inside the root, loops, depth, and bad lines."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlsecops.changes import changeset as changes
from mlsecops.stages.deps.manifests import requirements, select
from mlsecops.stages.deps.manifests.interface import ManifestError, ParsedManifest
from mlsecops.stages.deps.manifests.reader import ManifestReader

from .conftest import write_tree


def parse(tmp_path: Path, files: dict[str, str], rel: str = "requirements.txt", depth: int = 8, max_bytes: int = 1 << 20) -> ParsedManifest:
    root = write_tree(tmp_path / "repo", files)
    reader = ManifestReader(changes.build(root, tmp_path), max_bytes)
    return select.parse(rel, reader, depth)


def pins(m: ParsedManifest) -> list[tuple[str, str, str, int | None]]:
    return [(p.path, p.name, p.version, p.line) for p in m.pins]


def test_pip_syntax_comments_continuations_hashes_markers_extras(tmp_path: Path) -> None:
    text = (
        "# a comment\n"
        "jinja2==2.10  # trailing comment\n"
        "\n"
        "requests[socks]==2.19.0 ; python_version >= \"3\"\n"
        "numpy==1.21.0 \\\n"
        "    --hash=sha256:aaaa \\\n"
        "    --hash=sha256:bbbb\n"
        "torch===1.13.0\n"
        "scipy==1.5.0; sys_platform == 'win32'\n"
        "--index-url https://example.invalid/simple\n"
    )
    m = parse(tmp_path, {"requirements.txt": text})
    assert pins(m) == [
        ("requirements.txt", "jinja2", "2.10", 2),
        ("requirements.txt", "requests", "2.19.0", 4),
        ("requirements.txt", "numpy", "1.21.0", 5),
        ("requirements.txt", "torch", "1.13.0", 8),
        ("requirements.txt", "scipy", "1.5.0", 9),  # audited whatever the marker says
    ]
    assert m.problems == [] and m.unpinned == []


def test_ranges_and_wildcards_are_unpinned(tmp_path: Path) -> None:
    m = parse(tmp_path, {"requirements.txt": "flask>=1.0\nbaz==1.*\nqux\nok==1.0,>=0.5\n"})
    assert [(u.name, u.line) for u in m.unpinned] == [("flask", 1), ("baz", 2), ("qux", 3)]
    assert pins(m) == [("requirements.txt", "ok", "1.0", 4)]


def test_malformed_lines_are_problems_with_their_line_and_the_rest_is_read(tmp_path: Path) -> None:
    m = parse(tmp_path, {"requirements.txt": "jinja2==2.10\nthis is not valid\n==1.0\n--no-such-option\nqux===weird!\nrequests==2.19.0\n"})
    assert pins(m) == [("requirements.txt", "jinja2", "2.10", 1), ("requirements.txt", "requests", "2.19.0", 6)]
    assert [p.line for p in m.problems] == [2, 3, 4, 5]
    assert "not a PEP 440 version" in m.problems[-1].message


def test_includes_are_relative_to_the_including_file_and_pins_keep_their_own_file(tmp_path: Path) -> None:
    m = parse(tmp_path, {
        "requirements.txt": "-r reqs/base.txt\njinja2==2.10\n",
        "reqs/base.txt": "\n\n--requirement=../common/c.txt\nurllib3==1.24.1\n",
        "common/c.txt": "pyyaml==5.3\n",
    })
    assert pins(m) == [("common/c.txt", "pyyaml", "5.3", 1), ("reqs/base.txt", "urllib3", "1.24.1", 4), ("requirements.txt", "jinja2", "2.10", 2)]
    assert m.files == ["requirements.txt", "reqs/base.txt", "common/c.txt"]


def test_a_file_included_twice_is_read_once(tmp_path: Path) -> None:
    m = parse(tmp_path, {"requirements.txt": "-r a.txt\n-r b.txt\n", "a.txt": "-r c.txt\n", "b.txt": "-r c.txt\n", "c.txt": "pyyaml==5.3\n"})
    assert pins(m) == [("c.txt", "pyyaml", "5.3", 1)] and m.problems == []


def test_include_loop_is_reported_with_its_chain(tmp_path: Path) -> None:
    m = parse(tmp_path, {"requirements.txt": "jinja2==2.10\n-r a.txt\n", "a.txt": "pyyaml==5.3\n-r requirements.txt\n"})
    assert pins(m) == [("requirements.txt", "jinja2", "2.10", 1), ("a.txt", "pyyaml", "5.3", 1)]
    (problem,) = m.problems
    assert (problem.path, problem.line) == ("a.txt", 2)
    assert "include loop: requirements.txt -> a.txt -> requirements.txt" in problem.message


def test_self_include_is_a_loop(tmp_path: Path) -> None:
    m = parse(tmp_path, {"requirements.txt": "-r requirements.txt\n"})
    assert "include loop" in m.problems[0].message


def test_include_depth_is_bounded(tmp_path: Path) -> None:
    files = {f"r{i}.txt": f"-r r{i + 1}.txt\n" for i in range(6)}
    files["r6.txt"] = "jinja2==2.10\n"
    m = parse(tmp_path, files, rel="r0.txt", depth=3)
    assert pins(m) == []
    (problem,) = m.problems
    assert problem.path == "r3.txt" and "max_include_depth" in problem.message


@pytest.mark.parametrize(
    ("line", "reason"),
    [("-r ../outside.txt", "outside the scanned folder"), ("-r /etc/passwd", "outside the scanned folder"),
     ("-r https://example.invalid/reqs.txt", "not fetched"), ("-c missing.txt", "cannot include"),
     ("-r link.txt", "outside the scanned folder")],
)
def test_includes_never_leave_the_root_or_reach_the_network(tmp_path: Path, line: str, reason: str) -> None:
    (tmp_path / "outside.txt").write_text("evil==1.0\n")
    root = write_tree(tmp_path / "repo", {"requirements.txt": f"{line}\njinja2==2.10\n"})
    (root / "link.txt").symlink_to(tmp_path / "outside.txt")
    reader = ManifestReader(changes.build(root, tmp_path), 1 << 20)
    m = select.parse("requirements.txt", reader, 8)
    assert pins(m) == [("requirements.txt", "jinja2", "2.10", 2)]
    assert len(m.problems) == 1 and reason in m.problems[0].message and m.problems[0].line == 1


def test_constraints_pins_are_audited_and_settle_unpinned_requirements(tmp_path: Path) -> None:
    m = parse(tmp_path, {"requirements.txt": "-c constraints.txt\nflask\nrequests>=2\n", "constraints.txt": "flask==0.12\nidna<3\n"})
    assert [(c.name, c.version, c.path) for c in m.constraints] == [("flask", "0.12", "constraints.txt")]
    audited, left = select.settle(m, None)
    assert [(p.name, p.path, p.line) for p in audited] == [("flask", "constraints.txt", 1)]
    assert [u.name for u in left] == ["requests"]  # `idna<3` constrains; it is not a requirement


def test_a_constraints_file_of_its_own_reports_no_unpinned(tmp_path: Path) -> None:
    m = parse(tmp_path, {"constraints.txt": "idna<3\nurllib3==1.24.1\n"}, rel="constraints.txt")
    assert m.unpinned == [] and [c.name for c in m.constraints] == ["urllib3"]


def test_requirements_in_is_settled_by_the_compiled_txt(tmp_path: Path) -> None:
    root = write_tree(tmp_path / "repo", {"requirements.in": "jinja2\nflask\n", "requirements.txt": "jinja2==2.10\n"})
    reader = ManifestReader(changes.build(root, tmp_path), 1 << 20)
    m = select.parse("requirements.in", reader, 8)
    audited, left = select.settle(m, select.companion(m, reader, 8))
    assert [(p.name, p.path, p.line) for p in audited] == [("jinja2", "requirements.txt", 1)]
    assert [u.name for u in left] == ["flask"]


def test_urls_vcs_and_local_paths(tmp_path: Path) -> None:
    text = (
        "foo @ https://example.invalid/foo-1.0-py3-none-any.whl\n"
        "https://example.invalid/dl/bar-2.0.tar.gz#sha256=abc\n"
        "git+https://example.invalid/x/y.git#egg=y\n"
        "-e git+https://example.invalid/a/b.git@v1#egg=b\n"
        "-e .\n"
        "./libs/vendored\n"
        "./wheels/torch-1.13.0-cp310-cp310-linux_x86_64.whl\n"
        "https://example.invalid/download?id=3\n"
    )
    m = parse(tmp_path, {"requirements.txt": text})
    assert [(p.name, p.version, p.line) for p in m.pins] == [("foo", "1.0", 1), ("bar", "2.0", 2), ("torch", "1.13.0", 7)]
    assert m.problems == []
    assert [(u.reason, u.line) for u in m.unaudited] == [("git", 3), ("git", 4), ("url", 8)]
    assert m.local == 2


def test_huge_and_unreadable_manifests_raise(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match="max_manifest_mb"):
        parse(tmp_path, {"requirements.txt": "jinja2==2.10\n" * 2000}, max_bytes=10_000)
    root = write_tree(tmp_path / "repo2", {"requirements.txt": "x==1\n"})
    reader = ManifestReader(changes.build(root, tmp_path), 1 << 20)
    with pytest.raises(ManifestError, match="cannot read"):
        requirements.parse("nope.txt", reader, 8)
