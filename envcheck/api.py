"""The Python API: ``snapshot`` at the end of training, ``check`` and ``diff`` before deploying."""

from __future__ import annotations

import dataclasses
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, List, Optional, Sequence, Tuple, Union

# What every call needs; the rest is imported by the calls that use it (a snapshot never loads the rules).
from envcheck import capture, lockfile
from envcheck.model import Fingerprint
from envcheck.targets.local import LocalTarget

if TYPE_CHECKING:
    from envcheck.evidence.interface import Runner
    from envcheck.evidence.request import EvidenceRequest
    from envcheck.expected import ExpectedSide
    from envcheck.findings import Report
    from envcheck.golden.case import GoldenCase
    from envcheck.model import GoldenInfo
    from envcheck.policy import Policy
    from envcheck.restore import Plan as RemedyPlan
    from envcheck.targets.interface import Target
    from envcheck.verify.hashing import HashCache

PathLike = Union[str, Path]


def snapshot(
    path: Optional[PathLike] = "envcheck.lock",
    models: Sequence[PathLike] = (),
    env: Sequence[str] = (),
    target: Optional[Target] = None,
    loaded: bool = True,
    numerics: Union[bool, Runner] = False,
    golden: Union[bool, Sequence[PathLike]] = False,
    golden_runner: Optional[Runner] = None,
) -> Fingerprint:
    """Fingerprint this process's environment (or ``target``) and write it to ``path`` (``None``: do not write).

    Called inside the training process it also records the native libraries that process really loaded
    (``loaded=False`` leaves them out). Raises ``envcheck.TargetError``, ``envcheck.ModelPathError`` or
    ``envcheck.LockfileError``.

    Model paths are recorded relative to the lockfile's folder (an absolute one outside it as given), so that
    ``check`` finds them from any working directory.

    ``numerics`` (opt-in) runs the numerics battery in a child of the target's interpreter (``True``: this
    interpreter; a ``Runner``: that one, e.g. ``envcheck.numerics.run.runner_for(spec)``) and records it.

    ``golden`` (opt-in) binds golden cases to the lockfile (``envcheck.golden``): ``True``, those ``record``
    wrote to ``envcheck.golden/`` beside it; files (JSON, ``.npz``, an MLflow model folder, whose model
    ``golden_runner`` runs: default this interpreter for a local target) are recorded there first.
    """
    golden_info = None
    if golden is not False:
        golden_info = _golden(path, golden, golden_runner if golden_runner or target else local_runner())
    fp = capture.take(
        target or LocalTarget(),
        models=[str(m) for m in models],
        extra_env=list(env),
        loaded=loaded,
        models_base=None if path is None else lockfile_folder(path),
        numerics=_numerics_runner(numerics),
    )
    if golden_info is not None:
        fp = dataclasses.replace(fp, golden=golden_info)
    if path is not None:
        fp = lockfile.write(fp, path)
    return fp


def _golden(
    path: Optional[PathLike], golden: Union[bool, Sequence[PathLike]], runner: Optional[Runner]
) -> GoldenInfo:
    from envcheck.golden.case import GoldenError
    from envcheck.golden.recording import recorded
    from envcheck.golden.store import DEFAULT_LIMIT

    if path is None:
        raise GoldenError("golden cases are stored beside the lockfile: give it a path")
    files: List[PathLike] = [] if isinstance(golden, bool) else list(golden)
    return recorded(path, files, runner, DEFAULT_LIMIT)


def local_runner() -> Runner:
    from envcheck.evidence.local import LocalRunner

    return LocalRunner(sys.executable)


def _numerics_runner(numerics: Union[bool, Runner]) -> Optional[Runner]:
    if numerics is False:
        return None
    if numerics is True:
        from envcheck.numerics.run import local_runner

        return local_runner()
    return numerics


def _lock(lock: Union[PathLike, Fingerprint], verify: bool) -> Fingerprint:
    return lock if isinstance(lock, Fingerprint) else lockfile.read(lock, verify=verify)


def _side(lock: Union[PathLike, Fingerprint], verify: bool, fmt: str, name: str = "lockfile") -> ExpectedSide:
    """The expected side of check/diff: a Fingerprint as given (reported as ``name``), else the envcheck lockfile,
    requirements.txt, pylock.toml, uv.lock or MLflow model at ``lock`` (``envcheck.expected``; ``fmt``: auto)."""
    from envcheck.expected import ExpectedSide, read_expected

    if isinstance(lock, Fingerprint):
        return ExpectedSide(name, "", "envcheck", lock=lock)
    return read_expected(lock, fmt, verify=verify)


