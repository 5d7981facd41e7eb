"""A grammar of pickles for the differential tests: every opcode, every spelling the
unpicklers accept (and some they reject), memo and stack tricks, all protocols, frames,
stacked pickles, EXT codes, pickles inside bytes, joblib's inline arrays, and mutations.

`pickles()` is a hypothesis strategy for whole streams: each choice is a hypothesis draw,
so failures shrink. `seeded_pickles()` makes the same programs from one drawn seed and
Python's `random` (a hundred times fewer draws), for the large CI runs. Programs are built
from values that push exactly one object, so most of them are well-formed; mutations (cut,
insert, delete, flip) then push a share of them through every failure path.
"""

from __future__ import annotations

import random
import struct

from hypothesis import strategies as st

# Names imported by the programs: the oracle records them, nothing is imported.
NAMES = [(b"os", b"system"), (b"builtins", b"getattr"), (b"collections", b"OrderedDict"),
         (b"torch._utils", b"_rebuild_tensor_v2"), (b"mod", b"a.b"), (b"numpy", b"dtype"),
         (b"copyreg", b"_reconstructor"), (b"builtins", b"object"), (b"torch.storage", b"_load_from_bytes"),
         (b"_codecs", b"encode"), (b"", b"x"), (b"m\xc3\xa9", b"n"), (b"bad\xff", b"x"), (b"__builtin__", b"eval"),
         (b"joblib.numpy_pickle", b"NumpyArrayWrapper")]
EXT_CODES = [1, 2, 255, 256, 65535, 65536, 0x7FFFFFFF, 3, 0, -1]
EXTENSIONS = {1: ("extmod", "ext1"), 2: ("extmod", "ext2"), 255: ("extmod", "ext255"), 256: ("extmod", "ext256"),
              65535: ("extmod", "ext65535"), 65536: ("extmod", "ext65536"), 0x7FFFFFFF: ("extmod", "extmax")}

INT_SPELLINGS = [b"K\x05", b"K\xff", b"M\x01\x02", b"J\xff\xff\xff\xff", b"J\x01\x00\x00\x00", b"I12\n", b"I0x1f\n",
                 b"I017\n", b"I 12\n", b"I12 \n", b"I1_0\n", b"I\x00\n", b"I12\x00z\n", b"I00\n", b"I01\n", b"I+1\n",
                 b"I-0\n", b"I0x\n", b"I\n", b"I 1\n", b"I99999999999999999999\n", b"I0b101\n", b"I0o17\n",
                 b"I1\x0b\n", b"I-\n", b"I08\n", b"L12L\n", b"L0x1fL\n", b"L017L\n", b"L12\n", b"L\n", b"L1_2L\n",
                 b"L 5 \n", b"L12\x00L\n", b"\x8a\x02\x01\x00", b"\x8a\x00", b"\x8a\x01\xff",
                 b"\x8b\x02\x00\x00\x00\xff\x7f", b"\x8b\xff\xff\xff\xff", b"\x8b\x00\x00\x00\x00"]
FLOAT_SPELLINGS = [b"F1.5\n", b"F 1.5\n", b"F1.5 \n", b"F1_0.5\n", b"F1e999\n", b"F-1e999\n", b"F1e-999\n",
                   b"Finf\n", b"Fnan\n", b"Finfinity\n", b"F1.5\x00x\n", b"F0x1p3\n", b"F\n", b"F.5\n", b"F5.\n",
                   b"G?\xf8\x00\x00\x00\x00\x00\x00", b"G\x7f\xf8\x00\x00\x00\x00\x00\x00"]
STRING_SPELLINGS = [b"S'abc'\n", b'S"abc"\n', b"S'abc\n", b"S'a\\x62c'\n", b"S'a\\x4'\n", b"S'\\x80'\n",
                    b"S''\n", b"S'\n", b"S'a\\qb'\n", b"S'os'\n", b"S'system'\n", b"S'\xe9'\n", b"S'x\x00y'\n",
                    b"Vabc\n", b"V\\u0065val\n", b"V\\u12\n", b"Vos\n", b"Vsystem\n", b"V\xe9\n", b"V\n"]
