"""Package judgement on realistic drift: numpy 1 -> 2 and its compiled dependents, extras that change results,
editable installs, the same bytes from another source, and messages that say what is true.

The base is the real H200 lockfile; the distributions come from the probe reading real dist-info folders (the
H200 reference, wheels built and installed with the real pip) wherever the class needs files on disk.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import pytest

from envcheck import lockfile, probe
from envcheck.compare import compare
from envcheck.findings import AVAILABILITY, PREDICTION, Finding, Severity
from envcheck.model import DirectUrl, Fingerprint, Package, from_data
from envcheck.policy import Policy
from envcheck.rules.packages import is_compiled
from envcheck.rules.rulebook import BY_ID
from envcheck.rules.tables import NUMPY2_READY, RESULT_CHANGING_EXTRAS
from envcheck.tree import Tree
from tests.conftest import H200, build_wheel, make_dist_info

BASE = lockfile.read(H200 / "envcheck.lock")
COMPILED = ("cp312-cp312-manylinux_2_17_x86_64", "cp312-cp312-manylinux2014_x86_64")


def with_packages(fp: Fingerprint, *changed: Package, drop: Tuple[str, ...] = ()) -> Fingerprint:
    """``fp`` with some packages replaced or added and some removed."""
    by_name = {p.name: p for p in fp.packages if p.name not in drop}
    by_name.update({p.name: p for p in changed})
    return dataclasses.replace(fp, packages=tuple(by_name[n] for n in sorted(by_name)))


def pkg(fp: Fingerprint, name: str, **changes: Any) -> Package:
    found = fp.package(name)
    assert found is not None, name
    return dataclasses.replace(found, **changes)


def findings(then: Fingerprint, now: Fingerprint, self_checks: bool = False, **policy: Any) -> List[Finding]:
    return list(compare(then, now, Policy(**policy), self_checks=self_checks).findings)


def ids(found: List[Finding]) -> set:
    return {(f.id, f.subject) for f in found}


# --- numpy 1 -> 2 and compiled dependents (blind spot 3) --------------------------------------------------------

NUMPY1 = with_packages(BASE, pkg(BASE, "numpy", version="1.26.4"))


def test_numpy2_table_rows_are_versions_with_a_source() -> None:
    names = [name for name, _, _ in NUMPY2_READY]
    assert len(names) == len(set(names))
    for name, ready, source in NUMPY2_READY:
        assert probe.canonicalize_name(name) == name
        assert packaging_version(ready) and source.startswith("https://"), name
    # lightgbm and xgboost call numpy through ctypes: not in a table of ABI dependents
    assert not {"xgboost", "lightgbm"} & set(names)


def packaging_version(text: str) -> bool:
    from packaging.version import Version

    return Version(text) is not None


@pytest.mark.parametrize(
    ("name", "old", "fires"),
    [
        ("pandas", "2.1.4", True),  # pandas 2.2.2 was the first built for numpy 2
        ("pandas", "2.2.2", False),
        ("scipy", "1.11.4", True),
        ("scikit-learn", "1.3.2", True),
        ("matplotlib", "3.8.3", True),
        ("h5py", "3.10.0", True),
        ("numba", "0.59.1", True),
        ("pyarrow", "15.0.2", True),
        ("torch", "2.2.2", True),
        ("torch", "2.3.0+cu121", False),  # the local label does not make it older
        ("statsmodels", "0.14.1", True),
        ("scikit-image", "0.22.0", True),
    ],
    ids=lambda v: str(v),
)
def test_numpy_1_to_2_names_each_compiled_dependent_too_old(name: str, old: str, fires: bool) -> None:
    then = with_packages(NUMPY1, pkg(BASE, name, version=old, wheel_tags=COMPILED))
    now = with_packages(BASE, pkg(BASE, name, version=old, wheel_tags=COMPILED))
    found = findings(then, now)
    by_id = {f.id: f for f in found}
    numpy = by_id["package.version.numpy2"]
    assert numpy.subject == "numpy" and numpy.severity >= Severity.HIGH and AVAILABILITY in numpy.risks
    assert "numpy.dtype size changed" in numpy.message
    dependents = [f for f in found if f.id == "package.numpy2.dependent"]
    assert [f.subject for f in dependents] == ([name] if fires else [])
    if fires:
        finding = dependents[0]
        ready = dict((n, r) for n, r, _ in NUMPY2_READY)[name]
        assert finding.risks == (AVAILABILITY,) and finding.severity >= Severity.HIGH
        assert "numpy.dtype size changed" in finding.message and ready in finding.message
        assert f"pip install '{name}>={ready}'" in finding.remedy


def test_a_pure_python_dependent_is_not_an_abi_dependent() -> None:
    """Only compiled wheels carry numpy 1's ABI: a py3-none-any build of a listed name is not reported."""
    pure = pkg(BASE, "pandas", version="2.1.4", wheel_tags=("py3-none-any",))
    assert not is_compiled(pure)
    found = findings(with_packages(NUMPY1, pure), with_packages(BASE, pure))
    assert not [f for f in found if f.id == "package.numpy2.dependent"]


