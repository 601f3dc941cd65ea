"""``NVIDIA_REQUIRE_*`` constraints, evaluated against a driver the way the NVIDIA container toolkit does.

What this follows (read from the sources, not guessed):

* **Which variables.** nvidia-container-toolkit ``internal/config/image/cuda_image.go`` (``GetRequirements``):
  every variable whose name starts with ``NVIDIA_REQUIRE_`` is passed to ``nvidia-container-cli`` as its own
  ``--require``, except ``NVIDIA_REQUIRE_JETPACK``; a *legacy* image (``CUDA_VERSION`` set, no
  ``NVIDIA_REQUIRE_CUDA``) gets ``cuda>=MAJOR.MINOR`` from ``CUDA_VERSION``. ``NVIDIA_DISABLE_REQUIRE`` set to a
  value Go's ``strconv.ParseBool`` reads as true (``1 t T true TRUE True``) drops every requirement; any other
  value, an unparsable one included, leaves the checks on.
* **How one value reads.** libnvidia-container ``src/cli/dsl.c`` (``dsl_evaluate``): the value is split on spaces
  into alternatives that are **OR**-ed, each alternative split on commas into factors that are **AND**-ed; empty
  pieces are skipped. Evaluation goes left to right and stops at the first alternative whose factors all hold.
  The toolkit's Go port (``internal/requirements/constraints/factory.go``: "space-separated constraints being
  ORed together and comma-separated constraints being ANDed together") reads it the same way.
* **A factor** is ``KEY OP VALUE``: the key runs up to the first of ``<>=!``, the operator is the whole run of
  those characters and must be one of ``= != < <= > >=`` (so ``==`` is invalid), the value must not be empty.
  Keys (``src/cli/configure.c``, ``rules[]``), matched case-insensitively: ``cuda`` (the driver's CUDA version,
  ``cuDriverGetVersion`` as ``13.0``), ``driver`` (the kernel-module version, ``580.159.04``), ``arch`` (a
  device's compute capability, ``9.0``), ``brand`` (a device's NVML brand; ``=`` and ``!=`` only, compared
  case-insensitively).
* **Versions** (``dsl_compare_version``) hold only digits and dots, and compare number by number with trailing
  zero parts ignored: ``13.0 == 13``, ``570.86.15 > 570``, ``570.86.15 < 571``. So ``driver>=535,driver<536``
  means "a 535.x driver". Anything else in a version is an invalid expression.
* **Several variables** are several ``--require`` options: all must hold. With GPUs visible, every requirement is
  checked once per visible device (``configure_command``), so ``arch``/``brand`` must hold for each.
* **Unknowns count as met** (``configure.c``): no driver information, no CUDA version, no visible device, or no
  brand — the factor is taken as satisfied.
* **A failure** is reported by ``nvidia-container-cli`` as ``requirement error: unsatisfied condition: <the first
  alternative>`` (plus "please update your driver…" when that is ``cuda>=``), and the container does not start;
  an unknown key, a bad operator or a non-numeric version is ``requirement error: invalid expression``, which
  also stops the container.

The official CUDA images' ``brand=tesla,driver>=535,driver<536 brand=unknown,…`` alternatives are the
**forward-compatibility** branches: a CUDA 13.0 image is accepted on a 535, 550, 565, 570 or 575 data-center
driver (the image carries ``cuda-compat``), not only on a driver whose own CUDA version is 13.0 or newer. The
toolkit therefore accepts the CUDA 13.0 H200 image on driver 570.86.15: that node is not refused here. Whether
the program then runs there is a different question (``gpu.driver.too_old`` answers it from the CUDA runtime the
packages ship).

Brand: libnvidia-container reads a device's NVML brand (``nvmlDeviceGetBrand``) and names it as the images do,
lower-cased (``driver.c``; releases before 1.9 knew only Quadro, Tesla, NVS, GRID, GeForce and TITAN and called
every other brand "Unknown" — which is why the images list ``brand=unknown`` too, see
NVIDIA/nvidia-container-toolkit#24). The toolkit never derives a brand from the GPU's name, and the fingerprint
does not record the NVML brand, so the comparison evaluates with the brand unknown: every ``brand=`` factor is
met, as the toolkit does when it has no brand.

Malformed input: ``parse_requirements`` raises ``RequirementError``. The comparators never raise: a value that
does not parse is reported unmet, with "invalid expression …" as the failing constraint, because the toolkit
would refuse the container when it reached that factor (it notices only if it gets that far; we report it
always — such an image fails on some node).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Iterator, List, Mapping, Optional, Sequence, Tuple

from envcheck.model import Fingerprint
from envcheck.policy import Policy
from envcheck.rules.interface import Change

PREFIX = "NVIDIA_REQUIRE_"
DISABLE = "NVIDIA_DISABLE_REQUIRE"
JETPACK = "NVIDIA_REQUIRE_JETPACK"
LEGACY = "CUDA_VERSION"
KEYS = ("cuda", "driver", "arch", "brand")
OPERATORS = ("=", "!=", "<", "<=", ">", ">=")
_OPERATOR_CHARS = "<>=!"
#: Values Go's ``strconv.ParseBool`` reads as true.
_TRUE = frozenset(["1", "t", "T", "true", "TRUE", "True"])
_MAX_TEXT = 80


class RequirementError(ValueError):
    """A ``NVIDIA_REQUIRE_*`` value the container toolkit rejects as an invalid expression."""


@dataclass(frozen=True)
class Factor:
    """One ``KEY OP VALUE`` comparison."""

    key: str
    """Lower-cased: one of ``KEYS``."""
    op: str
    value: str

    def __str__(self) -> str:
        return f"{self.key}{self.op}{self.value}"


#: Alternatives (OR) of factors (AND).
Requirement = Tuple[Tuple[Factor, ...], ...]


def _version(text: str) -> Optional[Tuple[int, ...]]:
    """Digits and dots only, compared number by number with trailing zero parts dropped, as ``dsl.c`` does."""
    if not text or text.strip("0123456789."):
        return None
    parts = [int(p) for p in text.split(".") if p]
    if not parts:
        return None
    while len(parts) > 1 and parts[-1] == 0:
        parts.pop()
    return tuple(parts)


def _factor(text: str) -> Factor:
    end = next((i for i, c in enumerate(text) if c in _OPERATOR_CHARS), -1)
    if end <= 0:
        raise RequirementError(f"invalid expression {text!r}: expected KEY OP VALUE")
    stop = end
    while stop < len(text) and text[stop] in _OPERATOR_CHARS:
        stop += 1
    key, op, value = text[:end].lower(), text[end:stop], text[stop:]
    if op not in OPERATORS:
        raise RequirementError(f"invalid expression {text!r}: unknown operator {op!r}")
    if not value:
        raise RequirementError(f"invalid expression {text!r}: no value")
    if key not in KEYS:
        raise RequirementError(f"invalid expression {text!r}: unknown key {key!r} (known: {', '.join(KEYS)})")
    if key == "brand":
        if op not in ("=", "!="):
            raise RequirementError(f"invalid expression {text!r}: brand compares with = or != only")
    elif _version(value) is None:
        raise RequirementError(f"invalid expression {text!r}: {value!r} is not a version")
    return Factor(key, op, value)


def parse_requirements(value: str) -> Requirement:
    """Parse one variable's value: space-separated alternatives (OR) of comma-separated factors (AND).

    An empty value has no alternatives and is always met. Raises ``RequirementError`` for a factor the toolkit
    calls an invalid expression.
    """
    alternatives: List[Tuple[Factor, ...]] = []
    for term in value.split(" "):
        factors = tuple(_factor(f) for f in term.split(",") if f)
        if factors:
            alternatives.append(factors)
    return tuple(alternatives)


def _compare_versions(have: Tuple[int, ...], op: str, want: Tuple[int, ...]) -> bool:
    size = max(len(have), len(want))
    a = have + (0,) * (size - len(have))
    b = want + (0,) * (size - len(want))
    return {
        "=": a == b,
        "!=": a != b,
        "<": a < b,
        "<=": a <= b,
        ">": a > b,
        ">=": a >= b,
    }[op]


def _holds(factor: Factor, driver_version: str, cuda_version: str, arch: str, brand: str) -> bool:
    if factor.key == "brand":
        if not brand:
            return True  # configure.c: no brand known, assume it is ok
        same = brand.lower() == factor.value.lower()
        return same if factor.op == "=" else not same
    have_text = {"cuda": cuda_version, "driver": driver_version, "arch": arch}[factor.key]
    if not have_text:
        return True  # configure.c: no driver / CUDA version / device, assume it is ok
    have, want = _version(have_text), _version(factor.value)
    if have is None or want is None:
        return False  # dsl.c: a non-numeric version is an invalid expression, which refuses the container
    return _compare_versions(have, factor.op, want)


def describe(requirement: Requirement) -> str:
    """A short text for a requirement: its first alternative, and what the others allow, within ~80 chars."""
    if not requirement:
        return ""
    first = ",".join(str(f) for f in requirement[0])
    rest = requirement[1:]
    if not rest:
        return _shorten(first)
    branches: List[str] = []
    for alt in rest:
        lows = [f.value for f in alt if f.key == "driver" and f.op == ">="]
        if not lows or not all(f.key in ("brand", "driver") for f in alt):
            branches = []
            break
        major = lows[0].split(".")[0]
        if major not in branches:
            branches.append(major)
    if branches:
        return _shorten(f"{first} (or a driver in the {', '.join(branches)} branches)")
    return _shorten(f"{first} (or {len(rest)} other alternatives)")


def _shorten(text: str) -> str:
    return text if len(text) <= _MAX_TEXT else text[: _MAX_TEXT - 1] + "…"


def evaluate(
    constraints: Requirement, driver_version: str, cuda_version: str, arch: str = "", brand: str = ""
) -> Tuple[bool, str]:
    """Whether a parsed requirement holds for a driver (and one device's arch and brand).

    Returns ``(True, "")`` or ``(False, failing)`` where ``failing`` is ``describe(constraints)``: like
    ``nvidia-container-cli``, it names the first alternative, since every alternative failed.
    """
    if not constraints:
        return True, ""
    for alternative in constraints:
        if all(_holds(f, driver_version, cuda_version, arch, brand) for f in alternative):
            return True, ""
    return False, describe(constraints)


def disabled(variables: Mapping[str, str]) -> bool:
    """``NVIDIA_DISABLE_REQUIRE`` read as Go's ``strconv.ParseBool`` reads it."""
    return variables.get(DISABLE, "").strip() in _TRUE


def requirements(variables: Mapping[str, str]) -> Dict[str, str]:
    """The requirements the toolkit checks for these variables, by variable name (``GetRequirements``)."""
    if disabled(variables):
        return {}
    found = {
        name: value
        for name, value in variables.items()
        if name.startswith(PREFIX) and not name.startswith(JETPACK)
    }
    if not found.get("NVIDIA_REQUIRE_CUDA") and variables.get(LEGACY):
        major_minor = ".".join(variables[LEGACY].strip().lstrip("v").split(".")[:2])
        if _version(major_minor) is not None and "." in major_minor:
            found[LEGACY] = f"cuda>={major_minor}"
    return dict(sorted(found.items()))


def unmet(fp: Fingerprint) -> Dict[str, str]:
    """Variable name -> failing constraint, for requirements ``fp``'s own driver does not meet.

    Empty when ``fp`` has no GPU or no known driver version: there is nothing the toolkit would check against.
    """
    gpu = fp.gpu
    if not gpu.devices or not gpu.driver_version:
        return {}
    archs: Sequence[str] = [d.compute_capability for d in gpu.devices] or [""]
    out: Dict[str, str] = {}
    for name, value in requirements(fp.env.variables).items():
        try:
            parsed = parse_requirements(value)
        except RequirementError as e:
            out[name] = _shorten(str(e))
            continue
        for arch in archs:  # checked once per visible device
            ok, failing = evaluate(parsed, gpu.driver_version, gpu.cuda_driver_version, arch)
            if not ok:
                out[name] = failing
                break
    return out


#: GPU names of product lines NVIDIA's forward compatibility does not cover (CUDA Compatibility guide, "Forward
#: Compatibility": data-center GPUs and select NGC Server Ready RTX SKUs only).
_NO_FORWARD_COMPAT = ("geforce", "titan")


def forward_compat_cuda(fp: Fingerprint) -> Optional[Tuple[int, int]]:
    """The CUDA version (``CUDA_VERSION``'s major.minor) whose forward-compatibility libraries serve ``fp``'s
    driver, or None.

    NVIDIA's CUDA images ship ``cuda-compat`` (a newer ``libcuda`` in ``/usr/local/cuda/compat``) and say so in
    ``NVIDIA_REQUIRE_CUDA``: the ``brand=…,driver>=570,driver<571`` alternatives name the older driver branches
    it serves. On such a driver the container toolkit puts those libraries first in the container's library
    cache (nvidia-container-toolkit's ``enable-cuda-compat`` hook, PR #906: "only … if the compat libraries are
    newer than the host drivers"), so CUDA runtimes up to the image's version initialise there. It holds when the
    driver meets a driver-only alternative (not ``cuda>=``, which needs no compat) on a GPU of a product line that
    forward compatibility covers.
    """
    variables = fp.env.variables
    value = variables.get("NVIDIA_REQUIRE_CUDA", "")
    toolkit = variables.get(LEGACY, "").strip().split(".")
    driver = fp.gpu.driver_version
    if not value or len(toolkit) < 2 or not (toolkit[0].isdigit() and toolkit[1].isdigit()) or not driver:
        return None
    if any(word in d.name.lower() for d in fp.gpu.devices for word in _NO_FORWARD_COMPAT):
        return None
    try:
        parsed = parse_requirements(value)
    except RequirementError:
        return None
    for alternative in parsed:
        keys = {f.key for f in alternative}
        if "driver" in keys and "cuda" not in keys and all(_holds(f, driver, "", "", "") for f in alternative):
            return int(toolkit[0]), int(toolkit[1])
    return None


def _actual_text(fp: Fingerprint) -> str:
    return f"driver {fp.gpu.driver_version}, CUDA {fp.gpu.cuda_driver_version or 'unknown'}"


def compare_nvidia_require(expected: Fingerprint, actual: Fingerprint, policy: Policy) -> Iterator[Change]:
    """Requirements newly unmet in ``actual``, and ``NVIDIA_DISABLE_REQUIRE`` newly switched on."""
    before = unmet(expected)
    for name, failing in unmet(actual).items():
        if name not in before:
            yield Change("gpu.require.unmet", name, failing, _actual_text(actual))
    old_vars, new_vars = expected.env.variables, actual.env.variables
    if disabled(new_vars) and not disabled(old_vars):
        yield Change("gpu.require.disabled", DISABLE, old_vars.get(DISABLE, "unset"), new_vars[DISABLE])
