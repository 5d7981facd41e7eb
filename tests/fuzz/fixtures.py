"""Fixtures for the fuzz tests, generated in code: small model files of each format, harness
sources (a planted bug, a hang, a fork bomb, a memory hog, a token thief), and a helper that
runs the stage on a git repository with a base and a head commit."""

from __future__ import annotations

import io
import time
from pathlib import Path

from mlsecops.context import Context
from mlsecops.findings import StageResult
from mlsecops.pipeline import build_changeset
from mlsecops.policy.model import Policy
from mlsecops.stages.fuzz import stage
from mlsecops.stages.fuzz.policy import FuzzPolicy
from tests.conftest import make_repo

PLANTED = '''
def parse(data: bytes) -> int:
    if len(data) >= 4 and data[0] == ord("M") and data[1] == ord("L"):
        if data[2] == ord("S") and data[3] == ord("!"):
            raise ValueError("planted bug")
    return len(data)
'''
HARNESS = '''import sys
import atheris

with atheris.instrument_imports():
    from mypkg.parser import parse


def TestOneInput(data: bytes) -> None:
    parse(data)


if __name__ == "__main__":
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()
'''
FORK_BOMB = '''import os, time

def TestOneInput(data: bytes) -> None:
    i = 0
    while True:
        i += 1
        try:
            pid = os.fork()
        except OSError:
            continue
        if pid == 0:
            if i % 10 == 0:
                os.setsid()  # leave the process group and session
                if os.fork() == 0:
                    time.sleep(1000)
                os._exit(0)
            time.sleep(1000)
            os._exit(0)
'''
HANG = '''import signal

def TestOneInput(data: bytes) -> None:
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})  # libFuzzer's -timeout cannot fire
    if data:
        while True:
            pass
'''
MEMORY_HOG = '''hog = []

def TestOneInput(data: bytes) -> None:
    if len(data) > 1:
        while True:
            hog.append(bytearray(64 * 1024 * 1024))
'''


def safetensors_bytes() -> bytes:
    import numpy as np
    from safetensors.numpy import save

    return save({"w": np.arange(12, dtype=np.float32).reshape(3, 4), "b": np.ones(4, dtype=np.int64)})


def npy_bytes(shape: tuple[int, ...] = (4, 5)) -> bytes:
    import numpy as np

    buf = io.BytesIO()
    np.save(buf, np.arange(int(np.prod(shape)), dtype=np.float64).reshape(shape))
    return buf.getvalue()


def onnx_bytes(divisor: float = 2.0) -> bytes:
    """Y = Relu(X / W): with a zero in W, finite inputs give Inf."""
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("X", TensorProto.FLOAT, ["N", 4])
    y = helper.make_tensor_value_info("Y", TensorProto.FLOAT, ["N", 4])
    w = helper.make_tensor("W", TensorProto.FLOAT, [4], [1.0, divisor, 3.0, 4.0])
    graph = helper.make_graph([helper.make_node("Div", ["X", "W"], ["T"]), helper.make_node("Relu", ["T"], ["Y"])],
                              "g", [x], [y], [w])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model.SerializeToString()


def torch_bytes() -> bytes:
    import torch

    buf = io.BytesIO()
    torch.save({"w": torch.arange(6, dtype=torch.float32).reshape(2, 3), "n": torch.tensor([1, 2])}, buf)
    return buf.getvalue()


def run_stage(repo: Path, work: Path, budget: float, base: str | None = "HEAD~1",
              policy: FuzzPolicy | None = None, all_files: bool = False) -> tuple[StageResult, float]:
    """Run the fuzz stage the way the pipeline does; returns the result and the wall time."""
    work.mkdir(parents=True, exist_ok=True)
    context = Context(root=repo, base=base, all_files=all_files, workdir=work, fuzz_budget=budget,
                      policy=Policy(fuzz=policy or FuzzPolicy()))
    changeset = build_changeset(context)
    started = time.monotonic()
    result = stage.run(changeset, context)
    return result, time.monotonic() - started


def harness_repo(root: Path, harness: str, name: str = "fuzz/fuzz_target.py", base_extra: dict | None = None) -> Path:
    make_repo(root, {"README.md": "x\n", **(base_extra or {})}, {name: harness})
    return root


def planted_repo(root: Path, bug_in_base: bool = False) -> Path:
    """A PR that adds a harness for mypkg.parser; the bug is new in the PR unless `bug_in_base`."""
    clean = "def parse(data: bytes) -> int:\n    return len(data)\n"
    base = {"mypkg/__init__.py": "", "mypkg/parser.py": PLANTED if bug_in_base else clean}
    head: dict[str, str | bytes | None] = {"mypkg/parser.py": PLANTED, "fuzz/fuzz_parser.py": HARNESS}
    if bug_in_base:
        base["fuzz/fuzz_parser.py"] = HARNESS
        head = {"mypkg/parser.py": PLANTED + "\n# touched\n"}
    make_repo(root, base, head)
    return root