TEXTS = ["os", "system", "getattr", "abc", "a.b", "tofile", "__reduce__", "latin1", "x" * 20, "é", ""]


def _len(width: int, n: int) -> bytes:
    return n.to_bytes(width, "little")


class Choices:
    """Where a program's choices come from: hypothesis draws, or a seeded random.Random."""

    def __init__(self, draw: st.DrawFn | None = None, rng: random.Random | None = None) -> None:
        self.draw_fn = draw
        self.rng = rng

    def integer(self, low: int, high: int) -> int:
        if self.rng is not None:
            return self.rng.randint(low, high)
        return self.draw_fn(st.integers(low, high))  # type: ignore[misc]

    def binary(self, low: int, high: int) -> bytes:
        n = self.integer(low, high)
        if self.rng is not None:
            return self.rng.randbytes(n)
        return self.draw_fn(st.binary(min_size=n, max_size=n))  # type: ignore[misc]


class Gen:
    """Draws one program; remembers memo keys so GETs mostly find what a PUT stored."""

    def __init__(self, choices: Choices, budget: int) -> None:
        self.c = choices
        self.budget = budget
        self.keys: set[int] = set()

    def pick(self, options: list):  # type: ignore[no-untyped-def,type-arg]
        return options[self.c.integer(0, len(options) - 1)]

    def coin(self, p: float = 0.5) -> bool:
        return self.c.integer(0, 99) < p * 100

    def integer(self, low: int, high: int) -> int:
        return self.c.integer(low, high)

    # -- leaves -----------------------------------------------------------------------------
    def text(self) -> bytes:
        raw = self.pick(TEXTS).encode()
        form = self.pick(["short", "short", "bin", "bin8", "py2short", "py2", "bytes", "bad", "memo"])
        if form == "short":
            return b"\x8c" + bytes([len(raw)]) + raw
        if form == "bin":
            return b"X" + _len(4, len(raw)) + raw
        if form == "bin8":
            return b"\x8d" + _len(8, len(raw)) + raw
        if form == "py2short":
            return b"U" + bytes([len(raw)]) + raw
        if form == "py2":
            return b"T" + _len(4, len(raw)) + raw
        if form == "bytes":
            return b"C" + bytes([len(raw)]) + raw
        if form == "bad":
            return b"\x8c\x02\xc3\x28"  # not UTF-8
        if self.keys:
            return self.get()
        return b"\x8c" + bytes([len(raw)]) + raw

    def blob(self) -> bytes:
        data = self.c.binary(0, 24)
        form = self.pick(["C", "B", "8", "ba", "ba-ro", "ro", "nested", "huge"])
        if form == "C":
            return b"C" + bytes([len(data)]) + data
        if form == "B":
            return b"B" + _len(4, len(data)) + data
        if form == "8":
            return b"\x8e" + _len(8, len(data)) + data
        if form in ("ba", "ba-ro"):
            return b"\x96" + _len(8, len(data)) + data + (b"\x98" if form == "ba-ro" else b"")
        if form == "ro":
            return b"C" + bytes([len(data)]) + data + b"\x98"
        if form == "nested" and self.budget > 20:
            inner = b"\x80\x04" + self.sub_program() + b"."
            return b"B" + _len(4, len(inner)) + inner
        return b"B\xff\xff\xff\xff" + data  # a length longer than the stream

    def leaf(self) -> bytes:
        kind = self.pick(["int", "int", "float", "text", "text", "string", "blob", "const", "buffer", "persid"])
        if kind == "int":
            return self.pick(INT_SPELLINGS)
        if kind == "float":
            return self.pick(FLOAT_SPELLINGS)
        if kind == "text":
            return self.text()
        if kind == "string":
            return self.pick(STRING_SPELLINGS)
        if kind == "blob":
            return self.blob()
        if kind == "const":
            return self.pick([b"N", b"\x88", b"\x89", b")", b"]", b"}", b"\x8f"])
        if kind == "buffer":
            return b"\x97" + (b"\x98" if self.coin() else b"")
        return self.pick([b"Pabc\n", b"P\xe9\n", b"P\n"]) if self.coin() else self.value(1) + b"Q"

    # -- memo -------------------------------------------------------------------------------
    def put(self) -> bytes:
        form = self.pick(["memoize", "binput", "long", "text", "text-odd"])
        if form == "memoize":
            self.keys.add(len(self.keys))
            return b"\x94"
        idx = self.integer(0, 300)
        self.keys.add(idx)
        if form == "binput":
            idx %= 256
            self.keys.add(idx)
            return b"q" + bytes([idx])
        if form == "long":
            return b"r" + _len(4, idx)
        if form == "text":
            return b"p" + str(idx).encode() + b"\n"
        return self.pick([b"p 1\n", b"p1\x00x\n", b"p+2\n", b"p1_0\n", b"p-1\n", b"p\n"])

    def get(self) -> bytes:
        idx = self.pick(sorted(self.keys)) if self.keys and self.coin(0.9) else self.integer(0, 300)
        form = self.pick(["bin", "long", "text", "odd"])
        if form == "bin" and idx < 256:
            return b"h" + bytes([idx])
        if form == "long":
            return b"j" + _len(4, idx)
        if form == "odd":
            return self.pick([b"g 1\n", b"g1\x00\n", b"g+1\n", b"g0\n", b"g-1\n"])
        return b"g" + str(idx).encode() + b"\n"

    # -- imports and calls ------------------------------------------------------------------
    def global_(self) -> bytes:
        module, name = self.pick(NAMES)
        form = self.pick(["GLOBAL", "GLOBAL", "STACK_GLOBAL", "STACK_GLOBAL", "stack-odd", "EXT", "INST"])
        if form == "GLOBAL":
            return b"c" + module + b"\n" + name + b"\n"
        if form == "STACK_GLOBAL":
            return self.str_push(module) + self.str_push(name) + b"\x93"
        if form == "stack-odd":
            return self.text() + self.text() + b"\x93"
        if form == "EXT":
            code = self.pick(EXT_CODES)
            if 0 <= code < 256 and self.coin():
                return b"\x82" + bytes([code])
            if 0 <= code < 65536 and self.coin():
                return b"\x83" + _len(2, code)
            return b"\x84" + struct.pack("<i", code)
        args = b"".join(self.value(1) for _ in range(self.integer(0, 2)))
        return (b"(" if self.coin(0.8) else b"") + args + b"i" + module + b"\n" + name + b"\n"

    def str_push(self, raw: bytes) -> bytes:
        form = self.pick(["short", "bin", "py2", "text", "memo"])
        if form == "short":
            return b"\x8c" + bytes([len(raw)]) + raw
        if form == "bin":
            return b"X" + _len(4, len(raw)) + raw
        if form == "py2":
            return b"U" + bytes([len(raw)]) + raw
        if form == "text":
            return b"V" + raw + b"\n"
        push = b"\x8c" + bytes([len(raw)]) + raw
        out = push + self.put()
        return out + b"0" + self.get() if self.coin() else out

    def args(self) -> bytes:
        n = self.integer(0, 3)
        items = [self.value(2) for _ in range(n)]
        if n <= 3 and self.coin(0.6):
            return b"".join(items) + {0: b")", 1: b"\x85", 2: b"\x86", 3: b"\x87"}[n]
        if self.coin(0.85):
            return b"(" + b"".join(items) + b"t"
        return self.value(2)  # not a tuple

    def call(self) -> bytes:
        form = self.pick(["reduce", "reduce", "newobj", "newobj_ex", "obj", "getattr", "codecs", "lfb"])
        if form == "reduce":
            return self.global_() + self.args() + b"R"
        if form == "newobj":
            return self.global_() + self.args() + b"\x81"
        if form == "newobj_ex":
            form = self.pick(["empty", "str-key", "int-key", "value"])
            kwargs = {"empty": b"}", "str-key": b"}\x8c\x01kK\x01s", "int-key": b"}K\x01K\x02s"}.get(form) \
                or self.value(2)
            return self.global_() + self.args() + kwargs + b"\x92"
        if form == "obj":
            return b"(" + self.global_() + b"".join(self.value(2) for _ in range(self.integer(0, 2))) + b"o"
        if form == "getattr":
            target = self.global_() if self.coin() else self.value(2)
            return b"cbuiltins\ngetattr\n" + target + self.text() + b"\x86R"
        if form == "codecs":
            return b"c_codecs\nencode\n" + self.text() + b"U\x06latin1\x86R"
        return b"ctorch.storage\n_load_from_bytes\n" + self.blob() + b"\x85R"

    # -- containers -------------------------------------------------------------------------
    def container(self, depth: int) -> bytes:
        kind = self.pick(["tuple", "list", "dict", "set", "frozen"])
        n = self.integer(0, 3)
        items = [self.value(depth + 1) for _ in range(n)]
        if kind == "tuple":
            if n <= 3 and self.coin():
                return b"".join(items) + {0: b")", 1: b"\x85", 2: b"\x86", 3: b"\x87"}[n]
            return b"(" + b"".join(items) + b"t"
        if kind == "list":
            if self.coin():
                return b"(" + b"".join(items) + b"l"
            if n == 1 and self.coin():
                return b"]" + items[0] + b"a"
            return b"](" + b"".join(items) + b"e"
        if kind == "dict":
            pairs = b"".join(self.value(depth + 1) + v for v in items)
            if self.coin():
                return b"(" + pairs + b"d"
            if n == 1 and self.coin():
                return b"}" + pairs + b"s"
            return b"}(" + pairs + b"u"
        if kind == "set":
            return b"\x8f(" + b"".join(items) + b"\x90"
        return b"(" + b"".join(items) + b"\x91"

    def joblib_array(self) -> bytes:
        """A joblib NumpyArrayWrapper with its inline array (sometimes inconsistent)."""
        count = self.integer(0, 4)
        spec = self.pick([b"f8", b"i4", b"O8", b"V3", b"U2", b"b1"])
        size = {b"f8": 8, b"i4": 4, b"O8": 8, b"V3": 3, b"U2": 8, b"b1": 1}[spec]
        state = {b"f8": b"(K\x03\x8c\x01<NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00t",
                 b"O8": b"(K\x03\x8c\x01|NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK?t"}.get(spec, b"N")
        dtype = b"cnumpy\ndtype\n\x8c" + bytes([len(spec)]) + spec + b"\x89\x88\x87R" + (state + b"b" if state != b"N" else b"")
        shape = self.pick([b"K" + bytes([count]) + b"\x85", b")", b"J\xff\xff\xff\xff\x85", b"N"])
        aligned = self.coin(0.7)
        fields = (b"\x8c\x05shape" + shape + b"\x8c\x05dtype" + dtype + b"\x8c\x05order\x8c\x01C"
                  + (b"\x8c\x1bnumpy_array_alignment_bytes" + b"K\x10" if aligned else b""))
        cls = b"cjoblib.numpy_pickle\nNumpyArrayWrapper\n"
        make = self.pick([cls + b")\x81", cls + b")\x81", cls + b")}\x92",  # NEWOBJ, NEWOBJ_EX
                          b"ccopyreg\n_reconstructor\n" + cls + b"cbuiltins\nobject\nN\x87R",
                          b"ccopyreg\n__newobj__\n" + cls + b"\x85R", b"(" + cls + b"o"])  # ... and OBJ
        head = make + b"}(" + fields + b"ub"
        if spec == b"O8":
            body = b"\x80\x04" + self.sub_program() + b"."
        else:
            pad = self.integer(0, 15)
            body = ((bytes([pad]) + b"\xff" * pad) if aligned else b"") + self.c.binary(
                count * size, count * size + (2 if self.coin(0.2) else 0))
        return head + body

    # -- values ---------------------------------------------------------------------------
    def value(self, depth: int = 0) -> bytes:
        self.budget -= 1
        if self.budget <= 0 or depth > 3:
            return self.leaf()
        kind = self.pick(["leaf", "leaf", "container", "global", "call", "call", "build", "memo", "noise", "joblib"])
        if kind == "leaf":
            out = self.leaf()
        elif kind == "container":
            out = self.container(depth)
        elif kind == "global":
            out = self.global_()
        elif kind == "call":
            out = self.call()
        elif kind == "build":
            out = self.value(depth + 1) + self.value(depth + 1) + b"b"
        elif kind == "memo":
            out = self.get() if self.keys and self.coin(0.4) else self.value(depth + 1) + self.put()
        elif kind == "noise":
            form = self.pick(["dup-pop", "pop-mark", "pop"])
            if form == "dup-pop":
                out = self.value(depth + 1) + b"2" + b"0"
            elif form == "pop-mark":
                out = b"(" + self.value(depth + 1) + b"1" + self.leaf()
            else:
                out = self.value(depth + 1) + self.value(depth + 1) + b"0"
        else:
            out = self.joblib_array() if depth == 0 else self.leaf()
        if self.coin(0.15):
            out += self.put()
        return out

    def sub_program(self) -> bytes:
        saved = self.keys
        self.keys = set()
        out = self.value(2)
        self.keys = saved
        return out


