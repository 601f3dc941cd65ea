"""The GPU section: NVIDIA driver, the CUDA version it supports, and the stable facts of each device.

Three sources, tried in this order and each at most once per ``collect()``: NVML through pynvml (the optional
``gpu`` extra, nvidia-ml-py), ``nvidia-smi -q -x``, and the text files under /proc/driver/nvidia. The first that
can be read wins; the source records which one it was and why the earlier ones could not be read. Only what
describes the environment is kept: no temperatures, clocks, utilisation, processes, UUIDs, serials or bus ids.
"""

from __future__ import annotations

import errno
import posixpath
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from contextlib import suppress
from typing import Any, Callable, List, Optional, Sequence, Tuple

from envcheck import _subprocess
from envcheck._subprocess import RunError
from envcheck.collect.interface import Collected, Collector
from envcheck.model import NONE_FOUND, OK, UNAVAILABLE, GpuDevice, GpuInfo, Source
from envcheck.tree import Tree

NVIDIA_SMI_TIMEOUT_S = 10.0

#: ``nvmlDeviceGetArchitecture`` codes (Kepler is 2), named as nvidia-smi's ``product_architecture`` names them.
_ARCHS = ("Kepler", "Maxwell", "Pascal", "Volta", "Turing", "Ampere", "Ada Lovelace", "Hopper", "Blackwell")
NVML_ARCHITECTURES = dict(enumerate(_ARCHS, start=2))

