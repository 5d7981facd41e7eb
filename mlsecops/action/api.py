"""A small GitHub REST client: timeouts, bounded retries, rate limits, and no token in any error.

Every request has a timeout. 5xx answers and network errors are retried with
exponential backoff; rate limits (429, or 403 with `retry-after` or
`x-ratelimit-remaining: 0`, GitHub's secondary limits) wait as long as GitHub
asks. All retries share one deadline, so a slow API cannot hold the job: when
the wait would pass it, the request fails. A POST is not retried after a 5xx or
a network error (it may have been applied); the caller decides. The token is
only ever sent to the configured API origin (GITHUB_API_URL, so GitHub
Enterprise Server works), never to a pagination link that points elsewhere, and
`ApiError` messages are built from the status and GitHub's `message`, passed
through the redactor.
"""

from __future__ import annotations

import email.utils
import random
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

import requests

from mlsecops import __version__
from mlsecops.action.redact import Redactor

TIMEOUT = (10.0, 30.0)
MAX_ATTEMPTS = 5


class ApiError(Exception):
    """A request that did not succeed; `str()` is safe to log."""

    def __init__(self, message: str, status: int | None = None, retryable: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.retryable = retryable


class GitHubApi:
    def __init__(
        self,
        api_url: str,
        token: str,
        redact: Redactor,
        deadline_seconds: float = 90.0,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        log: Callable[[str], None] = lambda _: None,
    ) -> None:
        self.base = api_url.rstrip("/")
        self._origin = _origin(self.base)
        self._token = token
        self._redact = redact
        self._session = session or requests.Session()
        self._sleep = sleep
        self._clock = clock
        self._deadline = clock() + deadline_seconds
        self._log = log

    def _url(self, path_or_url: str) -> str:
        url = path_or_url if "://" in path_or_url else f"{self.base}/{path_or_url.lstrip('/')}"
        if _origin(url) != self._origin:
            raise ApiError(f"refusing to send the token to {_origin(url)} (not the API at {self._origin})")
        return url

    def request(self, method: str, path_or_url: str, json: Any = None, params: dict[str, Any] | None = None) -> requests.Response:
        url = self._url(path_or_url)
        where = f"{method} {urlsplit(url).path}"
        headers = {
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": "2022-11-28",
            "User-Agent": f"mlsecops/{__version__}",
            "Authorization": f"Bearer {self._token}",
        }
        idempotent = method.upper() in ("GET", "PATCH", "PUT", "DELETE", "HEAD")
        for attempt in range(1, MAX_ATTEMPTS + 1):
            try:
                resp = self._session.request(method, url, headers=headers, json=json, params=params, timeout=self._timeout())
            except requests.RequestException as exc:
                problem = f"{where}: {type(exc).__name__}"
                if not idempotent:
                    raise ApiError(self._redact(problem), retryable=True) from None
                self._wait(_backoff(attempt), problem)
                continue
            if resp.status_code < 300:
                return resp
            problem = f"{where}: HTTP {resp.status_code} {_message(resp)}"
            wait = _rate_limit_wait(resp)
            if wait is not None:
                self._wait(wait, problem)
                continue
            if resp.status_code >= 500:
                if not idempotent:
                    raise ApiError(self._redact(problem), resp.status_code, retryable=True)
                self._wait(_backoff(attempt), problem)
                continue
            raise ApiError(self._redact(problem), resp.status_code)
        raise ApiError(self._redact(f"{where}: gave up after {MAX_ATTEMPTS} attempts"))

    def _timeout(self) -> tuple[float, float]:
        """Connect and read timeouts, never longer than what is left of the deadline."""
        left = max(0.5, self._deadline - self._clock())
        return (min(TIMEOUT[0], left), min(TIMEOUT[1], left))

    def _wait(self, seconds: float, problem: str) -> None:
        left = self._deadline - self._clock()
        if seconds > left:
            raise ApiError(self._redact(f"{problem}; retrying would take {seconds:.0f}s, past the time limit"), retryable=True)
        self._log(self._redact(f"{problem}; retrying in {seconds:.1f}s"))
        self._sleep(seconds)

    def paginate(self, path: str, params: dict[str, Any] | None = None, max_pages: int = 50) -> Iterator[Any]:
        """Every item of a list endpoint, following `Link: rel="next"` on the same origin only."""
        url: str | None = path
        query: dict[str, Any] | None = {"per_page": 100, **(params or {})}
        for _ in range(max_pages):
            if url is None:
                return
            resp = self.request("GET", url, params=query)
            items = resp.json()
            if not isinstance(items, list):
                items = items.get("files", []) if isinstance(items, dict) else []
            yield from items
            nxt = resp.links.get("next", {}).get("url")
            if nxt and _origin(nxt) != self._origin:
                self._log("ignoring a pagination link to another host")
                nxt = None
            url, query = nxt, None  # the next link carries the query
        self._log(f"stopped after {max_pages} pages")


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def _message(resp: requests.Response) -> str:
    try:
        data = resp.json()
    except ValueError:
        return ""
    msg = data.get("message", "") if isinstance(data, dict) else ""
    return str(msg)[:200]


def _backoff(attempt: int) -> float:
    return min(2.0 ** (attempt - 1), 30.0) * (0.8 + 0.4 * random.random())


def _rate_limit_wait(resp: requests.Response) -> float | None:
    """Seconds GitHub asks to wait for a rate-limited request, or None when it is not rate limited."""
    if resp.status_code not in (403, 429):
        return None
    retry_after = resp.headers.get("retry-after")
    if retry_after:
        try:
            return max(float(retry_after), 0.0)
        except ValueError:
            try:
                return max(email.utils.parsedate_to_datetime(retry_after).timestamp() - time.time(), 0.0)
            except (TypeError, ValueError):
                return 60.0
    if resp.headers.get("x-ratelimit-remaining") == "0":
        try:
            return max(float(resp.headers.get("x-ratelimit-reset", "")) - time.time(), 0.0) + 1.0
        except ValueError:
            return 60.0
    if resp.status_code == 429 or "rate limit" in _message(resp).lower():
        return 60.0  # GitHub: without headers, wait at least a minute
    return None