def _with_side_line(report: Report, side: ExpectedSide, actual: Fingerprint) -> Report:
    """``report`` with a line on what a partial expected side (not an envcheck lockfile) stated and left out."""
    line = side.describe(actual)
    return report if line is None else dataclasses.replace(report, evidence=(*report.evidence, line))


def _policy(policy: Union[Policy, PathLike, None], lock: Union[PathLike, Fingerprint]) -> Policy:
    from envcheck.policy import Policy, find_policy, load_policy
    from envcheck.rules.rulebook import BY_ID

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
    numerics: Union[bool, Runner] = False,
    expected_format: str = "auto",
    files: bool = False,
) -> Report:
    """Compare a lockfile with a live environment (default: this interpreter), self-checks included.

    ``lock`` may also be a pinned requirements.txt, a pylock.toml, a uv.lock or an MLflow model folder (detected
    from the content; ``expected_format`` forces one of ``envcheck.expected.FORMATS``): their markers are
    evaluated for the candidate, and what they do not state (hardware, native libraries, env) is skipped.

    Called inside the serving process, the libraries it loaded are compared too (``loaded=False``: not).

    ``evidence`` (opt-in: it runs the candidate's code, in a child of its interpreter) imports the modules the
    model needs and, when asked, loads the model files; what it saw replaces the guesses about them
    (``envcheck.observed``).

    ``numerics`` (opt-in) reruns the numerics battery in the candidate (``True``: this interpreter; a
    ``Runner``: that one) and compares it kernel by kernel with the lockfile's (``numerics.changed``); a battery
    that comes out bitwise equal marks the guesses about BLAS, threads, CPU and numpy/scipy/torch versions
    observed equivalent. Without a battery in the lockfile there is nothing to compare: ``LockfileError``.

    ``files`` (opt-in) hashes every file the candidate's distributions' RECORDs list and compares
    (``envcheck.verify``): modified, missing and unexpected files are ``package.files.modified`` findings.

    Model files recorded in the lockfile are hashed again at the same paths unless ``models`` names others.
    Raises ``LockfileError``, ``PolicyError``, ``TargetError`` or ``ModelPathError``.
    """
    from envcheck.compare import compare, resolve_fail_on
    from envcheck.evidence.request import describe, gather
    from envcheck.observed import Observed

    side = _side(lock, not ignore_digest, expected_format)
    lock = side.path or lock  # an MLflow folder's envcheck.lock: model paths are relative to it
    expected = side.fingerprint_for(None)
    pol = _policy(policy, lock)
    target = target or LocalTarget()
    extra_env: List[str] = sorted({*expected.env.variables, *expected.env.redacted, *pol.extra_env})
    given = [str(m) for m in models] if models is not None else []
    bases = _model_bases(expected, lock)
    base = bases[0] if expected.meta.model_paths == "lockfile" else None
    runner = _numerics_runner(numerics)
    if runner is not None and expected.numerics is None:
        where = lock if not isinstance(lock, Fingerprint) else "the lockfile"
        how = (
            "take the snapshot with --numerics"
            if side.lock is not None
            else f"a {side.format} file records none: check against an envcheck lockfile taken with --numerics"
        )
        raise lockfile.LockfileError(f"{where}: holds no numerics battery to compare with ({how})")
    actual = capture.take(
        target, models=given, extra_env=extra_env, loaded=loaded, models_base=base, numerics=runner
    )
    if models is None and expected.models:
        actual = _with_models(actual, [m.path for m in expected.models], bases)
    expected = side.fingerprint_for(actual)
    name = side.name
    threshold = resolve_fail_on(fail_on, pol)
    report = compare(
        expected, actual, pol, self_checks=True, expected_name=name, actual_name=target.name, fail_on=threshold
    )
    verified = None
    if files:
        from envcheck.verify.run import verify_target

        verified = verify_target(target)
    if evidence is None and verified is None:
        return _with_side_line(_with_numerics_line(report, expected, actual), side, actual)
    observed = Observed()
    if evidence is not None:
        if models is not None:
            model_files = [(str(m), str(m)) for m in models]
        elif evidence.locate is not None:
            found = ((m.path, evidence.locate(m.path)) for m in expected.models)
            model_files = [(recorded, there) for recorded, there in found if there is not None]
        else:
            model_files = _model_files(expected, bases)
        observed = gather(evidence, expected, actual, pol, report, model_files)
    observed = dataclasses.replace(observed, files=verified)
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
    lines = describe(observed, evidence) if evidence is not None else ()
    if verified is not None:
        lines = (*lines, verified.summary())
    report = dataclasses.replace(report, evidence=lines)
    return _with_side_line(_with_numerics_line(report, expected, actual), side, actual)


