"""--python runs nothing of the target's own: the probe starts without ``site`` (-S) and reads the .pth files
itself."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from envcheck.targets.python import PythonTarget
from tests.conftest import make_dist_info


def _interpreters() -> list[str]:
    """This interpreter, and the oldest pyenv CPython 3.8+ here (before 3.11, -S leaves sys.prefix at the base
    installation, so the probe must find the venv itself)."""
    found = [sys.executable]
    root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    for minor in (8, 9, 10):
        old = sorted(root.glob(f"3.{minor}.*/bin/python3")) if root.is_dir() else []
        if old:
            found.append(str(old[-1]))
            break
    return found


@pytest.fixture(params=_interpreters(), ids=lambda p: Path(p).parent.parent.name)
def trapped_venv(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Path, Path, Path]:
    """(python, the file its .pth code would create, a folder only a .pth path line adds)."""
    env = tmp_path / "venv"
    subprocess.run([request.param, "-m", "venv", "--without-pip", str(env)], check=True)
    python = env / "bin" / "python"
    site = Path(
        subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    ran = tmp_path / "pth-code-ran"
    extra = tmp_path / "extra"
    make_dist_info(extra, "addedbypth", "1.0")
    make_dist_info(site, "insite", "2.0")
    (site / "a.pth").write_text(f"{extra}\nimport pathlib; pathlib.Path({str(ran)!r}).write_text('ran')\n")
    return python, ran, extra


def test_python_target_runs_no_pth_code_and_follows_pth_paths(trapped_venv: tuple[Path, Path, Path]) -> None:
    python, ran, _ = trapped_venv
    data = PythonTarget(str(python)).probe()
    assert not ran.exists(), "a .pth line of the target ran"
    names = [p["name"] for p in data["packages"]]
    assert names == ["addedbypth", "insite"]
    assert data["python"]["in_venv"] is True
    assert data["python"]["prefix"] == str(python.parent.parent)
    # the same as the interpreter itself reports, when it is allowed to run its site (the .pth runs then)
    itself = subprocess.run(
        [str(python), "-c", "import sys; print(sys.prefix)"], capture_output=True, text=True, check=True
    )
    assert ran.exists() and itself.stdout.strip() == data["python"]["prefix"]
