"""xgboost's own model formats: JSON and UBJSON documents ``{"learner": ..., "version": [major, minor, patch]}``
(``version`` is the xgboost that wrote the file). A JSON model too big to parse whole is read at its tail, where
xgboost writes ``version``; a UBJSON model is walked, its big typed arrays skipped."""

from __future__ import annotations

import re
import struct
from typing import Any, Optional

from envcheck.modelfiles import jsondocs
from envcheck.modelfiles.bounded import Malformed, Source
from envcheck.modelfiles.interface import Draft, ModelFormat, Reader, Sample, WrittenBy
from envcheck.modelfiles.ubjson import Cursor

_TAIL = 4096
_VERSION_AT_END = re.compile(rb'"version"\s*:\s*\[\s*(\d{1,6})\s*,\s*(\d{1,6})\s*,\s*(\d{1,6})\s*\]\s*\}\s*$')
_KEY_SIZES = {0x69: ">b", 0x55: ">B", 0x49: ">h", 0x6C: ">i", 0x4C: ">q"}  # i U I l L


def version_text(value: Any) -> Optional[str]:
    """``[3, 2, 0]`` -> ``"3.2.0"``; None unless a list of 1 to 4 non-negative ints."""
    if not isinstance(value, list) or not 1 <= len(value) <= 4:
        return None
    if not all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v < 10**6 for v in value):
        return None
    return ".".join(str(v) for v in value)


def _stamp(draft: Draft, version: Optional[str]) -> None:
    draft.modules.append("xgboost")
    if version:
        draft.written_by = WrittenBy("xgboost", version)
    else:
        draft.note("no xgboost version array found")


class XGBoostJSONReader(Reader):
    format = ModelFormat.XGBOOST_JSON

    def claims(self, sample: Sample) -> bool:
        body = sample.head.lstrip()
        return sample.members is None and body[:1] == b"{" and re.match(rb'\{\s*"learner"\s*:', body) is not None

    def read(self, source: Source, draft: Draft) -> None:
        size = source.sample.size
        if size <= source.budget.limits.max_json:
            source.stream.seek(0)
            doc = jsondocs.parse(source.stream.read(size), "the xgboost JSON model")
            _stamp(draft, version_text(doc.get("version")) if isinstance(doc, dict) else None)
            return
        source.stream.seek(max(size - _TAIL, 0))
        match = _VERSION_AT_END.search(source.stream.read(_TAIL))
        draft.note("large JSON model: its version was read from its last bytes")
        _stamp(draft, ".".join(g.decode() for g in match.groups()) if match else None)


class XGBoostUBJReader(Reader):
    format = ModelFormat.XGBOOST_UBJ

    def claims(self, sample: Sample) -> bool:
        head = sample.head
        if sample.members is not None or head[:1] != b"{" or len(head) < 3 or head[1] not in _KEY_SIZES:
            return False
        fmt = _KEY_SIZES[head[1]]
        end = 2 + struct.calcsize(fmt)
        if len(head) < end:
            return False
        n = struct.unpack(fmt, head[2:end])[0]
        return bool(n == 7 and head[end : end + 7] == b"learner")

    def read(self, source: Source, draft: Draft) -> None:
        cursor = Cursor(source.stream, source.budget.limits.max_depth)
        source.stream.seek(0)
        if cursor.marker() != b"{":
            raise Malformed("the UBJSON model is not an object")
        version: Optional[str] = None
        while True:
            m = cursor.marker()
            if m == b"}":
                break
            key = cursor.key(m)
            value = cursor.marker()
            if key == "version":
                version = version_text(cursor.small_array(value))
            else:
                cursor.skip(value)
        _stamp(draft, version)
