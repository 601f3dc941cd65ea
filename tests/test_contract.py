"""The probe's output contract: its TypedDicts against the model's dataclasses, every producer's output against
the contract, the check of another process's output, and the helpers the static reader shares with the probe."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import typing
from pathlib import Path
from typing import Any, Iterator

import packaging.tags
import pytest

from envcheck import contract, model, probe, software
from envcheck.contract import ContractError, ProbeOutput, check_output
from envcheck.targets import python as python_target
from envcheck.targets import rootfs
from envcheck.targets.docker import parse_output
from envcheck.targets.interface import TargetError
from envcheck.targets.local import LocalTarget
from envcheck.targets.pid import PidTarget
from envcheck.targets.python import BundleError, PythonTarget
from envcheck.targets.root import RootTarget
from tests.conftest import make_dist_info

# --- (a) contract and model cannot drift apart ------------------------------------------------------------------

#: Each TypedDict, the dataclass it becomes, and the fields of the dataclass no producer fills (and why).
PAIRS: list[tuple[Any, type, frozenset[str]]] = [
    (contract.SourceEntry, model.Source, frozenset()),
    (contract.OsSection, model.OsInfo, frozenset()),
    (contract.PythonSection, model.PythonInfo, frozenset()),
    (contract.DirectUrlEntry, model.DirectUrl, frozenset()),
    (contract.PackageEntry, model.Package, frozenset({"tool"})),  # decided by the snapshot (footprint)
    (contract.NativeLibEntry, model.NativeLib, frozenset({"architecture"})),  # known for a loaded library only
    (contract.BuildEntry, model.PackageBuild, frozenset()),
    (contract.NativeSection, model.NativeInfo, frozenset({"loaded"})),  # a process's maps, read by the snapshot
    (contract.EnvSection, model.EnvInfo, frozenset()),
    (contract.ProbeOutput, software.Software, frozenset()),
]
DATACLASS_OF = {typed: cls for typed, cls, _ in PAIRS}


def _ids(pair: tuple[Any, type, frozenset[str]]) -> str:
    return pair[0].__name__


@pytest.mark.parametrize("pair", PAIRS, ids=_ids)
def test_contract_keys_are_the_models_fields(pair: tuple[Any, type, frozenset[str]]) -> None:
    typed, cls, not_produced = pair
    fields = {f.name for f in dataclasses.fields(cls)}
    keys = set(typing.get_type_hints(typed)) - ({"probe"} if typed is ProbeOutput else set())
    assert keys == fields - not_produced
    assert not_produced <= fields


@pytest.mark.parametrize("pair", PAIRS, ids=_ids)
def test_what_the_model_requires_the_contract_requires(pair: tuple[Any, type, frozenset[str]]) -> None:
    typed, cls, _ = pair
    required = {
        f.name
        for f in dataclasses.fields(cls)
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    }
    assert required <= typed.__required_keys__


def _compatible(json_type: Any, model_type: Any) -> bool:
    """Whether a contract type converts to a model field's type (``model.from_data``'s rules)."""
    origin, args = typing.get_origin(model_type), typing.get_args(model_type)
    if origin is typing.Union:  # Optional[X]: a producer leaves the key out for None
        (model_type,) = [a for a in args if a is not type(None)]
        origin, args = typing.get_origin(model_type), typing.get_args(model_type)
    json_origin, json_args = typing.get_origin(json_type), typing.get_args(json_type)
    if json_origin is list:
        return origin is tuple and _compatible(json_args[0], args[0])
    if json_origin is dict:
        return origin is dict and _compatible(json_args[1], args[1])
    if json_type in DATACLASS_OF:
        return DATACLASS_OF[json_type] is model_type
    return bool(json_type is model_type)


@pytest.mark.parametrize("pair", PAIRS, ids=_ids)
def test_contract_types_convert_to_the_models_types(pair: tuple[Any, type, frozenset[str]]) -> None:
    typed, cls, _ = pair
    hints, model_hints = typing.get_type_hints(typed), typing.get_type_hints(cls)
    wrong = [key for key in hints if key in model_hints and not _compatible(hints[key], model_hints[key])]
    assert wrong == []


def test_wheel_tags_are_the_python_sections_own_keys() -> None:
    assert contract.WheelTags.__required_keys__ <= contract.PythonSection.__optional_keys__


def test_contract_statuses_are_the_models() -> None:
    assert (contract.OK, contract.UNAVAILABLE) == (model.OK, model.UNAVAILABLE)
    assert {contract.OK, contract.UNAVAILABLE} <= set(model.STATUSES)


# --- (b) every producer fills the same contract -----------------------------------------------------------------


def _keys(data: ProbeOutput) -> dict[str, Any]:
    """The key sets of each section of an output, and of its packages' entries by name."""
    return {
        "top": set(data),
        "sources": set(data["sources"]) - {"files"},
        "os": set(data["os"]),
        "python": set(data["python"]),
        "native": set(data["native"]),
        "env": set(data["env"]),
        "packages": {p["name"]: set(p) for p in data["packages"]},
    }


