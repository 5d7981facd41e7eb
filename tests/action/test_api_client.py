"""The REST client: retries with backoff, GitHub's rate-limit headers, one deadline, and the token
sent only to the API's own origin and never shown in an error."""

from __future__ import annotations

import time
from typing import Any

import pytest
import requests

from tests.action.action_support import TOKEN
from mlsecops.action.api import ApiError, GitHubApi
from mlsecops.action.redact import Redactor

API = "https://ghe.example/api/v3"


def _resp(status: int, body: Any = None, headers: dict[str, str] | None = None, url: str = API) -> requests.Response:
    import json

    r = requests.Response()
    r.status_code = status
    r._content = json.dumps(body if body is not None else {}).encode()
    r.headers.update(headers or {})
    r.url = url
    return r


class FakeSession:
    def __init__(self, answers: list[Any]) -> None:
        self.answers = answers
        self.calls: list[tuple[str, str, dict[str, str]]] = []

    def request(self, method: str, url: str, headers: dict[str, str], **kw: Any) -> requests.Response:
        assert kw["timeout"], "every request has a timeout"
        self.calls.append((method, url, headers))
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


def _api(answers: list[Any], deadline: float = 100.0) -> tuple[GitHubApi, FakeSession, list[float]]:
    session = FakeSession(answers)
    slept: list[float] = []
    clock = [0.0]

    def sleep(s: float) -> None:
        slept.append(s)
        clock[0] += s

    api = GitHubApi(API, TOKEN, Redactor(TOKEN), deadline_seconds=deadline, session=session,  # type: ignore[arg-type]
                    sleep=sleep, clock=lambda: clock[0])
    return api, session, slept


def test_5xx_and_network_errors_are_retried_with_backoff() -> None:
    api, session, slept = _api([_resp(502), requests.ConnectionError("reset"), _resp(200, [1])])
    assert api.request("GET", "/repos/o/r/issues/1/comments").json() == [1]
    assert len(session.calls) == 3 and len(slept) == 2 and slept[1] > slept[0] * 1.2
    method, url, headers = session.calls[0]
    assert url == f"{API}/repos/o/r/issues/1/comments"  # GHES: GITHUB_API_URL with a path prefix
    assert headers["Authorization"] == f"Bearer {TOKEN}"
    assert headers["X-GitHub-Api-Version"] == "2022-11-28"


def test_secondary_rate_limit_waits_as_asked() -> None:
    api, _, slept = _api([_resp(403, {"message": "You have exceeded a secondary rate limit"}, {"retry-after": "7"}),
                          _resp(429, {}, {"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(int(time.time()) + 20)}),
                          _resp(200)])
    api.request("PATCH", "/repos/o/r/issues/comments/5", json={"body": "x"})
    assert slept[0] == 7.0
    assert 15 <= slept[1] <= 22


def test_a_plain_403_is_not_retried_and_names_the_problem() -> None:
    api, session, _ = _api([_resp(403, {"message": "Resource not accessible by integration"})])
    with pytest.raises(ApiError) as err:
        api.request("POST", "/repos/o/r/issues/1/comments", json={"body": "x"})
    assert err.value.status == 403 and not err.value.retryable
    assert "Resource not accessible by integration" in str(err.value)
    assert len(session.calls) == 1


def test_post_is_not_blindly_retried_after_a_5xx() -> None:
    api, session, _ = _api([_resp(502)])
    with pytest.raises(ApiError) as err:
        api.request("POST", "/repos/o/r/issues/1/comments", json={"body": "x"})
    assert err.value.retryable and len(session.calls) == 1


def test_the_deadline_bounds_the_total_wait() -> None:
    api, session, slept = _api([_resp(403, {}, {"retry-after": "3600"})], deadline=60)
    with pytest.raises(ApiError, match="past the time limit"):
        api.request("GET", "/x")
    assert slept == []


def test_errors_never_contain_the_token() -> None:
    api, _, _ = _api([_resp(401, {"message": f"Bad credentials {TOKEN}"})])
    with pytest.raises(ApiError) as err:
        api.request("GET", "/x")
    assert TOKEN not in str(err.value) and "***" in str(err.value)
    api, _, _ = _api([requests.ConnectionError(f"https://x-access-token:{TOKEN}@ghe.example failed")] * 5, deadline=1)
    with pytest.raises(ApiError) as err:
        api.request("POST", "/x")
    assert TOKEN not in str(err.value)


def test_the_token_goes_to_the_api_origin_only() -> None:
    api, session, _ = _api([])
    with pytest.raises(ApiError, match="refusing"):
        api.request("GET", "https://evil.example/steal")
    assert session.calls == []
    page1 = _resp(200, [1, 2], {"Link": f'<{API}/items?page=2>; rel="next"'})
    page2 = _resp(200, [3], {"Link": '<https://evil.example/items?page=3>; rel="next"'})
    api, session, _ = _api([page1, page2])
    assert list(api.paginate("/items")) == [1, 2, 3]
    assert [c[1] for c in session.calls] == [f"{API}/items", f"{API}/items?page=2"]


def test_no_request_outlives_the_deadline() -> None:
    from mlsecops.action.api import GitHubApi
    from mlsecops.action.redact import Redactor

    now = [0.0]
    api = GitHubApi("https://api.github.com", "t", Redactor("t"), deadline_seconds=6, clock=lambda: now[0])
    assert api._timeout() == (6.0, 6.0)
    now[0] = 5.0
    assert api._timeout() == (1.0, 1.0)


def test_runner_credentials_are_dropped_with_the_token() -> None:
    from mlsecops.action.main import take_token

    env = {"INPUT_GITHUB-TOKEN": "ghs_x", "GITHUB_TOKEN": "ghs_y", "ACTIONS_RUNTIME_TOKEN": "r", "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "o",
           "ACTIONS_CACHE_URL": "https://cache", "PATH": "/bin"}
    assert take_token(env) == "ghs_x"
    assert env == {"PATH": "/bin"}
