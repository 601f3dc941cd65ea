"""The self-checks agree with ``pip check`` on a real environment: every problem it reports is a finding, one per
unmet requirement."""

from __future__ import annotations

import re
import subprocess
import sys
import venv
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from envcheck import capture
from envcheck.compare import compare
from envcheck.targets.python import PythonTarget
from tests.conftest import build_wheel

_MISSING = re.compile(r"^(\S+) \S+ requires (\S+), which is not installed\.$")
_CONFLICT = re.compile(r"^(\S+) \S+ has requirement (.+), but you have (\S+) \S+\.$")


def _pip_check(python: Path) -> set[tuple[str, str]]:
    done = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "check"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    problems = set()
    for line in done.stdout.splitlines():
        if m := _MISSING.match(line):
            problems.add((canonicalize_name(m.group(1)), canonicalize_name(m.group(2))))
        elif m := _CONFLICT.match(line):
            problems.add((canonicalize_name(m.group(1)), canonicalize_name(Requirement(m.group(2)).name)))
    assert problems, done.stdout + done.stderr
    return problems


@pytest.mark.slow
def test_self_checks_report_what_pip_check_reports(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    build_wheel(
        wheels,
        "app",
        "1.0",
        requires=["lib-b>=2", "lib-c", "lib-d>=1; python_version >= '3'", "lib-e[fast]>=0.1", "numpy<2"],
    )
    build_wheel(wheels, "lib-b", "1.0")
    build_wheel(wheels, "numpy", "2.1.0")  # a stand-in: only its metadata matters here
    build_wheel(wheels, "tool", "1.0", requires=["lib-b<0.5", "absent-thing; extra == 'dev'", "app>=1"])
    env = tmp_path / "venv"
    venv.EnvBuilder(with_pip=False).create(env)
    python = env / "bin" / "python"
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-index", "--no-deps"]
        + [str(w) for w in sorted(wheels.glob("*.whl"))],
        check=True,
        timeout=300,
    )
    fp = capture.take(PythonTarget(str(python)), hardware=lambda: ())
    findings = [f for f in compare(fp, fp, self_checks=True).findings if f.id.startswith("package.requirement.")]
    ours = {(f.subject, canonicalize_name(Requirement(f.remedy.split("'")[1]).name)) for f in findings}
    assert ours == _pip_check(python)
    assert len(findings) == len(ours) == 6  # one finding per unmet requirement
    (numpy,) = [f for f in findings if "numpy" in f.remedy]
    assert numpy.id == "package.requirement.numpy2"
