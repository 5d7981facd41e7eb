"""Hostile files for the adversarial suite and `benchmarks/adversarial.py`, built in code.

Every builder returns bytes (or writes a file) and loads nothing: bombs are
assembled from repeated compressed blocks, archives byte by byte or with the
standard library's writers, pickles opcode by opcode. Payloads only `echo`.
The sizes are parameters so the tests can stay fast while the benchmark uses
attack-sized inputs.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import os
import struct
import tarfile
import zipfile
import zlib
from pathlib import Path

from mlsecops import fixtures as fx

MB = 1024 * 1024
EVIL = fx.malicious_pickle()
CALL_OS_SYSTEM = fx.call(fx.glob4("os", "system"), fx.s(fx.HARMLESS))


# -- compression bombs ---------------------------------------------------------

def raw_deflate_zeros(n_bytes: int, chunk: int = MB) -> bytes:
    """A raw deflate stream of `n_bytes` zero bytes, built from one repeated full-flush block
    (milliseconds for gigabytes: the block for a chunk of zeros is the same every time)."""
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = comp.compress(b"\0" * chunk) + comp.flush(zlib.Z_FULL_FLUSH)
    count, rest = divmod(n_bytes, chunk)
    tail = zlib.compressobj(9, zlib.DEFLATED, -15)
    return block * count + tail.compress(b"\0" * rest) + tail.flush()


def crc_zeros(n_bytes: int) -> int:
    """CRC-32 of `n_bytes` zero bytes, in microseconds whatever the size (GF(2) operator powers)."""
    return _append_zeros(0, n_bytes)


def _local_header(name: bytes, method: int, crc: int, csize: int, usize: int) -> bytes:
    return struct.pack("<4sHHHHHIIIHH", b"PK\x03\x04", 20, 0, method, 0, 0x21, crc, csize, usize, len(name), 0) + name


def _central(name: bytes, method: int, crc: int, csize: int, usize: int, offset: int) -> bytes:
    return struct.pack("<4sHHHHHHIIIHHHHHII", b"PK\x01\x02", 20, 20, 0, method, 0, 0x21, crc, csize, usize,
                       len(name), 0, 0, 0, 0, 0, offset) + name


def _eocd(count: int, cd_size: int, cd_offset: int) -> bytes:
    return struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, count, count, cd_size, cd_offset, 0)


def zip_bomb(expanded: int, name: str = "weights.bin") -> bytes:
    """One deflated member that expands to `expanded` bytes of zeros."""
    data = raw_deflate_zeros(expanded)
    raw = name.encode()
    head = _local_header(raw, 8, crc_zeros(expanded), len(data), expanded)
    cd = _central(raw, 8, crc_zeros(expanded), len(data), expanded, 0)
    return head + data + cd + _eocd(1, len(cd), len(head) + len(data))


def overlapping_zip_bomb(files: int, kernel: int) -> bytes:
    """Fifield's non-recursive zip bomb ("quoted overlap"): every member's data is a stored
    deflate block quoting the next member's local header, then the same shared kernel, so
    `files` members each expand to about `kernel` bytes from one copy of the kernel."""
    kernel_data = raw_deflate_zeros(kernel)
    names = [f"{i:04d}.bin".encode() for i in range(files)]
    crc = crc_zeros(kernel)
    csize, usize = len(kernel_data), kernel
    headers: list[bytes] = [b""] * files
    content_crcs = [0] * files
    for i in range(files - 1, -1, -1):
        if i < files - 1:
            nxt = headers[i + 1]
            # content_i = header_{i+1} + content_{i+1}: CRC from the right via the combine trick
            crc = _crc_prefix(nxt, content_crcs[i + 1], usize)
            csize += 5 + len(nxt)
            usize += len(nxt)
        content_crcs[i] = crc
        headers[i] = _local_header(names[i], 8, crc, csize, usize)
    body = bytearray()
    offsets = []
    for i in range(files):
        offsets.append(len(body))
        body += headers[i]
        if i < files - 1:
            n = len(headers[i + 1])
            body += struct.pack("<BHH", 0, n, n ^ 0xFFFF)  # stored, non-final block quoting the next header
    body += kernel_data
    cd = bytearray()
    for i in range(files):
        fields = struct.unpack("<4sHHHHHIIIHH", headers[i][:30])
        cd += _central(names[i], 8, fields[6], fields[7], fields[8], offsets[i])
    return bytes(body) + bytes(cd) + _eocd(files, len(cd), len(body))


def _crc_prefix(prefix: bytes, crc_rest: int, len_rest: int) -> int:
    """crc32(prefix + rest) from crc32(rest) and len(rest), without the rest's bytes (zlib's crc32_combine)."""
    return _shift(zlib.crc32(prefix), len_rest) ^ crc_rest


def _gf2_times(mat: list[int], vec: int) -> int:
    out, i = 0, 0
    while vec:
        if vec & 1:
            out ^= mat[i]
        vec >>= 1
        i += 1
    return out


def _zero_operators(count: int = 48) -> list[list[int]]:
    """ops[k] maps a CRC to the CRC after 2**k more zero bytes."""
    one_bit = [0xEDB88320] + [1 << n for n in range(31)]
    mat = one_bit
    for _ in range(3):  # 8 zero bits: one zero byte
        mat = [_gf2_times(mat, mat[n]) for n in range(32)]
    ops = [mat]
    for _ in range(count - 1):
        mat = [_gf2_times(mat, mat[n]) for n in range(32)]
        ops.append(mat)
    return ops


_ZERO_OPS = _zero_operators()


def _shift(crc: int, n_bytes: int) -> int:
    """The CRC register after `n_bytes` zero bytes (no pre/post conditioning)."""
    k = 0
    while n_bytes:
        if n_bytes & 1:
            crc = _gf2_times(_ZERO_OPS[k], crc)
        n_bytes >>= 1
        k += 1
    return crc


def _append_zeros(crc: int, n_bytes: int) -> int:
    """crc32(data + b"\\0" * n_bytes) from crc32(data)."""
    return _shift(crc ^ 0xFFFFFFFF, n_bytes) ^ 0xFFFFFFFF


def gzip_bomb(expanded: int) -> bytes:
    """A gzip stream of `expanded` zero bytes."""
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"
    return header + raw_deflate_zeros(expanded) + struct.pack("<II", crc_zeros(expanded), expanded & 0xFFFFFFFF)


def _deflate_nonfinal(data: bytes) -> bytes:
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    return c.compress(data) + c.flush(zlib.Z_FULL_FLUSH)


def gzip_around_zeros(prefix: bytes, zeros: int, suffix: bytes) -> bytes:
    """A valid gzip stream of prefix + `zeros` zero bytes + suffix, in milliseconds for gigabytes
    (the deflate block for a chunk of zeros repeats; the CRC comes from the zero operators)."""
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = comp.compress(b"\0" * MB) + comp.flush(zlib.Z_FULL_FLUSH)
    count, rest = divmod(zeros, MB)
    tail = zlib.compressobj(9, zlib.DEFLATED, -15)
    body = _deflate_nonfinal(prefix) + block * count + _deflate_nonfinal(b"\0" * rest) + tail.compress(suffix) + tail.flush()
    crc = zlib.crc32(suffix, _append_zeros(zlib.crc32(prefix), zeros))
    size = (len(prefix) + zeros + len(suffix)) & 0xFFFFFFFF
    return b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff" + body + struct.pack("<II", crc, size)


def pickle_bomb(payload: int, codec: str = "gzip") -> bytes:
    """A pickle whose BINBYTES8 payload is `payload` zero bytes, the os.system call after it,
    compressed: the walker must decode past the payload to reach the call. bz2 and xz are
    built as streams back to back (their readers join them), so gigabytes take milliseconds."""
    head = b"\x80\x04](\x8e" + struct.pack("<Q", payload)
    tail = CALL_OS_SYSTEM + b"e."
    if codec == "gzip":
        return gzip_around_zeros(head, payload, tail)
    import bz2
    import lzma

    compress = bz2.compress if codec == "bz2" else lzma.compress
    chunk = 64 * MB
    count, rest = divmod(payload, chunk)
    return compress(head) + compress(b"\0" * chunk) * count + compress(b"\0" * rest + tail)


def near_ratio_pickle(payload: int, every: int = 2048) -> bytes:
    """The costliest pickle under a 500:1 ratio guard: a gzip'd BINBYTES8 payload of zeros with
    one byte set every `every` bytes (about 400:1), the call after it."""
    chunk = bytearray(MB)
    for i in range(0, MB, every):
        chunk[i] = 1 + (i // every) % 250
    block = _deflate_nonfinal(bytes(chunk))
    head = b"\x80\x04](\x8e" + struct.pack("<Q", payload)
    tail = zlib.compressobj(9, zlib.DEFLATED, -15)
    body = _deflate_nonfinal(head) + block * (payload // MB) + tail.compress(CALL_OS_SYSTEM + b"e.") + tail.flush()
    return b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff" + body + b"\0" * 8  # (the trailer is never reached)


def truncated_checkpoint(command: str = fx.HARMLESS) -> bytes:
    """A torch.save checkpoint whose data.pkl calls os.system, cut before its central directory."""
    data = fx.booby_trapped_torch_zip(command)
    return data[: data.index(b"PK\x01\x02")]


def onnx_external_tensor(name: str, location: str):  # type: ignore[no-untyped-def]
    """A one-float ONNX tensor whose data lives in an external file at `location`."""
    from onnx import TensorProto, helper

    tensor = helper.make_tensor(name, TensorProto.FLOAT, [1], [0.0])
    tensor.ClearField("float_data")
    tensor.data_location = TensorProto.EXTERNAL
    entry = tensor.external_data.add()
    entry.key, entry.value = "location", location
    return tensor


def onnx_external_everywhere() -> bytes:
    """An ONNX model whose external-data locations escape the folder from every place a loader
    resolves: a Constant's value, an If subgraph's initializer, a sparse initializer, a function."""
    from onnx import TensorProto, helper

    ext = onnx_external_tensor
    out_y = [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])]
    then = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "then", [], out_y, initializer=[ext("t", "/etc/passwd")])
    other = helper.make_graph([helper.make_node("Constant", [], ["y"], value=ext("e", "../../e.bin"))], "else", [], out_y)
    nodes = [helper.make_node("Constant", [], ["c"], value=ext("c", "../../../etc/passwd"), name="c"),
             helper.make_node("If", ["cond"], ["out"], then_branch=then, else_branch=other, name="if")]
    sparse = helper.make_sparse_tensor(ext("v", "../values.bin"), ext("i", "../indices.bin"), [4])
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("cond", TensorProto.BOOL, [])],
                              [helper.make_tensor_value_info("out", TensorProto.FLOAT, [1])], sparse_initializer=[sparse])
    fn = helper.make_function("dom", "f", ["a"], ["b"], [helper.make_node("Constant", [], ["b"], value=ext("f", "/etc/shadow"))],
                              [helper.make_opsetid("", 18)])
    model = helper.make_model(graph, functions=[fn], opset_imports=[helper.make_opsetid("", 18), helper.make_opsetid("dom", 1)])
    return model.SerializeToString()


def sevenzip_of_zeros(tmp: Path, expanded: int) -> bytes:
    """A real 7z archive holding `expanded` zero bytes (LZMA2: tiny on disk, declares its full size)."""
    import py7zr

    path = tmp / "zeros.7z"
    with py7zr.SevenZipFile(path, "w") as z:
        z.writestr(b"\0" * expanded, "weights.bin")
    data = path.read_bytes()
    path.unlink()
    return data


def sevenzip_declaring(declared: int) -> bytes:
    """A 7z archive of 1,000 zero bytes whose header declares `declared` bytes of content
    (the coders' unpack sizes rewritten, the header CRCs recomputed)."""
    import py7zr

    out = io.BytesIO()
    with py7zr.SevenZipFile(out, "w") as z:
        z.encoded_header_mode = False
        z.writestr(b"\0" * 1000, "weights.bin")
    data = bytearray(out.getvalue())
    offset, size, _ = struct.unpack_from("<QQI", data, 12)
    header = bytes(data[32 + offset: 32 + offset + size])
    huge = b"\xff" + struct.pack("<Q", declared)
    sizes = b"\x0c\x83\xe8\x83\xe8"
    if sizes not in header:
        raise RuntimeError("py7zr wrote a header this builder does not know")
    header = header.replace(sizes, b"\x0c" + huge + huge)
    start = struct.pack("<QQI", offset, len(header), zlib.crc32(header))
    return bytes(data[:8]) + struct.pack("<I", zlib.crc32(start)) + start + bytes(data[32: 32 + offset]) + header


# -- nesting and member counts --------------------------------------------------

def zipped(members: dict[str, bytes], method: int = zipfile.ZIP_STORED) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=method) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return out.getvalue()


