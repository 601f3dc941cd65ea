"""The GPU collector against the H200 capture: NVML replayed, nvidia-smi's XML and /proc/driver/nvidia verbatim."""

from __future__ import annotations

import dataclasses
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable, Dict, List

import pytest

from envcheck._subprocess import RunError
from envcheck.collect.gpu import (
    GpuCollector,
    GpuSourceError,
    NvidiaSmiXmlError,
    parse_nvidia_smi_xml,
    parse_proc_driver_nvidia,
    read_nvml,
    read_proc_driver_nvidia,
    run_nvidia_smi,
)
from envcheck.model import NONE_FOUND, OK, UNAVAILABLE, GpuDevice, GpuInfo
from tests.fakes import FIXTURES, FakeNvml, NVMLError_DriverNotLoaded, NVMLError_LibraryNotFound, recorded_nvml

H200_DIR = FIXTURES / "h200-serving"
XML = (H200_DIR / "nvidia-smi-q.xml").read_text(encoding="utf-8")
PROC_VERSION = (H200_DIR / "proc-driver-nvidia" / "version").read_text(encoding="utf-8")
PROC_INFO = (H200_DIR / "proc-driver-nvidia" / "gpus" / "0000:00:06.0" / "information").read_text(encoding="utf-8")

H200 = GpuDevice(
    index=0,
    name="NVIDIA H200",
    architecture="Hopper",
    compute_capability="9.0",
    memory_total_bytes=150754820096,
    mig_mode="Disabled",
    ecc="Enabled",
    persistence="Enabled",
)
NVML_LIB_MISSING = "NVML: NVML Shared Library Not Found"


def _no_runs() -> List[int]:
    """A list the fake runners append to, one item per call."""
    return []


def _run_returning(text: str, calls: List[int]) -> Callable[[], str]:
    def run() -> str:
        calls.append(1)
        return text

    return run


def _run_raising(exc: Exception, calls: List[int]) -> Callable[[], str]:
    def run() -> str:
        calls.append(1)
        raise exc

    return run


@pytest.fixture
def proc_root(tmp_path: Path) -> str:
    """A /proc holding the captured driver/nvidia tree."""
    shutil.copytree(H200_DIR / "proc-driver-nvidia", tmp_path / "driver" / "nvidia")
    return str(tmp_path)


@pytest.fixture
def empty_proc(tmp_path: Path) -> str:
    return str(tmp_path / "empty-proc")


# --- the three sources read the H200 ----------------------------------------------------------------------------


def test_nvml_reads_the_recorded_h200() -> None:
    info = read_nvml(FakeNvml())
    assert info == GpuInfo(driver_version="580.159.04", cuda_driver_version="13.0", devices=(H200,))


def test_xml_reads_the_captured_h200_without_compute_capability() -> None:
    # Driver 580's XML report has no compute capability, and it is not derived from the name.
    info = parse_nvidia_smi_xml(XML)
    assert info == GpuInfo(
        driver_version="580.159.04",
        cuda_driver_version="13.0",
        devices=(dataclasses.replace(H200, compute_capability=""),),
    )


def test_proc_reads_driver_and_model(proc_root: str) -> None:
    info = read_proc_driver_nvidia(proc_root)
    assert info == GpuInfo(driver_version="580.159.04", devices=(GpuDevice(index=0, name="NVIDIA H200"),))


def test_xml_memory_in_mib_equals_nvml_bytes() -> None:
    xml_total = parse_nvidia_smi_xml(XML).devices[0].memory_total_bytes
    assert xml_total == 143771 * 1024 * 1024
    assert xml_total == recorded_nvml()["devices"][0]["mem"]


@pytest.mark.parametrize(
    "field",
    ["index", "name", "architecture", "memory_total_bytes", "mig_mode", "ecc", "persistence"],
)
def test_nvml_and_xml_agree(field: str) -> None:
    nvml_device = read_nvml(FakeNvml()).devices[0]
    xml_device = parse_nvidia_smi_xml(XML).devices[0]
    assert getattr(nvml_device, field) == getattr(xml_device, field) != ""


