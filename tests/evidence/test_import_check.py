"""The import check against a real venv whose packages raise, crash, hang, flood, leak and succeed at import,
and against the scikit-learn stack of this interpreter."""

from __future__ import annotations

import importlib.metadata
import socket
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import pytest

from envcheck.evidence import (
    EvidenceError,
    LocalRunner,
    ModuleResult,
    Network,
    Outcome,
    RunnerError,
    import_check,
)
from envcheck.evidence.local import namespace_prefix
from tests.evidence.conftest import PLANTED, PLANTED_NAME, site_packages

pytestmark = pytest.mark.slow


def _by_module(results: tuple[ModuleResult, ...]) -> dict[str, ModuleResult]:
    return {r.module: r for r in results}


def test_successful_import_reports_version_location_and_output(runner: LocalRunner, tiny_venv: Path) -> None:
    report = import_check(runner, ["okpkg", "viapth", "json"])
    ok, pth, stdlib = report.results
    assert ok.outcome is Outcome.OK and ok.ok
    assert ok.version == "1.2.3"
    assert ok.location == str(site_packages(tiny_venv) / "okpkg" / "__init__.py")
    assert ok.output == ("hello from okpkg",)
    assert ok.error is None and ok.elapsed_ms is not None and ok.elapsed_ms >= 0
    # site ran in the child: the candidate's .pth file put viapth's folder on sys.path
    assert pth.outcome is Outcome.OK and pth.version == "pth"
    assert stdlib.outcome is Outcome.OK
    assert report.ok and report.runs == 1
    assert report.python == ".".join(map(str, sys.version_info[:3]))
    assert report.executable is not None and report.executable.startswith(str(tiny_venv.parent.parent))


def test_errors_quote_the_type_and_the_last_line(runner: LocalRunner) -> None:
    results = _by_module(
        import_check(runner, ["numpylike", "dtypesize", "multiline", "quits", "nosuchmodule"]).results
    )
    assert results["numpylike"].error == "ImportError: numpy.core.multiarray failed to import"
    assert results["numpylike"].error_type == "ImportError"
    assert results["dtypesize"].error == (
        "ValueError: numpy.dtype size changed, may indicate binary incompatibility. "
        "Expected 96 from C header, got 88 from PyObject"
    )
    assert results["multiline"].error == "ImportError: the last line says why"
    assert results["quits"].error == "SystemExit: 4"
    assert results["nosuchmodule"].error == "ModuleNotFoundError: No module named 'nosuchmodule'"
    assert all(r.outcome is Outcome.ERROR for r in results.values())


def test_a_crash_costs_only_its_own_module(runner: LocalRunner) -> None:
    order = ["okpkg", "segv", "numpylike", "aborts", "exits", "json"]
    report = import_check(runner, order)
    results = _by_module(report.results)
    assert [r.module for r in report.results] == order
    assert results["segv"].outcome is Outcome.CRASHED
    assert results["segv"].error == "the interpreter crashed (signal 11, SIGSEGV) importing segv"
    # faulthandler in the child says where: the package's own line
    assert any("Segmentation fault" in line for line in results["segv"].output)
    assert any("segv" in line and "__init__.py" in line for line in results["segv"].output)
    assert results["aborts"].error == "the interpreter crashed (signal 6, SIGABRT) importing aborts"
    assert results["exits"].error == "the interpreter exited with status 7 importing exits"
    assert results["okpkg"].ok and results["json"].ok
    assert results["numpylike"].outcome is Outcome.ERROR
    assert report.runs == 4  # one child, then one after each module that killed it
    assert [r.module for r in report.failures] == ["segv", "numpylike", "aborts", "exits"]


def test_a_hang_is_a_timeout_and_the_rest_still_imports(runner: LocalRunner) -> None:
    report = import_check(runner, ["sleepy", "okpkg"], timeout=3)
    sleepy, ok = report.results
    assert sleepy.outcome is Outcome.TIMEOUT
    assert sleepy.error == "no answer within 3 s importing sleepy"
    assert sleepy.elapsed_ms is None
    assert ok.ok and report.runs == 2


def test_a_flood_of_output_is_cut_and_killed(runner: LocalRunner) -> None:
    report = import_check(runner, ["loud", "okpkg"], max_output=1 << 20)
    loud, ok = report.results
    assert loud.outcome is Outcome.OUTPUT_LIMIT
    assert loud.error == "printed more than 1048576 bytes; stopped there importing loud"
    assert sum(len(line) for line in loud.output) <= 30 * 2000
    assert ok.ok


def test_the_memory_limit_holds(tiny_venv: Path) -> None:
    limited = import_check(LocalRunner(str(tiny_venv), memory_limit=1 << 30), ["hog"])
    assert limited.results[0].error == "OSError: [Errno 12] Cannot allocate memory"
    assert limited.memory_limit == 1 << 30
    unlimited = import_check(LocalRunner(str(tiny_venv), memory_limit=None), ["hog"])
    assert unlimited.results[0].ok and unlimited.memory_limit is None


@pytest.fixture()
def listener() -> Iterator[socket.socket]:
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(5)
    server.setblocking(False)
    yield server
    server.close()


