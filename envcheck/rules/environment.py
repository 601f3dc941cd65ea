"""Rules for environment variables, timezone data and model files."""

from __future__ import annotations

import shlex
from typing import Dict, Iterator, Optional, Set

from envcheck.model import OK, Fingerprint
from envcheck.policy import Policy
from envcheck.probe import ENV_NAMES, ENV_PREFIXES
from envcheck.rules.env_values import (
    AMD_ONLY,
    HIDES_ALL,
    ROCM_LISTS,
    Visible,
    effective_locale,
    effective_zone,
    fix,
    installed,
    is_rocm,
    is_uuid,
    jax_first_platform,
    jax_installed,
    jax_on_gpu,
    locale_variable,
    normalize_locale,
    nvidia_listed,
    reader,
    records_gpus,
    shown,
    thread_meaning,
    visible,
)
from envcheck.rules.interface import Change

THREADS = frozenset(
    [
        "OMP_NUM_THREADS",
        "MKL_NUM_THREADS",
        "OPENBLAS_NUM_THREADS",
        "GOTO_NUM_THREADS",
        "NUMEXPR_NUM_THREADS",
        "NUMEXPR_MAX_THREADS",
        "VECLIB_MAXIMUM_THREADS",
        "BLIS_NUM_THREADS",
        "NUMBA_NUM_THREADS",
        "TF_NUM_INTEROP_THREADS",
        "TF_NUM_INTRAOP_THREADS",
        "TF_INTRA_OP_PARALLELISM_THREADS",
        "TF_INTER_OP_PARALLELISM_THREADS",
        "MKL_DYNAMIC",
        "OMP_DYNAMIC",
    ]
)
DEVICES = frozenset(
    [
        "CUDA_VISIBLE_DEVICES",
        "CUDA_DEVICE_ORDER",
        "NVIDIA_VISIBLE_DEVICES",
        "HIP_VISIBLE_DEVICES",
        "ROCR_VISIBLE_DEVICES",
        "JAX_PLATFORMS",
    ]
)
LOCALE = frozenset(["LANG", "LANGUAGE", "TZ"])
#: Not compared here: they describe the image; the GPU rules judge the driver against what the packages ship,
#: and NVIDIA_REQUIRE_* constraints against the driver.
IGNORED = frozenset(["CUDA_VERSION", "NVIDIA_DRIVER_CAPABILITIES", "OPENBLAS_VERBOSE"])

#: What a numerics variable changes, for the message.
EFFECTS: Dict[str, str] = {
    "MKL_CBWR": "MKL's conditional numerical reproducibility: another code path, other rounding",
    "MKL_ENABLE_INSTRUCTIONS": "caps MKL's instruction set: other kernels",
    "MKL_DEBUG_CPU_TYPE": "forces MKL's CPU dispatch: other kernels",
    "OPENBLAS_CORETYPE": "forces OpenBLAS's kernel set: other rounding, or a crash on CPUs it does not fit",
    "OPENBLAS_L2_SIZE": "changes OpenBLAS's blocking: summation order changes",
    "NVIDIA_TF32_OVERRIDE": "switches TF32 tensor-core math on or off for every matmul and convolution",
    "CUBLAS_WORKSPACE_CONFIG": "deterministic cuBLAS depends on it; without it results vary from run to run",
    "CUDNN_DETERMINISTIC": "switches cuDNN between deterministic and fastest algorithms",
    "TF_DETERMINISTIC_OPS": "switches TensorFlow between deterministic and fast kernels",
    "TF_CUDNN_DETERMINISTIC": "switches TensorFlow's cuDNN algorithms to deterministic ones",
    "TF_ENABLE_ONEDNN_OPTS": "turns TensorFlow's oneDNN kernels on or off: results differ slightly",
    "ATEN_CPU_CAPABILITY": "selects PyTorch's CPU kernels (default, avx2, avx512)",
    "NPY_DISABLE_CPU_FEATURES": "turns off numpy's SIMD kernels",
    "NPY_ENABLE_CPU_FEATURES": "limits numpy's SIMD kernels",
    "DNNL_MAX_CPU_ISA": "caps oneDNN's instruction set: other kernels",
    "ONEDNN_MAX_CPU_ISA": "caps oneDNN's instruction set: other kernels",
    "DNNL_DEFAULT_FPMATH_MODE": "lets oneDNN compute in lower precision (bf16/tf32)",
    "ONEDNN_DEFAULT_FPMATH_MODE": "lets oneDNN compute in lower precision (bf16/tf32)",
    "PYTHONHASHSEED": "changes the iteration order of sets of strings: feature order can change",
    "TORCH_CUDA_ARCH_LIST": "changes which GPU architectures extensions are compiled for",
    "TORCH_ALLOW_TF32_CUBLAS_OVERRIDE": "turns TF32 on for PyTorch's float32 matmuls",
    "XLA_FLAGS": "changes XLA's compilation, fusion and precision",
    "JAX_ENABLE_X64": "switches JAX between 32- and 64-bit floats",
    "JAX_DEFAULT_MATMUL_PRECISION": "changes JAX's matmul precision",
}


