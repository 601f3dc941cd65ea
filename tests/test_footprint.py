"""envcheck's own footprint: what is there only because envcheck is installed, and what stays the model's."""

from __future__ import annotations

import dataclasses
from typing import Dict, FrozenSet, Sequence, Set, Tuple

import pytest
from hypothesis import given
from hypothesis import strategies as st
from packaging.utils import canonicalize_name as canonical

from envcheck.compare import compare
from envcheck.footprint import required_among, requirement_names, tool_names, tool_packages
from envcheck.model import Fingerprint, Package, PythonInfo, Source

MARKERS = {
    "implementation_name": "cpython",
    "implementation_version": "3.12.3",
    "os_name": "posix",
    "platform_machine": "x86_64",
    "platform_release": "6.8.0",
    "platform_system": "Linux",
    "platform_version": "#1 SMP",
    "python_full_version": "3.12.3",
    "platform_python_implementation": "CPython",
    "python_version": "3.12",
    "sys_platform": "linux",
}

#: envcheck's real requirements (pyproject.toml), as its METADATA states them.
ENVCHECK_REQUIRES = (
    "packaging>=22",
    "psutil>=5.9",
    "click>=8.1",
    "tomli-w>=1.0",
    "tomli>=1.1; python_version < '3.11'",
    "importlib-metadata>=4.6; python_version < '3.10'",
    "prometheus-client>=0.17",
    'nvidia-ml-py>=12; extra == "gpu"',
    'docker>=6; extra == "docker"',
)


def pkg(name: str, *requires: str, requested: bool = False) -> Package:
    return Package(name, "1.0", requires=tuple(requires), requested=requested)


def env(*extra: Package, with_envcheck: bool = True) -> Tuple[Package, ...]:
    """envcheck with its requirements installed, plus ``extra``."""
    base = [pkg(n) for n in ("packaging", "psutil", "click", "tomli-w", "prometheus-client")]
    if with_envcheck:
        base.append(pkg("envcheck", *ENVCHECK_REQUIRES, requested=True))
    return (*base, *extra)


CASES: Dict[str, Tuple[Sequence[Package], set[str]]] = {
    "envcheck and what only it needs": (
        env(pkg("torch", "numpy"), pkg("numpy")),
        {"envcheck", "packaging", "psutil", "click", "tomli-w", "prometheus-client"},
    ),
    "a requirement the model's packages share stays": (
        env(pkg("torch", "numpy", "packaging"), pkg("numpy")),
        {"envcheck", "psutil", "click", "tomli-w", "prometheus-client"},
    ),
    "shared through another package (transitively) stays": (
        env(pkg("transformers", "huggingface-hub"), pkg("huggingface-hub", "packaging")),
        {"envcheck", "psutil", "click", "tomli-w", "prometheus-client"},
    ),
    "a requirement the user asked for by name stays": (
        (*[p for p in env() if p.name != "click"], pkg("click", requested=True)),
        {"envcheck", "packaging", "psutil", "tomli-w", "prometheus-client"},
    ),
    "an extra whose requirements are installed is followed": (
        env(pkg("docker", "requests"), pkg("requests", "urllib3"), pkg("urllib3")),
        {
            "envcheck",
            "packaging",
            "psutil",
            "click",
            "tomli-w",
            "prometheus-client",
            "docker",
            "requests",
            "urllib3",
        },
    ),
    "a model package's extra that is not installed pulls nothing in": (
        env(pkg("scipy", 'click; extra == "cli"', 'rich; extra == "cli"')),
        {"envcheck", "packaging", "psutil", "click", "tomli-w", "prometheus-client"},
    ),
    "a model package's installed extra keeps its requirements": (
        env(pkg("scipy", 'click; extra == "cli"')),
        {"envcheck", "packaging", "psutil", "tomli-w", "prometheus-client"},
    ),
    "a requirement whose marker does not hold is not followed": (
        env(pkg("oldlib", "psutil; python_version < '3.8'")),
        {"envcheck", "packaging", "psutil", "click", "tomli-w", "prometheus-client"},
    ),
    "envcheck required by another package is the model's": (
        env(pkg("mlplatform", "envcheck")),
        set(),
    ),
    "no envcheck: no footprint": (env(pkg("torch"), with_envcheck=False), set()),
}