def _write_netcall(tiny_venv: Path, port: int) -> str:
    name = f"netcall_{port}"
    source = (
        "import socket\n"
        f"plain = socket.socket(); plain.settimeout(5); plain.connect(('127.0.0.1', {port}))\n"
        f"socket.create_connection(('localhost', {port}), timeout=5)\n"
        "print('connected')\n"
    )
    (site_packages(tiny_venv) / f"{name}.py").write_text(source, encoding="utf-8")
    return name


@pytest.mark.parametrize("network", [None, Network.SOCKET_GUARD], ids=["best-here", "socket-guard"])
def test_no_network(tiny_venv: Path, listener: socket.socket, network: Network | None) -> None:
    port = listener.getsockname()[1]
    name = _write_netcall(tiny_venv, port)
    # Control: the same module, imported without the check's isolation, does reach the listener.
    control = subprocess.run([str(tiny_venv), "-c", f"import {name}"], capture_output=True, text=True, timeout=30)
    assert "connected" in control.stdout, control.stderr
    listener.accept()[0].close()
    listener.accept()[0].close()

    report = import_check(LocalRunner(str(tiny_venv), network=network), [name])
    (result,) = report.results
    assert result.outcome is Outcome.ERROR
    assert result.error_type in ("OSError", "ConnectionRefusedError")
    assert "unreachable" in (result.error or "")
    with pytest.raises(BlockingIOError):
        listener.accept()  # nothing came through
    best = Network.NAMESPACE if namespace_prefix() is not None else Network.SOCKET_GUARD  # a namespace here
    assert report.network is (network or best)


def test_secrets_never_reach_the_child_nor_a_result(tiny_venv: Path) -> None:
    import os

    environ = {**os.environ, PLANTED_NAME: PLANTED, "OMP_NUM_THREADS": "3", "AWS_SECRET_ACCESS_KEY": PLANTED}
    report = import_check(LocalRunner(str(tiny_venv), environ=environ), ["leaky", "envdump"])
    leaky, envdump = report.results
    assert "from the environment: None" in leaky.output
    assert "literal: <redacted>" in leaky.output
    assert "password=<redacted>" in leaky.output
    assert leaky.error == "RuntimeError: cannot log in with token=<redacted>"
    names = next(line for line in envdump.output if line.startswith("names:")).split()[1:]
    assert "OMP_NUM_THREADS" in names and "PATH" in names
    assert PLANTED_NAME not in names and "AWS_SECRET_ACCESS_KEY" not in names
    assert set(names) <= {"OMP_NUM_THREADS", "PATH", "HOME", "LANG", "LC_CTYPE"} | {
        n for n in os.environ if n.startswith(("LC_", "KMP_", "CUDA_", "NVIDIA_"))
    }
    everything = repr(report)
    assert PLANTED not in everything and "Z9Z9Z9Z9" not in everything and "hunter2" not in everything


def test_printed_control_characters_are_escaped(runner: LocalRunner) -> None:
    (result,) = import_check(runner, ["escapes"]).results
    assert result.error == "ImportError: bad \\x1b[31m red"
    assert result.output == ("\\x1b]0;owned\\x07 \\u202e",)


def test_warnings_at_import_are_recorded(runner: LocalRunner) -> None:
    (result,) = import_check(runner, ["warns"]).results
    assert result.ok and result.warnings == ("UserWarning: this build is old",)


def test_names_are_checked_before_anything_runs(runner: LocalRunner) -> None:
    with pytest.raises(EvidenceError, match="not a module name: 'os; import sys'"):
        import_check(runner, ["json", "os; import sys"])
    empty = import_check(runner, [])
    assert empty.results == () and empty.runs == 0 and empty.python is None


def test_duplicates_are_imported_once(runner: LocalRunner) -> None:
    report = import_check(runner, ["json", "okpkg", "json"])
    assert [r.module for r in report.results] == ["json", "okpkg"]


def test_a_missing_interpreter_is_a_runner_error(tmp_path: Path) -> None:
    with pytest.raises(RunnerError, match="no such interpreter"):
        import_check(LocalRunner(str(tmp_path / "python")), ["json"])


def test_an_interpreter_that_cannot_run_the_check(tmp_path: Path) -> None:
    fake = tmp_path / "python"
    fake.write_text("#!/bin/sh\necho 'error while loading shared libraries: libpython3.so' >&2\nexit 127\n")
    fake.chmod(0o755)
    with pytest.raises(RunnerError, match=r"did not start the check \(the interpreter exited with status 127\)"):
        import_check(LocalRunner(str(fake)), ["json"])


def test_the_scikit_learn_stack_imports() -> None:
    """The budget (under 5 s here) is measured and reported, not asserted."""
    report = import_check(LocalRunner(sys.executable), ["sklearn", "numpy", "scipy", "joblib"])
    results = _by_module(report.results)
    assert report.ok, report.failures
    assert results["sklearn"].version == importlib.metadata.version("scikit-learn")
    assert results["numpy"].version == importlib.metadata.version("numpy")
    assert results["joblib"].version == importlib.metadata.version("joblib")
    assert report.runs == 1
