"""DockerRunner: the import and load checks in a new container of an image and through ``docker exec`` in a
running one, against a real engine (``@pytest.mark.docker``), and its pure parts (the child's program, the files
mounted, the engine's stream) and backstops (the alarm, the reaper) without one.

The test images are built once per module FROM the local ``envcheck-test-base:bookworm``
(``scripts/ensure-docker``), with tiny packages copied in; no registry is used.
"""

from __future__ import annotations

import gc
import io
import json
import pickle
import signal
import struct
import subprocess
import sys
import tarfile
import time
import uuid
import warnings
from pathlib import Path
from typing import Any, Dict, Iterator, List

import pytest

from envcheck.evidence import (
    DEFAULT_MEMORY_LIMIT,
    Network,
    Outcome,
    RunnerError,
    dockerio,
    import_check,
    load_check,
)
from envcheck.evidence.batch import child_source
from envcheck.evidence.docker import LABEL, DockerRunner
from envcheck.evidence.dockerio import (
    REAPER,
    FrameReader,
    Mounts,
    bootstrap,
    fits_command_line,
    plan_mounts,
    returncode,
)
from tests.conftest import require_docker
from tests.evidence.conftest import PLANTED, PLANTED_NAME

BASE = "envcheck-test-base:bookworm"
TOKEN = uuid.uuid4().hex[:8]

PACKAGES = {
    "okpkg": "__version__ = '1.0'\n",
    "raises": "raise ImportError('numpy.core.multiarray failed to import')\n",
    "netpkg": "import socket\nsocket.create_connection(('10.255.255.1', 80), timeout=5)\n",
    "sleepy": "import time\ntime.sleep(600)\n",
    "closer": "import os, time\nos.closerange(0, 1024)\ntime.sleep(600)\n",  # ends the stream, runs on
    "segv": "import ctypes\nctypes.string_at(0)\n",
    "envdump": "import os\nprint('names:', ' '.join(sorted(os.environ)))\n",
    "hardening": (
        "import os\n"
        "try:\n"
        "    open('/envcheck-written', 'w')\n"
        "    print('root: writable')\n"
        "except OSError as e:\n"
        "    print('root:', e.strerror)\n"
        "with open('/tmp/scratch', 'w') as f:\n"
        "    f.write('x')\n"
        "print('tmp: writable')\n"
        "status = dict(l.split(':', 1) for l in open('/proc/self/status') if ':' in l)\n"
        "print('CapEff:', status['CapEff'].strip(), 'NoNewPrivs:', status['NoNewPrivs'].strip())\n"
        "print('pid:', os.getpid())\n"
    ),
}
#: The image's own environment: what the serving process sees, and what the child must see.
APP_DOCKERFILE = """\
FROM {base}
COPY app /opt/app
ENV PYTHONPATH=/opt/app ENVCHECK_IMAGE_SETTING=from-image
ENTRYPOINT ["/bin/false"]
"""
#: An image whose python3 says it is Python 2.7, as the bootstrap of an old interpreter does.
OLD_DOCKERFILE = """\
FROM {base}
COPY python3 /opt/old/python3
ENV PATH=/opt/old:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
"""
OLD_PYTHON = "#!/bin/sh\necho 'envcheck-too-old 2.7' >&2\nexit 3\n"


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), capture_output=True, text=True, timeout=600, check=False)


@pytest.fixture(scope="module")
def engine() -> Iterator[Any]:
    """A Docker client to a running engine that has the base image (provisioned by scripts/test)."""
    import docker

    require_docker(BASE)
    client = docker.from_env()
    yield client
    client.close()


