"""Build model files byte by byte for the demo, the tests and the benchmarks.

Planted payloads only ever `echo`; nothing here is loaded or unpickled, and
nothing needs torch: pickles are assembled opcode by opcode, PyTorch-style
checkpoints are zips written with zipfile, safetensors and .npy by their specs.
Generating fixtures in code keeps binaries out of the repository.
"""

from __future__ import annotations

import io
import json
import struct
import zipfile
from collections.abc import Iterable

PROTO = b"\x80"
STOP = b"."
MARK = b"("
TUPLE = b"t"
REDUCE = b"R"
MEMOIZE = b"\x94"
STACK_GLOBAL = b"\x93"
EMPTY_DICT = b"}"
SETITEMS = b"u"
BUILD = b"b"

HARMLESS = "echo mlsecops-demo-payload"


def s(text: str) -> bytes:
    """A string opcode (SHORT_BINUNICODE or BINUNICODE)."""
    data = text.encode("utf-8")
    if len(data) < 256:
        return b"\x8c" + bytes([len(data)]) + data
    return b"X" + struct.pack("<I", len(data)) + data


def s2(text: str) -> bytes:
    """BINUNICODE, the string opcode of protocol 2 (what torch.save writes)."""
    data = text.encode("utf-8")
    return b"X" + struct.pack("<I", len(data)) + data


def i(n: int) -> bytes:
    if 0 <= n < 256:
        return b"K" + bytes([n])
    if 0 <= n < 65536:
        return b"M" + struct.pack("<H", n)
    return b"J" + struct.pack("<i", n)


def b(data: bytes) -> bytes:
    if len(data) < 256:
        return b"C" + bytes([len(data)]) + data
    if len(data) < 2**32:
        return b"B" + struct.pack("<I", len(data)) + data
    return b"\x8e" + struct.pack("<Q", len(data)) + data


def glob4(module: str, name: str) -> bytes:
    """Push module.name with STACK_GLOBAL (protocol 4)."""
    return s(module) + MEMOIZE + s(name) + MEMOIZE + STACK_GLOBAL + MEMOIZE


def glob2(module: str, name: str) -> bytes:
    """Push module.name with GLOBAL (protocols 0-3)."""
    return b"c" + f"{module}\n{name}\n".encode()


def call(func: bytes, *args: bytes) -> bytes:
    return func + MARK + b"".join(args) + TUPLE + REDUCE


def pickle4(body: bytes) -> bytes:
    return PROTO + b"\x04" + body + STOP


def pickle2(body: bytes) -> bytes:
    return PROTO + b"\x02" + body + STOP


def malicious_pickle(command: str = HARMLESS, module: str = "os", name: str = "system") -> bytes:
    """`os.system(command)` on load: the classic."""
    return pickle4(call(glob4(module, name), s(command)))


def benign_dict_pickle(items: dict[str, int] | None = None) -> bytes:
    items = items or {"epochs": 3, "layers": 12}
    body = EMPTY_DICT + MEMOIZE + MARK + b"".join(s(k) + i(v) for k, v in items.items()) + SETITEMS
    return pickle4(body)


def _rebuild_tensor(storage_key: str, numel: int) -> bytes:
    """torch._utils._rebuild_tensor_v2(persistent storage, 0, (numel,), (1,), False, OrderedDict())"""
    storage = MARK + s2("storage") + glob2("torch", "FloatStorage") + s2(storage_key) + s2("cpu") + i(numel) + TUPLE + b"Q"
    ordered = call(glob2("collections", "OrderedDict"))
    return call(
        glob2("torch._utils", "_rebuild_tensor_v2"),
        storage, i(0), MARK + i(numel) + TUPLE, MARK + i(1) + TUPLE, b"\x89", ordered,
    )


def torch_state_dict_pickle(tensors: dict[str, int], extra: bytes = b"") -> bytes:
    """The data.pkl torch.save writes for a state dict (protocol 2, tensors by persistent id)."""
    entries = b"".join(s2(name) + _rebuild_tensor(str(k), n) for k, (name, n) in enumerate(tensors.items()))
    body = call(glob2("collections", "OrderedDict")) + MARK + entries + extra + SETITEMS
    return pickle2(body)


def torch_zip(tensors: dict[str, int], data_pkl: bytes | None = None, archive: str = "archive") -> bytes:
    """A torch.save (zip) checkpoint: data.pkl, tensor storages, version, byteorder."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED) as zf:
        zf.writestr(f"{archive}/data.pkl", data_pkl if data_pkl is not None else torch_state_dict_pickle(tensors))
        zf.writestr(f"{archive}/byteorder", "little")
        for k, n in enumerate(tensors.values()):
            zf.writestr(f"{archive}/data/{k}", struct.pack(f"<{n}f", *([0.5] * n)))
        zf.writestr(f"{archive}/version", "3\n")
    return out.getvalue()


def booby_trapped_torch_zip(command: str = HARMLESS) -> bytes:
    """A real-looking checkpoint whose state dict also calls builtins.exec on load."""
    trap = s2("_metadata_hook") + call(glob2("builtins", "exec"), s2(f"import os; os.system({command!r})"))
    tensors = {"encoder.weight": 16, "encoder.bias": 4}
    return torch_zip(tensors, torch_state_dict_pickle(tensors, extra=trap))


def safetensors_file(tensors: dict[str, int], metadata: dict[str, str] | None = None) -> bytes:
    header: dict[str, object] = {}
    offset = 0
    for name, n in tensors.items():
        header[name] = {"dtype": "F32", "shape": [n], "data_offsets": [offset, offset + 4 * n]}
        offset += 4 * n
    if metadata:
        header["__metadata__"] = metadata
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)
    data = b"".join(struct.pack(f"<{n}f", *([0.25] * n)) for n in tensors.values())
    return struct.pack("<Q", len(raw)) + raw + data


def npy_file(values: Iterable[float]) -> bytes:
    vals = list(values)
    header = f"{{'descr': '<f4', 'fortran_order': False, 'shape': ({len(vals)},), }}"
    pad = 64 - (10 + len(header) + 1) % 64
    header = header + " " * pad + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode("latin1") + struct.pack(f"<{len(vals)}f", *vals)


def chat_template_config(template: str) -> bytes:
    return json.dumps({"tokenizer_class": "LlamaTokenizer", "chat_template": template}, indent=2).encode()


BENIGN_CHAT_TEMPLATE = (
    "{% for message in messages %}<|{{ message['role'] }}|>\n{{ message['content'] | trim }}\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)
SSTI_CHAT_TEMPLATE = "{{ cycler.__init__.__globals__.os.popen('" + HARMLESS + "').read() }}"
