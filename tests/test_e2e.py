"""End to end on real virtual environments: wheels built here, installed by pip, fingerprinted by envcheck."""

from __future__ import annotations

import json
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from envcheck import lockfile
from tests.conftest import build_wheel, install_wheels

TOKEN = "glpat-PLANTED-TOKEN-9f8e7d"


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), cwd=cwd, capture_output=True, text=True, timeout=300, check=False)


@pytest.fixture(scope="module")
def small_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A venv without pip holding exactly four distributions, installed by the real pip from local wheels."""
    root = tmp_path_factory.mktemp("e2e")
    wheels = root / "wheels"
    build_wheel(wheels, "alpha", "1.0", requires=["beta>=2"])
    build_wheel(wheels, "beta", "2.1")
    build_wheel(wheels, "gamma-lib", "0.5+local.1")
    delta = build_wheel(wheels, "delta", "3.0")
    env = root / "venv"
    venv.EnvBuilder(with_pip=False).create(env)
    python = env / "bin" / "python"
    install_wheels(python, "alpha", "gamma-lib", find_links=wheels)
    install_wheels(python, str(delta))  # from a file: pip records a direct_url.json
    # A credential in a direct URL, as a private index or git host would leave it.
    direct = next((env / "lib").glob("python3*/site-packages/delta-3.0.dist-info/direct_url.json"))
    data = json.loads(direct.read_text())
    data["url"] = f"https://ci-bot:{TOKEN}@git.example.com/ml/delta.whl"
    direct.write_text(json.dumps(data))
    return python


@pytest.mark.slow
def test_snapshot_lists_exactly_the_venvs_distributions(small_venv: Path, tmp_path: Path) -> None:
    out = tmp_path / "venv.lock"
    proc = run(sys.executable, "-m", "envcheck", "snapshot", "--python", str(small_venv), "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    fp = lockfile.read(out)
    assert {(p.name, p.version) for p in fp.packages} == {
        ("alpha", "1.0"),
        ("beta", "2.1"),
        ("delta", "3.0"),
        ("gamma-lib", "0.5+local.1"),
    }
    alpha, beta, delta, gamma = fp.packages
    assert (alpha.requested, beta.requested, gamma.requested) == (True, False, True)
    assert alpha.requires == ("beta>=2",)
    assert all(p.installer == "pip" for p in fp.packages)
    assert all(p.wheel_tags == ("py3-none-any",) for p in fp.packages)
    assert all(p.record_digest.startswith("sha256:") for p in fp.packages)
    assert delta.direct_url is not None and delta.direct_url.kind == "archive"
    assert delta.direct_url.url == "https://git.example.com/ml/delta.whl"
    assert fp.python.in_venv
    assert fp.python.executable == str(small_venv.parent / "python3")  # its canonical name: same interpreter
    assert fp.meta.target == f"python:{small_venv}"
    assert fp.source("cpu").status == "ok"  # hardware read from this machine, as for the default target
    assert TOKEN not in out.read_text()
    assert TOKEN not in proc.stdout + proc.stderr


@pytest.mark.slow
def test_python_target_matches_in_process_probe(small_venv: Path, tmp_path: Path) -> None:
    """The same interpreter read from outside (--python) and from inside (the API) gives the same sections."""
    out = tmp_path / "outside.lock"
    assert (
        run(sys.executable, "-m", "envcheck", "snapshot", "--python", sys.executable, "-o", str(out)).returncode
        == 0
    )
    inside = tmp_path / "inside.lock"
    code = f"import envcheck; envcheck.snapshot({str(inside)!r})"
    assert run(sys.executable, "-c", code, cwd=tmp_path).returncode == 0
    a, b = lockfile.read(out), lockfile.read(inside)
    assert a.os == b.os
    assert a.python == b.python
    assert a.packages == b.packages
    assert a.native.shipped == b.native.shipped


@pytest.mark.slow
def test_api_records_libraries_the_process_loaded(tmp_path: Path) -> None:
    """Called at the end of a training script, the snapshot sees the BLAS that numpy really loaded."""
    code = (
        "import numpy\n"
        "numpy.linalg.inv(numpy.eye(64) * 2.0)\n"
        "import envcheck\n"
        "fp = envcheck.snapshot('train.lock')\n"
    )
    proc = run(sys.executable, "-c", code, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    fp = lockfile.read(tmp_path / "train.lock")
    blas = [lib for lib in fp.native.loaded if lib.kind == "blas"]
    assert blas, fp.native.loaded
    numpy_blas = next(lib for lib in blas if lib.package == "numpy")
    assert numpy_blas.vendor == "openblas"
    assert numpy_blas.version.startswith("0.3.")
    assert numpy_blas.architecture  # the kernel set OpenBLAS chose on this CPU, e.g. Zen or Haswell
    assert numpy_blas.path.startswith("numpy.libs/")


@pytest.mark.slow
def test_too_old_interpreter_is_refused_clearly(tmp_path: Path) -> None:
    old = sorted(Path.home().glob(".pyenv/versions/3.[67].*/bin/python3"))
    fake = tmp_path / "python2"
    fake.write_text("#!/bin/sh\necho 'envcheck-too-old 2.7' >&2\nexit 3\n")
    fake.chmod(0o755)
    for python in [*old, fake]:
        proc = run(
            sys.executable, "-m", "envcheck", "snapshot", "--python", str(python), "-o", str(tmp_path / "x")
        )
        assert proc.returncode == 2
        assert "older than 3.8, which the probe needs" in proc.stderr
        assert "Traceback" not in proc.stderr


def _oldest_cpython() -> str:
    """The oldest CPython >= 3.8 this machine has (pyenv), else this interpreter."""
    found = sorted(
        Path.home().glob(".pyenv/versions/3.*/bin/python3"),
        key=lambda p: [int(x) for x in p.parent.parent.name.split(".")[:2]],
    )
    usable = [p for p in found if [int(x) for x in p.parent.parent.name.split(".")[:2]] >= [3, 8]]
    return str(usable[0]) if usable else sys.executable


@pytest.mark.slow
def test_python_target_in_the_oldest_interpreter(tmp_path: Path) -> None:
    """--python works on a venv of the oldest CPython here (3.8 on this machine): the probe is 3.8-clean."""
    oldest = _oldest_cpython()
    env = tmp_path / "old"
    assert run(oldest, "-m", "venv", "--without-pip", str(env)).returncode == 0
    wheels = tmp_path / "wheels"
    build_wheel(wheels, "oldlib", "0.9")
    python = env / "bin" / "python"
    install_wheels(python, "oldlib", find_links=wheels)
    out = tmp_path / "old.lock"
    proc = run(sys.executable, "-m", "envcheck", "snapshot", "--python", str(python), "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    fp = lockfile.read(out)
    version = run(str(python), "-c", "import platform; print(platform.python_version())").stdout.strip()
    assert fp.python.version == version
    assert ("oldlib", "0.9") in [(p.name, p.version) for p in fp.packages]
    assert {p.name for p in fp.packages} - {"oldlib", "pip", "setuptools"} == set()
