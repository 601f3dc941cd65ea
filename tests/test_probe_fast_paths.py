"""The probe's fast paths give exactly what the general code gives: lockfile bytes never depend on which ran."""

from __future__ import annotations

import email.parser
import email.policy

from hypothesis import given, settings
from hypothesis import strategies as st

from envcheck.probe import _parse_headers, parse_metadata_headers, top_level_modules

# Lines as METADATA files hold them, and the odd ones a hostile or broken one may: envelope lines, continuations,
# blanks, lines without a colon, colons at the start, non-ASCII.
_LINES = st.sampled_from(
    [
        "Metadata-Version: 2.1",
        "Name: pkg",
        "Version: 1.0",
        "Requires-Dist: numpy>=1.2; extra == 'x'",
        "Classifier: A :: B",
        "License: MIT",
        "  continued",
        "\tcontinued with a tab",
        "   ",
        "",
        "From someone",
        "From: someone",
        ":no name",
        "no colon here",
        "Summary:",
        "Summary:    spaced   ",
        "Näme: ü",
        "x-y_z: v",
        "body text: after",
    ]
)


@settings(max_examples=400)
@given(st.lists(_LINES, max_size=14), st.booleans())
def test_metadata_headers_fast_path_agrees_with_the_general_reader(lines: list, final_newline: bool) -> None:
    text = "\n".join(lines) + ("\n" if final_newline else "")
    assert parse_metadata_headers(text) == _parse_headers(text)


@settings(max_examples=200)
@given(st.lists(_LINES, max_size=12))
def test_both_readers_agree_with_the_email_parser(lines: list) -> None:
    # importlib.metadata reads METADATA with email's compat32 parser: the fast path must give its headers
    text = "\n".join(lines) + "\n"
    message = email.parser.Parser(policy=email.policy.compat32).parsestr(text, headersonly=True)
    expected: dict = {}
    for key, value in message.items():
        expected.setdefault(key.lower(), []).append(value)
    assert parse_metadata_headers(text) == expected


def test_carriage_returns_take_the_general_reader() -> None:
    text = "Name: a\r\nVersion: 1\r\n continued\r\n\r\nbody: x\r\n"
    assert parse_metadata_headers(text) == {"name": ["a"], "version": ["1\r\n continued"]}


_RECORD_LINES = st.sampled_from(
    [
        b"pkg/__init__.py,sha256=x,1",
        b"pkg/sub/mod.py,,",
        b"pkg/__pycache__/a.cpython-312.pyc,,",
        b"__pycache__/top.cpython-312.pyc,,",
        b"six.py,sha256=y,2",
        b"_ext.cpython-312-x86_64-linux-gnu.so,,",
        b"pkg-1.0.dist-info/RECORD,,",
        b"../../bin/tool,,",
        b"weird name/x.py,,",
        b'"quoted,dir/x.py",,',
        b"ns.pkg/x.py,,",
        b"",
    ]
)


@given(st.lists(_RECORD_LINES, max_size=20))
def test_top_level_modules_are_those_each_line_gives(lines: list) -> None:
    # reading each distinct first component once gives what reading every line gives
    record = b"\n".join(lines)
    one_by_one: set = set()
    for line in lines:
        one_by_one.update(top_level_modules(line))
    assert top_level_modules(record) == sorted(one_by_one)[:64]
