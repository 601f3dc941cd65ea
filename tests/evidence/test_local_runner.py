"""LocalRunner's environment, network choice and the command it runs."""

from __future__ import annotations

import sys

import pytest

from envcheck.evidence import LocalRunner, Network, RunnerError
from envcheck.evidence.local import BOOTSTRAP, GUARDED_BOOTSTRAP, child_env, namespace_prefix


def test_child_env_is_the_allow_list_plus_path_home_lang() -> None:
    environ = {
        "PATH": "/usr/bin",
        "HOME": "/home/u",
        "LANG": "C.UTF-8",
        "OMP_NUM_THREADS": "4",
        "CUDA_VISIBLE_DEVICES": "0",
        "LC_ALL": "C",
        "KMP_AFFINITY": "token=abcdefgh12345",
        "AWS_SECRET_ACCESS_KEY": "x",
        "GITHUB_TOKEN": "y",
        "LD_PRELOAD": "/tmp/evil.so",
        "PYTHONPATH": "/tmp",
        "MY_SETTING": "z",
    }
    assert child_env(environ) == {
        "PATH": "/usr/bin",
        "HOME": "/home/u",
        "LANG": "C.UTF-8",
        "OMP_NUM_THREADS": "4",
        "CUDA_VISIBLE_DEVICES": "0",
        "LC_ALL": "C",
        "KMP_AFFINITY": "token=<redacted>",
    }
    extra = child_env(environ, ["MY_SETTING", "GITHUB_TOKEN"])
    assert extra["MY_SETTING"] == "z" and "GITHUB_TOKEN" not in extra


def test_the_guard_is_only_where_there_is_no_namespace() -> None:
    assert "socket" not in BOOTSTRAP
    assert "getaddrinfo" in GUARDED_BOOTSTRAP
    compile(GUARDED_BOOTSTRAP, "bootstrap", "exec")


@pytest.mark.slow
def test_the_best_network_cut_is_used() -> None:
    """A namespace where unshare can make one (it can on this machine and in CI), else the guard."""
    prefix = namespace_prefix()
    assert prefix is None or prefix[1] == "--net"
    done = LocalRunner(sys.executable).run("print('hi')", [], 30, 1000)
    assert done.network is (Network.SOCKET_GUARD if prefix is None else Network.NAMESPACE)
    assert done.stdout == "hi\n"
    guarded = LocalRunner(sys.executable, network=Network.SOCKET_GUARD).run("print('hi')", [], 30, 1000)
    assert guarded.network is Network.SOCKET_GUARD and guarded.stdout == "hi\n"


def test_no_unshare_means_no_namespace() -> None:
    assert namespace_prefix("envcheck-no-such-unshare") is None


@pytest.mark.slow
def test_a_namespace_asked_for_where_none_can_be_made(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("envcheck.evidence.local.namespace_prefix", lambda **_: None)
    with pytest.raises(RunnerError, match="no network namespace can be made here"):
        LocalRunner(sys.executable, network=Network.NAMESPACE).run("pass", [], 10, 100)
    fallback = LocalRunner(sys.executable).run("import socket; print(socket.getaddrinfo)", [], 10, 1000)
    assert fallback.network is Network.SOCKET_GUARD and "_envcheck_no_network" in fallback.stdout


def test_describe_is_exhaustive() -> None:
    for member in Network:
        assert member.describe()


def test_a_relative_interpreter_path_is_taken_from_the_caller_s_folder(monkeypatch: pytest.MonkeyPatch) -> None:
    """The child starts in a folder of its own: ``--python ../venv/bin/python`` still names the caller's file."""
    import os
    import sys

    here = os.path.dirname(sys.executable)
    monkeypatch.chdir(here)
    runner = LocalRunner(os.path.join(".", os.path.basename(sys.executable)))
    assert runner.executable == os.path.join(here, os.path.basename(sys.executable))
    done = runner.run("print('ran')", [], timeout=60, max_output=1 << 16)
    assert done.returncode == 0 and "ran" in done.stdout
