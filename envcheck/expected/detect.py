"""Which kind of file an expected side is, from its content (``--expected-format auto``).

``detect_text`` is pure: TOML with ``lock-version`` and ``packages`` is a pylock.toml; TOML with ``version`` and
``[[package]]`` tables that each have a ``source`` is a uv.lock; other TOML is taken for an envcheck lockfile (its
reader says what is wrong with it); YAML with a top-level ``flavors:`` is an MLflow ``MLmodel``; lines that are
all requirements or pip options are a requirements file. ``detect`` adds the file system: a folder holding an
``MLmodel`` is an MLflow model; anything unreadable or unrecognised is left to the envcheck lockfile reader, so
that its messages ("no such lockfile", "not valid TOML") stay what they were.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Dict, Optional

from envcheck import lockfile, tomlfile
from envcheck.expected.interface import ExpectedError
from envcheck.expected.mlflow import MLMODEL, is_mlmodel
from envcheck.expected.pylock import is_pylock
from envcheck.expected.reading import read_text
from envcheck.expected.requirements import looks_like_requirements
from envcheck.expected.uvlock import is_uvlock


@dataclass(frozen=True)
class Sniffed:
    """What detection read, so that the file is read and parsed once."""

    kind: str
    text: Optional[str] = None
    """The file's text; None for a folder or a file that could not be read (its reader then says why)."""
    data: Optional[Dict[str, Any]] = None
    """The parsed TOML, when the text is TOML."""


def sniff_text(text: str) -> Sniffed:
    try:
        data = tomlfile.parse(text, name="", limit=lockfile.MAX_BYTES)
    except tomlfile.TomlFileError:
        if is_mlmodel(text):
            return Sniffed("mlflow", text)
        return Sniffed("requirements" if looks_like_requirements(text) else "envcheck", text)
    if is_pylock(data):
        return Sniffed("pylock", text, data)
    if is_uvlock(data):
        return Sniffed("uv", text, data)
    return Sniffed("envcheck", text, data)


def detect_text(text: str) -> str:
    """``envcheck``, ``pylock``, ``uv``, ``mlflow`` or ``requirements``."""
    return sniff_text(text).kind


def sniff(path: str) -> Sniffed:
    if os.path.isdir(path):
        return Sniffed("mlflow" if os.path.isfile(os.path.join(path, MLMODEL)) else "envcheck")
    if os.path.basename(path) == MLMODEL:
        return Sniffed("mlflow")
    try:
        text = read_text(path, "lockfile", limit=lockfile.MAX_BYTES)
    except ExpectedError:
        return Sniffed("envcheck")
    return sniff_text(text)


def detect(path: str) -> str:
    """The kind of the file or folder at ``path``."""
    return sniff(path).kind
