"""Instruction-set levels and numpy feature names, against real CPU flag lists and real numpy build lists."""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

import pytest

from envcheck.isa import (
    AARCH64_LEVELS,
    NUMPY_FEATURES,
    X86_64_LEVELS,
    isa_level,
    level_flags,
    level_rank,
    unsupported_features,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def _first(path: Path, key: str) -> set[str]:
    """The first ``flags`` or ``Features`` line of a cpuinfo fixture."""
    lines = (FIXTURES / "proc" / path / "proc/cpuinfo").read_text().splitlines()
    return set(next(line.split(":", 1)[1].split() for line in lines if line.startswith(key)))


H200_FLAGS = _first(Path("h200"), "flags")
AMD_FLAGS = _first(Path("amd-cgroupv1"), "flags")
GRAVITON2 = _first(Path("graviton2"), "Features")

V1 = {"cmov", "cx8", "fpu", "fxsr", "mmx", "syscall", "sse", "sse2"}
V2 = V1 | {"cx16", "lahf_lm", "popcnt", "pni", "ssse3", "sse4_1", "sse4_2"}
V3 = V2 | {"avx", "avx2", "bmi1", "bmi2", "f16c", "fma", "abm", "movbe", "xsave"}
V4 = V3 | {"avx512f", "avx512bw", "avx512cd", "avx512dq", "avx512vl"}

#: Neighbours of the Graviton2 line: what a Neoverse V1 (Graviton3) and a Neoverse V2 (Grace) add.
NEOVERSE_V1 = GRAVITON2 | {"jscvt", "fcma", "dit", "uscat", "ilrcpc", "flagm", "sve", "i8mm", "bf16", "dcpodp"}
NEOVERSE_V2 = NEOVERSE_V1 | {"sb", "flagm2", "frint", "sve2", "svebf16", "bti"}


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        pytest.param(V4 | {"amx_tile"}, "x86-64-v4", id="full-v4"),
        pytest.param(V4 - {"avx2"}, "x86-64-v2", id="missing-avx2"),
        pytest.param(V4 - {"avx512vl"}, "x86-64-v3", id="missing-avx512vl"),
        pytest.param(V3, "x86-64-v3", id="exact-v3"),
        pytest.param(V3 - {"abm"}, "x86-64-v2", id="missing-lzcnt-abm"),
        pytest.param(V4 - {"popcnt"}, "x86-64-v1", id="missing-popcnt-caps-at-v1"),
        pytest.param(V1, "x86-64-v1", id="baseline"),
        pytest.param(V2 - {"sse2"}, "", id="no-baseline"),
        pytest.param(set(), "", id="empty"),
        pytest.param(H200_FLAGS, "x86-64-v4", id="h200-sapphire-rapids"),
        pytest.param(AMD_FLAGS, "x86-64-v3", id="amd-epyc"),
        pytest.param({"fp", "asimd", "aes", "sve"}, "", id="aarch64-features-are-not-x86"),
    ],
)
def test_x86_64_level(flags: Iterable[str], expected: str) -> None:
    assert isa_level(flags, "x86_64") == expected


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        pytest.param(GRAVITON2, "armv8.2-a", id="graviton2-neoverse-n1"),
        pytest.param(NEOVERSE_V1, "armv8.4-a", id="neoverse-v1"),
        pytest.param(NEOVERSE_V2, "armv9.0-a", id="neoverse-v2"),
        pytest.param({"fp", "asimd"}, "armv8.0-a", id="cortex-a72-baseline"),
        pytest.param(GRAVITON2 - {"atomics"}, "armv8.0-a", id="no-lse-caps-at-8.0"),
        pytest.param(NEOVERSE_V2 - {"sve2"}, "armv8.5-a", id="no-sve2"),
        pytest.param({"asimd"}, "", id="no-fp"),
        pytest.param(V4, "", id="x86-flags-are-not-arm"),
    ],
)
def test_aarch64_level(flags: Iterable[str], expected: str) -> None:
    assert isa_level(flags, "aarch64") == expected
    assert isa_level(flags, "arm64") == expected


def test_unknown_architecture_has_no_level() -> None:
    assert isa_level(V4, "riscv64") == ""


def test_level_rank_orders_each_ladder() -> None:
    for ladder in (X86_64_LEVELS, AARCH64_LEVELS):
        assert [level_rank(name) for name, _ in ladder] == list(range(1, len(ladder) + 1))
    assert level_rank("") == level_rank("x86-64-v9") == 0


