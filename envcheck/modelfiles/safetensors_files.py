"""safetensors: an 8-byte little-endian header length, then a JSON header mapping each tensor to its dtype,
shape and offsets, with an optional ``__metadata__`` of string pairs; the tensors' bytes are never read."""

from __future__ import annotations

import struct

from envcheck.modelfiles import jsondocs
from envcheck.modelfiles.bounded import CapReached, Malformed, Source
from envcheck.modelfiles.interface import Draft, ModelFormat, Reader, Sample

#: ``__metadata__`` entries kept, and the longest value kept.
MAX_METADATA = 32


def header_length(sample: Sample) -> int:
    return int(struct.unpack_from("<Q", sample.head)[0]) if len(sample.head) >= 8 else -1


class SafetensorsReader(Reader):
    format = ModelFormat.SAFETENSORS

    def claims(self, sample: Sample) -> bool:
        n = header_length(sample)
        return sample.members is None and 2 <= n <= sample.size - 8 and sample.head[8:9] == b"{"

    def read(self, source: Source, draft: Draft) -> None:
        n = header_length(source.sample)
        if n > source.budget.limits.max_json:
            raise CapReached(f"cap reached: a safetensors header of {n} bytes (max_json)")
        source.stream.seek(8)
        header = jsondocs.parse(source.stream.read(n), "the safetensors header")
        if not isinstance(header, dict):
            raise Malformed("the safetensors header is not a JSON object")
        meta = header.get("__metadata__")
        if isinstance(meta, dict):
            for key in sorted(meta)[:MAX_METADATA]:
                value = jsondocs.text(meta[key])
                if value and len(key) <= 100 and key.isprintable():
                    draft.versions[f"safetensors.metadata.{key}"] = value
            if len(meta) > MAX_METADATA:
                draft.note(f"safetensors metadata: {len(meta)} entries, the first {MAX_METADATA} kept")
        dtypes = {t.get("dtype") for k, t in header.items() if k != "__metadata__" and isinstance(t, dict)}
        names = sorted(d for d in dtypes if isinstance(d, str) and len(d) <= 16 and d.isprintable())
        if names:
            draft.versions["safetensors.dtypes"] = ",".join(names)