def tarred(members: dict[str, bytes], mode: str = "w") -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode=mode) as tf:  # type: ignore[call-overload]
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return out.getvalue()


def nested(depth: int, inner: bytes = EVIL) -> bytes:
    """`inner` wrapped `depth` times, cycling zip, gzip, tar, bz2, xz."""
    data = inner
    for level in range(depth):
        kind = level % 5
        if kind == 0:
            data = zipped({f"level{level}.bin": data})
        elif kind == 1:
            data = gzip.compress(data, mtime=0)
        elif kind == 2:
            data = tarred({f"level{level}.bin": data})
        elif kind == 3:
            data = bz2.compress(data)
        else:
            data = lzma.compress(data)
    return data


def many_member_zip(members: int, payload: bytes = b"x") -> bytes:
    """A zip with `members` tiny stored members, written directly (zipfile is slow at 100k)."""
    crc = zlib.crc32(payload)
    body, cd = bytearray(), bytearray()
    for i in range(members):
        name = f"m/{i:06d}.txt".encode()
        cd += _central(name, 0, crc, len(payload), len(payload), len(body))
        body += _local_header(name, 0, crc, len(payload), len(payload)) + payload
    if members >= 0xFFFF:
        return bytes(body) + bytes(cd) + _zip64_end(members, len(cd), len(body))
    return bytes(body) + bytes(cd) + _eocd(members, len(cd), len(body))


