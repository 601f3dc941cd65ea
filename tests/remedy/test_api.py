"""``envcheck.remedy`` from Python: against this interpreter, and what it refuses before reading any target."""

from __future__ import annotations

from pathlib import Path

import pytest

import envcheck
from envcheck.model import OK, Fingerprint, Package, Source


def test_remedy_pins_what_this_interpreter_lacks() -> None:
    lock = Fingerprint(
        sources={"packages": Source(OK)},
        packages=(Package("envcheck-test-absent", "1.0"), Package("pytest", "0.1")),
    )
    text = envcheck.remedy(lock)
    assert [line for line in text.splitlines() if not line.startswith("#")] == [
        "envcheck-test-absent==1.0",
        "pytest==0.1",
    ]
    assert "#   envcheck-test-absent 1.0: missing in the candidate" in text
    assert "#   pytest: " in text and ", 0.1 recorded" in text


def test_remedy_needs_an_envcheck_lockfile(tmp_path: Path) -> None:
    req = tmp_path / "requirements.txt"
    req.write_text("alpha==1.0\n")
    with pytest.raises(envcheck.RemedyError, match="needs an envcheck lockfile, not a requirements file"):
        envcheck.remedy(req)


def test_an_unknown_format_is_refused_before_the_target_is_read() -> None:
    class Unreadable:
        name = "never"

        def probe(self, extra_env: object) -> object:  # pragma: no cover - must not be called
            raise AssertionError("the target was read")

    with pytest.raises(envcheck.RemedyError, match="unknown remedy format 'conda'"):
        envcheck.remedy(Fingerprint(), Unreadable(), "conda")  # type: ignore[arg-type]
