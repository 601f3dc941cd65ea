"""The sidecar's log records: one line of JSON each, errors with their traceback, the once-a-minute throttle."""

from __future__ import annotations

import json

from envcheck.sidecar.logs import Throttle, dumps, error_fields, error_key, record
from tests.sidecar.test_checker import Clock


def test_a_record_is_one_line_of_json() -> None:
    line = dumps(record("check_error", 1_800_000_000.25, reason="a\nb", **{"quote": '"'}))
    assert "\n" not in line
    assert json.loads(line) == {
        "ts": "2027-01-15T08:00:00.250Z",
        "event": "check_error",
        "reason": "a\nb",
        "quote": '"',
    }


def _raise(message: str) -> BaseException:
    try:
        raise ValueError(message)
    except ValueError as e:
        return e


def test_error_fields_hold_the_whole_traceback() -> None:
    fields = error_fields(_raise("bad\nvalue"))
    assert fields["error"] == "ValueError: bad value"  # one line
    assert fields["traceback"].startswith("Traceback (most recent call last):")
    assert "in _raise" in fields["traceback"] and fields["traceback"].endswith("ValueError: bad\nvalue\n")
    assert error_fields(KeyError())["error"] == "KeyError"
    assert error_key(_raise("one")) == error_key(_raise("two"))  # same type, same line
    assert error_key(_raise("one")) != error_key(KeyError())


def test_throttle_lets_one_a_period_through_and_counts_the_rest() -> None:
    clock = Clock(0.0)
    throttle = Throttle(60.0, clock=clock)
    assert throttle.admit("a") == 0
    assert [throttle.admit("a") for _ in range(5)] == [None] * 5
    assert throttle.admit("b") == 0  # another key, its own line
    clock.now = 59.9
    assert throttle.admit("a") is None
    clock.now = 60.0
    assert throttle.admit("a") == 6  # held back since the last line
    assert throttle.admit("a") is None


def test_throttle_remembers_a_bounded_number_of_keys() -> None:
    clock = Clock(0.0)
    throttle = Throttle(60.0, clock=clock, max_keys=4)
    for key in range(100):
        assert throttle.admit(key) == 0
    assert len(throttle._seen) == 4
    assert throttle.admit(99) is None and throttle.admit(0) == 0  # 99 remembered, 0 long forgotten
