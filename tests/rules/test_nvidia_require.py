"""``NVIDIA_REQUIRE_*`` evaluated as the NVIDIA container toolkit does, on the real H200 image and neighbours."""

from __future__ import annotations

import dataclasses
from typing import Mapping, Optional, Tuple

import pytest

from envcheck import lockfile
from envcheck.compare import render
from envcheck.model import Fingerprint, GpuDevice
from envcheck.policy import Policy
from envcheck.rules.nvidia_require import (
    Factor,
    RequirementError,
    compare_nvidia_require,
    describe,
    disabled,
    evaluate,
    parse_requirements,
    requirements,
    unmet,
)
from tests.conftest import H200

BASE = lockfile.read(H200 / "envcheck.lock")
H200_REQUIRE = BASE.env.variables["NVIDIA_REQUIRE_CUDA"]


def _with(
    fp: Fingerprint,
    driver: Optional[str] = None,
    cuda: Optional[str] = None,
    env: Optional[Mapping[str, Optional[str]]] = None,
    devices: Optional[Tuple[GpuDevice, ...]] = None,
) -> Fingerprint:
    gpu = fp.gpu
    gpu = dataclasses.replace(
        gpu,
        driver_version=gpu.driver_version if driver is None else driver,
        cuda_driver_version=gpu.cuda_driver_version if cuda is None else cuda,
        devices=gpu.devices if devices is None else devices,
    )
    variables = dict(fp.env.variables)
    for name, value in (env or {}).items():
        if value is None:
            variables.pop(name, None)
        else:
            variables[name] = value
    return dataclasses.replace(fp, gpu=gpu, env=dataclasses.replace(fp.env, variables=variables))


def test_fixture_is_the_real_cuda_13_image() -> None:
    assert H200_REQUIRE.startswith("cuda>=13.0 brand=unknown,driver>=535,driver<536 ")
    assert BASE.gpu.driver_version == "580.159.04"
    assert BASE.gpu.cuda_driver_version == "13.0"
    assert [d.name for d in BASE.gpu.devices] == ["NVIDIA H200"]


# (requirement, driver, cuda, arch, brand, met)
CASES = [
    # the real CUDA 13.0 image: met by its own node, and by the forward-compatible data-center branches
    (H200_REQUIRE, "580.159.04", "13.0", "9.0", "", True),
    (H200_REQUIRE, "580.159.04", "13.0", "9.0", "nvidia", True),
    (H200_REQUIRE, "570.86.15", "12.8", "9.0", "", True),  # brand unknown: brand= factors are met
    (H200_REQUIRE, "570.86.15", "12.8", "9.0", "nvidia", True),  # H200 is NVML brand 14 = nvidia
    (H200_REQUIRE, "570.86.15", "12.8", "9.0", "tesla", True),
    (H200_REQUIRE, "570.86.15", "12.8", "8.9", "geforce", False),  # consumer brand: no compat branch
    (H200_REQUIRE, "560.35.03", "12.6", "9.0", "", False),  # 560 is not a forward-compat branch
    (H200_REQUIRE, "535.230.02", "12.2", "9.0", "nvidia", True),
    (H200_REQUIRE, "536.1", "12.2", "9.0", "nvidia", False),  # driver<536 excludes 536.x
    (H200_REQUIRE, "590.10", "13.1", "9.0", "", True),
    # every operator, on each key
    ("cuda>=12.8", "570.86.15", "12.8", "", "", True),
    ("cuda>12.8", "570.86.15", "12.8", "", "", False),
    ("cuda<=12.8", "570.86.15", "12.8", "", "", True),
    ("cuda<13", "570.86.15", "12.8", "", "", True),
    ("cuda=12.8.0", "570.86.15", "12.8", "", "", True),  # trailing zero parts are ignored
    ("cuda!=12.8", "570.86.15", "12.8", "", "", False),
    ("driver>=570", "570.86.15", "12.8", "", "", True),  # 570.86.15 > 570
    ("driver<570.86.16", "570.86.15", "12.8", "", "", True),
    ("driver=570.86.15", "570.86.15", "12.8", "", "", True),
    ("driver>570.100", "570.86.15", "12.8", "", "", False),  # numeric parts: 86 < 100
    ("arch>=8.0", "580.159.04", "13.0", "9.0", "", True),
    ("arch<8.0", "580.159.04", "13.0", "9.0", "", False),
    ("arch=9.0", "580.159.04", "13.0", "", "", True),  # no device: arch is assumed ok
    ("brand=tesla", "580.159.04", "13.0", "", "tesla", True),
    ("brand=TESLA", "580.159.04", "13.0", "", "Tesla", True),  # compared case-insensitively
    ("brand!=geforce", "580.159.04", "13.0", "", "geforce", False),
    ("BRAND=geforce", "580.159.04", "13.0", "", "", True),  # keys are case-insensitive; brand unknown
    # AND inside an alternative, OR across them
    ("cuda>=12.0,driver>=575", "570.86.15", "12.8", "", "", False),
    ("cuda>=12.0,driver>=570", "570.86.15", "12.8", "", "", True),
    ("cuda>=13.0 driver>=570", "570.86.15", "12.8", "", "", True),
    ("cuda>=13.0 driver>=575", "570.86.15", "12.8", "", "", False),
    ("cuda>=13.0  ,driver>=570,, ", "570.86.15", "12.8", "", "", True),  # empty pieces are skipped
    ("", "570.86.15", "12.8", "", "", True),
    # unknowns count as met
    ("cuda>=13.0", "570.86.15", "", "", "", True),
]