def program(c: Choices, budget: int = 12) -> bytes:
    g = Gen(c, budget)
    proto = g.pick([b"", b"", b"\x80\x02", b"\x80\x04", b"\x80\x05", b"\x80\x00", b"\x80\x06"])
    body = b"".join(g.value(0) for _ in range(c.integer(1, 2)))
    if g.coin(0.25):
        body = body + b"\x80\x03"  # PROTO in the middle
    stop = b"." if g.coin(0.92) else b""
    if proto[1:] in (b"\x04", b"\x05") and g.coin():
        declared = len(body) + len(stop) + g.pick([0, 0, 0, -1, 1, 5])
        return proto + b"\x95" + struct.pack("<Q", max(0, declared)) + body + stop
    return proto + body + stop


def _mutate(data: bytes, kind: str, pos: int, byte: int) -> bytes:
    if not data:
        return data
    pos %= len(data)
    if kind == "cut":
        return data[:pos]
    if kind == "insert":
        return data[:pos] + bytes([byte]) + data[pos:]
    if kind == "delete":
        return data[:pos] + data[pos + 1 :]
    return data[:pos] + bytes([byte]) + data[pos + 1 :]


def stream(c: Choices) -> bytes:
    """Stacked programs, sometimes trailing junk, sometimes one mutation."""
    g = Gen(c, 0)
    data = b"".join(program(c) for _ in range(g.pick([1, 1, 1, 2, 3])))
    if g.coin(0.1):
        data += g.pick([b"\xde\xad", b"cat\ndog\n", b"\x00", b"junk"])
    if g.coin(0.3):
        data = _mutate(data, g.pick(["cut", "insert", "delete", "flip"]), c.integer(0, 1 << 16), c.integer(0, 255))
    return data


@st.composite
def pickles(draw: st.DrawFn) -> bytes:
    return stream(Choices(draw=draw))


def seeded_pickles() -> st.SearchStrategy[bytes]:
    return st.integers(0, 2**64 - 1).map(lambda seed: stream(Choices(rng=random.Random(seed))))
