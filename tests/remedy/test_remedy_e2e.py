"""End to end: a real virtual environment (with pip) is snapshotted, drifted (one package upgraded, one
uninstalled, one added), and put back with what ``envcheck remedy`` writes: ``pip install -r`` of the
requirements file, ``uv pip install -r`` of the pylock.toml. ``envcheck check`` then reports nothing about
packages.

Two ways the verified packages can have been installed: from wheel files named on the command line (pip records
their archive hashes, PEP 610: the remedy pins with ``--hash``, and the pylock lists the wheels) and from a
find-links folder as from an index (nothing recorded: plain pins, and a pylock that can only name them)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import venv
from pathlib import Path
from typing import List, Tuple

import pytest

from tests.conftest import build_wheel

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.9 and 3.10
    import tomli as tomllib

pytestmark = pytest.mark.slow


def run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("GITHUB_ACTIONS", "PIP_INDEX_URL", "UV_INDEX_URL")}
    return subprocess.run(list(args), capture_output=True, text=True, timeout=300, check=False, env=env)


def envcheck(*args: str) -> subprocess.CompletedProcess[str]:
    return run(sys.executable, "-m", "envcheck", *args)


def uv() -> str:
    found = Path(sys.executable).with_name("uv")
    if not found.exists():
        pytest.fail(f"no uv beside {sys.executable}: install the test extra (uv>=0.8)", pytrace=False)
    return str(found)


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("remedy-wheels")
    build_wheel(out, "alpha", "1.0")
    build_wheel(out, "alpha", "2.0")
    build_wheel(out, "beta", "1.5", requires=["alpha>=1"])
    build_wheel(out, "gamma", "0.3")
    return out


def pip(python: Path, *args: str) -> None:
    done = run(str(python), "-m", "pip", "--disable-pip-version-check", "-q", *args)
    assert done.returncode == 0, done.stderr


def verified_venv(root: Path, wheels: Path, from_files: bool) -> Tuple[Path, Path]:
    """(python, lockfile): a venv with pip, alpha 1.0 and beta 1.5, snapshotted."""
    venv.EnvBuilder(with_pip=True).create(root / "venv")
    python = root / "venv" / "bin" / "python"
    if from_files:
        # a recent pip records the SHA-256 of a wheel installed from a file (direct_url.json archive_info);
        # CPython 3.9's bundled pip (23.0.1) records none, and then nothing could be pinned by hash
        pip(python, "install", "pip>=24")
        pip(
            python,
            "install",
            "--no-index",
            str(wheels / "alpha-1.0-py3-none-any.whl"),
            str(wheels / "beta-1.5-py3-none-any.whl"),
        )
    else:
        pip(python, "install", "--no-index", "--find-links", str(wheels), "alpha==1.0", "beta==1.5")
    lock = root / "envcheck.lock"
    done = envcheck("snapshot", "--python", str(python), "-o", str(lock))
    assert done.returncode == 0, done.stderr
    return python, lock


def drift(python: Path, wheels: Path) -> None:
    pip(python, "uninstall", "-y", "beta")
    pip(python, "install", "--no-index", "--find-links", str(wheels), "alpha==2.0", "gamma==0.3")


def package_findings(lock: Path, python: Path) -> List[Tuple[str, str]]:
    done = envcheck("check", str(lock), "--python", str(python), "--format", "json", "--fail-on", "never")
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)["findings"]
    return sorted((f["id"], f["subject"]) for f in found if f["component"] == "packages")


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def pins(text: str) -> List[str]:
    return [line for line in text.splitlines() if line and not line.startswith("#")]


@pytest.mark.parametrize("from_files", [True, False], ids=["hashes-recorded", "from-an-index"])
def test_pip_install_of_the_remedy_restores_the_packages(tmp_path: Path, wheels: Path, from_files: bool) -> None:
    python, lock = verified_venv(tmp_path, wheels, from_files)
    drift(python, wheels)
    assert package_findings(lock, python) == [("package.missing", "beta"), ("package.version.major", "alpha")]

    req = tmp_path / "remedy.txt"
    done = envcheck("remedy", str(lock), "--python", str(python), "-o", str(req))
    assert done.returncode == 0, done.stderr
    text = req.read_text()
    assert "# extra in the candidate: gamma 0.3 (pip uninstall gamma)" in text
    assert "#   alpha: 2.0 in the candidate, 1.0 recorded" in text
    assert "#   beta 1.5: missing in the candidate" in text
    assert "pip==" not in text and "setuptools==" not in text  # packaging churn is never pinned
    if from_files:
        digest = {n: sha256(wheels / f"{n}-py3-none-any.whl") for n in ("alpha-1.0", "beta-1.5")}
        assert pins(text) == [
            "alpha==1.0 \\",
            f"    --hash=sha256:{digest['alpha-1.0']}",
            "beta==1.5 \\",
            f"    --hash=sha256:{digest['beta-1.5']}",
        ]
    else:
        assert pins(text) == ["alpha==1.0", "beta==1.5"]

    pip(python, "install", "--no-index", "--find-links", str(wheels), "-r", str(req))
    assert package_findings(lock, python) == []


def test_uv_install_of_the_pylock_restores_the_packages(tmp_path: Path, wheels: Path) -> None:
    python, lock = verified_venv(tmp_path, wheels, from_files=True)
    drift(python, wheels)
    pylock = tmp_path / "pylock.toml"
    done = envcheck("remedy", str(lock), "--python", str(python), "--format", "pylock", "-o", str(pylock))
    assert done.returncode == 0, done.stderr
    assert "left out" not in done.stderr and "(2 pins, " in done.stderr
    data = tomllib.loads(pylock.read_text())
    assert [(p["name"], p["version"]) for p in data["packages"]] == [("alpha", "1.0"), ("beta", "1.5")]

    done = run(uv(), "pip", "install", "--python", str(python), "--offline", "--no-index", "-r", str(pylock))
    assert done.returncode == 0, done.stderr
    assert package_findings(lock, python) == []


def test_a_pylock_of_index_installs_names_what_it_cannot_hold(tmp_path: Path, wheels: Path) -> None:
    python, lock = verified_venv(tmp_path, wheels, from_files=False)
    drift(python, wheels)
    done = envcheck("remedy", str(lock), "--python", str(python), "--format", "pylock")
    assert done.returncode == 0, done.stderr
    assert tomllib.loads(done.stdout)["packages"] == []
    assert "#   alpha==1.0" in done.stdout and "#   beta==1.5" in done.stdout
    assert "2 of 2 packages left out of the pylock.toml" in done.stderr  # said where the user looks, too
    # uv reads it, and installs nothing: the header sent the user to --format requirements
    pylock = tmp_path / "pylock.toml"
    pylock.write_text(done.stdout)
    done = run(uv(), "pip", "install", "--python", str(python), "--offline", "--no-index", "-r", str(pylock))
    assert done.returncode == 0, done.stderr
    assert package_findings(lock, python) == [("package.missing", "beta"), ("package.version.major", "alpha")]
