"""The expected side of ``check`` and ``diff``: an envcheck lockfile, or a lock teams already have.

``read_expected(path, fmt)`` reads an envcheck lockfile, a pinned ``requirements.txt``, a ``pylock.toml``, a
``uv.lock`` or an MLflow model (folder or ``MLmodel``), detecting which from the content unless ``fmt`` says.
The others are partial fingerprints: ``ExpectedSide.fingerprint_for(candidate)`` evaluates their markers against
the candidate and marks every section they do not state ``not inspected``, so it is skipped, never missing.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Union

from envcheck import lockfile
from envcheck.expected.detect import Sniffed, detect, detect_text, sniff
from envcheck.expected.interface import FORMATS, MAX_BYTES, ExpectedError, ExpectedPackage, PartialSpec
from envcheck.expected.mlflow import model_folder, read_mlflow
from envcheck.expected.partial import describe as describe_spec
from envcheck.expected.partial import fingerprint_for
from envcheck.expected.pylock import parse_pylock
from envcheck.expected.reading import parse_toml, read_text
from envcheck.expected.requirements import read_requirements
from envcheck.expected.uvlock import parse_uvlock
from envcheck.model import Fingerprint

__all__ = [
    "FORMATS",
    "ExpectedError",
    "ExpectedPackage",
    "ExpectedSide",
    "PartialSpec",
    "detect",
    "detect_text",
    "read_expected",
]

#: An envcheck lockfile inside an MLflow model folder is read instead of MLflow's own files.
LOCK_IN_MODEL = "envcheck.lock"


@dataclass(frozen=True)
class ExpectedSide:
    """What ``check``/``diff`` compare the candidate with: a lockfile (``lock``) or a partial ``spec``."""

    name: str
    """For the report: the path, and the kind of file when it is not an envcheck lockfile."""
    path: str
    """The file read: the ``envcheck.lock`` inside an MLflow folder that has one."""
    format: str
    """One of ``FORMATS`` but ``auto``."""
    lock: Optional[Fingerprint] = None
    spec: Optional[PartialSpec] = None

    def fingerprint_for(self, actual: Optional[Fingerprint] = None) -> Fingerprint:
        """The fingerprint to compare ``actual`` with (the lockfile as read; for a partial spec, its pins that
        apply to ``actual``: None gives the sections without packages, for use before the candidate is read)."""
        if self.lock is not None:
            return self.lock
        if self.spec is None:  # pragma: no cover - construction gives one or the other
            raise ExpectedError(f"{self.name}: nothing read")
        return fingerprint_for(self.spec, actual)

    def describe(self, actual: Fingerprint) -> Optional[str]:
        """A report line on what a partial spec stated and left out; None for a lockfile."""
        return None if self.spec is None else describe_spec(self.spec, actual)


def read_expected(path: Union[str, Path], fmt: str = "auto", *, verify: bool = True) -> ExpectedSide:
    """Read the expected side at ``path``; ``fmt`` forces the format (``FORMATS``). Raises ``ExpectedError`` or
    ``LockfileError``, each one line."""
    text_path = str(path)
    if fmt not in FORMATS:
        raise ExpectedError(f"unknown expected format {fmt!r} (one of {', '.join(FORMATS)})")
    sniffed = sniff(text_path) if fmt == "auto" else Sniffed(fmt)
    kind = sniffed.kind
    if kind != "envcheck" and sniffed.text is not None and len(sniffed.text.encode("utf-8")) > MAX_BYTES:
        raise ExpectedError(f"{text_path}: too large for a {kind} file (at most {MAX_BYTES >> 20} MiB)")
    if kind == "mlflow":
        inner = os.path.join(model_folder(text_path), LOCK_IN_MODEL)
        if os.path.isfile(inner):
            name = f"{inner} (the envcheck lockfile in the MLflow model {text_path})"
            return ExpectedSide(name, inner, "envcheck", lock=lockfile.read(inner, verify=verify))
        spec = read_mlflow(text_path)
    elif kind == "envcheck":
        if sniffed.text is not None:  # read once, within the lockfile's own bound
            fp = lockfile.loads(sniffed.text, name=text_path, verify=verify)
        else:
            fp = lockfile.read(path, verify=verify)
        return ExpectedSide(text_path, text_path, kind, lock=fp)
    elif kind == "requirements":
        spec = read_requirements(text_path)
    else:
        data = sniffed.data if sniffed.data is not None else parse_toml(read_text(text_path, kind), text_path)
        spec = parse_pylock(data, text_path) if kind == "pylock" else parse_uvlock(data, text_path)
    return ExpectedSide(f"{text_path} ({spec.format})", text_path, kind, spec=spec)
