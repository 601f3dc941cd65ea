"""Hostile model files: whatever a file holds, reading it runs nothing, stays inside the caps and ends with a
result (a note saying where it stopped) or a ModelReadError, never a traceback, a hang or a memory blow-up."""

from __future__ import annotations

import gzip
import io
import os
import pickle
import struct
import sys
import zipfile
import zlib
from pathlib import Path
from typing import Any, List

import numpy as np
import pytest

from envcheck.modelfiles import ModelFormat, ModelReadError, ReadLimits, read_model_needs, read_stream

PROTO4 = b"\x80\x04"


def _read(data: bytes, suffix: str = "", **limits: int) -> Any:
    return read_stream(io.BytesIO(data), suffix, ReadLimits(**limits))


def _one_note(needs: Any, *words: str) -> str:
    assert len(needs.notes) >= 1, needs
    text = " | ".join(needs.notes)
    for word in words:
        assert word in text, text
    assert all("\n" not in n for n in needs.notes)
    return text


class _Pwn:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> Any:
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_reduce_of_os_system_is_named_never_run(tmp_path: Path, protocol: int) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps(_Pwn(marker), protocol=protocol))
    needs = read_model_needs(path)
    assert f"{os.system.__module__}:system" in needs.references
    assert os.system.__module__ in needs.modules
    assert not marker.exists()


