"""Fixtures for the Action tests, built in code: a git repository with a base and a head, and
a local stand-in for GitHub's REST API.

The malicious pickle is written opcode by opcode (PROTO 2, GLOBAL `os system`,
a one-string tuple, REDUCE, STOP) and is never loaded.
"""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

REPO_ROOT = Path(__file__).resolve().parents[2]
# The same git identity and isolation as tests/conftest.py (not imported: the docker e2e script
# loads this module on its own, outside pytest).
GIT_ENV = {
    "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.invalid",
    "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.invalid",
    "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull,
}
ENTRYPOINT = REPO_ROOT / "entrypoint.py"
TOKEN = "ghs_TESTTOKENabcdefghijklmnopqrstuvwxyz0123"


def malicious_pickle(command: str = "id") -> bytes:
    arg = command.encode()
    return (b"\x80\x02" + b"cos\nsystem\n" + b"X" + struct.pack("<I", len(arg)) + arg
            + b"\x85" + b"R" + b".")


def benign_pickle() -> bytes:
    """A plain dict {'w': [1, 2]} at protocol 2, by hand."""
    return b"\x80\x02}q\x00X\x01\x00\x00\x00wq\x01]q\x02(K\x01K\x02es."


def git(repo: Path, *args: str) -> str:
    out = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, env={**os.environ, **GIT_ENV})
    if out.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)} failed: {out.stderr.strip()}")
    return out.stdout.strip()


@dataclass
class Repo:
    path: Path
    base: str
    head: str          # the PR's head (malicious unless built clean)
    clean_head: str    # a head that only adds harmless text


def make_repo(root: Path, policy: str | None = None) -> Repo:
    """main: README + requirements.txt (+ policy); feature: a malicious pickle; clean: a text file."""
    root.mkdir(parents=True, exist_ok=True)
    git(root, "init", "-q", "-b", "main")
    (root / "README.md").write_text("# demo\n")
    (root / "requirements.txt").write_text("requests==2.34.2\n")
    if policy is not None:
        (root / ".mlsecops.yml").write_text(policy)
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "base")
    base = git(root, "rev-parse", "HEAD")
    git(root, "checkout", "-q", "-b", "clean")
    (root / "NOTES.md").write_text("nothing to see\n")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "clean")
    clean = git(root, "rev-parse", "HEAD")
    git(root, "checkout", "-q", "-b", "feature", "main")
    (root / "models").mkdir()
    (root / "models" / "model.pkl").write_bytes(malicious_pickle())
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "add a model")
    head = git(root, "rev-parse", "HEAD")
    return Repo(path=root, base=base, head=head, clean_head=clean)


@dataclass
class FakeGitHub:
    """Issue comments for one repository, with switchable failures, behind a real HTTP server."""

    comments: list[dict[str, Any]] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    fail_post: int | None = None           # status to answer every POST with
    fail_once: list[int] = field(default_factory=list)  # statuses to answer the next requests with
    rate_limit_once: bool = False
    pr_files: list[dict[str, Any]] = field(default_factory=list)
    page_size: int = 2
    routes: dict[str, Any] = field(default_factory=dict)  # GET path -> JSON answer (runs, pulls)
    next_id: int = 1000
    url: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add_comment(self, body: str, user: str = "someone", kind: str = "User", association: str = "NONE") -> None:
        self.comments.append({"id": self.next_id, "body": body, "user": {"login": user, "type": kind},
                              "author_association": association, "html_url": f"https://example.test/c/{self.next_id}"})
        self.next_id += 1


