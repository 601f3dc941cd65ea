"""The quick paths of reading and writing a lockfile give what the slow ones gave, byte for byte and value for
value: the writer's TOML subset read without the full parser (``tomlfile._parse_subset``: the full parser's
result or none, never another), the per-type conversion plans of ``model.from_data`` (the checked conversion's
result and errors), and ``model.to_data`` and the digest (the bytes of ``fixtures/lockfile/rich.lock``, written
before these paths existed).
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import os
import string
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional

import pytest
import tomli_w
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from envcheck import lockfile, tomlfile
from envcheck.model import (
    CpuInfo,
    CudaComponent,
    DirectUrl,
    EnvInfo,
    Fingerprint,
    FingerprintDataError,
    GoldenFile,
    GoldenInfo,
    GpuDevice,
    GpuInfo,
    MemoryInfo,
    Meta,
    ModelFile,
    ModelWriter,
    NativeInfo,
    NativeLib,
    NumericsInfo,
    NumericsKernel,
    OpenBlasRuntime,
    OsInfo,
    Package,
    PackageBuild,
    PythonInfo,
    Source,
    TorchRuntime,
    _convert,
    compute_digest,
    from_data,
    to_data,
)
from tests.conftest import H200

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = ROOT / "fixtures" / "lockfile" / "rich.lock"
#: sha256 of ``dumps(many_packages())``, taken with the writer before the quick paths.
MANY_SHA256 = "8ced5353e2504c312f4336af902768c85c8ccc3de270160c2f69303709702039"

#: More examples for a longer local run: ENVCHECK_FUZZ_EXAMPLES=5000 pytest tests/test_lockfile_speed_paths.py
FUZZ = settings(
    max_examples=int(os.environ.get("ENVCHECK_FUZZ_EXAMPLES", "150")),
    deadline=datetime.timedelta(seconds=10),  # a bound, with headroom for a loaded machine
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def rich() -> Fingerprint:
    """Every section and kind of field, with strings that need escaping, short list items (written as inline
    tables) and long ones (written as tables)."""
    return Fingerprint(
        meta=Meta(tool="envcheck golden", created="2026-12-02T12:00:00Z", model_paths="lockfile"),
        sources={"gpu": Source("ok", "NVML"), "os": Source(), "models": Source("not inspected", 'no "--model"')},
        os=OsInfo(system="Linux", machine="x86_64", libc_family="glibc", libc_version="2.39", page_size=4096),
        python=PythonInfo(
            version="3.12.3",
            pointer_bits=64,
            in_venv=True,
            markers={"python_version": "3.12", "platform_release": "6.8.0-\t#1 SMP"},
        ),
        packages=(
            Package("a", "1"),
            Package(
                "feature-lib",
                "0.3+cu121",
                installer="uv",
                wheel_tags=("cp312-cp312-manylinux_2_17_x86_64", "cp312-cp312-manylinux2014_x86_64"),
                requested=True,
                direct_url=DirectUrl(
                    url="https://git.example.com/f.git", kind="vcs", vcs="git", commit_id="ab" * 20
                ),
                record_digest="sha256:" + "0" * 64,
                requires=('numpy>=1.26; python_version >= "3.9"', "tomli; extra == 'toml'", "back\\slash"),
                shadowed=("0.2",),
                tool=True,
                editable_digest="sha256:" + "1" * 64,
                locations=("/a b/site-packages", "/ü/site-packages"),
                modules=("feature_lib", "_feature"),
            ),
            Package("numpy", "2.5.2", wheel_tags=("cp312-cp312-manylinux_2_28_x86_64",), modules=("numpy",)),
            Package("weird", "not a version", metadata_format="egg-info", requires=("a\nb", "c\u0001d", "é😀")),
        ),
        native=NativeInfo(
            shipped=(NativeLib("blas", "openblas", "numpy.libs/libscipy_openblas64_.so", "numpy", "0.3.30"),),
            loaded=(NativeLib("openmp", "gnu", "/usr/lib/x86_64-linux-gnu/libgomp.so.1"),),
            builds=(PackageBuild("numpy", "numpy/_core/x.so", simd_baseline=("SSE3",), simd_dispatch=("AVX2",)),),
        ),
        cpu=CpuInfo(architecture="x86_64", flags=("avx2", "sse2"), family=6, model=207, cpu_quota_millicores=2000),
        memory=MemoryInfo(total_bytes=1 << 40, cgroup_limit_bytes=(1 << 63) - 1),
        gpu=GpuInfo(
            driver_version="580.65.06",
            cuda_driver_version="13.0",
            devices=(GpuDevice(0, "NVIDIA H200", "Hopper", "9.0", 150 << 30, "Disabled", "Enabled", "Enabled"),),
            cuda_shipped=(CudaComponent("cudnn", "9.10.2.21", "nvidia-cudnn-cu12"),),
            torch=TorchRuntime("2.11.0+cu130", "13.0", "91002", ("sm_90", "sm_100"), True, None, "high"),
        ),
        env=EnvInfo(variables={"CUDA_VISIBLE_DEVICES": "0,1", "odd key": 'va"lue'}, redacted=("HF_TOKEN",)),
        models=(
            ModelFile(
                "model.pkl",
                12,
                "ab" * 32,
                "pickle",
                references=("sklearn.linear_model._base:LinearRegression",),
                modules=("sklearn",),
                written_by=ModelWriter("scikit-learn", "1.7.2"),
                format_versions={"protocol": "5"},
                notes=("stopped at 10,000 opcodes",),
            ),
        ),
        numerics=NumericsInfo(
            python="3.12.3",
            versions={"numpy": "2.5.2"},
            openblas=(OpenBlasRuntime("libscipy_openblas64_.so", "SkylakeX", "OpenBLAS 0.3.30", "16"),),
            kernels=(
                NumericsKernel(
                    "numpy.matmul f32 257x257", "float32", (257, 257), "0123456789abcdef", "1.5", "2.0"
                ),
                NumericsKernel("numpy.sum f64", error="ValueError: no"),
            ),
            elapsed_ms=42,
            how="python -I",
        ),
        golden=GoldenInfo(cases=(GoldenFile("case-1", "envcheck.golden/case-1.json", "cd" * 32, 99),)),
    )


def many_packages(n: int = 600) -> Fingerprint:
    """``n`` packages shaped like real ones, made without randomness (same on every Python)."""
    pkgs = []
    for i in range(n):
        h = hashlib.sha256(str(i).encode()).hexdigest()
        pkgs.append(
            Package(
                f"pkg-{h[:6]}-{i:04d}",
                f"{int(h[6], 16)}.{int(h[7:9], 16)}.{int(h[9], 16)}" + ("+cu121" if h[10] in "01" else ""),
                installer="pip" if h[11] < "8" else "uv",
                wheel_tags=("py3-none-any",) if h[12] < "a" else ("cp312-cp312-manylinux_2_28_x86_64",),
                requested=h[13] == "0",
                record_digest="sha256:" + h,
                requires=tuple(f'dep-{h[k : k + 3]}; extra == "x{k}"' for k in range(20, 20 + int(h[14], 16) % 4)),
            )
        )
    return dataclasses.replace(rich(), packages=tuple(pkgs))


# --- bytes unchanged ---------------------------------------------------------------------------------------------


def test_dumps_writes_the_golden_bytes() -> None:
    assert lockfile.dumps(rich()) == GOLDEN.read_text(encoding="utf-8")


def test_the_golden_lockfile_reads_back_to_the_same_fingerprint() -> None:
    fp = lockfile.read(GOLDEN)
    assert dataclasses.replace(fp, meta=dataclasses.replace(fp.meta, digest="")) == rich()
    assert fp.meta.digest == compute_digest(rich())


def test_dumps_of_many_packages_is_unchanged() -> None:
    text = lockfile.dumps(many_packages())
    assert hashlib.sha256(text.encode()).hexdigest() == MANY_SHA256
    assert lockfile.loads(text).packages == many_packages().packages


@pytest.mark.parametrize("omit_defaults", [False, True], ids=["all-fields", "omit-defaults"])
@pytest.mark.parametrize("compact_lists", [False, True], ids=["full-lists", "compact-lists"])
def test_to_data_round_trips(omit_defaults: bool, compact_lists: bool) -> None:
    data = to_data(rich(), omit_defaults=omit_defaults, compact_lists=compact_lists)
    assert from_data(Fingerprint, data) == rich()
    assert ("digest" in data["meta"]) is not omit_defaults


# --- the writer's subset, read without the full parser -----------------------------------------------------------


def test_the_writers_output_is_read_by_the_subset_reader() -> None:
    for text in (lockfile.dumps(rich()), (H200 / "envcheck.lock").read_text(), lockfile.dumps(many_packages(50))):
        quick = tomlfile._parse_subset(text)
        assert quick is not None
        assert repr(quick) == repr(tomllib.loads(text))


#: Valid or invalid TOML outside the subset, or that the full parser refuses: each is read by the full parser.
OUTSIDE = {
    "table twice": "[a]\nx = 1\n[a]\ny = 2\n",
    "key twice": "[a]\nx = 1\nx = 2\n",
    "parent defined after child": "[a.b]\nx = 1\n[a]\ny = 2\n",
    "array of tables over a static array": "a = []\n[[a]]\nx = 1\n",
    "array of tables over a table": "[a]\n[[a]]\n",
    "table over an array of tables": "[[a]]\n[a]\n",
    "header into an inline table": "a = { b = 1 }\n[a.c]\n",
    "header into a static array": "a = [\n    { b = 1 },\n]\n[a.c]\n",
    "header into a value": "[a]\nb = 1\n[a.b.c]\n",
    "dotted key": "a.b = 1\n",
    "control character in a comment": "# a\x01b\n",
    "carriage return": "a = 1\r\n",
    "comma in a comment": 'a = [\n    "x" # c,\n    "y",\n]\n',
    "two items on a line": "a = [\n    1, 2,\n]\n",
    "unclosed array": "a = [\n    1,\n",
    "header with spaces": "[ a ]\n",
    "deep header": "[" + ".".join(["t"] * 200) + "]\n",
    "long integer": "a = " + "9" * 5000 + "\n",
    "unknown escape": 'a = "\\q"\n',
    "bare value": "a = b\n",
    "indented key": " a = 1\n",
}


@pytest.mark.parametrize("text", list(OUTSIDE.values()), ids=list(OUTSIDE))
def test_what_the_subset_does_not_hold_goes_to_the_full_parser(text: str) -> None:
    assert tomlfile._parse_subset(text) is None
    try:
        expected: Optional[Dict[str, Any]] = tomllib.loads(text)
    except (tomllib.TOMLDecodeError, RecursionError, ValueError):
        expected = None
    if expected is None:
        with pytest.raises(tomlfile.TomlFileError):
            tomlfile.parse(text, name="x", limit=1 << 20)
    elif "t.t.t" not in text:
        assert tomlfile.parse(text, name="x", limit=1 << 20) == expected


#: Single values the subset reader hands, alone, to the full parser: the value is the full parser's.
DELEGATED = {
    "inline table": 'a = { b = 1, c = "d" }\n',
    "float": "a = 1.5\n",
    "literal string": "a = 'x'\n",
    "unicode escape": 'a = "\\u00e9"\n',
    "date": "a = 2026-12-02\n",
    "plus sign": "a = +1\n",
    "inline item": "a = [\n    { b = 1 },\n    true,\n]\n",
    "trailing comment": "a = 1 # one\n",
}


@pytest.mark.parametrize("text", list(DELEGATED.values()), ids=list(DELEGATED))
def test_values_outside_the_subset_are_the_full_parsers(text: str) -> None:
    quick = tomlfile._parse_subset(text)
    assert quick is not None
    assert repr(quick) == repr(tomllib.loads(text))


def test_values_handed_to_the_full_parser_are_bounded() -> None:
    """A hostile document of many values outside the subset costs one full parse, not one per value."""
    at_most = "".join(f"k{i} = {i}.5\n" for i in range(tomlfile.MAX_DELEGATED))
    assert tomlfile._parse_subset(at_most) == tomllib.loads(at_most)
    over = at_most + "last = 0.5\n"
    assert tomlfile._parse_subset(over) is None
    assert tomlfile.parse(over, name="x", limit=1 << 20)["last"] == 0.5


_KEYS = st.one_of(
    st.sampled_from(["a", "b", "name", "version", "sub", "x-y", "1"]), st.text(max_size=6), st.just("")
)
_SCALARS = st.one_of(
    st.text(max_size=12),
    st.sampled_from(['"', "\\", "\t", "\n", "\x7f", "é", " = ", "#", "[", "]]", "\U0001f600"]),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.booleans(),
)
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(_KEYS, inner, max_size=4),
        st.lists(st.dictionaries(_KEYS, inner, min_size=1, max_size=4), min_size=1, max_size=3),
    ),
    max_leaves=20,
)
_DOCUMENTS = st.dictionaries(_KEYS, _VALUES, max_size=5)


def _expected(text: str) -> Optional[str]:
    try:
        return repr(tomllib.loads(text))
    except (tomllib.TOMLDecodeError, RecursionError, ValueError):
        return None


def _agrees(text: str) -> None:
    """The subset reader returns the full parser's value, or nothing; never a value the full parser refuses."""
    quick = tomlfile._parse_subset(text)
    if quick is not None:
        assert repr(quick) == _expected(text)