@pytest.fixture(scope="module")
def images(engine: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dict[str, str]]:
    """The app image (the packages under /opt/app on its PYTHONPATH; an ENTRYPOINT that fails), one whose python3
    is too old, and one without any Python."""
    tmp = tmp_path_factory.mktemp("docker-runner")
    tags: Dict[str, str] = {}
    try:
        app = tmp / "app"
        for name, source in PACKAGES.items():
            (app / "app" / name).mkdir(parents=True)
            (app / "app" / name / "__init__.py").write_text(source)
        (app / "Dockerfile").write_text(APP_DOCKERFILE.format(base=BASE))
        tags["app"] = f"envcheck-test-runner-app:{TOKEN}"
        engine.images.build(path=str(app), tag=tags["app"], rm=True, forcerm=True, network_mode="none")
        old = tmp / "old"
        old.mkdir()
        (old / "python3").write_text(OLD_PYTHON)
        (old / "python3").chmod(0o755)
        (old / "Dockerfile").write_text(OLD_DOCKERFILE.format(base=BASE))
        tags["old"] = f"envcheck-test-runner-old:{TOKEN}"
        engine.images.build(path=str(old), tag=tags["old"], rm=True, forcerm=True, network_mode="none")
        tree = io.BytesIO()
        with tarfile.open(fileobj=tree, mode="w") as tar:
            data = b"ID=scratchy\n"
            info = tarfile.TarInfo("etc/os-release")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        tags["nopython"] = f"envcheck-test-runner-nopython:{TOKEN}"
        done = subprocess.run(
            ["docker", "import", "-", tags["nopython"]], input=tree.getvalue(), capture_output=True, check=False
        )
        assert done.returncode == 0, done.stderr
        yield tags
    finally:
        for tag in tags.values():
            _run("docker", "image", "rm", "-f", tag)


@pytest.fixture(scope="module")
def running(engine: Any, images: Dict[str, str]) -> Iterator[str]:
    """A running container of the app image, as a serving container would be."""
    name = f"envcheck-test-{TOKEN}-serving"
    engine.containers.run(
        images["app"], ["-c", "import time; time.sleep(3600)"], entrypoint=["python3"], name=name, detach=True
    )
    yield name
    _run("docker", "rm", "-f", name)


def _left(engine: Any, runner: DockerRunner) -> List[Any]:
    return list(engine.containers.list(all=True, filters={"label": f"{LABEL}={runner.runner_id}"}))


def _output(report: Any, module: str) -> str:
    return "\n".join(next(r for r in report.results if r.module == module).output)


# --- an image ----------------------------------------------------------------------------------------------------


