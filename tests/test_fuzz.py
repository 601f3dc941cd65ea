"""Fuzzing lockfiles and policies: whatever the bytes or the structure, envcheck refuses with LockfileError or
PolicyError or works — never another exception, never unbounded time.

Seeds are the real lockfiles in fixtures/h200-serving (cut to a dozen packages so that an example costs
milliseconds), mutated as bytes (bit flips, TOML-significant fragments spliced in, cuts, repeats) and as TOML
structures (a value replaced by an odd one of the same kind, so that it passes the type checks and reaches the
rules, or by any TOML value; keys removed or added). Policies are fuzzed the same two ways. What parses is then
compared both ways (self-checks included), reported in every format and shown, with and without a fuzzed policy.
Bounded: fixed ``max_examples`` (``ENVCHECK_FUZZ_EXAMPLES`` for a longer local run) and a per-example deadline;
about ten seconds in all here.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime
import os
import tempfile
from typing import Any, Callable, Dict, List, Optional

import tomli_w
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from envcheck import lockfile, tomlfile
from envcheck.compare import compare
from envcheck.model import Fingerprint
from envcheck.policy import Policy, PolicyError, load_policy, parse_policy
from envcheck.report import FORMATS, reporter_for
from envcheck.rules.rulebook import BY_ID
from envcheck.show import render_text, summary
from envcheck.tomlfile import MAX_DEPTH
from tests.conftest import H200

#: More examples for a longer local run: ENVCHECK_FUZZ_EXAMPLES=5000 pytest tests/test_fuzz.py
EXAMPLES = int(os.environ.get("ENVCHECK_FUZZ_EXAMPLES", "150"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=datetime.timedelta(seconds=10),  # a bound, with headroom for a loaded machine
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def _small(name: str) -> Fingerprint:
    fp = lockfile.read(H200 / name)
    return dataclasses.replace(fp, packages=fp.packages[:12])


SERVING = _small("envcheck.lock")
IN_TORCH = _small("envcheck-in-torch.lock")
SEEDS = [lockfile.dumps(SERVING).encode(), lockfile.dumps(IN_TORCH).encode()]
SEED_DATA = [tomlfile.parse(s.decode(), name="seed", limit=1 << 20) for s in SEEDS]

#: Fragments that mean something to a TOML parser or to envcheck, spliced in at random places.
FRAGMENTS = [
    b"[",
    b"]",
    b"{",
    b"}",
    b'"',
    b"'''",
    b'"""',
    b"=",
    b",",
    b".",
    b"\n",
    b"\r",
    b"\x00",
    b"\xff",
    b"\xc3",
    b"\\u0000",
    b"\\",
    b"#",
    b"\n[meta]\nschema = 1\n",
    b"\n[[packages]]\n",
    b"\n[sources.gpu]\n",
    b"99999999999999999999999",
    b"-9223372036854775809",
    b"9" * 5000,
    b"inf",
    b"nan",
    b"1979-05-27T07:32:00Z",
    b"true",
    b"[" * 200,
    b"{a=" * 100,
    b"a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p.q.r.s.t.u.v.w.x.y.z.aa.bb.cc.dd.ee.ff.gg = 1\n",
]


@st.composite
def mutated_bytes(draw: st.DrawFn, seeds: List[bytes]) -> bytes:
    data = bytearray(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(1, 6))):
        at = draw(st.integers(0, len(data)))
        op = draw(st.sampled_from(["flip", "splice", "cut", "repeat", "truncate", "random"]))
        if op == "flip" and at < len(data):
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif op == "splice":
            data[at:at] = draw(st.sampled_from(FRAGMENTS))
        elif op == "cut":
            del data[at : at + draw(st.integers(1, 400))]
        elif op == "repeat":
            data[at:at] = data[at : at + draw(st.integers(1, 400))] * draw(st.integers(1, 3))
        elif op == "truncate":
            del data[at:]
        else:
            data[at:at] = draw(st.binary(max_size=16))
    return bytes(data)


_TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)
_SCALARS = st.one_of(
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([0, -1, 1, 2**63 - 1, -(2**63), 2**64]),
    st.floats(allow_nan=True, allow_infinity=True),
    _TEXT,
    st.sampled_from(
        ["", "ok", "unavailable", "1", "sha256:", "x86_64", "9.0", "2.5.2+cu130", "!=", "../..", "\n"]
    ),
    st.datetimes(),
    st.dates(),
)
TOML_VALUES = st.recursive(
    _SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(_TEXT, inner, max_size=4)),
    max_leaves=12,
)


