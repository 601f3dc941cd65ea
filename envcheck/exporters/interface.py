"""What every exporter returns and raises, and the facts about a lockfile that several formats share.

An exporter turns a :class:`~envcheck.model.Fingerprint` into the text of a standard document (a CycloneDX
SBOM, an in-toto Statement) and returns it: it never prints or writes files, so the same lockfile always gives
the same bytes and the CLI decides where they go. A lockfile is user input: what an exporter cannot represent
faithfully it leaves out with a note (``Exported.notes``), or refuses with an ``ExportError`` when leaving it out
would make the document say something false.
"""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass
from typing import Optional, Tuple

from envcheck.errors import EnvcheckError
from envcheck.model import Fingerprint, compute_digest

_SHA256_HEX = re.compile(r"[0-9a-f]{64}")
_CREATED = "%Y-%m-%dT%H:%M:%SZ"


class ExportError(EnvcheckError):
    """Base error of exporters: the lockfile cannot be expressed in the format asked for."""


class MissingLibraryError(ExportError):
    """The format needs an optional library that is not installed; the message says how to install it."""


class NoSubjectError(ExportError):
    """An attestation needs at least one subject (a digest to bind to) and the lockfile gives none."""


@dataclass(frozen=True)
class Exported:
    """A rendered document and what had to be left out of it."""

    text: str
    """The whole document, ending with a newline."""
    notes: Tuple[str, ...] = ()
    """One line per entry of the lockfile the document leaves out, and why (printed as warnings by the CLI)."""


def sha256_hex(value: str) -> Optional[str]:
    """``value`` as 64 lowercase hex digits (a ``sha256:`` prefix allowed), or None when it is not a SHA-256."""
    text = value.strip().lower()
    if text.startswith("sha256:"):
        text = text[len("sha256:") :]
    return text if _SHA256_HEX.fullmatch(text) else None


def content_digest(fp: Fingerprint) -> str:
    """The digest of what the lockfile holds, recomputed: equal to ``meta.digest`` for an unedited lockfile, and
    still a function of the content for one read with ``--ignore-digest`` or built in memory."""
    return compute_digest(fp)


def created_at(fp: Fingerprint) -> datetime.datetime:
    """When the snapshot was taken (``meta.created``), as an aware UTC datetime: the documents' timestamp, so that
    exporting the same lockfile twice gives the same bytes."""
    try:
        when = datetime.datetime.strptime(fp.meta.created, _CREATED)
    except ValueError as e:
        raise ExportError(
            f"meta.created {fp.meta.created!r}: not a UTC time as envcheck writes it (YYYY-MM-DDTHH:MM:SSZ)"
        ) from e
    return when.replace(tzinfo=datetime.timezone.utc)