def test_a_dependent_whose_metadata_forbids_numpy_2_is_reported_once_by_its_requirement() -> None:
    old = pkg(BASE, "pandas", version="2.1.4", wheel_tags=COMPILED, requires=("numpy<2,>=1.26.0",))
    found = findings(with_packages(NUMPY1, old), with_packages(BASE, old), self_checks=True)
    about_pandas = {f.id for f in found if f.subject == "pandas"}
    assert about_pandas == {"package.requirement.numpy2"}


def test_self_check_on_numpy_2_names_an_old_compiled_dependent_without_any_difference() -> None:
    """A candidate that has numpy 2 and a pandas built for numpy 1 is broken on its own: check says so even
    against a lockfile that recorded the same broken set."""
    broken = with_packages(BASE, pkg(BASE, "pandas", version="2.1.4", wheel_tags=COMPILED))
    found = findings(broken, broken, self_checks=True)
    assert {i for i in ids(found) if "numpy2" in i[0]} == {("package.numpy2.dependent", "pandas")}
    assert findings(broken, broken) == []  # a plain comparison of identical sets stays quiet


def test_a_dependent_moved_below_its_numpy_2_release_is_reported_without_self_checks() -> None:
    """``envcheck diff`` of two lockfiles (no self-checks): pandas downgraded to a numpy 1 build under numpy 2."""
    now = with_packages(BASE, pkg(BASE, "pandas", version="2.1.4", wheel_tags=COMPILED))
    assert ("package.numpy2.dependent", "pandas") in ids(findings(BASE, now))


def test_numpy_2_to_1_is_an_ordinary_major_downgrade() -> None:
    found = findings(BASE, NUMPY1)
    assert ids(found) == {("package.version.major", "numpy")}


def test_numpy_1_minor_move_is_not_the_boundary() -> None:
    then = with_packages(BASE, pkg(BASE, "numpy", version="1.25.2"), pkg(BASE, "pandas", version="2.1.4"))
    now = with_packages(then, pkg(BASE, "numpy", version="1.26.4"))
    assert ids(findings(then, now)) == {("package.version.minor.numeric", "numpy")}


def test_the_real_h200_pandas_metadata_is_read_for_the_numpy_boundary(h200_site: Path) -> None:
    """The probe's requirements of the real pandas dist-info allow numpy 2: the table, not metadata, decides."""
    packages, _, _ = probe.collect_packages([str(h200_site)])
    pandas = from_data(Package, next(p for p in packages if p["name"] == "pandas"))
    assert any(r.startswith("numpy") for r in pandas.requires) and is_compiled(pandas)
    old = dataclasses.replace(pandas, version="2.2.1")
    found = findings(with_packages(NUMPY1, old), with_packages(BASE, old))
    assert ("package.numpy2.dependent", "pandas") in ids(found)


# --- extras that change results (blind spot 5) ------------------------------------------------------------------


@pytest.mark.parametrize(("extra", "hosts", "_why", "source"), RESULT_CHANGING_EXTRAS, ids=lambda v: str(v)[:20])
def test_result_changing_extra_table_rows(extra: str, hosts: Tuple[str, ...], _why: str, source: str) -> None:
    assert probe.canonicalize_name(extra) == extra and hosts and source.startswith("https://")


#: The candidate's numpy and scipy built against a system BLAS: they ship none of their own.
NO_BUNDLED_BLAS = dataclasses.replace(
    BASE,
    native=dataclasses.replace(
        BASE.native, shipped=tuple(lib for lib in BASE.native.shipped if lib.kind != "blas")
    ),
)