#: Strings that mean something to envcheck's rules: versions, tags, paths, markers, numbers.
_ODD_STRINGS = st.sampled_from(
    [
        "",
        " ",
        "0",
        "-1",
        "1.2.3.4.5.6.7",
        "999999999999999999999.0",
        "2.5.2+cu130",
        "1!2.0rc1.post3.dev4+local.7",
        "not a version",
        "cp312-cp312-manylinux_2_28_x86_64",
        "py3-none-any",
        "cp3-abi3-manylinux_99999999999_99_x86_64",
        "musllinux_1_2_aarch64",
        "a-b-c-d",
        "sm_",
        "sm_9999999999999999999",
        "compute_90",
        "9.0.0.0",
        ".",
        "..",
        "x.",
        "numpy>=2; python_version < '3'",
        "numpy ; extra == 'x'",
        "foo[bar] (>=1.0)",
        "torch===2.0",
        "@ file:///x",
        "cuda>=13.0 brand=tesla,driver>=535,driver<536",
        "driver>=",
        "arch=9.0,,cuda<<1",
        "x86-64-v9",
        "armv99.9-a",
        "\x1b[31m",
        "::error::forged",
        "</testsuite>",
        "a\nb",
        "%(x)s {subject} {0}",
    ]
)


def _same_kind(value: Any) -> st.SearchStrategy[Any]:
    """A value of the same TOML kind: what passes the type checks and reaches the rules."""
    if isinstance(value, bool):
        return st.booleans()
    if isinstance(value, int):
        return st.one_of(st.integers(-(2**63), 2**63 - 1), st.sampled_from([0, -1, 1, 2**63 - 1, -(2**63)]))
    if isinstance(value, str):
        return st.one_of(_ODD_STRINGS, _TEXT)
    if isinstance(value, list):
        return st.one_of(
            st.just([]),
            st.just(value * 2),
            st.just(list(reversed(value))),
            st.lists(_ODD_STRINGS, max_size=4) if all(isinstance(v, str) for v in value) else st.just(value[:1]),
        )
    return st.just(value)


def _paths(data: Any, prefix: tuple = ()) -> List[tuple]:
    """Every key path in a TOML document."""
    out: List[tuple] = []
    items = data.items() if isinstance(data, dict) else enumerate(data) if isinstance(data, list) else []
    for key, value in items:
        out.append((*prefix, key))
        out.extend(_paths(value, (*prefix, key)))
    return out


@st.composite
def mutated_structure(draw: st.DrawFn) -> str:
    data = copy.deepcopy(draw(st.sampled_from(SEED_DATA)))
    for _ in range(draw(st.integers(1, 4))):
        paths = _paths(data)
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent: Any = data
        for key in path[:-1]:
            parent = parent[key]
        op = draw(st.sampled_from(["same-kind", "same-kind", "same-kind", "replace", "delete", "add"]))
        if op == "same-kind":
            parent[path[-1]] = draw(_same_kind(parent[path[-1]]))
        elif op == "replace":
            parent[path[-1]] = draw(TOML_VALUES)
        elif op == "delete":
            del parent[path[-1]]
        elif isinstance(parent, dict):
            parent[draw(_TEXT)] = draw(TOML_VALUES)
        else:
            parent.append(draw(TOML_VALUES))
    return tomli_w.dumps(data)


# --- what a parsed lockfile or policy goes through ---------------------------------------------------------------


def _use(fp: Fingerprint, policy: Optional[Policy] = None) -> None:
    """Everything downstream of reading: compare both ways (self-checks too), every report format, show."""
    for expected, actual in ((SERVING, fp), (fp, IN_TORCH)):
        report = compare(expected, actual, policy, self_checks=True)
        for fmt in FORMATS:
            reporter_for(fmt).render(report)
    render_text(fp)
    list(summary(fp))
    lockfile.dumps(fp)


def _read_lockfile_bytes(data: bytes, verify: bool) -> Optional[Fingerprint]:
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "envcheck.lock")
        with open(path, "wb") as f:
            f.write(data)
        try:
            return lockfile.read(path, verify=verify)
        except lockfile.LockfileError as e:
            assert "\n" not in str(e)
            return None


@FUZZ
@given(mutated_bytes(SEEDS), st.booleans())
def test_fuzz_lockfile_bytes(data: bytes, verify: bool) -> None:
    fp = _read_lockfile_bytes(data, verify)
    if fp is not None:
        _use(fp)


