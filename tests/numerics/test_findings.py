"""The battery in the judgement (pure): ``numerics.changed`` with its impact and cause, silence when both sides
agree or one never ran it, and "observed equivalent" for the guesses a bitwise-equal battery answers."""

from __future__ import annotations

import dataclasses

from envcheck.compare import compare
from envcheck.findings import Severity
from envcheck.model import (
    EnvInfo,
    Fingerprint,
    NativeInfo,
    NativeLib,
    NumericsInfo,
    NumericsKernel,
    OpenBlasRuntime,
    Package,
    Source,
)
from envcheck.policy import Policy, RuleOverride

KERNEL = NumericsKernel(
    name="numpy.matmul f32 257x257",
    dtype="float32",
    shape=(257, 257),
    digest="0123456789abcdef",
    total="10.0",
    max_abs="8.0",
    sample=("1.0", "-8.0"),
)
BLAS = OpenBlasRuntime(path="libscipy_openblas64_.so", core="SkylakeX", config="OpenBLAS 0.3.31 x", threads="2")
NUMERICS = NumericsInfo(versions={"numpy": "2.4.6"}, openblas=(BLAS,), kernels=(KERNEL,))


def _fp(numerics: NumericsInfo | None, numpy: str = "2.4.6", **env: str) -> Fingerprint:
    return Fingerprint(
        sources={"packages": Source(), "env": Source(), "native": Source()},
        packages=(Package("numpy", numpy),),
        native=NativeInfo(shipped=(NativeLib("blas", "openblas", "numpy.libs/libscipy_openblas.so", "numpy"),)),
        env=EnvInfo(variables=dict(env)),
        numerics=numerics,
    )


def _moved(rel: float, core: str = "Haswell", dtype: str = "float32") -> NumericsInfo:
    kernel = dataclasses.replace(
        KERNEL, dtype=dtype, digest="fedcba9876543210", sample=("1.0", repr(-8.0 + rel * 8.0))
    )
    return dataclasses.replace(NUMERICS, openblas=(dataclasses.replace(BLAS, core=core),), kernels=(kernel,))


def _numerics_findings(expected: Fingerprint, actual: Fingerprint) -> list:  # type: ignore[type-arg]
    return [f for f in compare(expected, actual).findings if f.id == "numerics.changed"]


def test_equal_batteries_and_a_missing_one_are_quiet() -> None:
    assert _numerics_findings(_fp(NUMERICS), _fp(NUMERICS)) == []
    assert _numerics_findings(_fp(NUMERICS), _fp(None)) == []
    assert _numerics_findings(_fp(None), _fp(None)) == []


def test_a_changed_kernel_names_the_error_and_the_cause() -> None:
    (found,) = _numerics_findings(_fp(NUMERICS), _fp(_moved(1e-5), OPENBLAS_CORETYPE="Haswell"))
    assert found.subject == KERNEL.name and found.severity is Severity.HIGH
    assert "max relative error 1e-05" in found.message
    assert "OpenBLAS kernels SkylakeX -> Haswell (OPENBLAS_CORETYPE unset -> Haswell)" in found.message
    assert "OPENBLAS_CORETYPE" in found.remedy


def test_impact_follows_the_magnitude_and_an_observed_change_is_at_least_high() -> None:
    f64 = dataclasses.replace(NUMERICS, kernels=(dataclasses.replace(KERNEL, dtype="float64"),))
    beyond_rounding = _numerics_findings(_fp(f64), _fp(_moved(1e-8, dtype="float64")))[0]
    severities = [_numerics_findings(_fp(NUMERICS), _fp(_moved(rel)))[0].severity for rel in (1e-5, 0.1)]
    assert [beyond_rounding.severity, *severities] == [Severity.HIGH, Severity.HIGH, Severity.CRITICAL]
    # 1e-8 of a float32 result is under one ULP, 2**-22 two ULP: rounding, observed equivalent, no finding
    assert _numerics_findings(_fp(NUMERICS), _fp(_moved(1e-8))) == []
    assert _numerics_findings(_fp(NUMERICS), _fp(_moved(2.0**-22))) == []


def test_causes_threads_versions_and_nothing() -> None:
    threads = dataclasses.replace(_moved(1e-5, "SkylakeX"), openblas=(dataclasses.replace(BLAS, threads="1"),))
    (found,) = _numerics_findings(_fp(NUMERICS), _fp(threads, OPENBLAS_NUM_THREADS="1"))
    assert "OpenBLAS threads 2 -> 1 (OPENBLAS_NUM_THREADS unset -> 1)" in found.message
    newer = dataclasses.replace(_moved(1e-5, "SkylakeX"), versions={"numpy": "2.5.0"})
    assert "another build: numpy 2.4.6 -> 2.5.0" in _numerics_findings(_fp(NUMERICS), _fp(newer))[0].message
    same = _numerics_findings(_fp(NUMERICS), _fp(_moved(1e-5, "SkylakeX")))[0]
    assert "nothing else recorded differs" in same.message


def test_policy_sets_the_impact() -> None:
    policy = Policy(rules={"numerics.changed": RuleOverride(probability=None, impact=5)})
    (found,) = [f for f in compare(_fp(NUMERICS), _fp(_moved(1e-5)), policy).findings]
    assert found.impact == 5


def test_bitwise_equal_battery_marks_guesses_observed_equivalent() -> None:
    expected, actual = _fp(NUMERICS, "2.3.5"), _fp(NUMERICS, "2.4.6", OPENBLAS_NUM_THREADS="1")
    without = {f.id: f for f in compare(_fp(None, "2.3.5"), _fp(None, "2.4.6", OPENBLAS_NUM_THREADS="1")).findings}
    with_ = {f.id: f for f in compare(expected, actual).findings}
    assert set(with_) == set(without) == {"package.version.minor.numeric", "env.threads"}
    for rule in with_:
        assert with_[rule].severity <= without[rule].severity
        assert "observed equivalent" in with_[rule].message
    numeric = "package.version.minor.numeric"
    assert (without[numeric].severity, with_[numeric].severity) == (Severity.MEDIUM, Severity.LOW)
    # a changed battery is no evidence of equivalence
    changed = {f.id: f for f in compare(expected, _fp(_moved(1e-5), "2.4.6", OPENBLAS_NUM_THREADS="1")).findings}
    assert "observed equivalent" not in changed["env.threads"].message
