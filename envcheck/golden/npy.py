"""``.npy`` and ``.npz`` read without numpy, for numeric and string arrays only.

An ``.npy`` file is the magic ``\\x93NUMPY``, a version (1.0: a 2-byte header length; 2.0 and 3.0: 4 bytes), a
header that is a Python dict literal (``{'descr': '<f8', 'fortran_order': False, 'shape': (3, 2)}``, read with
``ast.literal_eval``, never ``eval``) and the raw data. An array of objects (``descr`` ``|O``) is a pickle:
refused, never loaded. An ``.npz`` is a zip of ``.npy`` files named for their arrays. Pure apart from
``read_npz``.
"""

from __future__ import annotations

import ast
import io
import math
import struct
import zipfile
from typing import Any, Dict, List, Sequence, Tuple

from envcheck.golden.case import GoldenError

MAGIC = b"\x93NUMPY"
#: dtype kind and size -> struct format; byte order comes from the descr's first character.
_FORMATS = {
    ("f", 2): "e",
    ("f", 4): "f",
    ("f", 8): "d",
    ("i", 1): "b",
    ("i", 2): "h",
    ("i", 4): "i",
    ("i", 8): "q",
    ("u", 1): "B",
    ("u", 2): "H",
    ("u", 4): "I",
    ("u", 8): "Q",
    ("b", 1): "?",
}
_MAX_HEADER = 64 << 10
_MAX_MEMBERS = 64


def _header(data: bytes, where: str) -> Tuple[Dict[str, Any], int]:
    if not data.startswith(MAGIC) or len(data) < 10:
        raise GoldenError(f"{where}: not an .npy array (no \\x93NUMPY magic)")
    major = data[6]
    if major == 1:
        (length,), start = struct.unpack("<H", data[8:10]), 10
    elif major in (2, 3) and len(data) >= 12:
        (length,), start = struct.unpack("<I", data[8:12]), 12
    else:
        raise GoldenError(f"{where}: .npy format version {major} is not supported")
    if length > _MAX_HEADER or start + length > len(data):
        raise GoldenError(f"{where}: .npy header is truncated or too large")
    text = data[start : start + length].decode("utf-8" if major == 3 else "latin-1", "replace")
    try:
        header = ast.literal_eval(text.strip())
    except (ValueError, SyntaxError, MemoryError, RecursionError) as e:
        raise GoldenError(f"{where}: .npy header is not a dict literal") from e
    if not isinstance(header, dict) or set(header) != {"descr", "fortran_order", "shape"}:
        raise GoldenError(f"{where}: .npy header must hold exactly descr, fortran_order and shape")
    return header, start + length


def _shape(header: Dict[str, Any], where: str) -> Tuple[int, ...]:
    shape = header["shape"]
    if not isinstance(shape, tuple) or not all(isinstance(n, int) and n >= 0 for n in shape) or len(shape) > 32:
        raise GoldenError(f"{where}: .npy shape {shape!r} is not a tuple of sizes")
    return shape


def parse_npy(data: bytes, where: str = "array") -> Any:
    """The array in ``data`` as nested lists (a scalar for shape ``()``); raises ``GoldenError``."""
    header, offset = _header(data, where)
    descr, fortran, shape = header["descr"], header["fortran_order"], _shape(header, where)
    if not isinstance(descr, str) or not isinstance(fortran, bool):
        raise GoldenError(f"{where}: structured arrays are not supported (descr {descr!r})")
    if "O" in descr:
        raise GoldenError(f"{where}: an array of Python objects (a pickle) is refused: save numbers or strings")
    if len(descr) < 3 or descr[0] not in "<>|=":
        raise GoldenError(f"{where}: dtype {descr!r} is not supported")
    order, kind, size_text = descr[0], descr[1], descr[2:]
    if not size_text.isdigit():
        raise GoldenError(f"{where}: dtype {descr!r} is not supported (numbers, booleans and str only)")
    size = int(size_text)
    count = math.prod(shape)
    body = data[offset:]
    endian = ">" if order == ">" else "<"
    if kind == "U":
        width = 4 * size
        if len(body) < count * width:
            raise GoldenError(f"{where}: .npy data is truncated")
        codec = "utf-32-be" if endian == ">" else "utf-32-le"
        try:
            flat: List[Any] = [
                body[i * width : (i + 1) * width].decode(codec).rstrip("\x00") for i in range(count)
            ]
        except UnicodeDecodeError as e:
            raise GoldenError(f"{where}: .npy string data is not UTF-32") from e
    elif (kind, size) in _FORMATS:
        fmt = _FORMATS[(kind, size)]
        if len(body) < count * size:
            raise GoldenError(f"{where}: .npy data is truncated ({len(body)} of {count * size} bytes)")
        flat = list(struct.unpack(f"{endian}{count}{fmt}", body[: count * size]))
    else:
        raise GoldenError(f"{where}: dtype {descr!r} is not supported (numbers, booleans and str only)")
    if not shape:
        return flat[0]
    if fortran:
        flat = _c_order(flat, shape)
    return _nest(flat, shape)


def _c_order(flat: Sequence[Any], shape: Tuple[int, ...]) -> List[Any]:
    """Fortran-ordered values in C order."""
    out: List[Any] = []
    strides = [1]
    for n in shape[:-1]:
        strides.append(strides[-1] * n)
    for c_index in range(len(flat)):
        rest, f_index = c_index, 0
        for axis in range(len(shape) - 1, -1, -1):
            rest, i = divmod(rest, shape[axis])
            f_index += i * strides[axis]
        out.append(flat[f_index])
    return out


def _nest(flat: Sequence[Any], shape: Tuple[int, ...]) -> Any:
    if len(shape) == 1:
        return list(flat)
    step = math.prod(shape[1:])
    return [_nest(flat[i * step : (i + 1) * step], shape[1:]) for i in range(shape[0])]


def parse_npz(data: bytes, where: str, limit: int) -> Dict[str, Any]:
    """The arrays of an ``.npz`` (a zip of ``.npy`` files), each member's inflated size within ``limit``."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        members = archive.infolist()
        if len(members) > _MAX_MEMBERS:
            raise GoldenError(f"{where}: more than {_MAX_MEMBERS} arrays")
        out: Dict[str, Any] = {}
        total = 0
        for info in members:
            if not info.filename.endswith(".npy"):
                raise GoldenError(f"{where}: {info.filename!r} is not an .npy member")
            with archive.open(info) as member:
                raw = member.read(limit + 1 - total)
            total += len(raw)
            if total > limit:
                raise GoldenError(f"{where}: its arrays hold more than {limit} bytes (the golden size limit)")
            out[info.filename[: -len(".npy")]] = parse_npy(raw, f"{where}: {info.filename}")
        return out
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, EOFError, OSError) as e:
        raise GoldenError(f"{where}: not a readable .npz ({e})") from e
