"""Every failure is one line, and a crash is not "drift": EnvcheckError -> exit 2, anything else -> exit 3."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, Optional

import pytest
from click.testing import CliRunner, Result

import envcheck.compare as compare_module
from envcheck import capture, cli, lockfile
from envcheck.atomic import WriteError
from envcheck.collect.models import ModelPathError
from envcheck.errors import EnvcheckError
from envcheck.model import FingerprintDataError
from envcheck.policy import PolicyError
from envcheck.report.interface import ReportError, UnknownFormatError
from envcheck.targets.archive import ArchiveError
from envcheck.targets.interface import TargetError
from envcheck.targets.rootfs import RootError
from envcheck.tomlfile import TomlFileError
from tests.conftest import H200

LOCK = H200 / "envcheck.lock"


def run(*args: str, env: Optional[Dict[str, str]] = None) -> Result:
    """The CLI in this process (so that something deep inside can be made to fail), as a user runs it."""
    try:
        runner = CliRunner(mix_stderr=False)  # type: ignore[call-arg]  # click < 8.2 (Python 3.9)
    except TypeError:
        runner = CliRunner()  # click >= 8.2 keeps stderr apart by itself
    return runner.invoke(cli.cli, list(args), env=env, catch_exceptions=False)


def lines(text: str) -> list[str]:
    return text.strip().splitlines()


@pytest.mark.parametrize(
    "error",
    [
        lockfile.LockfileError,
        PolicyError,
        TargetError,
        RootError,
        ArchiveError,
        ModelPathError,
        ReportError,
        UnknownFormatError,
        FingerprintDataError,
        WriteError,
        TomlFileError,
    ],
    ids=lambda e: e.__name__,
)
def test_every_expected_error_is_an_envcheck_error(error: type) -> None:
    assert issubclass(error, EnvcheckError)


def test_any_envcheck_error_from_deep_inside_is_one_line_and_exit_2(monkeypatch: pytest.MonkeyPatch) -> None:
    """The mapping is by the base class, so an error class the CLI has never heard of is still exit 2."""

    class NewKindOfError(EnvcheckError):
        pass

    def boom(*args: Any, **kwargs: Any) -> Any:
        raise NewKindOfError("the collector could not read its thing\nsecond line from the environment")

    monkeypatch.setattr(capture, "take", boom)
    result = run("snapshot", "-o", "-")
    assert result.exit_code == 2
    assert lines(result.stderr) == [
        "envcheck: error: the collector could not read its thing\\nsecond line from the environment"
    ]
    assert result.stdout == ""


@pytest.mark.parametrize("command", ["show", "verify", "diff", "check"])
def test_an_unexpected_exception_is_an_internal_error_exit_3(
    command: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A KeyError deep in lockfile parsing: one line that names it and asks for a bug report, never exit 1."""

    def boom(*args: Any, **kwargs: Any) -> Any:
        raise KeyError("no-such-key")

    monkeypatch.setattr(lockfile, "from_data", boom)
    monkeypatch.delenv("ENVCHECK_DEBUG", raising=False)
    args = {"show": [str(LOCK)], "verify": [str(LOCK)], "diff": [str(LOCK), str(LOCK)], "check": [str(LOCK)]}
    result = run(command, *args[command])
    assert result.exit_code == 3
    (line,) = lines(result.stderr)
    assert line.startswith("envcheck: internal error: KeyError: 'no-such-key'")
    assert "bug" in line and "--debug" in line
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("how", ["--debug", "ENVCHECK_DEBUG=1"])
def test_debug_prints_the_traceback(how: str, monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*args: Any, **kwargs: Any) -> Any:
        raise KeyError("deep")

    monkeypatch.setattr(lockfile, "from_data", boom)
    monkeypatch.delenv("ENVCHECK_DEBUG", raising=False)
    if how == "--debug":
        result = run("--debug", "show", str(LOCK))
    else:
        result = run("show", str(LOCK), env={"ENVCHECK_DEBUG": "1"})
    assert result.exit_code == 3
    assert "Traceback (most recent call last)" in result.stderr
    assert "in boom" in result.stderr  # the frame that raised
    assert lines(result.stderr)[-1].startswith("envcheck: internal error: KeyError: 'deep'")


def test_envcheck_debug_off_values_keep_the_traceback_hidden(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lockfile, "from_data", lambda *a, **k: {}["x"])
    for value in ("0", "false", "", "no"):
        result = run("show", str(LOCK), env={"ENVCHECK_DEBUG": value})
        assert result.exit_code == 3 and "Traceback" not in result.stderr, value


def test_an_internal_error_in_a_report_is_exit_3_not_drift(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Before: an exception after the comparison could leave exit 1, which CI reads as "drift found"."""

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise AttributeError("'NoneType' object has no attribute 'version'")

    monkeypatch.setattr(compare_module, "compare", broken)  # api.diff imports it when it runs
    result = run("diff", str(LOCK), str(LOCK), "-o", str(tmp_path / "r.txt"))
    assert result.exit_code == 3
    assert not (tmp_path / "r.txt").exists()


def test_keyboard_interrupt_is_not_drift(monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted(*args: Any, **kwargs: Any) -> Any:
        raise KeyboardInterrupt

    monkeypatch.setattr(lockfile, "from_data", interrupted)
    result = run("show", str(LOCK))
    assert result.exit_code == 130
    assert lines(result.stderr) == ["envcheck: interrupted"]


def test_usage_errors_stay_click_usage_errors() -> None:
    result = run("show")
    assert result.exit_code == 2 and "Missing argument" in result.stderr


def test_internal_error_as_a_real_process(tmp_path: Path) -> None:
    """The console entry point, in its own process: exit 3 and one line, also where stderr is not a terminal."""
    code = (
        "import sys, envcheck.lockfile as l\n"
        "def boom(*a, **k): raise ZeroDivisionError('division by zero')\n"
        "l.from_data = boom\n"
        "from envcheck.cli import main\n"
        f"main(['show', {str(LOCK)!r}])\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "ENVCHECK_DEBUG"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 3, done.stderr
    (line,) = lines(done.stderr)
    assert "internal error: ZeroDivisionError: division by zero" in line


def test_a_closed_stdout_is_exit_2_not_drift() -> None:
    """The reader of a pipe went away (``envcheck rules | true``): click's default would be exit 1, "drift"."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "envcheck", "rules"], stdout=write_end, stderr=subprocess.PIPE, timeout=120
        )
    finally:
        os.close(write_end)
    assert done.returncode == 2
    assert done.stderr.decode().strip().splitlines() == [
        "envcheck: error: standard output was closed before all of it was written (broken pipe)"
    ]


def test_an_error_message_is_one_printable_line_whatever_it_quotes() -> None:
    """A policy key, path or member name can hold a newline or an escape sequence: str() of any EnvcheckError
    shows them escaped (found by the policy fuzz target: a quoted TOML key with a newline in it)."""
    from envcheck.policy import PolicyError

    e = PolicyError('envcheck.toml: rules."a\nb\x1b[31m": no such rule')
    assert str(e) == 'envcheck.toml: rules."a\\nb\\x1b[31m": no such rule'
    assert str(PolicyError("plain")) == "plain"
