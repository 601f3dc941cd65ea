"""LightGBM's text model format: a ``tree`` line, then ``key=value`` header lines; ``version=v4`` is the model
format's version (LightGBM does not record its own)."""

from __future__ import annotations

from typing import Dict, List

from envcheck.modelfiles.bounded import Source
from envcheck.modelfiles.interface import Draft, ModelFormat, Reader, Sample, WrittenBy

#: Header lines read, at most.
MAX_LINES = 64


def parse_header(lines: List[str]) -> Dict[str, str]:
    """The ``key=value`` lines of a LightGBM header, up to its first blank line (pure)."""
    out = {}
    for line in lines:
        if not line.strip():
            break
        key, sep, value = line.partition("=")
        if sep:
            out[key.strip()] = value.strip()
    return out


class LightGBMReader(Reader):
    format = ModelFormat.LIGHTGBM

    def claims(self, sample: Sample) -> bool:
        return sample.members is None and sample.head.startswith((b"tree\n", b"tree\r\n"))

    def read(self, source: Source, draft: Draft) -> None:
        draft.modules.append("lightgbm")
        draft.written_by = WrittenBy("lightgbm", "")
        lines = []
        for _ in range(MAX_LINES):
            line = source.stream.readline()
            if not line:
                break
            lines.append(line.decode("utf-8", "replace"))
        header = parse_header(lines[1:])
        version = header.get("version", "")
        if version and len(version) <= 20 and version.isprintable():
            draft.versions["lightgbm.format"] = version
        else:
            draft.note("no version= line in the LightGBM header")
