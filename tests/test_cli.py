"""The command line, run as a user runs it: real processes, real files, exit codes and one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from envcheck import lockfile

SECRET = "wJalrXUtnFEMI-PLANTED-SECRET-K7MDENG"


def envcheck(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "envcheck", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=full_env,
        timeout=120,
    )


@pytest.fixture(scope="module")
def snap(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess[str]]:
    """One real snapshot of this interpreter, with a planted secret in the environment."""
    work = tmp_path_factory.mktemp("snap")
    model = work / "model"
    model.mkdir()
    (model / "weights.bin").write_bytes(b"\x00\x01" * 1000)
    (model / "config.json").write_text("{}")
    env = {"AWS_SECRET_ACCESS_KEY": SECRET, "OMP_NUM_THREADS": "3", "MY_FEATURE_FLAG": "on"}
    proc = envcheck(
        "snapshot",
        "--model",
        "model",
        "--env",
        "MY_FEATURE_FLAG",
        "--env",
        "AWS_SECRET_ACCESS_KEY",
        cwd=work,
        env=env,
    )
    return work, proc


def test_snapshot_writes_lockfile_and_summary(snap: tuple[Path, subprocess.CompletedProcess[str]]) -> None:
    work, proc = snap
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("wrote envcheck.lock (sha256:")
    assert "packages" in proc.stdout and "distributions" in proc.stdout
    fp = lockfile.read(work / "envcheck.lock")
    assert fp.meta.target == "local"
    assert fp.python.version == ".".join(map(str, sys.version_info[:3]))
    assert fp.package("click") is not None
    assert fp.package("envcheck") is not None
    assert fp.env.variables["OMP_NUM_THREADS"] == "3"
    assert fp.env.variables["MY_FEATURE_FLAG"] == "on"
    assert [m.path for m in fp.models] == ["model/config.json", "model/weights.bin"]
    assert fp.models[1].size == 2000
    assert fp.source("cpu").status == "ok"


def test_planted_secret_never_written(snap: tuple[Path, subprocess.CompletedProcess[str]]) -> None:
    work, proc = snap
    text = (work / "envcheck.lock").read_text()
    shown = envcheck("show", "envcheck.lock", cwd=work)
    shown_json = envcheck("show", "envcheck.lock", "--format", "json", cwd=work)
    for output in (text, proc.stdout, proc.stderr, shown.stdout, shown.stderr, shown_json.stdout):
        assert SECRET not in output
    assert "AWS_SECRET_ACCESS_KEY" in lockfile.read(work / "envcheck.lock").env.redacted


def test_show_json_has_the_documented_keys(snap: tuple[Path, subprocess.CompletedProcess[str]]) -> None:
    work, _ = snap
    proc = envcheck("show", "envcheck.lock", "--format", "json", cwd=work)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert {"os", "python", "packages", "cpu", "memory", "gpu", "env", "meta", "native", "models"} <= set(data)
    assert all({"name", "version"} <= set(p) for p in data["packages"])
    assert data["meta"]["schema"] == 1


def test_show_text(snap: tuple[Path, subprocess.CompletedProcess[str]]) -> None:
    work, _ = snap
    proc = envcheck("show", "envcheck.lock", cwd=work)
    assert proc.returncode == 0
    assert "packages:" in proc.stdout
    assert "click==" in proc.stdout


def test_two_snapshots_differ_only_in_created_and_digest(tmp_path: Path) -> None:
    envcheck("snapshot", "-o", "a.lock", cwd=tmp_path)
    envcheck("snapshot", "-o", "b.lock", cwd=tmp_path)
    a = (tmp_path / "a.lock").read_text().splitlines()
    b = (tmp_path / "b.lock").read_text().splitlines()
    changed = [(x, y) for x, y in zip(a, b) if x != y]
    assert len(a) == len(b)
    assert all(x.startswith(("created = ", "digest = ")) for x, _ in changed), changed


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("show", "missing.lock"), "missing.lock: no such lockfile"),
        (("show", "tampered.lock"), "does not match its digest"),
        (("show", "garbage.lock"), "not valid TOML"),
        (("show", "future.lock"), "schema 2 is not supported"),
        (("snapshot", "--model", "no-such-model.bin"), "no-such-model.bin: no such model file or folder"),
        (("snapshot", "--python", "/no/such/python"), "--python /no/such/python: no such file"),
        (("snapshot", "--python", "/bin/true"), "the probe printed no JSON"),
        (("snapshot", "-o", "/no/such/dir/x.lock"), "cannot write"),
    ],
    ids=[
        "missing",
        "tampered",
        "garbage",
        "future-schema",
        "missing-model",
        "missing-python",
        "not-python",
        "unwritable",
    ],
)
def test_errors_are_one_line_and_exit_2(
    args: tuple[str, ...], message: str, snap: tuple[Path, subprocess.CompletedProcess[str]], tmp_path: Path
) -> None:
    work, _ = snap
    good = (work / "envcheck.lock").read_text()
    (tmp_path / "tampered.lock").write_text(good.replace('system = "Linux"', 'system = "Linuks"'))
    (tmp_path / "garbage.lock").write_text("[[[ not toml")
    (tmp_path / "future.lock").write_text("[meta]\nschema = 2\n")
    proc = envcheck(*args, cwd=tmp_path)
    assert proc.returncode == 2
    assert message in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert "Traceback" not in proc.stderr


def test_ignore_digest_reads_tampered(snap: tuple[Path, subprocess.CompletedProcess[str]], tmp_path: Path) -> None:
    work, _ = snap
    good = (work / "envcheck.lock").read_text()
    (tmp_path / "t.lock").write_text(good.replace('system = "Linux"', 'system = "Linuks"'))
    proc = envcheck("show", "t.lock", "--ignore-digest", "--format", "json", cwd=tmp_path)
    assert proc.returncode == 0
    assert json.loads(proc.stdout)["os"]["system"] == "Linuks"


def test_console_script_and_module_agree(tmp_path: Path) -> None:
    exe = Path(sys.executable).parent / "envcheck"
    if not exe.exists():  # an interpreter whose scripts live elsewhere: find it through PATH
        exe = Path(
            subprocess.run(["which", "envcheck"], capture_output=True, text=True, check=True).stdout.strip()
        )
    a = subprocess.run([str(exe), "--version"], capture_output=True, text=True, check=True).stdout
    b = envcheck("--version", cwd=tmp_path).stdout
    assert a == b and "envcheck" in a


def test_capture_imports_no_numerical_framework(tmp_path: Path) -> None:
    """Capture reads metadata only: importing numpy or torch would cost seconds and change the process."""
    code = (
        "import sys, envcheck.capture as c\n"
        "from envcheck.targets import LocalTarget\n"
        "c.take(LocalTarget())\n"
        "bad = sorted(m for m in ('numpy', 'torch', 'tensorflow', 'jax', 'scipy') if m in sys.modules)\n"
        "print(','.join(bad))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, check=True)
    assert proc.stdout.strip() == ""


def test_readme_rulebook_table_is_current() -> None:
    """The README's rulebook is `envcheck rules --format markdown`; regenerate it when a rule changes."""
    from envcheck.show import render_rules

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    assert render_rules("markdown") in readme


