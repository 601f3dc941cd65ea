"""Text from an inspected environment, made safe to print.

Package names, versions, variable values, paths and source notes come from trees, processes and lockfiles that
somebody else made. Printed raw, a control character in them could move a terminal's cursor, recolour or retitle
it (``ESC [``, ``ESC ]``), a newline could start a forged line (a GitHub ``::error::`` workflow command, a fake
``fix:`` line), a bidirectional override could make text read other than it is, and a lone surrogate (a file
name that was not UTF-8) could not be written at all. ``printable`` shows each such character as its Python
escape (``\\x1b``, ``\\n``, ``\\u202e``, ``\\udcff``) instead; every reporter and ``envcheck show`` pass
environment data through it.
"""

from __future__ import annotations


def _escape(char: str) -> str:
    return ascii(char)[1:-1]


def printable(text: str, keep: str = "") -> str:
    """``text`` with every character that is not printable (``str.isprintable``: control and format characters,
    line and paragraph separators, surrogates, unassigned code points; the space stays) written as its escape,
    except those in ``keep`` (``"\\n"`` where the format escapes newlines its own way)."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() or c in keep else _escape(c) for c in text)