@pytest.mark.parametrize(
    ("extra", "host", "base"),
    [
        ("bottleneck", "pandas", BASE),
        ("numexpr", "pandas", BASE),
        ("pyarrow", "pandas", with_packages(BASE, drop=("pyarrow",))),  # pandas 3: pyarrow-backed strings
        ("scipy-openblas64", "numpy", NO_BUNDLED_BLAS),
        ("mkl", "numpy", NO_BUNDLED_BLAS),
        ("intel-extension-for-pytorch", "torch", BASE),
        ("scikit-learn-intelex", "scikit-learn", BASE),
    ],
    ids=["bottleneck", "numexpr", "pyarrow", "scipy-openblas64", "mkl", "ipex", "sklearnex"],
)
def test_an_extra_another_package_computes_with_is_a_prediction_finding(
    extra: str, host: str, base: Fingerprint
) -> None:
    now = with_packages(base, Package(extra, "99.0", wheel_tags=COMPILED))  # new enough for numpy 2
    found = findings(base, now)
    assert ids(found) == {("package.extra.changes_results", extra)}
    finding = found[0]
    assert finding.risks == (PREDICTION,) and finding.severity >= Severity.MEDIUM
    assert host in finding.message and "https://" in finding.message
    assert f"pip uninstall {extra}" in finding.remedy


def test_a_blas_provider_beside_a_host_that_bundles_its_own_blas_is_quiet() -> None:
    """numpy's and scipy's PyPI wheels carry OpenBLAS in numpy.libs: a pip-installed MKL is never loaded."""
    assert any(lib.kind == "blas" and lib.package == "numpy" for lib in BASE.native.shipped)
    assert findings(BASE, with_packages(BASE, Package("mkl", "2025.0.0"))) == []


def test_pyarrow_beside_pandas_2_is_quiet() -> None:
    """Only pandas 3 switches its strings to pyarrow when pyarrow is installed."""
    then = with_packages(BASE, pkg(BASE, "pandas", version="2.2.3"), drop=("pyarrow",))
    assert findings(then, with_packages(then, pkg(BASE, "pyarrow"))) == []


def test_a_result_changing_extra_without_its_host_is_quiet() -> None:
    no_pandas = with_packages(BASE, drop=("pandas",))
    assert findings(no_pandas, with_packages(no_pandas, Package("bottleneck", "1.4.2"))) == []


def test_other_extras_stay_quiet_unless_asked() -> None:
    now = with_packages(BASE, Package("left-pad", "1.0"))
    assert findings(BASE, now) == []
    assert ids(findings(BASE, now, show_extra=True)) == {("package.extra", "left-pad")}


def test_an_extra_already_in_the_lockfile_is_not_an_extra() -> None:
    then = with_packages(BASE, Package("bottleneck", "1.4.2"))
    assert findings(then, then) == []


# --- editable installs (blind spot 6) ---------------------------------------------------------------------------


def _project(root: Path) -> Path:
    project = root / "src" / "mymodel"
    (project / "mymodel").mkdir(parents=True)
    (project / "mymodel" / "__init__.py").write_text("THRESHOLD = 0.5\n")
    (project / "mymodel" / "features.py").write_text("def scale(x):\n    return x / 255\n")
    (project / "pyproject.toml").write_text("[project]\nname = 'mymodel'\nversion = '0.1.0'\n")
    return project


def _editable_site(root: Path, project: Path) -> Path:
    site = root / "site"
    url = json.dumps({"url": f"file://{project}", "dir_info": {"editable": True}})
    make_dist_info(
        site,
        "mymodel",
        "0.1.0",
        extra={"direct_url.json": url, "RECORD": "__editable__.mymodel-0.1.0.pth,,\n", "INSTALLER": "pip"},
    )
    return site


def _read(site: Path, tree: Optional[Tree] = None) -> Package:
    packages, _, _ = probe.collect_packages([str(site)], tree)
    return from_data(Package, packages[0])