@pytest.mark.parametrize(
    ("requirement", "driver", "cuda", "arch", "brand", "met"),
    CASES,
    ids=[
        "h200-own-node",
        "h200-own-node-brand-nvidia",
        "h200-on-570-brand-unknown",
        "h200-on-570-brand-nvidia",
        "h200-on-570-brand-tesla",
        "h200-on-570-geforce",
        "h200-on-560",
        "h200-on-535",
        "h200-on-536",
        "h200-on-590",
        "cuda-ge",
        "cuda-gt",
        "cuda-le",
        "cuda-lt-major",
        "cuda-eq-trailing-zero",
        "cuda-ne",
        "driver-ge-major",
        "driver-lt-full",
        "driver-eq-full",
        "driver-gt-numeric-parts",
        "arch-ge",
        "arch-lt",
        "arch-no-device",
        "brand-eq",
        "brand-case",
        "brand-ne",
        "brand-unknown-key-case",
        "and-fails",
        "and-holds",
        "or-second-holds",
        "or-none-holds",
        "empty-pieces",
        "empty-value",
        "no-cuda-version",
    ],
)
def test_evaluate(requirement: str, driver: str, cuda: str, arch: str, brand: str, met: bool) -> None:
    ok, failing = evaluate(parse_requirements(requirement), driver, cuda, arch, brand)
    assert ok is met
    assert (failing == "") is met


def test_failing_text_names_first_alternative_and_the_branches() -> None:
    ok, failing = evaluate(parse_requirements(H200_REQUIRE), "560.35.03", "12.6")
    assert not ok
    assert failing == "cuda>=13.0 (or a driver in the 535, 550, 565, 570, 575 branches)"
    assert len(failing) <= 80


@pytest.mark.parametrize(
    ("requirement", "text"),
    [
        ("cuda>=13.0", "cuda>=13.0"),
        (
            "cuda>=13.0,arch>=9.0 cuda>=12.0,driver>=570 arch=10.0",
            "cuda>=13.0,arch>=9.0 (or 2 other alternatives)",
        ),
        ("driver>=1," * 30 + "driver>=1", ("driver>=1," * 8)[:79] + "…"),
    ],
    ids=["single", "generic-alternatives", "shortened"],
)
def test_describe(requirement: str, text: str) -> None:
    assert describe(parse_requirements(requirement)) == text
    assert len(describe(parse_requirements(requirement))) <= 80


