"""Evasion variants: the same `echo` payload (or an import that could carry one) dressed
as every pickle dialect, opcode trick, container, compression, polyglot and misleading
name we could think of. Each must be blocked by the default policy.

`PICKLES` are raw pickle streams: the suite also hands each one to the loader oracle
(CPython's unpickler with a recording `find_class`) to prove the stream is real, i.e.
that a loader would import what the scanner must flag. `files()` returns every variant
as workspace files, containers and polyglots included. Nothing here is loaded.
"""

from __future__ import annotations

import base64
import bz2
import gzip
import io
import lzma
import struct
import tarfile
import zlib
from pathlib import Path

from mlsecops import fixtures as fx
from tests.adversarial import attacks as A

CMD = fx.HARMLESS
TEXT_CALL = b"cos\nsystem\n(S'" + CMD.encode() + b"'\ntR."          # protocol 0
BIN_ARG = fx.s(CMD)
CALL4 = fx.call(fx.glob4("os", "system"), BIN_ARG)


def _u(text: str) -> bytes:
    data = text.encode()
    return b"X" + struct.pack("<I", len(data)) + data


def _framed(body: bytes) -> bytes:
    return b"\x80\x05\x95" + struct.pack("<Q", len(body)) + body


def _stack_global_from(module: bytes, name: bytes) -> bytes:
    return module + name + b"\x93"