def _handler(state: FakeGitHub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            return

        def _send(self, status: int, data: Any, headers: dict[str, str] | None = None) -> None:
            body = json.dumps(data).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(body)

        def _handle(self, method: str) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            payload = json.loads(self.rfile.read(length) or b"null") if length else None
            with state.lock:
                state.requests.append({"method": method, "path": parts.path, "query": parts.query,
                                       "auth": self.headers.get("Authorization"), "json": payload})
                if state.rate_limit_once:
                    state.rate_limit_once = False
                    return self._send(403, {"message": "You have exceeded a secondary rate limit."}, {"retry-after": "1"})
                if state.fail_once:
                    return self._send(state.fail_once.pop(0), {"message": "Server Error"})
                segs = parts.path.strip("/").split("/")
                if method == "GET" and parts.path in state.routes:
                    return self._send(200, state.routes[parts.path])
                if method == "GET" and segs[-1] == "comments" and "issues" in segs:
                    page = int(parse_qs(parts.query).get("page", ["1"])[0])
                    chunk = state.comments[(page - 1) * state.page_size: page * state.page_size]
                    headers = {}
                    if page * state.page_size < len(state.comments):
                        headers["Link"] = f'<{state.url}{parts.path}?per_page=100&page={page + 1}>; rel="next"'
                    return self._send(200, chunk, headers)
                if method == "POST" and segs[-1] == "comments":
                    if state.fail_post:
                        return self._send(state.fail_post, {"message": "Resource not accessible by integration"})
                    state.add_comment(payload["body"], user="github-actions[bot]", kind="Bot")
                    return self._send(201, state.comments[-1])
                if method == "PATCH" and "comments" in segs:
                    cid = int(segs[-1])
                    for c in state.comments:
                        if c["id"] == cid:
                            c["body"] = payload["body"]
                            return self._send(200, c)
                    return self._send(404, {"message": "Not Found"})
                if method == "GET" and segs[-1] == "files":
                    return self._send(200, state.pr_files)
            return self._send(404, {"message": "Not Found"})

        def do_GET(self) -> None:  # noqa: N802
            self._handle("GET")

        def do_POST(self) -> None:  # noqa: N802
            self._handle("POST")

        def do_PATCH(self) -> None:  # noqa: N802
            self._handle("PATCH")

    return Handler


class ApiServer:
    def __init__(self, state: FakeGitHub) -> None:
        self.state = state
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
        state.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> FakeGitHub:
        self.thread.start()
        return self.state

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@dataclass
class StepResult:
    code: int
    stdout: str
    stderr: str
    outputs: dict[str, str]
    summary: str
    workdir: Path

    def everything(self) -> str:
        texts = [self.stdout, self.stderr, self.summary, json.dumps(self.outputs)]
        for p in self.workdir.rglob("*"):
            if p.is_file() and ".git" not in p.parts:
                texts.append(p.read_text("utf-8", "replace"))
        return "\n".join(texts)


def parse_outputs(text: str) -> dict[str, str]:
    """Read $GITHUB_OUTPUT the way the runner does (name=value and name<<DELIM ... DELIM)."""
    out: dict[str, str] = {}
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        i += 1
        if not line:
            continue
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            name, delim = line.split("<<", 1)
            value: list[str] = []
            while lines[i] != delim:
                value.append(lines[i])
                i += 1
            i += 1
            out[name] = "\n".join(value)
        else:
            name, value_s = line.split("=", 1)
            out[name] = value_s
    return out


def run_step(tmp: Path, repo: Path, event_name: str, event: dict[str, Any], api_url: str = "",
             inputs: dict[str, str] | None = None, extra_env: dict[str, str] | None = None,
             timeout: float = 120) -> StepResult:
    """Run entrypoint.py the way the runner runs a container action."""
    files = tmp / "runner"
    files.mkdir(parents=True, exist_ok=True)
    n = len(list(files.glob("event-*.json")))
    event_path = files / f"event-{n}.json"
    event_path.write_text(json.dumps(event))
    output = files / f"output-{n}"
    summary = files / f"summary-{n}"
    output.write_text("")
    summary.write_text("")
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp / "home"),
        "GITHUB_ACTIONS": "true",
        "CI": "true",
        "GITHUB_WORKSPACE": str(repo),
        "GITHUB_EVENT_NAME": event_name,
        "GITHUB_EVENT_PATH": str(event_path),
        "GITHUB_REPOSITORY": "octo/demo",
        "GITHUB_API_URL": api_url or "http://127.0.0.1:9",
        "GITHUB_SERVER_URL": "https://github.example",
        "GITHUB_RUN_ID": "4242",
        "GITHUB_WORKFLOW": "mlsecops gate",
        "GITHUB_OUTPUT": str(output),
        "GITHUB_STEP_SUMMARY": str(summary),
        "INPUT_PATH": ".",
        "INPUT_STAGES": "deps,models,fuzz",
        "INPUT_FUZZ-BUDGET": "2",
        "INPUT_SARIF-FILE": "mlsecops.sarif",
        "INPUT_COMMENT": "true",
        "INPUT_GITHUB-TOKEN": TOKEN,
        "INPUT_POLICY": "",
        "INPUT_ADVISORY-DB": "",
        "INPUT_BASE-REF": "",
        "INPUT_HEAD-REF": "",
        "XDG_CACHE_HOME": str(tmp / "cache"),
        "MLSECOPS_API_TIMEOUT": "6",
        "PYTHONPATH": str(REPO_ROOT),
    }
    (tmp / "home").mkdir(exist_ok=True)
    for k, v in (inputs or {}).items():
        env[f"INPUT_{k.upper()}"] = v
    env.update(extra_env or {})
    proc = subprocess.run([sys.executable, str(ENTRYPOINT)], cwd=repo, env=env, capture_output=True,
                          text=True, timeout=timeout)
    return StepResult(code=proc.returncode, stdout=proc.stdout, stderr=proc.stderr,
                      outputs=parse_outputs(output.read_text()), summary=summary.read_text(), workdir=repo)