def test_parse_structure() -> None:
    assert parse_requirements("cuda>=13.0 brand=tesla,driver>=535,driver<536") == (
        (Factor("cuda", ">=", "13.0"),),
        (Factor("brand", "=", "tesla"), Factor("driver", ">=", "535"), Factor("driver", "<", "536")),
    )


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("cuda", "expected KEY OP VALUE"),
        (">=13.0", "expected KEY OP VALUE"),
        ("cuda==13.0", "unknown operator '=='"),
        ("cuda=>13.0", "unknown operator '=>'"),
        ("cuda>=", "no value"),
        ("vram>=80", "unknown key 'vram'"),
        ("cuda>=13.x", "is not a version"),
        ("driver>=abc", "is not a version"),
        ("brand>=tesla", "brand compares with = or != only"),
    ],
    ids=[
        "no-operator",
        "no-key",
        "double-equals",
        "reversed",
        "no-value",
        "unknown-key",
        "bad-cuda",
        "bad-driver",
        "brand-order",
    ],
)
def test_malformed_raises(value: str, message: str) -> None:
    with pytest.raises(RequirementError, match=message):
        parse_requirements(f"cuda>=12.0 {value}")


def test_disable_require_reads_like_go_parsebool() -> None:
    for value in ("1", "t", "T", "true", "TRUE", "True"):
        assert disabled({"NVIDIA_DISABLE_REQUIRE": value})
    for value in ("0", "false", "yes", "on", ""):
        assert not disabled({"NVIDIA_DISABLE_REQUIRE": value})
    assert not disabled({})


def test_requirements_collects_every_variable_but_jetpack() -> None:
    got = requirements(
        {
            "NVIDIA_REQUIRE_CUDA": "cuda>=12.0",
            "NVIDIA_REQUIRE_ARCH": "arch>=8.0",
            "NVIDIA_REQUIRE_JETPACK": "csv-mounts=all",
            "CUDA_VERSION": "12.0.1",
        }
    )
    assert got == {"NVIDIA_REQUIRE_ARCH": "arch>=8.0", "NVIDIA_REQUIRE_CUDA": "cuda>=12.0"}
    assert requirements({"NVIDIA_REQUIRE_CUDA": "cuda>=12.0", "NVIDIA_DISABLE_REQUIRE": "true"}) == {}


def test_legacy_image_requires_its_cuda_version() -> None:
    assert requirements({"CUDA_VERSION": "11.8.0"}) == {"CUDA_VERSION": "cuda>=11.8"}
    assert requirements({"CUDA_VERSION": "garbage"}) == {}


# ---- the comparators, on the real lockfile


def test_same_fingerprint_yields_nothing() -> None:
    assert list(compare_nvidia_require(BASE, BASE, Policy())) == []
    assert unmet(BASE) == {}


def test_570_neighbour_is_accepted_through_forward_compatibility() -> None:
    # The toolkit starts the CUDA 13.0 image on a 570 data-center driver (brand=*,driver>=570,driver<571):
    # no require finding. That CUDA 13 wheels need driver >= 580 is gpu.driver.too_old's business.
    neighbour = _with(BASE, driver="570.86.15", cuda="12.8")
    assert list(compare_nvidia_require(BASE, neighbour, Policy())) == []


def test_560_neighbour_is_refused() -> None:
    neighbour = _with(BASE, driver="560.35.03", cuda="12.6")
    changes = list(compare_nvidia_require(BASE, neighbour, Policy()))
    assert [(c.rule, c.subject) for c in changes] == [("gpu.require.unmet", "NVIDIA_REQUIRE_CUDA")]
    assert changes[0].expected.startswith("cuda>=13.0")
    assert changes[0].actual == "driver 560.35.03, CUDA 12.6"
    finding = render(changes[0], Policy())
    assert "{" not in finding.message and "{" not in finding.remedy
    assert "NVIDIA_REQUIRE_CUDA" in finding.message


def test_570_neighbour_with_a_plain_cuda_requirement_is_refused() -> None:
    env = {"NVIDIA_REQUIRE_CUDA": "cuda>=13.0"}
    neighbour = _with(BASE, driver="570.86.15", cuda="12.8", env=env)
    changes = list(compare_nvidia_require(_with(BASE, env=env), neighbour, Policy()))
    assert [(c.rule, c.subject, c.expected) for c in changes] == [
        ("gpu.require.unmet", "NVIDIA_REQUIRE_CUDA", "cuda>=13.0")
    ]