def _as_child(data: ProbeOutput) -> Any:
    """What a child process would print of ``data``."""
    return json.loads(json.dumps(data, sort_keys=True))


@pytest.fixture(scope="module")
def live() -> ProbeOutput:
    return probe.probe()


def test_the_live_probe_fills_the_contract(live: ProbeOutput) -> None:
    assert check_output(_as_child(live)) == _as_child(live)
    assert all(source["status"] == "ok" for source in live["sources"].values())


def test_the_python_target_fills_the_contract_with_the_live_probes_keys(live: ProbeOutput) -> None:
    """The same interpreter, probed in-process and by its bundled source in a child: the same keys everywhere,
    each package's entry included."""
    child = PythonTarget(sys.executable).probe()
    assert check_output(_as_child(child)) == child
    assert _keys(child) == _keys(live)
    in_process = LocalTarget().probe()
    assert _keys(check_output(_as_child(in_process))) == _keys(live)


@pytest.fixture(scope="module")
def copied_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tree holding a copy of this interpreter, its sysconfig data, glibc, os-release and one distribution."""
    tree = tmp_path_factory.mktemp("contract") / "tree"
    minor = f"python{sys.version_info[0]}.{sys.version_info[1]}"
    (tree / "usr/local/bin").mkdir(parents=True)
    shutil.copy2(Path(sys.executable).resolve(), tree / "usr/local/bin" / minor)
    os.symlink(minor, tree / "usr/local/bin/python3")
    libpython = Path(sys.base_prefix) / "lib" / f"lib{minor}.so.1.0"
    (tree / "usr/local/lib").mkdir(parents=True)
    if libpython.exists():
        shutil.copy2(libpython, tree / "usr/local/lib" / libpython.name)
    stdlib = tree / "usr/local/lib" / minor
    (stdlib / "site-packages").mkdir(parents=True)
    for data in Path(sysconfig.get_paths()["stdlib"]).glob("_sysconfigdata_*.py"):
        shutil.copy2(data, stdlib / data.name)
    (tree / "lib/x86_64-linux-gnu").mkdir(parents=True)
    shutil.copy2("/lib/x86_64-linux-gnu/libc.so.6", tree / "lib/x86_64-linux-gnu/libc.so.6")
    (tree / "etc").mkdir()
    shutil.copy2("/etc/os-release", tree / "etc/os-release")
    make_dist_info(stdlib / "site-packages", "demo", "1.0")
    return tree


#: What a static read of a tree cannot know, and leaves out of its os section (``--pid`` adds it from /proc).
STATIC_OS_OMITS = {"release", "page_size", "container"}


def test_the_static_reader_fills_the_contract_with_the_live_probes_keys(
    copied_tree: Path, live: ProbeOutput
) -> None:
    static = rootfs.probe_root(str(copied_tree), {})
    assert check_output(_as_child(static)) == static
    assert all(source["status"] == "ok" for source in static["sources"].values()), static["sources"]
    got, expected = _keys(static), _keys(live)
    assert got["os"] == expected["os"] - STATIC_OS_OMITS
    for section in ("top", "sources", "python", "native", "env"):
        assert got[section] == expected[section], section
    assert static["python"]["best_tag"] == live["python"]["best_tag"]  # one wheel_tags helper for both


def test_the_pid_target_fills_the_contract_with_the_live_probes_keys(live: ProbeOutput) -> None:
    """--pid reads the tree statically and adds what /proc tells: its os section has every key again."""
    with subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE) as proc:
        try:
            data = PidTarget(proc.pid).probe()
        finally:
            proc.kill()
    assert check_output(_as_child(data)) == data
    got, expected = _keys(data), _keys(live)
    for section in ("top", "sources", "os", "python", "native", "env"):
        assert got[section] == expected[section], section


def test_a_section_reader_that_fails_is_recorded_unavailable_by_the_static_reader(
    copied_tree: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(rootfs, "read_python", broken)
    data = RootTarget(str(copied_tree)).probe()
    assert data["python"] == {}
    assert data["sources"]["python"] == {"status": "unavailable", "detail": "RuntimeError: boom"}
    assert [p["name"] for p in data["packages"]] == ["demo"]  # the other sections were still read
    assert check_output(_as_child(data)) == data


def test_read_section() -> None:
    def fails() -> tuple[list[str], contract.SourceEntry]:
        raise OSError(5, "Input/output error")

    assert contract.read_section(fails, []) == (
        [],
        {"status": "unavailable", "detail": "OSError: [Errno 5] Input/output error"},
    )
    assert contract.read_section(lambda: (["x"], {"status": "ok", "detail": "d"}), []) == (
        ["x"],
        {"status": "ok", "detail": "d"},
    )


# --- (c) output from another process is checked at the edge ------------------------------------------------------


def _valid() -> dict[str, Any]:
    return {
        "probe": 1,
        "sources": {"os": {"status": "ok", "detail": "uname"}},
        "os": {"system": "Linux", "page_size": 4096},
        "python": {"version": "3.12.3", "pointer_bits": 64, "in_venv": False, "markers": {"os_name": "posix"}},
        "packages": [{"name": "numpy", "version": "2.1.0", "wheel_tags": ["cp312-cp312-manylinux_2_17_x86_64"]}],
        "native": {"shipped": [{"kind": "blas", "vendor": "openblas", "path": "numpy.libs/libopenblas.so"}]},
        "env": {"variables": {"OMP_NUM_THREADS": "4"}, "redacted": [], "timezone": "UTC", "tzdata_version": ""},
    }


_DELETE = object()


def _malformed(path: str, value: Any) -> dict[str, Any]:
    """The valid output with the key at ``path`` (dotted, list indexes as numbers) set to ``value`` or removed."""
    root = _valid()
    data: Any = root
    *parents, last = path.split(".")
    for part in parents:
        data = data[int(part)] if isinstance(data, list) else data[part]
    if value is _DELETE:
        del data[last]
    else:
        data[last] = value
    return root


MALFORMED = [
    ("wrong-type", _malformed("os.page_size", "4096"), "os.page_size: expected an integer, got a string"),
    (
        "bool-for-int",
        _malformed("python.pointer_bits", True),
        "python.pointer_bits: expected an integer, got true",
    ),
    ("int-for-bool", _malformed("python.in_venv", 0), "python.in_venv: expected true or false, got an integer"),
    ("missing-section", _malformed("env", _DELETE), "the output: missing key 'env'"),
    ("list-for-object", _malformed("os", []), "os: expected an object, got a list"),
    ("object-for-list", _malformed("packages", {}), "packages: expected a list, got an object"),
    ("missing-name", _malformed("packages.0.name", _DELETE), "packages[0]: missing key 'name'"),
    ("nested-item", _malformed("packages.0.wheel_tags", [["x"]]), "packages[0].wheel_tags[0]: expected a string"),
    ("null-value", _malformed("env.variables", {"A": None}), "env.variables.A: expected a string, got null"),
    ("bad-source", _malformed("sources.os", "ok"), "sources.os: expected an object, got a string"),
    ("unknown-key", _malformed("native.loaded", []), "native: unknown key 'loaded'"),
    ("unknown-top", _malformed("extra\x1b[31m", 1), "the output: unknown key 'extra?[31m'"),
    ("float", _malformed("probe", 1.5), "probe: expected an integer, got float"),
]


def test_a_valid_output_passes_unchanged() -> None:
    assert check_output(_valid()) == _valid()


@pytest.mark.parametrize(("data", "message"), [m[1:] for m in MALFORMED], ids=[m[0] for m in MALFORMED])
def test_malformed_output_names_the_first_wrong_key(data: dict[str, Any], message: str) -> None:
    with pytest.raises(ContractError) as e:
        check_output(data)
    assert str(e.value).startswith(message)
    assert "\n" not in str(e.value)


@pytest.mark.parametrize(
    ("stdout", "message"),
    [
        (
            json.dumps(_malformed("os", [])),
            "--image x: the probe printed unexpected output (os: expected an object",
        ),
        ("[1, 2]", "--image x: the probe printed unexpected output"),
        ("[" * 100_000 + "]" * 100_000, "--image x: the probe printed no JSON"),
        ("not json", "--image x: the probe printed no JSON"),
    ],
    ids=["list-for-object", "list-at-top", "deeply-nested", "not-json"],
)
def test_docker_output_that_breaks_the_contract_is_a_one_line_error(stdout: str, message: str) -> None:
    with pytest.raises(TargetError) as e:
        parse_output("--image x", 0, stdout, "")
    assert str(e.value).startswith(message)
    assert "\n" not in str(e.value)


def test_docker_output_that_keeps_the_contract_is_returned() -> None:
    assert parse_output("--image x", 0, json.dumps(_valid()), "") == _valid()


@pytest.fixture
def fake_python(tmp_path: Path) -> Iterator[Path]:
    """An "interpreter" that swallows the probe and prints JSON of the wrong shape."""
    script = tmp_path / "python3"
    bad = json.dumps(_malformed("packages", {"numpy": "2.1.0"}))
    script.write_text(f"#!/bin/sh\ncat >/dev/null\necho '{bad}'\n")
    script.chmod(0o755)
    yield script


def test_a_python_target_that_prints_the_wrong_shape_is_a_one_line_error(fake_python: Path) -> None:
    with pytest.raises(TargetError) as e:
        PythonTarget(str(fake_python)).probe()
    assert str(e.value) == (
        f"--python {fake_python}: the probe printed unexpected output (packages: expected a list, got an object)"
    )


def test_the_cli_reports_the_wrong_shape_in_one_line(fake_python: Path, tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "envcheck", "snapshot", "--python", str(fake_python), "-o", str(tmp_path / "x")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2
    assert "packages: expected a list, got an object" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr


# --- (d) the helpers the static reader shares with the probe -----------------------------------------------------


def test_wheel_tags_match_packaging_for_this_interpreter() -> None:
    family, version = probe.libc()
    tags = contract.wheel_tags(
        f"{sys.version_info[0]}.{sys.version_info[1]}",
        sysconfig.get_config_var("SOABI") or "",
        sysconfig.get_platform().split("-", 1)[-1],
        family,
        version,
        64 if sys.maxsize > 2**32 else 32,
    )
    # The most specific manylinux/musllinux tag packaging.tags lists (newer packaging puts linux_* first).
    first = next(t for t in packaging.tags.sys_tags() if t.platform.startswith(("manylinux", "musllinux")))
    assert tags["best_tag"] == str(first)
    assert (tags["interpreter_tag"], tags["abi_tag"], tags["platform_tag"]) == (
        first.interpreter,
        first.abi,
        first.platform,
    )


@pytest.mark.parametrize(
    ("args", "best"),
    [
        (
            ("3.12", "cpython-312-x86_64-linux-gnu", "x86_64", "glibc", "2.39", 64),
            "cp312-cp312-manylinux_2_39_x86_64",
        ),
        (
            ("3.13", "cpython-313t-x86_64-linux-gnu", "x86_64", "glibc", "2.36", 64),
            "cp313-cp313t-manylinux_2_36_x86_64",
        ),
        (
            ("3.12", "cpython-312-aarch64-linux-musl", "aarch64", "musl", "1.2.5", 64),
            "cp312-cp312-musllinux_1_2_aarch64",
        ),
        (("3.11", "cpython-311-i386-linux-gnu", "x86_64", "glibc", "2.31", 32), "cp311-cp311-manylinux_2_31_i686"),
        (("3.10", "", "riscv64", "", "", 64), "cp310-cp310-linux_riscv64"),
    ],
    ids=["glibc", "free-threaded", "musl", "32-bit-on-64", "unknown-libc"],
)
def test_wheel_tags_from_a_trees_facts(args: tuple[str, str, str, str, str, int], best: str) -> None:
    assert contract.wheel_tags(*args)["best_tag"] == best


def test_wheel_tags_off_linux_take_the_platform_given() -> None:
    tags = contract.wheel_tags("3.12", "cpython-312-darwin", "arm64", "", "", 64, platform="macosx_14_0_arm64")
    assert tags["best_tag"] == "cp312-cp312-macosx_14_0_arm64"


@pytest.mark.parametrize(
    ("machine", "triplet"),
    [
        ("x86_64", "x86_64-linux-gnu"),
        ("aarch64", "aarch64-linux-gnu"),
        ("i686", "i386-linux-gnu"),
        ("armv7l", "arm-linux-gnueabihf"),
        ("ppc64le", "powerpc64le-linux-gnu"),
        ("s390x", "s390x-linux-gnu"),
    ],
    ids=lambda v: v,
)
def test_multiarch_triplet(machine: str, triplet: str) -> None:
    assert contract.multiarch_triplet(machine) == triplet


# --- the bundle the probe travels as -----------------------------------------------------------------------------


def test_the_bundle_holds_the_three_modules_in_order() -> None:
    source = python_target.probe_source()
    starts = [source.index(marker) for marker in ("class Tree:", "class ProbeOutput(", "def probe(")]
    assert starts == sorted(starts)
    assert "from envcheck" not in source and source.count("from __future__ import annotations") == 1


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "from __future__ import annotations\nfrom envcheck.tree import Tree\n",
            "not a top-level line marked '# bundled'",
        ),
        ("from __future__ import annotations\nfrom envcheck.tree import Nope  # bundled\n", "Nope is not bundled"),
        ("from __future__ import annotations\nimport envcheck.tree\n", "cannot be bundled"),
        ("from __future__ import annotations\ndef limit(): pass\n", "x.py and tree.py both define limit"),
        ("def f(): pass\n", "no 'from __future__ import annotations'"),
        (
            "from __future__ import annotations\ndef f():\n    from envcheck.tree import Tree  # bundled\n",
            "not a top-level line marked",
        ),
    ],
    ids=["unmarked", "not-defined-before", "plain-import", "name-clash", "no-future", "nested-import"],
)
def test_the_bundle_guard_refuses_what_would_not_run(text: str, message: str) -> None:
    tree_py = (Path(python_target.__file__).parent.parent / "tree.py").read_text()
    defined: dict[str, set[str]] = {}
    python_target._strip_imports("tree", tree_py, defined)
    with pytest.raises(BundleError, match=message):
        python_target._strip_imports("x", text, defined)


def test_a_multi_line_bundled_import_is_stripped_whole() -> None:
    defined = {"contract": {"OK", "ProbeOutput"}}
    text = (
        "from __future__ import annotations\n"
        "from envcheck.contract import (  # bundled\n    OK,\n    ProbeOutput,\n)\nX = OK\n"
    )
    assert python_target._strip_imports("probe", text, defined) == "X = OK"
