"""A child of the candidate's interpreter in Docker: a throw-away container of an image (``--image``), or
``docker exec`` in the running serving container (``--container``).

The check's source travels as ``targets/docker.py``'s probe does: embedded as an ASCII literal in ``python -c``
after the same version check as ``LocalRunner``'s bootstrap (a Python older than 3.8 is refused in one line).
Where the command line would pass the kernel's limit on one argument (``ARG_LIMIT``), the source and the
arguments go through the child's stdin instead, over the engine's attach socket. The interpreter is ``python3``,
else ``python``, found on the image's ``PATH``; it runs as the serving process would find it: the image's own
environment and working directory, nothing of the caller's environment added, ``site`` and ``.pth`` files run.

**An image** (``DockerRunner.for_image``): one new container per child, removed afterwards (also after a timeout,
the output bound or an error): no network (``network_disabled``), a memory limit (cgroup, swap included), a
limit on processes, a read-only root filesystem with a ``tmpfs`` on ``/tmp`` (unless ``read_only=False``, for an
image whose libraries must write elsewhere), every capability dropped, ``no-new-privileges``, Docker's init as
PID 1 (so that the child gets signals and dies of them as anywhere else), the entrypoint replaced, no log kept by
the engine (output is read from the attach socket, bounded). Any argument that names a readable file on this
machine by its absolute path (a model file given to ``load_check``, also inside a JSON argument) is
bind-mounted read-only at ``/envcheck-models/N/NAME``, the argument rewritten to it, and the child's output
mapped back, so results name the paths as given. Any other path is the image's own. Bind mounts are on the
engine's machine: with a remote ``DOCKER_HOST``, model files must be there.

**A running container** (``DockerRunner.for_container``): ``docker exec``, which runs in the container's own
namespaces and cgroup, next to the serving process, so:

- network: exec cannot cut the container's network (``Network.CONTAINER``); the child's ``socket`` module is
  guarded as ``LocalRunner`` does where it has no namespace;
- memory: the container's cgroup limit is shared with the serving process, so the child sets its own
  address-space limit (``RLIMIT_AS``, as ``LocalRunner``) before the check's code runs;
- time: this process stops reading at ``timeout`` and then kills, by another exec, every process whose command
  line holds this run's token (and the process groups they lead). As a backstop for when that exec cannot run
  (the engine went away, this process died), the child is bounded in the container too: under GNU ``timeout -s
  KILL`` when the container has it (it kills the whole process group, children included), else by its own
  ``alarm`` (only the interpreter itself, and only while the checked code does not reset the alarm). Both fire a
  few seconds after ``timeout``;
- output: at most ``max_output`` bytes are read; past it the child is killed as at a timeout;
- files: nothing can be mounted into a running container: paths are the container's.

Docker reports a child killed by signal N as exit status 128 + N; ``ChildRun.returncode`` gives it back as -N (a
child that itself exits with such a status reads the same).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import secrets
import select
import socket
import time
import uuid
from typing import Any, List, Optional, Sequence, Tuple

from envcheck.evidence.dockerio import (
    DISCOVER,
    REAPER,
    FrameReader,
    Mounts,
    Streamed,
    bootstrap,
    fits_command_line,
    missing_executable,
    plan_mounts,
    returncode,
)
from envcheck.evidence.interface import ChildRun, Network, RunnerError
from envcheck.evidence.local import DEFAULT_MEMORY_LIMIT
from envcheck.probe import scrub_value
from envcheck.targets.docker import INTERPRETERS, client, engine_errors
from envcheck.targets.interface import TargetError
from envcheck.targets.python import TOO_OLD_EXIT

#: The default limit on processes (threads count) of an image's container.
DEFAULT_PIDS_LIMIT = 4096
#: Seconds past the timeout at which the in-container backstop (``timeout`` or the alarm) kills the child.
BACKSTOP_GRACE_S = 5
#: The label every container of the runner carries (its value: the runner's id).
LABEL = "envcheck.evidence"


def readable_file(path: str) -> bool:
    """A regular file this process can read (the engine mounts as root: never more than the caller could)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError:
        return False
    try:
        return os.path.isfile(path)
    finally:
        os.close(fd)


