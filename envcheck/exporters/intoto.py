"""A lockfile as an in-toto Statement v1: the model files (and a digest-pinned image) attested to have been
verified in the environment the lockfile describes.

The Statement is four keys of JSON (https://github.com/in-toto/attestation/blob/main/spec/v1/statement.md), so
it is written here with the standard library; the tests check it with the in-toto attestation framework's own
bindings. It is ready for ``cosign attest-blob --statement FILE`` (or, for an image, ``cosign attest --type
PREDICATE_TYPE --predicate`` with the ``predicate`` alone).

* ``subject``: each model file, named by its path as the lockfile records it, with ``digest.sha256`` its
  SHA-256; and, when the lockfile's target is an image pinned by digest (``image:REPO@sha256:HEX``), the image,
  named by its repository. A lockfile with none of these cannot be attested: ``NoSubjectError``.
* ``predicateType``: ``PREDICATE_TYPE``, versioned with the lockfile's schema.
* ``predicate``: the lockfile as JSON, exactly what ``envcheck show --format json`` prints: read back with
  ``envcheck.model.from_data(Fingerprint, predicate)`` it gives the lockfile's digest again.
"""

from __future__ import annotations

import json
from typing import Any, Dict, List, Optional, Tuple

from envcheck.exporters.interface import Exported, ExportError, NoSubjectError, sha256_hex
from envcheck.model import SCHEMA_VERSION, Fingerprint, to_data

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = f"https://envcheck.dev/lockfile/v{SCHEMA_VERSION}"
"""Names the predicate: an envcheck lockfile of this schema, as JSON. An identifier, not a page to fetch."""
_IMAGE = "image:"


def render(fp: Fingerprint) -> Exported:
    """The Statement for ``fp``. Raises ``NoSubjectError`` when there is nothing to bind it to, and
    ``ExportError`` for a model file whose recorded digest is not a SHA-256 (a subject without its true digest
    would attest nothing)."""
    subjects: List[Dict[str, Any]] = []
    seen = set()
    for name, hexdigest in _subjects(fp):
        if (name, hexdigest) not in seen:
            seen.add((name, hexdigest))
            subjects.append({"name": name, "digest": {"sha256": hexdigest}})
    if not subjects:
        raise NoSubjectError(
            "the lockfile records no model files (and its target is not an image pinned by digest): an in-toto "
            "Statement needs a subject; take the snapshot with --model PATH"
        )
    statement = {
        "_type": STATEMENT_TYPE,
        "subject": subjects,
        "predicateType": PREDICATE_TYPE,
        "predicate": to_data(fp),
    }
    return Exported(json.dumps(statement, indent=2, ensure_ascii=False) + "\n")


def _subjects(fp: Fingerprint) -> List[Tuple[str, str]]:
    out = []
    for m in fp.models:
        hexdigest = sha256_hex(m.sha256)
        if hexdigest is None:
            raise ExportError(f"model file {m.path!r}: its recorded sha256 {m.sha256[:80]!r} is not a SHA-256")
        out.append((m.path, hexdigest))
    image = image_subject(fp.meta.target)
    if image is not None:
        out.append(image)
    return out


def image_subject(target: str) -> Optional[Tuple[str, str]]:
    """(repository, hex digest) of an ``image:REPO@sha256:HEX`` target; None for any other target, an image by
    tag included (a tag names no content)."""
    if not target.startswith(_IMAGE):
        return None
    repository, at, digest = target[len(_IMAGE) :].rpartition("@")
    if not at or not repository or not digest.startswith("sha256:"):
        return None
    hexdigest = sha256_hex(digest)
    return None if hexdigest is None else (repository, hexdigest)