def test_ci_examples_and_hooks_are_well_formed() -> None:
    """The shipped GitHub Actions, GitLab CI and pre-commit files parse and run the documented commands."""
    import yaml

    root = Path(__file__).resolve().parent.parent
    hooks = yaml.safe_load((root / ".pre-commit-hooks.yaml").read_text())
    assert {h["id"] for h in hooks} == {"envcheck-lockfile", "envcheck-check"}
    assert all({"id", "name", "entry", "language"} <= set(h) for h in hooks)
    assert next(h for h in hooks if h["id"] == "envcheck-lockfile")["entry"] == "envcheck verify"
    workflow = yaml.safe_load((root / "examples/github-actions.yml").read_text())
    steps = [s.get("run", "") for s in workflow["jobs"]["environment-drift"]["steps"]]
    assert any("envcheck check" in run and "--image" in run for run in steps)
    gitlab = yaml.safe_load((root / "examples/gitlab-ci.yml").read_text())
    assert gitlab["envcheck"]["artifacts"]["reports"]["junit"] == "envcheck.xml"


def test_verify_accepts_good_and_refuses_edited_lockfiles(
    snap: tuple[Path, subprocess.CompletedProcess[str]], tmp_path: Path
) -> None:
    work, _ = snap
    ok = envcheck("verify", str(work / "envcheck.lock"), cwd=tmp_path)
    assert ok.returncode == 0 and ok.stdout.startswith("ok: ")
    edited = tmp_path / "edited.lock"
    edited.write_text((work / "envcheck.lock").read_text().replace('system = "Linux"', 'system = "Linux2"'))
    bad = envcheck("verify", str(work / "envcheck.lock"), str(edited), cwd=tmp_path)
    assert bad.returncode == 2 and "does not match its digest" in bad.stderr


def test_provisioning_happens_once_before_pytest_never_in_fixtures() -> None:
    """The README's test command and .ci/run call scripts/test, which provisions and then runs pytest; no test
    installs anything (a fixture only checks, and fails naming scripts/test)."""
    root = Path(__file__).resolve().parent.parent
    readme = (root / "README.md").read_text()
    command = "python3 -m venv .venv && . .venv/bin/activate && pip install -q -e '.[test]' && scripts/test"
    assert f"```sh\n{command}\n```" in readme
    assert command in (root / ".ci" / "run").read_text()
    fast = '. .venv/bin/activate && pytest -m "not docker and not slow and not promtool and not chromium"'
    assert f"```sh\n{fast}\n```" in readme
    script = (root / "scripts" / "test").read_text().splitlines()
    steps = [line for line in script if line and not line.startswith("#")]
    assert steps[-4:] == [
        'bash "$here/ensure-docker"',
        'bash "$here/ensure-promtool" >/dev/null',
        'bash "$here/ensure-chromium" >/dev/null',
        'exec python -m pytest "$@"',
    ]
    assert os.access(root / "scripts" / "test", os.X_OK)
    for test_file in sorted((root / "tests").rglob("*.py")):
        if test_file.name == "test_cli.py":
            continue
        text = test_file.read_text()
        for installer in ('"ensure-docker"', '"ensure-promtool"', '/ "ensure-', "apt-get"):
            assert installer not in text, f"{test_file.relative_to(root)} provisions ({installer})"


def test_a_missing_service_fails_the_fixture_naming_scripts_test(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.conftest import require_docker, require_promtool

    monkeypatch.setenv("PATH", str(tmp_path))  # neither docker nor promtool
    with pytest.raises(pytest.fail.Exception, match="no docker command on PATH: run scripts/test"):
        require_docker()
    with pytest.raises(pytest.fail.Exception, match="no promtool on PATH: run scripts/test"):
        require_promtool()
    docker = tmp_path / "docker"  # an engine without the base image
    docker.write_text("#!/bin/sh\necho 'Error: No such image: envcheck-test-base:bookworm' >&2\nexit 1\n")
    docker.chmod(0o755)
    with pytest.raises(pytest.fail.Exception, match=r"\(Error: No such image: .*\): run scripts/test"):
        require_docker()
