"""Reading and writing ``envcheck.lock``: TOML, fixed key order, verified against its digest.

Errors are ``LockfileError`` with a one-line message that names the file and what is wrong with it; the CLI
prints it and exits 2. Reading is bounded (``envcheck.tomlfile``: a regular file of at most ``MAX_BYTES``, nesting
and integers within TOML's bounds); writing is atomic (``envcheck.atomic``), in tomli-w's layout byte for byte
(``_Writer``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Dict, List, Match, Tuple, Union

from envcheck import atomic, tomlfile
from envcheck.errors import EnvcheckError, WriteError
from envcheck.model import (
    SCHEMA_VERSION,
    Fingerprint,
    FingerprintDataError,
    compute_digest,
    from_data,
    to_data,
    with_digest,
)

HEADER = "# envcheck lockfile: the environment a model was verified in. Generated; do not edit by hand.\n"
#: Top-level order in the file: what a reader wants first, packages (the long part) last.
ORDER = (
    "meta",
    "sources",
    "os",
    "python",
    "cpu",
    "memory",
    "gpu",
    "native",
    "env",
    "models",
    "numerics",
    "golden",
    "packages",
)
#: The largest lockfile read: about fifty times a 200-package environment's (170 KB), and a bound on the time
#: (seconds) and memory a hostile one can cost to parse.
MAX_BYTES = 8 << 20


class LockfileError(EnvcheckError):
    """A lockfile that cannot be read: missing, malformed, of an unknown schema, or altered since written."""


def dumps(fp: Fingerprint) -> str:
    """The lockfile text for ``fp`` (its digest recomputed)."""
    return _render(fp)[1]


def _render(fp: Fingerprint) -> Tuple[Fingerprint, str]:
    fp = with_digest(fp)
    data: Dict[str, Any] = to_data(fp, compact_lists=True)
    ordered = {key: data[key] for key in ORDER if key in data}
    return fp, HEADER + _toml(ordered)


def loads(text: str, *, name: str = "lockfile", verify: bool = True) -> Fingerprint:
    """Parse lockfile text; refuse an unknown schema and, unless ``verify`` is false, a wrong digest."""
    try:
        data = tomlfile.parse(text, name=name, limit=MAX_BYTES)
    except tomlfile.TomlFileError as e:
        raise LockfileError(str(e)) from e
    meta = data.get("meta")
    if not isinstance(meta, dict) or "schema" not in meta:
        raise LockfileError(f"{name}: not an envcheck lockfile (no [meta] schema)")
    schema = meta["schema"]
    if schema != SCHEMA_VERSION:
        raise LockfileError(
            f"{name}: lockfile schema {schema!r} is not supported by this envcheck "
            f"(it reads schema {SCHEMA_VERSION}); use the envcheck version that wrote it"
        )
    try:
        fp = from_data(Fingerprint, data, "lockfile")
    except FingerprintDataError as e:
        raise LockfileError(f"{name}: {e}") from e
    if verify:
        expected = compute_digest(fp)
        if fp.meta.digest != expected:
            raise LockfileError(
                f"{name}: content does not match its digest (edited or damaged since it was written); "
                "take a new snapshot, or pass --ignore-digest to read it anyway"
            )
    return fp


def read(path: Union[str, Path], *, verify: bool = True) -> Fingerprint:
    """Read a lockfile from disk: a regular file (never a FIFO or device) of at most ``MAX_BYTES``."""
    try:
        raw = tomlfile.read_regular(path, what="lockfile", limit=MAX_BYTES)
    except tomlfile.TomlFileError as e:
        raise LockfileError(str(e)) from e
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise LockfileError(f"{path}: not UTF-8 text") from e
    return loads(text, name=str(path), verify=verify)


def write(fp: Fingerprint, path: Union[str, Path]) -> Fingerprint:
    """Write ``fp`` atomically (``envcheck.atomic``); returns it with its digest set."""
    fp, text = _render(fp)
    try:
        atomic.write_text(path, text)
    except WriteError as e:
        raise LockfileError(str(e)) from e
    return fp


# --- TOML as tomli-w writes it ----------------------------------------------------------------------------------
#
# The lockfile's bytes are tomli-w's (1.x, 4-space indent, no multi-line strings): the same layout, key quoting,
# escapes and inline-table choice (an array of tables is written inline when every table fits on a 100-character
# line). tomli-w escapes strings one character at a time in Python, most of the time of a write; this writer
# escapes with one regular expression and appends to one list. tests/test_lockfile_speed_paths.py holds it to
# tomli-w's output, byte for byte.

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+\Z")
_ESCAPED = re.compile(r'[\x00-\x08\x0a-\x1f\x7f"\\]')
_COMPACT = {"\b": "\\b", "\n": "\\n", "\f": "\\f", "\r": "\\r", '"': '\\"', "\\": "\\\\"}
_INDENT = "    "
_MAX_LINE = 100


def _escape(m: Match[str]) -> str:
    char = m.group()
    return _COMPACT.get(char) or "\\u" + format(ord(char), "04x")


def _string(s: str) -> str:
    if _ESCAPED.search(s) is None:
        return '"' + s + '"'
    return '"' + _ESCAPED.sub(_escape, s) + '"'


def _key(key: str) -> str:
    return key if _BARE_KEY.match(key) else _string(key)


class _Writer:
    """Appends one document's text to ``out``; holds the inline tables already rendered, as tomli-w does."""

    def __init__(self, out: List[str]) -> None:
        self.out = out
        self.inline: Dict[int, str] = {}

    def table(self, table: Mapping[str, Any], name: str, inside_aot: bool) -> None:
        out = self.out
        literals: List[Tuple[str, Any]] = []
        tables: List[Tuple[str, Any, bool]] = []
        for k, v in table.items():
            if type(v) is dict or isinstance(v, Mapping):
                tables.append((k, v, False))
            elif self._is_aot(v) and not all(self._fits_inline(t) for t in v):
                tables.extend((k, t, True) for t in v)
            else:
                literals.append((k, v))
        written = False
        if inside_aot or (name and (literals or not tables)):
            written = True
            out.append(f"[[{name}]]\n" if inside_aot else f"[{name}]\n")
        if literals:
            written = True
            for k, v in literals:
                out.append(f"{_key(k)} = {self.literal(v, 0)}\n")
        for k, v, in_aot in tables:
            if written:
                out.append("\n")
            written = True
            key = _key(k)
            self.table(v, f"{name}.{key}" if name else key, in_aot)

    def literal(self, obj: Any, nest: int) -> str:
        if type(obj) is str:
            return _string(obj)
        if isinstance(obj, str):
            return _string(obj)
        if isinstance(obj, bool):
            return "true" if obj else "false"
        if isinstance(obj, (int, float)):
            return str(obj)
        if isinstance(obj, (list, tuple)):
            if not obj:
                return "[]"
            indent = _INDENT * (nest + 1)
            items = ",\n".join(indent + self.literal(item, nest + 1) for item in obj)
            return f"[\n{items},\n{_INDENT * nest}]"
        if isinstance(obj, Mapping):
            return self.inline_table(obj)
        raise TypeError(f"Object of type '{type(obj).__qualname__}' is not TOML serializable")

    def inline_table(self, obj: Mapping[str, Any]) -> str:
        rendered = self.inline.get(id(obj))
        if rendered is None:
            if not obj:
                rendered = "{}"
            else:
                rendered = "{ " + ", ".join(f"{_key(k)} = {self.literal(v, 0)}" for k, v in obj.items()) + " }"
            self.inline[id(obj)] = rendered
        return rendered

    @staticmethod
    def _is_aot(obj: Any) -> bool:
        if not obj or not isinstance(obj, (list, tuple)):
            return False
        return all(type(v) is dict or isinstance(v, Mapping) for v in obj)

    def _fits_inline(self, obj: Mapping[str, Any]) -> bool:
        rendered = self.inline_table(obj)
        return len(rendered) + len(_INDENT) + 1 <= _MAX_LINE and "\n" not in rendered


def _toml(data: Mapping[str, Any]) -> str:
    """``data`` as tomli-w's ``dumps`` writes it."""
    out: List[str] = []
    _Writer(out).table(data, "", False)
    return "".join(out)
