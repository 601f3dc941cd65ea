"""Running the opt-in checks for ``check --import`` / ``--load-model`` and turning what they saw into
``envcheck.observed.Observed``: which modules to import (the model's, the model-critical packages', and those of
packages a finding suspects), the model files to load, and one line per check for the report."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from envcheck.evidence.imports import DEFAULT_TIMEOUT, import_check
from envcheck.evidence.interface import Network, Runner
from envcheck.evidence.loads import load_check
from envcheck.findings import AVAILABILITY, Report
from envcheck.model import Fingerprint
from envcheck.modelscope import model_scope
from envcheck.observed import Observed, Seen, load_warnings, modules_to_import
from envcheck.policy import Policy

#: Findings that say a package is absent: there is nothing of it to import.
_ABSENT = ("package.missing", "package.missing.critical", "package.missing.most")


@dataclass(frozen=True)
class EvidenceRequest:
    """What the user opted in to, and where it runs."""

    runner: Runner
    """A child of the candidate's interpreter (``LocalRunner``, ``DockerRunner``)."""
    load_models: bool = False
    """Also load the model files (``--load-model``): for pickles, that runs the file's own code."""
    timeout: float = DEFAULT_TIMEOUT
    """Seconds each child may take."""
    locate: Optional[Callable[[str], Optional[str]]] = None
    """Where the child opens a model file recorded at a path (None: not there); None: at its path here."""


def suspects(report: Report) -> List[str]:
    """Packages a finding says may fail to import: the availability findings about an installed package."""
    return sorted(
        {f.subject for f in report.findings if f.component == "packages" and AVAILABILITY in f.risks}
        - {f.subject for f in report.findings if f.id in _ABSENT}
    )


def gather(
    request: EvidenceRequest,
    expected: Fingerprint,
    actual: Fingerprint,
    policy: Policy,
    report: Report,
    files: Sequence[Tuple[str, str]],
) -> Observed:
    """Run the checks asked for; ``files`` pairs each model file's recorded path with where it is here."""
    critical = sorted(policy.model_critical | model_scope(expected).referenced)
    modules = modules_to_import(expected, actual, critical, suspects(report))
    imports: Dict[str, Seen] = {}
    how = ""
    if modules:
        done = import_check(request.runner, modules, timeout=request.timeout)
        imports = {r.module: Seen(r.ok, r.error or "", _where(r.version, r.location)) for r in done.results}
        how = _how(done.executable, done.python, done.network, done.memory_limit)
    loads: Dict[str, Seen] = {}
    if request.load_models and files:
        by_host = {host: recorded for recorded, host in files}
        loaded = load_check(request.runner, [host for _, host in files], timeout=request.timeout)
        loads = {
            by_host[r.path]: Seen(r.ok, r.error or "", r.loaded_type or "", r.warnings) for r in loaded.results
        }
        how = how or _how(loaded.executable, loaded.python, loaded.network, loaded.memory_limit)
    return Observed(imports=imports, loads=loads, how=how)


def _where(version: Optional[str], location: Optional[str]) -> str:
    return " ".join(part for part in (version or "", f"from {location}" if location else "") if part)


def _how(
    executable: Optional[str], python: Optional[str], network: Optional[Network], limit: Optional[int]
) -> str:
    parts = [f"{executable or 'the candidate'}" + (f" (Python {python})" if python else "")]
    if network is not None:
        parts.append(network.describe())
    parts.append(f"memory limit {limit / (1 << 30):g} GiB" if limit else "no memory limit")
    return ", ".join(parts)


def describe(observed: Observed, request: EvidenceRequest) -> Tuple[str, ...]:
    """One line per check that ran, for the report."""
    lines = []
    if observed.imports:
        failed = [m for m, s in observed.imports.items() if not s.ok]
        ok = len(observed.imports) - len(failed)
        lines.append(
            f"import check: {ok} of {len(observed.imports)} module{'' if len(observed.imports) == 1 else 's'} "
            "imported" + (f", failed: {', '.join(failed[:5])}" if failed else "") + f" ({observed.how})"
        )
    else:
        lines.append("import check: nothing to import (no model file names a module, no package is suspected)")
    if request.load_models:
        if observed.loads:
            failed = [p for p, s in observed.loads.items() if not s.ok]
            ok = len(observed.loads) - len(failed)
            lines.append(
                f"load check: {ok} of {len(observed.loads)} model file{'' if len(observed.loads) == 1 else 's'} "
                f"loaded{load_warnings(observed)} ({observed.how})"
            )
        else:
            lines.append("load check: no model file recorded in the lockfile was found here")
    return tuple(lines)
