"""Which runner the opt-in checks use for a target: a child of the candidate's own interpreter.

This interpreter or ``--python PATH``: a local child; ``--image``/``--container``: a container (``DockerRunner``).
A target read without running anything (``--root``, ``--image-archive``) has no interpreter to run, and
``--pid``/``--process-match`` would run the target's interpreter from outside its container: not offered, with
a line that says what to use instead.
"""

from __future__ import annotations

import sys

from envcheck.evidence.interface import EvidenceError, Runner
from envcheck.evidence.local import LocalRunner
from envcheck.targets.factory import TargetSpec


def runner_for(spec: TargetSpec) -> Runner:
    """The runner for the target ``spec`` names; raises ``EvidenceError`` for a target that has none."""
    if spec.root is not None or spec.image_archive is not None:
        raise EvidenceError(
            "--import and --load-model run the candidate's interpreter: --root and --image-archive are read "
            "without running anything (use --image, --container or --python)"
        )
    if spec.pid is not None or spec.process_match is not None:
        raise EvidenceError(
            "--import and --load-model are not offered for --pid/--process-match (they would run the "
            "target's interpreter from outside its container): use --container, or --python with its interpreter"
        )
    if spec.image is not None or spec.container is not None:
        from envcheck.evidence.docker import DockerRunner

        if spec.image is not None:
            return DockerRunner.for_image(spec.image)
        return DockerRunner.for_container(str(spec.container))
    return LocalRunner(spec.python or sys.executable)