@FUZZ
@given(_DOCUMENTS)
def test_fuzz_written_documents_read_as_the_full_parser_reads_them(doc: Dict[str, Any]) -> None:
    text = tomli_w.dumps(doc)
    _agrees(text)
    quick = tomlfile._parse_subset(text)
    assert quick is None or quick == doc


_PIECES = st.sampled_from(
    ["\n", "[", "]", "[[", "]]", "{", "}", '"', "'", "=", " = ", ",", ".", "#", "\\", "\t", "\r", "\x00", "x", "1"]
)


@FUZZ
@given(_DOCUMENTS, st.lists(st.tuples(st.integers(min_value=0), _PIECES, st.integers(0, 3)), max_size=4))
def test_fuzz_mutated_documents_never_read_differently(doc: Dict[str, Any], edits: List[Any]) -> None:
    text = tomli_w.dumps(doc)
    for at, piece, cut in edits:
        at %= len(text) + 1
        text = text[:at] + piece + text[at + cut :]
    _agrees(text)


@FUZZ
@given(_DOCUMENTS, st.data())
def test_fuzz_lines_moved_or_repeated_never_read_differently(doc: Dict[str, Any], data: st.DataObject) -> None:
    lines = tomli_w.dumps(doc).split("\n")
    if lines:
        i = data.draw(st.integers(0, len(lines) - 1))
        j = data.draw(st.integers(0, len(lines)))
        lines.insert(j, lines[i]) if data.draw(st.booleans()) else lines.insert(j, lines.pop(i))
    _agrees("\n".join(lines))


