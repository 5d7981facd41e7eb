"""The real loaders, as the code a victim would run on the sample's entry file.

Each snippet runs inside the sandbox child with `path` bound to the entry file
(and the current folder being the sample's temp folder). They use the libraries'
own public entry points with the options that make them unpickle; nothing here
re-implements a loader. "Careless renderer" is jinja2 without its sandbox, as
llama-cpp-python rendered GGUF chat templates before 0.2.72 (CVE-2024-34359).
"""

from __future__ import annotations

_MESSAGES = ("[{'role': 'system', 'content': 'You are helpful.'}, {'role': 'user', 'content': 'Hi'},"
             " {'role': 'assistant', 'content': 'Hello!'}, {'role': 'user', 'content': 'Bye'}]")
_RENDER = (
    "import jinja2\n"
    "env = jinja2.Environment(loader=jinja2.BaseLoader(), trim_blocks=True, lstrip_blocks=True)\n"
    f"env.from_string(template).render(messages={_MESSAGES}, add_generation_prompt=True, bos_token='<s>', eos_token='</s>')\n"
)

LOADERS: dict[str, str] = {
    "pickle.load": "import pickle\nwith open(path, 'rb') as fh:\n    pickle.load(fh)\n",
    "joblib.load": "import joblib\njoblib.load(path)\n",
    "numpy.load": (
        "import numpy\nresult = numpy.load(path, allow_pickle=True)\n"
        "if hasattr(result, 'files'):\n    [result[k] for k in result.files]\n"
    ),
    "torch.load": "import torch\ntorch.load(path, weights_only=False)\n",
    "pandas.read_pickle": "import pandas\npandas.read_pickle(path)\n",
    "render tokenizer_config.json": "import json\nwith open(path, encoding='utf-8') as fh:\n    template = json.load(fh)['chat_template']\n" + _RENDER,
    "render YAML config": "import yaml\nwith open(path, encoding='utf-8') as fh:\n    template = yaml.safe_load(fh)['chat_template']\n" + _RENDER,
    "render GGUF chat template": (
        "from gguf import GGUFReader\nfield = GGUFReader(path).fields['tokenizer.chat_template']\n"
        "template = bytes(field.parts[field.data[0]]).decode('utf-8')\n" + _RENDER
    ),
    "render .jinja file": "with open(path, encoding='utf-8') as fh:\n    template = fh.read()\n" + _RENDER,
}
