"""The Python API: ``snapshot`` at the end of training, ``check`` and ``diff`` before deploying."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import List, Optional, Sequence, Union

from envcheck import capture, lockfile
from envcheck.collect.models import digest_models
from envcheck.compare import compare, resolve_fail_on
from envcheck.findings import Report
from envcheck.model import OK, Fingerprint, Source
from envcheck.policy import Policy, find_policy, load_policy
from envcheck.rules.rulebook import BY_ID
from envcheck.targets.interface import Target
from envcheck.targets.local import LocalTarget

PathLike = Union[str, Path]


def snapshot(
    path: Optional[PathLike] = "envcheck.lock",
    models: Sequence[PathLike] = (),
    env: Sequence[str] = (),
    target: Optional[Target] = None,
    loaded: bool = True,
) -> Fingerprint:
    """Fingerprint this process's environment (or ``target``) and write it to ``path`` (``None``: do not write).

    Called inside the training process it also records the native libraries that process really loaded
    (``loaded=False`` leaves them out). Raises ``envcheck.TargetError``, ``envcheck.ModelPathError`` or
    ``envcheck.LockfileError``.
    """
    fp = capture.take(target or LocalTarget(), models=[str(m) for m in models], extra_env=list(env), loaded=loaded)
    if path is not None:
        fp = lockfile.write(fp, path)
    return fp


def _lock(lock: Union[PathLike, Fingerprint], verify: bool) -> Fingerprint:
    return lock if isinstance(lock, Fingerprint) else lockfile.read(lock, verify=verify)


def _policy(policy: Union[Policy, PathLike, None], lock: Union[PathLike, Fingerprint]) -> Policy:
    if isinstance(policy, Policy):
        return policy
    if policy is not None:
        return load_policy(policy, BY_ID)
    if isinstance(lock, Fingerprint):
        return Policy()
    return find_policy(lock, BY_ID)


def check(
    lock: Union[PathLike, Fingerprint],
    *,
    target: Optional[Target] = None,
    policy: Union[Policy, PathLike, None] = None,
    fail_on: Optional[str] = None,
    models: Optional[Sequence[PathLike]] = None,
    ignore_digest: bool = False,
    loaded: bool = True,
) -> Report:
    """Compare a lockfile with a live environment (default: this interpreter), self-checks included.

    Called inside the serving process, the libraries it loaded are compared too (``loaded=False``: not).

    Model files recorded in the lockfile are hashed again at the same paths unless ``models`` names others.
    Raises ``LockfileError``, ``PolicyError``, ``TargetError`` or ``ModelPathError``.
    """
    expected = _lock(lock, verify=not ignore_digest)
    pol = _policy(policy, lock)
    target = target or LocalTarget()
    extra_env: List[str] = sorted({*expected.env.variables, *expected.env.redacted, *pol.extra_env})
    given = [str(m) for m in models] if models is not None else []
    actual = capture.take(target, models=given, extra_env=extra_env, loaded=loaded)
    if models is None and expected.models:
        present = [m.path for m in expected.models if Path(m.path).is_file()]
        actual = _with_models(actual, present)
    name = str(lock) if not isinstance(lock, Fingerprint) else "lockfile"
    return compare(
        expected,
        actual,
        pol,
        self_checks=True,
        expected_name=name,
        actual_name=target.name,
        fail_on=resolve_fail_on(fail_on, pol),
    )


def _with_models(fp: Fingerprint, paths: Sequence[str]) -> Fingerprint:
    sources = dict(fp.sources)
    sources["models"] = Source(OK, f"{len(paths)} recorded model files hashed again")
    return dataclasses.replace(fp, models=digest_models(paths), sources=sources)


def diff(
    old: Union[PathLike, Fingerprint],
    new: Union[PathLike, Fingerprint],
    *,
    policy: Union[Policy, PathLike, None] = None,
    fail_on: Optional[str] = None,
    ignore_digest: bool = False,
) -> Report:
    """Compare two lockfiles: what changed from ``old`` (verified) to ``new`` (the candidate)."""
    expected, actual = _lock(old, not ignore_digest), _lock(new, not ignore_digest)
    pol = _policy(policy, old)
    return compare(
        expected,
        actual,
        pol,
        expected_name=str(old) if not isinstance(old, Fingerprint) else "old",
        actual_name=str(new) if not isinstance(new, Fingerprint) else "new",
        fail_on=resolve_fail_on(fail_on, pol),
    )
