"""Reference tables the rules read: kept as data, each with its source."""

from __future__ import annotations

from typing import Dict, FrozenSet, Tuple

#: Minimum Linux driver branch per CUDA major version, for minor-version compatibility. Source: NVIDIA CUDA
#: Toolkit release notes, "CUDA Toolkit and Corresponding Driver Versions" (CUDA 11.x >= 450.80.02,
#: 12.x >= 525.60.13, 13.x >= 580).
CUDA_MIN_DRIVER: Dict[int, int] = {11: 450, 12: 525, 13: 580}

#: (package, version specifier, what its x86-64 build needs: a level or a /proc/cpuinfo flag), for snapshots
#: that do not hold the package's own build lists (``native.builds``, which win). numpy >= 2.4 raised its
#: baseline to x86-64-v2 (numpy 2.4 release notes); TensorFlow's PyPI wheels are built with AVX since 1.6.
ISA_REQUIREMENTS: Tuple[Tuple[str, str, str], ...] = (
    ("numpy", ">=2.4", "x86-64-v2"),
    ("tensorflow", ">=1.6", "avx"),
    ("tensorflow-cpu", ">=1.6", "avx"),
)

#: Flags libraries dispatch on at run time: losing one picks other kernels.
DISPATCH_FLAGS: FrozenSet[str] = frozenset(
    [
        "avx",
        "avx2",
        "fma",
        "f16c",
        "avx512f",
        "avx512bw",
        "avx512cd",
        "avx512dq",
        "avx512vl",
        "avx512_vnni",
        "avx512_bf16",
        "avx512_fp16",
        "avx512vbmi",
        "avx512ifma",
        "avx_vnni",
        "amx_bf16",
        "amx_int8",
        "amx_tile",
        "asimd",
        "asimdhp",
        "asimddp",
        "asimdfhm",
        "sve",
        "sve2",
        "svebf16",
        "svei8mm",
        "bf16",
        "i8mm",
        "sme",
    ]
)

#: GPU architectures PyTorch's release wheels carry kernels for, by CUDA variant (PyTorch release matrix,
#: RELEASE.md "Release Compatibility Matrix" / the cuXYZ wheel build flags). Used when no in-process
#: ``torch.cuda.get_arch_list()`` was recorded.
TORCH_ARCHS: Dict[str, Tuple[str, ...]] = {
    "12.6": ("5.0", "6.0", "7.0", "8.0", "8.6", "9.0"),
    "12.8": ("7.0", "8.0", "8.6", "9.0", "10.0", "12.0"),
    "13.0": ("7.5", "8.0", "8.6", "9.0", "10.0", "11.0", "12.0"),
}