#: NVML errors on init that mean "no NVIDIA driver here", as opposed to a driver that is present but broken.
_NVML_ABSENT = frozenset({"NVMLError_LibraryNotFound", "NVMLError_DriverNotLoaded", "NVMLError_NotFound"})
#: Placeholders nvidia-smi writes where a value does not apply or cannot be read.
_XML_PLACEHOLDERS = frozenset({"n/a", "[n/a]", "not supported", "[not supported]", "unknown error", "none"})
_XML_SIZE = re.compile(r"^(\d+)\s*(KiB|MiB|GiB)$")
_SIZE_UNITS = {"KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30}
_NVRM_VERSION = re.compile(r"NVRM version:.*?\s(\d+\.\d+(?:\.\d+)?)(?:\s|$)")
_PROC_MODEL = re.compile(r"^Model:\s*(.*?)\s*$", re.MULTILINE)


class GpuSourceError(Exception):
    """One GPU source could not be read; the collector records the reason and tries the next source."""

    def __init__(self, reason: str, *, absent: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        # True when the source is simply not there (no driver, no binary), rather than there but failing.
        self.absent = absent


class NvidiaSmiXmlError(GpuSourceError):
    """``nvidia-smi -q -x`` printed something that is not its XML report."""


# --- NVML -------------------------------------------------------------------------------------------------------


def read_nvml(nvml: Any) -> GpuInfo:
    """Read the section through ``nvml``, a module with the pynvml API; shut NVML down again in every case.

    A failing init (or device count) raises ``GpuSourceError``; a field NVML cannot give is left empty.
    """
    nvml_error = nvml.NVMLError
    try:
        nvml.nvmlInit()
    except nvml_error as e:
        raise GpuSourceError(_text(str(e)) or type(e).__name__, absent=type(e).__name__ in _NVML_ABSENT) from e
    try:
        try:
            count = int(nvml.nvmlDeviceGetCount())
        except nvml_error as e:
            raise GpuSourceError(f"device count: {_text(str(e))}") from e
        cuda = _nvml_call(nvml, "nvmlSystemGetCudaDriverVersion_v2")
        if cuda is None:
            cuda = _nvml_call(nvml, "nvmlSystemGetCudaDriverVersion")
        return GpuInfo(
            driver_version=_text(_nvml_call(nvml, "nvmlSystemGetDriverVersion")),
            cuda_driver_version=_cuda_version(cuda),
            devices=tuple(_nvml_device(nvml, i) for i in range(count)),
        )
    finally:
        with suppress(nvml_error):
            nvml.nvmlShutdown()


def _nvml_device(nvml: Any, index: int) -> GpuDevice:
    handle = _nvml_call(nvml, "nvmlDeviceGetHandleByIndex", index)
    if handle is None:
        return GpuDevice(index=index, name="")
    capability = _nvml_call(nvml, "nvmlDeviceGetCudaComputeCapability", handle)
    memory = _nvml_call(nvml, "nvmlDeviceGetMemoryInfo", handle)
    architecture = _nvml_call(nvml, "nvmlDeviceGetArchitecture", handle)
    return GpuDevice(
        index=index,
        name=_text(_nvml_call(nvml, "nvmlDeviceGetName", handle)),
        architecture=NVML_ARCHITECTURES.get(architecture, "") if isinstance(architecture, int) else "",
        compute_capability=f"{capability[0]}.{capability[1]}" if capability is not None else "",
        memory_total_bytes=int(memory.total) if memory is not None else 0,
        mig_mode=_enabled(_current(_nvml_call(nvml, "nvmlDeviceGetMigMode", handle))),
        ecc=_enabled(_current(_nvml_call(nvml, "nvmlDeviceGetEccMode", handle))),
        persistence=_enabled(_nvml_call(nvml, "nvmlDeviceGetPersistenceMode", handle)),
    )


def _nvml_call(nvml: Any, function: str, *args: Any) -> Any:
    """``nvml.function(*args)``, or None when this pynvml lacks the function or NVML cannot answer."""
    fn = getattr(nvml, function, None)
    if fn is None:
        return None
    try:
        return fn(*args)
    except nvml.NVMLError:
        return None


def _cuda_version(value: Any) -> str:
    """NVML's integer CUDA version, ``13000`` -> ``13.0``, ``12020`` -> ``12.2``."""
    if not isinstance(value, int) or value <= 0:
        return ""
    return f"{value // 1000}.{value % 1000 // 10}"


def _current(pair: Any) -> Any:
    """The current half of NVML's ``[current, pending]`` answers."""
    return pair[0] if isinstance(pair, (list, tuple)) and pair else None


def _enabled(value: Any) -> str:
    # NVML_FEATURE_ENABLED and NVML_DEVICE_MIG_ENABLE are both 1, their "disabled" values 0.
    return {1: "Enabled", 0: "Disabled"}.get(value, "") if isinstance(value, int) else ""


def _text(value: Any) -> str:
    """A str from pynvml, which returns bytes in older releases."""
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    return value.strip() if isinstance(value, str) else ""


# --- nvidia-smi -------------------------------------------------------------------------------------------------


def run_nvidia_smi(timeout: float = NVIDIA_SMI_TIMEOUT_S) -> str:
    """Run ``nvidia-smi -q -x`` and return what it prints.

    Raise ``FileNotFoundError`` when it is not on PATH, ``RunError`` when it cannot run or does not finish in
    ``timeout`` seconds, and ``subprocess.CalledProcessError`` when it exits with a failure.
    """
    if shutil.which("nvidia-smi") is None:
        raise FileNotFoundError(errno.ENOENT, "not on PATH", "nvidia-smi")
    args = ["nvidia-smi", "-q", "-x"]
    done = _subprocess.run(args, timeout=timeout)
    if done.returncode != 0:
        raise subprocess.CalledProcessError(done.returncode, args, done.stdout, done.stderr)
    return done.stdout


def parse_nvidia_smi_xml(text: str) -> GpuInfo:
    """Parse the XML report of ``nvidia-smi -q -x``; raise ``NvidiaSmiXmlError`` when it is not one."""
    if "<!ENTITY" in text:
        # nvidia-smi never declares entities; refusing them keeps entity expansion out of the parser.
        raise NvidiaSmiXmlError("entity declarations in XML refused")
    try:
        root = ET.fromstring(text)
    except ET.ParseError as e:
        raise NvidiaSmiXmlError(f"malformed XML ({e})") from e
    if root.tag != "nvidia_smi_log":
        raise NvidiaSmiXmlError(f"unexpected XML root <{root.tag}>")
    return GpuInfo(
        driver_version=_xml_text(root, "driver_version"),
        cuda_driver_version=_xml_text(root, "cuda_version"),
        # nvidia-smi lists devices in index order and prints no index of its own (minor_number is not one).
        devices=tuple(_xml_device(i, gpu) for i, gpu in enumerate(root.findall("gpu"))),
    )


def _xml_device(index: int, gpu: ET.Element) -> GpuDevice:
    return GpuDevice(
        index=index,
        name=_xml_text(gpu, "product_name"),
        architecture=_xml_text(gpu, "product_architecture"),
        # The v13 report (driver 580) has no compute capability; read it only where a driver writes one.
        compute_capability=_xml_text(gpu, "compute_cap"),
        memory_total_bytes=_xml_size(_xml_text(gpu, "fb_memory_usage/total")),
        mig_mode=_xml_text(gpu, "mig_mode/current_mig"),
        ecc=_xml_text(gpu, "ecc_mode/current_ecc"),
        persistence=_xml_text(gpu, "persistence_mode"),
    )


def _xml_text(node: ET.Element, path: str) -> str:
    value = (node.findtext(path) or "").strip()
    return "" if value.lower() in _XML_PLACEHOLDERS else value


def _xml_size(value: str) -> int:
    match = _XML_SIZE.match(value)
    return int(match.group(1)) * _SIZE_UNITS[match.group(2)] if match else 0


def _describe_run_failure(exc: Exception) -> GpuSourceError:
    if isinstance(exc, FileNotFoundError):
        return GpuSourceError("not on PATH", absent=True)
    if isinstance(exc, RunError):
        return GpuSourceError(str(exc).replace("nvidia-smi: ", "", 1))
    if isinstance(exc, subprocess.TimeoutExpired):
        return GpuSourceError(f"timed out after {exc.timeout:g} s")
    if isinstance(exc, subprocess.CalledProcessError):
        said = next(
            (line.strip() for line in f"{exc.stdout or ''}\n{exc.stderr or ''}".splitlines() if line.strip()), ""
        )
        # With a driver but no device nvidia-smi says so and exits with status 6.
        absent = "No devices were found" in said
        return GpuSourceError(f"exit status {exc.returncode}" + (f": {said[:100]}" if said else ""), absent=absent)
    if isinstance(exc, OSError):
        return GpuSourceError(exc.strerror or str(exc))
    return GpuSourceError(str(exc) or type(exc).__name__)


# --- /proc/driver/nvidia ----------------------------------------------------------------------------------------


def parse_proc_driver_nvidia(version_text: str, information_texts: Sequence[str]) -> GpuInfo:
    """Parse /proc/driver/nvidia/version and each ``gpus/*/information``, given in bus order.

    These files name the driver version and each device's model; everything else they hold is volatile or an
    identifier, and the CUDA version, architecture and memory are not there at all.
    """
    version = _NVRM_VERSION.search(version_text)
    models = [_PROC_MODEL.search(text) for text in information_texts]
    return GpuInfo(
        driver_version=version.group(1) if version else "",
        devices=tuple(GpuDevice(index=i, name=m.group(1) if m else "") for i, m in enumerate(models)),
    )


def read_proc_driver_nvidia(proc_root: str = "/proc", tree: Optional[Tree] = None) -> GpuInfo:
    """Read and parse ``{proc_root}/driver/nvidia`` (a path of ``tree``, by default this machine's); raise
    ``GpuSourceError`` when it is absent or unreadable."""
    tree = tree or Tree("/")
    base = posixpath.join(proc_root, "driver", "nvidia")
    try:
        version_text = tree.read_text(posixpath.join(base, "version"), "small")
    except FileNotFoundError as e:
        raise GpuSourceError("not present", absent=True) from e
    except OSError as e:
        raise GpuSourceError(e.strerror or str(e)) from e
    try:
        buses = tree.listdir(posixpath.join(base, "gpus"))
    except FileNotFoundError:
        buses = []
    except OSError as e:
        raise GpuSourceError(f"gpus: {e.strerror or e}") from e
    return parse_proc_driver_nvidia(
        version_text, [_read_or_empty(tree, posixpath.join(base, "gpus", b, "information")) for b in buses]
    )


def _read_or_empty(tree: Tree, path: str) -> str:
    # An unreadable information file still shows that the device exists.
    try:
        return tree.read_text(path, "small")
    except OSError:
        return ""


# --- the collector ----------------------------------------------------------------------------------------------


class GpuCollector(Collector[GpuInfo]):
    """Reads the ``gpu`` section from NVML, else ``nvidia-smi -q -x``, else /proc/driver/nvidia."""

    section = "gpu"

    def __init__(
        self,
        *,
        nvml: Any = None,
        run: Optional[Callable[[], str]] = None,
        proc_root: str = "/proc",
        root: str = "/",
    ) -> None:
        """``proc_root`` is where /proc/driver/nvidia is read, a path inside ``root`` (another process's root,
        ``/proc/PID/root``: read as that process sees it, never through a link onto this machine)."""
        self._nvml = nvml  # a module with the pynvml API; None imports pynvml when collect() runs
        self._run = run if run is not None else run_nvidia_smi
        self._proc_root = proc_root
        self._root = root

    def _from_proc(self) -> GpuInfo:
        with Tree(self._root) as tree:
            return read_proc_driver_nvidia(self._proc_root, tree)

    def collect(self) -> Collected[GpuInfo]:
        """Try each source once, in order; the first that reads wins."""
        readers: Tuple[Tuple[str, Callable[[], GpuInfo]], ...] = (
            ("NVML", self._from_nvml),
            ("nvidia-smi", self._from_nvidia_smi),
            ("/proc/driver/nvidia", self._from_proc),
        )
        failures: List[Tuple[str, GpuSourceError]] = []
        for label, read in readers:
            try:
                info = read()
            except GpuSourceError as e:
                failures.append((label, e))
                continue
            after = f" (after {_joined(failures)})" if failures else ""
            if not info.devices:
                return Collected(info, Source(NONE_FOUND, f"{label}: no GPUs{after}"))
            return Collected(info, Source(OK, f"{label}{after}"))
        if all(e.absent for _, e in failures):
            return Collected(GpuInfo(), Source(NONE_FOUND, f"no NVIDIA GPU: {_joined(failures)}"))
        return Collected(GpuInfo(), Source(UNAVAILABLE, _joined(failures)))

    def _from_nvml(self) -> GpuInfo:
        nvml = self._nvml
        if nvml is None:
            try:
                import pynvml
            except ImportError as e:
                raise GpuSourceError("pynvml not installed", absent=True) from e
            nvml = pynvml
        return read_nvml(nvml)

    def _from_nvidia_smi(self) -> GpuInfo:
        try:
            text = self._run()
        except (OSError, subprocess.SubprocessError, RunError) as e:
            raise _describe_run_failure(e) from e
        return parse_nvidia_smi_xml(text)


def _joined(failures: Sequence[Tuple[str, GpuSourceError]]) -> str:
    return "; ".join(f"{label}: {e.reason}" for label, e in failures)
