"""The report formats, as ``--format`` spells them, and where the text report puts its matrix: apart from the
reporters, so that naming the choices imports none of them."""

from __future__ import annotations

import enum


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


class MatrixPlace(str, enum.Enum):
    """Where the text report draws the risk matrix."""

    BELOW = "below"
    """A table of counts after the findings: what files, pipes and the golden files hold."""
    ABOVE = "above"
    """A compact grid of counts and band letters before the findings, read first at a terminal."""
    NONE = "none"
    """No matrix (``--no-matrix``)."""
