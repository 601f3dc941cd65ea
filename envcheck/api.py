"""The Python API: what a training script calls at its end."""

from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence, Union

from envcheck import capture, lockfile
from envcheck.model import Fingerprint
from envcheck.targets.local import LocalTarget


def snapshot(
    path: Optional[Union[str, Path]] = "envcheck.lock",
    models: Sequence[Union[str, Path]] = (),
    env: Sequence[str] = (),
) -> Fingerprint:
    """Fingerprint this process's environment and write it to ``path`` (``None``: do not write).

    Called inside the training process it also records the native libraries that process really loaded.
    Raises ``envcheck.TargetError``, ``envcheck.ModelPathError`` or ``envcheck.LockfileError``.
    """
    fp = capture.take(LocalTarget(), models=[str(m) for m in models], extra_env=list(env))
    if path is not None:
        fp = lockfile.write(fp, path)
    return fp
