"""Bounded reads of the files an expected side is made of (they may come from anyone: a pull request, an
artifact): regular files only, at most ``MAX_BYTES``, UTF-8; each failure one ``ExpectedError`` line."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Union

from envcheck import tomlfile
from envcheck.expected.interface import MAX_BYTES, ExpectedError


def read_text(path: Union[str, Path], what: str, limit: int = MAX_BYTES) -> str:
    """The text of a regular file of at most ``limit`` bytes (``tomlfile.read_regular``: never blocks)."""
    try:
        raw = tomlfile.read_regular(path, what=what, limit=limit)
    except tomlfile.TomlFileError as e:
        raise ExpectedError(str(e)) from e
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise ExpectedError(f"{path}: not UTF-8 text") from e


def parse_toml(text: str, name: str) -> Dict[str, Any]:
    """TOML within ``tomlfile``'s bounds (nesting, integers)."""
    try:
        return tomlfile.parse(text, name=name, limit=MAX_BYTES)
    except tomlfile.TomlFileError as e:
        raise ExpectedError(str(e)) from e
