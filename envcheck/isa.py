"""Instruction-set levels and SIMD feature names, as data: what a CPU's flags allow and what a build needs.

Pure: the flags come from ``/proc/cpuinfo`` (x86 ``flags``; aarch64 ``Features``, which is the kernel's rendering
of the ELF ``AT_HWCAP``/``AT_HWCAP2`` bits), read elsewhere. Collectors use it to name a CPU's level, rules to say
what a package's baseline needs and which of its dispatched kernels a CPU loses.
"""

from __future__ import annotations

from typing import Dict, FrozenSet, Iterable, List, Tuple

Ladder = Tuple[Tuple[str, FrozenSet[str]], ...]

#: x86-64 micro-architecture levels (System V x86-64 psABI), as /proc/cpuinfo names the flags; each level needs
#: its own flags and those of every level below it.
X86_64_LEVELS: Ladder = (
    ("x86-64-v1", frozenset({"cmov", "cx8", "fpu", "fxsr", "mmx", "syscall", "sse", "sse2"})),
    ("x86-64-v2", frozenset({"cx16", "lahf_lm", "popcnt", "pni", "ssse3", "sse4_1", "sse4_2"})),
    ("x86-64-v3", frozenset({"avx", "avx2", "bmi1", "bmi2", "f16c", "fma", "abm", "movbe", "xsave"})),
    ("x86-64-v4", frozenset({"avx512f", "avx512bw", "avx512cd", "avx512dq", "avx512vl"})),
)

#: Arm A-profile architecture versions, by the features each makes mandatory that Linux reports as HWCAPs
#: (Arm ARM "Armv8.x extensions"; names as in the kernel's Documentation/arch/arm64/elf_hwcaps.rst). Only
#: features the kernel exposes are listed, so a level is a floor: Graviton2 / Neoverse N1 reads armv8.2-a,
#: Graviton3 / Neoverse V1 armv8.4-a, Grace and Graviton4 / Neoverse V2 armv9.0-a.
AARCH64_LEVELS: Ladder = (
    ("armv8.0-a", frozenset({"fp", "asimd"})),
    ("armv8.1-a", frozenset({"atomics", "asimdrdm", "crc32"})),
    ("armv8.2-a", frozenset({"dcpop"})),
    ("armv8.3-a", frozenset({"jscvt", "fcma", "lrcpc"})),
    ("armv8.4-a", frozenset({"dit", "uscat", "ilrcpc", "flagm", "asimddp"})),
    ("armv8.5-a", frozenset({"sb", "flagm2", "frint", "dcpodp"})),
    ("armv9.0-a", frozenset({"sve", "sve2"})),
)

#: ``platform.machine()`` names -> their ladder.
LADDERS: Dict[str, Ladder] = {
    "x86_64": X86_64_LEVELS,
    "AMD64": X86_64_LEVELS,
    "aarch64": AARCH64_LEVELS,
    "arm64": AARCH64_LEVELS,
}

#: numpy's CPU feature names (``__cpu_baseline__``/``__cpu_dispatch__``, and the lists its build writes into
#: ``_multiarray_umath``) as the /proc/cpuinfo flags each needs beyond the features it implies. Sources: numpy's
#: ``meson_cpu/x86/meson.build`` and ``meson_cpu/arm/meson.build`` (numpy >= 2.4 groups x86 into X86_V2..V4).
#: On aarch64 NEON, NEON_FP16, NEON_VFPV4 and ASIMD are all Advanced SIMD, mandatory in Armv8.
NUMPY_FEATURES: Dict[str, FrozenSet[str]] = {
    "SSE": frozenset({"sse"}),
    "SSE2": frozenset({"sse2"}),
    "SSE3": frozenset({"pni"}),
    "SSSE3": frozenset({"ssse3"}),
    "SSE41": frozenset({"sse4_1"}),
    "POPCNT": frozenset({"popcnt"}),
    "SSE42": frozenset({"sse4_2"}),
    "AVX": frozenset({"avx"}),
    "XOP": frozenset({"xop"}),
    "FMA4": frozenset({"fma4"}),
    "F16C": frozenset({"f16c"}),
    "FMA3": frozenset({"fma"}),
    "AVX2": frozenset({"avx2"}),
    "AVX512F": frozenset({"avx512f"}),
    "AVX512CD": frozenset({"avx512cd"}),
    "AVX512_KNL": frozenset({"avx512er", "avx512pf"}),
    "AVX512_KNM": frozenset({"avx512_4fmaps", "avx512_4vnniw", "avx512_vpopcntdq"}),
    "AVX512_SKX": frozenset({"avx512vl", "avx512bw", "avx512dq"}),
    "AVX512_CLX": frozenset({"avx512_vnni"}),
    "AVX512_CNL": frozenset({"avx512ifma", "avx512vbmi"}),
    "AVX512_ICL": frozenset({"avx512_vbmi2", "avx512_bitalg", "avx512_vpopcntdq", "avx512ifma", "avx512vbmi"}),
    "AVX512_SPR": frozenset({"avx512_fp16"}),
    "X86_V2": X86_64_LEVELS[0][1] | X86_64_LEVELS[1][1],
    "X86_V3": X86_64_LEVELS[2][1],
    "X86_V4": X86_64_LEVELS[3][1],
    "NEON": frozenset({"asimd"}),
    "NEON_FP16": frozenset({"asimd"}),
    "NEON_VFPV4": frozenset({"asimd"}),
    "ASIMD": frozenset({"asimd"}),
    "ASIMDHP": frozenset({"asimdhp"}),
    "ASIMDDP": frozenset({"asimddp"}),
    "ASIMDFHM": frozenset({"asimdfhm"}),
    "SVE": frozenset({"sve"}),
}


def isa_level(flags: Iterable[str], architecture: str = "x86_64") -> str:
    """The highest level of ``architecture`` whose flags, and those of every lower level, are all present; empty
    when not even the first level's are, or the architecture has no ladder here."""
    present = set(flags)
    level = ""
    for name, required in LADDERS.get(architecture, ()):
        if not required <= present:
            break
        level = name
    return level


def _locate(level: str) -> Tuple[Ladder, int]:
    """The ladder holding ``level`` and its position there; an empty ladder for an unknown level."""
    for ladder in (X86_64_LEVELS, AARCH64_LEVELS):
        for i, (name, _) in enumerate(ladder):
            if name == level:
                return ladder, i
    return (), -1


def level_rank(level: str) -> int:
    """1 for a ladder's first level, 2 for the next...; 0 for an empty or unknown level."""
    return _locate(level)[1] + 1


def level_flags(level: str) -> FrozenSet[str]:
    """Every flag ``level`` needs, its own and those of the levels below it; empty for an unknown level."""
    ladder, i = _locate(level)
    return frozenset().union(*(flags for _, flags in ladder[: i + 1]))


def unsupported_features(features: Iterable[str], flags: Iterable[str]) -> List[str]:
    """The numpy-named ``features`` whose flags are not all in ``flags``, in the given order; names not in
    ``NUMPY_FEATURES`` are left out (unknown is not missing)."""
    present = set(flags)
    return [f for f in features if f in NUMPY_FEATURES and not NUMPY_FEATURES[f] <= present]