def test_unmet_on_both_sides_is_not_new() -> None:
    env = {"NVIDIA_REQUIRE_CUDA": "cuda>=99.0"}
    old, new = _with(BASE, env=env), _with(BASE, driver="570.86.15", cuda="12.8", env=env)
    assert list(compare_nvidia_require(old, new, Policy())) == []
    assert list(unmet(new)) == ["NVIDIA_REQUIRE_CUDA"]  # unmet there, but not newly: not reported


def test_multiple_variables_each_reported() -> None:
    env = {"NVIDIA_REQUIRE_ARCH": "arch>=10.0", "NVIDIA_REQUIRE_DRIVER": "driver>=999"}
    changes = list(compare_nvidia_require(BASE, _with(BASE, env=env), Policy()))
    assert [c.subject for c in changes] == ["NVIDIA_REQUIRE_ARCH", "NVIDIA_REQUIRE_DRIVER"]


def test_arch_checked_per_device() -> None:
    devices = (*BASE.gpu.devices, dataclasses.replace(BASE.gpu.devices[0], index=1, compute_capability="8.0"))
    env = {"NVIDIA_REQUIRE_ARCH": "arch>=9.0"}
    assert unmet(_with(BASE, env=env, devices=devices)) == {"NVIDIA_REQUIRE_ARCH": "arch>=9.0"}


def test_no_gpu_or_no_driver_checks_nothing() -> None:
    env = {"NVIDIA_REQUIRE_CUDA": "cuda>=99.0"}
    assert unmet(_with(BASE, env=env, devices=())) == {}
    assert unmet(_with(BASE, env=env, driver="")) == {}


def test_malformed_value_reported_unmet_not_raised() -> None:
    env = {"NVIDIA_REQUIRE_CUDA": "cuda==13.0"}
    changes = list(compare_nvidia_require(BASE, _with(BASE, env=env), Policy()))
    assert [c.subject for c in changes] == ["NVIDIA_REQUIRE_CUDA"]
    assert changes[0].expected.startswith("invalid expression 'cuda==13.0'")
    assert len(changes[0].expected) <= 80


@pytest.mark.parametrize(
    ("before", "after", "expected"),
    [(None, "1", "unset"), ("false", "true", "false")],
    ids=["unset-to-1", "false-to-true"],
)
def test_disable_require_newly_set(before: Optional[str], after: str, expected: str) -> None:
    old = _with(BASE, env={"NVIDIA_DISABLE_REQUIRE": before})
    new = _with(BASE, driver="560.35.03", cuda="12.6", env={"NVIDIA_DISABLE_REQUIRE": after})
    changes = list(compare_nvidia_require(old, new, Policy()))
    # the runtime skips the requirement check, so only the switch is reported
    assert [(c.rule, c.subject, c.expected, c.actual) for c in changes] == [
        ("gpu.require.disabled", "NVIDIA_DISABLE_REQUIRE", expected, after)
    ]
    finding = render(changes[0], Policy())
    assert "{" not in finding.message and "{" not in finding.remedy


def test_disable_require_on_both_sides_is_not_new() -> None:
    both = _with(BASE, env={"NVIDIA_DISABLE_REQUIRE": "true"})
    assert list(compare_nvidia_require(both, both, Policy())) == []


def test_forward_compat_branches_say_which_cuda_the_image_serves() -> None:
    from envcheck.rules.nvidia_require import forward_compat_cuda

    assert forward_compat_cuda(_with(BASE, driver="570.86.15", cuda="12.8")) == (13, 0)  # a listed branch
    assert forward_compat_cuda(BASE) is None  # 580 meets cuda>=13.0 itself: no compat needed
    assert forward_compat_cuda(_with(BASE, driver="560.35.03", cuda="12.6")) is None  # no branch for 560
    plain = {"NVIDIA_REQUIRE_CUDA": "cuda>=13.0"}
    assert forward_compat_cuda(_with(BASE, driver="570.86.15", cuda="12.8", env=plain)) is None
    no_toolkit = {"CUDA_VERSION": None}
    assert forward_compat_cuda(_with(BASE, driver="570.86.15", cuda="12.8", env=no_toolkit)) is None
    geforce = tuple(dataclasses.replace(d, name="NVIDIA GeForce RTX 5090") for d in BASE.gpu.devices)
    assert forward_compat_cuda(_with(BASE, driver="570.86.15", cuda="12.8", devices=geforce)) is None