def verify_files(
    *,
    target: Optional[Target] = None,
    policy: Union[Policy, PathLike, None] = None,
    fail_on: Optional[str] = None,
    cache: Optional[HashCache] = None,
) -> Report:
    """Verify a target's installed files against their distributions' RECORDs, without a lockfile: every file a
    RECORD lists hashed and compared, package folders searched for files no RECORD lists
    (``package.files.modified`` per distribution that differs). ``cache`` (``envcheck.verify.HashCache``), kept
    across calls, makes a re-verify of an unchanged environment one ``stat`` per file. Raises ``TargetError`` for
    a target that does not show its files, ``PolicyError``."""
    from envcheck.compare import resolve_fail_on
    from envcheck.policy import Policy, load_policy
    from envcheck.rules.rulebook import BY_ID
    from envcheck.verify.run import files_report, verify_target

    pol = policy if isinstance(policy, Policy) else load_policy(policy, BY_ID) if policy is not None else Policy()
    verification = verify_target(target or LocalTarget(), cache=cache)
    return files_report(verification, pol, resolve_fail_on(fail_on, pol))


def _with_numerics_line(report: Report, expected: Fingerprint, actual: Fingerprint) -> Report:
    """``report`` with a line saying what the numerics battery compared (it ran: an unchanged battery adds no
    finding, and the user must still see that it ran), after the evidence lines already there."""
    from envcheck.numerics.describe import describe as describe_numerics

    if expected.numerics is None or actual.numerics is None:
        return report
    line = describe_numerics(expected.numerics, actual.numerics)
    return dataclasses.replace(report, evidence=(*report.evidence, line))


def _model_files(expected: Fingerprint, bases: Sequence[str]) -> List[Tuple[str, str]]:
    """(recorded path, path here) of the lockfile's model files, where they resolve."""
    from envcheck.collect.models import resolve_recorded

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
    from envcheck.collect.models import rehash_models
    from envcheck.model import OK, Source
    from envcheck.rules.models import looked_in_detail

    sources = dict(fp.sources)
    files = rehash_models(recorded, bases)
    sources["models"] = Source(OK, looked_in_detail(len(files), bases))
    return dataclasses.replace(fp, models=files, sources=sources)


def diff(
    old: Union[PathLike, Fingerprint],
    new: Union[PathLike, Fingerprint],
    *,
    policy: Union[Policy, PathLike, None] = None,
    fail_on: Optional[str] = None,
    ignore_digest: bool = False,
    expected_format: str = "auto",
) -> Report:
    """Compare two lockfiles: what changed from ``old`` (verified) to ``new`` (the candidate). ``old`` may also
    be a requirements.txt, pylock.toml, uv.lock or MLflow model (``expected_format``, as ``check``); ``new`` is
    an envcheck lockfile, whose interpreter the markers are evaluated for."""
    from envcheck.compare import compare, resolve_fail_on

    side = _side(old, not ignore_digest, expected_format, name="old")
    actual = _lock(new, not ignore_digest)
    expected = side.fingerprint_for(actual)
    pol = _policy(policy, side.path or old)
    report = compare(
        expected,
        actual,
        pol,
        expected_name=side.name,
        actual_name=str(new) if not isinstance(new, Fingerprint) else "new",
        fail_on=resolve_fail_on(fail_on, pol),
    )
    return _with_side_line(report, side, actual)


def canary(
    lock: Union[PathLike, Fingerprint],
    endpoint: str,
    protocol: str = "mlflow",
    *,
    model: str = "",
    cases: Sequence[str] = (),
    policy: Union[Policy, PathLike, None] = None,
    fail_on: Optional[str] = None,
    timeout: Optional[float] = None,
    max_bytes: Optional[int] = None,
    ignore_digest: bool = False,
    golden_base: Optional[PathLike] = None,
) -> Report:
    """Replay the golden cases ``lock`` binds against the model server at ``endpoint`` (``protocol``:
    ``mlflow``, ``kserve-v2`` with ``model`` its name, or ``json``) and report what it answers differently
    (``canary.failed``). Raises ``TargetLost`` when the server cannot be asked (down, timed out, an HTTP error, an
    answer too large or not JSON), ``GoldenError`` when the golden files are not what the lockfile bound, and
    ``LockfileError``. ``golden_base``: the folder ``envcheck.golden/`` is in (default: the lockfile's)."""
    from envcheck.canary import parse_endpoint, protocol_for, replay, report_for
    from envcheck.canary.run import DEFAULT_MAX_BYTES, DEFAULT_TIMEOUT
    from envcheck.compare import resolve_fail_on

    expected = _lock(lock, verify=not ignore_digest)
    name = str(lock) if not isinstance(lock, Fingerprint) else "lockfile"
    golden_cases = golden_of(lock, expected, cases, golden_base)
    pol = _policy(policy, lock)
    run = replay(
        golden_cases,
        parse_endpoint(endpoint),
        protocol_for(protocol),
        model=model,
        timeout=timeout or DEFAULT_TIMEOUT,
        max_bytes=max_bytes or DEFAULT_MAX_BYTES,
    )
    return report_for(run, policy=pol, lock_name=name, fail_on=resolve_fail_on(fail_on, pol))


