"""Reading and writing ``envcheck.lock``: TOML, fixed key order, verified against its digest.

Errors are ``LockfileError`` with a one-line message that names the file and what is wrong with it; the CLI
prints it and exits 2. Reading is bounded (``envcheck.tomlfile``: a regular file of at most ``MAX_BYTES``, nesting
and integers within TOML's bounds); writing is atomic (``envcheck.atomic``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Tuple, Union

import tomli_w

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
    return fp, HEADER + tomli_w.dumps(ordered)


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
