"""Values a loader hands back unchanged, which the walk must see through.

torch.load's legacy persistent_load returns an item of the persistent id itself
(torch/serialization.py): ('module', cls, file, source) is cls in the stacked format, read
after a first pickle whose value torch compares with its magic number (however that number
is spelled), and any tuple is its first item in the tar format's `pickle` member. A BUILD on
what comes back changes the class (MLS107). Checked on the walk; the same files are loaded
by torch itself in the red-team corpus (benchmarks/redteam, torch family).
"""

from __future__ import annotations

import io
import pickle

import pytest

from mlsecops.formats.pickle import Options, walk
from mlsecops.formats.pickle.resolve import TORCH_LEGACY_MAGIC

CLS = b"cargparse\nNamespace\n"
BUILD = b"(N}X\x0c\x00\x00\x00dump_patches\x88stb"


def _persid(*items: bytes) -> bytes:
    return b"(" + b"".join(items) + b"tQ"


def _text(s: str) -> bytes:
    return b"X" + len(s).to_bytes(4, "little") + s.encode()


def _builds_on_import(data: bytes, **kw: object) -> bool:
    r = walk(io.BytesIO(data), 0, len(data), 100_000, **kw)  # type: ignore[arg-type]
    return any(i.kind == "build-on-global" for i in r.issues)


MAGICS = {
    "as torch.save writes it": pickle.dumps(TORCH_LEGACY_MAGIC, protocol=2),
    "a protocol 0 LONG": b"L%dL\n." % TORCH_LEGACY_MAGIC,
    "a text INT": b"I%d\n." % TORCH_LEGACY_MAGIC,
    "a hex INT": b"I0x%x\n." % TORCH_LEGACY_MAGIC,
    "LONG4": b"\x80\x02\x8b\x0a\x00\x00\x00" + TORCH_LEGACY_MAGIC.to_bytes(10, "little") + b".",
}
MAIN = b"\x80\x02" + _persid(_text("module"), CLS, _text(""), _text("")) + BUILD + b"."


@pytest.mark.parametrize("spelling", sorted(MAGICS))
def test_a_legacy_persistent_id_is_the_class_after_any_spelling_of_the_magic(spelling: str) -> None:
    stream = MAGICS[spelling] + pickle.dumps(1001, protocol=2) + pickle.dumps({}, protocol=2) + MAIN
    assert _builds_on_import(stream)


def test_without_the_magic_a_persistent_id_stays_unknown() -> None:
    """torch.load stops at a first pickle that is not its magic number: no legacy reading."""
    stream = pickle.dumps(5, protocol=2) + pickle.dumps(1001, protocol=2) + pickle.dumps({}, protocol=2) + MAIN
    assert not _builds_on_import(stream)
    assert not _builds_on_import(MAIN)


def test_the_tar_formats_pickle_member_takes_a_tuple_for_its_first_item() -> None:
    member = b"\x80\x02" + _persid(CLS, _text(""), _text("")) + BUILD + b"."
    assert _builds_on_import(member, opts=Options(persistent="torch-tar"))
    assert not _builds_on_import(member)  # another loader's persistent_load: unknown


def test_a_storage_persistent_id_is_not_taken_for_a_class() -> None:
    storage = b"\x80\x02" + _persid(_text("storage"), b"ctorch\nFloatStorage\n", _text("0"), _text("cpu"),
                                    b"K\x02", b"N") + BUILD + b"."
    stream = MAGICS["as torch.save writes it"] + pickle.dumps(1001, protocol=2) + pickle.dumps({}, protocol=2) + storage
    assert not _builds_on_import(stream)