@pytest.mark.parametrize("field", ["driver_version", "cuda_driver_version"], ids=["driver", "cuda-driver"])
def test_system_versions_agree(field: str) -> None:
    assert getattr(read_nvml(FakeNvml()), field) == getattr(parse_nvidia_smi_xml(XML), field) != ""


def test_proc_agrees_where_it_has_the_field() -> None:
    nvml = read_nvml(FakeNvml())
    proc = parse_proc_driver_nvidia(PROC_VERSION, [PROC_INFO])
    assert proc.driver_version == nvml.driver_version
    assert [(d.index, d.name) for d in proc.devices] == [(d.index, d.name) for d in nvml.devices]


@pytest.mark.parametrize("source", ["nvml", "xml", "proc"])
def test_nothing_volatile_or_identifying_is_kept(source: str) -> None:
    info = {
        "nvml": lambda: read_nvml(FakeNvml()),
        "xml": lambda: parse_nvidia_smi_xml(XML),
        "proc": lambda: parse_proc_driver_nvidia(PROC_VERSION, [PROC_INFO]),
    }[source]()
    text = repr(info)
    for secret in ("GPU-5e0a7c1d", "0000000000001", "00:06.0", "96.00", "700000", "MiB", "IRQ"):
        assert secret.lower() not in text.lower()


# --- NVML details -----------------------------------------------------------------------------------------------


def test_old_pynvml_bytes_are_decoded() -> None:
    assert read_nvml(FakeNvml(as_bytes=True)) == read_nvml(FakeNvml())


@pytest.mark.parametrize(
    ("function", "field", "empty"),
    [
        ("nvmlDeviceGetName", "name", ""),
        ("nvmlDeviceGetCudaComputeCapability", "compute_capability", ""),
        ("nvmlDeviceGetMemoryInfo", "memory_total_bytes", 0),
        ("nvmlDeviceGetMigMode", "mig_mode", ""),
        ("nvmlDeviceGetEccMode", "ecc", ""),
        ("nvmlDeviceGetPersistenceMode", "persistence", ""),
        ("nvmlDeviceGetArchitecture", "architecture", ""),
    ],
    ids=["name", "compute-capability", "memory", "mig", "ecc", "persistence", "architecture"],
)
def test_an_nvml_error_empties_only_its_field(function: str, field: str, empty: Any) -> None:
    fake = FakeNvml(unsupported=frozenset({function}))
    info = read_nvml(fake)
    assert info.devices == (dataclasses.replace(H200, **{field: empty}),)
    assert fake.calls[function] == 1
    assert fake.calls["nvmlShutdown"] == 1


def test_cuda_version_falls_back_to_v1_function() -> None:
    info = read_nvml(FakeNvml(unsupported=frozenset({"nvmlSystemGetCudaDriverVersion_v2"})))
    assert info.cuda_driver_version == "13.0"


@pytest.mark.parametrize(
    ("cuda", "expected"),
    [(13000, "13.0"), (12020, "12.2"), (12010, "12.1"), (11080, "11.8"), (0, "")],
    ids=["13.0", "12.2", "12.1", "11.8", "zero"],
)
def test_cuda_driver_integer_is_formatted(cuda: int, expected: str) -> None:
    assert read_nvml(FakeNvml({**recorded_nvml(), "cuda_driver": cuda})).cuda_driver_version == expected


@pytest.mark.parametrize(
    ("code", "name"),
    [(7, "Ampere"), (8, "Ada Lovelace"), (9, "Hopper"), (10, "Blackwell"), (0xFFFFFFFF, "")],
    ids=["ampere", "ada", "hopper", "blackwell", "unknown"],
)
def test_nvml_architecture_codes_are_named(code: int, name: str) -> None:
    recorded = recorded_nvml()
    recorded["devices"][0]["arch"] = code
    assert read_nvml(FakeNvml(recorded)).devices[0].architecture == name


