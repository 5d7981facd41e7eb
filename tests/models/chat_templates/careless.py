"""The careless renderer: a plain jinja2.Environment with transformers' options and helpers, run in
a child process with resource limits. It proves the malicious samples are real escapes (it prints
what they reach); only the samples written in this folder are ever given to it."""

from __future__ import annotations

import json
import subprocess
import sys

_SCRIPT = r"""
import json, resource, sys
resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))
resource.setrlimit(resource.RLIMIT_CPU, (20, 20))
import jinja2
from jinja2 import nodes
from jinja2.ext import Extension, loopcontrols

class Generation(Extension):
    tags = {"generation"}
    def parse(self, parser):
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(("name:endgeneration",), drop_needle=True)
        return nodes.Scope(body, lineno=lineno)

def raise_exception(message):
    raise jinja2.TemplateError(message)

env = jinja2.Environment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols, Generation])
env.globals.update(raise_exception=raise_exception, strftime_now=lambda f: "2025-01-01")
out = []
for job in json.load(sys.stdin):
    try:
        out.append(env.from_string(job["template"]).render(messages=job["messages"], add_generation_prompt=True,
                                                           bos_token="<s>", eos_token="</s>"))
    except Exception as exc:
        out.append(f"ERROR {type(exc).__name__}: {exc}")
print(json.dumps(out))
"""


def render(jobs: list[dict]) -> list[str]:
    """Render each {"template", "messages"} with the careless renderer; the outputs in order."""
    proc = subprocess.run([sys.executable, "-c", _SCRIPT], input=json.dumps(jobs), capture_output=True, text=True,
                          timeout=120, env={"PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout)
