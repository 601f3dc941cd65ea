"""Pickle files: plain pickles, joblib files (plain or compressed) and torch's legacy (non-zip) format.

A compressed joblib file is one compressor's stream (zlib, gzip, bz2, lzma, xz, lz4) around a joblib pickle; it
is decompressed as it is walked, never whole. torch's legacy format is a row of pickles: a magic number, the
protocol version, system info, then the object itself (its storages' bytes follow, unread).
"""

from __future__ import annotations

from typing import Optional, Set, Tuple

from envcheck.modelfiles import pickles
from envcheck.modelfiles.bounded import Budget, InflatingStream, Malformed, Source, Stream, decompressor
from envcheck.modelfiles.interface import Draft, ModelFormat, Reader, Sample

#: The first value of a legacy torch file.
TORCH_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
#: Compressors joblib writes, by the magic bytes their streams start with (joblib.compressor).
_MAGIC: Tuple[Tuple[bytes, str], ...] = (
    (b"\x1f\x8b", "gzip"),
    (b"BZh", "bz2"),
    (b"]\x00\x00", "lzma"),
    (b"\xfd7zXZ\x00", "xz"),
    (b'\x04"M\x18', "lz4"),
)
#: First opcodes of a protocol 0 or 1 pickle (no PROTO opcode): MARK, EMPTY_LIST/DICT/TUPLE, GLOBAL, NONE.
_OLD_PROTOCOL_STARTS = b"(]})cN"


def compressor_of(head: bytes) -> Optional[str]:
    """Which of joblib's compressors a stream starting with ``head`` comes from; None if none."""
    if len(head) >= 2 and head[0] == 0x78 and (head[0] << 8 | head[1]) % 31 == 0:
        return "zlib"
    for magic, kind in _MAGIC:
        if head.startswith(magic):
            return kind
    return None


def is_pickle(head: bytes) -> bool:
    """A pickle of protocol 2 or later (``PROTO``), or one of protocol 0 or 1 by its usual first opcode."""
    if head[:1] == b"\x80":
        return len(head) > 1 and 2 <= head[1] <= 5
    return head[:1] != b"" and head[:1] in [bytes([c]) for c in _OLD_PROTOCOL_STARTS]


def _walk(stream: Stream, budget: Budget, draft: Draft, *, first_of_file: bool) -> pickles.Scanned:
    seen: Set[str] = set(draft.references)
    scanned = pickles.scan(stream, budget, draft, seen)
    if first_of_file and scanned.protocol:
        draft.versions["pickle.protocol"] = str(scanned.protocol)
    return scanned


def _legacy_torch(stream: Stream, budget: Budget, draft: Draft) -> None:
    """The pickles after torch's legacy magic number: protocol version, system info, then the object."""
    draft.format = ModelFormat.TORCH
    draft.modules.append("torch")
    draft.note("legacy torch format (torch.save before 1.6, or _use_new_zipfile_serialization=False)")
    version = _walk(stream, budget, draft, first_of_file=False).value
    if isinstance(version, int) and not isinstance(version, bool):
        draft.versions["torch.legacy_protocol"] = str(version)
    _walk(stream, budget, draft, first_of_file=False)  # sys_info: a dict of builtins
    _walk(stream, budget, draft, first_of_file=True)


class PickleReader(Reader):
    """An uncompressed pickle: a plain pickle, a joblib file, or torch's legacy format."""

    format = ModelFormat.PICKLE

    def claims(self, sample: Sample) -> bool:
        return sample.members is None and is_pickle(sample.head)

    def read(self, source: Source, draft: Draft) -> None:
        joblib_suffix = source.sample.suffix == ".joblib"
        draft.format = ModelFormat.JOBLIB if joblib_suffix else ModelFormat.PICKLE
        scanned = _walk(source.stream, source.budget, draft, first_of_file=True)
        if scanned.value == TORCH_LEGACY_MAGIC and not isinstance(scanned.value, bool):
            _legacy_torch(source.stream, source.budget, draft)
            return
        if scanned.arrays or any(r.startswith("joblib.") for r in draft.references):
            draft.format = ModelFormat.JOBLIB


class CompressedJoblibReader(Reader):
    """A joblib file written with ``compress=``: a compressor's stream around a joblib pickle."""

    format = ModelFormat.JOBLIB

    def claims(self, sample: Sample) -> bool:
        return sample.members is None and compressor_of(sample.head) is not None

    def read(self, source: Source, draft: Draft) -> None:
        kind = compressor_of(source.sample.head)
        assert kind is not None
        draft.versions["joblib.compressor"] = kind
        draft.modules.append("joblib")
        dec = decompressor(kind)
        if dec is None:
            draft.note(f"{kind}-compressed joblib file: the lz4 module is not installed, so it was not read")
            return
        stream = InflatingStream(source.stream, source.budget, dec)
        if not is_pickle(stream.peek(2)):
            raise Malformed(f"the {kind} stream does not hold a pickle")
        _walk(stream, source.budget, draft, first_of_file=True)