def classify(name: str, policy: Policy) -> str:
    """The rule a change of variable ``name`` falls under."""
    if name in THREADS or (name.startswith("KMP_") and "THREAD" in name):
        return "env.threads"
    if name in DEVICES:
        return "env.device"
    if name in LOCALE or name.startswith("LC_"):
        return "env.locale"
    if name in ENV_NAMES or name.startswith(ENV_PREFIXES):
        return "env.numerics"
    return "env.other"


def _change(rule: str, name: str, before: Optional[str], after: Optional[str], **fields: str) -> Change:
    """A variable's change, with the values as the program saw them and the command that restores it."""
    values = {"expected_raw": before or "", "fix": fix(name, before), **fields}
    return Change(rule, name, shown(before), shown(after), values)


def compare_env(expected: Fingerprint, actual: Fingerprint, policy: Policy) -> Iterator[Change]:
    old, new = expected.env.variables, actual.env.variables
    yield from _devices(expected, actual)
    locale_moved = effective_locale(old) != effective_locale(new)
    knows_packages = actual.source("packages").status == OK
    for name in sorted(set(old) | set(new)):
        if name in IGNORED or name.startswith("NVIDIA_REQUIRE_") or name == "NVIDIA_DISABLE_REQUIRE":
            continue
        before, after = old.get(name), new.get(name)
        if before == after or name in DEVICES or name == "TZ":  # devices and TZ: by what they mean, above/below
            continue
        rule = classify(name, policy)
        if before is None and rule == "env.other":
            continue  # a variable the training side did not ask to track
        if not _means_something_else(name, before, after, expected, actual, locale_moved):
            continue
        found = reader(name) if rule != "env.other" else None
        if found is not None and knows_packages and not installed(found, actual):
            yield _change("env.unused", name, before, after, library=found.library)
            continue
        effect = EFFECTS.get(name, "it changes numerics or which kernels run")
        yield _change(rule, name, before, after, effect=effect)
    yield from _timezone(expected, actual)
    e_tz, a_tz = expected.env.tzdata_version, actual.env.tzdata_version
    if e_tz and a_tz and e_tz != a_tz:
        yield Change("env.tzdata", "tzdata", e_tz, a_tz)
    if not any(numpy_baseline_disabled(expected)):
        yield from numpy_baseline_disabled(actual)


def _means_something_else(
    name: str,
    before: Optional[str],
    after: Optional[str],
    expected: Fingerprint,
    actual: Fingerprint,
    locale_moved: bool,
) -> bool:
    """Whether two spellings of a variable differ for the program: locale aliases, the locale a masked
    variable would give, thread counts equal to the library's default are the same thing."""
    if locale_variable(name):
        return locale_moved and normalize_locale(before or "") != normalize_locale(after or "")
    if name == "LANGUAGE":  # gettext's list: an empty value is no list
        return [normalize_locale(v) for v in (before or "").split(":") if v] != [
            normalize_locale(v) for v in (after or "").split(":") if v
        ]
    if name in THREADS:
        return thread_meaning(name, before, expected) != thread_meaning(name, after, actual)
    return True


def _devices(expected: Fingerprint, actual: Fingerprint) -> Iterator[Change]:
    """Device variables by the GPUs they leave the program: none, fewer, others, or the same ones."""
    old, new = expected.env.variables, actual.env.variables
    gpus = records_gpus(expected)
    seen_then = visible(old, expected) if gpus else Visible(())
    seen_now = visible(new, actual)
    said: Set[str] = set()
    if gpus and seen_then.count != 0 and seen_now.count == 0:
        name = seen_now.culprit
        then = "every GPU" if seen_then.count is None else f"{seen_then.count} GPU(s)"
        fields = {"seen": then, "why": HIDES_ALL[name]}
        if old.get(name) == new.get(name):  # the lockfile's value, on a machine without the device it names
            have = len(actual.gpu.devices)
            fields["fix"] = f"set {name} to devices this machine has ({have} GPU(s)), or unset {name}"
        yield _change("env.device.hidden", name, old.get(name), new.get(name), **fields)
        said.add(name)
    elif seen_then.count and seen_now.count is not None and 0 < seen_now.count < seen_then.count:
        # a changed list; with the lockfile's list on a machine with fewer GPUs, the GPU rules say so
        name = next((n for n in ROCM_LISTS if n in DEVICES and old.get(n) != new.get(n)), "")
        if name:
            fields = {"seen": str(seen_then.count), "now_seen": str(seen_now.count)}
            yield _change("env.device.fewer", name, old.get(name), new.get(name), **fields)
            said.add(name)
    same_gpus = seen_then.devices is not None and seen_then.devices == seen_now.devices
    if seen_then.devices and seen_now.devices and len(seen_then.devices) == len(seen_now.devices):
        # GPUs named by UUID are named by identity, which differs from node to node: as many, by the same rule
        same_gpus = same_gpus or any(is_uuid(d) for d in (*seen_then.devices, *seen_now.devices))
    yield from _jax_platforms(expected, actual, seen_then, said)
    rocm = is_rocm(expected) or is_rocm(actual)
    for name in sorted(DEVICES):
        before, after = old.get(name), new.get(name)
        if before == after or name in said:
            continue
        if name in AMD_ONLY and not rocm:
            yield _change("env.unused", name, before, after, library="ROCm (AMD GPUs)")
            continue
        if name in ROCM_LISTS and same_gpus:
            continue
        if name == "NVIDIA_VISIBLE_DEVICES":
            then_count = len(expected.gpu.devices) or None
            now_count = len(actual.gpu.devices) or None
            if nvidia_listed(before, then_count) == nvidia_listed(after, now_count):
                continue  # the node's allocation (UUIDs differ per node); the GPU rules judge the devices
        if name == "CUDA_DEVICE_ORDER":
            few = (seen_then.count or 0) <= 1 and (seen_now.count or 0) <= 1
            if few or (before or "FASTEST_FIRST") == (after or "FASTEST_FIRST"):
                continue  # the default order, or nothing to order
        if name == "JAX_PLATFORMS" and jax_first_platform(before) == jax_first_platform(after):
            continue  # jax reads an empty value as unset; the same platform first computes the same way
        yield _change("env.device", name, before, after)