def test_shutdown_follows_a_failed_device_count() -> None:
    fake = FakeNvml(unsupported=frozenset({"nvmlDeviceGetCount"}))
    with pytest.raises(GpuSourceError, match="device count"):
        read_nvml(fake)
    assert fake.calls["nvmlShutdown"] == 1


@pytest.mark.parametrize(
    ("error", "absent"),
    [(NVMLError_LibraryNotFound, True), (NVMLError_DriverNotLoaded, True), (FakeNvml.NVMLError_Unknown, False)],
    ids=["library-not-found", "driver-not-loaded", "unknown"],
)
def test_failed_init_is_a_source_error_and_not_shut_down(error: Any, absent: bool) -> None:
    fake = FakeNvml(init_error=error)
    with pytest.raises(GpuSourceError) as caught:
        read_nvml(fake)
    assert caught.value.reason == str(error())
    assert caught.value.absent is absent
    assert fake.calls["nvmlShutdown"] == 0


# --- two GPUs (synthetic edits of the capture) ------------------------------------------------------------------

L4 = GpuDevice(1, "NVIDIA L4", "Ada Lovelace", "8.9", 24152899584, "Disabled", "Enabled", "Disabled")


def test_nvml_second_device() -> None:
    recorded = recorded_nvml()
    second = {**recorded["devices"][0], "name": "NVIDIA L4", "cc": [8, 9], "mem": 24152899584, "arch": 8}
    recorded["devices"].append({**second, "mig": [0, 0], "persist": 0})
    assert read_nvml(FakeNvml(recorded)).devices == (H200, L4)


def test_xml_second_device_keeps_order() -> None:
    start, end = XML.index("<gpu id="), XML.index("</gpu>") + len("</gpu>")
    second = (
        XML[start:end]
        .replace("NVIDIA H200", "NVIDIA L4")
        .replace("<product_architecture>Hopper", "<product_architecture>Ada Lovelace")
        .replace("<total>143771 MiB", "<total>23034 MiB")
        .replace("<persistence_mode>Enabled", "<persistence_mode>Disabled")
        .replace("<current_mig>Disabled", "<current_mig>N/A")
    )
    info = parse_nvidia_smi_xml(XML[:end] + "\n" + second + XML[end:])
    expected_l4 = dataclasses.replace(L4, compute_capability="", mig_mode="")
    assert info.devices == (dataclasses.replace(H200, compute_capability=""), expected_l4)


def test_proc_second_device(proc_root: str) -> None:
    second = Path(proc_root, "driver", "nvidia", "gpus", "0000:00:07.0")
    second.mkdir()
    (second / "information").write_text(PROC_INFO.replace("NVIDIA H200", "NVIDIA L4"), encoding="utf-8")
    info = read_proc_driver_nvidia(proc_root)
    assert info.devices == (GpuDevice(0, "NVIDIA H200"), GpuDevice(1, "NVIDIA L4"))


# --- parsers refuse what is not theirs --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        XML[: len(XML) // 2],
        "",
        "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver.",
        "<?xml version='1.0'?><html><body/></html>",
        '<!DOCTYPE x [<!ENTITY a "aaaa">]><nvidia_smi_log>&a;</nvidia_smi_log>',
    ],
    ids=["truncated", "empty", "error-text", "wrong-root", "entity"],
)
def test_malformed_xml_is_refused(text: str) -> None:
    with pytest.raises(NvidiaSmiXmlError):
        parse_nvidia_smi_xml(text)


@pytest.mark.parametrize(
    ("version_text", "driver"),
    [
        (PROC_VERSION, "580.159.04"),
        ("NVRM version: NVIDIA UNIX x86_64 Kernel Module  470.82.01  Wed Oct 27 21:21:55 UTC 2021\n", "470.82.01"),
        ("NVRM version: NVIDIA UNIX Open Kernel Module for aarch64  570.86.15  Release Build\n", "570.86.15"),
        ("GCC version:  gcc version 15.3.0 (GCC)\n", ""),
    ],
    ids=["open-580", "proprietary-470", "aarch64", "no-nvrm-line"],
)
def test_proc_driver_version(version_text: str, driver: str) -> None:
    assert parse_proc_driver_nvidia(version_text, []).driver_version == driver


