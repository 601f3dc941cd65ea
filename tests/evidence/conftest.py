"""A real virtual environment of this interpreter holding tiny packages that misbehave at import in every way
the evidence checks must survive, and the runner for it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from envcheck.evidence import LocalRunner

#: A credential planted in the caller's environment and printed by a package: it must reach no result.
PLANTED = "ghp_" + "Q7" * 18
PLANTED_NAME = "ENVCHECK_TEST_API_TOKEN"

PACKAGES = {
    "okpkg": "__version__ = '1.2.3'\nprint('hello from okpkg')\n",
    "numpylike": "raise ImportError('numpy.core.multiarray failed to import')\n",
    "dtypesize": (
        "raise ValueError('numpy.dtype size changed, may indicate binary incompatibility. '\n"
        "                 'Expected 96 from C header, got 88 from PyObject')\n"
    ),
    "multiline": "raise ImportError('first line\\n\\n  the last line says why  \\n')\n",
    "segv": "import ctypes\nctypes.string_at(0)\n",
    "aborts": "import os\nos.abort()\n",
    "exits": "import os\nos._exit(7)\n",
    "quits": "import sys\nsys.exit(4)\n",
    "sleepy": "import time\ntime.sleep(600)\n",
    "loud": "import sys\nfor _ in range(100):\n    sys.stdout.write('x' * (1 << 20))\n",
    "hog": "import mmap\nblock = mmap.mmap(-1, 3 << 30)\n",  # address space, no pages touched
    "leaky": (
        "import os, sys\n"
        f"print('from the environment:', os.environ.get({PLANTED_NAME!r}))\n"
        "print('literal:', 'ghp_' + 'Z9' * 18)\n"
        "sys.stderr.write('password=hunter2hunter2\\n')\n"
        "raise RuntimeError('cannot log in with token=' + 'ghp_' + 'Z9' * 18)\n"
    ),
    "envdump": "import os\nprint('names:', ' '.join(sorted(os.environ)))\n",
    "escapes": "print('\\x1b]0;owned\\x07 \\u202e')\nraise ImportError('bad \\x1b[31m red')\n",
    "warns": "import warnings\nwarnings.warn('this build is old', UserWarning)\n",
}


def _site_packages(venv: Path) -> Path:
    found = sorted(venv.glob("lib/python3*/site-packages"))
    assert found, f"no site-packages in {venv}"
    return found[0]


@pytest.fixture(scope="session")
def tiny_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A venv of this interpreter (no pip) with ``PACKAGES`` and a ``.pth`` file that adds a folder holding
    ``viapth``: importable only when ``site`` runs in the child."""
    root = tmp_path_factory.mktemp("evidence")
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    site = _site_packages(venv)
    for name, source in PACKAGES.items():
        (site / name).mkdir()
        (site / name / "__init__.py").write_text(source, encoding="utf-8")
    extra = root / "extra"
    extra.mkdir()
    (extra / "viapth.py").write_text("__version__ = 'pth'\n", encoding="utf-8")
    (site / "extra.pth").write_text(f"{extra}\n", encoding="utf-8")
    return venv / "bin" / "python"


@pytest.fixture()
def runner(tiny_venv: Path) -> LocalRunner:
    return LocalRunner(str(tiny_venv))


def site_packages(python: Path) -> Path:
    return _site_packages(python.parent.parent)
