"""A representative drifted report, built from the real H200 serving lockfile: what the HTML picture and the
terminal matrix tests render.

The candidate is the lockfile with a handful of real kinds of drift (the judgement corpus's own mutations): Python
3.12 -> 3.13 with every cp312 wheel rebuilt (a root cause with dozens of findings filed under it), the GPU hidden
by an empty CUDA_VISIBLE_DEVICES (critical), pandas moved back to a release built for numpy 1, a dependency gone,
another time zone, fewer threads, another GPU model.
"""

from __future__ import annotations

from pathlib import Path

from envcheck import lockfile
from envcheck.compare import compare
from envcheck.findings import Report
from envcheck.model import Fingerprint
from tests.judgement.corpus import B200, both, env, package, retag, section, without

H200_LOCK = Path(__file__).resolve().parents[2] / "fixtures" / "h200-serving" / "envcheck.lock"

_DRIFT = both(
    section("python", version="3.13.1", interpreter_tag="cp313", abi_tag="cp313"),
    retag("cp312", "cp313"),
    env(CUDA_VISIBLE_DEVICES="", OMP_NUM_THREADS="4", TZ="Europe/Berlin"),
    package("pandas", version="2.1.4"),
    without("python-dateutil"),
    B200,
)


def drifted(expected: Fingerprint) -> Fingerprint:
    """The candidate: ``expected`` with the drift above."""
    return _DRIFT(expected)


def drifted_report() -> Report:
    """The H200 lockfile compared with its drifted candidate, named as a user would see them."""
    expected = lockfile.read(H200_LOCK)
    return compare(
        expected,
        drifted(expected),
        expected_name="fixtures/h200-serving/envcheck.lock",
        actual_name="python:/opt/candidate/bin/python",
    )
