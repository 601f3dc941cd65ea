"""A partial spec as a fingerprint for one candidate: markers evaluated against it, unstated sections skipped."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from envcheck.compare import compare
from envcheck.expected.interface import Edge, ExpectedPackage, PartialSpec
from envcheck.expected.partial import fingerprint_for, holds
from envcheck.model import (
    NOT_INSPECTED,
    OK,
    SECTIONS,
    DirectUrl,
    Fingerprint,
    OsInfo,
    Package,
    PythonInfo,
    Source,
)

ENV = {
    "python_version": "3.11",
    "python_full_version": "3.11.7",
    "sys_platform": "linux",
    "platform_machine": "x86_64",
    "implementation_name": "cpython",
    "platform_python_implementation": "CPython",
    "os_name": "posix",
}


def candidate(*packages: Package, markers: bool = True) -> Fingerprint:
    return Fingerprint(
        sources={s: Source(OK) for s in SECTIONS},
        python=PythonInfo(implementation="CPython", version="3.11.7", markers=ENV if markers else {}),
        os=OsInfo(system="Linux", machine="x86_64"),
        packages=packages,
    )


def test_markers_hold_or_not() -> None:
    assert holds("", ENV)
    assert holds("sys_platform == 'linux' and python_version >= '3.10'", ENV)
    assert not holds("sys_platform == 'win32'", ENV)
    assert not holds("platform_machine == 'aarch64'", ENV)
    assert not holds("extra == 'gpu'", ENV)
    assert holds("not a marker ((", ENV)  # cannot be evaluated: compared rather than hidden


def test_pins_that_do_not_apply_are_left_out_not_missing() -> None:
    spec = PartialSpec(
        format="requirements.txt",
        packages=(
            ExpectedPackage("numpy", "1.26.4", "python_version < '3.11'"),
            ExpectedPackage("numpy", "2.1.0", "python_version >= '3.11'"),
            ExpectedPackage("pywin32", "306", "sys_platform == 'win32'"),
            ExpectedPackage("tensorflow-macos", "2.16", "platform_machine == 'arm64'"),
            ExpectedPackage("six", "1.0", constraint=True),
            ExpectedPackage("idna", "3.7", constraint=True),
        ),
    )
    for markers in (True, False):  # recorded marker environment, or derived from what the probe recorded
        actual = candidate(Package("numpy", "2.1.0"), Package("idna", "3.6"), markers=markers)
        fp = fingerprint_for(spec, actual)
        assert [(p.name, p.version) for p in fp.packages] == [("idna", "3.7"), ("numpy", "2.1.0")]
        report = compare(fp, actual)
        # the constraint applies to the installed idna; nothing is missing (pywin32, tensorflow-macos, six)
        assert [(f.id, f.subject) for f in report.findings] == [("package.version.minor", "idna")]


def test_unstated_sections_are_skipped_with_the_reason() -> None:
    spec = PartialSpec(
        format="pylock.toml", packages=(ExpectedPackage("six", "1.0"),), python_note="requires-python >=3.9"
    )
    actual = candidate(Package("six", "1.0"))
    fp = fingerprint_for(spec, actual)
    assert fp.source("packages").status == OK
    report = compare(fp, actual)
    assert report.findings == ()
    assert set(report.skipped) == {"python", "os", "native", "cpu", "memory", "gpu", "env"}
    assert all("not stated in pylock.toml" in why for why in report.skipped.values())
    assert "requires-python >=3.9" in report.skipped["python"]
    assert fp.source("cpu").status == NOT_INSPECTED


def test_a_stated_python_version_is_compared() -> None:
    spec = PartialSpec(format="MLflow model's requirements.txt", python_version="3.10.4")
    report = compare(fingerprint_for(spec, candidate()), candidate())
    assert [f.id for f in report.findings] == ["python.version.minor"]
    assert "python" not in report.skipped


def test_aliases_apply_where_the_stated_name_is_absent() -> None:
    spec = PartialSpec(
        format="MLflow model",
        packages=(ExpectedPackage("mlflow", "3.1.0"),),
        aliases=(("mlflow", "mlflow-skinny"),),
    )
    fp = fingerprint_for(spec, candidate(Package("mlflow-skinny", "3.1.0")))
    assert [p.name for p in fp.packages] == ["mlflow-skinny"]
    fp = fingerprint_for(spec, candidate(Package("mlflow", "3.1.0"), Package("mlflow-skinny", "3.1.0")))
    assert [p.name for p in fp.packages] == ["mlflow"]


def test_uv_graph_reachability() -> None:
    pkgs = (
        ExpectedPackage("numpy", "2.2.6", key="n1"),
        ExpectedPackage("numpy", "2.3.0", key="n2"),
        ExpectedPackage("colorama", "0.4.6", key="c"),
        ExpectedPackage("orphan", "1.0", key="o"),
    )
    edges = (
        Edge("app", "n1", "python_full_version < '3.11'"),
        Edge("app", "n2", "python_full_version >= '3.11'"),
        Edge("app", "c", "sys_platform == 'win32'"),
    )
    spec = PartialSpec(format="uv.lock", packages=pkgs, roots=("app",), edges=edges)
    fp = fingerprint_for(spec, candidate())
    assert [(p.name, p.version) for p in fp.packages] == [("numpy", "2.3.0")]


def test_where_a_package_came_from_is_not_stated_so_not_a_change() -> None:
    wheel = DirectUrl(url="file:///wheels/six-1.0-py3-none-any.whl", kind="archive", archive_hash="sha256=ab")
    checkout = DirectUrl(url="https://example.org/idna", kind="vcs", vcs="git", commit_id="abc")
    actual = candidate(Package("six", "1.0", direct_url=wheel), Package("idna", "3.6", direct_url=checkout))
    spec = PartialSpec(
        format="requirements.txt", packages=(ExpectedPackage("six", "1.0"), ExpectedPackage("idna", "3.7"))
    )
    report = compare(fingerprint_for(spec, actual), actual)
    assert [(f.id, f.subject) for f in report.findings] == [("package.version.minor", "idna")]


def test_numerics_against_a_requirements_file_says_what_to_check_against(tmp_path: Path) -> None:
    """A requirements file records no numerics battery, and no snapshot option can give it one: the error says
    to check against an envcheck lockfile instead (one line, exit 2)."""
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("click==8.1.7\n")
    done = subprocess.run(
        [sys.executable, "-m", "envcheck", "check", str(requirements), "--numerics"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert (
        "a requirements file records none: check against an envcheck lockfile taken with --numerics" in done.stderr
    )
