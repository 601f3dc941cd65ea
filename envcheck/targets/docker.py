"""Docker images and containers (``--image REF``, ``--container NAME``), through the Docker engine.

The probe runs with the target's own Python: in a throw-away container of the image (entrypoint replaced, no
network, always removed) or through ``docker exec`` in a running container. Its source travels in the command
line, so nothing is copied in and no stdin is needed. An image without any Python is read statically from its
exported filesystem. The ``docker`` SDK is an optional extra, imported only here and only when used.
"""

from __future__ import annotations

import dataclasses
import gc
import json
import os
import shutil
import tempfile
import traceback
import warnings
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Any, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple

from envcheck.collect.cpu import CpuCollector, format_cpu_list, parse_cpu_list
from envcheck.collect.interface import Collected, Collector
from envcheck.collect.memory import MemoryCollector
from envcheck.contract import ContractError, ProbeOutput, check_output
from envcheck.model import OK, CpuInfo, MemoryInfo
from envcheck.probe import scrub_value
from envcheck.targets.archive import ArchiveError, apply_layer_file, environ_from_config
from envcheck.targets.interface import FileView, Target, TargetError
from envcheck.targets.limits import Limits, format_size
from envcheck.targets.python import TOO_OLD_EXIT, probe_source
from envcheck.targets.rootfs import RootError, probe_root

#: Keeps Python's C-locale coercion from adding LC_CTYPE to the environment the probe reports.
PROBE_ENV = ["PYTHONCOERCECLOCALE=0"]
INTERPRETERS = ("python3", "python")
_NOT_FOUND = ("executable file not found", "no such file or directory")


def probe_command(executable: str, extra_env: Sequence[str] = ()) -> List[str]:
    """The command that runs the probe: a version check (valid Python 2 too), then the probe's source, embedded
    as an ASCII string literal.

    Unlike ``--python``, the interpreter is not isolated (no ``-I``): the image's own ``PYTHON*`` variables
    (``PYTHONPATH``...) are what its processes see, and ``-I``/``-E`` would ignore ``PYTHONCOERCECLOCALE=0``.
    The probe drops the current folder from ``sys.path`` itself. ``-S``: ``site`` does not run, so no ``.pth`` line
    of the image runs either; the probe reads the site folders and ``.pth`` files itself."""
    source = (
        "import sys\n"
        "if sys.version_info < (3, 8):\n"
        "    sys.stderr.write('envcheck-too-old %d.%d\\n' % sys.version_info[:2]); sys.exit(3)\n"
        f"src = {probe_source()!a}\n"
        "sys.argv = ['envcheck-probe'] + sys.argv[1:]\n"
        "exec(compile(src, 'envcheck-probe', 'exec'), {'__name__': '__main__'})\n"
    )
    args = [executable, "-S", "-c", source]
    for name in extra_env:
        args += ["--env", name]
    return args


def parse_output(label: str, code: int, stdout: str, stderr: str) -> ProbeOutput:
    """The probe's output from its exit code and printed JSON, checked against the contract (the container's
    process is not trusted); raises ``TargetError`` with one line."""
    if code == TOO_OLD_EXIT and "envcheck-too-old" in stderr:
        version = stderr.split("envcheck-too-old", 1)[1].split()[0]
        raise TargetError(f"{label}: Python {version} is older than 3.8, which the probe needs")
    if code != 0:
        last = (stderr.strip().splitlines() or stdout.strip().splitlines() or ["no output"])[-1]
        raise TargetError(f"{label}: the probe failed with exit code {code} ({scrub_value(last[:200])})")
    try:
        data = json.loads(stdout)
    except (ValueError, RecursionError) as e:
        raise TargetError(f"{label}: the probe printed no JSON") from e
    if not isinstance(data, dict):
        raise TargetError(f"{label}: the probe printed unexpected output")
    try:
        return check_output(data)
    except ContractError as e:
        raise TargetError(f"{label}: the probe printed unexpected output ({e})") from e