def test_hand_written_protocol0_global_and_reduce(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    needs = _read(b"cos\nsystem\n(S'touch " + str(marker).encode() + b"'\ntR.")
    assert needs.format is ModelFormat.PICKLE and needs.references == ("os:system",) and needs.notes == ()
    assert not marker.exists()


def test_stack_global_resolved_through_the_memo() -> None:
    # Push both names, memoize them, drop them, then fetch both back from the memo for STACK_GLOBAL.
    name = lambda s: b"\x8c" + bytes([len(s)]) + s  # noqa: E731
    data = PROTO4 + name(b"subprocess") + b"\x94" + name(b"Popen") + b"\x94" + b"00" + b"h\x00h\x01\x93)R."
    needs = _read(data)
    assert needs.references == ("subprocess:Popen",) and needs.notes == ()


def test_stack_global_of_non_strings_is_noted() -> None:
    needs = _read(PROTO4 + b"K\x01K\x02\x93.")
    assert needs.references == ()
    _one_note(needs, "not strings")


def test_deep_pickle_does_not_recurse() -> None:
    depth = 400_000
    needs = _read(PROTO4 + b"]" * depth + b"a" * (depth - 1) + b".")
    assert needs.notes == ()
    needs = _read(PROTO4 + b"(" * depth + b"N.")
    assert needs.format is ModelFormat.PICKLE


def test_huge_pickle_stops_at_the_opcode_cap() -> None:
    needs = _read(PROTO4 + b"cos\nsystem\n0" + b"N0" * 100_000 + b"N.", max_ops=1000)
    assert needs.references == ("os:system",)
    _one_note(needs, "cap reached", "max_ops")


def test_memo_cap() -> None:
    body = b"".join(b"\x8c\x01" + bytes([97 + i % 26]) + b"\x94" + b"0" for i in range(50))
    needs = _read(PROTO4 + body + b"N.", max_memo=10)
    _one_note(needs, "max_memo")


def test_missing_memo_entry_is_malformed() -> None:
    needs = _read(PROTO4 + b"h\x07.")
    _one_note(needs, "malformed", "memo")


@pytest.mark.parametrize(
    "data",
    [PROTO4 + b"\x8e" + struct.pack("<Q", 2**62) + b"abc", PROTO4 + b"\x8d" + struct.pack("<Q", 2**40)],
    ids=["binbytes8", "binunicode8"],
)
def test_claimed_huge_length_is_never_allocated(data: bytes) -> None:
    needs = _read(data)
    _one_note(needs, "truncated")


def test_truncated_real_pickle(model_dir: Path) -> None:
    data = (model_dir / "pipeline.pkl").read_bytes()
    needs = _read(data[: len(data) // 2])
    assert "sklearn.pipeline:Pipeline" in needs.references
    _one_note(needs, "truncated stream")


def test_truncated_inside_a_joblib_array(tmp_path: Path) -> None:
    import joblib

    joblib.dump({"w": np.zeros(100_000)}, tmp_path / "a.joblib")
    data = (tmp_path / "a.joblib").read_bytes()
    needs = _read(data[:-1000])
    assert "joblib.numpy_pickle:NumpyArrayWrapper" in needs.references
    _one_note(needs, "truncated")


def test_gzip_bomb_of_opcodes() -> None:
    data = gzip.compress(PROTO4 + b"N0" * 5_000_000 + b"N.", 9)
    needs = _read(data)
    assert needs.format is ModelFormat.JOBLIB
    _one_note(needs, "cap reached")


def test_gzip_bomb_of_one_claimed_value() -> None:
    data = gzip.compress(PROTO4 + b"\x8e" + struct.pack("<Q", 10**12) + bytes(1 << 20), 9)
    needs = _read(data)
    _one_note(needs, "cap reached", "max_value")


def test_zlib_ratio_bomb() -> None:
    data = zlib.compress(PROTO4 + b"\x8e" + struct.pack("<Q", 100 << 20) + bytes(100 << 20) + b".", 9)
    assert len(data) < 200_000
    needs = _read(data)
    _one_note(needs, "cap reached", "max_ratio")


def test_inflated_cap() -> None:
    data = zlib.compress(PROTO4 + b"cos\nsystem\n0" + b"N0" * 500_000 + b"N.", 9)
    needs = _read(data, max_inflated=100_000)
    assert needs.references == ("os:system",)
    _one_note(needs, "max_inflated")


def test_corrupt_compressed_stream() -> None:
    data = bytearray(zlib.compress(PROTO4 + b"cos\nsystem\n" + bytes(10_000) + b".", 9))
    data[20:40] = b"\xff" * 20
    needs = _read(bytes(data))
    assert needs.format is ModelFormat.JOBLIB
    assert needs.notes


def _zip(members: List[Any], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as z:
        for name, data in members:
            z.writestr(name, data)
    return buf.getvalue()


def test_zip_bomb_member_past_the_member_cap() -> None:
    data = _zip([("archive/data.pkl", bytes(65 << 20)), ("archive/version", b"3\n")])
    assert len(data) < 200_000
    needs = _read(data)
    assert needs.format is ModelFormat.TORCH
    _one_note(needs, "cap reached", "max_member")


def test_zip_bomb_member_past_the_ratio() -> None:
    data = _zip([("archive/data.pkl", PROTO4 + b"\x8e" + struct.pack("<Q", 20 << 20) + bytes(20 << 20) + b".")])
    needs = _read(data)
    _one_note(needs, "cap reached", "max_ratio")


def test_zip_with_too_many_members_is_not_opened() -> None:
    data = _zip([(f"archive/data/{i}", b"") for i in range(20)] + [("archive/data.pkl", PROTO4 + b"N.")])
    needs = _read(data, max_members=10)
    _one_note(needs, "max_members")


def test_zip_member_with_bad_crc() -> None:
    payload = PROTO4 + b"cos\nsystem\n0N."
    data = bytearray(_zip([("archive/data.pkl", payload)], zipfile.ZIP_STORED))
    at = data.index(b"system")
    data[at : at + 6] = b"SYSTEM"
    needs = _read(bytes(data))
    assert needs.format is ModelFormat.TORCH
    _one_note(needs, "archive/data.pkl")


@pytest.mark.parametrize(
    "data", [b"PK\x03\x04" + bytes(100), b"PK\x05\x06" + bytes(18), b"PK\x03\x04garbage" * 1000], ids=str
)
def test_broken_zip(data: bytes) -> None:
    needs = _read(data)
    assert needs.format is ModelFormat.UNKNOWN
    assert needs.notes


def test_keras_with_deep_json() -> None:
    deep = "[" * 100_000 + "]" * 100_000
    data = _zip([("metadata.json", b'{"keras_version": "3.0.0"}'), ("config.json", deep.encode())])
    needs = _read(data)
    assert needs.format is ModelFormat.KERAS
    _one_note(needs, "config.json", "not valid JSON")


def test_safetensors_header_past_the_cap() -> None:
    header = b'{"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}'
    data = struct.pack("<Q", len(header)) + header + bytes(4)
    needs = _read(data, max_json=16)
    assert needs.format is ModelFormat.SAFETENSORS
    _one_note(needs, "max_json")


def test_ubjson_nesting_cap() -> None:
    data = b"{L" + struct.pack(">q", 7) + b"learner" + b"[" * 5000
    needs = _read(data)
    assert needs.format is ModelFormat.XGBOOST_UBJ
    _one_note(needs, "nested deeper")


def test_lz4_without_the_lz4_module(model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "lz4", None)
    monkeypatch.setitem(sys.modules, "lz4.frame", None)
    needs = read_model_needs(model_dir / "logreg.lz4.joblib")
    assert needs.format is ModelFormat.JOBLIB and needs.references == ()
    _one_note(needs, "lz4 module is not installed")


def test_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "model.pkl"
    os.mkfifo(fifo)
    with pytest.raises(ModelReadError, match="not a regular file"):
        read_model_needs(fifo)


def test_missing_file() -> None:
    with pytest.raises(ModelReadError, match="cannot open"):
        read_model_needs("/nonexistent/model.pkl")


def test_directory(tmp_path: Path) -> None:
    with pytest.raises(ModelReadError):
        read_model_needs(tmp_path)


@pytest.mark.parametrize(
    ("data", "word"),
    [(b"", "empty file"), (b"\x89HDF\r\n\x1a\n" + bytes(100), "HDF5"), (b"hello, world\n", "not recognised")],
    ids=["empty", "hdf5", "text"],
)
def test_unknown_formats(data: bytes, word: str) -> None:
    needs = _read(data)
    assert needs.format is ModelFormat.UNKNOWN
    _one_note(needs, word)


def test_zip_of_no_known_layout() -> None:
    needs = _read(_zip([("a.npy", b"x")]))
    assert needs.format is ModelFormat.UNKNOWN
    _one_note(needs, "zip archive")
