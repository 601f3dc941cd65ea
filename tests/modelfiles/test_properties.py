"""Property tests: random bytes and mutated real model files never raise, and never read past the caps."""

from __future__ import annotations

import io
import struct
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from envcheck.modelfiles import ModelFormat, ModelNeeds, ReadLimits, read_stream
from tests.modelfiles.conftest import TORCH_FIXTURE

LIMITS = ReadLimits(max_read=1 << 20, max_inflated=4 << 20, max_ops=50_000, max_value=1 << 20, max_json=1 << 18)
NAMES = [
    "pipeline.pkl",
    "pipeline.joblib",
    "pipeline.z3.joblib",
    "pipeline.xz.joblib",
    "xgb.json",
    "xgb.ubj",
    "lgbm.txt",
    "model.onnx",
    "model.safetensors",
    "model.keras",
    "pipeline.skops",
    "torch",
]
MAGICS = [
    b"\x80\x04",
    b"\x80\x02",
    b"PK\x03\x04",
    b"x\x9c",
    b"\x1f\x8b",
    b"{L",
    b"tree\n",
    b"\x08\x07",
    b"(",
    b"c",
]


class CountingBytes(io.BytesIO):
    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.bytes_read = 0

    def read(self, n: Optional[int] = -1) -> bytes:
        data = super().read(n)
        self.bytes_read += len(data)
        return data

    def readline(self, n: Optional[int] = -1) -> bytes:
        data = super().readline(n)
        self.bytes_read += len(data)
        return data


def _check(data: bytes, suffix: str = "") -> ModelNeeds:
    raw = CountingBytes(data)
    needs = read_stream(raw, suffix, LIMITS)
    assert isinstance(needs.format, ModelFormat)
    assert raw.bytes_read <= LIMITS.max_read
    assert all(isinstance(n, str) and "\n" not in n for n in needs.notes)
    assert list(needs.references) == sorted(set(needs.references))
    return needs


@pytest.fixture(scope="module")
def originals(model_dir: Path) -> Dict[str, bytes]:
    return {n: (TORCH_FIXTURE if n == "torch" else model_dir / n).read_bytes() for n in NAMES}


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=4096))
def test_random_bytes(data: bytes) -> None:
    _check(data)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(MAGICS), st.binary(max_size=2048))
def test_random_bytes_behind_a_magic(magic: bytes, data: bytes) -> None:
    _check(magic + data)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=2048), st.integers(0, 2**64 - 1))
def test_random_safetensors_header(body: bytes, claimed: int) -> None:
    _check(struct.pack("<Q", min(claimed, len(body))) + b"{" + body)


Mutation = Tuple[str, int, int]
EDITS = ["flip", "cut", "insert", "delete"]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    name=st.sampled_from(NAMES),
    edits=st.lists(
        st.tuples(
            st.sampled_from(["flip", "cut", "insert", "delete"]), st.integers(0, 1 << 20), st.integers(0, 255)
        ),
        min_size=1,
        max_size=4,
    ),
)
def test_mutated_real_files(originals: Dict[str, bytes], name: str, edits: List[Mutation]) -> None:
    data = bytearray(originals[name])
    for kind, where, value in edits:
        if not data:
            break
        at = where % len(data)
        if kind == "flip":
            data[at] ^= value or 1
        elif kind == "cut":
            del data[at:]
        elif kind == "insert":
            data[at:at] = bytes([value]) * (value % 9 + 1)
        else:
            del data[at : at + value % 17 + 1]
    _check(bytes(data), ".joblib" if "joblib" in name else "")
