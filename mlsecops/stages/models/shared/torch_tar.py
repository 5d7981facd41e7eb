"""PyTorch's oldest checkpoint format: a tar with members `sys_info`, `pickle`, `storages`
and `tensors` (`torch.serialization._legacy_load.legacy_load`, still read by torch.load
with weights_only=False, which tries every file it is given as such a tar first).

torch reads three members, found as tarfile finds them: `storages` and `tensors` with
`tar.extract` and `pickle` with `tar.extractfile`, each the last member of that name,
a link standing for the member it names. `storages` and `tensors` are pickles
interleaved with raw data, which a scanner that reads stacked pickles stops at:
`storages` is a pickle of the count, then per storage a pickle `(key, location,
storage_type)` followed by an int64 element count and that many elements of the storage
type's size, then a pickle of the storage views; `tensors` is a pickle of the count,
then per tensor a pickle followed by ndim (int32), 4 bytes, ndim sizes, ndim strides and
an offset (int64). `pickle` is one pickle whose persistent ids torch resolves: a tuple
`(class, source file, source)` stands for its first item. Every pickle is walked where
torch unpickles it, and the counts and storage types are the values the walk computes
(what the unpickler returns), so they are spelled any way the unpickler accepts. Where
the layout cannot be followed (a count or a storage type that is not a constant) the rest
fails closed; where torch itself would fail (a pickle every unpickler rejects, the end of
the member), nothing after runs and the walk stops.
"""

from __future__ import annotations

import struct
import tarfile
from typing import BinaryIO

from mlsecops.findings import Severity
from mlsecops.formats.pickle import Global
from mlsecops.stages.models import rules
from mlsecops.stages.models.context import ScanState
from mlsecops.stages.models.shared.pickle_region import analyze_region

READS = ("storages", "tensors", "pickle")  # in torch's order; names exact, at the top
ELEMENT_SIZE = {"DoubleStorage": 8, "FloatStorage": 4, "HalfStorage": 2, "LongStorage": 8, "IntStorage": 4,
                "ShortStorage": 2, "CharStorage": 1, "ByteStorage": 1, "BoolStorage": 1, "BFloat16Storage": 2,
                "ComplexDoubleStorage": 16, "ComplexFloatStorage": 8, "QUInt8Storage": 1, "QInt8Storage": 1,
                "QInt32Storage": 4, "QUInt4x2Storage": 1, "QUInt2x4Storage": 1}
MAX_LINKS = 32


class _Lost(Exception):
    """The layout cannot be followed from here on (the loader may read on)."""


class _Ends(Exception):
    """torch.load fails here: nothing after this point is read."""


def is_file(info: tarfile.TarInfo) -> bool:
    """Members extractfile hands out as file content: regular ones, and any type tarfile does not know."""
    return info.isreg() or info.type not in tarfile.SUPPORTED_TYPES


def members_read(members: list[tarfile.TarInfo]) -> dict[str, tarfile.TarInfo]:
    """For each member torch reads, the member whose content it gets (tarfile's getmember:
    the last of that name; a hard or symbolic link: what tarfile's _find_link_target finds,
    a symlink counted too, as where the OS cannot make one tarfile copies its target)."""
    out: dict[str, tarfile.TarInfo] = {}
    for name in READS:
        info = _last(members, name, len(members), normalize=False)
        for _ in range(MAX_LINKS):
            if info is None or not (info.islnk() or info.issym()):
                break
            info = _link_target(members, info)
        if info is not None and is_file(info):
            out[name] = info
    return out


def _last(members: list[tarfile.TarInfo], name: str, before: int, normalize: bool) -> tarfile.TarInfo | None:
    import os.path

    if normalize:
        name = os.path.normpath(name)
    for info in reversed(members[:before]):
        if (os.path.normpath(info.name) if normalize else info.name) == name:
            return info
    return None


def _link_target(members: list[tarfile.TarInfo], info: tarfile.TarInfo) -> tarfile.TarInfo | None:
    """tarfile.TarFile._find_link_target: a symlink's target relative to its folder, searched in
    the whole archive; a hard link's by name, among the members before it."""
    import os.path

    if info.issym():
        name = "/".join(filter(None, (os.path.dirname(info.name), info.linkname)))
        return _last(members, name, len(members), normalize=True)
    index = next((i for i, m in enumerate(members) if m is info), len(members))
    return _last(members, info.linkname, index, normalize=True)


def analyze_member(state: ScanState, fh: BinaryIO, size: int, name: str, member: str, depth: int) -> None:
    """Walk one member torch reads (`storages`, `tensors` or `pickle`) as torch reads it."""
    if name == "pickle":
        analyze_region(state, fh, 0, size, member, name, max_pickles=1, depth=depth, persistent="torch-tar")
        return
    pos = 0
    try:
        pos, count = _small_pickle(state, fh, pos, size, member, name, depth)
        if type(count) not in (int, bool) or count < 0:  # type: ignore[operator]
            raise _Lost(f"the {name} count is not a constant integer")
        for _ in range(count):  # type: ignore[call-overload]
            pos, args = _small_pickle(state, fh, pos, size, member, name, depth)
            pos = _skip_storage(fh, args, pos, size) if name == "storages" else _skip_tensor(fh, pos, size)
        if name == "storages":
            _small_pickle(state, fh, pos, size, member, name, depth)
    except _Ends:
        return
    except _Lost as exc:
        state.observe(rules.SCAN_LIMIT_EXCEEDED, Severity.high, f"The legacy torch checkpoint's {name!r} stream could not be followed "
                      f"after offset {pos} ({exc}): torch.load unpickles what follows", member, f"torch-tar:{name}")


def _small_pickle(state: ScanState, fh: BinaryIO, pos: int, size: int, member: str, name: str,
                  depth: int) -> tuple[int, object]:
    """Walk and judge the one pickle at `pos`; (its end, the value it returns)."""
    if pos >= size:
        raise _Ends  # pickle.load at the end of the file: EOFError
    one = analyze_region(state, fh, pos, size, f"{member}#pickle@{pos}", name, max_pickles=1, depth=depth)
    if one.blind:
        raise _Lost("a pickle in it could not be read")
    if one.broken is not None:
        raise _Ends
    return one.end, one.value


def _skip_storage(fh: BinaryIO, args: object, pos: int, size: int) -> int:
    """`key, location, storage_type = args`, then the storage's element count and data."""
    if type(args) is not tuple or len(args) != 3:
        raise _Lost("a storage record that is not a constant (key, location, type) tuple")
    kind = args[2]
    # `storages` is read with the plain pickle module: the type is the object imported, and
    # torch reads `storage_type._dtype`, which only torch's own storage classes are known to have.
    if not isinstance(kind, Global) or kind.module != "torch" or kind.name not in ELEMENT_SIZE:
        raise _Lost("a storage type that is not one of torch's storage classes")
    fh.seek(pos)
    raw = fh.read(8)
    if len(raw) < 8:
        raise _Ends
    (count,) = struct.unpack("<q", raw)
    end = pos + 8 + count * ELEMENT_SIZE[kind.name]
    if count < 0 or end > size:
        raise _Ends  # torch cannot allocate or read it
    return end


def _skip_tensor(fh: BinaryIO, pos: int, size: int) -> int:
    fh.seek(pos)
    raw = fh.read(4)
    if len(raw) < 4:
        raise _Ends
    (ndim,) = struct.unpack("<i", raw)
    end = pos + 8 + 16 * ndim + 8
    if ndim < 0 or end > size:
        raise _Ends
    return end
