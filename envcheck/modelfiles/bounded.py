"""Bounded reading: every byte a reader takes from a model file, or out of a decompressor, is counted here.

``ReadLimits`` are the caps; a ``Stream`` enforces them and raises ``Stop`` (``CapReached`` or ``Truncated``)
instead of reading past them, so that a reader keeps what it found and the driver turns the stop into a note.
A claimed length is never allocated before the bytes are there: reads are clamped to what the file holds.
"""

from __future__ import annotations

import bz2
import io
import lzma
import zlib
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any, Optional, Protocol, Tuple, Type

if TYPE_CHECKING:
    import zipfile

    from envcheck.modelfiles.interface import Sample

CHUNK = 1 << 16


@dataclass(frozen=True)
class ReadLimits:
    """How much reading one model file may cost."""

    max_read: int = 256 << 20
    """Bytes read from the file itself (seeking past joblib's raw arrays or an ONNX graph costs nothing)."""
    max_inflated: int = 1 << 30
    """Bytes out of a decompressor (a compressed joblib file, a compressed zip member), summed."""
    max_ratio: int = 200
    """Bytes out of a decompressor per byte in, checked once ``ratio_floor`` bytes have come out."""
    ratio_floor: int = 16 << 20
    max_ops: int = 2_000_000
    """Pickle opcodes walked, over all the pickles of one file."""
    max_memo: int = 1_000_000
    """Pickle memo entries kept; past it, back-references resolve to nothing (with a note)."""
    max_value: int = 128 << 20
    """One value read whole (a pickle's bytes or string, a zip member parsed as JSON or pickle)."""
    max_member: int = 64 << 20
    """Declared size of one zip member read (``data.pkl``, ``schema.json``)."""
    max_members: int = 100_000
    """Members a zip archive may list before it is opened."""
    max_json: int = 16 << 20
    """A JSON document parsed whole (safetensors header, Keras config, skops schema, small xgboost JSON)."""
    max_line: int = 1 << 16
    """One line of a pickle's text opcodes or of a LightGBM header."""
    max_depth: int = 1000
    """Nesting of a UBJSON or JSON structure walked."""


class Stop(Exception):
    """A reader stops here; its message becomes the result's note."""


class CapReached(Stop):
    """A ``ReadLimits`` cap would be passed."""


class Truncated(Stop):
    """The file ends before its structure does."""


class Malformed(Stop):
    """The bytes do not follow the format's structure."""


class Budget:
    """What one file's reading has used so far, against its limits."""

    def __init__(self, limits: ReadLimits) -> None:
        self.limits = limits
        self.read = 0
        self.inflated = 0
        self.compressed_in = 0
        self.ops = 0

    def take_read(self, n: int) -> None:
        if self.read + n > self.limits.max_read:
            raise CapReached(f"cap reached: {self.limits.max_read} bytes read from the file (max_read)")
        self.read += n

    def take_inflated(self, n: int) -> None:
        self.inflated += n
        lim = self.limits
        if self.inflated > lim.max_inflated:
            raise CapReached(f"cap reached: {lim.max_inflated} bytes decompressed (max_inflated)")
        if self.inflated > lim.ratio_floor and self.inflated > lim.max_ratio * max(self.compressed_in, 1):
            raise CapReached(f"cap reached: decompresses more than {lim.max_ratio} times its size (max_ratio)")

    def take_op(self) -> None:
        self.ops += 1
        if self.ops > self.limits.max_ops:
            raise CapReached(f"cap reached: {self.limits.max_ops} pickle opcodes (max_ops)")


class Stream(Protocol):
    """The reads a reader makes; ``skip`` passes bytes without keeping them (a seek where the file allows)."""

    def read(self, n: int = -1) -> bytes: ...
    def readline(self) -> bytes: ...
    def tell(self) -> int: ...
    def skip(self, n: int) -> None: ...