PICKLES: dict[str, bytes] = {
    # -- protocols ---------------------------------------------------------------
    "proto0_text": TEXT_CALL,
    "proto1_binput": b"cos\nsystem\nq\x00(" + _u(CMD) + b"tR.",
    "proto2": fx.pickle2(fx.call(fx.glob2("os", "system"), fx.s2(CMD))),
    "proto3_bytes_arg": b"\x80\x03" + fx.glob2("subprocess", "check_output") + b"(" + fx.b(CMD.encode()) + b"tR.",
    "proto4_stack_global": fx.malicious_pickle(),
    "proto5_framed": _framed(CALL4 + b"."),
    # -- openings a magic-number check misses -------------------------------------
    "proto_marker_0": b"\x80\x00" + TEXT_CALL,
    "proto_marker_1": b"\x80\x01" + TEXT_CALL,
    "no_proto_binary": CALL4 + b".",
    "frame_first": b"\x95" + struct.pack("<Q", len(CALL4) + 1) + CALL4 + b".",
    "bytes_first": b"C\x03abc0" + CALL4 + b".",
    "big_string_first": _u("A" * 9000) + b"0" + TEXT_CALL,
    "persistent_id_first": b"Pstorage\n0" + TEXT_CALL,
    "true_first": b"\x880" + CALL4 + b".",
    # -- calling without REDUCE ---------------------------------------------------
    "inst": b"(S'" + CMD.encode() + b"'\nios\nsystem\n.",
    "obj": b"(cos\nsystem\nS'" + CMD.encode() + b"'\no.",
    "newobj": b"\x80\x02" + fx.glob2("subprocess", "Popen") + b"(" + fx.s2(CMD) + b"t\x81.",
    "newobj_ex": b"\x80\x04" + fx.glob4("subprocess", "Popen") + b"(" + BIN_ARG + b"t}\x92.",
    "build_on_module": b"\x80\x02cos\nenviron\n}(X\x04\x00\x00\x00PATHX\x04\x00\x00\x00/tmpub.",
    # -- names ---------------------------------------------------------------------
    "py2_builtin_eval": b"c__builtin__\neval\n(S'print(1)'\ntR.",
    "py2_posix": b"cposix\nsystem\n(S'" + CMD.encode() + b"'\ntR.",
    "py2_commands": b"ccommands\ngetoutput\n(S'" + CMD.encode() + b"'\ntR.",
    "dotted_attribute_path": b"\x80\x04" + fx.call(fx.glob4("numpy", "testing._private.utils.os.system"), BIN_ARG) + b".",
    "dotted_importlib": b"\x80\x04" + fx.call(fx.glob4("torch", "nn.functional.importlib.import_module"), fx.s("os")) + b".",
    "dunder_globals": b"\x80\x04" + fx.glob4("collections", "OrderedDict.__init__.__globals__") + b".",
    "pkgutil_resolve": b"\x80\x04" + fx.call(fx.glob4("pkgutil", "resolve_name"), fx.s("os:system")) + b".",
    "getattr_chain": b"\x80\x04" + fx.call(fx.glob4("builtins", "getattr"), fx.call(fx.glob4("builtins", "__import__"),
                                                                                   fx.s("os")), fx.s("system")) + b".",
    # -- memo and stack tricks ------------------------------------------------------
    "memo_binget": b"\x80\x04" + fx.s("os") + b"q\x05" + fx.s("system") + b"q\x06" + b"h\x05h\x06\x93" + b"(" + BIN_ARG
                   + b"tR.",
    "memo_long_far": b"\x80\x04" + fx.s("os") + b"r\x00\x00\x10\x00" + b"0" + b"j\x00\x00\x10\x00" + fx.s("system")
                     + b"\x93(" + BIN_ARG + b"tR.",
    "memo_overwrite": b"\x80\x04" + fx.s("collections") + b"q\x00" + b"0" + fx.s("os") + b"q\x00" + b"0"
                      + b"h\x00" + fx.s("system") + b"\x93(" + BIN_ARG + b"tR.",
    "memo_text_put_get": b"S'os'\np0\n0S'system'\np1\n0g0\ng1\n\x93(S'" + CMD.encode() + b"'\ntR.",
    "dup_and_pop_mark": b"\x80\x04(" + fx.s("os") + b"2" + b"1" + fx.s("os") + fx.s("system") + b"\x93(" + BIN_ARG + b"tR.",
    "stack_global_computed": b"\x80\x04" + fx.call(fx.glob4("builtins", "str"), fx.b(b"os"), fx.s("ascii"))
                             + fx.s("system") + b"\x93(" + BIN_ARG + b"tR.",
    # -- pickles inside pickles -------------------------------------------------------
    "nested_loads_raw": b"\x80\x04" + fx.call(fx.glob4("pickle", "loads"), fx.b(fx.malicious_pickle())) + b".",
    "nested_base64": b"\x80\x04}" + fx.s("blob") + fx.s(base64.b64encode(fx.malicious_pickle()).decode()) + b"s.",
    "nested_hex": b"\x80\x04}" + fx.s("blob") + fx.s(fx.malicious_pickle().hex()) + b"s.",
    "nested_codecs_latin1": b"\x80\x02" + fx.glob2("_codecs", "encode") + b"(" + fx.s2(fx.malicious_pickle().decode("latin1"))
                            + fx.s2("latin1") + b"tR.",
}

# Strings that hold a pickle: harmless until the application unpickles the decoded text,
# so a loader alone imports nothing; the gate still flags the hidden pickle (MLS106).
HIDDEN_ONLY = frozenset({"nested_base64", "nested_hex"})

# EXT opcodes import whatever the process registered in copyreg; a stock interpreter has
# none, so the oracle cannot show the import, but a victim that registered codes would.
EXT_PICKLES: dict[str, bytes] = {
    "ext1": b"\x80\x02\x82\x01(" + fx.s2(CMD) + b"tR.",
    "ext2": b"\x80\x02\x83\x01\x02(" + fx.s2(CMD) + b"tR.",
    "ext4": b"\x80\x02\x84\x01\x02\x03\x04(" + fx.s2(CMD) + b"tR.",
}