def test_editable_digest_follows_the_code_not_the_caches(tmp_path: Path) -> None:
    project = _project(tmp_path)
    site = _editable_site(tmp_path, project)
    first = _read(site)
    assert first.editable_digest.startswith("sha256:")
    (project / "mymodel" / "__pycache__").mkdir()
    (project / "mymodel" / "__pycache__" / "features.cpython-312.pyc").write_bytes(b"\0" * 64)
    (project / ".git").mkdir()
    (project / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (project / ".venv").mkdir()
    (project / "venv").mkdir()
    (project / "venv" / "pyvenv.cfg").write_text("home = /usr/bin\n")
    (project / "venv" / "x.py").write_text("print(1)\n")
    assert _read(site).editable_digest == first.editable_digest
    (project / "mymodel" / "features.py").write_text("def scale(x):\n    return x / 256\n")
    changed = _read(site)
    assert changed.editable_digest != first.editable_digest

    then, now = with_packages(BASE, first), with_packages(BASE, changed)
    found = findings(then, now)
    assert ids(found) == {("package.editable.changed", "mymodel")}
    assert set(found[0].risks) == {AVAILABILITY, PREDICTION} and found[0].severity >= Severity.MEDIUM
    assert str(project) in found[0].message
    assert findings(then, then) == []


def test_editable_digest_is_the_same_through_a_tree_root(tmp_path: Path) -> None:
    """A static read (--root, an image) reads the project inside the tree: same files, same digest."""
    root = tmp_path / "root"
    project = _project(root)
    in_tree = Path("/") / project.relative_to(root)
    site = _editable_site(root, in_tree)
    with Tree(str(root)) as tree:
        static = _read(Path("/") / site.relative_to(root), tree)
    local_site = _editable_site(tmp_path / "local", project)
    assert static.editable_digest == _read(local_site).editable_digest


def test_editable_digest_bound_is_said_in_sources(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    project = _project(tmp_path)
    site = _editable_site(tmp_path, project)
    monkeypatch.setattr(probe, "EDITABLE_MAX_FILES", 2)
    packages, source, _ = probe.collect_packages([str(site)])
    assert packages[0]["editable_digest"].startswith("sha256:")
    assert "editable digest bounded" in source["detail"] and "mymodel (2 files)" in source["detail"]
    # files past the bound do not move the digest: it is always the first files of the same sorted walk
    (project / "mymodel" / "zz_notes.py").write_text("x = 1\n")
    assert probe.collect_packages([str(site)])[0][0]["editable_digest"] == packages[0]["editable_digest"]


def test_editable_digest_counts_a_large_data_file_by_its_size(tmp_path: Path) -> None:
    """Weights or a dataset inside the project are not read whole: their size still changes the digest."""
    project = _project(tmp_path)
    site = _editable_site(tmp_path, project)
    with open(project / "weights.bin", "wb") as f:
        f.truncate(17 << 20)  # over the 16 MiB text cap: sparse, nothing written
    first = _read(site).editable_digest
    with open(project / "weights.bin", "r+b") as f:
        f.truncate(18 << 20)
    assert _read(site).editable_digest != first


def test_an_editable_moved_to_another_folder_with_the_same_files_is_quiet(tmp_path: Path) -> None:
    first = _read(_editable_site(tmp_path / "a", _project(tmp_path / "a")))
    second = _read(_editable_site(tmp_path / "b", _project(tmp_path / "b")))
    assert first.direct_url != second.direct_url and first.editable_digest == second.editable_digest
    assert findings(with_packages(BASE, first), with_packages(BASE, second)) == []


def test_an_editable_without_a_digest_in_an_older_lockfile_falls_back_to_its_source() -> None:
    old = Package("mymodel", "0.1.0", direct_url=DirectUrl(url="file:///src/a", kind="editable"))
    new = dataclasses.replace(old, direct_url=DirectUrl(url="file:///src/b", kind="editable"))
    assert ids(findings(with_packages(BASE, old), with_packages(BASE, new))) == {("package.source", "mymodel")}


# --- same bytes, no finding (noise 3) ---------------------------------------------------------------------------


def _pip_target(target: Path, *args: str) -> None:
    cmd = [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-index", "--target", str(target)]
    done = subprocess.run([*cmd, *args], capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr


@pytest.mark.slow
def test_the_same_wheel_from_an_index_and_from_a_file_is_quiet(tmp_path: Path) -> None:
    """pip records a direct_url.json for a wheel installed from a file and none for one found on an index: the
    RECORD digests are the same, so nothing changed for the model."""
    wheels = tmp_path / "wheels"
    wheel = build_wheel(wheels, "tinyfeat", "1.0", tag="py3-none-any")
    _pip_target(tmp_path / "index", "--find-links", str(wheels), "tinyfeat")
    _pip_target(tmp_path / "file", str(wheel))
    from_index, from_file = _read(tmp_path / "index"), _read(tmp_path / "file")
    assert from_index.direct_url is None and from_file.direct_url is not None
    assert from_index.record_digest == from_file.record_digest
    assert findings(with_packages(BASE, from_index), with_packages(BASE, from_file)) == []

    other = build_wheel(tmp_path / "other", "tinyfeat", "1.0", files={"tinyfeat/__init__.py": b"X = 2\n"})
    _pip_target(tmp_path / "patched", str(other))
    patched = _read(tmp_path / "patched")
    found = findings(with_packages(BASE, from_index), with_packages(BASE, patched))
    assert ids(found) == {("package.build.files", "tinyfeat")}  # once, as a change of files
    assert "files differ" in found[0].message and "compiler" not in found[0].message
    assert "from an index" in found[0].message and str(other.name) in found[0].message


@pytest.mark.parametrize(
    "direct_url",
    [
        DirectUrl(url="file:///wheelhouse/six-1.17.0-py2.py3-none-any.whl", kind="archive"),
        DirectUrl(
            url="https://files.example.com/six-1.17.0-py2.py3-none-any.whl", kind="archive", archive_hash="x"
        ),
        DirectUrl(url="https://github.com/benjaminp/six", kind="vcs", vcs="git", commit_id="65486e4383f9"),
    ],
    ids=["wheelhouse", "url", "vcs"],
)
def test_another_source_with_the_same_record_is_quiet(direct_url: DirectUrl) -> None:
    now = with_packages(BASE, pkg(BASE, "six", direct_url=direct_url))
    assert findings(BASE, now) == []
    assert findings(now, BASE) == []


def test_another_source_with_other_files_is_one_build_finding() -> None:
    src = DirectUrl(url="https://github.com/benjaminp/six", kind="vcs", vcs="git", commit_id="65486e4383f9")
    then = with_packages(BASE, pkg(BASE, "six", direct_url=src))
    now = with_packages(BASE, pkg(BASE, "six", record_digest="sha256:" + "9" * 64))
    found = findings(then, now)
    assert [(f.id, f.subject) for f in found] == [("package.build.files", "six")]
    assert "six @ git+https://github.com/benjaminp/six@65486e4383f9" in found[0].remedy


# --- messages say what is true (noise 8) ------------------------------------------------------------------------


def test_a_compiled_package_with_other_files_speaks_of_its_build() -> None:
    now = with_packages(BASE, pkg(BASE, "numpy", record_digest="sha256:" + "0" * 64))
    found = findings(BASE, now)
    assert ids(found) == {("package.build", "numpy")}
    assert "compiler flags" in found[0].message


def test_a_pure_python_package_with_other_files_says_its_files_differ() -> None:
    now = with_packages(BASE, pkg(BASE, "six", record_digest="sha256:" + "0" * 64))
    found = findings(BASE, now)
    assert ids(found) == {("package.build.files", "six")}
    assert "files differ" in found[0].message and "compiler" not in found[0].message
    assert BY_ID["package.build.files"].risks == BY_ID["package.build"].risks


def test_a_shadowing_finding_names_both_paths(tmp_path: Path) -> None:
    first, second = tmp_path / "venv-site", tmp_path / "user-site"
    make_dist_info(first, "six", "1.17.0")
    make_dist_info(second, "six", "1.16.0")
    six = _read_first(first, second)
    assert six.locations == (str(first), str(second))
    found = findings(BASE, with_packages(BASE, six), self_checks=True)
    shadow = next(f for f in found if f.id == "package.shadowed")
    assert f"1.17.0 in {first}" in shadow.message and f"1.16.0 in {second}" in shadow.message


def test_a_shadowing_finding_from_an_older_lockfile_names_versions() -> None:
    six = pkg(BASE, "six", shadowed=("1.16.0",))
    found = findings(BASE, with_packages(BASE, six), self_checks=True)
    shadow = next(f for f in found if f.id == "package.shadowed")
    assert "(1.17.0 wins over 1.16.0)" in shadow.message


def _read_first(*sites: Path) -> Package:
    packages, _, _ = probe.collect_packages([str(s) for s in sites])
    data: Dict[str, Any] = packages[0]
    return from_data(Package, data)
