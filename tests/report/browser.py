"""A real headless Chromium for the HTML report's tests, and a small PNG reader for its screenshots.

Chromium is Debian's ``chromium`` package, which ``scripts/ensure-chromium`` installs before pytest starts (as
``scripts/test`` runs it); ``require_chromium`` only checks and fails with a message naming the script, never
installs and never skips. The PNG reader is the standard's own filter arithmetic over ``zlib``: enough to count the
colours of a screenshot without an imaging library.
"""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
import zlib
from collections import Counter
from pathlib import Path
from typing import List, Sequence, Tuple

import pytest

#: The names Debian's package and others install the browser under.
NAMES = ("chromium", "chromium-browser")
#: The window of every screenshot (and of the README's picture).
WINDOW = (1200, 1600)


def require_chromium() -> str:
    """Chromium's path; fails, saying what to run, when it is not on PATH. Installs nothing."""
    for name in NAMES:
        found = shutil.which(name)
        if found:
            return found
    pytest.fail(
        "no chromium on PATH: run scripts/test, which provisions it before pytest starts "
        "(or scripts/ensure-chromium alone)",
        pytrace=False,
    )


def run_chromium(page: Path, *args: str, fragment: str = "", profile: Path) -> str:
    """Load ``page`` (``#fragment`` appended) in headless Chromium with ``args`` and return its stdout.

    ``--no-sandbox``: the tests may run as root in a container, where Chromium refuses its sandbox; the page is
    one the test has just written. A profile of its own keeps the user's and other runs' state out.
    """
    chromium = require_chromium()
    command = [
        chromium,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--hide-scrollbars",
        f"--user-data-dir={profile}",
        *args,
        page.resolve().as_uri() + (f"#{fragment}" if fragment else ""),
    ]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=180, check=False)
    except subprocess.TimeoutExpired:
        pytest.fail(f"chromium did not finish within 180 s: {' '.join(command)}", pytrace=False)
    if done.returncode != 0:
        pytest.fail(f"chromium exited {done.returncode}: {done.stderr[-2000:]}", pytrace=False)
    return done.stdout


def dump_dom(page: Path, *, profile: Path, fragment: str = "") -> str:
    """The page's DOM as serialised after it loaded and its scripts ran.

    Chromium serialises the DOM with JavaScript of its own, so ``--blink-settings=scriptEnabled=false`` leaves
    ``--dump-dom`` (and ``--screenshot``) empty: to see a page without its script, load a copy whose content
    security policy admits no script (``without_script``), which blocks the page's script and not the dump.
    """
    return run_chromium(page, "--dump-dom", fragment=fragment, profile=profile)


def without_script(page: Path, copy: Path) -> Path:
    """A copy of an envcheck HTML report whose policy admits no script (``script-src 'none'``): the page as a
    browser with JavaScript off shows it. Nothing else in the copy changes."""
    text = page.read_text(encoding="utf-8")
    changed = re.sub(r"script-src &#x27;sha256-[A-Za-z0-9+/=]+&#x27;", "script-src &#x27;none&#x27;", text)
    assert changed != text, "no script-src digest in the page's policy"
    copy.write_text(changed, encoding="utf-8")
    return copy


def screenshot(page: Path, png: Path, *, profile: Path, window: Tuple[int, int] = WINDOW) -> Path:
    """A PNG of the page's top ``window`` pixels at ``png``."""
    run_chromium(page, f"--screenshot={png}", f"--window-size={window[0]},{window[1]}", profile=profile)
    return png


def _chunks(data: bytes) -> List[Tuple[bytes, bytes]]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    out, pos = [], 8
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        out.append((data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]))
        pos += 12 + length
    return out


def _paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c


def read_png(path: Path) -> Tuple[int, int, List[bytes]]:
    """``(width, height, rows)`` of an 8-bit RGB or RGBA PNG, each row its pixels' bytes, alpha dropped."""
    chunks = _chunks(path.read_bytes())
    header = next(body for kind, body in chunks if kind == b"IHDR")
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", header)
    assert depth == 8 and colour in (2, 6) and interlace == 0, (depth, colour, interlace)
    bpp = 3 if colour == 2 else 4
    raw = zlib.decompress(b"".join(body for kind, body in chunks if kind == b"IDAT"))
    stride = width * bpp
    prev = bytearray(stride)
    rows: List[bytes] = []
    for y in range(height):
        start = y * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1 : start + 1 + stride])
        if kind == 1:
            for i in range(bpp, stride):
                line[i] = (line[i] + line[i - bpp]) & 0xFF
        elif kind == 2:
            line = bytearray((x + p) & 0xFF for x, p in zip(line, prev))
        elif kind == 3:
            for i in range(stride):
                left = line[i - bpp] if i >= bpp else 0
                line[i] = (line[i] + ((left + prev[i]) >> 1)) & 0xFF
        elif kind == 4:
            for i in range(stride):
                left = line[i - bpp] if i >= bpp else 0
                corner = prev[i - bpp] if i >= bpp else 0
                line[i] = (line[i] + _paeth(left, prev[i], corner)) & 0xFF
        else:
            assert kind == 0, f"PNG filter {kind}"
        prev = line
        rows.append(bytes(line) if bpp == 3 else bytes(b for i, b in enumerate(line) if i % 4 != 3))
    return width, height, rows


def colours(rows: Sequence[bytes]) -> Counter[str]:
    """How many pixels have each colour, as ``#rrggbb``."""
    out: Counter[str] = Counter()
    for row in rows:
        for i in range(0, len(row), 3):
            out[row[i : i + 3].hex()] += 1
    return Counter({f"#{k}": v for k, v in out.items()})