def test_level_flags_accumulate() -> None:
    assert level_flags("x86-64-v2") == frozenset(V2)
    assert level_flags("x86-64-v4") == frozenset(V4)
    assert level_flags("armv8.1-a") == frozenset({"fp", "asimd", "atomics", "asimdrdm", "crc32"})
    assert level_flags("nonsense") == frozenset()


# numpy's own lists, as its runtime reported them on the H200 (numpy-show-runtime.txt: numpy 2.5.2 there
# found every dispatched feature) and as real wheels' binaries state them (see test_probe_numpy in collect/).
def test_h200_supports_everything_its_numpy_dispatches() -> None:
    assert unsupported_features(["X86_V2"], H200_FLAGS) == []
    assert unsupported_features(["X86_V3", "X86_V4", "AVX512_ICL", "AVX512_SPR"], H200_FLAGS) == []


def test_an_epyc_without_avx512_misses_numpys_avx512_kernels() -> None:
    dispatch = ["X86_V3", "X86_V4", "AVX512_ICL", "AVX512_SPR"]
    assert unsupported_features(dispatch, AMD_FLAGS) == ["X86_V4", "AVX512_ICL", "AVX512_SPR"]


def test_numpy_1x_feature_names() -> None:
    dispatch = "SSSE3 SSE41 POPCNT SSE42 AVX F16C FMA3 AVX2 AVX512F AVX512CD AVX512_KNL AVX512_KNM AVX512_SKX"
    # Sapphire Rapids has no Xeon Phi (KNL/KNM) instructions: numpy skips those kernels there too.
    assert unsupported_features(dispatch.split(), H200_FLAGS) == ["AVX512_KNL", "AVX512_KNM"]
    assert unsupported_features(["SSE", "SSE2", "SSE3"], V1) == ["SSE3"]


def test_aarch64_numpy_baseline_and_dispatch() -> None:
    assert unsupported_features(["NEON", "NEON_FP16", "NEON_VFPV4", "ASIMD"], GRAVITON2) == []
    assert unsupported_features(["ASIMDHP", "ASIMDDP", "ASIMDFHM", "SVE"], GRAVITON2) == ["ASIMDFHM", "SVE"]


def test_unknown_feature_names_are_not_called_missing() -> None:
    assert unsupported_features(["RVV", "VSX4"], set()) == []


def test_x86_group_features_are_the_psabi_levels() -> None:
    assert NUMPY_FEATURES["X86_V2"] == frozenset(V2)
    assert NUMPY_FEATURES["X86_V3"] | NUMPY_FEATURES["X86_V2"] == frozenset(V3)
    assert NUMPY_FEATURES["X86_V4"] | level_flags("x86-64-v3") == frozenset(V4)


# Flag names Linux prints that neither fixture machine has (arch/x86/kernel/cpu/cpuinfo and cpufeatures.h;
# Documentation/arch/arm64/elf_hwcaps.rst). A name outside the fixtures and these lists is a typo: a flag no
# CPU shows would make its feature look missing everywhere.
OTHER_X86 = {"xop", "fma4", "avx512er", "avx512pf", "avx512_4fmaps", "avx512_4vnniw"}
OTHER_ARM = {
    *("jscvt", "fcma", "dit", "uscat", "ilrcpc", "flagm", "sb", "flagm2", "frint", "dcpodp", "sve", "sve2"),
    *("asimdfhm", "svebf16", "svei8mm", "bf16", "i8mm", "sme"),
}


def test_every_flag_name_is_one_linux_prints() -> None:
    from envcheck.rules.tables import DISPATCH_FLAGS

    arm_numpy = {"NEON", "NEON_FP16", "NEON_VFPV4", "ASIMD", "ASIMDHP", "ASIMDDP", "ASIMDFHM", "SVE"}
    x86 = set().union(*(f for _, f in X86_64_LEVELS))
    x86 |= set().union(*(f for name, f in NUMPY_FEATURES.items() if name not in arm_numpy))
    arm = set().union(*(f for _, f in AARCH64_LEVELS)) | set().union(*(NUMPY_FEATURES[n] for n in arm_numpy))
    assert not x86 - (H200_FLAGS | AMD_FLAGS | OTHER_X86), x86 - (H200_FLAGS | AMD_FLAGS | OTHER_X86)
    assert not arm - (GRAVITON2 | OTHER_ARM), arm - (GRAVITON2 | OTHER_ARM)
    unknown = set(DISPATCH_FLAGS) - (H200_FLAGS | AMD_FLAGS | OTHER_X86 | GRAVITON2 | OTHER_ARM)
    assert not unknown, unknown