# Callables that were not on the denylist (or are not now): stdlib and ML-library ones
# land in the `risky` tier (high), proven gadgets in `deny` (critical), third-party ones that
# reach a sink in the generated denylist (critical). All block. (numpy.vectorize is not here:
# unpickling one only stores its pyfunc, which the gate judges as called; see
# tests/models/test_pickle_uses.py. vectorize("cmd") itself raises TypeError at load.)
GADGETS: list[tuple[str, str]] = [
    ("copy", "deepcopy"), ("codecs", "decode"), ("zlib", "decompress"), ("base64", "b64decode"),
    ("atexit", "register"), ("operator", "add"), ("collections", "namedtuple"), ("builtins", "dir"),
    ("logging", "Logger"), ("ctypes.util", "find_library"), ("encodings", "search_function"),
    ("numpy", "frompyfunc"), ("numpy.lib.format", "read_array"),
    ("psutil", "Popen"), ("urllib3", "request"), ("zstandard", "open"), ("lz4.frame", "open"),
    ("torch.utils.data", "DataLoader"), ("torch._ops", "ops"), ("torch", "compile"),
    ("transformers", "pipeline"), ("transformers.dynamic_module_utils", "get_class_from_dynamic_module"),
    ("huggingface_hub", "snapshot_download"), ("onnx", "load"), ("keras.saving", "load_model"),
    ("pandas.core.frame", "DataFrame.eval"), ("pandas.core.frame", "DataFrame.query"),
    ("jinja2", "Template.render"), ("jinja2.environment", "Environment.from_string"),
    ("sympy", "sympify"), ("sympy.parsing.sympy_parser", "parse_expr"), ("sympy", "lambdify"),
    ("numexpr", "evaluate"), ("IPython.utils.process", "system"), ("triton.runtime.build", "_build"),
    ("fsspec", "open"), ("yaml", "unsafe_load_all"), ("networkx", "read_gml"), ("mpmath", "mpmathify"),
]


def gadget_pickle(module: str, name: str) -> bytes:
    return fx.pickle4(fx.call(fx.glob4(module, name), fx.s(CMD)))


def _zip(members: dict[str, bytes], method: int = 0) -> bytes:
    return A.zipped(members, method)