def _jax_platforms(
    expected: Fingerprint, actual: Fingerprint, seen_then: Visible, said: Set[str]
) -> Iterator[Change]:
    """``JAX_PLATFORMS``: hidden GPUs for JAX alone when the list no longer starts with a GPU where the
    lockfile's did (or was unset); nothing for JAX when JAX is not installed; the same GPU first under another
    spelling (``gpu`` for ``cuda``, ``cuda,cpu`` for ``cuda``) is quiet. Marks what it said in ``said``."""
    name = "JAX_PLATFORMS"
    before, after = expected.env.variables.get(name), actual.env.variables.get(name)
    if before == after:
        return
    if actual.source("packages").status == OK and not jax_installed(actual):
        said.add(name)
        yield _change("env.unused", name, before, after, library="JAX")
        return
    if jax_on_gpu(before) and jax_on_gpu(after):
        said.add(name)  # the default platform is a GPU on both sides
        return
    if records_gpus(expected) and seen_then.count != 0 and jax_on_gpu(before):
        said.add(name)
        seen = "every GPU" if seen_then.count is None else f"{seen_then.count} GPU(s)"
        yield _change("env.device.hidden.jax", name, before, after, seen=seen)


def _timezone(expected: Fingerprint, actual: Fingerprint) -> Iterator[Change]:
    """The timezone the C library uses, from ``TZ`` or ``/etc/localtime``, compared by meaning."""
    old_tz, new_tz = expected.env.variables.get("TZ"), actual.env.variables.get("TZ")
    if (old_tz is None and not expected.env.timezone) or (new_tz is None and not actual.env.timezone):
        return  # one side's zone is unknown
    then = effective_zone(old_tz, expected.env.timezone)
    now = effective_zone(new_tz, actual.env.timezone)
    if then == now:
        return
    if old_tz is None and new_tz is None:
        fields = {"expected_raw": expected.env.timezone, "fix": f"export TZ={shlex.quote(expected.env.timezone)}"}
        yield Change("env.locale", "timezone", expected.env.timezone, actual.env.timezone, fields)
        return
    if old_tz is None:
        zone = shlex.quote(expected.env.timezone)
        remedy = f"unset TZ (so that /etc/localtime decides, as it did: {zone}), or export TZ={zone}"
    else:
        remedy = fix("TZ", old_tz)
    before = shown(old_tz) if old_tz is not None else f"unset ({expected.env.timezone})"
    after = shown(new_tz) if new_tz is not None else f"unset ({actual.env.timezone})"
    fields = {"expected_raw": old_tz or "", "fix": remedy}
    yield Change("env.locale", "TZ", before, after, fields)


def numpy_baseline_disabled(fp: Fingerprint) -> Iterator[Change]:
    """``NPY_DISABLE_CPU_FEATURES`` naming a feature of numpy's baseline (as its build states it): numpy raises
    at import ("You cannot disable CPU feature ..., since it is part of the baseline optimizations")."""
    value = fp.env.variables.get("NPY_DISABLE_CPU_FEATURES", "")
    # A numpy built without dispatch ignores the variable (with a warning) instead of checking it.
    build = next(
        (b for b in fp.native.builds if b.package == "numpy" and b.simd_baseline and b.simd_dispatch), None
    )
    if not value or build is None or fp.package("numpy") is None:
        return
    # numpy splits the list on commas, spaces and tabs, and matches names as written (``x86_v2`` only warns)
    named = value.replace(",", " ").split()
    refused = [f for f in named if f in build.simd_baseline]
    if refused:
        fields = {"features": " ".join(refused)}
        yield Change(
            "env.numpy.baseline_disabled",
            "NPY_DISABLE_CPU_FEATURES",
            " ".join(build.simd_baseline),
            shown(value),
            fields,
            package="numpy",
        )