# --- the collector: order, fallbacks, details -------------------------------------------------------------------


def test_collector_uses_nvml_first_and_nothing_else(proc_root: str) -> None:
    fake, runs = FakeNvml(), _no_runs()
    result = GpuCollector(nvml=fake, run=_run_returning(XML, runs), proc_root=proc_root).collect()
    assert result.value.devices == (H200,)
    assert (result.source.status, result.source.detail) == (OK, "NVML")
    assert (fake.calls["nvmlInit"], fake.calls["nvmlShutdown"], runs) == (1, 1, [])


CASES: Dict[str, Any] = {
    "nvml-missing": (None, "nvidia-smi (after NVML: NVML Shared Library Not Found)", "xml"),
    "smi-missing": (
        FileNotFoundError(2, "No such file or directory", "nvidia-smi"),
        "/proc/driver/nvidia (after NVML: NVML Shared Library Not Found; nvidia-smi: not on PATH)",
        "proc",
    ),
    "smi-timeout": (
        subprocess.TimeoutExpired(["nvidia-smi"], 10.0),
        "/proc/driver/nvidia (after NVML: NVML Shared Library Not Found; nvidia-smi: timed out after 10 s)",
        "proc",
    ),
    "smi-hangs": (
        RunError("nvidia-smi: no answer within 10 s"),
        "/proc/driver/nvidia (after NVML: NVML Shared Library Not Found; nvidia-smi: no answer within 10 s)",
        "proc",
    ),
    "smi-fails": (
        subprocess.CalledProcessError(
            9, ["nvidia-smi"], "", "NVIDIA-SMI has failed because of a driver mismatch\n"
        ),
        "/proc/driver/nvidia (after NVML: NVML Shared Library Not Found; "
        "nvidia-smi: exit status 9: NVIDIA-SMI has failed because of a driver mismatch)",
        "proc",
    ),
    "smi-malformed": (
        "<nvidia_smi_log><gpu>",
        "/proc/driver/nvidia (after NVML: NVML Shared Library Not Found; nvidia-smi: malformed XML (",
        "proc",
    ),
}


@pytest.mark.parametrize(("smi", "detail", "used"), list(CASES.values()), ids=list(CASES))
def test_collector_falls_back_in_order(proc_root: str, smi: Any, detail: str, used: str) -> None:
    fake, runs = FakeNvml(init_error=NVMLError_LibraryNotFound), _no_runs()
    run = _run_raising(smi, runs) if isinstance(smi, Exception) else _run_returning(smi or XML, runs)
    result = GpuCollector(nvml=fake, run=run, proc_root=proc_root).collect()
    assert result.source.status == OK
    assert result.source.detail.startswith(detail)
    assert result.value.devices[0].name == "NVIDIA H200"
    # Only the XML has the architecture; /proc does not.
    assert result.value.devices[0].architecture == ("Hopper" if used == "xml" else "")
    assert (fake.calls["nvmlInit"], len(runs)) == (1, 1)


def test_pynvml_not_installed_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", None)  # makes ``import pynvml`` raise ImportError
    result = GpuCollector(run=_run_returning(XML, [])).collect()
    assert (result.source.status, result.source.detail) == (OK, "nvidia-smi (after NVML: pynvml not installed)")


def test_no_gpu_anywhere_is_none_found(monkeypatch: pytest.MonkeyPatch, empty_proc: str) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", None)
    run = _run_raising(FileNotFoundError(2, "No such file or directory"), [])
    result = GpuCollector(run=run, proc_root=empty_proc).collect()
    assert result.value == GpuInfo()
    assert result.source.status == NONE_FOUND
    assert result.source.detail == (
        "no NVIDIA GPU: NVML: pynvml not installed; nvidia-smi: not on PATH; /proc/driver/nvidia: not present"
    )


