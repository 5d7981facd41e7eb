"""Is this a pickle? Decided the way the unpickler decides it: by reading it.

A pickle needs no magic number: the unpickler runs whatever opcodes it finds
from the first byte. So a file nothing else claims is a pickle exactly when an
unpickler reading it from byte 0 would import or call something before it
fails, or reads all of it as pickles without an error (or is still reading
when the sniff's budget runs out). A requirements
file whose first line is `torch==2.13.0` starts with TUPLE, which needs a
MARK: every unpickler fails on the first byte, having done nothing, so it is
not a pickle. A word list starting `cat` imports module `at`: it is one.

An import counts when it could reach something: `__import__` finds a module only
by a dotted path of identifiers, and getattr an attribute only by one, so
`import os` in Python source (INST: the pure-Python unpickler asks for module
`mport os`) is not a pickle; a name no module can have can only be served by a
file planted under that name, which is code, not a model. The walk is the same
symbolic unpickler the scan uses, bounded; nothing runs.
"""

from __future__ import annotations

from typing import BinaryIO

from mlsecops.formats.pickle.opcodes import VALID
from mlsecops.formats.pickle.stream import walk_stream
from mlsecops.formats.pickle.vm import ALL, MAX_DEPTH, Budget, Options

SNIFF_OPCODES = 200_000
SNIFF_BYTES = 16 * 1024 * 1024  # the most a sniff reads (it runs in the gate process)
SNIFF_FIRST_READ = 64 * 1024


def would_run(fh: BinaryIO, size: int, max_opcodes: int = SNIFF_OPCODES, more: bool = False) -> bool:
    """Would an unpickler reading this stream from its first byte import or call anything,
    or read the whole of it as pickles?

    True as well when the stream is still being read when the budget (opcodes
    or SNIFF_BYTES) runs out: the full walk in a worker decides. `more`: fh holds only
    the first `size` bytes of a longer stream (a decoded head), so running out of them
    is running out of budget, not the end of the stream."""
    if size < 1:
        return False
    fh.seek(0)
    first = fh.read(1)
    if not first or first[0] not in VALID:
        return False
    cap = min(size, SNIFF_BYTES)
    opts = Options(first_read=SNIFF_FIRST_READ)
    walk = walk_stream(fh, 0, cap, Budget(max_opcodes), opts, ALL, None, depth=MAX_DEPTH)
    if any(g.opcode == "EXT" or _resolvable(g.module, g.name) for g in walk.globals):
        return True
    if walk.complete and walk.end == size and not more and not any(i.kind == "trailing-data" for i in walk.issues):
        return True  # a pickle from the first byte to the last
    if walk.blind:
        return True  # the walk could not follow the stream (a limit, a layout): the scan decides
    return (cap < size or more) and any(i.kind == "truncated" for i in walk.issues)


def _resolvable(module: str, name: str) -> bool:
    return all(part.isidentifier() for part in module.split(".") + name.split("."))
