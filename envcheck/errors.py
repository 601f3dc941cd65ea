"""The one base class of everything envcheck expects to go wrong.

A bad lockfile, policy, target, archive or path is an ``EnvcheckError`` (each module raises its own subclass:
``LockfileError``, ``PolicyError``, ``TargetError``...), with a message that is one line for the user. The CLI
maps every ``EnvcheckError`` to that line and exit code 2, in one place; any other exception is a bug in envcheck
(an internal error, exit code 3), never "drift found".

This module imports nothing from envcheck, so that every module can use it.
"""

from __future__ import annotations


class EnvcheckError(Exception):
    """Something envcheck expected could go wrong did: the message says what, in one line, for the user.

    One line by construction: a message quotes what the user gave (a policy's key, a path, a member name), which
    may hold a newline or a control character; ``str()`` shows each as its escape (``\\n``), as
    ``envcheck.report.escape.printable`` does (not imported: this module imports nothing of envcheck)."""

    def __str__(self) -> str:
        text = super().__str__()
        return text if text.isprintable() else "".join(c if c.isprintable() else ascii(c)[1:-1] for c in text)


class WriteError(EnvcheckError):
    """A file envcheck was asked to write (a lockfile, a report) could not be written; the old one is intact."""
