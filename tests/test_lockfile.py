"""The lockfile: round trips byte for byte, and refuses what it should."""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Callable

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
from tests.conftest import H200

H200_LOCK = H200 / "envcheck.lock"


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


# --- hostile lockfiles: bounded, non-blocking, one line -------------------------------------------------------


def _one_line_error(call: Callable[[], object], match: str) -> str:
    with pytest.raises(lockfile.LockfileError, match=match) as caught:
        call()
    message = str(caught.value)
    assert "\n" not in message
    return message


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[meta]\nschema = 1\nx = " + "[" * 5000 + "]" * 5000, "nested too deeply"),
        ("[meta]\nschema = 1\nx = " + "{a=" * 2000 + "1" + "}" * 2000, "nested too deeply"),
        ("[meta]\nschema = 1\nx = " + "[" * 40 + "]" * 40, "nested deeper than 32 levels"),
        ("[meta]\nschema = 1\n[" + ".".join(["t"] * 200) + "]\n", "nested deeper than 32 levels"),
        ("[meta]\nschema = 1\n[cpu]\nlogical_cpus = " + "9" * 5000, "an integer too long"),
        (
            "[meta]\nschema = 1\n[cpu]\nlogical_cpus = 18446744073709551616",
            "cpu.logical_cpus: integer out of range",
        ),
        ("[meta]\nschema = 1\nx = [[-9223372036854775809]]", r"x\[0\]\[0\]: integer out of range"),
    ],
    ids=[
        "deep-arrays",
        "deep-inline-tables",
        "arrays-past-the-limit",
        "dotted-tables",
        "long-int",
        "int-65-bits",
        "negative-int-65-bits",
    ],
)
def test_nesting_and_integers_are_bounded(text: str, message: str) -> None:
    _one_line_error(lambda: lockfile.loads(text, name="x.lock", verify=False), message)


def test_64_bit_integers_are_fine() -> None:
    text = "[meta]\nschema = 1\n[cpu]\nlogical_cpus = 9223372036854775807\n"
    assert lockfile.loads(text, verify=False).cpu.logical_cpus == 2**63 - 1


def test_a_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    """Opened with O_NONBLOCK and checked with fstat before any read: no writer is ever needed."""
    fifo = tmp_path / "envcheck.lock"
    os.mkfifo(fifo)
    done = subprocess.run(
        [sys.executable, "-m", "envcheck", "show", str(fifo)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert done.stderr.strip() == f"envcheck: error: {fifo}: is a FIFO, not a lockfile"


def test_devices_are_refused(tmp_path: Path) -> None:
    _one_line_error(lambda: lockfile.read("/dev/zero"), "/dev/zero: is a character device, not a lockfile")
    _one_line_error(lambda: lockfile.read("/dev/null"), "/dev/null: is a character device, not a lockfile")


def test_size_is_capped_before_reading(tmp_path: Path) -> None:
    big = tmp_path / "big.lock"
    with open(big, "wb") as f:
        f.truncate(1 << 30)  # 1 GiB, sparse: reading it would take seconds and a gigabyte of memory
    message = _one_line_error(lambda: lockfile.read(big), "too large for a lockfile")
    assert "1024.0 MiB" in message and "at most 8.0 MiB" in message
    _one_line_error(lambda: lockfile.loads("#" * (lockfile.MAX_BYTES + 1)), "too large")


def test_a_folder_and_an_unreadable_file(tmp_path: Path) -> None:
    _one_line_error(lambda: lockfile.read(tmp_path), "is a directory, not a lockfile")
    if os.geteuid() != 0:
        locked = tmp_path / "locked.lock"
        locked.write_text("[meta]\nschema = 1\n")
        locked.chmod(0)
        _one_line_error(lambda: lockfile.read(locked), r"cannot read \(Permission denied\)")
        return
    # Root reads any file: the CLI drops to nobody in a child (after importing what `show` runs: it imports it
    # when it runs, and nobody cannot read this machine's /root), in a folder nobody may enter.
    folder = Path(tempfile.mkdtemp(prefix="envcheck-eacces-"))
    try:
        folder.chmod(0o711)
        locked = folder / "locked.lock"
        locked.write_text("[meta]\nschema = 1\n")
        locked.chmod(0)
        code = (
            "import os, sys\n"
            "from envcheck.cli import main\n"
            "import envcheck.lockfile, envcheck.show\n"
            "os.setgroups([]); os.setgid(65534); os.setuid(65534)\n"
            "main(['show', sys.argv[1]])\n"
        )
        done = subprocess.run(
            [sys.executable, "-c", code, str(locked)], capture_output=True, text=True, timeout=60, cwd="/"
        )
    finally:
        shutil.rmtree(folder)
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip() == f"envcheck: error: {locked}: cannot read (Permission denied)"


def test_non_utf8_file_names(tmp_path: Path) -> None:
    """A lockfile path that is not UTF-8: read, and named on one line with the bytes escaped."""
    folder = os.fsencode(tmp_path)
    good = folder + b"/\xff-env.lock"
    with open(good, "wb") as f:
        f.write((H200_LOCK).read_bytes())
    env = {**os.environ, "PYTHONIOENCODING": "utf-8:strict"}  # a terminal that refuses undecodable bytes
    ok = subprocess.run(
        [sys.executable, "-m", "envcheck", "verify", good], capture_output=True, env=env, timeout=60
    )
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.startswith(b"ok: " + os.fsencode(tmp_path) + b"/\\udcff-env.lock (198 packages")
    missing = folder + b"/\xfe\nx.lock"
    bad = subprocess.run(
        [sys.executable, "-m", "envcheck", "show", missing], capture_output=True, env=env, timeout=60
    )
    assert bad.returncode == 2
    assert bad.stderr.strip().splitlines() == [
        b"envcheck: error: " + os.fsencode(tmp_path) + b"/\\udcfe\\nx.lock: no such lockfile"
    ]


@pytest.mark.slow
def test_a_lockfile_at_the_size_cap_costs_bounded_time_and_memory(tmp_path: Path) -> None:
    """The worst a hostile lockfile under the cap can do: millions of tiny values. Measured: about 8 s and
    100 MiB here; the bounds leave headroom for a loaded 2-CPU machine."""
    hostile = tmp_path / "hostile.lock"
    hostile.write_text("[meta]\nschema = 1\nx = [" + "0," * ((lockfile.MAX_BYTES - 100) // 2) + "]\n")
    code = (
        "import sys, time\n"
        "from envcheck import lockfile\n"
        "start = time.monotonic()\n"
        "try:\n"
        "    lockfile.read(sys.argv[1])\n"
        "except lockfile.LockfileError as e:\n"
        "    print(e)\n"
        # VmHWM, not ru_maxrss: Linux carries the parent's high-water mark into ru_maxrss across fork and exec
        "hwm = next(line for line in open('/proc/self/status') if line.startswith('VmHWM:')).split()[1]\n"
        "print(time.monotonic() - start, int(hwm) // 1024)\n"
    )
    done = subprocess.run([sys.executable, "-c", code, str(hostile)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    message, measured = done.stdout.strip().splitlines()
    assert message.endswith("lockfile.meta: unknown key 'x'")
    seconds, rss_mib = float(measured.split()[0]), int(measured.split()[1])
    assert seconds < 120 and rss_mib < 600, measured