_GOLDEN_LINES = GOLDEN.read_text(encoding="utf-8").split("\n")


@FUZZ
@given(st.data())
def test_fuzz_golden_lockfile_lines_moved_or_repeated_never_read_differently(data: st.DataObject) -> None:
    lines = list(_GOLDEN_LINES)
    for _ in range(data.draw(st.integers(1, 3))):
        i = data.draw(st.integers(0, len(lines) - 1))
        j = data.draw(st.integers(0, len(lines)))
        lines.insert(j, lines[i]) if data.draw(st.booleans()) else lines.insert(j, lines.pop(i))
    _agrees("\n".join(lines))


@FUZZ
@given(st.text(alphabet=string.printable + "é\x00\x7f", max_size=80))
def test_fuzz_any_text_never_reads_differently(text: str) -> None:
    _agrees(text)


# --- the writer: tomli-w's bytes ---------------------------------------------------------------------------------


@FUZZ
@given(_DOCUMENTS)
def test_fuzz_the_writer_writes_tomli_ws_bytes(doc: Dict[str, Any]) -> None:
    assert lockfile._toml(doc) == tomli_w.dumps(doc)


def test_the_writer_writes_tomli_ws_bytes_for_lockfiles() -> None:
    for fp in (rich(), many_packages(), lockfile.read(H200 / "envcheck-in-torch.lock")):
        data = to_data(fp, compact_lists=True)
        assert lockfile._toml(data) == tomli_w.dumps(data)


