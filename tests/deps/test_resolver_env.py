"""The opt-in resolver runs pip, which may run sdist build code from the PR: it gets no secrets."""

from __future__ import annotations

from pathlib import Path

from mlsecops.stages.deps.resolver import child_env


def test_pip_child_environment_is_scrubbed(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    for k, v in {"GITHUB_TOKEN": "ghs_x", "ACTIONS_RUNTIME_TOKEN": "r", "AWS_SECRET_ACCESS_KEY": "s",
                 "PIP_INDEX_URL": "https://mirror/simple", "PIP_TOKEN_HELPER": "x", "HTTPS_PROXY": "http://proxy:3128"}.items():
        monkeypatch.setenv(k, v)
    env = child_env(tmp_path)
    assert env["PIP_INDEX_URL"] == "https://mirror/simple" and env["HTTPS_PROXY"] == "http://proxy:3128"
    assert env["HOME"] == str(tmp_path)
    assert not {"GITHUB_TOKEN", "ACTIONS_RUNTIME_TOKEN", "AWS_SECRET_ACCESS_KEY", "PIP_TOKEN_HELPER"} & set(env)
