"""Reading the TOML files a user hands envcheck (lockfiles, policies, ``pyproject.toml``), within bounds.

A lockfile or policy may come from anyone (a pull request, an artifact), so reading one is bounded:

* only a regular file is read: the file is opened with ``O_NONBLOCK`` and checked with ``fstat`` before any read,
  so a FIFO, a device or a socket is refused at once instead of blocking or reading forever;
* at most ``limit`` bytes are read; a larger file is refused with its size and the limit;
* nesting (tables and arrays) deeper than ``MAX_DEPTH`` and integers outside 64 bits (TOML's range) are refused,
  as are documents that the parser itself cannot take (too deep for its recursion, integers too long to convert).

Every failure is a ``TomlFileError`` whose message is one line naming the file; callers re-raise it as their own
error (``LockfileError``, ``PolicyError``).
"""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple, Union

from envcheck.errors import EnvcheckError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.9 and 3.10
    import tomli as tomllib

#: Tables and arrays inside one another, counting the document itself; a lockfile needs 5.
MAX_DEPTH = 32
#: TOML integers are 64-bit signed; Python's parser accepts any size.
INT_MIN, INT_MAX = -(2**63), 2**63 - 1
_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


class TomlFileError(EnvcheckError):
    """A TOML file that cannot be read or parsed within bounds; the message is one line naming the file."""


def _size(n: int) -> str:
    return f"{n / (1 << 20):.1f} MiB" if n >= 1 << 20 else f"{n} bytes"


def read_regular(path: Union[str, Path], *, what: str, limit: int) -> bytes:
    """The bytes of a regular file of at most ``limit`` bytes; never blocks on a FIFO or device.

    ``what`` names the file's role in messages ("lockfile", "policy file").
    """
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOCTTY", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError as e:
        raise TomlFileError(f"{path}: no such {what}") from e
    except OSError as e:
        raise TomlFileError(f"{path}: cannot read ({e.strerror or type(e).__name__})") from e
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            kind = next((name for test, name in _KINDS if test(info.st_mode)), "not a regular file")
            raise TomlFileError(f"{path}: is {kind}, not a {what}")
        if info.st_size > limit:
            size = _size(info.st_size)
            raise TomlFileError(f"{path}: {size} is too large for a {what} (at most {_size(limit)})")
        chunks: List[bytes] = []
        total = 0
        while total <= limit:  # st_size can lie (a file growing, a pseudo-file): the read is bounded anyway
            chunk = os.read(fd, min(1 << 20, limit + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
        if total > limit:
            raise TomlFileError(f"{path}: too large for a {what} (at most {_size(limit)})")
        return b"".join(chunks)
    except OSError as e:
        raise TomlFileError(f"{path}: cannot read ({e.strerror or type(e).__name__})") from e
    finally:
        os.close(fd)


def parse(text: str, *, name: str, limit: int) -> Dict[str, Any]:
    """Parse TOML text of at most ``limit`` characters, refusing deep nesting and integers beyond 64 bits."""
    if len(text) > limit:
        raise TomlFileError(f"{name}: too large (at most {_size(limit)})")
    try:
        data: Dict[str, Any] = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise TomlFileError(f"{name}: not valid TOML ({e})") from e
    except RecursionError as e:
        raise TomlFileError(f"{name}: not valid TOML (nested too deeply)") from e
    except ValueError as e:  # an integer too long for int() (Python's digit limit)
        raise TomlFileError(f"{name}: not valid TOML (an integer too long to read)") from e
    check_bounds(data, name)
    return data


#: Where a value sits: (key or index, where its parent sits); rendered only for a message.
_Where = Optional[Tuple[Union[str, int], Any]]


def check_bounds(data: Dict[str, Any], name: str) -> None:
    """Refuse nesting deeper than ``MAX_DEPTH`` and integers outside 64 bits, walking without recursion (and
    holding only the containers on the stack, so that a document of a million numbers costs no extra memory)."""
    stack: List[Tuple[Any, _Where, int]] = [(data, None, 1)]
    while stack:
        value, where, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise TomlFileError(f"{name}: nested deeper than {MAX_DEPTH} levels (at {_render(where)})")
        items = value.items() if isinstance(value, dict) else enumerate(value)
        for key, item in items:
            if isinstance(item, (dict, list)):
                stack.append((item, (key, where), depth + 1))
            elif type(item) is int and not INT_MIN <= item <= INT_MAX:
                raise TomlFileError(
                    f"{name}: {_render((key, where))}: integer out of range (TOML integers are 64-bit)"
                )


def _render(where: _Where) -> str:
    parts: List[str] = []
    while where is not None:
        key, where = where
        parts.append(f"[{key}]" if isinstance(key, int) else "." + repr(key)[1:-1][:40])
    text = "".join(reversed(parts)).lstrip(".")
    return text if len(text) <= 120 else "…" + text[-119:]


def load(path: Union[str, Path], *, what: str, limit: int) -> Dict[str, Any]:
    """``read_regular`` then ``parse``; the file must be UTF-8."""
    raw = read_regular(path, what=what, limit=limit)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise TomlFileError(f"{path}: not UTF-8 text") from e
    return parse(text, name=str(path), limit=limit)