def _engine_url() -> str:
    """The engine's address for messages: DOCKER_HOST may carry credentials (tcp://user:pass@host)."""
    return scrub_value(os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock")


@contextmanager
def engine_errors(label: str) -> Iterator[None]:
    """Turns the SDK's and ``requests``' exceptions into one-line ``TargetError``s."""
    import docker.errors
    import requests.exceptions

    try:
        yield
    except docker.errors.ImageNotFound as e:
        raise TargetError(f"{label}: image not found (envcheck does not pull; docker pull it first)") from e
    except docker.errors.NotFound as e:
        raise TargetError(f"{label}: not found ({_explain(e)})") from e
    except docker.errors.APIError as e:
        raise TargetError(f"{label}: the Docker engine refused: {_explain(e)}") from e
    except (docker.errors.DockerException, requests.exceptions.ConnectionError) as e:
        raise TargetError(_unreachable(str(e))) from e
    except requests.exceptions.RequestException as e:
        raise TargetError(f"{label}: no answer from the Docker engine ({type(e).__name__})") from e


def _explain(e: Any) -> str:
    text = str(getattr(e, "explanation", "") or e)
    return " ".join(text.split())[:300]


def _unreachable(detail: str) -> str:
    url = _engine_url()
    if "Permission denied" in detail or "PermissionError" in detail:
        sock = url[len("unix://") :] if url.startswith("unix://") else url
        return f"permission denied on {sock}: add the user to the docker group or run as root"
    return f"cannot reach the Docker engine at {url}: is dockerd running?"


def client(timeout: float) -> Any:
    """A connected Docker client; raises ``TargetError`` when the SDK is missing or the engine unreachable."""
    try:
        import docker
    except ImportError as e:
        raise TargetError("the Docker SDK is not installed: pip install 'envcheck[docker]'") from e
    try:
        with engine_errors("docker"):
            return docker.from_env(timeout=int(timeout))
    except TargetError as e:
        _release(e)
        raise


def _release(e: BaseException) -> None:
    """Free what a failed connect left behind now (docker-py's half-built client holds an open socket in the
    frames of the error's traceback), so that it is closed here and not reported later by the collector."""
    cause = e.__cause__
    if cause is not None and cause.__traceback__ is not None:
        traceback.clear_frames(cause.__traceback__)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()


def _missing_executable(text: str) -> bool:
    lowered = text.lower()
    return any(marker in lowered for marker in _NOT_FOUND)


def export_into(container: Any, dest: str, limits: Limits) -> None:
    """Unpack a container's exported filesystem into ``dest`` (through a temporary file, bounded like a layer)."""
    with tempfile.TemporaryFile() as stream:
        size = 0
        for chunk in container.export():
            size += len(chunk)
            if size > limits.max_total:  # one uncompressed layer: bounded on disk too
                raise ArchiveError(
                    f"the exported filesystem is over {format_size(limits.max_total)} "
                    "(raise with --archive-limit total=SIZE)"
                )
            stream.write(chunk)
        stream.seek(0)
        apply_layer_file(stream, dest, "exported filesystem", limits=limits)


@contextmanager
def exported_files(label: str, timeout: float, limits: Limits, container_of: Any) -> Iterator[FileView]:
    """A container's filesystem exported into a temporary folder (removed after), and the site folders of the
    Python a process in it would run; ``container_of(client)`` gives (the container, its environment, whether
    to remove it after)."""
    from envcheck.verify.sites import tree_sites

    docker_client = client(timeout)
    tmp = tempfile.mkdtemp(prefix="envcheck-files-")
    try:
        with engine_errors(label):
            container, environ, throwaway = container_of(docker_client)
            try:
                export_into(container, tmp, limits)
            finally:
                if throwaway:
                    container.remove(force=True)
        sites = tree_sites(tmp, environ)
    except (ArchiveError, RootError) as e:
        shutil.rmtree(tmp, ignore_errors=True)
        docker_client.close()
        raise TargetError(f"{label}: {e}") from e
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        docker_client.close()
        raise
    try:
        yield FileView(tmp, tuple(sites))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        docker_client.close()


class ImageTarget(Target):
    """A local Docker image: the probe runs in a throw-away container of it."""

    kind = "image"
    shows_hardware = False

    def __init__(self, ref: str, timeout: float = 120.0, limits: Optional[Limits] = None) -> None:
        self.ref = ref
        self.timeout = timeout
        self.limits = limits or Limits()

    @property
    def name(self) -> str:
        return f"image:{self.ref}"

    @property
    def hardware_note(self) -> str:
        return "an image does not show the hardware it will be deployed on"

    def probe(self, extra_env: Sequence[str] = ()) -> ProbeOutput:
        label = f"--image {self.ref}"
        docker_client = client(self.timeout)
        try:
            with engine_errors(label):
                image = docker_client.images.get(self.ref)
                for executable in INTERPRETERS:
                    result = self._run(docker_client, image.id, probe_command(executable, extra_env))
                    if result is not None:
                        return parse_output(label, *result)
                return self._static(docker_client, image, extra_env)
        finally:
            docker_client.close()

    def files(self) -> AbstractContextManager[FileView]:
        """The image's filesystem exported from a container created (never started) from it."""

        def container_of(docker_client: Any) -> Tuple[Any, Dict[str, str], bool]:
            image = docker_client.images.get(self.ref)
            environ = environ_from_config((image.attrs.get("Config") or {}).get("Env"))
            created = docker_client.containers.create(image.id, command=["envcheck-export"], entrypoint=[])
            return created, environ, True

        return exported_files(f"--image {self.ref}", self.timeout, self.limits, container_of)

    def _run(self, docker_client: Any, image_id: str, command: List[str]) -> Optional[Tuple[int, str, str]]:
        """(exit code, stdout, stderr) of ``command`` in a new container; None when the executable is absent."""
        import docker.errors
        import requests.exceptions

        container = docker_client.containers.create(
            image_id,
            command=command,
            entrypoint=[],
            environment=PROBE_ENV,
            network_disabled=True,
            labels={"envcheck": "probe"},
            log_config={"Type": "json-file", "Config": {}},
        )
        try:
            try:
                container.start()
            except docker.errors.APIError as e:
                if _missing_executable(_explain(e)):
                    return None
                raise
            try:
                status = container.wait(timeout=self.timeout)
            except requests.exceptions.RequestException as e:
                raise TargetError(f"--image {self.ref}: the probe gave no answer within {self.timeout:g} s") from e
            code = int(status.get("StatusCode", -1))
            stdout = container.logs(stdout=True, stderr=False).decode("utf-8", "replace")
            stderr = container.logs(stdout=False, stderr=True).decode("utf-8", "replace")
            if code == 127 and _missing_executable(stderr):
                return None
            return code, stdout, stderr
        finally:
            container.remove(force=True)

    def _static(self, docker_client: Any, image: Any, extra_env: Sequence[str]) -> ProbeOutput:
        """The image has no Python: read its exported filesystem without running anything."""
        label = f"--image {self.ref}"
        environ = environ_from_config((image.attrs.get("Config") or {}).get("Env"))
        container = docker_client.containers.create(image.id, command=["envcheck-export"], entrypoint=[])
        tmp = tempfile.mkdtemp(prefix="envcheck-image-")
        try:
            export_into(container, tmp, self.limits)
            return probe_root(tmp, environ, extra_env=extra_env)
        except (ArchiveError, RootError) as e:
            raise TargetError(f"{label}: {e}") from e
        finally:
            container.remove(force=True)
            shutil.rmtree(tmp, ignore_errors=True)


class ContainerTarget(Target):
    """A running Docker container: the probe runs through ``docker exec``; limits come from the engine."""

    kind = "container"

    def __init__(self, name: str, timeout: float = 120.0) -> None:
        self.container_name = name
        self.timeout = timeout
        self._host_config: Dict[str, Any] = {}

    @property
    def name(self) -> str:
        return f"container:{self.container_name}"

    def probe(self, extra_env: Sequence[str] = ()) -> ProbeOutput:
        label = f"--container {self.container_name}"
        docker_client = client(self.timeout)
        try:
            with engine_errors(label):
                container = docker_client.containers.get(self.container_name)
                status = container.attrs.get("State", {}).get("Status", container.status)
                if status != "running":
                    raise TargetError(f"{label}: not running (status {status})")
                self._host_config = dict(container.attrs.get("HostConfig") or {})
                for executable in INTERPRETERS:
                    code, (out, err) = container.exec_run(
                        probe_command(executable, extra_env), environment=PROBE_ENV, demux=True
                    )
                    stdout = (out or b"").decode("utf-8", "replace")
                    stderr = (err or b"").decode("utf-8", "replace")
                    if code in (126, 127) and _missing_executable(stdout + stderr):
                        continue
                    return parse_output(label, code, stdout, stderr)
                raise TargetError(f"{label}: no Python interpreter found (looked for python3 and python on PATH)")
        finally:
            docker_client.close()

    def files(self) -> AbstractContextManager[FileView]:
        """The running container's filesystem as it is now, exported by the engine (``docker export``)."""

        def container_of(docker_client: Any) -> Tuple[Any, Dict[str, str], bool]:
            container = docker_client.containers.get(self.container_name)
            environ = environ_from_config((container.attrs.get("Config") or {}).get("Env"))
            return container, environ, False

        return exported_files(f"--container {self.container_name}", self.timeout, Limits(), container_of)

    def hardware(self) -> Sequence[Collector[Any]]:
        """This machine's CPU and memory as the container sees them: the engine's limits replace our cgroup's."""
        from envcheck.collect.gpu import GpuCollector

        if not self._host_config:
            docker_client = client(self.timeout)
            try:
                with engine_errors(f"--container {self.container_name}"):
                    container = docker_client.containers.get(self.container_name)
                    self._host_config = dict(container.attrs.get("HostConfig") or {})
            finally:
                docker_client.close()
        limits = container_limits(self._host_config)
        note = f"limits of container {self.container_name} from the Docker engine"
        return (
            ContainerCpuCollector(limits, note),
            ContainerMemoryCollector(limits, note),
            GpuCollector(),
        )


@dataclass(frozen=True)
class ContainerLimits:
    """A container's CPU and memory limits as the engine records them (``HostConfig``)."""

    cpu_millicores: Optional[int] = None
    """From ``NanoCpus`` (``--cpus``) or ``CpuQuota``/``CpuPeriod``; None when unlimited."""
    cpuset: str = ""
    """``CpusetCpus`` (``--cpuset-cpus``); empty when not pinned."""
    memory_bytes: Optional[int] = None
    """``Memory`` (``--memory``); None when unlimited (the engine says 0)."""


def container_limits(host_config: Mapping[str, Any]) -> ContainerLimits:
    """Parse the limits out of a container's ``HostConfig``."""
    nano = int(host_config.get("NanoCpus") or 0)
    quota = int(host_config.get("CpuQuota") or 0)
    period = int(host_config.get("CpuPeriod") or 0) or 100_000
    millicores = nano // 1_000_000 if nano > 0 else (quota * 1000 // period if quota > 0 else None)
    memory = int(host_config.get("Memory") or 0)
    return ContainerLimits(millicores, str(host_config.get("CpusetCpus") or ""), memory if memory > 0 else None)


class ContainerCpuCollector(Collector[CpuInfo]):
    """This machine's CPU section with the container's quota (and pinning) in place of this process's."""

    section = "cpu"

    def __init__(self, limits: ContainerLimits, note: str, inner: Optional[Collector[CpuInfo]] = None) -> None:
        self.limits, self.note, self.inner = limits, note, inner or CpuCollector()

    def collect(self) -> Collected[CpuInfo]:
        got = self.inner.collect()
        if got.source.status != OK:
            return got
        value = dataclasses.replace(got.value, cpu_quota_millicores=self.limits.cpu_millicores)
        try:
            cpus = parse_cpu_list(self.limits.cpuset) if self.limits.cpuset else ()
        except ValueError:
            cpus = ()
        if cpus:
            value = dataclasses.replace(value, affinity=format_cpu_list(cpus), affinity_count=len(cpus))
        detail = got.source.detail.split(";")[0]
        return Collected(value, dataclasses.replace(got.source, detail=f"{detail}; {self.note}"))


class ContainerMemoryCollector(Collector[MemoryInfo]):
    """This machine's memory section with the container's memory limit in place of this process's."""

    section = "memory"

    def __init__(self, limits: ContainerLimits, note: str, inner: Optional[Collector[MemoryInfo]] = None) -> None:
        self.limits, self.note, self.inner = limits, note, inner or MemoryCollector()

    def collect(self) -> Collected[MemoryInfo]:
        got = self.inner.collect()
        if got.source.status != OK:
            return got
        value = dataclasses.replace(got.value, cgroup_limit_bytes=self.limits.memory_bytes)
        detail = got.source.detail.split(";")[0]
        return Collected(value, dataclasses.replace(got.source, detail=f"{detail}; {self.note}"))
