"""From the command line's target options to a ``Target``: at most one of them, the default being this
interpreter."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Optional, Tuple

from envcheck.targets.interface import Target, TargetError
from envcheck.targets.limits import Limits, parse_limits
from envcheck.targets.local import LocalTarget


@dataclass(frozen=True)
class TargetSpec:
    """The target options as given (None: not given)."""

    python: Optional[str] = None
    pid: Optional[int] = None
    process_match: Optional[str] = None
    root: Optional[str] = None
    image: Optional[str] = None
    container: Optional[str] = None
    image_archive: Optional[str] = None
    blas_kernels: bool = False
    """For --pid/--process-match: load each OpenBLAS the process mapped in a child to ask its kernel set."""
    archive_limit: Tuple[str, ...] = ()
    """For --image-archive/--image: extraction limits as ``KEY=VALUE`` (``archive.parse_limits``)."""

    def given(self) -> list[str]:
        """The target options given (not the modifiers)."""
        return [f.name for f in fields(self) if f.name not in _MODIFIERS and getattr(self, f.name) is not None]


_MODIFIERS = ("blas_kernels", "archive_limit")


def validate(spec: TargetSpec) -> None:
    """Raise ``TargetError`` for options that do not go together (checked before anything is read)."""
    given = spec.given()
    if len(given) > 1:
        options = ", ".join("--" + name.replace("_", "-") for name in given)
        raise TargetError(f"give at most one target option, not {options}")
    if spec.blas_kernels and spec.pid is None and spec.process_match is None:
        raise TargetError("--blas-kernels applies to --pid and --process-match only")
    if spec.archive_limit and spec.image_archive is None and spec.image is None:
        raise TargetError("--archive-limit applies to --image-archive and --image only")
    _limits(spec)


def _limits(spec: TargetSpec) -> Limits:
    try:
        return parse_limits(spec.archive_limit)
    except ValueError as e:
        raise TargetError(str(e)) from e


def make_target(spec: TargetSpec) -> Target:
    """The target the options name; raises ``TargetError`` when they do not go together."""
    validate(spec)
    if spec.python is not None:
        from envcheck.targets.python import PythonTarget

        return PythonTarget(spec.python)
    if spec.pid is not None:
        from envcheck.targets.pid import PidTarget

        return PidTarget(spec.pid, blas_kernels=spec.blas_kernels)
    if spec.process_match is not None:
        from envcheck.targets.pid import PidTarget

        return PidTarget.matching(spec.process_match, blas_kernels=spec.blas_kernels)
    if spec.root is not None:
        from envcheck.targets.root import RootTarget

        return RootTarget(spec.root)
    if spec.image is not None:
        from envcheck.targets.docker import ImageTarget

        return ImageTarget(spec.image, limits=_limits(spec))
    if spec.container is not None:
        from envcheck.targets.docker import ContainerTarget

        return ContainerTarget(spec.container)
    if spec.image_archive is not None:
        from envcheck.targets.archive import ImageArchiveTarget

        return ImageArchiveTarget(spec.image_archive, limits=_limits(spec))
    return LocalTarget()
