"""What the scan reports for pickles: the walk's outcomes turned into findings.

Corrupt is advisory only where every unpickler fails before doing anything dangerous;
where the walker cannot follow a loader that would read on, the file blocks (MLS115);
constant getattr calls are judged by the attribute they name; torch's embedded
checkpoints (pickle.dumps of a tensor) are scanned, not flagged; engines that did not
run are a finding, not silence.
"""

from __future__ import annotations

import io
import pickle
import struct
from pathlib import Path

from mlsecops import fixtures as fx
from tests.models.helpers import blocks, keys, rules, scan_bytes


def test_the_issue_example_a_hex_int_then_os_system_is_blocked(tmp_path: Path) -> None:
    res = scan_bytes(tmp_path, "model.pkl", b"I0x1f\n0cos\nsystem\n(S'id'\ntR.")
    assert "MLS101" in rules(res) and blocks(res)
    assert "pickle" in res.formats


def test_a_truncated_benign_pickle_is_corrupt_and_advisory(tmp_path: Path) -> None:
    data = fx.torch_state_dict_pickle({"w": 4})
    res = scan_bytes(tmp_path, "cut.pkl", data[: len(data) // 2])
    malformed = [f for f in res.findings if f.rule_id == "MLS105"]
    assert malformed and malformed[0].severity.value == "low" and not blocks(res), res.findings


def test_a_break_after_a_dangerous_call_is_high(tmp_path: Path) -> None:
    res = scan_bytes(tmp_path, "null.pkl", b"cbuiltins\nexec\n(S'print(1)'\ntR" + b"X\xff\xff\xff\x7fabc")
    assert {"MLS101", "MLS105"} <= rules(res) and blocks(res)
    assert next(f for f in res.findings if f.rule_id == "MLS105").severity.value == "high"


def test_what_the_walker_cannot_read_blocks(tmp_path: Path) -> None:
    data = pickle.dumps(list(range(5000)), protocol=4)[:-1] + b"0" + fx.glob4("collections", "OrderedDict") + b"."
    res = scan_bytes(tmp_path, "long.pkl", data, max_opcodes=1000)
    assert "MLS115" in rules(res) and blocks(res)
    layout = b"\x80\x04\x95" + struct.pack("<Q", 8) + fx.glob4("os", "system") + b")R."  # a read across a FRAME end
    res = scan_bytes(tmp_path, "frame.pkl", layout)
    assert "MLS115" in rules(res) and blocks(res)


def test_engines_that_did_not_run_are_reported(tmp_path: Path) -> None:
    body = b"".join(fx.glob4("collections", "OrderedDict") + b"0" for _ in range(400))
    res = scan_bytes(tmp_path, "many.pkl", fx.pickle4(body + b"N"), engine_max_opcodes=1000)
    assert "engines-skipped" in keys(res) and not blocks(res)


def test_constant_getattr_is_judged_by_the_attribute(tmp_path: Path) -> None:
    dangerous = fx.pickle4(fx.call(fx.call(fx.glob4("builtins", "getattr"), fx.glob4("os", "path"), fx.s("os")), b""))
    res = scan_bytes(tmp_path, "ga.pkl", dangerous)
    assert blocks(res) and any("os.path.os" in f.message for f in res.findings), res.findings
    assert not any(k == "global:builtins.getattr" for k in keys(res))  # judged by what it resolves to
    computed = fx.pickle4(fx.call(fx.glob4("builtins", "getattr"), fx.glob4("collections", "OrderedDict"),
                                  fx.call(fx.glob4("builtins", "str"), fx.s("x"))))
    res = scan_bytes(tmp_path, "gc.pkl", computed)
    assert "global:builtins.getattr" in keys(res) and blocks(res)  # a computed name stays dangerous


def test_a_pickled_tensor_is_scanned_through_its_embedded_checkpoint(tmp_path: Path) -> None:
    import torch

    res = scan_bytes(tmp_path, "tensor.pkl", pickle.dumps(torch.tensor([1.0, 2.0])))
    assert not blocks(res), [(f.rule_id, f.message) for f in res.findings]
    assert not any("_load_from_bytes" in f.message for f in res.findings)
    assert "pytorch-legacy" in res.formats  # the embedded torch.save stream was read as a checkpoint


def test_a_malicious_embedded_checkpoint_is_found(tmp_path: Path) -> None:
    evil = fx.malicious_pickle()
    for embedded in (evil, fx.booby_trapped_torch_zip()):
        data = fx.pickle4(fx.call(fx.glob4("torch.storage", "_load_from_bytes"), fx.b(embedded)))
        res = scan_bytes(tmp_path, "emb.pkl", data)
        assert "MLS101" in rules(res) and blocks(res), [(f.rule_id, f.member, f.message) for f in res.findings]
        assert any("load_from_bytes" in (f.member or "") for f in res.findings if f.rule_id == "MLS101")


def test_joblib_files_read_as_plain_pickles_too(tmp_path: Path) -> None:
    """pickle.load on a joblib file reads the array bytes as opcodes: that view is judged."""
    hidden = b"0cos\nsystem\n(S'id'\ntR."  # joblib reads these bytes as the array's data
    wrapper = (b"\x80\x04cjoblib.numpy_pickle\nNumpyArrayWrapper\n)\x81}(\x8c\x05shapeK" + bytes([len(hidden)])
               + b"\x85\x8c\x05dtypecnumpy\ndtype\n\x8c\x02u1\x89\x88\x87R\x8c\x05order\x8c\x01Cub")
    res = scan_bytes(tmp_path, "view.joblib", wrapper + hidden + b"N.")
    assert "MLS101" in rules(res) and blocks(res), [(f.rule_id, f.message) for f in res.findings]


def test_stacked_text_after_a_pickle_is_judged(tmp_path: Path) -> None:
    res = scan_bytes(tmp_path, "two.pkl", fx.benign_dict_pickle() + b"cos\nsystem\n(S'id'\ntR.")
    assert "MLS101" in rules(res) and blocks(res)


def test_a_requirements_file_is_not_a_pickle(tmp_path: Path) -> None:
    res = scan_bytes(tmp_path, "requirements.txt", b"torch==2.13.0\nnumpy==2.2.6\n")
    assert res.format is None and not res.findings


def test_no_stage_error_on_hostile_streams(tmp_path: Path) -> None:
    for i, data in enumerate([b"\x80\x05\x95" + b"\xff" * 8, b"(" * 1000 + b"\x93", b"\x8c\xff" + b"A" * 10,
                              b"r\xff\xff\xff\xff" * 3, io.BytesIO(b"\x80\x04" + b"\x94" * 1000 + b".").getvalue()]):
        res = scan_bytes(tmp_path, f"h{i}.pkl", data)
        assert not res.errors, res.errors
