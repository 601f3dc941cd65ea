"""The same environment gives the same fingerprint however it is read, and envcheck's own footprint is not the
model's environment. On real virtual environments: envcheck installed by pip from a wheel of this checkout, its
requirements from wheels of the distributions this test interpreter has installed."""

from __future__ import annotations

import base64
import hashlib
import importlib.metadata
import json
import os
import subprocess
import sys
import venv
import zipfile
from pathlib import Path
from typing import Dict, Iterable, List, Optional

import pytest

import envcheck
from envcheck import lockfile
from tests.conftest import build_wheel, install_wheels, make_dist_info

ROOT = Path(__file__).resolve().parent.parent


def _runtime() -> tuple[str, ...]:
    """envcheck's run-time requirements on this interpreter and theirs (pyproject.toml's dependencies, markers
    applied: tomli and importlib-metadata, with zipp, before 3.10-3.11), as canonical names."""
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    if sys.version_info >= (3, 11):
        import tomllib
    else:
        import tomli as tomllib
    todo = list(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"])
    found: List[str] = []
    while todo:
        req = Requirement(todo.pop(0))
        name = canonicalize_name(req.name)
        if name in found or (req.marker is not None and not req.marker.evaluate({"extra": ""})):
            continue
        found.append(name)
        todo += importlib.metadata.distribution(name).requires or []
    return tuple(found)


#: envcheck's run-time requirements on this interpreter, with their own.
RUNTIME = _runtime()


def _record_line(name: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def _write_wheel(out: Path, filename: str, contents: Dict[str, bytes], dist_info: str) -> Path:
    record = [_record_line(path, data) for path, data in contents.items()]
    record.append(f"{dist_info}/RECORD,,")
    contents = {**contents, f"{dist_info}/RECORD": ("\n".join(record) + "\n").encode()}
    out.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out / filename, "w") as zf:
        for path, data in contents.items():
            zf.writestr(path, data)
    return out / filename


def repack(name: str, out: Path) -> Path:
    """A wheel of an installed distribution, from the files its RECORD lists (as ``pip`` would have unpacked
    them), so that a venv gets the real package offline."""
    dist = importlib.metadata.distribution(name)
    site = Path(str(dist.locate_file("")))
    dist_info = next(str(f).split("/")[0] for f in dist.files or () if str(f).endswith(".dist-info/METADATA"))
    skip = {"RECORD", "INSTALLER", "REQUESTED", "direct_url.json"}
    contents: Dict[str, bytes] = {}
    for f in dist.files or ():
        path = str(f)
        if path.startswith("..") or "__pycache__" in path or path.rsplit("/", 1)[-1] in skip:
            continue
        contents[path] = (site / path).read_bytes()
    tag = next(
        line.split(":", 1)[1].strip() for line in dist.read_text("WHEEL").splitlines() if line.startswith("Tag:")
    )
    stem = dist_info[: -len(".dist-info")]
    return _write_wheel(out, f"{stem}-{tag}.whl", contents, dist_info)


def _metadata() -> bytes:
    """Core metadata for this checkout, from pyproject.toml as setuptools writes it (requirements and extras)."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:
        import tomli as tomllib
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    lines = ["Metadata-Version: 2.1", "Name: envcheck", f"Version: {envcheck.__version__}"]
    lines += [f"Requires-Dist: {r}" for r in project["dependencies"]]
    for extra, requirements in project.get("optional-dependencies", {}).items():
        lines.append(f"Provides-Extra: {extra}")
        for r in requirements:
            marker = f'extra == "{extra}"'
            lines.append(f"Requires-Dist: {r}; {marker}" if ";" not in r else f"Requires-Dist: {r} and {marker}")
    return ("\n".join(lines) + "\n").encode()


def envcheck_wheel(out: Path) -> Path:
    """A wheel of this checkout: its package, its metadata (requirements and all) and its console script."""
    version = envcheck.__version__
    dist_info = f"envcheck-{version}.dist-info"
    contents = {
        path.relative_to(ROOT).as_posix(): path.read_bytes()
        for path in sorted((ROOT / "envcheck").rglob("*.py"))
        if "__pycache__" not in path.parts
    }
    contents[f"{dist_info}/METADATA"] = _metadata()
    contents[f"{dist_info}/WHEEL"] = (
        b"Wheel-Version: 1.0\nGenerator: envcheck-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    )
    contents[f"{dist_info}/entry_points.txt"] = b"[console_scripts]\nenvcheck = envcheck.cli:main\n"
    return _write_wheel(out, f"envcheck-{version}-py3-none-any.whl", contents, dist_info)


def make_venv(path: Path, wheels: Path, *requirements: str) -> Path:
    venv.EnvBuilder(with_pip=False).create(path)
    python = path / "bin" / "python"
    install_wheels(python, *requirements, find_links=wheels)
    return python


@pytest.fixture(scope="module")
def venvs(tmp_path_factory: pytest.TempPathFactory) -> Dict[str, Path]:
    """``training``: the model's packages and envcheck; ``serving``: the same model packages, no envcheck."""
    root = tmp_path_factory.mktemp("reads")
    wheels = root / "wheels"
    envcheck_wheel(wheels)
    for name in RUNTIME:
        repack(name, wheels)
    # the model's own packages: alpha needs beta, and packaging (which envcheck needs too)
    build_wheel(wheels, "alpha", "1.0", requires=["beta>=2", "packaging"])
    build_wheel(wheels, "beta", "2.1")
    return {
        "training": make_venv(root / "training", wheels, "alpha", "envcheck"),
        "serving": make_venv(root / "serving", wheels, "alpha"),
        "wheels": wheels,
    }


def run(*args: str, cwd: Path, env: Optional[Dict[str, str]] = None) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    full.update(env or {})
    return subprocess.run(list(args), cwd=cwd, env=full, capture_output=True, text=True, timeout=300, check=False)


def envcheck_here(*args: str, cwd: Path, env: Optional[Dict[str, str]] = None) -> subprocess.CompletedProcess[str]:
    """This checkout's envcheck (the test interpreter's)."""
    return run(sys.executable, "-m", "envcheck", *args, cwd=cwd, env=env)


@pytest.mark.slow
def test_a_serving_venv_without_envcheck_is_quiet_against_a_training_lockfile(
    venvs: Dict[str, Path], tmp_path: Path
) -> None:
    training = venvs["training"]
    done = run(str(training.parent / "envcheck"), "snapshot", "-o", "train.lock", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    fp = lockfile.read(tmp_path / "train.lock")
    tool = {p.name for p in fp.packages if p.tool}
    assert tool == {"envcheck", *RUNTIME} - {"packaging"}  # alpha needs packaging: the model's
    assert {p.name for p in fp.packages if not p.tool} == {"alpha", "beta", "packaging"}
    check = envcheck_here(
        "check",
        "train.lock",
        "--python",
        str(venvs["serving"]),
        "--fail-on",
        "low",
        "--format",
        "json",
        cwd=tmp_path,
    )
    assert check.returncode == 0, check.stdout + check.stderr
    assert json.loads(check.stdout)["findings"] == []


@pytest.mark.slow
def test_the_models_packages_missing_are_still_reported(venvs: Dict[str, Path], tmp_path: Path) -> None:
    done = run(str(venvs["training"].parent / "envcheck"), "snapshot", "-o", "train.lock", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    bare = tmp_path / "bare"
    venv.EnvBuilder(with_pip=False).create(bare)
    install_wheels(bare / "bin" / "python", "beta", find_links=venvs["wheels"])
    check = envcheck_here(
        "check", "train.lock", "--python", str(bare / "bin" / "python"), "--format", "json", cwd=tmp_path
    )
    missing = {f["subject"] for f in json.loads(check.stdout)["findings"] if f["id"].startswith("package.missing")}
    assert missing == {"alpha", "packaging"}


def _without_created_and_digest(text: str) -> List[str]:
    return [line for line in text.splitlines() if not line.startswith(("created = ", "digest = "))]


@pytest.mark.slow
def test_console_script_and_python_m_write_the_same_lockfile(venvs: Dict[str, Path], tmp_path: Path) -> None:
    """The console script runs with its shebang's interpreter name and its own folder first on sys.path;
    ``pythonX.Y -m envcheck`` with another name and the working directory there. Neither is part of the
    environment."""
    training = venvs["training"]
    a = run(str(training.parent / "envcheck"), "snapshot", "-o", "a.lock", cwd=tmp_path)
    named = training.parent / "python{}.{}".format(*sys.version_info[:2])  # neither the shebang's nor canonical
    assert named.is_file() and (training.parent / "envcheck").read_text().startswith(f"#!{training}\n")
    b = run(str(named), "-m", "envcheck", "snapshot", "-o", "b.lock", cwd=tmp_path)
    assert a.returncode == 0 and b.returncode == 0, a.stderr + b.stderr
    assert _without_created_and_digest((tmp_path / "a.lock").read_text()) == _without_created_and_digest(
        (tmp_path / "b.lock").read_text()
    )
    assert lockfile.read(tmp_path / "a.lock").python.executable == str(training.parent / "python3")


@pytest.mark.slow
def test_python_target_sees_the_callers_pythonpath(venvs: Dict[str, Path], tmp_path: Path) -> None:
    """A folder on PYTHONPATH that shadows an installed distribution is found in-process and through --python."""
    shadow = tmp_path / "shadow"
    make_dist_info(shadow, "beta", "9.9")
    env = {"PYTHONPATH": str(shadow)}
    training = venvs["training"]
    inside = run(str(training), "-c", "import envcheck; envcheck.snapshot('inside.lock')", cwd=tmp_path, env=env)
    assert inside.returncode == 0, inside.stderr
    outside = envcheck_here("snapshot", "--python", str(training), "-o", "outside.lock", cwd=tmp_path, env=env)
    assert outside.returncode == 0, outside.stderr
    a, b = lockfile.read(tmp_path / "inside.lock"), lockfile.read(tmp_path / "outside.lock")
    beta_inside, beta_outside = a.package("beta"), b.package("beta")
    assert beta_inside is not None and beta_outside is not None
    assert (beta_inside.version, beta_inside.shadowed) == ("9.9", ("2.1",))
    assert beta_outside == beta_inside
    assert a.packages == b.packages
    assert "PYTHONPATH (1 entries)" in b.source("packages").detail
    # without it, --python sees the venv alone
    plain = envcheck_here("snapshot", "--python", str(training), "-o", "plain.lock", cwd=tmp_path)
    assert plain.returncode == 0, plain.stderr
    beta_plain = lockfile.read(tmp_path / "plain.lock").package("beta")
    assert beta_plain is not None and (beta_plain.version, beta_plain.shadowed) == ("2.1", ())


#: The supported ways of reading the training venv: (name, snapshot command, check command), {lock} filled in.
def _ways(python: Path) -> Dict[str, Iterable[List[str]]]:
    console = str(python.parent / "envcheck")
    api_snap = "import envcheck; envcheck.snapshot({lock!r})"
    api_check = (
        "import sys, envcheck; r = envcheck.check({lock!r}, fail_on='low'); print(r.findings); "
        "sys.exit(r.return_code)"
    )
    return {
        "in-process": ([str(python), "-c", api_snap], [str(python), "-c", api_check]),
        "console-script": (
            [console, "snapshot", "-o", "{lock}"],
            [console, "check", "{lock}", "--fail-on", "low"],
        ),
        "python-m": (
            [str(python), "-m", "envcheck", "snapshot", "-o", "{lock}"],
            [str(python), "-m", "envcheck", "check", "{lock}", "--fail-on", "low"],
        ),
        "--python": (
            [sys.executable, "-m", "envcheck", "snapshot", "--python", str(python), "-o", "{lock}"],
            [sys.executable, "-m", "envcheck", "check", "{lock}", "--python", str(python), "--fail-on", "low"],
        ),
    }


def _fill(args: Iterable[str], lock: str) -> List[str]:
    return [a.format(lock=lock) for a in args]


@pytest.mark.slow
def test_a_snapshot_compared_with_itself_read_any_way_is_quiet(venvs: Dict[str, Path], tmp_path: Path) -> None:
    """Property: for each way of taking the snapshot and each way of checking, nothing at --fail-on low. A
    distribution on the caller's PYTHONPATH is part of the environment every way sees (were one way blind to
    it, checking that way would report it missing)."""
    extra = tmp_path / "extra"
    make_dist_info(extra, "gamma", "1.0")
    env = {"PYTHONPATH": str(extra)}
    ways = _ways(venvs["training"])
    failures = []
    for snap_name, (snap, _) in ways.items():
        lock = f"{snap_name.lstrip('-')}.lock"
        done = run(*_fill(snap, lock), cwd=tmp_path, env=env)
        assert done.returncode == 0, f"{snap_name}: {done.stderr}"
        for check_name, (_, check) in ways.items():
            result = run(*_fill(check, lock), cwd=tmp_path, env=env)
            if result.returncode != 0:
                failures.append(f"snapshot {snap_name}, check {check_name}: {result.stdout}{result.stderr}")
    assert failures == []
