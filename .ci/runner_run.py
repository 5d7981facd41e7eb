"""The `docker run` the GitHub runner issues for a container action, from its action.yml.

    python .ci/runner_run.py ACTION_YML --image REF --workspace DIR --runner DIR --token TOKEN \
        [--env NAME=VALUE ...] [--with NAME=VALUE ...]

Prints the arguments after `docker`, NUL-separated (for `mapfile -d ''`). Modelled on
actions/runner's ContainerActionHandler: every input declared in action.yml becomes
`INPUT_<NAME>` (upper case, spaces to underscores, hyphens kept) with the step's `with:`
value or else the declared default, `${{ github.token }}` evaluated; `runs.args` and
`runs.entrypoint` are passed as declared; the workspace, home, workflow folder (event.json)
and file-command folder are mounted where the runner mounts them, and so is the Docker socket.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import yaml

_TOKEN_EXPR = re.compile(r"\$\{\{\s*github\.token\s*\}\}")


def inputs(action: dict, given: dict[str, str], token: str) -> dict[str, str]:
    declared = action.get("inputs") or {}
    unknown = set(given) - set(declared)
    if unknown:
        raise SystemExit(f"runner_run: inputs not declared in action.yml: {sorted(unknown)}")
    out = {}
    for name, spec in declared.items():
        value = given.get(name, str((spec or {}).get("default", "")))
        out[f"INPUT_{name.replace(' ', '_').upper()}"] = _TOKEN_EXPR.sub(token, value)
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("action_yml", type=Path)
    ap.add_argument("--image", required=True, help="the image the runner pulled or built")
    ap.add_argument("--workspace", required=True)
    ap.add_argument("--runner", required=True, help="holds event.json, the file-command files and home/")
    ap.add_argument("--token", required=True)
    ap.add_argument("--env", action="append", default=[], help="runner context variables, NAME=VALUE")
    ap.add_argument("--with", dest="given", action="append", default=[], help="the step's with: values, NAME=VALUE")
    ap.add_argument("--docker-socket", default="/var/run/docker.sock")
    args = ap.parse_args()
    action = yaml.safe_load(args.action_yml.read_text())
    runs = action["runs"]
    if runs.get("using") != "docker":
        raise SystemExit("runner_run: not a container action")
    given = dict(kv.split("=", 1) for kv in args.given)
    env = dict(kv.split("=", 1) for kv in args.env)
    env.update({"GITHUB_ACTIONS": "true", "CI": "true", "HOME": "/github/home", "GITHUB_WORKSPACE": "/github/workspace",
                "GITHUB_EVENT_PATH": "/github/workflow/event.json", "GITHUB_OUTPUT": "/github/file_commands/output",
                "GITHUB_STEP_SUMMARY": "/github/file_commands/summary", "RUNNER_TEMP": "/home/runner/work/_temp"})
    env.update(inputs(action, given, args.token))
    runner = Path(args.runner)
    out = ["run", "--rm", "--workdir", "/github/workspace", "--network", "host",
           "-v", f"{args.docker_socket}:/var/run/docker.sock",
           "-v", f"{runner / 'home'}:/github/home", "-v", f"{runner}:/github/workflow",
           "-v", f"{runner}:/github/file_commands", "-v", f"{args.workspace}:/github/workspace"]
    for name, value in env.items():
        out += ["-e", f"{name}={value}"]
    if runs.get("entrypoint"):
        out += ["--entrypoint", runs["entrypoint"]]
    out.append(args.image)
    out += [str(a) for a in runs.get("args") or []]
    sys.stdout.write("\0".join(out) + "\0")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
