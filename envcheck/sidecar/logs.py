"""The sidecar's log records: one JSON object per line, errors with their full traceback inside a field, and a
throttle so that a condition that repeats (a connection flood, the same bug hit by every request) writes one line
a minute, not one per occurrence.

Nothing here writes: the caller (``serve``) owns the stream and passes a ``log`` callable that takes one line.
"""

from __future__ import annotations

import json
import time
import traceback
from typing import Any, Callable, Dict, Hashable, List, Optional

from envcheck.sidecar.checker import timestamp

#: One log line, already JSON text: what ``serve`` hands to the caller's stream.
Log = Callable[[str], None]

#: A repeated condition is logged at most once per this many seconds (per key).
THROTTLE_S = 60.0


def dumps(record: Dict[str, Any]) -> str:
    """One record as one line of compact JSON (newlines inside values are escaped, so it stays one line)."""
    return json.dumps(record, separators=(",", ":"))


def record(event: str, now: float, **fields: Any) -> Dict[str, Any]:
    """A log record: ``ts`` (from the Unix time ``now``), ``event``, then ``fields``."""
    return {"ts": timestamp(now), "event": event, **fields}


def error_fields(error: BaseException) -> Dict[str, str]:
    """``error`` (type and message, one line) and ``traceback`` (the whole of it, as text) of an exception."""
    message = str(error).replace("\n", " ").strip()
    name = type(error).__qualname__
    return {
        "error": f"{name}: {message}" if message else name,
        "traceback": "".join(traceback.format_exception(type(error), error, error.__traceback__)),
    }


def error_key(error: BaseException) -> Hashable:
    """What makes two errors "the same" for throttling: the exception's type and where it was raised."""
    tb = error.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    where = None if tb is None else (tb.tb_frame.f_code.co_filename, tb.tb_lineno)
    return type(error).__qualname__, where


class Throttle:
    """Lets one occurrence per key through every ``period`` seconds, and counts the ones it held back.

    ``admit(key)`` returns None for an occurrence to drop, else how many of that key were dropped since the last
    one let through (0 the first time). At most ``max_keys`` keys are remembered: past that the oldest is
    forgotten, so a stream of distinct keys costs bounded memory (and is let through, one line per key).
    """

    def __init__(
        self, period: float = THROTTLE_S, *, clock: Callable[[], float] = time.monotonic, max_keys: int = 64
    ) -> None:
        self.period = period
        self.max_keys = max_keys
        self._clock = clock
        self._seen: Dict[Hashable, List[float]] = {}  # key -> [last admitted at, dropped since]

    def admit(self, key: Hashable = None) -> Optional[int]:
        now = self._clock()
        seen = self._seen.get(key)
        if seen is not None and now - seen[0] < self.period:
            seen[1] += 1
            return None
        dropped = 0 if seen is None else int(seen[1])
        self._seen.pop(key, None)
        while len(self._seen) >= self.max_keys:
            self._seen.pop(next(iter(self._seen)))
        self._seen[key] = [now, 0]
        return dropped