def _npy_object(pickle: bytes) -> bytes:
    header = "{'descr': '|O', 'fortran_order': False, 'shape': (1,), }"
    header += " " * (63 - (10 + len(header)) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode("latin1") + pickle


def _gguf_polyglot() -> bytes:
    # 'G' BINFLOAT swallows "GUF" + the version + one byte; POP; then a text pickle.
    return b"GGUF\x03\x00\x00\x00\x00" + b"0" + TEXT_CALL + b"\x00" * 64


def _safetensors_polyglot() -> bytes:
    # The header length is 0x47 ('G'): BINFLOAT's 8 bytes end on the JSON's '{'.
    return b"G\x00\x00\x00\x00\x00\x00\x00{" + b"0" + TEXT_CALL + b" " * 80


def _tar_polyglot() -> bytes:
    raw = bytearray(A.tarred({"x" * 10: b"hello"}, "w"))
    raw[0:100] = (b"c" + b"os\nsystem\n(S'" + CMD.encode() + b"'\ntR.").ljust(100, b"\0")
    raw[148:156] = b" " * 8
    raw[148:156] = ("%06o\0 " % sum(raw[:512])).encode()
    return bytes(raw)


def eocd_divergence() -> bytes:
    """A benign zip whose comment holds a malicious one; the last end record (the one
    zipfile and miniz read) has a comment length that overruns the file."""
    benign = bytearray(_zip({"archive/data.pkl": fx.benign_dict_pickle()}))
    evil = bytearray(_zip({"archive/data.pkl": fx.malicious_pickle()}))
    struct.pack_into("<H", evil, evil.rfind(b"PK\x05\x06") + 20, 500)
    struct.pack_into("<H", benign, benign.rfind(b"PK\x05\x06") + 20, len(evil))
    return bytes(benign) + bytes(evil)


def png_with_zip() -> bytes:
    return b"\x89PNG\r\n\x1a\n" + b"\0" * 64 + _zip({"archive/data.pkl": fx.malicious_pickle()})


def containers(tmp: Path) -> dict[str, bytes]:
    evil, bare = fx.malicious_pickle(), CALL4 + b"."
    import py7zr

    seven = tmp / "v.7z"
    with py7zr.SevenZipFile(seven, "w") as z:
        z.writestr(evil, "weights.bin")
    out = {
        "containers/deflate.zip": _zip({"w.bin": evil}, 8),
        "containers/bzip2.zip": _zip({"w.bin": evil}, 12),
        "containers/lzma.zip": _zip({"w.bin": evil}, 14),
        "containers/checkpoint.pt": fx.booby_trapped_torch_zip(),
        "containers/no_proto_data.pt": fx.torch_zip({"w": 4}, data_pkl=bare),
        "containers/model.tar": A.tarred({"model.pkl": evil}),
        "containers/model.tar.gz": A.tarred({"model.pkl": evil}, "w:gz"),
        "containers/model.tar.bz2": A.tarred({"model.pkl": evil}, "w:bz2"),
        "containers/model.tar.xz": A.tarred({"model.pkl": evil}, "w:xz"),
        "containers/joblib_zlib.joblib": zlib.compress(evil),
        "containers/joblib_zlib_no_proto.joblib": zlib.compress(bare),
        "containers/joblib.gz": gzip.compress(evil, mtime=0),
        "containers/joblib.bz2": bz2.compress(evil),
        "containers/joblib.xz": lzma.compress(evil),
        "containers/joblib.lzma": lzma.compress(evil, format=lzma.FORMAT_ALONE),
        "containers/lzma_no_proto.lzma": lzma.compress(bare, format=lzma.FORMAT_ALONE),
        "containers/weights.7z": seven.read_bytes(),
        "containers/arrays.npz": _zip({"a.npy": _npy_object(evil)}),
        "containers/object.npy": _npy_object(evil),
        "containers/zip_tar_gz_pickle.zip": _zip({"inner.tar.gz": A.tarred({"m.pkl": evil}, "w:gz")}),
        "containers/zip_in_zip.zip": _zip({"inner.zip": _zip({"deep/w.bin": evil})}),
        "containers/bz2_in_xz_in_gzip.gz": gzip.compress(lzma.compress(bz2.compress(evil)), mtime=0),
        "polyglots/model.gguf": _gguf_polyglot(),
        "polyglots/model.safetensors": _safetensors_polyglot(),
        "polyglots/model.tar": _tar_polyglot(),
        "polyglots/image.png": png_with_zip(),
        "polyglots/eocd_divergence.zip": eocd_divergence(),
    }
    seven.unlink()
    return out


MISLEADING_NAMES = ("config.json", "README.md", "model.safetensors", "model.onnx", "vocab.txt", "image.png",
                    ".gitattributes", "LICENSE", "saved_model.pb", "weights.h5", "tokenizer.json", "chat.j2")


def files(tmp: Path) -> dict[str, bytes]:
    """Every variant as workspace files: path -> bytes."""
    out = {f"pickles/{name}.pkl": data for name, data in {**PICKLES, **EXT_PICKLES}.items()}
    out.update({f"gadgets/{m}.{n}.pkl": gadget_pickle(m, n) for m, n in GADGETS})
    out.update(containers(tmp))
    out.update({f"names/{i:02d}/{name}": fx.malicious_pickle() for i, name in enumerate(MISLEADING_NAMES)})
    out.update({f"names_no_proto/{i:02d}/{name}": CALL4 + b"." for i, name in enumerate(MISLEADING_NAMES)})
    return out


def tar_member_bytes(data: bytes, name: str = "m.pkl") -> bytes:
    """`data` as the only member of an uncompressed tar (used for corpus variants)."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:xz") as tf:
        info = tarfile.TarInfo(name)
        info.size = len(data)
        tf.addfile(info, io.BytesIO(data))
    return out.getvalue()
