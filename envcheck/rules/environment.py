"""Rules for environment variables, timezone data and model files."""

from __future__ import annotations

from typing import Dict, Iterator

from envcheck.model import Fingerprint
from envcheck.policy import Policy
from envcheck.probe import ENV_NAMES, ENV_PREFIXES
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


def _shown(value: str, limit: int = 60) -> str:
    if not value:
        return "unset"
    return repr(value if len(value) <= limit else value[: limit - 3] + "...")


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


def compare_env(expected: Fingerprint, actual: Fingerprint, policy: Policy) -> Iterator[Change]:
    old, new = expected.env.variables, actual.env.variables
    for name in sorted(set(old) | set(new)):
        if name in IGNORED or name.startswith("NVIDIA_REQUIRE_") or name == "NVIDIA_DISABLE_REQUIRE":
            continue
        before, after = old.get(name, ""), new.get(name, "")
        if before == after:
            continue
        if name not in old and classify(name, policy) == "env.other":
            continue  # a variable the training side did not ask to track
        rule = classify(name, policy)
        effect = EFFECTS.get(name, "it changes numerics or which kernels run")
        fields = {"effect": effect, "expected_raw": before}
        yield Change(rule, name, _shown(before), _shown(after), fields)
    e_zone, a_zone = expected.env.timezone, actual.env.timezone
    tz_reported = "TZ" in old or "TZ" in new  # a TZ change is reported once, above
    if e_zone and a_zone and e_zone != a_zone and not tz_reported:
        yield Change("env.locale", "timezone", e_zone, a_zone, {"expected_raw": e_zone})
    e_tz, a_tz = expected.env.tzdata_version, actual.env.tzdata_version
    if e_tz and a_tz and e_tz != a_tz:
        yield Change("env.tzdata", "tzdata", e_tz, a_tz)
    if not any(numpy_baseline_disabled(expected)):
        yield from numpy_baseline_disabled(actual)


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
            _shown(value),
            fields,
            package="numpy",
        )


def compare_models(expected: Fingerprint, actual: Fingerprint, policy: Policy) -> Iterator[Change]:
    have = {m.path: m for m in actual.models}
    for old in expected.models:
        new = have.get(old.path)
        if new is None:
            yield Change("model.missing", old.path, old.sha256[:16], "")
        elif new.sha256 != old.sha256:
            yield Change("model.digest", old.path, old.sha256[:16], new.sha256[:16])
