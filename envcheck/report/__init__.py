"""Reporters: render a :class:`~envcheck.findings.Report` as text, JSON, JUnit XML, GitHub annotations, Markdown or
a self-contained HTML page.

Every reporter returns a ``str`` and never prints; ``reporter_for`` maps a ``--format`` value to one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NoReturn

from envcheck._lazy import lazy_names
from envcheck.report.formats import FORMATS, Format, MatrixPlace
from envcheck.report.interface import Reporter, ReportError, UnknownFormatError

#: The reporters, each imported when first named (a command renders one format, never all six).
_WHERE = {
    "GithubReporter": "envcheck.report.github",
    "HtmlReporter": "envcheck.report.html",
    "JsonReporter": "envcheck.report.json",
    "JunitReporter": "envcheck.report.junit",
    "MarkdownReporter": "envcheck.report.markdown",
    "TextReporter": "envcheck.report.text",
}
__getattr__ = lazy_names(__name__, _WHERE)

if TYPE_CHECKING:
    from envcheck.report.github import GithubReporter
    from envcheck.report.html import HtmlReporter
    from envcheck.report.json import JsonReporter
    from envcheck.report.junit import JunitReporter
    from envcheck.report.markdown import MarkdownReporter
    from envcheck.report.text import TextReporter


def _assert_never(value: NoReturn) -> NoReturn:
    # typing.assert_never is 3.11+; a NoReturn parameter gives mypy the same exhaustiveness check.
    raise AssertionError(f"unhandled format: {value!r}")


def reporter_for(name: str, *, color: bool = False, matrix: MatrixPlace = MatrixPlace.BELOW) -> Reporter:
    """The reporter for a format name; ``color`` and ``matrix`` (where the risk matrix goes) apply to ``text``
    only.

    Raises ``UnknownFormatError`` for a name outside ``FORMATS``.
    """
    try:
        fmt = Format(name)
    except ValueError:
        raise UnknownFormatError(f"unknown format {name!r} (one of {', '.join(FORMATS)})") from None
    if fmt is Format.TEXT:
        from envcheck.report.text import TextReporter

        return TextReporter(color=color, matrix=matrix)
    if fmt is Format.JSON:
        from envcheck.report.json import JsonReporter

        return JsonReporter()
    if fmt is Format.JUNIT:
        from envcheck.report.junit import JunitReporter

        return JunitReporter()
    if fmt is Format.GITHUB:
        from envcheck.report.github import GithubReporter

        return GithubReporter()
    if fmt is Format.MARKDOWN:
        from envcheck.report.markdown import MarkdownReporter

        return MarkdownReporter()
    if fmt is Format.HTML:
        from envcheck.report.html import HtmlReporter

        return HtmlReporter()
    _assert_never(fmt)


__all__ = [
    "FORMATS",
    "Format",
    "GithubReporter",
    "HtmlReporter",
    "JsonReporter",
    "JunitReporter",
    "MarkdownReporter",
    "MatrixPlace",
    "ReportError",
    "Reporter",
    "TextReporter",
    "UnknownFormatError",
    "reporter_for",
]