class FileStream:
    """A seekable binary file read through a ``Budget``; ``size`` is its length (reads are clamped to it).

    Also what ``zipfile`` reads the archive through, so an archive's directory and members count too."""

    def __init__(self, raw: IO[bytes], size: int, budget: Budget, start: int = 0) -> None:
        self._raw = raw
        self.size = size
        self._budget = budget
        self._pos = start
        raw.seek(start)

    def _want(self, n: Optional[int]) -> int:
        left = max(self.size - self._pos, 0)
        return left if n is None or n < 0 else min(n, left)

    def read(self, n: Optional[int] = -1) -> bytes:
        want = self._want(n)
        if want > self._budget.limits.max_value:
            raise CapReached(f"cap reached: a value of {want} bytes at byte {self._pos} (max_value)")
        self._budget.take_read(want)
        data = self._raw.read(want) if want else b""
        self._pos += len(data)
        return data

    def readline(self, limit: Optional[int] = -1) -> bytes:
        cap = self._budget.limits.max_line
        want = self._want(cap if limit is None or limit < 0 else min(limit, cap))
        self._budget.take_read(want)
        data = self._raw.readline(want) if want else b""
        self._pos += len(data)
        return data

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self.size}[whence]
        pos = base + offset
        if pos < 0:
            raise OSError("seek before the start of the file")
        self._pos = self._raw.seek(pos)
        return self._pos

    def seekable(self) -> bool:
        return True

    def skip(self, n: int) -> None:
        if n < 0 or self._pos + n > self.size:
            raise Truncated(f"truncated stream: {n} bytes to skip at byte {self._pos}, the file ends first")
        self.seek(n, io.SEEK_CUR)


class MemberStream:
    """One zip member's bytes through a ``Budget``: at most its declared size, counted as inflated when the
    member is compressed (the compressed bytes already count as read through the archive's ``FileStream``)."""

    def __init__(self, raw: IO[bytes], size: int, budget: Budget, compressed: bool) -> None:
        self._raw = raw
        self.size = size
        self._budget = budget
        self._compressed = compressed
        self._pos = 0

    def _take(self, n: int) -> None:
        if self._compressed:
            self._budget.take_inflated(n)

    def read(self, n: Optional[int] = -1) -> bytes:
        left = max(self.size - self._pos, 0)
        want = left if n is None or n < 0 else min(n, left)
        if want > self._budget.limits.max_value:
            raise CapReached(f"cap reached: a value of {want} bytes at byte {self._pos} (max_value)")
        data = self._raw.read(want) if want else b""
        self._take(len(data))
        self._pos += len(data)
        return data

    def readline(self) -> bytes:
        data = self._raw.readline(min(self._budget.limits.max_line, max(self.size - self._pos, 0)))
        self._take(len(data))
        self._pos += len(data)
        return data

    def tell(self) -> int:
        return self._pos

    def skip(self, n: int) -> None:
        _skip_by_reading(self, n)


def _skip_by_reading(stream: Stream, n: int) -> None:
    at = stream.tell()
    while n > 0:
        got = stream.read(min(n, CHUNK))
        if not got:
            raise Truncated(f"truncated stream: {n} bytes to skip at byte {at}, the stream ends first")
        n -= len(got)


class _Decompressor(Protocol):
    eof: bool
    needs_input: bool

    def decompress(self, data: bytes, max_length: int = ...) -> bytes: ...


class _ZlibAdapter:
    """``zlib.decompressobj`` with the ``needs_input`` interface of the bz2 and lzma decompressors."""

    def __init__(self, wbits: int) -> None:
        self._d = zlib.decompressobj(wbits)

    @property
    def eof(self) -> bool:
        return self._d.eof

    @property
    def needs_input(self) -> bool:
        return not self._d.unconsumed_tail

    def decompress(self, data: bytes, max_length: int = CHUNK) -> bytes:
        return self._d.decompress(self._d.unconsumed_tail + data, max(max_length, 1))