def pr_event(repo: Repo, head: str | None = None, number: int = 7) -> dict[str, Any]:
    return {
        "number": number,
        "pull_request": {
            "number": number,
            "base": {"sha": repo.base, "ref": "main", "repo": {"full_name": "octo/demo"}},
            "head": {"sha": head or repo.head, "ref": "feature", "repo": {"full_name": "octo/demo"}},
            "commits": 1,
        },
        "repository": {"full_name": "octo/demo", "default_branch": "main"},
    }


def parse_command(line: str) -> tuple[str, dict[str, str], str] | None:
    """The Actions runner's reading of one log line (ActionCommand.TryParseV2 and its unescaping)."""
    message = line.lstrip()
    if not message.startswith("::"):
        return None
    end = message.find("::", 2)
    if end < 0:
        return None
    info = message[2:end]
    name, _, props_s = info.partition(" ")
    props: dict[str, str] = {}
    for pair in filter(None, props_s.strip().split(",")):
        key, sep, value = pair.partition("=")
        if sep and key and value:
            for token, repl in (("%0D", "\r"), ("%0A", "\n"), ("%3A", ":"), ("%2C", ","), ("%25", "%")):
                value = value.replace(token, repl)
            props[key] = value
    data = message[end + 2:]
    for token, repl in (("%0D", "\r"), ("%0A", "\n"), ("%25", "%")):
        data = data.replace(token, repl)
    return name, props, data


class GitHttpServer:
    """Serves the repositories under `root` over git's smart HTTP protocol (`git http-backend` as CGI)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                return

            def _cgi(self) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                env = {
                    "PATH": os.environ.get("PATH", ""), "GIT_PROJECT_ROOT": str(server.root),
                    "GIT_HTTP_EXPORT_ALL": "1", "PATH_INFO": parts.path, "QUERY_STRING": parts.query,
                    "REQUEST_METHOD": self.command, "CONTENT_TYPE": self.headers.get("Content-Type", ""),
                    "CONTENT_LENGTH": str(len(body)), "REMOTE_ADDR": "127.0.0.1",
                    "GIT_CONFIG_GLOBAL": "/dev/null", "GIT_CONFIG_NOSYSTEM": "1",
                }
                if self.headers.get("Content-Encoding"):
                    env["HTTP_CONTENT_ENCODING"] = self.headers["Content-Encoding"]
                if self.headers.get("Git-Protocol"):
                    env["GIT_PROTOCOL"] = self.headers["Git-Protocol"]
                out = subprocess.run(["git", "http-backend"], input=body, capture_output=True, env=env).stdout
                head, _, payload = out.partition(b"\r\n\r\n")
                status = 200
                headers = []
                for line in head.decode("latin-1").split("\r\n"):
                    key, _, value = line.partition(":")
                    if key.lower() == "status":
                        status = int(value.strip().split()[0])
                    elif key:
                        headers.append((key, value.strip()))
                self.send_response(status)
                for key, value in headers:
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = _cgi
            do_POST = _cgi

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> GitHttpServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
