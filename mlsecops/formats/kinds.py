"""The format names mlsecops detects, as used in reports and in policies."""

from __future__ import annotations

from enum import Enum


class Format(str, Enum):
    pickle = "pickle"                    # raw pickle, any protocol
    pytorch_zip = "pytorch-zip"          # torch.save since 1.6 (zip with data.pkl)
    pytorch_legacy = "pytorch-legacy"    # torch.save before 1.6 (stacked pickles)
    torchscript = "torchscript"          # torch.jit.save (zip with code/)
    joblib = "joblib"                    # joblib.dump (pickle with inline numpy buffers)
    numpy = "numpy"                      # .npy without object arrays
    numpy_object = "numpy-object"        # .npy whose object array is a pickle
    npz = "npz"
    keras_h5 = "keras-h5"
    keras_v3 = "keras-v3"                # .keras zip
    hdf5 = "hdf5"
    tf_savedmodel = "tf-savedmodel"
    onnx = "onnx"
    safetensors = "safetensors"
    gguf = "gguf"
    zip = "zip"
    tar = "tar"
    sevenzip = "7z"
    gzip = "gzip"
    bz2 = "bz2"
    xz = "xz"
    lzma = "lzma"
    zlib = "zlib"
    zstd = "zstd"                        # pandas read_pickle(compression="zstd")
    lz4 = "lz4"                          # joblib.dump(compress="lz4")
    joblib_zfile = "joblib-zfile"        # joblib < 0.10: `ZF` header, then zlib
    lfs_pointer = "lfs-pointer"
    config = "config"                    # JSON/YAML that may carry a Jinja chat template
    jinja = "jinja"                      # standalone Jinja template


PICKLE_BEARING = frozenset(
    {Format.pickle, Format.pytorch_zip, Format.pytorch_legacy, Format.torchscript, Format.joblib, Format.numpy_object}
)
COMPRESSION = frozenset({Format.gzip, Format.bz2, Format.xz, Format.lzma, Format.zlib, Format.zstd, Format.lz4,
                         Format.joblib_zfile})
JOBLIB_ONLY = frozenset({Format.zlib, Format.lzma, Format.lz4, Format.joblib_zfile})
"""Streams only joblib opens, and unpickles from their first byte whatever it is."""
ARCHIVES = frozenset({Format.zip, Format.tar, Format.sevenzip, Format.npz})

NAMES = tuple(f.value for f in Format)
