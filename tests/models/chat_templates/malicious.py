"""Malicious chat templates, built here: each reaches Python internals when a careless renderer
(a plain jinja2.Environment) renders it, the way CVE-2024-34359 did, with a harmless payload that
only prints a name (`marker` is what the careless render prints, proving the escape). Most build
the names at render time so that no dunder is written in the template."""

from __future__ import annotations

U = "'_' * 2"  # two underscores, built at render time


def built(name: str) -> str:
    return f"({U} ~ '{name}' ~ {U})"


WRAP = "{{% for m in messages %}}<|{{{{ m.role }}}}|>{{{{ m.content }}}}{{% endfor %}}{body}"

# name: (template body, marker the careless render prints, messages for the careless render or None)
SAMPLES: dict[str, tuple[str, str, list[dict] | None]] = {
    "constant-dunders": ("{{ ().__class__.__base__.__name__ }}", "object", None),
    "tilde-built-item-key": ("{{ ()['__cla' ~ 'ss__'] }}", "<class 'tuple'>", None),
    "join-built-attr": ("{% set c = ['_', '_', 'class', '_', '_']|join %}{% set b = ['_', '_', 'base', '_', '_']|join %}"
                        "{% set n = ['_', '_', 'name', '_', '_']|join %}{{ ()|attr(c)|attr(b)|attr(n) }}", "object", None),
    "format-built-attr": ("{% set f = '%sclass%s'|format('_'*2, '_'*2) %}{{ ()|attr(f)|attr('%sbase%s'|format('_'*2, '_'*2))"
                          "|attr('%sname%s'|format('_'*2, '_'*2)) }}", "object", None),
    "escaped-literal-attr": ("{{ ()|attr('\\x5f\\x5fclass\\x5f\\x5f')|attr('\\x5f\\x5fbase\\x5f\\x5f')"
                             "|attr('\\x5f\\x5fname\\x5f\\x5f') }}", "object", None),
    "map-attribute": (f"{{{{ [()]|map(attribute={built('class')})|join }}}}", "<class 'tuple'>", None),
    "selectattr": (f"{{% set n = {built('doc')} %}}{{% for m in messages|selectattr(n) %}}{{{{ m|attr(n) }}}}{{% endfor %}}",
                   "new empty dictionary", None),
    "keys-from-the-conversation": ("{{ messages[0][messages[1]['content']] }}", "<class 'dict'>",
                                   [{"role": "system", "content": "hi"}, {"role": "user", "content": "__class__"}]),
    "format-string-field": ("{{ ('{0.' ~ " + U + " ~ 'class' ~ " + U + " ~ '}').format(()) }}", "<class 'tuple'>", None),
    "format-map": ("{{ '{x.__class__}'.format_map({'x': ()}) }}", "<class 'tuple'>", None),
    "lipsum-globals": (f"{{{{ (lipsum|attr({built('globals')})).get({built('name')}) }}}}", "jinja2.utils", None),
    "cycler-internals": ("{{ cycler.__init__.__globals__.os.name }}", "posix", None),
    "joiner-internals": (f"{{{{ (joiner|attr({built('init')})|attr({built('globals')})).get({built('name')}) }}}}",
                         "jinja2.utils", None),
    "namespace-internals": (f"{{{{ (namespace|attr({built('init')})|attr({built('globals')})).get({built('name')}) }}}}",
                            "jinja2.utils", None),
    "self-context": ("{{ self|attr('_TemplateRef' ~ 'erence' ~ " + U + " ~ 'context') }}", "<Context", None),
    "loop-internals": (f"{{% for m in messages %}}{{{{ loop|attr({built('class')}) }}}}{{% endfor %}}", "LoopContext", None),
    "hidden-behind-a-branch": (f"{{% if messages|length > 40 %}}{{{{ ()|attr({built('class')}) }}}}{{% endif %}}",
                               "<class 'tuple'>", [{"role": "user", "content": "x"}] * 41),
    "hidden-behind-and": (f"{{{{ messages|length > 40 and (()|attr({built('class')})) }}}}", "<class 'tuple'>",
                          [{"role": "user", "content": "x"}] * 41),
    "hidden-behind-a-loop-filter": (f"{{% for m in messages if m.role == 'root' %}}{{{{ m|attr({built('class')}) }}}}"
                                    "{% endfor %}", "<class 'dict'>", [{"role": "root", "content": "x"}]),
    "hidden-behind-else": (f"{{{{ 'x' if messages else ()|attr({built('class')}) }}}}", "<class 'tuple'>", []),
    "in-a-macro": (f"{{% macro p(x) %}}{{{{ x|attr({built('class')}) }}}}{{% endmacro %}}{{{{ p(()) }}}}", "<class 'tuple'>", None),
    "in-a-generation-block": (f"{{% generation %}}{{{{ ()|attr({built('class')}) }}}}{{% endgeneration %}}",
                              "<class 'tuple'>", None),
    "flask-config": ("{{ config.items() }}", "", None),  # a Flask renderer's globals; plain jinja has none
}


def template(name: str) -> str:
    return WRAP.format(body=SAMPLES[name][0])
