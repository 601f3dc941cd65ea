"""The Python API: ``snapshot`` at the end of training, ``check`` and ``diff`` before deploying."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import List, Optional, Sequence, Tuple, Union

from envcheck import capture, lockfile
from envcheck.collect.models import rehash_models, resolve_recorded
from envcheck.compare import compare, resolve_fail_on
from envcheck.evidence.request import EvidenceRequest, describe, gather
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

    Model paths are recorded relative to the lockfile's folder (an absolute one outside it as given), so that
    ``check`` finds them from any working directory.
    """
    fp = capture.take(
        target or LocalTarget(),
        models=[str(m) for m in models],
        extra_env=list(env),
        loaded=loaded,
        models_base=None if path is None else lockfile_folder(path),
    )
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
    evidence: Optional[EvidenceRequest] = None,
) -> Report:
    """Compare a lockfile with a live environment (default: this interpreter), self-checks included.

    Called inside the serving process, the libraries it loaded are compared too (``loaded=False``: not).

    ``evidence`` (opt-in: it runs the candidate's code, in a child of its interpreter) imports the modules the
    model needs and, when asked, loads the model files; what it saw replaces the guesses about them
    (``envcheck.observed``).

    Model files recorded in the lockfile are hashed again at the same paths unless ``models`` names others.
    Raises ``LockfileError``, ``PolicyError``, ``TargetError`` or ``ModelPathError``.
    """
    expected = _lock(lock, verify=not ignore_digest)
    pol = _policy(policy, lock)
    target = target or LocalTarget()
    extra_env: List[str] = sorted({*expected.env.variables, *expected.env.redacted, *pol.extra_env})
    given = [str(m) for m in models] if models is not None else []
    bases = _model_bases(expected, lock)
    base = bases[0] if expected.meta.model_paths == "lockfile" else None
    actual = capture.take(target, models=given, extra_env=extra_env, loaded=loaded, models_base=base)
    if models is None and expected.models:
        actual = _with_models(actual, [m.path for m in expected.models], bases)
    name = str(lock) if not isinstance(lock, Fingerprint) else "lockfile"
    threshold = resolve_fail_on(fail_on, pol)
    report = compare(
        expected, actual, pol, self_checks=True, expected_name=name, actual_name=target.name, fail_on=threshold
    )
    if evidence is None:
        return report
    if models is not None:
        files = [(str(m), str(m)) for m in models]
    elif evidence.locate is not None:
        found = ((m.path, evidence.locate(m.path)) for m in expected.models)
        files = [(recorded, there) for recorded, there in found if there is not None]
    else:
        files = _model_files(expected, bases)
    observed = gather(evidence, expected, actual, pol, report, files)
    report = compare(
        expected,
        actual,
        pol,
        self_checks=True,
        expected_name=name,
        actual_name=target.name,
        fail_on=threshold,
        observed=observed,
    )
    return dataclasses.replace(report, evidence=describe(observed, evidence))


def _model_files(expected: Fingerprint, bases: Sequence[str]) -> List[Tuple[str, str]]:
    """(recorded path, path here) of the lockfile's model files, where they resolve."""
    found = ((m.path, resolve_recorded(m.path, bases)) for m in expected.models)
    return [(recorded, str(path)) for recorded, path in found if path is not None]


def lockfile_folder(path: PathLike) -> str:
    """The folder a lockfile is in: what its model paths are relative to."""
    return os.path.dirname(os.path.abspath(path))


def _model_bases(expected: Fingerprint, lock: Union[PathLike, Fingerprint]) -> List[str]:
    """Where the lockfile's relative model paths are looked for: its folder for one that records them so; for an
    older one (paths relative to the snapshot's working directory) the working directory, then its folder."""
    if isinstance(lock, Fingerprint):
        return [os.getcwd()]
    folder = lockfile_folder(lock)
    return [folder] if expected.meta.model_paths == "lockfile" else [os.getcwd(), folder]


def _with_models(fp: Fingerprint, recorded: Sequence[str], bases: Sequence[str]) -> Fingerprint:
    sources = dict(fp.sources)
    files = rehash_models(recorded, bases)
    sources["models"] = Source(OK, f"{len(files)} recorded model files hashed again (from {bases[0]})")
    return dataclasses.replace(fp, models=files, sources=sources)


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
