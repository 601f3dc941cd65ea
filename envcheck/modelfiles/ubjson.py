"""UBJSON as xgboost writes it (big-endian numbers; object keys without a type marker; strongly typed arrays
``[$<type>#<count>``), read value by value from a stream: small values parsed, everything else skipped without
being kept (a typed array of numbers by one skip), nesting followed without recursion."""

from __future__ import annotations

import struct
from typing import Any, List, Optional, Tuple

from envcheck.modelfiles.bounded import Malformed, Stream, Truncated

#: Bytes of each fixed-size value type.
FIXED = {b"i": 1, b"U": 1, b"I": 2, b"l": 4, b"L": 8, b"d": 4, b"D": 8, b"C": 1, b"T": 0, b"F": 0, b"Z": 0}
_INTS = {b"i": ">b", b"U": ">B", b"I": ">h", b"l": ">i", b"L": ">q"}
_FLOATS = {b"d": ">f", b"D": ">d"}
#: Longest string or key parsed (longer ones are skipped).
MAX_TEXT = 1 << 16


class Cursor:
    """Reads UBJSON values from ``stream``; ``max_depth`` bounds the nesting followed."""

    def __init__(self, stream: Stream, max_depth: int) -> None:
        self.stream = stream
        self.max_depth = max_depth

    def _exact(self, n: int) -> bytes:
        data = self.stream.read(n)
        if len(data) != n:
            raise Truncated(f"truncated stream at byte {self.stream.tell()}")
        return data

    def marker(self) -> bytes:
        while True:
            m = self._exact(1)
            if m != b"N":  # no-op
                return m

    def integer(self, marker: bytes) -> int:
        fmt = _INTS.get(marker)
        if fmt is None:
            raise Malformed(f"UBJSON length of type {marker!r} at byte {self.stream.tell()}")
        return int(struct.unpack(fmt, self._exact(struct.calcsize(fmt)))[0])

    def length(self) -> int:
        n = self.integer(self.marker())
        if n < 0:
            raise Malformed(f"negative UBJSON length at byte {self.stream.tell()}")
        return n

    def key(self, marker: bytes) -> Optional[str]:
        """An object key whose length type is ``marker``; None when too long to keep (it is skipped)."""
        n = self.integer(marker)
        if n < 0:
            raise Malformed(f"negative UBJSON length at byte {self.stream.tell()}")
        if n > MAX_TEXT:
            self.stream.skip(n)
            return None
        return self._exact(n).decode("utf-8", "replace")

    def _header(self) -> Tuple[Optional[bytes], Optional[int], Optional[bytes]]:
        """A container's optional ``$type`` and ``#count``, and the first marker when neither is there."""
        m = self.marker()
        kind: Optional[bytes] = None
        if m == b"$":
            kind = self._exact(1)
            m = self.marker()
            if m != b"#":
                raise Malformed(f"UBJSON typed container without a count at byte {self.stream.tell()}")
        if m == b"#":
            return kind, self.length(), None
        return None, None, m

    def scalar(self, marker: bytes) -> Any:
        if marker in _INTS:
            return self.integer(marker)
        if marker in _FLOATS:
            return struct.unpack(_FLOATS[marker], self._exact(struct.calcsize(_FLOATS[marker])))[0]
        if marker in (b"S", b"H"):
            n = self.length()
            if n > MAX_TEXT:
                self.stream.skip(n)
                return None
            return self._exact(n).decode("utf-8", "replace")
        if marker == b"C":
            return self._exact(1).decode("latin-1")
        return {b"T": True, b"F": False, b"Z": None}.get(marker)

    def skip(self, marker: bytes) -> None:
        """Pass one value that starts with ``marker``."""
        # Each frame: [is_object, count left or None, element type or None]
        frames: List[List[Any]] = []
        current: Optional[bytes] = marker
        while True:
            if current is not None:
                if current in (b"[", b"{"):
                    kind, count, first = self._header()
                    is_object = current == b"{"
                    if not is_object and kind in FIXED and count is not None:
                        self.stream.skip(count * FIXED[kind])
                    else:
                        if len(frames) >= self.max_depth:
                            raise Malformed(f"UBJSON nested deeper than {self.max_depth} levels")
                        frames.append([is_object, count, kind, first])
                elif current in FIXED:
                    self.stream.skip(FIXED[current])
                elif current in (b"S", b"H"):
                    self.stream.skip(self.length())
                else:
                    raise Malformed(f"UBJSON value of type {current!r} at byte {self.stream.tell()}")
            current = None
            while frames and current is None:
                frame = frames[-1]
                is_object, count, kind, first = frame
                if count is not None:
                    if count == 0:
                        frames.pop()
                        continue
                    frame[1] = count - 1
                    if is_object:
                        self.key(self.marker())
                    current = kind or self.marker()
                    break
                m = first or self.marker()
                frame[3] = None
                if m == (b"}" if is_object else b"]"):
                    frames.pop()
                    continue
                if is_object:
                    self.key(m)
                    m = self.marker()
                current = m
            if current is None and not frames:
                return

    def small_array(self, marker: bytes, limit: int = 16) -> Optional[List[Any]]:
        """A short array of scalars (xgboost's ``version``); None when it is something else (it is skipped)."""
        if marker != b"[":
            self.skip(marker)
            return None
        kind, count, first = self._header()
        if count is not None and count > limit:
            if kind in FIXED:
                self.stream.skip(count * FIXED[kind])
                return None
            raise Malformed("UBJSON version array too long")
        out: List[Any] = []
        while count is None or len(out) < count:
            m = kind or first or self.marker()
            first = None
            if count is None and m == b"]":
                return out
            if m in (b"[", b"{") or len(out) >= limit:
                raise Malformed("UBJSON version array holds more than numbers")
            out.append(self.scalar(m))
        return out
