"""The gate's own parsers as fuzz targets, with the property each must keep on any input.

Shared by the atheris harness (`fuzz/gate_fuzz.py`) and the hypothesis tests
(`tests/adversarial/test_gate_fuzz.py`). A target raises `AssertionError` (or any
unexpected exception) when the gate misbehaves: the format detector, the opcode
walker and the pickle sniffer never raise, and the walker reads a stream the same
without its end; the zip reader raises only its own errors; the policy loader only
`PolicyError`; the per-file scanner (mlsecops's own engine, in-process) never raises
what the worker would call an internal error; the escapers never let markup, a
workflow command or a line break through.
"""

from __future__ import annotations

import atexit
import io
import re
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

NAMES = ("model.pkl", "x.bin", "saved_model.pb", "chat.j2", "tokenizer_config.json", "cfg.yaml", "model.onnx",
         "w.safetensors", "a.zip", "a.tar.gz", "noext")
MAX_INPUT = 1 << 20


def detector(data: bytes) -> None:
    from mlsecops.formats.detect import detect

    name = NAMES[data[0] % len(NAMES)] if data else "x"
    detect(io.BytesIO(data), name, len(data))


def walker(data: bytes) -> None:
    from mlsecops.formats import pickle as pk

    result = pk.walk(io.BytesIO(data), 0, len(data), 200_000)
    assert result.opcodes <= 200_000 + 1  # one budget for the stream and everything it nests
    for ref in result.globals:
        assert isinstance(ref.module, str) and isinstance(ref.name, str)
    # A walker bug is reported as blindness (it blocks), but it is still a bug.
    assert not any(i.detail.startswith("internal error") for i in result.issues), result.issues
    # Walked without its end (as a decoding stream is), it reads the same.
    assert pk.walk(io.BytesIO(data), 0, None, 200_000) == result
    pk.would_run(io.BytesIO(data), len(data), max_opcodes=50_000)


def zip_reader(data: bytes) -> None:
    from mlsecops.formats import ziparchive

    fh = io.BytesIO(data)
    try:
        directory = ziparchive.read_directory(fh, len(data), 1000)
    except ziparchive.ZipFormatError:
        directory = ziparchive.ZipDirectory()
    hidden = ziparchive.local_entries(fh, len(data), 1000, ziparchive.covered_spans(directory, len(data)), 1 << 20)
    for entry in (directory.entries + hidden)[:50]:
        try:
            ziparchive.copy_member(fh, entry, lambda chunk: None, 1 << 20)
        except (ziparchive.ZipFormatError, ziparchive.ZipLimitError):
            pass


def policy_loader(data: bytes) -> None:
    from mlsecops.policy.loader import PolicyError, load_policy_text

    try:
        load_policy_text(data.decode("utf-8", "replace"), "fuzz.yml")
    except PolicyError as exc:
        assert str(exc)


def protobuf_reader(data: bytes) -> None:
    from mlsecops.formats import protobuf

    protobuf.top_level(io.BytesIO(data), len(data), max_fields=10_000)
    try:
        for _ in protobuf.fields(data):
            pass
    except protobuf.WireError:
        pass
    try:
        for _, _, off, ln in protobuf.iter_fields(io.BytesIO(data), 0, len(data), 10_000):
            assert 0 <= off <= len(data)
    except (protobuf.WireError, protobuf.FieldLimit):
        pass


def decoders(data: bytes) -> None:
    """Every codec on hostile bytes: output or CodecError, never another exception or a hang."""
    from mlsecops.formats.codecs import CodecError, CodecUnavailable, Counting, open_decoder

    for codec in ("gzip", "zlib", "deflate", "bz2", "xz", "joblib-zfile", "zstd", "lz4", "zip-lzma"):
        try:
            decoder = open_decoder(codec, Counting(io.BytesIO(data), 0, len(data)))
            produced = 0
            while produced < 1 << 22:
                chunk = decoder.read(1 << 16)
                if not chunk:
                    break
                produced += len(chunk)
        except (CodecError, CodecUnavailable):
            pass


_TMP = Path(tempfile.mkdtemp(prefix="mlsecops-gate-fuzz-"))
atexit.register(shutil.rmtree, _TMP, True)


def scanner(data: bytes) -> None:
    """The whole per-file scan (every analyzer, no third-party engine), as a worker runs it."""
    from mlsecops.stages.models.policy import ModelLimits
    from mlsecops.stages.models.scanfile import Task, scan_file

    name = NAMES[data[0] % len(NAMES)] if data else "x"
    path = _TMP / name
    path.write_bytes(data)
    work = _TMP / "work"
    work.mkdir(exist_ok=True)
    limits = ModelLimits(max_expanded_mb=16, max_members=200, max_opcodes=100_000, timeout_seconds=10)
    task = Task(source=str(path), path=name, size=len(data), limits=limits, engines=["mlsecops"], tmpdir=str(work))
    try:
        result = scan_file(task)
    except (RecursionError, MemoryError):
        return  # the worker turns these into a per-file error (fail closed)
    assert not any("internal error" in e for e in result.errors), result.errors
    for leftover in work.iterdir():
        leftover.unlink()


_COMMAND = re.compile(r"^\s*::", re.MULTILINE)


def escapers(data: bytes) -> None:
    from mlsecops.reporters import escape

    text = data.decode("utf-8", "surrogateescape")
    md = escape.md(text)
    assert "<" not in md and "\n" not in md and "](" not in md and "://" not in md
    code = escape.code(text)
    inner = code[len("<code>"):-len("</code>")]
    assert "<" not in inner and ">" not in inner and "|" not in inner and "\n" not in inner and "@" not in inner
    value = escape.annotation(text)
    assert "\n" not in value and "\r" not in value
    prop = escape.annotation_property(text)
    assert "," not in prop and ":" not in prop
    log = escape.inert_log(text)
    assert not _COMMAND.search(log) and "##[" not in log
    for out in (md, code, value, prop, escape.plain(text)):
        out.encode("utf-8")


TARGETS: list[Callable[[bytes], None]] = [detector, walker, zip_reader, policy_loader, protobuf_reader, scanner, escapers,
                                          decoders]


def one_input(data: bytes) -> None:
    """The first byte picks the target; the rest is its input."""
    if not data:
        return
    TARGETS[data[0] % len(TARGETS)](data[1:MAX_INPUT])
