"""A chat template in a JSON or YAML config is decided on the parsed document, not on its bytes.

JSON spells any character as `\\uXXXX`; YAML's double-quoted strings also as `\\xXX` and
`\\UXXXXXXXX`, and an escaped line break joins two lines with nothing between them. So the
bytes of a config can hold no `{{` while the string transformers (json.load) or a YAML
loader (yaml.safe_load) hands to Jinja does. Generated: templates with their delimiters,
written with random characters escaped each way the parser accepts; the parser is the
reference (the test checks it returns the template), detection must route the file to the
template analyzer, and the analyzer must judge the parsed template.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlsecops.formats.detect import detect
from mlsecops.formats.kinds import Format
from tests.models.helpers import blocks, rules, scan_bytes

DELIMITED = st.builds(lambda a, d, b: a + d + b, st.text(max_size=20), st.sampled_from(["{{", "{%", "{{-", "{%-"]),
                      st.text(max_size=20))


def _json_escaped(text: str, mask: list[bool]) -> str:
    """A JSON string literal of `text`, characters under `mask` written as \\u escapes."""
    out = []
    for ch, esc in zip(text, mask + [False] * len(text)):
        if esc or ch in '"\\' or ord(ch) < 0x20:
            out.append("".join(f"\\u{u:04x}" for u in _utf16(ch)))
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _utf16(ch: str) -> list[int]:
    raw = ch.encode("utf-16-be", "surrogatepass")
    return [int.from_bytes(raw[i:i + 2], "big") for i in range(0, len(raw), 2)]


def _yaml_escaped(text: str, mask: list[bool], breaks: list[bool]) -> str:
    """A YAML double-quoted scalar of `text`: masked characters as \\x, \\u or \\U escapes, and an
    escaped line break (which YAML drops) after characters under `breaks`."""
    out = []
    for i, ch in enumerate(text):
        esc = mask[i] if i < len(mask) else False
        if esc or ch in '"\\' or not ch.isprintable():
            code = ord(ch)
            out.append(f"\\x{code:02x}" if code < 0x100 and i % 3 == 0 else
                       f"\\u{code:04x}" if code < 0x10000 and i % 3 == 1 else f"\\U{code:08x}")
        else:
            out.append(ch)
        if i < len(breaks) and breaks[i] and i + 1 < len(text) and text[i + 1] not in " \t":
            out.append("\\\n  ")
    return '"' + "".join(out) + '"'


_SETTINGS = settings(max_examples=300, deadline=None, derandomize=True, database=None,
                     suppress_health_check=list(HealthCheck))


@_SETTINGS
@given(DELIMITED, st.lists(st.booleans(), max_size=60))
def test_json_escapes_do_not_hide_a_template(template: str, mask: list[bool]) -> None:
    raw = ('{"bos_token": "<s>", "chat_template": ' + _json_escaped(template, mask) + "}").encode()
    assert json.loads(raw)["chat_template"] == template  # the reference reads the template back
    assert detect(io.BytesIO(raw), "tokenizer_config.json", len(raw)) == Format.config


@_SETTINGS
@given(DELIMITED, st.lists(st.booleans(), max_size=60), st.lists(st.booleans(), max_size=60))
def test_yaml_escapes_and_joined_lines_do_not_hide_a_template(template: str, mask: list[bool],
                                                              breaks: list[bool]) -> None:
    raw = ("model: x\nchat_template: " + _yaml_escaped(template, mask, breaks) + "\n").encode()
    assert yaml.safe_load(raw)["chat_template"] == template
    assert detect(io.BytesIO(raw), "config.yaml", len(raw)) == Format.config


def test_a_template_written_only_in_escapes_is_judged_as_parsed(tmp_path: Path) -> None:
    evil = "{{ cycler.__init__.__globals__.os.popen('id').read() }}"
    every = _json_escaped(evil, [True] * len(evil))
    assert "{" not in every and "_" not in every
    res = scan_bytes(tmp_path, "tokenizer_config.json", ('{"chat_template": ' + every + "}").encode())
    assert "MLS118" in rules(res) and blocks(res), res.findings
    joined = _yaml_escaped(evil, [i % 2 == 0 for i in range(len(evil))], [True] * len(evil))
    res = scan_bytes(tmp_path, "config.yaml", ("chat_template: " + joined + "\n").encode())
    assert "MLS118" in rules(res) and blocks(res), res.findings


def test_escapes_that_make_no_template_are_not_flagged(tmp_path: Path) -> None:
    res = scan_bytes(tmp_path, "tokenizer_config.json", b'{"chat_template": "\\u007b a \\u0025 b }", "x": "\\u0041"}')
    assert not blocks(res), res.findings
