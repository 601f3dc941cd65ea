"""``envcheck show``: a distribution installed twice names the folder of the copy that wins and of each copy it
hides, escaped like everything else show prints."""

from __future__ import annotations

import dataclasses

from envcheck import lockfile
from envcheck.model import Package
from envcheck.show import render_text
from tests.conftest import H200

BASE = lockfile.read(H200 / "envcheck.lock")


def package_line(pkg: Package) -> str:
    fp = dataclasses.replace(BASE, packages=(pkg,))
    (line,) = [line for line in render_text(fp).splitlines() if line.startswith(f"  {pkg.name}==")]
    return line


def test_show_names_the_folder_of_the_winner_and_of_each_shadowed_copy() -> None:
    pkg = Package(
        "joblib",
        "1.5.2",
        shadowed=("1.4.0", "1.3.2"),
        locations=("/work/src", "/venv/lib/python3.12/site-packages", "/usr/lib/python3/dist-packages"),
    )
    assert package_line(pkg) == (
        "  joblib==1.5.2  (in /work/src, shadows 1.4.0 in /venv/lib/python3.12/site-packages, "
        "1.3.2 in /usr/lib/python3/dist-packages)"
    )


def test_show_without_recorded_folders_names_the_versions() -> None:
    # an older lockfile, or folders that do not pair up with the versions: versions only, never a wrong pairing
    for locations in ((), ("/work/src",)):
        pkg = Package("joblib", "1.5.2", shadowed=("1.4.0",), locations=locations)
        assert package_line(pkg) == "  joblib==1.5.2  (shadows 1.4.0)"


def test_a_single_copy_has_no_note() -> None:
    assert package_line(Package("joblib", "1.5.2")) == "  joblib==1.5.2"


def test_shadowed_folders_are_escaped() -> None:
    hostile = "/tmp/x\n::error::forged\x1b[2J"
    pkg = Package("joblib", "1.5.2", shadowed=("1.4.0",), locations=("/work/src", hostile))
    text = render_text(dataclasses.replace(BASE, packages=(pkg,)))
    assert not any(line.lstrip().startswith("::error") for line in text.splitlines())
    line = package_line(pkg)
    assert line.isprintable()
    assert "1.4.0 in /tmp/x\\n::error::forged\\x1b[2J)" in line


def test_the_summary_names_the_numerics_battery_and_the_golden_cases() -> None:
    from envcheck.model import GoldenFile, GoldenInfo, NumericsInfo, NumericsKernel
    from envcheck.show import summary

    fp = BASE
    assert not [line for line in summary(fp) if line.startswith(("numerics", "golden"))]  # none recorded
    kernel = NumericsKernel(name="numpy.matmul f64 7x7", dtype="float64", shape=(7, 7), digest="0" * 16)
    golden = GoldenInfo(cases=(GoldenFile("rows", "envcheck.golden/rows.json", "a" * 64, 10),))
    lines = summary(dataclasses.replace(fp, numerics=NumericsInfo(kernels=(kernel,)), golden=golden))
    assert "numerics 1 kernel recorded (check --numerics reruns them)" in lines
    assert "golden   1 case in envcheck.golden/ (envcheck canary replays them)" in lines
