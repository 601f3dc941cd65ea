"""The numerics battery in the judgement: a ``numerics.changed`` change per kernel whose results differ beyond
rounding, with its likely cause read from the rest of the two fingerprints, and which other findings an equivalent
battery
answers ("observed equivalent": lowered one level).

Pure: fingerprints in, changes and decisions out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Collection, Dict, Iterator, List, Mapping, Optional, Tuple

from envcheck.model import Fingerprint, NumericsInfo
from envcheck.numerics.compare import KernelDiff, changed, compare_batteries
from envcheck.numerics.results import cores
from envcheck.rules.environment import THREADS
from envcheck.rules.interface import Change

RULE = "numerics.changed"

#: Variables that choose kernels or the floating-point mode rather than the thread count.
KERNEL_VARIABLES = (
    "OPENBLAS_CORETYPE",
    "OPENBLAS_VERBOSE",
    "MKL_CBWR",
    "MKL_ENABLE_INSTRUCTIONS",
    "NPY_DISABLE_CPU_FEATURES",
    "NPY_ENABLE_CPU_FEATURES",
    "ATEN_CPU_CAPABILITY",
    "NVIDIA_TF32_OVERRIDE",
    "TORCH_ALLOW_TF32_CUBLAS_OVERRIDE",
    "CUBLAS_WORKSPACE_CONFIG",
)
#: Battery versions entries that name the GPU rather than a library build (``battery.SOURCE``).
GPU_ENTRIES = ("cuda device",)


@dataclass(frozen=True)
class Accelerator:
    """An optional library another one picks up by itself when it is installed, changing what it computes: its
    mere presence is a cause, not just its version (the battery records it when it was loaded)."""

    user: str
    """The library that picks it up."""
    uses: str
    """What that library hands to it."""
    switch: str
    """How to turn it off without uninstalling it."""


#: The accelerators the battery records (``battery.ACCELERATORS``), by name.
ACCELERATORS = {
    "bottleneck": Accelerator(
        "pandas", "std/var/min/max/median", "`pd.set_option('compute.use_bottleneck', False)`"
    ),
    "numexpr": Accelerator(
        "pandas", "eval/query and arithmetic on large frames", "`pd.set_option('compute.use_numexpr', False)`"
    ),
}

#: Prediction-only rules an equivalent battery answers for the whole environment: the BLAS, the threads, the
#: CPU and the numerics variables are all exercised by the battery's kernels.
ANSWERED = frozenset(
    [
        "native.blas.vendor",
        "native.blas.version",
        "native.blas.kernels",
        "native.blas.duplicate",
        "native.openmp.vendor",
        "env.threads",
        "env.numerics",
        "cpu.isa.lost",
        "cpu.vendor",
        "cpu.model",
    ]
)
#: Prediction-only rules about one package, answered only for the packages the battery ran (``EXERCISED``, when
#: the battery recorded them): an xgboost release is not exercised by a numpy matmul.
ANSWERED_FOR_PACKAGE = frozenset(
    ["package.version.minor.numeric", "package.version.patch", "package.build", "package.build.files"]
)
#: The packages whose kernels the battery runs: bottleneck through pandas' ``std``/``var``, when pandas loaded it.
EXERCISED = frozenset(["numpy", "scipy", "pandas", "bottleneck", "torch"])


def _changed_variables(expected: Fingerprint, actual: Fingerprint, names: Collection[str]) -> List[str]:
    old, new = expected.env.variables, actual.env.variables
    return [
        f"{name} {old.get(name, 'unset')} -> {new.get(name, 'unset')}"
        for name in sorted(set(old) | set(new))
        if name in names and old.get(name) != new.get(name)
    ]


def _threads(info: Optional[NumericsInfo]) -> Tuple[str, ...]:
    return tuple(dict.fromkeys(o.threads for o in info.openblas)) if info else ()


def _blas_versions(info: Optional[NumericsInfo]) -> Tuple[str, ...]:
    return tuple(dict.fromkeys(" ".join(o.config.split()[:2]) for o in info.openblas)) if info else ()


def _accelerators(old: Mapping[str, str], new: Mapping[str, str]) -> Tuple[List[str], List[str]]:
    """(causes, remedies) for each accelerator that appeared, disappeared or changed version between two
    batteries' ``versions``. Only where both batteries loaded its user: a battery older than pandas' kernels, or
    one without pandas, never looked for it."""
    causes: List[str] = []
    remedies: List[str] = []
    for name, acc in sorted(ACCELERATORS.items()):
        then, now = old.get(name), new.get(name)
        if then == now or acc.user not in old or acc.user not in new:
            continue
        uses = f"{acc.user} uses it for {acc.uses} when installed"
        if then is None:
            causes.append(f"{name} {now} added: {uses}")
            remedies.append(f"uninstall {name} or pin it as in training, or {acc.switch}")
        elif now is None:
            causes.append(f"{name} {then} removed: {uses}")
            remedies.append(f"install {name} {then} as in training, or {acc.switch} in both")
        else:
            causes.append(f"{name} {then} -> {now}: {uses}")
            remedies.append(f"pin {name} {then} as in training, or {acc.switch} in both")
    return causes, remedies


def likely_cause(expected: Fingerprint, actual: Fingerprint) -> Tuple[str, str]:
    """(the likely cause of a numerics change, its remedy), from what else differs between the fingerprints:
    the OpenBLAS kernel set and what chose it, the thread count, an accelerator pandas picked up (or no longer
    does), library versions, the GPU and its driver, the CPU."""
    causes: List[str] = []
    remedies: List[str] = []
    old, new = expected.numerics, actual.numerics
    kernel_vars = _changed_variables(expected, actual, KERNEL_VARIABLES)
    if cores(old) != cores(new):
        chose = (
            f" ({'; '.join(kernel_vars)})" if kernel_vars else " (another CPU: OpenBLAS picks its kernels by it)"
        )
        causes.append(f"OpenBLAS kernels {'/'.join(cores(old)) or '?'} -> {'/'.join(cores(new)) or '?'}{chose}")
        remedies.append("serve with the kernels of training (set or unset OPENBLAS_CORETYPE as then)")
    elif kernel_vars:
        causes.append("; ".join(kernel_vars))
        remedies.append("set the kernel-choosing variables as in training")
    thread_vars = _changed_variables(expected, actual, THREADS)
    if _threads(old) != _threads(new) or thread_vars:
        counts = f"OpenBLAS threads {'/'.join(_threads(old)) or '?'} -> {'/'.join(_threads(new)) or '?'}"
        causes.append(counts + (f" ({'; '.join(thread_vars)})" if thread_vars else ""))
        remedies.append("pin the thread count of training (OPENBLAS_NUM_THREADS, OMP_NUM_THREADS)")
    old_versions: Dict[str, str] = dict(old.versions) if old else {}
    new_versions: Dict[str, str] = dict(new.versions) if new else {}
    accelerated, accelerate = _accelerators(old_versions, new_versions)
    causes += accelerated
    remedies += accelerate
    moved = [
        f"{name} {old_versions[name]} -> {new_versions[name]}"
        for name in sorted(set(old_versions) & set(new_versions))
        if old_versions[name] != new_versions[name] and name not in GPU_ENTRIES and name not in ACCELERATORS
    ]
    gpus = [(old_versions.get(n, ""), new_versions.get(n, "")) for n in GPU_ENTRIES]
    for then, now in gpus:
        if then and now and then != now:
            causes.append(f"GPU {then} -> {now} (TF32, float16 and bfloat16 matmuls take other kernels)")
            remedies.append("serve on the GPU the model was verified on, or verify it on this one")
    drivers = (expected.gpu.driver_version, actual.gpu.driver_version)
    if all(drivers) and drivers[0] != drivers[1]:
        causes.append(f"NVIDIA driver {drivers[0]} -> {drivers[1]}")
        remedies.append("serve with the driver of training, or verify the model on this one")
    if _blas_versions(old) != _blas_versions(new):
        moved.append(f"{'/'.join(_blas_versions(old)) or '?'} -> {'/'.join(_blas_versions(new)) or '?'}")
    if moved:
        causes.append("another build: " + "; ".join(moved))
        remedies.append("install the lockfile's versions (`envcheck show LOCK`)")
    if expected.cpu.model_name and actual.cpu.model_name and expected.cpu.model_name != actual.cpu.model_name:
        causes.append(f"CPU {expected.cpu.model_name} -> {actual.cpu.model_name}")
        remedies.append("serve on the CPU the model was verified on, or verify it on this one")
    elif expected.cpu.isa_level and actual.cpu.isa_level and expected.cpu.isa_level != actual.cpu.isa_level:
        causes.append(f"CPU ISA {expected.cpu.isa_level} -> {actual.cpu.isa_level}")
        remedies.append("serve on the CPU the model was verified on, or verify it on this one")
    if not causes:
        return (
            "nothing else recorded differs (a library, CPU or setting envcheck does not see)",
            "compare the serving image with the training environment (`envcheck diff`) and verify the model's "
            "outputs on the candidate",
        )
    return "; ".join(causes), "; ".join(dict.fromkeys(remedies))


def numerics_changes(expected: Fingerprint, actual: Fingerprint) -> Iterator[Change]:
    """A ``numerics.changed`` change per kernel both batteries ran whose results differ beyond rounding."""
    if expected.numerics is None or actual.numerics is None:
        return
    diffs = changed(compare_batteries(expected.numerics, actual.numerics))
    if not diffs:
        return
    cause, remedy = likely_cause(expected, actual)
    for diff in diffs:
        yield _change(diff, cause, remedy)


def _change(diff: KernelDiff, cause: str, remedy: str) -> Change:
    fields = {"detail": diff.describe(), "cause": cause, "remedy": remedy, "impact": str(diff.impact)}
    return Change(RULE, diff.name, "bitwise equal", diff.verdict.value, fields)


def observed_equivalent(change: Change, expected: Fingerprint, actual: Fingerprint, equal: bool) -> bool:
    """Whether ``change`` is a guess about numbers that an equivalent battery (``equal``: every kernel bitwise
    equal or within rounding) answers."""
    if not equal:
        return False
    if change.rule in ANSWERED:
        return True
    if change.rule in ANSWERED_FOR_PACKAGE and actual.numerics is not None:
        return change.package in EXERCISED and change.package in actual.numerics.versions
    return False
