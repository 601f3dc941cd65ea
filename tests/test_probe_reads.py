"""The probe reads the same environment the same way whoever runs it: the interpreter's name, the running
program's own folder and an isolated child's missing PYTHONPATH are not part of the environment."""

from __future__ import annotations

import base64
import json
import os
import sys
import venv
from pathlib import Path

import pytest

from envcheck import probe
from envcheck.targets.python import PythonTarget
from tests.conftest import make_dist_info


@pytest.fixture
def venv_bin(tmp_path: Path) -> Path:
    venv.EnvBuilder(with_pip=False, symlinks=False).create(tmp_path / "env")
    return tmp_path / "env" / "bin"


def test_canonical_executable_names_a_venvs_interpreter_one_way(venv_bin: Path) -> None:
    """venv makes python, python3 and pythonX.Y (here as copies, not links): the same interpreter."""
    minor = "python{}.{}".format(*sys.version_info[:2])
    for name in ("python", "python3", minor):
        assert probe.canonical_executable(str(venv_bin / name)) == str(venv_bin / "python3")


def test_canonical_executable_elsewhere_needs_the_same_file(tmp_path: Path) -> None:
    real = tmp_path / "python3.99"
    real.write_text("")
    (tmp_path / "python").write_text("")  # another file: perhaps another interpreter
    assert probe.canonical_executable(str(real)) == str(real)
    os.symlink(real, tmp_path / "python3")
    assert probe.canonical_executable(str(real)) == str(tmp_path / "python3")
    assert probe.canonical_executable("") == ""


def test_the_running_scripts_folder_is_not_searched(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A console script's folder (VENV/bin) is first on sys.path for it, not for ``python -m``."""
    script_dir = tmp_path / "bin"
    make_dist_info(script_dir, "stray", "1.0")
    site = tmp_path / "site"
    make_dist_info(site, "alpha", "1.0")
    main = type(sys)("__main__")
    main.__file__ = str(script_dir / "envcheck")
    monkeypatch.setitem(sys.modules, "__main__", main)
    monkeypatch.setattr(sys, "path", [str(script_dir), str(site)])
    assert probe.script_folder() == [str(script_dir)]
    assert probe.search_path() == [str(site)]
    monkeypatch.setattr(sys, "path", [str(site), str(script_dir)])  # not put first by Python: kept
    assert probe.script_folder() == []
    assert probe.search_path() == [str(site), str(script_dir)]


def test_pythonpath_given_to_the_probe_comes_first(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    shadow, site = tmp_path / "shadow", tmp_path / "site"
    make_dist_info(shadow, "beta", "9.9")
    make_dist_info(site, "beta", "2.1")
    data = probe.probe(path=[str(site)], pythonpath=[str(shadow)])
    beta = next(p for p in data["packages"] if p["name"] == "beta")
    assert (beta["version"], beta["shadowed"]) == ("9.9", ["2.1"])
    assert "the caller's PYTHONPATH (1 entries) first" in data["sources"]["packages"]["detail"]
    encoded = base64.b64encode(json.dumps([str(shadow)]).encode()).decode()
    path = base64.b64encode(json.dumps([str(site)]).encode()).decode()
    assert probe.main(["--path-json", path, "--pythonpath-json", encoded]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert [p["version"] for p in printed["packages"] if p["name"] == "beta"] == ["9.9"]


def test_the_environment_recorded_is_the_one_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KMP_DUPLICATE_LIB_OK", "True")
    data = probe.probe(path=[], environ={"OMP_NUM_THREADS": "4", "TZ": "UTC"})
    assert data["env"]["variables"] == {"OMP_NUM_THREADS": "4", "TZ": "UTC"}
    assert data["env"]["timezone"] == "UTC"


def test_the_callers_pythonpath_is_passed_to_the_isolated_probe(tmp_path: Path) -> None:
    """-I hides PYTHONPATH from the child; the program run with that interpreter would see it: pass it on."""
    shadow = tmp_path / "shadow"
    make_dist_info(shadow, "beta", "9.9")
    other = tmp_path / "other"
    make_dist_info(other, "gamma", "1.0")
    target = PythonTarget(sys.executable, pythonpath=os.pathsep.join([str(shadow), "", str(other) + "/"]))
    data = target.probe()
    names = [p["name"] for p in data["packages"]]
    assert "beta" in names and "gamma" in names
    assert "PYTHONPATH (3 entries)" in data["sources"]["packages"]["detail"]  # the empty one: the cwd
    assert (
        PythonTarget(sys.executable, pythonpath="").probe()["sources"]["packages"]["detail"].count("PYTHON") == 0
    )
