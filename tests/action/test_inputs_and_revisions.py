"""INPUT_* as the runner names them, and which commits each event compares."""

from __future__ import annotations

import pytest

from tests.action.action_support import TOKEN
from mlsecops.action import inputs, revisions
from mlsecops.action.runtime import Event
from mlsecops.findings import Stage


def test_runner_names_keep_hyphens() -> None:
    assert inputs.env_name("fuzz-budget") == "INPUT_FUZZ-BUDGET"
    assert inputs.env_name("github-token") == "INPUT_GITHUB-TOKEN"


def test_inputs_from_env() -> None:
    env = {"INPUT_STAGES": " models , deps ", "INPUT_FUZZ-BUDGET": "12.5", "INPUT_COMMENT": "False",
           "INPUT_SARIF-FILE": "out/x.sarif", "INPUT_GITHUB-TOKEN": TOKEN, "INPUT_POLICY": "", "INPUT_BASE-REF": ""}
    got = inputs.read(env)
    assert got.stages == [Stage.models, Stage.deps]
    assert got.fuzz_budget == 12.5 and got.comment is False and got.sarif_file == "out/x.sarif"
    assert got.policy is None and got.base_ref is None
    assert got.github_token is not None and got.github_token.get_secret_value() == TOKEN
    assert TOKEN not in repr(got)


@pytest.mark.parametrize(("name", "value", "expect"), [
    ("STAGES", "deps,bogus", "input 'stages': unknown stage 'bogus'"),
    ("FUZZ-BUDGET", "soon", "input 'fuzz-budget'"),
    ("FUZZ-BUDGET", "99999", "input 'fuzz-budget'"),
    ("COMMENT", "maybe", "input 'comment': must be true or false"),
    ("BASE-REF", "--upload-pack=evil", "input 'base-ref': not a git revision"),
])
def test_bad_inputs_name_the_input(name: str, value: str, expect: str) -> None:
    with pytest.raises(inputs.InputError, match=expect.replace("(", r"\(")):
        inputs.read({f"INPUT_{name}": value})


def _event(**kw: object) -> Event:
    return Event.model_validate(kw)


PR = {"number": 5, "pull_request": {"number": 5, "base": {"sha": "a" * 40}, "head": {"sha": "b" * 40}}}


@pytest.mark.parametrize(("event_name", "payload", "base", "head", "pr"), [
    ("pull_request", PR, "a" * 40, "b" * 40, 5),
    ("pull_request_target", PR, "a" * 40, "b" * 40, 5),
    ("push", {"before": "c" * 40, "after": "d" * 40}, "c" * 40, "d" * 40, None),
    ("push", {"before": "0" * 40, "after": "d" * 40, "created": True}, None, None, None),
    ("push", {"before": "c" * 40, "after": "0" * 40, "deleted": True}, None, None, None),
    ("merge_group", {"merge_group": {"base_sha": "e" * 40, "head_sha": "f" * 40}}, "e" * 40, "f" * 40, None),
    ("schedule", {}, None, None, None),
    ("workflow_dispatch", {}, None, None, None),
])
def test_what_each_event_compares(event_name: str, payload: dict, base: str | None, head: str | None, pr: int | None) -> None:
    revs = revisions.choose(inputs.ActionInputs(), event_name, _event(**payload))
    assert (revs.base, revs.head, revs.pr_number) == (base, head, pr)
    assert revs.reason


def test_inputs_override_the_event() -> None:
    revs = revisions.choose(inputs.ActionInputs(base_ref="v1.0"), "pull_request", _event(**PR))
    assert (revs.base, revs.head, revs.pr_number) == ("v1.0", "b" * 40, 5)
