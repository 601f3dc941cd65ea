""".npy and .npz read without numpy: numpy writes the samples, envcheck's reader (which never imports numpy)
reads them back; object arrays (pickles) are refused."""

from __future__ import annotations

import io
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from envcheck.golden.case import GoldenError
from envcheck.golden.npy import parse_npy
from envcheck.golden.recording import case_from_file


def npy(array: np.ndarray, version: tuple[int, int] | None = None) -> bytes:
    buf = io.BytesIO()
    if version is None:
        np.save(buf, array, allow_pickle=True)
    else:
        np.lib.format.write_array(buf, array, version=version, allow_pickle=True)
    return buf.getvalue()


@pytest.mark.parametrize(
    "array",
    [
        np.arange(12, dtype=np.float64).reshape(3, 4) / 7,
        np.arange(6, dtype=np.float32).reshape(2, 3) + 0.5,
        np.array([1.5, -2.25], dtype=np.float16),
        np.arange(-3, 3, dtype=np.int8),
        np.arange(5, dtype=np.int64) * (1 << 40),
        np.arange(4, dtype=np.uint16),
        np.array([True, False]),
        np.array(["setosa", "virginica"]),
        np.asfortranarray(np.arange(24, dtype=np.float64).reshape(2, 3, 4)),
        np.arange(6, dtype=">f8").reshape(3, 2),
        np.array(3.5),
        np.zeros((0, 3)),
    ],
    ids=["f8", "f4", "f2", "i1", "i8", "u2", "bool", "str", "fortran", "big-endian", "scalar", "empty"],
)
def test_reads_what_numpy_writes(array: np.ndarray) -> None:
    assert parse_npy(npy(array)) == array.tolist()


@pytest.mark.parametrize("version", [(1, 0), (2, 0), (3, 0)])
def test_every_format_version(version: tuple[int, int]) -> None:
    array = np.arange(4.0)
    assert parse_npy(npy(array, version)) == [0.0, 1.0, 2.0, 3.0]


def test_object_arrays_are_pickles_and_refused() -> None:
    with pytest.raises(GoldenError, match=r"objects \(a pickle\) is refused"):
        parse_npy(npy(np.array([{"a": 1}, None], dtype=object)), "x.npy")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"PK\x03\x04", "no .x93NUMPY magic"),
        (b"\x93NUMPY\x09\x00\x10\x00", "version 9"),
        (b"\x93NUMPY\x01\x00\xff\x00{'descr': '<f8'}", "truncated or too large"),
        (b"\x93NUMPY\x01\x00\x10\x00__import__('os')", "not a dict literal"),
        (b"\x93NUMPY\x01\x00\x0e\x00{'descr': 1}  ", "exactly descr"),
        (npy(np.arange(4.0))[:-8], "truncated"),
        (npy(np.zeros(2, dtype=[("a", "<f8")])), "structured"),
        (npy(np.array([1 + 2j])), "not supported"),
    ],
    ids=["magic", "version", "header-size", "code", "keys", "short-data", "structured", "complex"],
)
def test_bad_arrays_are_one_line(data: bytes, message: str) -> None:
    with pytest.raises(GoldenError, match=message):
        parse_npy(data, "x.npy")


def test_npz_case_with_tolerance(tmp_path: Path) -> None:
    path = tmp_path / "golden-rows.npz"
    np.savez(path, inputs=np.ones((2, 3)), outputs=np.array([0, 1]), abs_tolerance=np.array(0.01))
    case = case_from_file(path)
    assert (case.name, case.inputs, case.outputs, case.tolerance.abs) == (
        "golden-rows",
        [[1.0] * 3] * 2,
        [0, 1],
        0.01,
    )


def test_compressed_npz_and_its_bounds(tmp_path: Path) -> None:
    path = tmp_path / "big.npz"
    np.savez_compressed(path, inputs=np.zeros(300_000), outputs=np.zeros(1))  # 2.4 MB inflated, tiny on disk
    with pytest.raises(GoldenError, match="more than 1048576 bytes"):
        case_from_file(path)
    with pytest.raises(GoldenError, match="holds no 'outputs' array"):
        np.savez(tmp_path / "half.npz", inputs=np.zeros(2))
        case_from_file(tmp_path / "half.npz")
    bad = tmp_path / "bad.npz"
    with zipfile.ZipFile(bad, "w") as z:
        z.writestr("inputs.txt", "x")
    with pytest.raises(GoldenError, match=r"is not an \.npy member"):
        case_from_file(bad)
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(GoldenError, match=r"not a readable \.npz"):
        case_from_file(tmp_path / "junk.npz")


def test_reading_npz_never_imports_numpy(tmp_path: Path) -> None:
    path = tmp_path / "c.npz"
    np.savez(path, inputs=np.arange(3.0), outputs=np.arange(2))
    code = (
        "import sys; from envcheck.golden.recording import case_from_file; "
        f"c = case_from_file({str(path)!r}); assert 'numpy' not in sys.modules, 'numpy imported'; print(c.outputs)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[0, 1]"