@pytest.mark.parametrize("packages,tool", CASES.values(), ids=CASES.keys())
def test_tool_packages(packages: Sequence[Package], tool: set[str]) -> None:
    assert tool_packages(packages, MARKERS) == tool


def test_requirement_names_are_canonical_and_skip_what_cannot_be_parsed() -> None:
    p = pkg("x", "Tomli_W>=1", "not a requirement !!", "PyYAML; sys_platform == 'win32'")
    assert requirement_names(p, MARKERS) == ["tomli-w"]


def _fp(packages: Sequence[Package]) -> Fingerprint:
    return Fingerprint(
        packages=tuple(packages), python=PythonInfo(markers=MARKERS), sources={"packages": Source()}
    )


def test_tool_packages_are_never_reported_missing_but_the_models_are() -> None:
    tool = tool_packages(env(pkg("torch", "packaging")), MARKERS)
    lock = tuple(
        Package(p.name, p.version, requires=p.requires, requested=p.requested, tool=p.name in tool)
        for p in env(pkg("torch", "packaging"))
    )
    serving = [pkg("torch", "packaging"), pkg("packaging")]
    assert compare(_fp(lock), _fp(serving)).findings == ()
    without_shared = [pkg("torch", "packaging")]
    found = [(f.id, f.subject) for f in compare(_fp(lock), _fp(without_shared)).findings]
    assert found == [("package.missing", "packaging")]  # torch needs it: the model's, reported


def test_a_lockfile_written_before_the_mark_gets_the_same_judgement() -> None:
    """An older lockfile has no ``tool`` marks: its recorded requirements give the same footprint."""
    unmarked = env(pkg("torch", "packaging"))
    assert tool_names(_fp(unmarked)) == {"envcheck", "psutil", "click", "tomli-w", "prometheus-client"}
    serving = [pkg("torch", "packaging"), pkg("packaging")]
    assert compare(_fp(unmarked), _fp(serving)).findings == ()


def test_envcheck_s_own_dependencies_moving_or_extra_are_not_the_model_s_drift() -> None:
    """envcheck's dependencies on both sides (a newer click with a newer envcheck) are quiet, and envcheck's own
    packages in the candidate are no extras even with --show-extra; a model package's move is still reported."""
    import dataclasses

    from envcheck.compare import compare
    from envcheck.model import Fingerprint, Package, PythonInfo, Source
    from envcheck.policy import Policy

    markers = {"python_version": "3.11", "sys_platform": "linux", "platform_system": "Linux"}
    python = PythonInfo(version="3.11.7", markers=markers)

    def fp(*packages: Package) -> Fingerprint:
        listed = tuple(sorted(packages, key=lambda p: p.name))
        return Fingerprint(sources={"packages": Source("ok", "")}, python=python, packages=listed)

    model = Package("scikit-learn", "1.5.0")
    lock = fp(model, Package("envcheck", "0.1.0", requires=("click>=8",)), Package("click", "8.1.0"))
    later = fp(
        dataclasses.replace(model, version="1.6.0"),
        Package("envcheck", "0.2.0", requires=("click>=8", "rich")),
        Package("click", "8.2.0"),
        Package("rich", "13.0"),
    )
    found = compare(lock, later, Policy(show_extra=True)).findings
    assert [(f.id, f.subject) for f in found] == [("package.version.minor.numeric", "scikit-learn")]