@pytest.mark.docker
def test_image_imports_with_the_images_environment_and_no_network(
    engine: Any, images: Dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(PLANTED_NAME, PLANTED)  # the caller's environment must not reach the child
    runner = DockerRunner.for_image(images["app"])
    report = import_check(runner, ["okpkg", "raises", "netpkg", "envdump", "json"], timeout=60)
    by = {r.module: r for r in report.results}
    assert by["okpkg"].ok and by["okpkg"].version == "1.0"
    assert by["okpkg"].location == "/opt/app/okpkg/__init__.py"  # found through the image's PYTHONPATH
    assert by["raises"].outcome is Outcome.ERROR
    assert by["raises"].error == "ImportError: numpy.core.multiarray failed to import"
    assert by["netpkg"].outcome is Outcome.ERROR and "Network is unreachable" in (by["netpkg"].error or "")
    names = _output(report, "envdump").split()
    assert "ENVCHECK_IMAGE_SETTING" in names and "PYTHONPATH" in names and PLANTED_NAME not in names
    assert by["json"].ok
    assert report.network is Network.NAMESPACE and report.memory_limit == DEFAULT_MEMORY_LIMIT
    assert report.runs == 1 and report.python and report.python.startswith("3.")
    assert _left(engine, runner) == []


@pytest.mark.docker
def test_image_container_is_locked_down(images: Dict[str, str]) -> None:
    report = import_check(DockerRunner.for_image(images["app"]), ["hardening"], timeout=60)
    said = _output(report, "hardening")
    assert report.results[0].ok, report.results[0]
    assert "root: Read-only file system" in said and "tmp: writable" in said
    assert "CapEff: 0000000000000000 NoNewPrivs: 1" in said
    assert "pid: 1\n" not in said + "\n"  # docker-init is PID 1: the child gets signals as anywhere else
    writable = import_check(DockerRunner.for_image(images["app"], read_only=False), ["hardening"], timeout=60)
    assert "root: writable" in _output(writable, "hardening")


@pytest.mark.docker
def test_image_hang_times_out_and_no_container_is_left(engine: Any, images: Dict[str, str]) -> None:
    runner = DockerRunner.for_image(images["app"])
    report = import_check(runner, ["sleepy", "okpkg"], timeout=3)
    sleepy, ok = report.results
    assert sleepy.outcome is Outcome.TIMEOUT and sleepy.error == "no answer within 3 s importing sleepy"
    assert ok.ok and report.runs == 2  # a new container for the module after the one that hung
    assert _left(engine, runner) == []


@pytest.mark.docker
def test_image_crash_is_reported_with_its_signal(images: Dict[str, str]) -> None:
    report = import_check(DockerRunner.for_image(images["app"]), ["segv", "okpkg"], timeout=60)
    segv, ok = report.results
    assert segv.outcome is Outcome.CRASHED
    assert segv.error == "the interpreter crashed (signal 11, SIGSEGV) importing segv"
    assert ok.ok


class _OpensItsOwnSibling:
    """Unpickled, opens the path of the file being loaded (the loader's ``path``, as the child sees it) plus
    ``.nope``."""

    def __reduce__(self) -> Any:
        return eval, ("open(__import__('sys')._getframe(1).f_locals['path'] + '.nope')",)


@pytest.mark.docker
def test_load_check_mounts_host_files_and_names_host_paths(
    engine: Any, images: Dict[str, str], tmp_path: Path
) -> None:
    good = tmp_path / "model.pkl"
    good.write_bytes(pickle.dumps({"weights": [1, 2, 3]}))
    odd = tmp_path / "odd name \u00fc.pkl"
    odd.write_bytes(pickle.dumps(_OpensItsOwnSibling()))
    missing = tmp_path / "missing.pkl"
    runner = DockerRunner.for_image(images["app"])
    report = load_check(runner, [str(odd), str(good), str(missing)], timeout=60)
    sibling, loaded, absent = report.results
    assert loaded.ok and loaded.path == str(good) and loaded.loaded_type == "dict"
    assert loaded.loader == "pickle.load"  # no joblib in the image
    # the file was mounted at /envcheck-models/0/odd_name__.pkl: the error names it by the host path again
    assert sibling.outcome is Outcome.ERROR and sibling.path == str(odd)
    assert sibling.error == f"FileNotFoundError: [Errno 2] No such file or directory: '{odd}.nope'"
    assert absent.outcome is Outcome.ERROR and str(missing) in (absent.error or "")  # not mounted: not there
    assert _left(engine, runner) == []


@pytest.mark.docker
def test_errors_of_images_are_one_line(images: Dict[str, str]) -> None:
    with pytest.raises(RunnerError, match=r"is older than 3\.8, which the evidence checks need"):
        import_check(DockerRunner.for_image(images["old"]), ["json"], timeout=60)
    with pytest.raises(RunnerError, match="no Python interpreter found"):
        import_check(DockerRunner.for_image(images["nopython"]), ["json"], timeout=60)
    with pytest.raises(RunnerError, match=r"image not found \(envcheck does not pull"):
        import_check(DockerRunner.for_image(f"envcheck-test-no-such-image:{TOKEN}"), ["json"], timeout=60)


@pytest.mark.docker
def test_source_too_long_for_a_command_line_goes_through_stdin(
    images: Dict[str, str], running: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(dockerio, "ARG_LIMIT", 1000)
    assert not fits_command_line([child_source()])
    for runner in (DockerRunner.for_image(images["app"]), DockerRunner.for_container(running)):
        report = import_check(runner, ["okpkg", "raises"], timeout=60)
        assert [r.outcome for r in report.results] == [Outcome.OK, Outcome.ERROR], runner.label


# --- a running container -----------------------------------------------------------------------------------------


@pytest.mark.docker
def test_exec_in_a_running_container(running: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PLANTED_NAME, PLANTED)
    runner = DockerRunner.for_container(running)
    report = import_check(runner, ["okpkg", "raises", "netpkg", "envdump"], timeout=60)
    by = {r.module: r for r in report.results}
    assert by["okpkg"].ok and by["okpkg"].location == "/opt/app/okpkg/__init__.py"
    assert by["raises"].error == "ImportError: numpy.core.multiarray failed to import"
    # the container's network cannot be cut by exec: the socket guard refuses
    assert "envcheck: no network in an evidence check" in (by["netpkg"].error or "")
    names = _output(report, "envdump").split()
    assert "ENVCHECK_IMAGE_SETTING" in names and PLANTED_NAME not in names
    assert report.network is Network.CONTAINER and report.memory_limit == DEFAULT_MEMORY_LIMIT
    assert runner._timeout_path == "/usr/bin/timeout"  # GNU coreutils in the base image: the backstop


def _processes_with(container: Any, marker: str) -> List[str]:
    code, out = container.exec_run(
        [
            "python3",
            "-c",
            "import os, sys\n"
            "for p in os.listdir('/proc'):\n"
            "    if p.isdigit() and p != str(os.getpid()):\n"
            "        try:\n"
            "            cmd = open('/proc/%s/cmdline' % p, 'rb').read()\n"
            "        except OSError:\n"
            "            continue\n"
            "        if sys.argv[1].encode() in cmd:\n"
            "            print(p)\n",
            marker,
        ]
    )
    assert code == 0, out
    return out.decode().split()


@pytest.mark.docker
def test_exec_hang_is_killed_in_the_container(engine: Any, running: str) -> None:
    runner = DockerRunner.for_container(running)
    report = import_check(runner, ["sleepy", "okpkg"], timeout=3)
    sleepy, ok = report.results
    assert sleepy.outcome is Outcome.TIMEOUT and ok.ok and report.runs == 2
    assert _processes_with(engine.containers.get(running), "envcheck-run") == []


@pytest.mark.docker
def test_a_container_that_is_not_running(engine: Any, images: Dict[str, str]) -> None:
    name = f"envcheck-test-{TOKEN}-stopped"
    engine.containers.create(images["app"], ["true"], name=name)
    try:
        with pytest.raises(RunnerError, match=r"--container .*: not running \(status created\)"):
            import_check(DockerRunner.for_container(name), ["json"], timeout=30)
    finally:
        _run("docker", "rm", "-f", name)


@pytest.mark.docker
def test_a_child_that_closes_its_output_and_runs_on_times_out(
    engine: Any, images: Dict[str, str], running: str
) -> None:
    for runner in (DockerRunner.for_image(images["app"]), DockerRunner.for_container(running)):
        report = import_check(runner, ["closer", "okpkg"], timeout=3)
        assert [r.outcome for r in report.results] == [Outcome.TIMEOUT, Outcome.OK], runner.label
    assert _processes_with(engine.containers.get(running), "envcheck-run") == []


# --- without an engine -------------------------------------------------------------------------------------------


def test_an_unreachable_engine_is_one_line(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-such-docker.sock")
    for runner in (DockerRunner.for_image("x:1"), DockerRunner.for_container("x")):
        with pytest.raises(RunnerError, match=r"^cannot reach the Docker engine at unix://\S+: is dockerd"):
            runner.run("pass", [], 10, 100)
    # docker-py leaves the socket of its failed connect to the collector: collect it here, not in a later test
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()


def _python(program: str, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", program, *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_bootstrap_runs_the_source_as_main_with_its_args() -> None:
    source = "import sys\nprint(__name__, sys.argv)\n"
    inline = _python(bootstrap("t0ken", source), "a", "b")
    assert inline.stdout == "__main__ ['envcheck-evidence', 'a', 'b']\n", inline.stderr
    piped = _python(bootstrap("t0ken", None), stdin=json.dumps({"source": source, "args": ["a", "b"]}))
    assert piped.stdout == inline.stdout, piped.stderr


def test_bootstrap_limits_memory_and_guards_the_socket_module() -> None:
    source = (
        "import resource, socket\n"
        "print(resource.getrlimit(resource.RLIMIT_AS))\n"
        "try:\n"
        "    socket.getaddrinfo('example.com', 80)\n"
        "except OSError as e:\n"
        "    print(e)\n"
    )
    done = _python(bootstrap("t0ken", source, memory_limit=1 << 30, guard=True))
    assert done.stdout.splitlines() == [
        f"({1 << 30}, {1 << 30})",
        "[Errno 101] Network is unreachable (envcheck: no network in an evidence check)",
    ], done.stderr


def test_alarm_backstop_kills_the_child() -> None:
    done = _python(bootstrap("t0ken", "import time\ntime.sleep(60)\n", alarm=1))
    assert done.returncode == -signal.SIGALRM


def _gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def test_reaper_kills_the_run_and_its_group_only() -> None:
    token = uuid.uuid4().hex
    source = (
        "import subprocess, sys, time\n"
        "p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        "print(p.pid, flush=True)\n"
        "time.sleep(60)\n"
    )
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    child = subprocess.Popen(
        [sys.executable, "-c", bootstrap(token, source, alarm=120)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None
        grandchild = int(child.stdout.readline())
        reaped = _python(REAPER, token)
        assert reaped.returncode == 0, reaped.stderr
        assert child.wait(timeout=30) == -signal.SIGKILL
        for _ in range(300):  # the grandchild's death is seen once its new parent reaps it
            if _gone(grandchild):
                break
            time.sleep(0.1)
        assert _gone(grandchild)
        assert bystander.poll() is None
    finally:
        for proc in (bystander, child):
            proc.kill()
            proc.wait()
        if child.stdout is not None:
            child.stdout.close()


def test_plan_mounts_rewrites_absolute_paths_of_files_only() -> None:
    files = {"/models/a.pkl", "/models/odd name \u00fc.joblib", "/models/.hidden"}
    job = json.dumps({"mode": "load", "items": ["/models/a.pkl", "/models/odd name \u00fc.joblib", "/gone.pkl"]})
    plan = plan_mounts([job, "/models/a.pkl", "models/a.pkl", "/models/.hidden"], files.__contains__)
    assert json.loads(plan.args[0])["items"] == [
        "/envcheck-models/0/a.pkl",
        "/envcheck-models/1/odd_name__.joblib",
        "/gone.pkl",
    ]
    assert plan.args[1:] == ("/envcheck-models/0/a.pkl", "models/a.pkl", "/envcheck-models/2/hidden")
    assert plan.files == (
        ("/models/a.pkl", "/envcheck-models/0/a.pkl"),
        ("/models/odd name \u00fc.joblib", "/envcheck-models/1/odd_name__.joblib"),
        ("/models/.hidden", "/envcheck-models/2/hidden"),
    )
    untouched = json.dumps({"mode": "import", "items": ["numpy"]})
    assert plan_mounts([untouched, "7"], files.__contains__).args == (untouched, "7")


def test_mounts_restore_host_paths_in_output() -> None:
    mounts = Mounts(("x",), (('/m/\u00fc "q".pkl', "/envcheck-models/0/__q_.pkl"),))
    event = json.dumps({"message": "cannot read /envcheck-models/0/__q_.pkl"})
    assert json.loads(mounts.restore(event, json_escaped=True)) == {"message": 'cannot read /m/\u00fc "q".pkl'}
    assert mounts.restore("at /envcheck-models/0/__q_.pkl\n") == 'at /m/\u00fc "q".pkl\n'


def _frame(kind: int, data: bytes) -> bytes:
    return struct.pack(">BxxxI", kind, len(data)) + data


def test_frame_reader_splits_streams_across_reads_and_bounds_them() -> None:
    stream = _frame(1, b"out1 ") + _frame(2, b"err") + _frame(3, b"ignored") + _frame(1, b"out2")
    reader = FrameReader(100)
    for i in range(0, len(stream), 5):  # frames cut anywhere
        assert reader.feed(stream[i : i + 5])
    got = reader.result(timed_out=False)
    assert (got.stdout, got.stderr, got.output_limited) == (b"out1 out2", b"err", False)
    bounded = FrameReader(6)
    assert bounded.feed(_frame(1, b"1234")) and not bounded.feed(_frame(2, b"56789"))
    cut = bounded.result(timed_out=False)
    assert (cut.stdout, cut.stderr, cut.output_limited) == (b"1234", b"56", True)


@pytest.mark.parametrize(
    ("status", "code"), [(0, 0), (1, 1), (128, 128), (137, -9), (139, -11), (192, -64), (193, 193)], ids=str
)
def test_returncode_maps_128_plus_signal(status: int, code: int) -> None:
    assert returncode(status) == code


def test_fits_command_line() -> None:
    assert fits_command_line([bootstrap("t", child_source()), "{}"])
    assert not fits_command_line(["x" * 200_000])
    assert not fits_command_line(["x" * 90_000] * 12)


def test_exactly_one_of_image_and_container() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        DockerRunner()
    assert DockerRunner.for_image("a:1").label == "--image a:1"
    assert DockerRunner.for_container("serving").label == "--container serving"