@FUZZ
@given(mutated_structure())
def test_fuzz_lockfile_structure(text: str) -> None:
    try:
        fp = lockfile.loads(text, name="fuzzed.lock", verify=False)
    except lockfile.LockfileError as e:
        assert "\n" not in str(e)
        return
    _use(fp)


def test_the_seeds_are_accepted() -> None:
    """The mutations start from lockfiles that read and verify: what the fuzzers refuse, they made."""
    for seed in SEEDS:
        assert _read_lockfile_bytes(seed, verify=True) is not None
    assert max(len(p) for p in _paths(SEED_DATA[0])) + 1 < MAX_DEPTH


# --- policies ----------------------------------------------------------------------------------------------------

POLICY_SEED = b"""
fail_on = "medium"
model_critical = ["torch", "numpy"]
ignore_packages = ["boto3"]
ignore_rules = ["os.kernel", "cpu.*"]
extra_env = ["MY_FLAG"]
show_extra = true
[tolerance]
scikit-learn = "patch"
[rules."package.version.minor"]
impact = 3
probability = 2
"""
_KEYS = ["fail_on", "model_critical", "tolerance", "ignore_packages", "ignore_rules", "rules", "extra_env"]
_RULE_IDS = sorted(BY_ID)
POLICY_VALUES: Dict[str, st.SearchStrategy[Any]] = {
    "fail_on": st.sampled_from(["low", "medium", "high", "critical", "never"]),
    "model_critical": st.lists(st.sampled_from(["torch", "numpy", "nvidia-cudnn-cu12", "Torch_"]), max_size=3),
    "tolerance": st.dictionaries(
        st.sampled_from(["numpy", "torch", "Scikit_Learn"]),
        st.sampled_from(["exact", "patch", "minor", "major"]),
        max_size=3,
    ),
    "ignore_packages": st.lists(_TEXT, max_size=3),
    "ignore_rules": st.lists(
        st.sampled_from(["*", "os.*", "package.*", "gpu.?rch.*", "[a-z]*", "cpu.flags"]), max_size=3
    ),
    "rules": st.dictionaries(
        st.sampled_from(_RULE_IDS),
        st.fixed_dictionaries({}, optional={"probability": st.integers(1, 5), "impact": st.integers(1, 5)}),
        max_size=3,
    ),
    "extra_env": st.lists(_TEXT, max_size=3),
    "show_extra": st.booleans(),
}


@st.composite
def policies(draw: st.DrawFn) -> Dict[str, Any]:
    """Mostly valid policies, with any key's value sometimes replaced by any TOML value, or unknown keys."""
    data: Dict[str, Any] = {}
    for key in draw(st.lists(st.sampled_from([*_KEYS, "show_extra"]), unique=True)):
        data[key] = draw(st.one_of(POLICY_VALUES[key], TOML_VALUES) if draw(st.booleans()) else POLICY_VALUES[key])
    if draw(st.integers(0, 9)) == 0:
        data[draw(_TEXT)] = draw(TOML_VALUES)
    return data


def _loaded(load: Callable[[], Policy]) -> Optional[Policy]:
    try:
        return load()
    except PolicyError as e:
        assert "\n" not in str(e)
        return None


@FUZZ
@given(policies(), st.sampled_from(["envcheck.toml", "pyproject.toml", "data"]))
def test_fuzz_policy_structure(data: Dict[str, Any], where: str) -> None:
    if where == "data":
        policy = _loaded(lambda: parse_policy(data, "fuzzed", BY_ID))
    else:
        text = tomli_w.dumps({"tool": {"envcheck": data}} if where == "pyproject.toml" else data)
        with tempfile.TemporaryDirectory() as folder:
            path = os.path.join(folder, where)
            with open(path, "w", encoding="utf-8") as f:
                f.write(text)
            policy = _loaded(lambda: load_policy(path, BY_ID))
    if policy is not None:
        _use(IN_TORCH, policy)


@FUZZ
@given(mutated_bytes([POLICY_SEED, b"[tool.envcheck]\n" + POLICY_SEED.replace(b"\n[", b"\n[tool.envcheck.")]))
def test_fuzz_policy_bytes(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as folder:
        name = "pyproject.toml" if data.startswith(b"[tool.envcheck]") else "envcheck.toml"
        path = os.path.join(folder, name)
        with open(path, "wb") as f:
            f.write(data)
        policy = _loaded(lambda: load_policy(path, BY_ID))
    if policy is not None:
        _use(IN_TORCH, policy)
