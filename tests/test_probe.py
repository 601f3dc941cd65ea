"""The stdlib-only probe: parsers on real samples, and the probe itself under every CPython here."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import packaging.markers
import packaging.tags
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from packaging.utils import canonicalize_name

from envcheck import probe
from envcheck.targets.python import probe_source
from envcheck.tree import Tree
from tests.conftest import H200, make_dist_info

# --- os-release -------------------------------------------------------------------------------------------------

UBUNTU = (H200 / "os-release").read_text() if (H200 / "os-release").exists() else ""


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            'PRETTY_NAME="Ubuntu 24.04.3 LTS"\nNAME="Ubuntu"\nVERSION_ID="24.04"\nID=ubuntu\nID_LIKE=debian\n',
            {"ID": "ubuntu", "VERSION_ID": "24.04", "PRETTY_NAME": "Ubuntu 24.04.3 LTS"},
        ),
        ('NAME="Alpine Linux"\nID=alpine\nVERSION_ID=3.20.3\n', {"ID": "alpine", "VERSION_ID": "3.20.3"}),
        ("# comment\n\nID='rhel'\nBROKEN LINE\nVERSION_ID=\"9.4\"\n", {"ID": "rhel", "VERSION_ID": "9.4"}),
    ],
    ids=["ubuntu-h200", "alpine-unquoted", "comments-single-quotes"],
)
def test_parse_os_release(text: str, expected: dict[str, str]) -> None:
    parsed = probe.parse_os_release(text)
    for key, value in expected.items():
        assert parsed[key] == value
    assert "BROKEN LINE" not in parsed


def test_parse_musl_version() -> None:
    banner = "musl libc (x86_64)\nVersion 1.2.4\nDynamic Program Loader\nUsage: ..."
    assert probe.parse_musl_version(banner) == "1.2.4"
    assert probe.parse_musl_version("not musl") is None


# --- secrets ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://user:ghp_s3cr3t@github.com/org/repo.git", "https://github.com/org/repo.git"),
        ("https://__token__:pypi-AgEIcHlwaS5vcmc@example.org/simple/x.whl", "https://example.org/simple/x.whl"),
        ("https://example.org/pkg.whl?token=abc123&x=1#sha256=00", "https://example.org/pkg.whl"),
        ("git+ssh://git@github.com/org/repo.git", "git+ssh://git@github.com/org/repo.git"),
        ("file:///home/me/src/pkg", "file:///home/me/src/pkg"),
        ("not a url", "not a url"),
    ],
    ids=["userinfo-token", "pypi-token", "query-token", "git-user-kept", "file-url", "not-a-url"],
)
def test_strip_url_credentials(url: str, expected: str) -> None:
    assert probe.strip_url_credentials(url) == expected


def test_select_env_keeps_allow_list_and_redacts_secrets() -> None:
    environ = {
        "OMP_NUM_THREADS": "4",
        "KMP_AFFINITY": "granularity=fine",
        "TF_DETERMINISTIC_OPS": "1",
        "TF_CLI_CONFIG_FILE": "/root/.terraformrc",  # Terraform's, not TensorFlow's
        "NVIDIA_REQUIRE_CUDA": "cuda>=13.0",
        "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG",
        "HF_TOKEN": "hf_abcdef",
        "MY_FLAG": "on",
        "PATH": "/usr/bin",
    }
    got = probe.select_env(environ, extra=["MY_FLAG", "AWS_SECRET_ACCESS_KEY", "HF_TOKEN"])
    assert got["variables"] == {
        "KMP_AFFINITY": "granularity=fine",
        "MY_FLAG": "on",
        "NVIDIA_REQUIRE_CUDA": "cuda>=13.0",
        "OMP_NUM_THREADS": "4",
        "TF_DETERMINISTIC_OPS": "1",
    }
    assert got["redacted"] == ["AWS_SECRET_ACCESS_KEY", "HF_TOKEN"]
    assert "wJalrXUtnFEMI" not in json.dumps(got)


# --- Python and tags --------------------------------------------------------------------------------------------


def test_marker_environment_matches_packaging() -> None:
    assert probe.marker_environment() == packaging.markers.default_environment()


def test_best_tag_matches_packaging_tags() -> None:
    family, version = probe.libc()
    tags = probe.interpreter_wheel_tags(family, version)  # contract.wheel_tags, fed by this interpreter
    # The most specific manylinux/musllinux tag packaging.tags lists (newer packaging puts linux_* first).
    first = next(t for t in packaging.tags.sys_tags() if t.platform.startswith(("manylinux", "musllinux")))
    assert tags["best_tag"] == str(first)
    assert tags["platform_tag"] == first.platform


def test_libc_is_glibc_here() -> None:
    family, version = probe.libc()
    assert family == "glibc"
    assert version.split(".")[0] == "2"


# --- distributions: the real H200 tree --------------------------------------------------------------------------


def test_reads_every_real_h200_distribution(h200_site: Path) -> None:
    packages, source, _ = probe.collect_packages([str(h200_site)])
    expected = {
        canonicalize_name(p["name"]): p["version"] for p in json.loads((H200 / "pip-list.json").read_text())
    }
    got = {p["name"]: p["version"] for p in packages}
    assert source["status"] == "ok"
    assert "skipped" not in source["detail"]
    assert got == expected
    assert got["torch"] == "2.11.0"  # PyPI's CUDA build carries no local label; the +cu130 is in torch/version.py
    assert [p["name"] for p in packages] == sorted(got)


def test_real_h200_package_details(h200_site: Path) -> None:
    packages, _, _ = probe.collect_packages([str(h200_site)])
    by_name = {p["name"]: p for p in packages}
    torch = by_name["torch"]
    assert torch["installer"] == "uv"
    assert torch["wheel_tags"] == ["cp312-cp312-manylinux_2_28_x86_64"]
    assert torch["record_digest"].startswith("sha256:") and len(torch["record_digest"]) == 71
    assert any(r.startswith("nvidia-cudnn-cu13") for r in torch["requires"])
    assert all(p["requested"] for p in packages)  # this environment was built from one requirements list
    assert {p["installer"] for p in packages} == {"pip", "uv"}


def test_native_libraries_shipped_by_real_h200_packages(h200_site: Path) -> None:
    packages, _, files = probe.collect_packages([str(h200_site)])
    versions = {p["name"]: p["version"] for p in packages}
    libs = probe.collect_native_shipped(files, versions)
    found = {(lib["kind"], lib["vendor"], lib["package"]) for lib in libs}
    assert ("blas", "openblas", "numpy") in found
    assert ("blas", "openblas", "scipy") in found
    assert ("openmp", "gnu", "torch") in found
    assert ("cudnn", "nvidia", "nvidia-cudnn-cu13") in found
    assert ("nccl", "nvidia", "nvidia-nccl-cu13") in found
    cudnn = next(lib for lib in libs if lib["kind"] == "cudnn")
    assert cudnn["version"].startswith("9.19")
    numpy_blas = next(lib for lib in libs if lib.get("package") == "numpy" and lib["kind"] == "blas")
    assert numpy_blas["path"].startswith("numpy.libs/libscipy_openblas64_")


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("libscipy_openblas64_-61654e39.so", ("blas", "openblas")),
        ("libopenblas.so.0", ("blas", "openblas")),
        ("libmkl_core.so.2", ("blas", "mkl")),
        ("libgomp-a34b3233.so.1", ("openmp", "gnu")),
        ("libiomp5.so", ("openmp", "intel")),
        ("libomp.so", ("openmp", "llvm")),
        ("libcudart.so.13", ("cudart", "nvidia")),
        ("libcudnn.so.9", ("cudnn", "nvidia")),
        ("libcuda.so.580.159.04", ("cuda-driver", "nvidia")),
        ("libgompish.py", None),
        ("libcudnn_ops.so.9", None),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_classify_library(name: str, expected: object) -> None:
    assert probe.classify_library(name) == expected


def test_driver_library_version_from_file_name() -> None:
    assert probe.library_version("libcuda.so.580.159.04", "cuda-driver") == "580.159.04"
    assert probe.library_version("libcudart.so.13", "cudart") == ""
    assert probe.library_version("libcudnn.so.9.14.0", "cudnn") == "9.14.0"  # the system cuDNN beside the wheel's
    assert probe.library_version("libgomp.so.1.0.0", "openmp") == ""


# --- distributions: edge cases ----------------------------------------------------------------------------------


def test_local_version_label_is_kept_verbatim(tmp_path: Path) -> None:
    make_dist_info(tmp_path, "torch", "2.4.0+cu121")
    make_dist_info(tmp_path / "other", "torch", "2.4.0+cpu")
    packages, _, _ = probe.collect_packages([str(tmp_path), str(tmp_path / "other")])
    assert packages[0]["version"] == "2.4.0+cu121"
    assert packages[0]["shadowed"] == ["2.4.0+cpu"]


def test_shadowed_duplicate_is_recorded(tmp_path: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    make_dist_info(first, "Foo_Bar", "2.0")
    make_dist_info(second, "foo-bar", "1.0")
    packages, _, _ = probe.collect_packages([str(first), str(second)])
    assert packages == [
        {
            "name": "foo-bar",
            "version": "2.0",
            "requested": False,
            "requires": [],
            "shadowed": ["1.0"],
            "locations": [str(first), str(second)],  # where the winner and the hidden copy lie
        }
    ]


def test_broken_dist_info_is_skipped_with_reason(tmp_path: Path) -> None:
    make_dist_info(tmp_path, "good", "1.0")
    (tmp_path / "broken-1.0.dist-info").mkdir()  # no METADATA at all
    (tmp_path / "noversion-1.0.dist-info").mkdir()
    (tmp_path / "noversion-1.0.dist-info" / "METADATA").write_text("Name: noversion\n")
    packages, source, _ = probe.collect_packages([str(tmp_path)])
    assert [p["name"] for p in packages] == ["good"]
    assert source["status"] == "ok"
    assert "broken-1.0.dist-info" in source["detail"]
    assert "noversion-1.0.dist-info" in source["detail"]


def test_direct_url_credentials_are_stripped(tmp_path: Path) -> None:
    secret = "ghp_PLANTEDSECRET123"
    direct = {
        "url": f"https://oauth2:{secret}@git.example.com/ml/feature-lib.git",
        "vcs_info": {"vcs": "git", "commit_id": "0123abcd", "requested_revision": "v1"},
    }
    make_dist_info(tmp_path, "feature-lib", "0.3", extra={"direct_url.json": json.dumps(direct), "REQUESTED": ""})
    packages, _, _ = probe.collect_packages([str(tmp_path)])
    assert packages[0]["direct_url"] == {
        "url": "https://git.example.com/ml/feature-lib.git",
        "kind": "vcs",
        "vcs": "git",
        "commit_id": "0123abcd",
        "requested_revision": "v1",
    }
    assert secret not in json.dumps(packages)


@pytest.mark.parametrize(
    ("direct", "expected"),
    [
        (
            {"url": "file:///src/pkg", "dir_info": {"editable": True}},
            {"url": "file:///src/pkg", "kind": "editable"},
        ),
        ({"url": "file:///src/pkg", "dir_info": {}}, {"url": "file:///src/pkg", "kind": "dir"}),
        (
            {"url": "file:///w/p.whl", "archive_info": {"hashes": {"sha256": "ab"}}},
            {"url": "file:///w/p.whl", "kind": "archive", "archive_hash": "sha256=ab"},
        ),
    ],
    ids=["editable", "dir", "archive"],
)
def test_parse_direct_url_kinds(direct: dict[str, object], expected: dict[str, str]) -> None:
    assert probe.parse_direct_url(json.dumps(direct)) == expected


def test_unreadable_direct_url_does_not_crash(tmp_path: Path) -> None:
    make_dist_info(tmp_path, "odd", "1", extra={"direct_url.json": "{not json"})
    packages, _, _ = probe.collect_packages([str(tmp_path)])
    assert packages[0]["direct_url"] == {"kind": "unreadable"}


def test_egg_info_is_read(tmp_path: Path) -> None:
    egg = tmp_path / "legacy.egg-info"
    egg.mkdir()
    (egg / "PKG-INFO").write_text("Metadata-Version: 1.1\nName: Legacy\nVersion: 0.9\n")
    packages, _, _ = probe.collect_packages([str(tmp_path)])
    assert packages == [{"name": "legacy", "version": "0.9", "metadata_format": "egg-info", "requires": []}]


def test_timezone_from_localtime_link(tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()
    os.symlink("/usr/share/zoneinfo/Europe/Paris", tmp_path / "etc" / "localtime")
    zi = tmp_path / "usr/share/zoneinfo"
    zi.mkdir(parents=True)
    (zi / "tzdata.zi").write_text("# version 2025b\n# This zic input file is in the public domain.\n")
    assert probe.timezone_info(Tree(str(tmp_path)), environ={}) == {
        "timezone": "Europe/Paris",
        "tzdata_version": "2025b",
    }
    assert (
        probe.timezone_info(Tree(str(tmp_path)), environ={"TZ": ":America/New_York"})["timezone"]
        == "America/New_York"
    )


# --- how numpy and torch were built ------------------------------------------------------------------------------

SIMD = Path(__file__).resolve().parents[1] / "fixtures" / "numpy-simd"


@pytest.mark.parametrize(
    ("fixture", "baseline", "dispatch"),
    [
        (
            "numpy-1.26.4-x86_64",
            "SSE SSE2 SSE3",
            "SSSE3 SSE41 POPCNT SSE42 AVX F16C FMA3 AVX2 AVX512F AVX512CD AVX512_KNL AVX512_KNM AVX512_SKX "
            "AVX512_CLX AVX512_CNL AVX512_ICL",
        ),
        (
            "numpy-2.3.5-x86_64",
            "SSE SSE2 SSE3",
            "SSSE3 SSE41 POPCNT SSE42 AVX F16C FMA3 AVX2 AVX512F AVX512CD AVX512_KNL AVX512_KNM AVX512_SKX "
            "AVX512_CLX AVX512_CNL AVX512_ICL AVX512_SPR",
        ),
        ("numpy-2.3.5-aarch64", "NEON NEON_FP16 NEON_VFPV4 ASIMD", "ASIMDHP ASIMDFHM SVE"),
        # numpy >= 2.4 groups x86 features into the psABI levels; these lists match what numpy.show_runtime()
        # printed for numpy 2.5.2 on the H200 (baseline X86_V2; X86_V3 X86_V4 AVX512_ICL AVX512_SPR found).
        ("numpy-2.5.5-x86_64", "X86_V2", "X86_V3 X86_V4 AVX512_ICL AVX512_SPR"),
    ],
    ids=lambda v: v if v.startswith("numpy") else None,
)
def test_numpy_simd_lists_from_real_wheel_binaries(fixture: str, baseline: str, dispatch: str) -> None:
    assert probe.numpy_simd(str(SIMD / f"{fixture}.bin")) == (baseline.split(), dispatch.split())


def test_numpy_simd_lists_equal_what_the_installed_numpy_says() -> None:
    """The installed numpy (a test dependency) asked in a child: its own lists must be what the probe read."""
    script = (
        "import json, numpy\n"
        "try:\n    from numpy._core import _multiarray_umath as m\n"
        "except ImportError:\n    from numpy.core import _multiarray_umath as m\n"
        "print(json.dumps([list(m.__cpu_baseline__), list(m.__cpu_dispatch__), m.__file__]))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60)
    baseline, dispatch, binary = json.loads(done.stdout)
    assert probe.numpy_simd(binary) == (baseline, dispatch)
    assert baseline  # numpy's x86-64 and aarch64 wheels always have one


def test_numpy_simd_of_a_binary_without_the_messages(tmp_path: Path) -> None:
    (tmp_path / "x.so").write_bytes(b"\x7fELF" + b"\0" * 100)
    (tmp_path / "empty.so").write_bytes(b"")
    assert probe.numpy_simd(str(tmp_path / "x.so")) == ([], [])
    assert probe.numpy_simd(str(tmp_path / "empty.so")) == ([], [])


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # as tools/generate_torch_version.py writes it (torch 2.x)
        (
            "from typing import Optional\n\n__all__ = ['__version__', 'debug', 'cuda', 'git_version', 'hip']\n"
            "__version__ = '2.9.1+cu130'\ndebug = False\ncuda: Optional[str] = '13.0'\n"
            "git_version = 'abc'\nhip: Optional[str] = None\n",
            "13.0",
        ),
        ("cuda: Optional[str] = None\nhip: Optional[str] = '6.2.41133'\n", ""),
        ("__version__ = '1.13.1+cu117'\ncuda = '11.7'\n", "11.7"),
        ('cuda = "12.1"\n', "12.1"),
        ("# cuda = '9.0'\nversion = 1\n", None),
    ],
    ids=["torch-2.x", "cpu-or-rocm", "torch-1.x", "double-quotes", "none"],
)
def test_parse_torch_cuda(text: str, expected: object) -> None:
    assert probe.parse_torch_cuda(text) == expected


def test_collect_builds_reads_numpy_and_torch_files(tmp_path: Path) -> None:
    site = tmp_path / "site"
    make_dist_info(site, "numpy", "2.5.5")
    make_dist_info(site, "torch", "2.9.1")
    (site / "numpy/_core").mkdir(parents=True)
    (site / "numpy/_core/_multiarray_tests.cpython-312-x86_64-linux-gnu.so").write_bytes(b"not this one")
    binary = "_multiarray_umath.cpython-312-x86_64-linux-gnu.so"
    shutil.copy(SIMD / "numpy-2.5.5-x86_64.bin", site / "numpy/_core" / binary)
    (site / "torch").mkdir()
    (site / "torch/version.py").write_text("cuda: Optional[str] = '12.8'\n")
    _, _, files = probe.collect_packages([str(site)])
    assert probe.collect_builds(files) == [
        {
            "package": "numpy",
            "source": f"numpy/_core/{binary}",
            "simd_baseline": ["X86_V2"],
            "simd_dispatch": ["X86_V3", "X86_V4", "AVX512_ICL", "AVX512_SPR"],
        },
        {"package": "torch", "source": "torch/version.py", "cuda": "12.8"},
    ]


def test_collect_builds_numpy_1x_layout_and_cpu_torch(tmp_path: Path) -> None:
    make_dist_info(tmp_path, "numpy", "1.26.4")
    make_dist_info(tmp_path, "torch", "2.9.1+cpu")
    (tmp_path / "numpy/core").mkdir(parents=True)
    shutil.copy(SIMD / "numpy-1.26.4-x86_64.bin", tmp_path / "numpy/core/_multiarray_umath.cpython-311-x86_64.so")
    (tmp_path / "torch").mkdir()
    (tmp_path / "torch/version.py").write_text("cuda: Optional[str] = None\n")
    _, _, files = probe.collect_packages([str(tmp_path)])
    numpy, torch = probe.collect_builds(files)
    assert numpy["source"] == "numpy/core/_multiarray_umath.cpython-311-x86_64.so"
    assert numpy["simd_baseline"] == ["SSE", "SSE2", "SSE3"]
    assert torch == {"package": "torch", "source": "torch/version.py"}  # a CPU build: no CUDA


def test_collect_builds_stays_inside_the_tree(tmp_path: Path) -> None:
    """Inside an image, an absolute link must not lead the static reader to the host's files."""
    host = tmp_path / "host-torch"
    host.mkdir()
    (host / "version.py").write_text("cuda: Optional[str] = '12.1'\n")
    tree = tmp_path / "tree"
    site = tree / "usr/lib/python3/dist-packages"
    make_dist_info(site, "torch", "2.9.1")
    (site / "torch").symlink_to(host)  # as the tree's own processes see it, a link out of the image
    in_tree = Tree(str(tree))
    _, _, files = probe.collect_packages(["/usr/lib/python3/dist-packages"], in_tree)
    assert probe.collect_builds(files, in_tree) == []
    _, _, files = probe.collect_packages([str(site)])
    assert probe.collect_builds(files) == [{"package": "torch", "source": "torch/version.py", "cuda": "12.1"}]


