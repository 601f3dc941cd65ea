"""The plan and its two renderings, on small fingerprints: which packages are pinned, with what, and what the
header says."""

from __future__ import annotations

import sys

import pytest

from envcheck.compare import compare
from envcheck.model import NOT_INSPECTED, OK, DirectUrl, Fingerprint, Package, PythonInfo, Source
from envcheck.restore import FORMATS, RemedyError, plan, render
from envcheck.restore.interface import BUILD, MISSING, SAME, VERSION, Plan

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.9 and 3.10
    import tomli as tomllib

H1, H2 = "ab" * 32, "cd" * 32


def archive(name: str, version: str, digest: str) -> DirectUrl:
    url = f"file:///wheels/{name}-{version}-py3-none-any.whl"
    return DirectUrl(url=url, kind="archive", archive_hash=f"sha256={digest}")


def fp(*packages: Package, python: str = "3.11.7") -> Fingerprint:
    sources = {"packages": Source(OK), "python": Source(OK)}
    return Fingerprint(
        sources=sources, packages=packages, python=PythonInfo(version=python, implementation="CPython")
    )


def make(expected: Fingerprint, actual: Fingerprint) -> Plan:
    return plan(expected, actual, compare(expected, actual), lock_name="L", target_name="T")


LOCK = fp(
    Package("alpha", "1.0", direct_url=archive("alpha", "1.0", H1)),
    Package("beta", "2.0", direct_url=archive("beta", "2.0", H2)),
    Package("delta", "3.0", record_digest="sha256:" + "1" * 64),
    Package("epsilon", "1.0"),
    Package("pip", "24.0"),
    Package("setuptools", "69.0"),
    Package("envcheck", "0.1.0", tool=True),
    Package("click", "8.1.7", tool=True),
    Package("mine", "0.1", direct_url=DirectUrl(url="file:///src/mine", kind="editable")),
)
CANDIDATE = fp(
    Package("alpha", "2.0"),
    Package("delta", "3.0", record_digest="sha256:" + "2" * 64),
    Package("epsilon", "1.0"),
    Package("gamma", "1.0"),
    Package("pip", "25.0"),
    Package("mine", "0.1", direct_url=DirectUrl(url="file:///src/mine", kind="editable")),
    python="3.12.3",
)


def test_every_recorded_package_is_pinned_with_its_drift() -> None:
    the_plan = make(LOCK, CANDIDATE)
    drifts = {p.name: (p.version, p.drift, p.candidate_version) for p in the_plan.pins}
    assert drifts == {
        "alpha": ("1.0", VERSION, "2.0"),
        "beta": ("2.0", MISSING, ""),
        "delta": ("3.0", BUILD, "3.0"),
        "epsilon": ("1.0", SAME, "1.0"),
    }
    assert the_plan.extras == (("gamma", "1.0"),)
    assert len(the_plan.unpinned) == 1 and the_plan.unpinned[0].startswith("mine 0.1: installed from a local")
    assert the_plan.refused == ()
    assert any(line.startswith("python: ") and "3.11.7 -> 3.12.3" in line for line in the_plan.not_restorable)


def test_requirements_leave_hashes_out_unless_every_pin_has_one() -> None:
    text = render(make(LOCK, CANDIDATE), "requirements")
    pins = [line for line in text.splitlines() if not line.startswith("#")]
    assert pins == ["alpha==1.0", "beta==2.0", "delta==3.0", "epsilon==1.0"]
    assert "# no --hash: 2 of 4 packages have no archive hash recorded" in text
    assert "#   python: " in text and "3.11.7 -> 3.12.3" in text
    assert "#   pip install --force-reinstall --no-deps delta==3.0" in text
    assert "# extra in the candidate: gamma 1.0 (pip uninstall gamma)" in text


def test_requirements_carry_hashes_when_every_pin_has_one() -> None:
    lock = fp(*(p for p in LOCK.packages if p.name in ("alpha", "beta")))
    text = render(make(lock, CANDIDATE), "requirements")
    pins = [line for line in text.splitlines() if not line.startswith("#")]
    assert pins == ["alpha==1.0 \\", f"    --hash=sha256:{H1}", "beta==2.0 \\", f"    --hash=sha256:{H2}"]


def test_pylock_lists_packages_with_a_recorded_archive_and_names_the_others() -> None:
    text = render(make(LOCK, CANDIDATE), "pylock")
    data = tomllib.loads(text)
    assert data["lock-version"] == "1.0" and data["created-by"].startswith("envcheck ")
    assert data["packages"] == [
        {
            "name": "alpha",
            "version": "1.0",
            "wheels": [
                {
                    "name": "alpha-1.0-py3-none-any.whl",
                    "url": "file:///wheels/alpha-1.0-py3-none-any.whl",
                    "hashes": {"sha256": H1},
                }
            ],
        },
        {
            "name": "beta",
            "version": "2.0",
            "wheels": [
                {
                    "name": "beta-2.0-py3-none-any.whl",
                    "url": "file:///wheels/beta-2.0-py3-none-any.whl",
                    "hashes": {"sha256": H2},
                }
            ],
        },
    ]
    assert "#   delta==3.0" in text and "#   epsilon==1.0" in text


def test_a_vcs_checkout_is_not_pinned_but_named_with_its_commit() -> None:
    direct = DirectUrl(url="https://example.org/repo.git", kind="vcs", vcs="git", commit_id="a" * 40)
    lock = fp(Package("repo", "1.0", direct_url=direct))
    the_plan = make(lock, fp())
    assert the_plan.pins == () and the_plan.unpinned[0].endswith(
        "reinstall from https://example.org/repo.git@" + "a" * 40
    )
    assert "#   repo 1.0: a git checkout" in render(the_plan, "requirements")


def test_a_lockfile_without_packages_is_an_error() -> None:
    lock = Fingerprint(sources={"packages": Source(NOT_INSPECTED, "read statically")})
    with pytest.raises(RemedyError, match="records no package list"):
        make(lock, fp())


def test_a_candidate_whose_packages_were_not_read_gets_every_pin_as_missing() -> None:
    candidate = Fingerprint(sources={"packages": Source(NOT_INSPECTED)}, packages=(Package("alpha", "1.0"),))
    the_plan = make(LOCK, candidate)
    assert {p.drift for p in the_plan.pins} == {MISSING}
    assert any(line.startswith("packages: candidate: not inspected") for line in the_plan.not_compared)


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_renders(fmt: str) -> None:
    text = render(make(LOCK, CANDIDATE), fmt)
    assert text.startswith("# envcheck remedy: restores the packages of L")


def test_an_unknown_format_is_refused() -> None:
    with pytest.raises(RemedyError, match="unknown remedy format"):
        render(make(LOCK, CANDIDATE), "conda")


def test_uvs_cache_file_is_an_installer_file_in_the_record_digest() -> None:
    """uv writes ``uv_cache.json`` into the dist-info of a wheel it installs from a path or URL (a pylock.toml
    remedy): the same wheel installed by pip must give the same digest, or a restored package reads as rebuilt."""
    from envcheck.probe import record_digest

    pip_record = b"alpha/__init__.py,sha256=x,1\nalpha-1.0.dist-info/INSTALLER,sha256=p,4\n"
    uv_record = pip_record + b"alpha-1.0.dist-info/uv_cache.json,sha256=u,127\n"
    assert record_digest(uv_record) == record_digest(pip_record)
    assert record_digest(pip_record + b"alpha/extra.py,sha256=y,2\n") != record_digest(pip_record)
