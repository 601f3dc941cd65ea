"""The lockfile: round trips byte for byte, and refuses what it should."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from envcheck import lockfile
from envcheck.model import (
    NONE_FOUND,
    CpuInfo,
    DirectUrl,
    Fingerprint,
    GpuDevice,
    GpuInfo,
    Meta,
    ModelFile,
    NativeInfo,
    NativeLib,
    OsInfo,
    Package,
    PythonInfo,
    Source,
    compute_digest,
)


def sample() -> Fingerprint:
    return Fingerprint(
        meta=Meta(tool="envcheck test", created="2026-11-28T12:00:00Z"),
        sources={"gpu": Source(NONE_FOUND, "nvidia-smi: not on PATH"), "os": Source()},
        os=OsInfo(system="Linux", machine="x86_64", libc_family="glibc", libc_version="2.39", page_size=4096),
        python=PythonInfo(
            version="3.12.3", pointer_bits=64, markers={"python_version": "3.12", "os_name": "posix"}
        ),
        packages=(
            Package("numpy", "2.5.2", installer="pip", wheel_tags=("cp312-cp312-manylinux_2_28_x86_64",)),
            Package(
                "feature-lib",
                "0.3",
                direct_url=DirectUrl(url="https://git.example.com/f.git", kind="vcs", commit_id="abc"),
                shadowed=("0.2",),
            ),
        ),
        native=NativeInfo(shipped=(NativeLib("blas", "openblas", "numpy.libs/libscipy_openblas64_.so", "numpy"),)),
        cpu=CpuInfo(flags=("avx2", "sse2"), cpu_quota_millicores=2000, family=6),
        gpu=GpuInfo(devices=(GpuDevice(0, "NVIDIA H200", compute_capability="9.0", memory_total_bytes=1 << 40),)),
        models=(ModelFile("model.safetensors", 12, "ab" * 32),),
    )


def test_round_trip_is_byte_identical(tmp_path: Path) -> None:
    first = tmp_path / "a.lock"
    written = lockfile.write(sample(), first)
    read = lockfile.read(first)
    second = tmp_path / "b.lock"
    lockfile.write(read, second)
    assert first.read_bytes() == second.read_bytes()
    assert read == written
    assert read.meta.digest == compute_digest(read) == written.meta.digest


def test_none_and_defaults_survive_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "x.lock"
    lockfile.write(sample(), path)
    fp = lockfile.read(path)
    assert fp.cpu.stepping is None
    assert fp.cpu.cpu_quota_millicores == 2000
    assert fp.packages[0].direct_url is None
    assert fp.packages[1].shadowed == ("0.2",)
    assert fp.python.markers == {"os_name": "posix", "python_version": "3.12"}


def test_packages_keep_given_order_and_file_is_diff_friendly(tmp_path: Path) -> None:
    text = lockfile.dumps(sample())
    assert text.index("[meta]") < text.index("[os]") < text.index("[[packages]]")
    assert text.count("[[packages]]") == 2
    assert "created = " in text


def test_one_byte_edit_is_detected(tmp_path: Path) -> None:
    path = tmp_path / "x.lock"
    lockfile.write(sample(), path)
    text = path.read_text()
    path.write_text(text.replace('version = "2.5.2"', 'version = "2.5.3"'))
    with pytest.raises(lockfile.LockfileError, match="does not match its digest"):
        lockfile.read(path)
    assert lockfile.read(path, verify=False).packages[0].version == "2.5.3"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[meta\nschema = 1", "not valid TOML"),
        ("[os]\nsystem = 'Linux'\n", "no \\[meta\\] schema"),
        ("[meta]\nschema = 99\n", "schema 99 is not supported"),
        ("[meta]\nschema = 1\n[os]\nsystem = 3\n", "lockfile.os.system: expected a string"),
        ("[meta]\nschema = 1\n[os]\nkernel = 'x'\n", "unknown key 'kernel'"),
        ("[meta]\nschema = 1\n[[packages]]\nversion = '1'\n", "missing key 'name'"),
        ("[meta]\nschema = 1\n[cpu]\nlogical_cpus = true\n", "expected an integer"),
        ("packages = 'numpy'\n[meta]\nschema = 1\n", "expected a list"),
    ],
    ids=[
        "bad-toml",
        "no-meta",
        "unknown-schema",
        "wrong-type",
        "unknown-key",
        "missing-key",
        "bool-for-int",
        "not-a-list",
    ],
)
def test_malformed_lockfiles_are_refused(text: str, message: str) -> None:
    with pytest.raises(lockfile.LockfileError, match=message):
        lockfile.loads(text, name="x.lock", verify=False)


def test_missing_and_non_utf8_files(tmp_path: Path) -> None:
    with pytest.raises(lockfile.LockfileError, match="no such lockfile"):
        lockfile.read(tmp_path / "nope.lock")
    with pytest.raises(lockfile.LockfileError, match="is a directory"):
        lockfile.read(tmp_path)
    bad = tmp_path / "bin.lock"
    bad.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(lockfile.LockfileError, match="not UTF-8"):
        lockfile.read(bad)


def test_digest_covers_everything_but_itself() -> None:
    fp = sample()
    base = compute_digest(fp)
    assert compute_digest(dataclasses.replace(fp, meta=dataclasses.replace(fp.meta, digest="sha256:x"))) == base
    assert compute_digest(dataclasses.replace(fp, packages=fp.packages[:1])) != base
    assert compute_digest(dataclasses.replace(fp, cpu=dataclasses.replace(fp.cpu, flags=("sse2",)))) != base


def test_real_h200_lockfile_reads_verifies_and_round_trips(tmp_path: Path) -> None:
    """A lockfile envcheck wrote on the real H200 machine (NVML source, 198 distributions)."""
    from tests.conftest import H200

    real = H200 / "envcheck.lock"
    fp = lockfile.read(real)
    assert fp.gpu.devices[0].name == "NVIDIA H200"
    assert fp.gpu.devices[0].compute_capability == "9.0"
    assert fp.gpu.driver_version.startswith("580.")
    assert fp.source("gpu").detail == "NVML"
    assert len(fp.packages) == 198
    out = tmp_path / "again.lock"
    lockfile.write(fp, out)
    # It predates native.builds: rewritten, the new field comes back empty and the digest still holds.
    added = real.read_bytes().replace(b"[native]\nloaded = []\n", b"[native]\nloaded = []\nbuilds = []\n", 1)
    assert out.read_bytes() == added != real.read_bytes()
    assert lockfile.read(out) == fp
