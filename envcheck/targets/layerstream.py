"""A layer blob read once, as the uncompressed tar ``tarfile`` reads in stream mode: gzip or plain, hashed on
both sides (the blob's digest, the config's ``diff_id`` of the uncompressed tar), bounded while it is read
(bytes out, and bytes out per byte in: a decompression bomb stops within its first few megabytes).
"""

from __future__ import annotations

import hashlib
import tarfile
import zlib
from typing import IO, Any, Optional, Tuple

from envcheck.targets.limits import ArchiveError, Budget, LimitError, one_line

_CHUNK = 1 << 20
#: Decompressed bytes allowed before the ratio is checked: a small layer's tar padding compresses very well.
RATIO_SLACK = 16 << 20
_GZIP = b"\x1f\x8b"
_UNSUPPORTED = {
    b"\x28\xb5\x2f\xfd": "zstd",
    b"BZh": "bzip2",
    b"\xfd7zXZ\x00": "xz",
}

Digest = Tuple[str, str]
"""(algorithm, lowercase hex), validated by ``archive.parse_digest``."""


class LayerReader:
    """The uncompressed bytes of one layer blob (``read(n)``), with its digests checked by ``finish()``."""

    def __init__(
        self,
        blob: IO[bytes],
        budget: Budget,
        label: str,
        digest: Optional[Digest] = None,
        diff_id: Optional[Digest] = None,
    ) -> None:
        self.blob, self.budget, self.label = blob, budget, label
        self.digest, self.diff_id = digest, diff_id
        self._blob_hash = hashlib.new(digest[0]) if digest else None
        self._tar_hash = hashlib.new(diff_id[0]) if diff_id else None
        self.compressed = 0
        self.expanded = 0
        self._out = b""
        self._pos = 0
        self._done = False
        head = self._take()
        for magic, name in _UNSUPPORTED.items():
            if head.startswith(magic):
                raise ArchiveError(f"layer {label} is {name}-compressed: only gzip and plain tar are read")
        self._decoder: Optional[Any] = self._new_decoder() if head.startswith(_GZIP) else None
        self._pending = head

    @staticmethod
    def _new_decoder() -> Any:
        return zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)

    def _take(self) -> bytes:
        try:
            chunk = self.blob.read(_CHUNK)
        except (OSError, EOFError, tarfile.TarError, zlib.error) as e:  # the archive holding the blob is damaged
            raise ArchiveError(f"layer {self.label} cannot be read ({one_line(e)})") from e
        if chunk:
            self.compressed += len(chunk)
            if self._blob_hash is not None:
                self._blob_hash.update(chunk)
        return chunk

    def read(self, n: int = -1) -> bytes:
        """Up to ``n`` bytes (fewer is not the end: only ``b""`` is)."""
        while self._pos >= len(self._out) and not self._done:
            self._out, self._pos = b"", 0
            self._fill()
        if n < 0 or (self._pos == 0 and len(self._out) <= n):
            out = self._out[self._pos :] if self._pos else self._out
            self._out, self._pos = b"", 0
            return out
        out = self._out[self._pos : self._pos + n]
        self._pos += len(out)
        return out

    def _fill(self) -> None:
        if not self._pending:
            self._pending = self._take()
        if self._decoder is None:
            data, self._pending = self._pending, b""
            if not data:
                self._done = True
        else:
            data = self._inflate()
        if data:
            self._count(data)

    def _inflate(self) -> bytes:
        assert self._decoder is not None
        if self._decoder.eof:
            rest = self._decoder.unused_data + self._pending
            self._pending = b""
            if not rest:
                self._pending = self._take()
                if not self._pending:
                    self._done = True
                return b""
            if rest.startswith(_GZIP):  # another gzip member follows: its data belongs to the same tar
                self._decoder = self._new_decoder()
                self._pending = rest
                return b""
            if rest.strip(b"\0"):
                raise ArchiveError(f"layer {self.label} is damaged (data after its gzip stream)")
            self._decoder = _Ended()
            return b""
        if not self._pending:
            raise ArchiveError(f"layer {self.label} is truncated (its gzip stream ends early)")
        try:
            data = self._decoder.decompress(self._pending, _CHUNK)
        except zlib.error as e:
            raise ArchiveError(f"layer {self.label} is damaged (gzip: {e})") from e
        self._pending = self._decoder.unconsumed_tail
        return bytes(data)

    def _count(self, data: bytes) -> None:
        self.expanded += len(data)
        self.budget.expand(len(data))
        ratio = self.budget.limits.max_ratio
        if self._decoder is not None and self.expanded > ratio * self.compressed + RATIO_SLACK:
            raise LimitError(
                f"layer {self.label} expands more than {ratio} times its compressed size, a decompression "
                "bomb? (raise with --archive-limit ratio=N)"
            )
        if self._tar_hash is not None:
            self._tar_hash.update(data)
        self._out = data

    def finish(self) -> None:
        """Read what the tar did not (its end blocks), then check both digests; a mismatch is an error."""
        while self.read(_CHUNK):
            pass
        if self.digest and self._blob_hash is not None and self._blob_hash.hexdigest() != self.digest[1]:
            raise ArchiveError(
                f"layer {self.label} is damaged (its {self.digest[0]} does not match the image's record)"
            )
        if self.diff_id and self._tar_hash is not None and self._tar_hash.hexdigest() != self.diff_id[1]:
            raise ArchiveError(
                f"layer {self.label} is damaged (its uncompressed {self.diff_id[0]} does not match the config's "
                "diff_id)"
            )


class _Ended:
    """Stands for the decoder once zero padding followed the last gzip member: anything after must be padding
    too, or another member."""

    eof = True
    unused_data = b""
