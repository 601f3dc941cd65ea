"""The one base class of everything envcheck expects to go wrong.

A bad lockfile, policy, target, archive or path is an ``EnvcheckError`` (each module raises its own subclass:
``LockfileError``, ``PolicyError``, ``TargetError``...), with a message that is one line for the user. The CLI
maps every ``EnvcheckError`` to that line and exit code 2, in one place; any other exception is a bug in envcheck
(an internal error, exit code 3), never "drift found".

This module imports nothing from envcheck, so that every module can use it.
"""

from __future__ import annotations


class EnvcheckError(Exception):
    """Something envcheck expected could go wrong did: the message says what, in one line, for the user."""


class WriteError(EnvcheckError):
    """A file envcheck was asked to write (a lockfile, a report) could not be written; the old one is intact."""
