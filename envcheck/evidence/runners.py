"""Which runner the opt-in checks use for a target: a child of the candidate's own interpreter, and where that
child finds the model files.

This interpreter or ``--python PATH``: a local child (the model files at their paths here). ``--image``: a
container of the image (the files bind-mounted read-only). ``--container``: ``exec`` in it (the lockfile's
absolute model paths, as the container sees them). ``--pid``/``--process-match`` only with ``--pid-exec``: the
target's own interpreter run inside its root (``chroot /proc/PID/root``, as root: it runs the target's code from
envcheck's namespaces, network cut), the model files at their paths there. A target read without running anything
(``--root``, ``--image-archive``) has no interpreter to run.
"""

from __future__ import annotations

import posixpath
import sys
from typing import Callable, Optional

from envcheck.evidence.interface import EvidenceError, Runner
from envcheck.evidence.local import LocalRunner
from envcheck.evidence.request import EvidenceRequest
from envcheck.targets.factory import TargetSpec
from envcheck.targets.interface import TargetError
from envcheck.targets.pid import PidTarget
from envcheck.tree import Tree

#: Where the child opens a model file recorded at a path: None when it is not there.
Locate = Callable[[str], Optional[str]]


def request_for(spec: TargetSpec, *, load_models: bool, timeout: float, pid_exec: bool = False) -> EvidenceRequest:
    """The evidence request for the target ``spec`` names; raises ``EvidenceError`` for a target that has no
    interpreter to run, or ``--pid`` without ``pid_exec``."""
    if spec.root is not None or spec.image_archive is not None:
        raise EvidenceError(
            "--import and --load-model run the candidate's interpreter: --root and --image-archive are read "
            "without running anything (use --image, --container or --python)"
        )
    if pid_exec and spec.pid is None and spec.process_match is None:
        raise EvidenceError("--pid-exec applies to --pid and --process-match only")
    runner: Runner
    locate: Optional[Locate] = None
    if spec.pid is not None or spec.process_match is not None:
        if not pid_exec:
            raise EvidenceError(
                "--import and --load-model with --pid/--process-match run the target's own interpreter inside "
                "its root from here: add --pid-exec to allow it (needs root), or use --container"
            )
        runner, locate = _pid_runner(spec)
    elif spec.image is not None or spec.container is not None:
        from envcheck.evidence.docker import DockerRunner

        if spec.image is not None:
            runner = DockerRunner.for_image(spec.image)
        else:
            runner = DockerRunner.for_container(str(spec.container))
            locate = _absolute
    else:
        runner = LocalRunner(spec.python or sys.executable)
    return EvidenceRequest(runner, load_models=load_models, timeout=timeout, locate=locate)


def _absolute(recorded: str) -> Optional[str]:
    return recorded if posixpath.isabs(recorded) else None


def _pid_runner(spec: TargetSpec) -> tuple[Runner, Locate]:
    try:
        target = PidTarget(spec.pid) if spec.pid is not None else PidTarget.matching(str(spec.process_match))
        interpreter, environ, cwd = target.interpreter(), target.environment(), target.working_directory()
    except TargetError as e:
        raise EvidenceError(str(e)) from e
    root = target.root

    def locate(recorded: str) -> Optional[str]:
        inside = posixpath.normpath(posixpath.join(cwd, recorded))
        with Tree(root) as tree:
            return inside if tree.is_file(inside) else None

    return LocalRunner(interpreter, environ=environ, root=root), locate