def _pump(sock: Any, payload: Optional[bytes], deadline: float, max_output: int) -> Streamed:
    """Send ``payload`` (then end the child's stdin), read until the stream ends, the deadline passes or the
    output passes ``max_output``."""
    raw = getattr(sock, "_sock", sock)  # docker-py hands a SocketIO over the hijacked connection
    reader = FrameReader(max_output)
    try:
        if payload is not None:
            raw.settimeout(max(deadline - time.monotonic(), 0.01))
            raw.sendall(payload)
            raw.shutdown(socket.SHUT_WR)
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return reader.result(timed_out=True)
            ready, _, _ = select.select([raw], [], [], min(left, 0.5))
            if not ready:
                continue
            data = raw.recv(65536)
            if not data or not reader.feed(data):
                return reader.result(timed_out=False)
    except socket.timeout:
        return reader.result(timed_out=True)
    except OSError:  # the engine closed the connection: what was read is all there is
        return reader.result(timed_out=False)


def _close(sock: Any) -> None:
    for thing in (getattr(sock, "_sock", None), sock):
        try:
            if thing is not None:
                thing.close()
        except OSError:
            pass


def _text(data: bytes) -> str:
    return data.decode("utf-8", "replace")


# --- the runner --------------------------------------------------------------------------------------------------


