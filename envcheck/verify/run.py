"""Verifying a target's installed files, and the report of it without a lockfile (``envcheck verify-files``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

from envcheck.findings import Report, Severity
from envcheck.verify.hashing import HashCache
from envcheck.verify.result import Verification
from envcheck.verify.scan import verify_sites

if TYPE_CHECKING:
    from envcheck.policy import Policy
    from envcheck.targets.interface import Target


def verify_target(
    target: Target, cache: Optional[HashCache] = None, threads: Optional[int] = None
) -> Verification:
    """Hash every file the target's distributions' RECORDs list and compare; raises ``TargetError`` for a target
    that does not show its files. ``cache``: keep one across calls (the sidecar) to re-verify cheaply."""
    with target.files() as view:
        return verify_sites(view.root, view.sites, target=target.name, cache=cache, threads=threads)


def files_report(
    verification: Verification, policy: Optional[Policy] = None, fail_on: Optional[Severity] = Severity.HIGH
) -> Report:
    """The findings of a verification alone (no lockfile): ``package.files.modified`` per distribution that
    differs, under the policy's ignores and overrides; the summary line as the check's evidence line."""
    from envcheck.compare import findings_from
    from envcheck.policy import Policy
    from envcheck.verify.findings import file_changes

    findings = findings_from(file_changes(verification), policy or Policy())
    return Report(
        findings=findings,
        expected_name="the distributions' RECORD files",
        actual_name=verification.target,
        fail_on=fail_on,
        evidence=(verification.summary(),),
    )