def test_driver_without_devices_is_none_found(empty_proc: str) -> None:
    fake, runs = FakeNvml({**recorded_nvml(), "devices": []}), _no_runs()
    result = GpuCollector(nvml=fake, run=_run_returning(XML, runs), proc_root=empty_proc).collect()
    assert (result.source.status, result.source.detail) == (NONE_FOUND, "NVML: no GPUs")
    assert result.value.driver_version == "580.159.04"
    assert runs == []  # NVML answered; a count of zero is an answer, not a reason to ask nvidia-smi


def test_smi_saying_no_devices_is_none_found(empty_proc: str) -> None:
    exc = subprocess.CalledProcessError(6, ["nvidia-smi"], "No devices were found\n", "")
    fake = FakeNvml(init_error=NVMLError_DriverNotLoaded)
    result = GpuCollector(nvml=fake, run=_run_raising(exc, []), proc_root=empty_proc).collect()
    assert result.source.status == NONE_FOUND


def test_a_failing_source_with_nothing_after_it_is_unavailable(empty_proc: str) -> None:
    fake = FakeNvml(init_error=NVMLError_LibraryNotFound)
    result = GpuCollector(nvml=fake, run=_run_returning("garbage", []), proc_root=empty_proc).collect()
    assert result.source.status == UNAVAILABLE
    assert result.source.detail.startswith(f"{NVML_LIB_MISSING}; nvidia-smi: malformed XML (")
    assert result.source.detail.endswith("; /proc/driver/nvidia: not present")


def test_the_collector_reads_hardware_only() -> None:
    # What CUDA the environment ships is metadata: capture adds it from the packages (tests/test_e2e.py).
    result = GpuCollector(nvml=FakeNvml()).collect()
    assert result.value.cuda_shipped == ()


# --- the default nvidia-smi runner and imports ------------------------------------------------------------------


def _fake_smi(folder: Path, script: str) -> None:
    exe = folder / "nvidia-smi"
    exe.write_text("#!/bin/sh\n" + script, encoding="utf-8")
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR)


@pytest.mark.skipif(os.name != "posix", reason="uses a shell script as nvidia-smi")
def test_run_nvidia_smi_runs_q_x(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cat = shutil.which("cat")  # PATH will hold only the fake nvidia-smi
    _fake_smi(tmp_path, f'[ "$1 $2" = "-q -x" ] && exec "{cat}" "{H200_DIR / "nvidia-smi-q.xml"}"\nexit 3\n')
    monkeypatch.setenv("PATH", str(tmp_path))
    assert run_nvidia_smi() == XML


@pytest.mark.skipif(os.name != "posix", reason="uses a shell script as nvidia-smi")
def test_run_nvidia_smi_failure_becomes_the_detail(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_smi(tmp_path, "echo 'No devices were found'\nexit 6\n")
    monkeypatch.setenv("PATH", str(tmp_path))
    result = GpuCollector(nvml=FakeNvml(init_error=NVMLError_DriverNotLoaded), proc_root=str(tmp_path)).collect()
    assert result.source.detail == (
        "no NVIDIA GPU: NVML: Driver Not Loaded; nvidia-smi: exit status 6: No devices were found; "
        "/proc/driver/nvidia: not present"
    )


@pytest.mark.skipif(os.name != "posix", reason="uses a shell script as nvidia-smi")
def test_run_nvidia_smi_is_bounded_in_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_smi(tmp_path, f'exec "{shutil.which("sleep")}" 10\n')
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(RunError, match=r"no answer within 0\.2 s"):
        run_nvidia_smi(timeout=0.2)


def test_run_nvidia_smi_not_on_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(FileNotFoundError):
        run_nvidia_smi()


def test_importing_the_module_loads_no_gpu_library() -> None:
    code = "import sys, envcheck.collect.gpu; print(sorted({'pynvml', 'torch', 'numpy'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
