"""Shared fixtures: the real H200 dist-info tree, a tiny wheel builder, the CLI runner, and the checks for what
``scripts/test`` provisions before pytest starts (a Docker engine with the base image, promtool)."""

from __future__ import annotations

import base64
import hashlib
import os
import tarfile
import zipfile
from pathlib import Path
from typing import Dict, Iterable, Iterator, Optional, Tuple

import pytest

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
H200 = FIXTURES / "h200-serving"
#: The local base image every Docker test builds FROM (scripts/ensure-docker builds it; no registry is used).
BASE_IMAGE = "envcheck-test-base:bookworm"
_PROVISION = "run scripts/test, which provisions it before pytest starts (or {script} alone)"


def require_docker(image: str = BASE_IMAGE) -> None:
    """Fail, saying what to run, unless a Docker engine answers and has ``image``. Installs nothing: provisioning
    is ``scripts/test``'s job, done once before pytest starts."""
    import shutil
    import subprocess

    hint = _PROVISION.format(script="scripts/ensure-docker")
    if shutil.which("docker") is None:
        pytest.fail(f"no docker command on PATH: {hint}", pytrace=False)
    try:
        done = subprocess.run(["docker", "image", "inspect", image], capture_output=True, text=True, timeout=120)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the Docker engine did not answer within 120 s: {hint}", pytrace=False)
    if done.returncode != 0:
        why = (done.stderr.strip().splitlines() or ["no answer"])[-1][:200]
        pytest.fail(f"no Docker engine with the image {image} ({why}): {hint}", pytrace=False)


def require_promtool() -> str:
    """promtool's path; fails, saying what to run, when it is not on PATH. Installs nothing."""
    import shutil

    found = shutil.which("promtool")
    if found is None:
        pytest.fail(f"no promtool on PATH: {_PROVISION.format(script='scripts/ensure-promtool')}", pytrace=False)
    return found


#: The environment as the test session started, read when this conftest is imported: before any test module
#: (or what it imports) is collected.
_STARTING_ENVIRON = dict(os.environ)


@pytest.fixture(autouse=True)
def _launch_environment() -> Iterator[None]:
    """Each test runs in the environment the process was launched with: libraries imported in-process (by a test
    module, a test or a fixture) set variables on themselves (scikit-learn sets KMP_DUPLICATE_LIB_OK and
    KMP_INIT_AT_FORK at import), which would otherwise reach every child a test starts as if the user had set
    them. pytest's own PYTEST_* variables are left to pytest."""

    def restore() -> None:
        for name in [n for n in os.environ if not n.startswith("PYTEST_") and n not in _STARTING_ENVIRON]:
            del os.environ[name]
        for name, value in _STARTING_ENVIRON.items():
            if not name.startswith("PYTEST_") and os.environ.get(name) != value:
                os.environ[name] = value

    restore()
    yield
    restore()


@pytest.fixture(scope="session")
def h200_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The 197 real dist-info folders of the H200 serving environment, unpacked as a site-packages folder."""
    site = tmp_path_factory.mktemp("h200-site")
    with tarfile.open(H200 / "dist-info.tgz") as tar:
        tar.extractall(site, filter="data") if hasattr(tarfile, "data_filter") else tar.extractall(site)
    return site


def _record_line(name: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def build_wheel(
    out_dir: Path,
    name: str,
    version: str,
    *,
    requires: Iterable[str] = (),
    files: Optional[Dict[str, bytes]] = None,
    tag: str = "py3-none-any",
) -> Path:
    """Write a minimal, valid wheel (PEP 427) with one module, so tests install real packages offline."""
    dist = f"{name.replace('-', '_')}-{version}"
    module = name.replace("-", "_")
    contents: Dict[str, bytes] = dict(files or {f"{module}/__init__.py": f"VERSION = {version!r}\n".encode()})
    meta = ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}"]
    meta += [f"Requires-Dist: {r}" for r in requires]
    contents[f"{dist}.dist-info/METADATA"] = ("\n".join(meta) + "\n").encode()
    contents[f"{dist}.dist-info/WHEEL"] = (
        f"Wheel-Version: 1.0\nGenerator: envcheck-tests\nRoot-Is-Purelib: true\nTag: {tag}\n"
    ).encode()
    record = [_record_line(path, data) for path, data in contents.items()]
    record.append(f"{dist}.dist-info/RECORD,,")
    contents[f"{dist}.dist-info/RECORD"] = ("\n".join(record) + "\n").encode()
    out_dir.mkdir(parents=True, exist_ok=True)
    wheel = out_dir / f"{dist}-{tag}.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        for path, data in contents.items():
            zf.writestr(path, data)
    return wheel


def install_wheels(python: Path, *requirements: str, find_links: Optional[Path] = None) -> None:
    """Install into the venv of ``python`` with the real pip, offline (``pip --python``)."""
    import subprocess
    import sys

    args = [sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-index"]
    if find_links is not None:
        args += ["--find-links", str(find_links)]
    done = subprocess.run([*args, *requirements], capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr


#: A local base image with a virtual environment at /opt/venv holding ``install`` from the context's wheels; pip
#: comes from CPython's own ensurepip wheel, so the build needs no network. ``then`` continues the RUN line,
#: ``rest`` follows it.
VENV_DOCKERFILE = """\
FROM {base}
COPY wheels /tmp/wheels
COPY pip.whl /tmp/pip.whl
RUN python3 -m venv --without-pip /opt/venv \\
 && /opt/venv/bin/python /tmp/pip.whl/pip install -q --no-index --no-cache-dir --disable-pip-version-check \\
    --find-links /tmp/wheels {install} \\
 && rm -rf /tmp/wheels /tmp/pip.whl{then}
{rest}"""


def venv_image_context(
    context: Path,
    base: str,
    wheels: Iterable[Tuple[str, str, Iterable[str]]],
    install: str,
    *,
    then: str = "",
    rest: str = "",
) -> None:
    """Write a Docker build context for ``VENV_DOCKERFILE``: the wheels (name, version, requirements), pip's
    wheel and the Dockerfile."""
    import glob
    import shutil
    import sysconfig

    for dist, version, requires in wheels:
        build_wheel(context / "wheels", dist, version, requires=requires)
    found = glob.glob(os.path.join(sysconfig.get_paths()["stdlib"], "ensurepip", "_bundled", "pip-*.whl"))
    if not found:
        pytest.skip("this CPython ships no ensurepip wheel")
    shutil.copy(found[0], context / "pip.whl")
    (context / "Dockerfile").write_text(VENV_DOCKERFILE.format(base=base, install=install, then=then, rest=rest))


def make_dist_info(
    site: Path, name: str, version: str, *, extra: Optional[Dict[str, str]] = None
) -> Tuple[Path, str]:
    """A dist-info folder written straight into ``site`` (for parser tests that need no installer)."""
    folder = site / f"{name.replace('-', '_')}-{version}.dist-info"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n\nbody\n")
    for fname, text in (extra or {}).items():
        (folder / fname).write_text(text)
    return folder, name


# --- no skipped test counts as passing ---------------------------------------------------------------------------

_skipped: list[str] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.skipped:
        _skipped.append(report.nodeid)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """In CI a skipped test is a failure: what it checks did not run (as threadpoolctl's check_no_test_skipped)."""
    import os

    if _skipped and os.environ.get("CI") and session.exitstatus == 0:
        session.exitstatus = 1
        print(f"\nerror: {len(_skipped)} tests were skipped in CI: " + ", ".join(_skipped[:10]))
