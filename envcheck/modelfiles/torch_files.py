"""torch's zip format (``torch.save`` since 1.6, TorchScript archives): the pickles in ``<name>/data.pkl`` (and
TorchScript's ``constants.pkl``) name what loading needs; the tensors' bytes in ``<name>/data/`` are never read.
"""

from __future__ import annotations

import posixpath
from typing import Set

from envcheck.modelfiles import pickles, zips
from envcheck.modelfiles.bounded import Source
from envcheck.modelfiles.interface import Draft, ModelFormat, Reader, Sample

_PICKLES = ("data.pkl", "constants.pkl")
#: Small text members that stamp the archive's format, and the version key each gives.
_STAMPS = {
    "version": "torch.archive_version",
    ".format_version": "torch.format_version",
    "byteorder": "torch.byteorder",
    ".storage_alignment": "torch.storage_alignment",
}


class TorchZipReader(Reader):
    format = ModelFormat.TORCH

    def claims(self, sample: Sample) -> bool:
        return sample.members is not None and any(posixpath.basename(n) == "data.pkl" for n in sample.members)

    def read(self, source: Source, draft: Draft) -> None:
        archive = source.archive
        assert archive is not None and source.sample.members is not None
        draft.modules.append("torch")
        names = source.sample.members
        for name in names:
            key = _STAMPS.get(posixpath.basename(name))
            if key and posixpath.dirname(name).count("/") == 0 and key not in draft.versions:
                text = zips.read_member(archive, name, source.budget, 64).decode("ascii", "replace").strip()
                if text.isprintable():
                    draft.versions[key] = text
        seen: Set[str] = set()
        for name in names:
            if posixpath.basename(name) in _PICKLES and posixpath.dirname(name).count("/") == 0:
                stream = zips.member_stream(archive, name, source.budget)
                scanned = pickles.scan(stream, source.budget, draft, seen, joblib=False)
                if posixpath.basename(name) == "data.pkl" and scanned.protocol:
                    draft.versions["pickle.protocol"] = str(scanned.protocol)
