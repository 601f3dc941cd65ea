"""joblib's raw array bytes: skipped exactly (by a seek in a plain file), so the walk resumes at the next
opcode, and a big file costs a few kilobytes of reading."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any, Optional

import numpy as np
import pytest

from envcheck.modelfiles import ModelFormat, ReadLimits, read_stream

WRAPPER = "joblib.numpy_pickle:NumpyArrayWrapper"


class Counting(io.RawIOBase):
    """A file whose reads are counted (bytes handed out), seeks free."""

    def __init__(self, path: Path) -> None:
        self._f = open(path, "rb")  # noqa: SIM115
        self.bytes_read = 0

    def read(self, n: Optional[int] = -1) -> bytes:
        data = self._f.read(n)
        self.bytes_read += len(data)
        return data

    def readline(self, n: Optional[int] = -1) -> bytes:
        data = self._f.readline(n)
        self.bytes_read += len(data)
        return data

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._f.seek(offset, whence)

    def tell(self) -> int:
        return self._f.tell()

    def seekable(self) -> bool:
        return True

    def close(self) -> None:
        self._f.close()
        super().close()


class Holder:
    """A class in this test module, so that its reference is one the test can name."""

    def __init__(self, **arrays: Any) -> None:
        self.__dict__.update(arrays)


STRUCTURED = np.dtype([("a", "<f4"), ("b", "<i8")])


@pytest.mark.parametrize(
    "array",
    [
        np.arange(1000, dtype="<f8"),
        np.arange(12, dtype=">i4").reshape(3, 4),
        np.asfortranarray(np.ones((5, 7))),
        np.array(["ab", "cde"]),
        np.array([b"x", b"yz"]),
        np.zeros(3, dtype=STRUCTURED),
        np.zeros((2, 0)),
        np.array(3.5),
        np.array(["mixed", 1, None], dtype=object),
        np.array(["2020-01-01"], dtype="datetime64[s]"),
    ],
    ids=["f8", "i4-big-endian", "fortran", "unicode", "bytes", "structured", "empty", "0-d", "objects", "dt64"],
)
@pytest.mark.parametrize("compress", [0, 3], ids=["plain", "zlib"])
def test_walk_resumes_after_each_array(tmp_path: Path, array: Any, compress: int) -> None:
    import joblib

    path = tmp_path / "m.joblib"
    joblib.dump([array, Holder(after=np.arange(5)), {"end": "fractions"}], path, compress=compress)
    with open(path, "rb") as f:
        needs = read_stream(f, ".joblib")
    assert needs.notes == ()
    assert needs.format is ModelFormat.JOBLIB
    assert WRAPPER in needs.references
    assert f"{Holder.__module__}:Holder" in needs.references


def test_big_arrays_are_seeked_over_not_read(tmp_path: Path) -> None:
    import joblib

    path = tmp_path / "big.joblib"
    rng = np.random.default_rng(0)
    joblib.dump({"w": [rng.random(1 << 20) for _ in range(3)], "h": Holder()}, path)
    assert path.stat().st_size > 24 << 20
    raw = Counting(path)
    with raw:
        needs = read_stream(raw, ".joblib")  # type: ignore[arg-type]
    assert needs.notes == () and f"{Holder.__module__}:Holder" in needs.references
    assert raw.bytes_read < 64 << 10


def test_compressed_arrays_stop_at_the_inflated_cap(tmp_path: Path) -> None:
    import joblib

    path = tmp_path / "big.z.joblib"
    joblib.dump({"h": Holder(), "w": np.zeros(4 << 20)}, path, compress=1)
    with open(path, "rb") as f:
        needs = read_stream(f, ".joblib", ReadLimits(max_inflated=1 << 20))
    assert f"{Holder.__module__}:Holder" in needs.references
    assert any("max_inflated" in n for n in needs.notes)