def _zip64_end(count: int, cd_size: int, cd_offset: int) -> bytes:
    z64_at = cd_offset + cd_size
    record = struct.pack("<4sQHHIIQQQQ", b"PK\x06\x06", 44, 45, 45, 0, 0, count, count, cd_size, cd_offset)
    locator = struct.pack("<4sIQI", b"PK\x06\x07", 0, z64_at, 1)
    return record + locator + struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0)


# -- pickles that cost ----------------------------------------------------------

def opcode_flood(opcodes: int, call_at_end: bool = True) -> bytes:
    """`opcodes` cheap opcodes (NONE, POP) and then, at the very end, the os.system call."""
    return fx.PROTO + b"\x04" + b"N0" * (opcodes // 2) + (CALL_OS_SYSTEM if call_at_end else b"N") + fx.STOP


def memo_flood(entries: int) -> bytes:
    """A memo of `entries` entries (MEMOIZE after each NONE), then the call."""
    return fx.PROTO + b"\x04" + b"N\x94" * entries + b"0" * entries + CALL_OS_SYSTEM + fx.STOP


def memo_sparse_bomb(puts: int) -> bytes:
    """The call first, then LONG_BINPUTs at ever larger indices: a few kilobytes that would
    grow a naive walker's memo by 65,536 slots each (gigabytes), hiding what came before."""
    far = b"".join(b"r" + struct.pack("<I", 65536 * (k + 1)) for k in range(puts))
    return fx.PROTO + b"\x04" + CALL_OS_SYSTEM + b"0N" + far + b"0" + b"N" + fx.STOP


def deep_nesting(depth: int) -> bytes:
    """The call, then tuples nested `depth` deep (MARK ... TUPLE), then lists nested as deep."""
    tuples = b"(" * depth + b"N" + b"t" * depth + b"0"
    lists = b"]" * depth + b"a" * (depth - 1) + b"0"
    return fx.PROTO + b"\x04" + CALL_OS_SYSTEM + b"0" + tuples + lists + b"N" + fx.STOP


# -- files that are not plain files ---------------------------------------------

def sparse_file(path: Path, size: int, head: bytes = b"", tail: bytes = b"") -> bool:
    """A sparse file of `size` bytes; False when the file system stores the holes."""
    with path.open("wb") as fh:
        fh.write(head)
        fh.truncate(size)
        if tail:
            fh.seek(size - len(tail))
            fh.write(tail)
    st = path.stat()
    return st.st_blocks * 512 < 64 * MB


def sparse_pickle(path: Path, size: int) -> bool:
    """A pickle of `size` bytes (sparse): BINBYTES8 over the hole, the call at the very end."""
    tail = b"0" + CALL_OS_SYSTEM + fx.STOP
    head = fx.PROTO + b"\x04" + b"\x8e" + struct.pack("<Q", size - 11 - len(tail))
    return sparse_file(path, size, head, tail)


def make_fifo(path: Path) -> None:
    os.mkfifo(path)


def make_device(path: Path) -> bool:
    """A character device node (/dev/null's numbers); False when we may not create one."""
    try:
        os.mknod(path, 0o600 | 0o020000, os.makedev(1, 3))
    except (PermissionError, OSError):
        return False
    return True
