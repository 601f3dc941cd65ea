"""Exporters: a lockfile as a standard document, for tools that do not read envcheck lockfiles.

``cyclonedx``: a CycloneDX 1.6 SBOM (JSON) of the environment, its model files and hardware (needs the optional
``cyclonedx-python-lib``: ``pip install 'envcheck[sbom]'``). ``in-toto``: an in-toto Statement v1 binding the model
files to the lockfile, for ``cosign``. Every exporter returns text and never writes; ``export`` maps a ``--format``
value to one.
"""

from __future__ import annotations

import enum
from typing import NoReturn

from envcheck.exporters.interface import Exported, ExportError, MissingLibraryError, NoSubjectError
from envcheck.model import Fingerprint


class Format(str, enum.Enum):
    """The export formats, as ``--format`` spells them."""

    CYCLONEDX = "cyclonedx"
    IN_TOTO = "in-toto"


FORMATS = tuple(f.value for f in Format)
"""``("cyclonedx", "in-toto")``: the choices for the CLI."""

#: Top-level modules of cyclonedx-python-lib and what it requires: an ImportError naming one of them means the
#: optional library is missing (or broken), not that envcheck is.
_SBOM_MODULES = frozenset({"cyclonedx", "packageurl", "py_serializable", "sortedcontainers", "license_expression"})
SBOM_INSTALL = "pip install 'envcheck[sbom]' (or cyclonedx-python-lib>=8)"


class UnknownFormatError(ExportError, ValueError):
    """The requested export format does not exist."""


def _assert_never(value: NoReturn) -> NoReturn:
    # typing.assert_never is 3.11+; a NoReturn parameter gives mypy the same exhaustiveness check.
    raise AssertionError(f"unhandled format: {value!r}")


def export(fp: Fingerprint, fmt: str) -> Exported:
    """``fp`` as a document of format ``fmt`` (one of ``FORMATS``). Raises ``UnknownFormatError``,
    ``MissingLibraryError`` (CycloneDX without cyclonedx-python-lib) and ``ExportError``."""
    try:
        chosen = Format(fmt)
    except ValueError:
        raise UnknownFormatError(f"unknown export format {fmt!r} (choose from {', '.join(FORMATS)})") from None
    if chosen is Format.CYCLONEDX:
        try:
            from envcheck.exporters import cyclonedx
        except ImportError as e:
            if (e.name or "").partition(".")[0] not in _SBOM_MODULES:
                raise
            raise MissingLibraryError(
                f"--format cyclonedx needs cyclonedx-python-lib, which is not installed ({e.name}): {SBOM_INSTALL}"
            ) from e
        return cyclonedx.render(fp)
    if chosen is Format.IN_TOTO:
        from envcheck.exporters import intoto

        return intoto.render(fp)
    _assert_never(chosen)


__all__ = [
    "FORMATS",
    "ExportError",
    "Exported",
    "Format",
    "MissingLibraryError",
    "NoSubjectError",
    "UnknownFormatError",
    "export",
]