# --- from_data: the plans give what the checked conversion gives ------------------------------------------------


def _checked(data: Any) -> Any:
    try:
        return _convert(Fingerprint, data, "lockfile")
    except FingerprintDataError as e:
        return ("error", str(e))


def _quick(data: Any) -> Any:
    try:
        return from_data(Fingerprint, data, "lockfile")
    except FingerprintDataError as e:
        return ("error", str(e))


def _mutations(data: Dict[str, Any]) -> List[Dict[str, Any]]:
    pkg = data["packages"][1]
    return [
        {**data, "packages": [*data["packages"], {**pkg, "requested": 1}]},
        {**data, "packages": [*data["packages"], {**pkg, "version": 2}]},
        {**data, "packages": [*data["packages"], {k: v for k, v in pkg.items() if k != "name"}]},
        {**data, "packages": [*data["packages"], {**pkg, "extra": "x"}]},
        {**data, "packages": tuple(data["packages"])},
        {**data, "cpu": {**data["cpu"], "family": True}},
        {**data, "cpu": {**data["cpu"], "flags": ["a", 1]}},
        {**data, "python": {**data["python"], "markers": {"a": 1}}},
        {**data, "env": {**data["env"], "variables": {1: "x"}}},
        {**data, "numerics": None},
        {**data, "gpu": []},
        {**data, "memory": {**data["memory"], "total_bytes": -1}},
    ]


@pytest.mark.parametrize("compact_lists", [False, True], ids=["full", "compact"])
def test_from_data_matches_the_checked_conversion(compact_lists: bool) -> None:
    data = to_data(rich(), compact_lists=compact_lists)
    cases = [data, *_mutations(data)]
    results = [_quick(case) for case in cases]
    assert results == [_checked(case) for case in cases]
    assert results[0] == rich()
    assert sum(1 for r in results if isinstance(r, tuple)) == 8  # the mutations that are errors stay errors