def test_collect_builds_without_the_files(tmp_path: Path) -> None:
    make_dist_info(tmp_path, "numpy", "2.0.0")
    make_dist_info(tmp_path, "torch", "2.0.0")
    (tmp_path / "torch").mkdir()
    (tmp_path / "torch/version.py").write_bytes(b"\xff\xfe not utf-8")
    _, _, files = probe.collect_packages([str(tmp_path)])
    assert probe.collect_builds(files) == []


# --- the probe in every interpreter -----------------------------------------------------------------------------


def _interpreters() -> list[str]:
    """This interpreter plus every other CPython 3.8+ that pyenv holds on this machine."""
    found = {f"{sys.version_info[0]}.{sys.version_info[1]}": sys.executable}
    root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    for candidate in sorted(root.glob("3.*/bin/python3")) if root.is_dir() else []:
        parts = candidate.parent.parent.name.split(".")
        if len(parts) >= 2 and parts[1].isdigit() and int(parts[1]) >= 8:
            found.setdefault(f"3.{parts[1]}", str(candidate))
    return [found[k] for k in sorted(found, key=lambda v: int(v.split(".")[1]))]


@pytest.mark.slow
@pytest.mark.parametrize("python", _interpreters(), ids=lambda p: Path(p).parent.parent.name or p)
def test_probe_runs_in_interpreter(python: str) -> None:
    source = probe_source()
    proc = subprocess.run(
        [python, "-I", "-S", "-"], input=source, capture_output=True, text=True, timeout=120, check=False
    )
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert set(data) >= {"os", "python", "packages", "native", "env", "sources"}
    assert all(s["status"] == "ok" for s in data["sources"].values()), data["sources"]
    version = subprocess.run(
        [python, "-c", "import platform; print(platform.python_version())"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert data["python"]["version"] == version
    assert data["python"]["best_tag"].startswith("cp3")


def test_probe_is_stdlib_only() -> None:
    """The probe as it is sent (probe.py with the tree reader it carries) imports nothing outside the standard
    library (it runs where nothing is installed) and nothing of envcheck (the target may hold another one)."""
    source = probe_source()
    imports = {
        line.split()[1].split(".")[0]
        for line in source.splitlines()
        if line.startswith(("import ", "from ")) and not line.startswith("from __future__")
    }
    assert imports <= set(sys.stdlib_module_names) if hasattr(sys, "stdlib_module_names") else True
    assert "envcheck" not in imports
    assert shutil.which  # keep the import used for type checkers


def test_requirements_are_read_exactly_as_python_reads_them(h200_site: Path) -> None:
    """Every real H200 distribution's requirements equal importlib.metadata's, multi-line License fields with
    whitespace-only continuation lines (pandas, scipy, matplotlib...) included."""
    import importlib.metadata

    packages, _, _ = probe.collect_packages([str(h200_site)])
    by_name = {p["name"]: p for p in packages}
    checked = 0
    for meta in sorted(h200_site.glob("*.dist-info")):
        dist = importlib.metadata.PathDistribution(meta)
        name = probe.canonicalize_name(dist.metadata["Name"])
        if by_name[name]["version"] != dist.version:  # a shadowed duplicate
            continue
        assert by_name[name]["requires"] == (dist.requires or []), name
        checked += 1
    assert checked >= 190
    assert by_name["pandas"]["requires"]  # one that lost all its requirements to the old parser


_HEADER_TEXT = st.lists(
    st.sampled_from(
        [
            "Name: x\n",
            "Version: 1.0\n",
            "Requires-Dist: a>=1\n",
            "Requires-Dist: b ; extra == 'c'\r\n",
            "License: BSD\n",
            "        \n",
            "\t continued\n",
            " \n",
            "\n",
            "\r",
            "From me\n",
            "no colon here\n",
            ":empty name\n",
            "Key :spaced\n",
            "Requires-Dist:tight\n",
            "Summary: tail without newline",
            "Bad Header: x\n",
            "X\x0bY: vertical tab\n",
            "Description: é\u2028next\n",
        ]
    ),
    max_size=14,
).map("".join)


@settings(max_examples=400, deadline=None, database=None)
@given(_HEADER_TEXT)
def test_metadata_headers_parse_as_the_email_parser_does(text: str) -> None:
    from email.parser import HeaderParser
    from email.policy import compat32

    expected: dict[str, list[str]] = {}
    for key, value in HeaderParser(policy=compat32).parsestr(text).items():
        expected.setdefault(key.lower(), []).append(value)
    assert probe.parse_metadata_headers(text) == expected


def test_requirements_of_this_environment_are_read_as_python_reads_them() -> None:
    """The test environment's own distributions (numpy, hypothesis, mypy, kubernetes-validate...): the live probe's
    requirements equal importlib.metadata's, distribution by distribution."""
    import importlib.metadata

    packages, _, _ = probe.collect_packages()
    by_name = {p["name"]: p for p in packages}
    seen = set()
    for dist in importlib.metadata.distributions():
        name = probe.canonicalize_name(dist.metadata["Name"])
        if name in seen or by_name[name]["version"] != dist.version:
            continue
        seen.add(name)
        assert by_name[name]["requires"] == (dist.requires or []), name
    assert len(seen) >= 30 and "numpy" in seen


def test_a_relative_path_entry_is_read_from_the_current_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """sys.path.insert(0, "src") in a training script: "src" is the current folder's, as import takes it."""
    make_dist_info(tmp_path / "src", "bar", "2.0")
    monkeypatch.chdir(tmp_path)
    packages, source, _ = probe.collect_packages(["src"])
    assert [p["name"] for p in packages] == ["bar"] and source["detail"].startswith("dist-info and egg-info in 1 ")


def test_without_site_a_site_folder_already_on_the_path_still_has_its_pth_read(tmp_path: Path) -> None:
    """An image whose PYTHONPATH names its site-packages: site would still read that folder's .pth files."""
    env_dir = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(env_dir)], check=True)
    python = env_dir / "bin" / "python"
    site = next((env_dir / "lib").glob("python3*/site-packages"))
    make_dist_info(tmp_path / "extra", "foo", "1.0")
    (site / "extra.pth").write_text(f"{tmp_path / 'extra'}\n")
    done = subprocess.run(
        [str(python), "-S", "-"],
        input=probe_source(),
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"},
        timeout=120,
        check=True,
    )
    assert [p["name"] for p in json.loads(done.stdout)["packages"]] == ["foo"]