def test_what_the_model_files_need_is_the_model_s_even_when_envcheck_pulled_it_in() -> None:
    """scikit-learn installed only through an extra of envcheck (a test environment), and a pickle that names
    sklearn: missing in serving, it is reported (critical: the model names it), and its requirements with it."""
    from envcheck.model import ModelFile

    env_pkgs = [
        *env(with_envcheck=False),
        pkg("envcheck", *ENVCHECK_REQUIRES, 'scikit-learn; extra == "test"', requested=True),
        Package("scikit-learn", "1.7.2", requires=("joblib",), modules=("sklearn",)),
        pkg("joblib"),
    ]
    tool = tool_packages(env_pkgs, MARKERS)
    assert {"scikit-learn", "joblib"} <= tool  # envcheck's footprint, by the requirements alone
    lock_pkgs = tuple(
        Package(p.name, p.version, requires=p.requires, modules=p.modules, tool=p.name in tool) for p in env_pkgs
    )
    model = ModelFile("m.pkl", 1, "ab" * 32, references=("sklearn.svm._classes:SVC",), modules=("sklearn",))
    lock = Fingerprint(
        packages=lock_pkgs,
        python=PythonInfo(markers=MARKERS),
        models=(model,),
        sources={"packages": Source(), "models": Source()},
    )
    serving = dataclasses.replace(
        lock,
        packages=tuple(p for p in lock_pkgs if p.name not in ("scikit-learn", "joblib") and not p.tool),
        models=(model,),
    )
    found = {(f.id, f.subject) for f in compare(lock, serving).findings}
    assert ("package.missing.critical", "scikit-learn") in found
    assert ("package.missing", "joblib") in found
    assert not {s for _, s in found} & tool - {"scikit-learn", "joblib"}


def _reference_tool_packages(packages: Sequence[Package], markers: Dict[str, str]) -> FrozenSet[str]:
    """The footprint as first written: every distribution's requirements parsed, the whole graph built."""
    by_name = {p.name: p for p in packages}
    if "envcheck" not in by_name:
        return frozenset()
    graph = {n: [r for r in requirement_names(p, markers, by_name) if r in by_name] for n, p in by_name.items()}

    def closure(roots: Sequence[str]) -> Set[str]:
        seen: Set[str] = set()
        todo = list(roots)
        while todo:
            name = todo.pop()
            if name not in seen:
                seen.add(name)
                todo.extend(graph.get(name, ()))
        return seen

    ours = closure(["envcheck"])
    roots = [n for n, p in by_name.items() if n not in ours or (p.requested and n != "envcheck")]
    return frozenset(ours - closure(roots))


_NAMES = ("envcheck", "click", "psutil", "packaging", "numpy", "torch", "Torch_Vision", "scipy", "tomli-w")
_SUFFIXES = (
    "",
    ">=1",
    "; python_version < '3.0'",
    '; extra == "gpu"',
    " @ https://x/y.whl",
    "[cli]>=2",
    " !! bad",
)


@given(
    st.lists(
        st.tuples(
            st.sampled_from(_NAMES),
            st.lists(st.tuples(st.sampled_from(_NAMES), st.sampled_from(_SUFFIXES)), max_size=5),
            st.booleans(),
        ),
        max_size=9,
    )
)
def test_footprint_parses_only_what_can_matter_and_agrees_with_the_whole_graph(
    spec: Sequence[Tuple[str, Sequence[Tuple[str, str]], bool]],
) -> None:
    # tool_packages skips parsing the requirements that cannot name a distribution of envcheck's closure; on any
    # graph (extras, markers, unparsable lines, names spelled otherwise, requested packages) it must give what
    # the whole graph gives
    packages = [
        Package(name=canonical(name), version="1", requires=tuple(r + s for r, s in reqs), requested=requested)
        for name, reqs, requested in spec
    ]
    assert tool_packages(packages, MARKERS) == _reference_tool_packages(packages, MARKERS)


@given(
    st.lists(st.tuples(st.sampled_from(_NAMES), st.sampled_from(_SUFFIXES)), max_size=8),
    st.sets(st.sampled_from([canonical(n) for n in _NAMES])),
    st.sets(st.sampled_from([canonical(n) for n in _NAMES])),
)
def test_required_among_is_requirement_names_kept_to_those_names(
    requires: Sequence[Tuple[str, str]], installed: Set[str], among: Set[str]
) -> None:
    # parsing only the requirements that may name one of ``among`` (or the whole package under an extra) gives
    # what parsing all of them and keeping those names gives
    pkg = Package(name="p", version="1", requires=tuple(r + s for r, s in requires))
    whole = [n for n in requirement_names(pkg, MARKERS, installed) if n in among]
    assert sorted(required_among(pkg, MARKERS, installed, among)) == sorted(whole)