def golden_of(
    lock: Union[PathLike, Fingerprint],
    expected: Fingerprint,
    cases: Sequence[str] = (),
    golden_base: Optional[PathLike] = None,
) -> Tuple[GoldenCase, ...]:
    """The golden cases ``expected`` (read from ``lock``) binds, from ``envcheck.golden/`` beside the lockfile
    (or in ``golden_base``), each checked against its recorded digest; only those named in ``cases`` when given.
    Raises ``GoldenError``."""
    from envcheck.golden.case import GoldenError
    from envcheck.golden.store import load_bound

    name = str(lock) if not isinstance(lock, Fingerprint) else "lockfile"
    if expected.golden is None or not expected.golden.cases:
        raise GoldenError(f"{name}: binds no golden cases (take the snapshot with --golden)")
    base = golden_base if golden_base is not None else (lock if not isinstance(lock, Fingerprint) else None)
    if base is None:
        raise GoldenError("a lockfile given as a Fingerprint needs golden_base: where envcheck.golden/ is")
    anchor = os.path.join(base, "envcheck.lock") if golden_base is not None else base
    return tuple(load_bound(anchor, expected.golden, cases))


def export(lock: Union[PathLike, Fingerprint], fmt: str = "cyclonedx", *, ignore_digest: bool = False) -> str:
    """A lockfile as a standard document: ``fmt`` ``cyclonedx`` (a CycloneDX 1.6 SBOM, JSON; needs
    ``cyclonedx-python-lib``: ``pip install 'envcheck[sbom]'``) or ``in-toto`` (an in-toto Statement v1 whose
    subjects are the model files, for ``cosign``). The same lockfile always gives the same text.

    Entries the document cannot represent (a package name no purl can carry) are left out; ``envcheck export``
    prints a warning for each (``envcheck.exporters.export`` returns them as ``notes``). Raises
    ``LockfileError`` and ``envcheck.exporters.ExportError`` (``MissingLibraryError``, ``NoSubjectError``)."""
    from envcheck.exporters import export as render

    return render(_lock(lock, verify=not ignore_digest), fmt).text


def remedy_plan(
    lock: Union[PathLike, Fingerprint], target: Optional[Target] = None, *, ignore_digest: bool = False
) -> RemedyPlan:
    """What restores the package set ``lock`` recorded on ``target`` (default: this interpreter), before it is
    written (``envcheck.restore``). ``lock`` is an envcheck lockfile, or an MLflow model folder holding one.
    Raises ``RemedyError``, ``LockfileError`` and ``TargetError``."""
    from envcheck.compare import compare
    from envcheck.policy import Policy
    from envcheck.restore import RemedyError, plan

    side = _side(lock, not ignore_digest, "auto")
    if side.lock is None:
        raise RemedyError(f"{side.name}: remedy needs an envcheck lockfile, not a {side.format} file")
    expected = side.lock
    target = target or LocalTarget()
    actual = capture.take(target, loaded=False)
    report = compare(expected, actual, Policy(), expected_name=side.name, actual_name=target.name)
    return plan(expected, actual, report, lock_name=side.name, target_name=target.name)


def remedy(
    lock: Union[PathLike, Fingerprint],
    target: Optional[Target] = None,
    fmt: str = "requirements",
    *,
    ignore_digest: bool = False,
) -> str:
    """A pip requirements file (``fmt="requirements"``) or a PEP 751 ``pylock.toml`` (``"pylock"``) that restores
    the package set ``lock`` recorded on ``target`` (default: this interpreter): every recorded package pinned
    at its recorded version, with the recorded archive hashes where every package has one. What no package
    manager restores (Python, OS, CPU, GPU driver) is listed in the comments at the top. Raises ``RemedyError``,
    ``LockfileError`` and ``TargetError``."""
    from envcheck.restore import FORMATS, RemedyError, render

    if fmt not in FORMATS:  # before the candidate is read: that may take a while
        raise RemedyError(f"unknown remedy format {fmt!r} (one of {', '.join(FORMATS)})")
    return render(remedy_plan(lock, target, ignore_digest=ignore_digest), fmt)