class DockerRunner:
    """Runs a check's source in a child of the Python of a Docker image or of a running container. Make one with
    ``for_image`` or ``for_container``."""

    def __init__(
        self,
        *,
        image: Optional[str] = None,
        container: Optional[str] = None,
        memory_limit: Optional[int] = DEFAULT_MEMORY_LIMIT,
        pids_limit: Optional[int] = DEFAULT_PIDS_LIMIT,
        read_only: bool = True,
        mount_files: bool = True,
        engine_timeout: float = 60.0,
    ) -> None:
        if (image is None) == (container is None):
            raise ValueError("a DockerRunner needs exactly one of image and container")
        self.image = image
        self.container = container
        self.memory_limit = memory_limit
        self.pids_limit = pids_limit
        self.read_only = read_only
        self.mount_files = mount_files
        self.engine_timeout = engine_timeout
        self.runner_id = uuid.uuid4().hex
        """The value of the ``envcheck.evidence`` label on this runner's containers."""
        self._python: Optional[str] = None
        self._timeout_path: Optional[str] = None

    @classmethod
    def for_image(
        cls,
        ref: str,
        *,
        memory_limit: Optional[int] = DEFAULT_MEMORY_LIMIT,
        pids_limit: Optional[int] = DEFAULT_PIDS_LIMIT,
        read_only: bool = True,
        mount_files: bool = True,
    ) -> DockerRunner:
        """Each child in a new container of the local image ``ref`` (not pulled), removed afterwards.
        ``memory_limit``: bytes (cgroup, swap included), None for none; ``pids_limit``: processes and threads;
        ``read_only``: a read-only root filesystem (``/tmp`` is a ``tmpfs``); ``mount_files``: bind-mount the
        files the arguments name (model files)."""
        return cls(
            image=ref,
            memory_limit=memory_limit,
            pids_limit=pids_limit,
            read_only=read_only,
            mount_files=mount_files,
        )

    @classmethod
    def for_container(cls, name_or_id: str, *, memory_limit: Optional[int] = DEFAULT_MEMORY_LIMIT) -> DockerRunner:
        """Each child through ``docker exec`` in the running container ``name_or_id`` (the serving one): its
        network cannot be cut (``Network.CONTAINER``: the socket module is guarded); ``memory_limit``: bytes of
        address space (``RLIMIT_AS``), None for none."""
        return cls(container=name_or_id, memory_limit=memory_limit)

    @property
    def label(self) -> str:
        return f"--image {self.image}" if self.image is not None else f"--container {self.container}"

    def run(self, source: str, args: Sequence[str], timeout: float, max_output: int) -> ChildRun:
        try:
            docker_client = client(self.engine_timeout)
            try:
                with engine_errors(self.label):
                    if self.image is not None:
                        return self._run_image(docker_client.api, source, args, timeout, max_output)
                    return self._run_exec(docker_client.api, source, args, timeout, max_output)
            finally:
                docker_client.close()
        except TargetError as e:  # the engine's errors, one line each, as the evidence checks' own
            raise RunnerError(str(e)) from e

    # --- a new container of an image ---------------------------------------------------------------------------

    def _run_image(self, api: Any, source: str, args: Sequence[str], timeout: float, max_output: int) -> ChildRun:
        image_id = api.inspect_image(self.image)["Id"]
        mounts = plan_mounts(args, readable_file) if self.mount_files else Mounts(tuple(args))
        alarm = math.ceil(timeout) + BACKSTOP_GRACE_S
        token = secrets.token_hex(8)
        for python in (self._python,) if self._python else INTERPRETERS:
            done = self._container_child(api, image_id, python, token, source, mounts, timeout, max_output, alarm)
            if done is None:
                continue
            self._python = python
            return self._child_run(done, Network.NAMESPACE, mounts)
        raise RunnerError(f"{self.label}: no Python interpreter found (looked for python3 and python on PATH)")

    def _host_config(self, api: Any, mounts: Mounts) -> Any:
        from docker.types import Mount

        return api.create_host_config(
            mem_limit=self.memory_limit,
            memswap_limit=self.memory_limit,
            pids_limit=self.pids_limit,
            read_only=self.read_only,
            tmpfs={"/tmp": "rw,nosuid,nodev,size=1g"} if self.read_only else None,
            cap_drop=["ALL"],
            security_opt=["no-new-privileges"],
            privileged=False,
            init=True,
            log_config={"Type": "none", "Config": {}},
            mounts=[
                Mount(inside, os.path.realpath(host), type="bind", read_only=True) for host, inside in mounts.files
            ],
        )

    def _container_child(
        self,
        api: Any,
        image_id: str,
        python: str,
        token: str,
        source: str,
        mounts: Mounts,
        timeout: float,
        max_output: int,
        alarm: int,
    ) -> Optional[Tuple[int, Streamed]]:
        """(exit status, output) of one child in a new container; None when ``python`` is not in the image."""
        import docker.errors
        import requests.exceptions

        inline = fits_command_line([bootstrap(token, source, alarm=alarm), *mounts.args])
        program = bootstrap(token, source if inline else None, alarm=alarm)
        command = [python, "-c", program, *(mounts.args if inline else ())]
        payload = None if inline else json.dumps({"source": source, "args": list(mounts.args)}).encode("utf-8")
        created = api.create_container(
            image_id,
            command=command,
            entrypoint=[],
            network_disabled=True,
            stdin_open=payload is not None,
            labels={LABEL: self.runner_id, f"{LABEL}.run": token},
            host_config=self._host_config(api, mounts),
        )
        cid = created["Id"]
        sock = None
        try:
            params = {"stdin": int(payload is not None), "stdout": 1, "stderr": 1, "stream": 1}
            sock = api.attach_socket(cid, params=params)
            try:
                api.start(cid)
            except docker.errors.APIError as e:
                if missing_executable(str(getattr(e, "explanation", "") or e)):
                    return None
                raise
            deadline = time.monotonic() + timeout
            streamed = _pump(sock, payload, deadline, max_output)
            if streamed.timed_out or streamed.output_limited:
                return -9, streamed
            try:  # the stream ends when the child closes its output, as it exits (or not: it runs to the deadline)
                status = api.wait(cid, timeout=max(deadline - time.monotonic(), 1.0))
            except requests.exceptions.RequestException:
                return -9, dataclasses.replace(streamed, timed_out=True)
            code = int(status.get("StatusCode", -1))
            if code == 127 and not streamed.stdout and missing_executable(_text(streamed.stderr)):
                return None  # docker-init could not exec it
            return code, streamed
        finally:
            if sock is not None:
                _close(sock)
            api.remove_container(cid, force=True)

    # --- docker exec in a running container --------------------------------------------------------------------

    def _run_exec(self, api: Any, source: str, args: Sequence[str], timeout: float, max_output: int) -> ChildRun:
        state = api.inspect_container(self.container)
        status = (state.get("State") or {}).get("Status", "unknown")
        if status != "running":
            raise RunnerError(f"{self.label}: not running (status {status})")
        cid = state["Id"]
        if self._python is None:
            self._discover(api, cid)
        assert self._python is not None
        token = secrets.token_hex(8)
        backstop = str(math.ceil(timeout) + BACKSTOP_GRACE_S)
        alarm = None if self._timeout_path else int(backstop)
        inline_program = bootstrap(token, source, memory_limit=self.memory_limit, alarm=alarm, guard=True)
        inline = fits_command_line([inline_program, *args])
        program = (
            inline_program
            if inline
            else bootstrap(token, None, memory_limit=self.memory_limit, alarm=alarm, guard=True)
        )
        prefix = [self._timeout_path, "-s", "KILL", backstop] if self._timeout_path else []
        command = [*prefix, self._python, "-c", program, *(args if inline else ())]
        payload = None if inline else json.dumps({"source": source, "args": list(args)}).encode("utf-8")
        code, streamed, finished = self._exec(api, cid, command, payload, timeout, max_output)
        if not finished:
            self._reap(api, cid, token)
            code = -9
        return self._child_run((code, streamed), Network.CONTAINER, Mounts(tuple(args)))

    def _exec(
        self, api: Any, cid: str, command: List[str], payload: Optional[bytes], timeout: float, max_output: int
    ) -> Tuple[int, Streamed, bool]:
        """(exit status, output, whether it ended by itself) of ``command`` run by exec, within ``timeout``."""
        deadline = time.monotonic() + timeout
        created = api.exec_create(cid, command, stdin=payload is not None, stdout=True, stderr=True, tty=False)
        sock = api.exec_start(created["Id"], socket=True)
        try:
            streamed = _pump(sock, payload, deadline, max_output)
        finally:
            _close(sock)
        while not (streamed.timed_out or streamed.output_limited):
            # the stream ends when the child closes its output, as it exits (or not: then it runs to the deadline)
            info = api.exec_inspect(created["Id"])
            if not info.get("Running") and info.get("ExitCode") is not None:
                return int(info["ExitCode"]), streamed, True
            if time.monotonic() >= deadline:
                streamed = dataclasses.replace(streamed, timed_out=True)
            time.sleep(0.05)
        return -9, streamed, False

    def _discover(self, api: Any, cid: str) -> None:
        """The container's interpreter (python3, else python) and its GNU ``timeout``, if any: one exec."""
        for python in INTERPRETERS:
            token = secrets.token_hex(8)
            code, streamed, finished = self._exec(api, cid, [python, "-c", DISCOVER, token], None, 30.0, 65536)
            said = _text(streamed.stdout + streamed.stderr)
            if code in (126, 127) and missing_executable(said):
                continue
            self._python = python
            if not finished:
                self._reap(api, cid, token)
            found = _text(streamed.stdout).partition("envcheck-timeout:")[2].strip()
            ok = found.startswith("/") and found.isprintable() and len(found) < 4096
            self._timeout_path = found if ok else None
            return
        raise RunnerError(f"{self.label}: no Python interpreter found (looked for python3 and python on PATH)")

    def _reap(self, api: Any, cid: str, token: str) -> None:
        """Kill what the run left in the container (best effort: the in-container backstop remains)."""
        assert self._python is not None
        with contextlib.suppress(Exception):  # a failed clean-up must not hide the run's result
            self._exec(api, cid, [self._python, "-c", REAPER, token], None, 30.0, 65536)

    # --- both ----------------------------------------------------------------------------------------------------

    def _child_run(self, done: Tuple[int, Streamed], network: Network, mounts: Mounts) -> ChildRun:
        code, streamed = done
        stdout = mounts.restore(_text(streamed.stdout), json_escaped=True)
        stderr = mounts.restore(_text(streamed.stderr))
        if code == TOO_OLD_EXIT and "envcheck-too-old" in stderr:
            version = scrub_value(stderr.split("envcheck-too-old", 1)[1].strip()[:20])
            raise RunnerError(f"{self.label}: Python {version} is older than 3.8, which the evidence checks need")
        return ChildRun(
            returncode=returncode(code),
            stdout=stdout,
            stderr=stderr,
            timed_out=streamed.timed_out,
            output_limited=streamed.output_limited,
            network=network,
            memory_limit=self.memory_limit,
        )