def _packages_distributions_modules(dist: Any) -> set[str]:
    """The top-level names ``importlib.metadata.packages_distributions`` gives a distribution (CPython 3.11's
    ``_top_level_declared(dist) or _top_level_inferred(dist)``, written with the public API), less __pycache__."""
    import inspect

    declared = (dist.read_text("top_level.txt") or "").split()
    if declared:
        return set(declared)
    names = set()
    for path in dist.files or ():
        name = path.parts[0] if len(path.parts) > 1 else (inspect.getmodulename(str(path)) or str(path))
        if "." not in name and name != "__pycache__":
            names.add(name)
    return names


@pytest.mark.parametrize("where", ["h200", "this environment"])
def test_top_level_modules_are_those_packages_distributions_finds(where: str, h200_site: Path) -> None:
    """What ties a module a model names to its distribution: for every real H200 distribution and every one of
    this environment, the probe's ``modules`` equal importlib.metadata's mapping."""
    import importlib.metadata

    folders = [str(h200_site)] if where == "h200" else None
    packages, _, _ = probe.collect_packages(folders)
    by_name = {p["name"]: p for p in packages}
    if folders:
        dists: Any = [importlib.metadata.PathDistribution(m) for m in sorted(h200_site.glob("*.dist-info"))]
    else:
        dists = importlib.metadata.distributions()
    checked = 0
    for dist in dists:
        name = probe.canonicalize_name(dist.metadata["Name"])
        if by_name[name]["version"] != dist.version:  # a shadowed duplicate
            continue
        assert set(by_name[name].get("modules", [])) == _packages_distributions_modules(dist), name
        checked += 1
    assert checked >= (190 if where == "h200" else 30)
    if where == "h200":
        assert by_name["scikit-learn"]["modules"] == ["sklearn"]
        assert by_name["pyyaml"]["modules"] == ["_yaml", "yaml"]


def test_top_level_modules_are_bounded_and_skip_what_cannot_be_imported() -> None:
    record = b"".join(b"m%d/__init__.py,,\n" % i for i in range(500))
    record += b"../../bin/tool,,\nx.dist-info/METADATA,,\nx.libs/libz.so,,\n__pycache__/a.pyc,,\n"
    names = probe.top_level_modules(record)
    assert len(names) == probe.MAX_MODULES and names == sorted(names)
    assert probe.top_level_modules(b"a.py,,\n_b.cpython-311-x86_64-linux-gnu.so,,\nc.pth,,\n") == ["_b", "a"]
    assert probe.top_level_modules(b"ignored/x.py,,\n", b"yaml\n_yaml\n\x1b[31m\n") == ["_yaml", "yaml"]
