"""Workflow commands and the log: escaped by the runner's rules, inert when untrusted, never the token."""

from __future__ import annotations

import io

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.action.action_support import TOKEN, parse_command
from mlsecops.action import commands
from mlsecops.action.redact import LogStream, Redactor
from mlsecops.findings import Severity, Stage
from mlsecops.reporters import github
from mlsecops.reporters.escape import inert_log
from mlsecops.verdict import JudgedFinding, Status, Verdict

_PIECES = st.one_of(st.characters(blacklist_categories=("Cs", "Cc", "Cf", "Zl", "Zp")),
                    st.sampled_from(["\n", "%", ":", ",", "=", "::", "%0A", "%25", "%3A", "##["]))
_TEXT = st.lists(_PIECES, max_size=30).map("".join)


@settings(max_examples=300, deadline=None)
@given(message=_TEXT, file=_TEXT, title=_TEXT)
def test_annotation_round_trips_through_the_runner_parser(message: str, file: str, title: str) -> None:
    line = github.command("error", message, file=file or None, title=title or None)
    assert "\n" not in line and "\r" not in line
    kind, props, data = parse_command(line)  # type: ignore[misc]
    assert kind == "error"
    assert data == message
    assert props.get("file", "") == file.strip()
    assert props.get("title", "") == title.strip()


def test_control_and_bidi_characters_are_dropped() -> None:
    kind, props, data = parse_command(github.command("warning", "a\rb\x1b[31mc\u202ed", file="x\u2066y"))  # type: ignore[misc]
    assert data == "abcd" and props["file"] == "xy"


def _finding(path: str, message: str, status: Status = Status.blocking) -> JudgedFinding:
    return JudgedFinding(rule_id="MLS101", stage=Stage.models, severity=Severity.critical, path=path, line=3,
                         message=message, status=status, fingerprint="f")


def test_annotations_escape_and_cap() -> None:
    evil = "m.pkl,line=99::\n::add-mask::x"
    verdict = Verdict(verdict="fail", findings=[_finding(evil, "boom%0A\n::stop-commands::t")] * 12
                      + [_finding("a.pkl", "meh", Status.advisory)] * 3, uri_prefix="sub")
    lines = github.annotations(verdict, reserved_warnings=1)
    errors = [parse_command(x) for x in lines if x.startswith("::error")]
    warnings = [parse_command(x) for x in lines if x.startswith("::warning")]
    assert len(errors) == 10 and len(warnings) == 3
    assert errors[0][1] == {"file": f"sub/{evil}", "line": "3", "title": "mlsecops MLS101 (critical, blocking)"}
    assert errors[0][2].startswith("boom%0A\n::stop-commands::t")
    assert "3 more" in errors[-1][2]
    assert all(line.count("\n") == 0 for line in lines)


def test_inert_log_breaks_both_command_syntaxes() -> None:
    text = "  ::error::x\nfile ##[add-mask]secret\n::set-output name=v::pass\nplain: text :: here"
    out = inert_log(text)
    assert all(parse_command(line) is None for line in out.splitlines())
    assert "##[" not in out
    assert out.replace("\u200b", "") == text


def test_log_stream_redacts_and_neutralises() -> None:
    raw = io.StringIO()
    log = LogStream(raw, Redactor(TOKEN))
    log.write(f"token {TOKEN} in an error\n::warning::forged\n")
    commands.message(log, "warning", f"real warning with {TOKEN}")
    out = raw.getvalue()
    assert TOKEN not in out and "***" in out
    lines = out.splitlines()
    assert parse_command(lines[1]) is None
    assert parse_command(lines[2])[0] == "warning"  # type: ignore[index]


def test_redactor_covers_basic_auth_and_token_shapes() -> None:
    import base64

    redact = Redactor(TOKEN)
    basic = base64.b64encode(f"x-access-token:{TOKEN}".encode()).decode()
    assert redact(f"Authorization: basic {basic}") == "Authorization: basic ***"
    assert redact("other ghp_abcdefghijklmnopqrstuvwxyz0123456789 here") == "other *** here"
    assert redact.bytes(TOKEN.encode() + b"!") == b"***!"


def test_add_mask_and_stop_resume() -> None:
    raw = io.StringIO()
    commands.add_mask(raw, TOKEN)
    log = LogStream(raw, Redactor(TOKEN))
    token = commands.stop(log)
    log.write("::error::from a scanned file\n")
    commands.resume(log, token)
    lines = raw.getvalue().splitlines()
    assert lines[0] == f"::add-mask::{TOKEN}"
    assert parse_command(lines[1]) == ("stop-commands", {}, token)
    assert parse_command(lines[2]) is None
    assert parse_command(lines[3]) == (token, {}, "")
    assert len(token) > 30
