"""Reading the TOML files a user hands envcheck (lockfiles, policies, ``pyproject.toml``), within bounds.

A lockfile or policy may come from anyone (a pull request, an artifact), so reading one is bounded:

* only a regular file is read: the file is opened with ``O_NONBLOCK`` and checked with ``fstat`` before any read,
  so a FIFO, a device or a socket is refused at once instead of blocking or reading forever;
* at most ``limit`` bytes are read; a larger file is refused with its size and the limit;
* nesting (tables and arrays) deeper than ``MAX_DEPTH`` and integers outside 64 bits (TOML's range) are refused,
  as are documents that the parser itself cannot take (too deep for its recursion, integers too long to convert).

Every failure is a ``TomlFileError`` whose message is one line naming the file; callers re-raise it as their own
error (``LockfileError``, ``PolicyError``).

Text in the shape envcheck's own writer gives (a lockfile) is read line by line without the full parser, about
four times faster; anything else, and anything the full parser would refuse, is read by the full parser, so the
result is the full parser's either way (``_parse_subset``).
"""

from __future__ import annotations

import os
import re
import stat
import sys
from pathlib import Path
from typing import Any, Dict, List, Match, Optional, Set, Tuple, Union

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
    data = _parse_subset(text)
    try:
        if data is None:
            data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise TomlFileError(f"{name}: not valid TOML ({e})") from e
    except RecursionError as e:
        raise TomlFileError(f"{name}: not valid TOML (nested too deeply)") from e
    except ValueError as e:  # an integer too long for int() (Python's digit limit)
        raise TomlFileError(f"{name}: not valid TOML (an integer too long to read)") from e
    check_bounds(data, name)
    return data


# --- the writer's subset, read without the full parser -----------------------------------------------------------
#
# A lockfile is tens of thousands of lines that ``tomli_w`` wrote in one fixed shape; the full parser (pure Python
# before 3.11 and in ``tomllib``) spends most of a load on them. ``_parse_subset`` reads exactly that shape:
# comment and blank lines, ``[a.b]`` and ``[[a.b]]`` headers, ``key = value`` lines, and arrays written one item a
# line. A value it does not read itself (an inline table, a float, a ``\u`` escape) is handed, alone, to the full
# parser. On anything else, or on anything the full parser would refuse (a key or table defined twice, a table
# reopened), it returns None and ``parse`` reads the whole text with the full parser: the result is always the
# full parser's, never a different value.

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+\Z")
#: A basic string without escapes, and one with only the one-character escapes ``tomli_w`` writes.
_PLAIN_STR = re.compile(r'"[^"\\\x00-\x08\x0a-\x1f\x7f]*"\Z')
_ESCAPED_STR = re.compile(r'"(?:[^"\\\x00-\x08\x0a-\x1f\x7f]|\\["\\bfnrt])*"\Z')
_ESCAPE = re.compile(r'\\(["\\bfnrt])')
_ESCAPES = {'"': '"', "\\": "\\", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}
#: A decimal integer short enough for ``int()`` at once (the 64-bit bound is checked afterwards, as always).
_INT = re.compile(r"-?(?:0|[1-9][0-9]{0,18})\Z")
_COMMENT = re.compile(r"#[^\x00-\x08\x0a-\x1f\x7f]*\Z")
_HEADER_KEY = re.compile(r'([A-Za-z0-9_-]+|"(?:[^"\\\x00-\x08\x0a-\x1f\x7f]|\\["\\bfnrt])*")(\.|\Z)')


def _unescape(m: Match[str]) -> str:
    return _ESCAPES[m.group(1)]


class _NotSubset(Exception):
    """The text is outside the subset, or the full parser would refuse it: read it with the full parser."""


#: Values a document may hand to the full parser one by one (about 20 µs each) before the whole text goes to it
#: instead: a writer's lockfile has a few dozen (short list items written as inline tables); a hostile one of
#: a million floats must not cost more than the full parser would.
MAX_DELEGATED = 1024


class _Budget:
    """How many more values may go to the full parser alone."""

    def __init__(self) -> None:
        self.left = MAX_DELEGATED

    def parse(self, text: str) -> Any:
        """``v = ...`` as the full parser reads it, or ``_NotSubset``."""
        self.left -= 1
        if self.left < 0:
            raise _NotSubset
        try:
            return tomllib.loads(text)["v"]
        except (tomllib.TOMLDecodeError, RecursionError, ValueError) as e:
            raise _NotSubset from e


