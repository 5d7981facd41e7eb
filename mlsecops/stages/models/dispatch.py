"""Which analyzer handles which detected format, and the polyglot checks that run after it.

Adding a format is one analyzer file and one line here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import BinaryIO

from mlsecops.findings import Severity
from mlsecops.formats import ziparchive
from mlsecops.formats.detect import tar_header
from mlsecops.formats.kinds import ARCHIVES, COMPRESSION, PICKLE_BEARING, Format
from mlsecops.formats.pickle import would_run
from mlsecops.stages.models.analyzers import (archives, compressed, gguf, keras, numpy_files, onnx_files, pickles, safetensors,
                                              templates, tensorflow, zips)
from mlsecops.stages.models.scanfile import ScanState

Analyzer = Callable[[ScanState, Format, BinaryIO, int, str, "str | None", int], None]

ANALYZERS: dict[Format, Analyzer] = {
    Format.pickle: pickles.analyze_pickle_file,
    Format.pytorch_legacy: pickles.analyze_pickle_file,
    Format.pytorch_zip: zips.analyze_zip,
    Format.torchscript: zips.analyze_zip,
    Format.keras_v3: zips.analyze_zip,
    Format.npz: zips.analyze_zip,
    Format.zip: zips.analyze_zip,
    Format.tar: archives.analyze_tar,
    Format.sevenzip: archives.analyze_7z,
    Format.numpy: numpy_files.analyze_npy,
    Format.numpy_object: numpy_files.analyze_npy,
    Format.hdf5: keras.analyze_h5,
    Format.keras_h5: keras.analyze_h5,
    Format.tf_savedmodel: tensorflow.analyze_graph,
    Format.onnx: onnx_files.analyze_onnx,
    Format.safetensors: safetensors.analyze_safetensors,
    Format.gguf: gguf.analyze_gguf,
    Format.config: templates.analyze_config,
    Format.jinja: templates.analyze_jinja,
}
for _fmt in COMPRESSION:
    ANALYZERS[_fmt] = compressed.analyze_compressed

_ZIP_FAMILY = ARCHIVES | {Format.pytorch_zip, Format.torchscript, Format.keras_v3}
_NOT_POLYGLOT = PICKLE_BEARING | {Format.zip, Format.npz, Format.pytorch_zip, Format.torchscript, Format.keras_v3,
                                   Format.zlib, Format.lzma, Format.lz4, Format.zstd, Format.joblib_zfile,
                                   Format.lfs_pointer}


def analyze(state: ScanState, fmt: Format, fh: BinaryIO, size: int, name: str, member: str | None, depth: int) -> None:
    analyzer = ANALYZERS.get(fmt)
    if analyzer is not None:
        analyzer(state, fmt, fh, size, name, member, depth)
    if fmt not in _ZIP_FAMILY and fmt not in (Format.lfs_pointer, Format.config, Format.jinja) and ziparchive.has_directory(fh, size):
        state.observe("MLS119", Severity.medium, f"The file is a {fmt.value} and also a zip archive: loaders that check "
                      "the end of the file see the zip, loaders that check the start see the other format", member, "polyglot-zip")
        zips.analyze_zip(state, Format.zip, fh, size, name, member, depth)
    if fmt not in (Format.tar, Format.lfs_pointer) and _starts_like_tar(fh):
        state.observe("MLS119", Severity.medium, f"The file is a {fmt.value} and also a tar archive: torch.load opens "
                      "every file tarfile reads as a legacy tar checkpoint before anything else", member, "polyglot-tar")
        archives.analyze_tar(state, Format.tar, fh, size, name, member, depth)
    if fmt not in _NOT_POLYGLOT and would_run(fh, size):
        # A GGUF, safetensors or tar header can also be valid pickle opcodes: pickle.load,
        # joblib.load and numpy.load(allow_pickle=True) run the pickle whatever the magic says.
        # (A zip's `PK` is a PERSID opcode: only an unpickler with persistent_load gets past
        # it, torch's, and torch.load reads every zip as a zip.)
        state.observe("MLS119", Severity.high, f"The file is a {fmt.value} and also a pickle that imports and calls code "
                      "when unpickled: loaders that check the magic see the first, pickle.load runs the second",
                      member, "polyglot-pickle")
        pickles.analyze_pickle_file(state, Format.pickle, fh, size, name, member, depth)


def _starts_like_tar(fh: BinaryIO) -> bool:
    fh.seek(0)
    return tar_header(fh.read(512))
