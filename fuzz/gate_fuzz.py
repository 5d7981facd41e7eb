#!/usr/bin/env python3
"""Atheris harness over the gate itself: format detection, the opcode walker, the zip
and protobuf readers, the policy loader, the whole per-file scan and the escapers.

    python fuzz/gate_fuzz.py -max_total_time=30          # what CI runs
    python fuzz/gate_fuzz.py -max_total_time=600 -jobs=2  # a longer local session

The first byte of each input picks the target (see `gate_targets.py`). A seed corpus
of real formats is generated in code at start-up (no binaries in the repository) and
passed to libFuzzer after any folder given on the command line. Crashing inputs go to
`$TMPDIR/mlsecops-gate-fuzz-crashes/` (or `-artifact_prefix=`), and libFuzzer prints
each one in base64 in the log too. Any crash or timeout is a bug in the gate.
"""

from __future__ import annotations

import io
import json
import struct
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

import atheris

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

with atheris.instrument_imports(include=["mlsecops"]):
    from fuzz import gate_targets  # noqa: E402
    import mlsecops.formats.detect  # noqa: E402,F401
    import mlsecops.formats.pickle  # noqa: E402,F401
    import mlsecops.formats.ziparchive  # noqa: E402,F401
    import mlsecops.policy.loader  # noqa: E402,F401
    import mlsecops.stages.models.registry  # noqa: E402,F401
    import mlsecops.reporters.escape  # noqa: E402,F401


# The name CIFuzz-style runners (and mlsecops's own fuzz stage) look for.
TestOneInput = gate_targets.one_input


def seeds() -> list[bytes]:
    """Valid samples of every format the targets read, each prefixed for every target."""
    from mlsecops import fixtures as fx

    zipped = io.BytesIO()
    with zipfile.ZipFile(zipped, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("archive/data.pkl", fx.malicious_pickle())
    tarred = io.BytesIO()
    with tarfile.open(fileobj=tarred, mode="w") as tf:
        info = tarfile.TarInfo("m.pkl")
        data = fx.malicious_pickle()
        info.size = len(data)
        tf.addfile(info, io.BytesIO(data))
    samples = [
        fx.malicious_pickle(), fx.benign_dict_pickle(), fx.torch_state_dict_pickle({"w": 4}), b"cos\nsystem\n(S'x'\ntR.",
        fx.torch_zip({"w": 4}), fx.booby_trapped_torch_zip(), zipped.getvalue(), tarred.getvalue(),
        fx.safetensors_file({"w": 4}), fx.npy_file([1.0, 2.0]), fx.chat_template_config(fx.SSTI_CHAT_TEMPLATE),
        b"GGUF\x03\x00\x00\x00" + struct.pack("<QQ", 0, 0),
        json.dumps({"version": 1, "models": {"fail_on": "high", "limits": {"max_depth": 4}},
                    "waivers": [{"rule": "MLS1*", "reason": "r", "expires": "2030-01-01"}]}).encode(),
        b"version: 1\nmodels:\n  fail_on: high\n  allow_globals: ['x:*']\n",
        "a\n::error::x ##[stop-commands] <img src=x> [l](http://e) @me %0A".encode(),
    ]
    return [bytes([k]) + s for s in samples for k in range(len(gate_targets.TARGETS))]


def main() -> None:
    argv = list(sys.argv)
    corpus = Path(tempfile.gettempdir()) / "mlsecops-gate-fuzz-seeds"
    corpus.mkdir(exist_ok=True)
    for n, seed in enumerate(seeds()):
        (corpus / f"seed-{n:03d}").write_bytes(seed)
    crashes = Path(tempfile.gettempdir()) / "mlsecops-gate-fuzz-crashes"
    crashes.mkdir(exist_ok=True)
    if not any(a.startswith("-artifact_prefix=") for a in argv):
        argv.append(f"-artifact_prefix={crashes}/")
    if not any(a.startswith("-timeout=") for a in argv):
        argv.append("-timeout=20")
    if not any(a.startswith("-rss_limit_mb=") for a in argv):
        argv.append("-rss_limit_mb=3072")
    if not any(a.startswith("-max_len=") for a in argv):
        argv.append("-max_len=65536")
    argv.append(str(corpus))
    atheris.Setup(argv, gate_targets.one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