def _key(text: str) -> str:
    if _BARE_KEY.match(text):
        return text
    if _ESCAPED_STR.match(text):
        return _ESCAPE.sub(_unescape, text[1:-1])
    raise _NotSubset


#: What ``_scalar`` gives for a text that is none of the common scalars.
_OTHER = object()


def _scalar(text: str) -> Any:
    """A string or an integer as the writer emits them, else ``_OTHER``."""
    if _PLAIN_STR.match(text):
        return text[1:-1]
    if _ESCAPED_STR.match(text):
        return _ESCAPE.sub(_unescape, text[1:-1])
    if _INT.match(text):
        return int(text)
    return _OTHER


def _value(text: str, budget: _Budget) -> Any:
    """One value as the full parser reads it: the common scalars here, anything else through the full parser."""
    value = _scalar(text)
    if value is not _OTHER:
        return value
    if text == "true":
        return True
    if text == "false":
        return False
    if text == "[]":
        return []
    return budget.parse("v = " + text)  # one line "v = X" defines the one key v, or fails


def _item(line: str, budget: _Budget) -> Any:
    """One array item written on its own line, ``    VALUE,``."""
    value = _scalar(line[4:-1])
    if value is not _OTHER:
        return value
    # Anything else is read in a two-item array, so that a comma inside a comment or a second item on the line
    # cannot pass: the item must be followed by exactly this line's comma.
    parsed = budget.parse("v = [" + line + " 0]")
    if len(parsed) != 2 or type(parsed[1]) is not int or parsed[1] != 0:
        raise _NotSubset
    return parsed[0]


def _header_keys(text: str) -> List[str]:
    keys: List[str] = []
    pos = 0
    while True:
        m = _HEADER_KEY.match(text, pos)
        if m is None:
            raise _NotSubset
        keys.append(_key(m.group(1)))
        if len(keys) > MAX_DEPTH:  # the full parser's own limits decide how such a document fails
            raise _NotSubset
        if not m.group(2):
            if m.end() != len(text):
                raise _NotSubset
            return keys
        pos = m.end()


def _parse_subset(text: str) -> Optional[Dict[str, Any]]:
    """``text`` read as the full parser reads it, or None when it is not in the writer's subset."""
    if "\r" in text:
        return None
    try:
        return _read_lines(text.split("\n"))
    except _NotSubset:
        return None


def _read_lines(lines: List[str]) -> Dict[str, Any]:
    root: Dict[str, Any] = {}
    #: Tables opened by a header (explicitly or as a parent): only these take more headers below them. Ids, since
    #: every table stays alive in ``root`` while this runs.
    opened = {id(root)}
    #: Arrays created by ``[[...]]`` headers: only these take more items.
    arrays_of_tables: Set[int] = set()
    table = root
    array: Optional[List[Any]] = None
    budget = _Budget()
    for line in lines:
        if array is not None:
            if line == "]":
                array = None
            elif line.startswith("    ") and line.endswith(","):
                array.append(_item(line, budget))
            else:
                raise _NotSubset
            continue
        if not line:
            continue
        first = line[0]
        if first == "#":
            if not _COMMENT.match(line):
                raise _NotSubset
            continue
        if first == "[":
            aot = line.startswith("[[")
            if aot:
                if not line.endswith("]]"):
                    raise _NotSubset
                keys = _header_keys(line[2:-2])
            else:
                if not line.endswith("]"):
                    raise _NotSubset
                keys = _header_keys(line[1:-1])
            parent = root
            for key in keys[:-1]:
                child = parent.get(key)
                if child is None:
                    child = parent[key] = {}
                    opened.add(id(child))
                elif type(child) is list and id(child) in arrays_of_tables:
                    child = child[-1]
                elif type(child) is not dict or id(child) not in opened:
                    raise _NotSubset
                parent = child
            last = keys[-1]
            table = {}
            opened.add(id(table))
            if aot:
                existing = parent.get(last)
                if existing is None:
                    new: List[Any] = [table]
                    arrays_of_tables.add(id(new))
                    parent[last] = new
                elif type(existing) is list and id(existing) in arrays_of_tables:
                    existing.append(table)
                else:
                    raise _NotSubset
            elif last in parent:  # redefined, or defined after a table below it (valid TOML, not the writer's)
                raise _NotSubset
            else:
                parent[last] = table
            continue
        key_text, sep, value_text = line.partition(" = ")
        if not sep:
            raise _NotSubset
        key = _key(key_text)
        if key in table:
            raise _NotSubset
        if value_text == "[":
            array = table[key] = []
        else:
            table[key] = _value(value_text, budget)
    if array is not None:
        raise _NotSubset
    return root


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
