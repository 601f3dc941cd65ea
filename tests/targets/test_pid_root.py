"""--pid, --process-match and --root against real processes and trees on this machine."""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import venv
from pathlib import Path
from typing import Iterator

import pytest

from envcheck import capture, lockfile
from envcheck.targets.interface import TargetError
from envcheck.targets.pid import PidTarget, find_processes, parse_environ
from envcheck.targets.python import PythonTarget
from envcheck.targets.root import RootTarget
from envcheck.tree import Tree
from tests.conftest import build_wheel, install_wheels

SECRET = "sk-live-PLANTED-IN-PROCESS-ENV"
MARK = "envcheck-test-server-7f3a"


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), capture_output=True, text=True, timeout=300, check=False, env=env)


@pytest.fixture(scope="module")
def server_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("pid")
    wheels = root / "wheels"
    build_wheel(wheels, "servelib", "1.2.0", requires=["helperlib>=0.1"])
    build_wheel(wheels, "helperlib", "0.3.1")
    env = root / "venv"
    venv.EnvBuilder(with_pip=False).create(env)
    python = env / "bin" / "python"
    install_wheels(python, "servelib", find_links=wheels)
    return python


@pytest.fixture()
def server(server_venv: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A long-running 'model server' process in the venv, with a secret and a numerics variable set."""
    env = {
        "PATH": f"{server_venv.parent}:/usr/bin:/bin",
        "OMP_NUM_THREADS": "2",
        "AWS_SECRET_ACCESS_KEY": SECRET,
        "HOME": "/root",
    }
    proc = subprocess.Popen(
        ["python", "-c", f"import sys, time  # {MARK}\nprint('ready', flush=True)\ntime.sleep(120)"],
        env=env,
        stdout=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stdout.readline() == b"ready\n"  # started: its site has run
    proc.stdout.close()
    yield proc
    proc.kill()
    proc.wait()


@pytest.mark.slow
def test_pid_reads_the_same_environment_as_the_interpreter(
    server: subprocess.Popen[bytes], server_venv: Path
) -> None:
    by_pid = capture.take(PidTarget(server.pid))
    by_python = capture.take(PythonTarget(str(server_venv)))
    assert by_pid.packages == by_python.packages
    assert [p.name for p in by_pid.packages] == ["helperlib", "servelib"]
    assert by_pid.os == by_python.os
    assert dataclasses.replace(by_pid.python, executable="") == dataclasses.replace(
        by_python.python, executable=""
    )
    assert by_pid.python.in_venv
    assert by_pid.cpu == by_python.cpu and by_pid.memory == by_python.memory
    assert by_pid.env.variables["OMP_NUM_THREADS"] == "2"  # the process's environment, not ours
    assert by_pid.meta.target == f"pid:{server.pid}"


@pytest.mark.slow
def test_pid_never_writes_the_processes_secret(server: subprocess.Popen[bytes], tmp_path: Path) -> None:
    out = tmp_path / "pid.lock"
    proc = run(
        sys.executable,
        "-m",
        "envcheck",
        "snapshot",
        "--pid",
        str(server.pid),
        "--env",
        "AWS_SECRET_ACCESS_KEY",
        "-o",
        str(out),
    )
    assert proc.returncode == 0, proc.stderr
    assert SECRET not in out.read_text() + proc.stdout + proc.stderr
    assert lockfile.read(out).env.redacted == ("AWS_SECRET_ACCESS_KEY",)


@pytest.mark.slow
def test_process_match_finds_the_server(server: subprocess.Popen[bytes]) -> None:
    assert PidTarget.matching(MARK).pid == server.pid
    assert [pid for pid, _ in find_processes(MARK)] == [server.pid]


@pytest.mark.slow
def test_check_by_pid_catches_a_drift(server: subprocess.Popen[bytes], server_venv: Path, tmp_path: Path) -> None:
    lock = tmp_path / "train.lock"
    assert (
        run(sys.executable, "-m", "envcheck", "snapshot", "--python", str(server_venv), "-o", str(lock)).returncode
        == 0
    )
    site = next(server_venv.parent.parent.glob("lib/python3*/site-packages"))
    meta = site / "helperlib-0.3.1.dist-info"
    backup = tmp_path / "backup"
    shutil.copytree(meta, backup)
    moved = site / "helperlib-0.4.0.dist-info"
    meta.rename(moved)  # the server's environment drifts under it: helperlib 0.3.1 -> 0.4.0
    (moved / "METADATA").write_text((moved / "METADATA").read_text().replace("0.3.1", "0.4.0"))
    try:
        proc = run(
            sys.executable,
            "-m",
            "envcheck",
            "check",
            str(lock),
            "--pid",
            str(server.pid),
            "--format",
            "json",
            "--fail-on",
            "low",
        )
        assert proc.returncode == 1, proc.stderr
        assert '"package.version.minor"' in proc.stdout and '"helperlib"' in proc.stdout
    finally:
        shutil.rmtree(moved)
        shutil.copytree(backup, meta)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--pid", "999999"), "--pid 999999: no such process (it has exited?)"),
        (("--process-match", "no-such-process-[0-9]{40}"), "no running process matches"),
        (("--process-match", "(unclosed"), "not a valid regular expression"),
        (("--pid", "1", "--python", "/x"), "give at most one target option, not --python, --pid"),
        (("--root", "/nonexistent-tree"), "--root /nonexistent-tree: /nonexistent-tree: not a folder"),
    ],
    ids=["exited", "no-match", "bad-regex", "two-targets", "no-root"],
)
def test_target_errors_are_one_line(args: tuple[str, ...], message: str, tmp_path: Path) -> None:
    proc = run(sys.executable, "-m", "envcheck", "snapshot", *args, "-o", str(tmp_path / "x.lock"))
    assert proc.returncode == 2
    assert message in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr


def test_not_a_python_process() -> None:
    sleeper = subprocess.Popen(["sleep", "30"])
    try:
        with pytest.raises(TargetError, match=f"--pid {sleeper.pid}: not a Python process"):
            PidTarget(sleeper.pid).probe()
    finally:
        sleeper.kill()
        sleeper.wait()


def test_permission_denied_names_what_is_needed(monkeypatch: pytest.MonkeyPatch) -> None:
    """As root nothing is denied here, so the kernel's answer for another user's process is replayed."""
    real_open = open

    def deny(path: object, *args: object, **kwargs: object) -> object:
        if str(path).endswith("/environ"):
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, *args, **kwargs)  # type: ignore[call-overload]

    monkeypatch.setattr("builtins.open", deny)
    with pytest.raises(
        TargetError, match="permission denied reading /proc/1/environ: run envcheck as the same user"
    ):
        PidTarget(1).probe()


def test_parse_environ_keeps_only_what_it_needs() -> None:
    raw = b"\0".join(
        [
            b"PATH=/opt/venv/bin:/usr/bin",
            b"OMP_NUM_THREADS=4",
            b"DB_PASSWORD=hunter2",
            b"RANDOM_THING=x",
            b"AWS_SECRET_ACCESS_KEY=abc",
        ]
    )
    got = parse_environ(raw, keep=["AWS_SECRET_ACCESS_KEY"])
    assert got == {"PATH": "/opt/venv/bin:/usr/bin", "OMP_NUM_THREADS": "4", "AWS_SECRET_ACCESS_KEY": ""}


def test_resolve_follows_links_inside_the_tree(tmp_path: Path) -> None:
    (tmp_path / "usr/bin").mkdir(parents=True)
    (tmp_path / "usr/bin/python3.11").write_text("")
    os.symlink("python3.11", tmp_path / "usr/bin/python3")
    os.symlink("/usr/bin/python3", tmp_path / "usr/bin/python")  # absolute: must stay in the tree
    os.symlink("usr/bin", tmp_path / "bin")
    assert Tree(str(tmp_path)).resolve("/bin/python") == "/usr/bin/python3.11"


def test_root_reads_a_copied_interpreter(tmp_path: Path) -> None:
    """A tree holding a copy of this interpreter and its stdlib metadata reads like the interpreter itself."""
    prefix = Path(sys.base_prefix)
    minor = f"python{sys.version_info[0]}.{sys.version_info[1]}"
    tree = tmp_path / "tree"
    (tree / "usr/local/bin").mkdir(parents=True)
    shutil.copy2(Path(sys.executable).resolve(), tree / "usr/local/bin" / minor)
    os.symlink(minor, tree / "usr/local/bin/python3")
    (tree / "usr/local/lib").mkdir(parents=True)
    libpython = prefix / "lib" / f"lib{minor}.so.1.0"
    if libpython.exists():  # a shared-library build keeps its version string there
        shutil.copy2(libpython, tree / "usr/local/lib" / libpython.name)
    stdlib = tree / "usr/local/lib" / minor
    (stdlib / "site-packages").mkdir(parents=True)
    for data in Path(sysconfig.get_paths()["stdlib"]).glob("_sysconfigdata_*.py"):
        shutil.copy2(data, stdlib / data.name)
    libc = Path("/lib/x86_64-linux-gnu/libc.so.6")
    (tree / "lib/x86_64-linux-gnu").mkdir(parents=True)
    shutil.copy2(libc, tree / "lib/x86_64-linux-gnu/libc.so.6")
    (tree / "etc").mkdir()
    shutil.copy2("/etc/os-release", tree / "etc/os-release")
    site = stdlib / "site-packages"
    (site / "demo-1.0.dist-info").mkdir()
    (site / "demo-1.0.dist-info/METADATA").write_text("Metadata-Version: 2.1\nName: demo\nVersion: 1.0\n")
    # Only Debian's own Python (prefix /usr) reads Debian's dist-packages; this one, in /usr/local, does not.
    debian = tree / "usr/lib/python3/dist-packages/debianonly-1.0.dist-info"
    debian.mkdir(parents=True)
    (debian / "METADATA").write_text("Metadata-Version: 2.1\nName: debianonly\nVersion: 1.0\n")
    fp = capture.take(RootTarget(str(tree)))
    assert [(p.name, p.version) for p in fp.packages] == [("demo", "1.0")]
    assert fp.python.version == ".".join(map(str, sys.version_info[:3]))
    assert fp.python.best_tag == capture.take(PythonTarget(sys.executable)).python.best_tag
    assert fp.source("cpu").status == "not inspected"
    assert fp.os.libc_family == "glibc"


def test_pid_target_reads_the_gpu_driver_through_the_targets_root(tmp_path: Path) -> None:
    """A sidecar without the GPU (no NVML, no nvidia-smi here) still sees the driver through the model server's
    mount namespace: /proc/PID/root/proc/driver/nvidia, replayed from the H200."""
    from envcheck.collect.gpu import GpuCollector
    from tests.conftest import H200

    shutil.copytree(H200 / "proc-driver-nvidia", tmp_path / "4242/root/proc/driver/nvidia")
    target = PidTarget(4242, proc_root=str(tmp_path))
    gpu = next(c for c in target.hardware() if isinstance(c, GpuCollector)).collect()
    assert gpu.source.status == "ok" and gpu.source.detail.startswith("/proc/driver/nvidia")
    assert gpu.value.driver_version == "580.159.04"
    assert [d.name for d in gpu.value.devices] == ["NVIDIA H200"]


# --- the kernels another process's OpenBLAS chose ----------------------------------------------------------------

# The process reports its own answer, asking its loaded OpenBLAS directly (threadpoolctl's way), then waits.
NUMPY_SERVER = """\
import ctypes, sys
import numpy
path = next(line.split()[-1] for line in open("/proc/self/maps") if "openblas" in line.rsplit("/", 1)[-1])
lib = ctypes.CDLL(path, mode=ctypes.RTLD_GLOBAL)
for symbol in ("openblas_get_corename", "scipy_openblas_get_corename64_", "scipy_openblas_get_corename"):
    func = getattr(lib, symbol, None)
    if func is not None:
        func.restype = ctypes.c_char_p
        print(func().decode(), flush=True)
        break
sys.stdin.read()
"""


# Sandybridge is not what OpenBLAS picks on the machines this runs on (Haswell, SkylakeX, Zen...): only the
# process's OPENBLAS_CORETYPE makes the child answer it.
@pytest.mark.parametrize("coretype", ["", "Sandybridge"], ids=["cpu-detected", "OPENBLAS_CORETYPE"])
def test_pid_records_the_kernels_the_processs_openblas_chose(coretype: str) -> None:
    env = {"PATH": "/usr/bin:/bin", **({"OPENBLAS_CORETYPE": coretype} if coretype else {})}
    with subprocess.Popen(
        [sys.executable, "-c", NUMPY_SERVER], env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    ) as proc:
        try:
            assert proc.stdout is not None
            own_answer = proc.stdout.readline().strip()
            fp = capture.take(PidTarget(proc.pid, blas_kernels=True), hardware=lambda: ())
            by_default = capture.take(PidTarget(proc.pid), hardware=lambda: ())
            lock = str(Path(tempfile.mkdtemp()) / "pid.lock")
            cli = run(
                sys.executable, "-m", "envcheck", "snapshot", "--pid", str(proc.pid), "--blas-kernels", "-o", lock
            )
        finally:
            proc.kill()
    assert own_answer and (not coretype or own_answer == coretype)
    (blas,) = [lib for lib in fp.native.loaded if lib.vendor == "openblas"]
    assert blas.package == "numpy" and blas.version
    assert blas.architecture == own_answer
    # without --blas-kernels nothing of the target's is run: the library is listed, its kernels unknown
    (plain,) = [lib for lib in by_default.native.loaded if lib.vendor == "openblas"]
    assert (plain.version, plain.architecture) == (blas.version, "")
    assert cli.returncode == 0, cli.stderr
    assert [lib.architecture for lib in lockfile.read(lock).native.loaded if lib.kind == "blas"] == [own_answer]


def test_blas_kernels_needs_a_process_target() -> None:
    done = run(sys.executable, "-m", "envcheck", "snapshot", "--blas-kernels", "-o", "-")
    assert done.returncode == 2
    assert done.stderr.strip() == "envcheck: error: --blas-kernels applies to --pid and --process-match only"


def test_pid_target_reads_the_gpu_driver_inside_the_targets_root_only(tmp_path: Path) -> None:
    """A target whose /proc is a link to a path of this machine finds nothing there: the link resolves inside the
    target's root, where that path does not exist."""
    from envcheck.collect.gpu import GpuCollector
    from tests.conftest import H200

    host = tmp_path / "host-driver"
    shutil.copytree(H200 / "proc-driver-nvidia", host / "driver/nvidia")
    (tmp_path / "4242/root").mkdir(parents=True)
    os.symlink(str(host), tmp_path / "4242/root/proc")
    target = PidTarget(4242, proc_root=str(tmp_path))
    gpu = next(c for c in target.hardware() if isinstance(c, GpuCollector)).collect()
    assert gpu.value.driver_version == "" and gpu.value.devices == ()
