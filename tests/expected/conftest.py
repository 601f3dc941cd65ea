"""Locks written by the real tools, offline: uv (from PyPI, the test extra) resolves against a folder of wheels
built here, named and versioned as this interpreter's own click and packaging, so that the files it writes match
this interpreter, plus wheels that apply only on another platform and a click from the future."""

from __future__ import annotations

import os
import platform
import subprocess
from importlib.metadata import version
from pathlib import Path
from typing import Dict, List

import pytest

from tests.conftest import build_wheel

#: A machine this one is not: a pin for it does not apply here.
OTHER_MACHINE = "aarch64" if platform.machine() != "aarch64" else "x86_64"
#: What the generated files are called, by how uv wrote them.
KINDS = ("requirements.txt", "pylock.toml", "uv.lock", "uv-export-pylock.toml")


def uv_binary() -> str:
    try:
        from uv import find_uv_bin
    except ImportError:
        pytest.fail("uv is not installed: pip install -e '.[test]' (the test extra has uv)", pytrace=False)
    return str(find_uv_bin())


def run_uv(*args: str, cwd: Path) -> None:
    env = {
        **os.environ,
        "UV_CACHE_DIR": str(cwd / ".uv-cache"),
        "UV_NO_CONFIG": "1",
        "UV_PYTHON_DOWNLOADS": "never",
    }
    done = subprocess.run([uv_binary(), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"uv {' '.join(args)}: {done.stderr[-2000:]}"


def _write_locks(folder: Path, wheels: Path, requirements: List[str]) -> Dict[str, Path]:
    """The four files, for the same requirements, as uv writes them."""
    import sys

    folder.mkdir()
    offline = ["--offline", "--no-index", "--find-links", str(wheels), "--python", sys.executable]
    (folder / "requirements.in").write_text("".join(f"{r}\n" for r in requirements))
    compile_ = ["pip", "compile", "--universal", *offline, "requirements.in", "--quiet"]
    run_uv(*compile_, "--generate-hashes", "-o", "requirements.txt", cwd=folder)
    run_uv(*compile_, "-o", "pylock.toml", cwd=folder)
    project = folder / "project"
    project.mkdir()
    deps = ", ".join(repr(r) for r in requirements)
    (project / "pyproject.toml").write_text(
        f'[project]\nname = "demo"\nversion = "0.1.0"\nrequires-python = ">=3.9"\ndependencies = [{deps}]\n'
        "[tool.uv]\npackage = false\n"
    )
    run_uv("lock", *offline, "--quiet", cwd=project)
    run_uv("export", *offline, "--format", "pylock.toml", "-o", "pylock.toml", "--quiet", cwd=project)
    return {
        "requirements.txt": folder / "requirements.txt",
        "pylock.toml": folder / "pylock.toml",
        "uv.lock": project / "uv.lock",
        "uv-export-pylock.toml": project / "pylock.toml",
    }


@pytest.fixture(scope="session")
def written(tmp_path_factory: pytest.TempPathFactory) -> Dict[str, Dict[str, Path]]:
    """``same``: pins equal to this interpreter's; ``changed``: click pinned to 99.0. Both also require, directly
    and through packaging's own metadata, packages for Windows and for another machine only."""
    root = tmp_path_factory.mktemp("locks")
    wheels = root / "wheels"
    build_wheel(wheels, "click", version("click"))
    build_wheel(wheels, "click", "99.0")
    build_wheel(
        wheels,
        "packaging",
        version("packaging"),
        requires=[f"other-machine-only ; platform_machine == '{OTHER_MACHINE}'"],
    )
    build_wheel(wheels, "windows-only", "1.0")
    build_wheel(wheels, "other-machine-only", "1.0")
    base = ["packaging", "windows-only ; sys_platform == 'win32'"]
    return {
        "same": _write_locks(root / "same", wheels, [f"click=={version('click')}", *base]),
        "changed": _write_locks(root / "changed", wheels, ["click==99.0", *base]),
    }