#: Errors a decompressor raises on corrupt input.
DECOMPRESS_ERRORS: Tuple[Type[BaseException], ...] = (
    zlib.error,
    lzma.LZMAError,
    OSError,
    EOFError,
    ValueError,
    RuntimeError,  # lz4.frame
)


def decompressor(kind: str) -> Any:
    """A fresh decompressor for one of joblib's compressors; None for lz4 when the lz4 module is missing."""
    if kind == "zlib":
        return _ZlibAdapter(zlib.MAX_WBITS)
    if kind == "gzip":
        return _ZlibAdapter(zlib.MAX_WBITS | 16)
    if kind == "bz2":
        return bz2.BZ2Decompressor()
    if kind == "lzma":
        return lzma.LZMADecompressor(lzma.FORMAT_ALONE)
    if kind == "xz":
        return lzma.LZMADecompressor(lzma.FORMAT_XZ)
    if kind == "lz4":
        try:
            import lz4.frame  # type: ignore[import-not-found,import-untyped,unused-ignore]
        except ImportError:
            return None
        return lz4.frame.LZ4FrameDecompressor()
    raise ValueError(kind)


class InflatingStream:
    """The decompressed bytes of a ``FileStream``, produced as they are read (never all at once)."""

    def __init__(self, raw: FileStream, budget: Budget, dec: _Decompressor) -> None:
        self._raw = raw
        self._budget = budget
        self._dec = dec
        self._buf = bytearray()
        self._pos = 0
        self._done = False

    def _fill(self, want: int) -> None:
        """Decompress until ``want`` bytes are buffered or the stream ends."""
        while len(self._buf) < want and not self._done:
            room = max(want - len(self._buf), CHUNK)
            try:
                if self._dec.needs_input:
                    data = self._raw.read(CHUNK)
                    self._budget.compressed_in += len(data)
                    if not data:
                        self._done = True
                        break
                else:
                    data = b""
                out = self._dec.decompress(data, room)
            except Stop:
                raise
            except DECOMPRESS_ERRORS as e:
                raise Malformed(f"corrupt compressed stream near byte {self._raw.tell()} ({e})") from e
            self._budget.take_inflated(len(out))
            self._buf += out
            if self._dec.eof:
                self._done = True

    def peek(self, n: int) -> bytes:
        """The next ``n`` bytes (fewer at the end), left to be read."""
        self._fill(n)
        return bytes(self._buf[:n])

    def _take(self, n: int) -> bytes:
        data = bytes(self._buf[:n])
        del self._buf[:n]
        self._pos += len(data)
        return data

    def read(self, n: Optional[int] = -1) -> bytes:
        if n is None or n < 0:
            n = self._budget.limits.max_inflated - self._budget.inflated + len(self._buf) + 1
        if n > self._budget.limits.max_value:
            raise CapReached(f"cap reached: a value of {n} bytes at byte {self._pos} (max_value)")
        if n - len(self._buf) > self._budget.limits.max_inflated - self._budget.inflated:
            raise CapReached(
                f"cap reached: {n} bytes asked for at byte {self._pos} of the decompressed stream "
                f"would pass {self._budget.limits.max_inflated} bytes decompressed (max_inflated)"
            )
        self._fill(n)
        return self._take(n)

    def readline(self) -> bytes:
        cap = self._budget.limits.max_line
        scanned = 0
        while True:
            i = self._buf.find(b"\n", scanned)
            if i >= 0:
                return self._take(min(i + 1, cap))
            if len(self._buf) >= cap or self._done:
                return self._take(cap)
            scanned = len(self._buf)
            self._fill(len(self._buf) + 1)

    def tell(self) -> int:
        return self._pos

    def skip(self, n: int) -> None:
        _skip_by_reading(self, n)


@dataclass
class Source:
    """What a reader reads: the file's ``Sample``, its stream, its zip archive (when it is one) and budget."""

    sample: Sample
    stream: FileStream
    budget: Budget
    archive: Optional[zipfile.ZipFile] = None
