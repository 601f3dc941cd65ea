"""The checks a lockfile's package entry passes before it becomes a pin.

A lockfile is data somebody else may have written: a version ``1.0 --index-url http://evil`` or a name with a
newline in it, written into a requirements file, would be an installer option line. Only what these checks
accept reaches a pin (``envcheck.restore.interface.Pin``); the rest is refused with a note. Pure.
"""

from __future__ import annotations

import re
from typing import Optional, Tuple

from packaging.version import InvalidVersion, Version

from envcheck.model import DirectUrl

#: PEP 508 names (the core metadata spec's regex), ASCII only.
_NAME = re.compile(r"[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?", re.ASCII)
#: The characters a PEP 440 version may hold; packaging also accepts surrounding whitespace, which is refused.
_VERSION_CHARS = re.compile(r"[A-Za-z0-9.!+_-]+", re.ASCII)
#: Hash algorithms pip's ``--hash`` and pylock.toml both take, with their hex digest lengths.
_HASH_LENGTHS = {"sha256": 64, "sha384": 96, "sha512": 128}
_HASH = re.compile(r"(sha256|sha384|sha512)[=:]([0-9a-fA-F]+)", re.ASCII)
#: URL schemes a recorded source may have to be written into a pylock.toml.
_SCHEMES = ("https://", "http://", "file://")
_URL_CHARS = re.compile(r"[A-Za-z0-9._~:/?#\[\]@!$&'()*+,;=%-]+", re.ASCII)


def valid_name(name: str) -> bool:
    """A valid PEP 508 distribution name, nothing around it."""
    return _NAME.fullmatch(name) is not None


def valid_version(version: str) -> bool:
    """A valid PEP 440 version, and nothing else: no whitespace, no option, no marker."""
    if _VERSION_CHARS.fullmatch(version) is None:
        return False
    try:
        Version(version)
    except InvalidVersion:
        return False
    return True


def parse_hash(text: str) -> Optional[str]:
    """``sha256:<hex>`` (lower case) from PEP 610's ``sha256=<hex>`` or ``sha256:<hex>``; None when it is not
    one of the algorithms pip takes or the digest has the wrong length."""
    found = _HASH.fullmatch(text)
    if found is None or len(found.group(2)) != _HASH_LENGTHS[found.group(1)]:
        return None
    return f"{found.group(1)}:{found.group(2).lower()}"


def valid_url(url: str) -> bool:
    """An http(s) or file URL made only of URL characters (no whitespace, quotes or control characters)."""
    return url.startswith(_SCHEMES) and _URL_CHARS.fullmatch(url) is not None


def archive_of(direct: Optional[DirectUrl]) -> Tuple[Tuple[str, ...], str]:
    """(hashes, note) of a recorded archive source: its hash when valid; a note when one was recorded but
    refused. Empty for any other source."""
    if direct is None or direct.kind != "archive" or not direct.archive_hash:
        return (), ""
    parsed = parse_hash(direct.archive_hash)
    if parsed is None:
        return (), "its recorded archive hash is not a sha256/sha384/sha512 digest"
    return (parsed,), ""
