"""Reporters: render a :class:`~envcheck.findings.Report` as text, JSON, JUnit XML, GitHub annotations, Markdown or
a self-contained HTML page.

Every reporter returns a ``str`` and never prints; ``reporter_for`` maps a ``--format`` value to one.
"""

from __future__ import annotations

import enum
from typing import NoReturn

from envcheck.report.github import GithubReporter
from envcheck.report.html import HtmlReporter
from envcheck.report.interface import Reporter, ReportError, UnknownFormatError
from envcheck.report.json import JsonReporter
from envcheck.report.junit import JunitReporter
from envcheck.report.markdown import MarkdownReporter
from envcheck.report.text import MatrixPlace, TextReporter


class Format(str, enum.Enum):
    """The output formats, as ``--format`` spells them."""

    TEXT = "text"
    JSON = "json"
    JUNIT = "junit"
    GITHUB = "github"
    MARKDOWN = "markdown"
    HTML = "html"


FORMATS = tuple(f.value for f in Format)
"""``("text", "json", "junit", "github", "markdown", "html")``: the choices for the CLI."""


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
        return TextReporter(color=color, matrix=matrix)
    if fmt is Format.JSON:
        return JsonReporter()
    if fmt is Format.JUNIT:
        return JunitReporter()
    if fmt is Format.GITHUB:
        return GithubReporter()
    if fmt is Format.MARKDOWN:
        return MarkdownReporter()
    if fmt is Format.HTML:
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
