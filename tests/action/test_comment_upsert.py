"""Finding the sticky comment again: marker, workflow, author; and no duplicate after a flaky POST."""

from __future__ import annotations

from tests.action.action_support import TOKEN, ApiServer, FakeGitHub
from mlsecops.action import comment
from mlsecops.action.api import GitHubApi
from mlsecops.action.redact import Redactor
from mlsecops.reporters.markdown import MARKER


def _api(url: str) -> GitHubApi:
    return GitHubApi(url, TOKEN, Redactor(TOKEN), deadline_seconds=10)


def test_marker_rules() -> None:
    body = comment.with_markers(f"{MARKER}\n## report\n", "CI / gate")
    assert body.startswith(f"{MARKER}\n<!-- mlsecops:workflow CI / gate -->\n## report")
    ours = {"body": body, "user": {"type": "Bot"}}
    assert comment.is_ours(ours, "CI / gate")
    assert not comment.is_ours(ours, "nightly")  # another workflow keeps its own comment
    assert not comment.is_ours({**ours, "user": {"type": "User"}, "author_association": "CONTRIBUTOR"}, "CI / gate")
    assert comment.is_ours({**ours, "user": {"type": "User"}, "author_association": "MEMBER"}, "CI / gate")
    assert not comment.is_ours({"body": "quote: " + body, "user": {"type": "Bot"}}, "CI / gate")
    marker = comment.workflow_marker("x --> <script>")
    inner = marker[len("<!-- "):-len(" -->")]
    assert "--" not in inner and "<" not in inner and ">" not in inner


def test_found_on_a_later_page_and_updated() -> None:
    with ApiServer(FakeGitHub(page_size=2)) as gh:
        for i in range(5):
            gh.add_comment(f"comment {i}")
        gh.add_comment(comment.with_markers(MARKER + "\nold", "wf"), user="github-actions[bot]", kind="Bot")
        result = comment.upsert(_api(gh.url), "o/r", 3, MARKER + "\nnew", "wf")
        assert result.action == "updated"
        assert gh.comments[-1]["body"].endswith("new") and len(gh.comments) == 6
        pages = [r["query"] for r in gh.requests if r["method"] == "GET"]
        assert len(pages) == 3


def test_a_post_that_failed_but_landed_is_not_duplicated() -> None:
    with ApiServer(FakeGitHub()) as gh:
        # The first POST "fails" with a 502 after the server stored the comment.
        api = _api(gh.url)
        original = api.request
        calls = {"n": 0}

        def request(method, path, **kw):  # type: ignore[no-untyped-def]
            if method == "POST" and calls["n"] == 0:
                calls["n"] += 1
                original(method, path, **kw)  # stored...
                from mlsecops.action.api import ApiError

                raise ApiError("POST: HTTP 502", 502, retryable=True)  # ...but reported as failed
            return original(method, path, **kw)

        api.request = request  # type: ignore[method-assign]
        result = comment.upsert(api, "o/r", 3, MARKER + "\nbody", "wf")
        assert result.action == "updated"
        assert len(gh.comments) == 1


def _render(resolved: bool) -> str:
    state = "resolved" if resolved else "pass"
    return f"{MARKER}\n<!-- mlsecops:state {state} -->\n## {'resolved' if resolved else 'passed'}\n"


def test_nothing_scanned_and_no_earlier_comment_posts_nothing() -> None:
    with ApiServer(FakeGitHub()) as gh:
        result = comment.sync(_api(gh.url), "o/r", 3, "wf", _render, scanned=False)
        assert result.action == "skipped" and "changes nothing" in result.reason
        assert gh.comments == [] and not [r for r in gh.requests if r["method"] in ("POST", "PATCH")]


def test_an_earlier_blocking_comment_turns_into_resolved() -> None:
    with ApiServer(FakeGitHub()) as gh:
        gh.add_comment(comment.with_markers(MARKER + "\n<!-- mlsecops:state fail -->\n## blocked", "wf"),
                       user="github-actions[bot]", kind="Bot")
        result = comment.sync(_api(gh.url), "o/r", 3, "wf", _render, scanned=False)  # e.g. the bad files were deleted
        assert result.action == "updated" and len(gh.comments) == 1
        assert "<!-- mlsecops:state resolved -->" in gh.comments[0]["body"] and "## resolved" in gh.comments[0]["body"]


def test_a_pass_after_a_pass_is_a_plain_pass_and_a_first_scan_posts() -> None:
    with ApiServer(FakeGitHub()) as gh:
        first = comment.sync(_api(gh.url), "o/r", 3, "wf", _render, scanned=True)
        assert first.action == "created"
        gh.comments[0]["user"], gh.comments[0]["author_association"] = {"login": "github-actions[bot]", "type": "Bot"}, "NONE"
        again = comment.sync(_api(gh.url), "o/r", 3, "wf", _render, scanned=True)
        assert again.action == "updated" and "## passed" in gh.comments[0]["body"] and len(gh.comments) == 1
