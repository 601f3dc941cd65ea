"""NVIDIA's compatibility rules for GPU code, one case per rule, with the real cu130 torch build's arch list."""

from __future__ import annotations

import json

import pytest

from envcheck.cuda_arch import Target, covers, parse_arch_list, parse_cc, parse_torch_cuda_arch_list, runs_on
from tests.conftest import H200

CU130 = parse_arch_list(json.loads((H200 / "torch-process.json").read_text())["torch"]["arch_list"])


@pytest.mark.parametrize(
    ("target", "cc", "runs"),
    [
        ("sm_86", "8.9", True),  # an earlier minor of the same major: L4, L40S, RTX 4090
        ("sm_80", "8.6", True),
        ("sm_89", "8.6", False),  # never to an earlier minor
        ("sm_80", "9.0", False),  # never across majors
        ("sm_100", "10.3", True),  # B300 runs B200 cubins
        ("sm_120", "12.1", True),  # DGX Spark runs RTX 50 cubins
        ("sm_80", "8.7", False),  # Jetson Orin shares no cubins with discrete Ampere
        ("sm_87", "8.9", False),
        ("sm_87", "8.7", True),
        ("sm_101", "11.0", True),  # Thor, renamed in CUDA 13
        ("sm_90a", "9.0", True),  # architecture-specific: exactly its own
        ("sm_100a", "10.3", False),
        ("compute_90a", "10.0", False),
        ("sm_100f", "10.3", True),  # family-specific: later minors of the family
        ("compute_100f", "10.3", True),
        ("compute_100f", "12.0", False),  # ...not other majors, even as PTX
        ("sm_103f", "10.0", False),
        ("compute_90", "9.0", True),  # PTX: its own and every newer one, majors included
        ("compute_90", "12.0", True),
        ("compute_90", "8.9", False),
        ("compute_80", "8.7", True),  # the driver JIT-compiles PTX for integrated GPUs too
    ],
)
def test_the_rules(target: str, cc: str, runs: bool) -> None:
    (parsed,) = parse_arch_list([target])
    c = parse_cc(cc)
    assert c is not None
    assert runs_on(parsed, c) is runs


@pytest.mark.parametrize(
    ("cc", "covered"),
    [
        *[(cc, True) for cc in ("7.5", "8.6", "8.9", "9.0", "10.3", "12.1")],
        *[(cc, False) for cc in ("6.1", "7.0", "8.7", "11.0", "13.0")],
    ],
)
def test_the_real_cu130_build(cc: str, covered: bool) -> None:
    """sm_75..sm_120 without PTX: an L4 (8.9) is fine, a P40 (6.1), Orin (8.7) or a future major is not."""
    c = parse_cc(cc)
    assert c is not None and covers(CU130, c) is covered


def test_torch_cuda_arch_list_syntax() -> None:
    assert parse_torch_cuda_arch_list("9.0a") == (Target(9, 0, False, "a"),)
    assert parse_torch_cuda_arch_list("8.0;8.6 12.0+PTX") == (
        Target(8, 0),
        Target(8, 6),
        Target(12, 0),
        Target(12, 0, True),
    )
    assert parse_torch_cuda_arch_list("Ampere") == (Target(8, 0), Target(8, 6), Target(8, 6, True))
    assert parse_torch_cuda_arch_list("10.0f;junk;") == (Target(10, 0, False, "f"),)
    assert [str(t) for t in parse_torch_cuda_arch_list("9.0a+PTX")] == ["sm_90a", "compute_90a"]


def test_what_is_not_a_target_is_left_out() -> None:
    assert parse_arch_list(["sm_90", "gfx90a", "compute_", ""]) == (Target(9, 0),)
    assert parse_cc("9") is None and parse_cc("x.y") is None and parse_cc(" 8.9") == (8, 9)
