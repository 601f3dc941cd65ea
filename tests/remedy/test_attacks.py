"""Hostile lockfiles: a name, version or hash crafted to become an installer option must never be written as a
requirement line or a pylock entry; it is refused, with a note (escaped) in the comments."""

from __future__ import annotations

import re
import sys
from typing import List

import pytest
from packaging.requirements import Requirement

from envcheck.compare import compare
from envcheck.model import OK, DirectUrl, Fingerprint, Package, Source
from envcheck.restore import plan, render

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.9 and 3.10
    import tomli as tomllib

GOOD_HASH = "sha256=" + "ab" * 32
#: Every line a requirements file from envcheck may hold that is not a comment.
_REQUIREMENT = re.compile(r"[a-z0-9][a-z0-9._-]*==[A-Za-z0-9.!+_-]+( \\)?")
_HASH_LINE = re.compile(r"    --hash=sha(256|384|512):[0-9a-f]+( \\)?")

CRAFTED = [
    pytest.param(Package("alpha", "1.0 --index-url http://evil.example/simple"), id="option-after-version"),
    pytest.param(Package("alpha", "1.0\n--index-url http://evil.example/simple"), id="newline-in-version"),
    pytest.param(Package("alpha", "1.0\r--trusted-host evil.example"), id="carriage-return-in-version"),
    pytest.param(Package("alpha", "1.0 ; python_version > '0'"), id="marker-in-version"),
    pytest.param(Package("alpha", " 1.0"), id="leading-space"),
    pytest.param(Package("alpha", "1.0\u2028-e evil"), id="line-separator"),
    pytest.param(Package("alpha\n--index-url http://evil.example", "1.0"), id="newline-in-name"),
    pytest.param(Package("-e git+http://evil.example/x", "1.0"), id="option-as-name"),
    pytest.param(Package("alpha @ http://evil.example/a.whl", "1.0"), id="direct-reference-as-name"),
    pytest.param(Package("alpha[evil]", "1.0"), id="extras-in-name"),
]


def fingerprint(*packages: Package) -> Fingerprint:
    return Fingerprint(sources={"packages": Source(OK)}, packages=packages)


def requirement_lines(text: str) -> List[str]:
    return [line for line in text.splitlines() if line and not line.startswith("#")]


def assert_only_pins(text: str) -> None:
    for line in requirement_lines(text):
        assert _REQUIREMENT.fullmatch(line) or _HASH_LINE.fullmatch(line), line
        if not line.startswith(" "):
            req = Requirement(line.rstrip(" \\"))
            assert not req.url and not req.marker and not req.extras


@pytest.mark.parametrize("crafted", CRAFTED)
def test_a_crafted_entry_is_refused_and_never_a_requirement(crafted: Package) -> None:
    expected = fingerprint(crafted, Package("beta", "2.0"))
    the_plan = plan(expected, fingerprint(), compare(expected, fingerprint()))
    text = render(the_plan, "requirements")
    assert_only_pins(text)
    assert requirement_lines(text) == ["beta==2.0"]
    assert "evil" not in "\n".join(requirement_lines(text))
    assert len(the_plan.refused) == 1 and "not a valid" in the_plan.refused[0]
    refused = [line for line in text.splitlines() if "not a valid" in line]
    assert len(refused) == 1 and refused[0].startswith("#  ")  # the note stays one comment line

    pylock = render(the_plan, "pylock")
    assert "\n--" not in pylock and "\n-e" not in pylock
    data = tomllib.loads(pylock)
    assert data["packages"] == []  # beta has no recorded archive: left out, never a bare entry


@pytest.mark.parametrize(
    "archive_hash",
    [
        pytest.param("sha256=" + "ab" * 31, id="short"),
        pytest.param("md5=" + "ab" * 16, id="md5"),
        pytest.param("sha256=" + "ab" * 32 + "\n--index-url http://evil.example", id="option-after-hash"),
        pytest.param("sha256=" + "zz" * 32, id="not-hex"),
    ],
)
def test_a_crafted_hash_is_left_out_with_a_note(archive_hash: str) -> None:
    direct = DirectUrl(url="file:///w/alpha-1.0-py3-none-any.whl", kind="archive", archive_hash=archive_hash)
    expected = fingerprint(Package("alpha", "1.0", direct_url=direct))
    the_plan = plan(expected, fingerprint(), compare(expected, fingerprint()))
    text = render(the_plan, "requirements")
    assert_only_pins(text)
    assert requirement_lines(text) == ["alpha==1.0"]
    assert any("archive hash" in note for note in the_plan.refused)


def test_a_crafted_source_url_is_not_written_to_the_pylock() -> None:
    direct = DirectUrl(url='file:///w/a.whl"\n[[packages]]', kind="archive", archive_hash=GOOD_HASH)
    expected = fingerprint(Package("alpha", "1.0", direct_url=direct))
    text = render(plan(expected, fingerprint(), compare(expected, fingerprint())), "pylock")
    assert tomllib.loads(text)["packages"] == []
    assert "alpha==1.0" in text  # listed as left out


def test_extras_from_a_hostile_candidate_stay_comments() -> None:
    expected = fingerprint(Package("beta", "2.0"))
    actual = fingerprint(Package("beta", "2.0"), Package("gamma", "1.0\n--index-url http://evil.example"))
    text = render(plan(expected, actual, compare(expected, actual)), "requirements")
    assert_only_pins(text)
    assert requirement_lines(text) == ["beta==2.0"]
    assert "# extra in the candidate: gamma 1.0\\n--index-url" in text
