"""What an environment variable's value means to the program that reads it.

Pure: each function takes values (and what the fingerprint says about the machine) and returns what the program
sees, so that the environment rules compare meanings, not spellings. An empty value is not "unset" where the
reader says so (``CUDA_VISIBLE_DEVICES=""`` hides every GPU), and where the reader treats it as unset it is unset
(``LC_ALL=""``, ``OMP_NUM_THREADS=""``).
"""

from __future__ import annotations

import dataclasses
import re
import shlex
from dataclasses import dataclass
from typing import Dict, FrozenSet, List, Mapping, Optional, Tuple

from packaging.version import InvalidVersion, Version

from envcheck.model import NONE_FOUND, OK, Fingerprint

# --- devices ----------------------------------------------------------------------------------------------------

#: ``NVIDIA_VISIBLE_DEVICES`` values with which the NVIDIA Container Toolkit exposes no GPU: ``none`` (driver
#: mounted, no device), ``void`` and empty (behaves like runc). Source: NVIDIA Container Toolkit, "Specialized
#: Configurations with Docker", GPU Enumeration.
NVIDIA_HIDE_ALL = frozenset(["", "none", "void"])
#: List variables a CUDA or HIP runtime reads as "these devices, in this order". CUDA C++ Programming Guide,
#: "CUDA Environment Variables": integer indices or ``GPU-``/``MIG-`` UUIDs, comma separated; only the devices
#: before the first invalid entry are visible (``0,2,-1,1`` shows 0 and 2), so an empty value, ``-1``, ``none``,
#: ``all`` or Slurm's ``NoDevFiles`` show none. HIP documents the same for ``HIP_VISIBLE_DEVICES`` (and honours
#: ``CUDA_VISIBLE_DEVICES`` on AMD GPUs); ROCr applies ``ROCR_VISIBLE_DEVICES`` first, then HIP indexes into
#: what it left.
CUDA_LISTS = ("CUDA_VISIBLE_DEVICES",)
ROCM_LISTS = ("ROCR_VISIBLE_DEVICES", "HIP_VISIBLE_DEVICES", "CUDA_VISIBLE_DEVICES")
_LIST_HIDES = "an empty value, -1, a repeated device or an entry naming no device makes the list name none"
#: Why a device variable's value leaves no GPU, for the message.
HIDES_ALL: Dict[str, str] = {
    "NVIDIA_VISIBLE_DEVICES": "with none, void or an empty value the NVIDIA container runtime exposes no GPU",
    "CUDA_VISIBLE_DEVICES": _LIST_HIDES,
    "HIP_VISIBLE_DEVICES": _LIST_HIDES,
    "ROCR_VISIBLE_DEVICES": _LIST_HIDES,
}
#: Read by AMD's runtimes only: on NVIDIA GPUs they change nothing.
AMD_ONLY = frozenset(["ROCR_VISIBLE_DEVICES", "HIP_VISIBLE_DEVICES"])
_INDEX = re.compile(r"[0-9]+")
_UUID_PREFIXES = ("GPU-", "MIG-")


def is_uuid(device: str) -> bool:
    """Whether a visible device is named by UUID (``GPU-...``, ``MIG-...``) rather than by index."""
    return device.startswith(_UUID_PREFIXES)


def _strtoul(entry: str) -> int:
    """The number an entry starts with, as CUDA reads it (``strtoul``: ``1gpu`` is 1), or -1 for none."""
    m = re.match(r"[+]?([0-9]+)", entry)
    return int(m.group(1)) if m else -1


def visible_list(value: str, count: Optional[int]) -> Tuple[str, ...]:
    """The devices a CUDA/HIP device list makes visible, in order, as CUDA reads it (and PyTorch's
    ``torch.cuda._parse_visible_devices`` mirrors): entries split on commas; a list that starts with ``GPU-`` or
    ``MIG-`` is UUIDs up to the first entry without that prefix; otherwise each entry is the number it starts with
    (``01`` is 1, ``1gpu`` is 1) up to the first that is negative, not a number, or not one of the ``count``
    devices (any, when ``count`` is None). A device named twice leaves none visible."""
    text = value.strip()
    prefix = next((p for p in _UUID_PREFIXES if text.startswith(p)), "")
    seen: List[str] = []
    for token in text.split(","):
        entry = token.strip()
        if prefix:
            if not entry.startswith(prefix):
                break
            key = entry
        else:
            index = _strtoul(entry)
            if index < 0 or (count is not None and index >= count):
                break
            key = str(index)
        if key in seen:
            return ()
        seen.append(key)
    return tuple(seen)


@dataclass(frozen=True)
class Visible:
    """The GPUs a program sees through the device variables."""

    devices: Optional[Tuple[str, ...]]
    """In order; None when no variable narrows them and the machine's count is unknown."""
    culprit: str = ""
    """The variable that left none visible, when one did."""

    @property
    def count(self) -> Optional[int]:
        return None if self.devices is None else len(self.devices)


def is_rocm(fp: Fingerprint) -> bool:
    """Whether the installed packages are ROCm builds (``+rocm6.2`` local labels, ROCm's own distributions)."""
    return any("+rocm" in p.version or p.name.startswith(("rocm", "pytorch-triton-rocm")) for p in fp.packages)


def records_gpus(fp: Fingerprint) -> bool:
    """Whether the snapshot's process had GPUs: devices found; else, where the GPU section could not be read
    (or the GPUs are AMD's, which the probe does not list), a CUDA or ROCm build of torch. A section that looked
    and found none is a CPU machine, whatever CUDA libraries the wheels brought along."""
    if fp.gpu.devices or is_rocm(fp):
        return True
    if fp.source("gpu").status in (OK, NONE_FOUND):
        return False
    if any(b.package == "torch" and b.cuda for b in fp.native.builds):
        return True
    if any(c.package == "torch" for c in fp.gpu.cuda_shipped):
        return True
    return any(p.name == "torch" and "+cu" in p.version for p in fp.packages)


def visible(variables: Mapping[str, str], fp: Fingerprint) -> Visible:
    """The GPUs the program sees, given the device variables and the devices the snapshot found."""
    count: Optional[int] = len(fp.gpu.devices) if fp.gpu.devices else None
    current: Optional[Tuple[str, ...]] = None if count is None else tuple(str(i) for i in range(count))
    nvidia = variables.get("NVIDIA_VISIBLE_DEVICES")
    if nvidia is not None and nvidia.strip() in NVIDIA_HIDE_ALL:
        return Visible((), "NVIDIA_VISIBLE_DEVICES")
    for name in ROCM_LISTS if is_rocm(fp) else CUDA_LISTS:
        value = variables.get(name)
        if value is None:
            continue
        current = visible_list(value, None if current is None else len(current))
        if not current:
            return Visible((), name)
    return Visible(current)


def nvidia_listed(value: Optional[str], count: Optional[int]) -> Optional[int]:
    """How many GPUs an ``NVIDIA_VISIBLE_DEVICES`` value exposes; None for all (or unset) when ``count`` is
    unknown. The container runtime applies it before the program starts, so which GPUs it names is the node's
    allocation (a UUID per node), already reflected in the devices the snapshot found."""
    if value is None or value.strip() == "all":
        return count
    if value.strip() in NVIDIA_HIDE_ALL:
        return 0
    return len([v for v in value.split(",") if v.strip()])


# --- timezone ---------------------------------------------------------------------------------------------------

#: Zone names that are UTC by another name (tzdata ``backward`` and ``etcetera``).
_UTC_ALIASES = ("UTC", "UCT", "Universal", "Zulu", "GMT", "GMT0", "GMT+0", "GMT-0", "Greenwich")
UTC_NAMES = frozenset([*_UTC_ALIASES, *(f"Etc/{name}" for name in _UTC_ALIASES)])
#: tzdata ``backward`` links in common use: old name -> the zone it links to.
ZONE_LINKS: Dict[str, str] = {
    "US/Eastern": "America/New_York",
    "US/Central": "America/Chicago",
    "US/Mountain": "America/Denver",
    "US/Pacific": "America/Los_Angeles",
    "US/Arizona": "America/Phoenix",
    "US/Alaska": "America/Anchorage",
    "US/Hawaii": "Pacific/Honolulu",
    "Canada/Eastern": "America/Toronto",
    "Canada/Pacific": "America/Vancouver",
    "GB": "Europe/London",
    "Europe/Belfast": "Europe/London",
    "Europe/Kiev": "Europe/Kyiv",
    "Asia/Calcutta": "Asia/Kolkata",
    "Asia/Saigon": "Asia/Ho_Chi_Minh",
    "Asia/Katmandu": "Asia/Kathmandu",
    "Asia/Rangoon": "Asia/Yangon",
    "PRC": "Asia/Shanghai",
    "ROC": "Asia/Taipei",
    "ROK": "Asia/Seoul",
    "Japan": "Asia/Tokyo",
    "Singapore": "Asia/Singapore",
    "Hongkong": "Asia/Hong_Kong",
    "Israel": "Asia/Jerusalem",
    "Turkey": "Europe/Istanbul",
    "Egypt": "Africa/Cairo",
    "Iran": "Asia/Tehran",
    "Poland": "Europe/Warsaw",
    "Portugal": "Europe/Lisbon",
    "Eire": "Europe/Dublin",
    "NZ": "Pacific/Auckland",
    "Australia/ACT": "Australia/Sydney",
    "Australia/NSW": "Australia/Sydney",
    "Brazil/East": "America/Sao_Paulo",
    "America/Buenos_Aires": "America/Argentina/Buenos_Aires",
    "America/Indianapolis": "America/Indiana/Indianapolis",
}
_ZONEINFO = re.compile(r"^(?:/usr/share/zoneinfo|/usr/lib/zoneinfo|/usr/share/lib/zoneinfo)/(?:posix/)?")
_ETC_GMT = re.compile(r"^Etc/GMT([+-])([0-9]{1,2})$")
#: A POSIX TZ string without a daylight-saving part: ``UTC0``, ``<+03>-3``, ``EST5``.
_POSIX_FIXED = re.compile(r"^(?:[A-Za-z]{3,}|<[A-Za-z0-9+-]{3,}>)([+-]?)([0-9]{1,2})(?::([0-9]{1,2}))?$")


def effective_zone(tz: Optional[str], recorded: str) -> str:
    """The zone the C library uses, in one spelling per meaning: ``TZ`` when set (glibc reads an empty TZ as UTC
    and drops a leading ``:``), else the zone the snapshot recorded from ``/etc/localtime``. UTC aliases and
    fixed offsets become ``UTC`` / ``UTC+HH:MM``; old names become the zone they link to."""
    name = recorded if tz is None else tz.strip().lstrip(":")
    if tz is not None and not name:
        return "UTC"
    name = _ZONEINFO.sub("", name)
    if name in UTC_NAMES:
        return "UTC"
    west: Optional[int] = None
    m = _ETC_GMT.match(name)
    if m:  # Etc/GMT+5 is five hours *behind* UTC, as in POSIX
        west = int(m.group(2)) * 60 * (1 if m.group(1) == "+" else -1)
    m = _POSIX_FIXED.match(name) if west is None else None
    if m:
        west = (int(m.group(2)) * 60 + int(m.group(3) or 0)) * (-1 if m.group(1) == "-" else 1)
    if west is not None:
        if west == 0:
            return "UTC"
        east = -west
        return f"UTC{'+' if east > 0 else '-'}{abs(east) // 60:02d}:{abs(east) % 60:02d}"
    return ZONE_LINKS.get(name, name)


# --- locale -----------------------------------------------------------------------------------------------------

#: The categories a program's locale has; each falls back to ``LANG`` (POSIX, "Internationalization Variables").
LOCALE_CATEGORIES = (
    "LC_CTYPE",
    "LC_NUMERIC",
    "LC_TIME",
    "LC_COLLATE",
    "LC_MONETARY",
    "LC_MESSAGES",
    "LC_PAPER",
    "LC_NAME",
    "LC_ADDRESS",
    "LC_TELEPHONE",
    "LC_MEASUREMENT",
    "LC_IDENTIFICATION",
)
_LOCALE = re.compile(r"^(?P<name>[^.@]*)(?:\.(?P<codeset>[^@]*))?(?:@(?P<modifier>.*))?$")


def normalize_codeset(codeset: str) -> str:
    """glibc's ``_nl_normalize_codeset``: letters lowered and digits kept, the rest dropped; all digits get an
    ``iso`` prefix (``UTF-8``, ``utf8`` -> ``utf8``; ``8859-1`` -> ``iso88591``)."""
    kept = "".join(c.lower() for c in codeset if c.isalnum())
    return "iso" + kept if kept.isdigit() else kept


def normalize_locale(value: str) -> str:
    """One spelling per locale: the codeset normalised as glibc does, ``POSIX`` as ``C``; empty stays empty."""
    value = value.strip()
    m = _LOCALE.match(value)
    if not value or m is None:
        return value
    name = "C" if m.group("name") == "POSIX" else m.group("name")
    codeset = m.group("codeset")
    out = name if codeset is None else f"{name}.{normalize_codeset(codeset)}"
    return out if m.group("modifier") is None else f"{out}@{m.group('modifier')}"


def effective_locale(variables: Mapping[str, str]) -> Tuple[str, ...]:
    """Each category's locale as ``setlocale(LC_ALL, "")`` resolves it: ``LC_ALL``, else ``LC_<category>``,
    else ``LANG``, else ``C``; an empty value counts as unset (POSIX)."""

    def first(*names: str) -> str:
        for name in names:
            value = normalize_locale(variables.get(name, ""))
            if value:
                return value
        return "C"

    return tuple(first("LC_ALL", category, "LANG") for category in LOCALE_CATEGORIES)


def locale_variable(name: str) -> bool:
    """Whether a variable takes part in the locale resolution (``LANGUAGE`` is gettext's, compared apart)."""
    return name in ("LANG", "LC_ALL") or name in LOCALE_CATEGORIES


# --- threads ----------------------------------------------------------------------------------------------------

#: Thread-count variables whose library default is known: what the library uses when the variable is unset, empty,
#: 0 or not a number (after the variables in ``THREAD_FALLBACKS``, read first). ``affinity``: the CPUs the process
#: may run on; ``physical``: its physical cores; ``numexpr`` and ``tf-interop``: see ``_default_threads``; a
#: number: that many. PyTorch reads no thread variable of its own: ``at::intraop_default_num_threads`` takes
#: OMP_NUM_THREADS, then MKL_NUM_THREADS, else the physical cores, and the inter-op pool reads none
#: (https://github.com/pytorch/pytorch/blob/main/aten/src/ATen/ParallelCommon.cpp).
THREAD_DEFAULTS: Dict[str, str] = {
    # libgomp's omp_get_num_procs (https://gcc.gnu.org/onlinedocs/libgomp/OMP_005fNUM_005fTHREADS.html)
    "OMP_NUM_THREADS": "affinity",
    # OpenBLAS's get_num_procs (https://github.com/OpenMathLib/OpenBLAS/blob/develop/driver/others/memory.c)
    "OPENBLAS_NUM_THREADS": "affinity",
    "GOTO_NUM_THREADS": "affinity",
    # NUMBA_DEFAULT_NUM_THREADS (https://numba.readthedocs.io/en/stable/reference/envvars.html#envvar-NUMBA_NUM_THREADS)
    "NUMBA_NUM_THREADS": "affinity",
    # mkl_get_max_threads: MKL_DYNAMIC (on by default) scales down to the physical cores
    # (https://www.intel.com/content/www/us/en/docs/onemkl/developer-guide-linux/2026-0/mkl-dynamic.html)
    "MKL_NUM_THREADS": "physical",
    # BLIS is single-threaded unless told otherwise (https://github.com/flame/blis/blob/master/docs/Multithreading.md)
    "BLIS_NUM_THREADS": "1",
    # numexpr's _init_num_threads: NUMEXPR_NUM_THREADS, else OMP_NUM_THREADS, else NUMEXPR_MAX_THREADS when set,
    # else the CPUs online capped at 8 (2.7.0) or 16 (2.10.1) (https://github.com/pydata/numexpr/blob/master/
    # numexpr/utils.py; the caps: https://github.com/pydata/numexpr/blob/master/RELEASE_NOTES.rst)
    "NUMEXPR_NUM_THREADS": "numexpr",
    # the size of numexpr's pool; 64 unless set (https://numexpr.readthedocs.io/en/latest/user_guide.html
    # #threadpool-configuration; interpreter.cpp reads it with strtol)
    "NUMEXPR_MAX_THREADS": "64",
    # TensorFlow: unset, 0 or not a number (safe_strto32) is port::MaxParallelism() = NumSchedulableCPUs(), the
    # sched_getaffinity count (https://github.com/tensorflow/tensorflow/blob/master/tensorflow/core/common_runtime/
    # process_util.cc, .../common_runtime/local_device.cc; https://github.com/google/tsl/blob/main/tsl/platform/
    # default/port.cc)
    "TF_NUM_INTRAOP_THREADS": "affinity",
    "TF_NUM_INTEROP_THREADS": "tf-interop",
    # DeePMD-kit's names, not TensorFlow's: 0 (its default) hands the choice to TensorFlow's session options, so
    # TF_NUM_*_THREADS, else TensorFlow's default (https://docs.deepmodeling.com/projects/deepmd/en/master/env.html)
    "TF_INTRA_OP_PARALLELISM_THREADS": "affinity",
    "TF_INTER_OP_PARALLELISM_THREADS": "tf-interop",
}
#: Variables a library reads, in order, before its default when the variable is unset (sources as above).
THREAD_FALLBACKS: Dict[str, Tuple[str, ...]] = {
    "NUMEXPR_NUM_THREADS": ("OMP_NUM_THREADS", "NUMEXPR_MAX_THREADS"),
    "TF_INTRA_OP_PARALLELISM_THREADS": ("TF_NUM_INTRAOP_THREADS",),
    "TF_INTER_OP_PARALLELISM_THREADS": ("TF_NUM_INTEROP_THREADS",),
}
#: numexpr's cap on its default thread count, by the first release that applied it (2.6.9 applied none).
_NUMEXPR_CAPS = ((Version("2.10.1"), 16), (Version("2.7.0"), 8))


def _positive(value: Optional[str]) -> Optional[int]:
    text = "" if value is None else value.strip()
    return int(text) if _INDEX.fullmatch(text) and int(text) > 0 else None


def _numexpr_cap(fp: Fingerprint) -> Optional[int]:
    pkg = fp.package("numexpr")
    if pkg is None:
        return None
    try:
        version = Version(pkg.version)
    except InvalidVersion:
        return None
    return next((cap for first, cap in _NUMEXPR_CAPS if version >= first), None)


def _default_threads(name: str, fp: Fingerprint) -> Optional[int]:
    for fallback in THREAD_FALLBACKS.get(name, ()):
        found = _positive(fp.env.variables.get(fallback))
        if found is not None:
            return found
    kind = THREAD_DEFAULTS.get(name)
    cpu = fp.cpu
    if kind is None:
        return None
    if kind == "affinity":
        return cpu.affinity_count or cpu.logical_cpus or None
    if kind == "physical":
        return cpu.physical_cores or None
    if kind == "numexpr":  # os.sysconf("SC_NPROCESSORS_ONLN"): the CPUs online, whatever the affinity
        cap = _numexpr_cap(fp)
        return min(cpu.logical_cpus, cap) if cap is not None and cpu.logical_cpus else None
    if kind == "tf-interop":
        # Intel's oneDNN/OpenMP builds (ENABLE_MKL with ENABLE_ONEDNN_OPENMP) size the inter-op pool from the
        # OpenMP threads instead: process_util.cc NumInterOpThreadsFromSessionOptions
        if fp.package("intel-tensorflow") is not None:
            return None
        return cpu.affinity_count or cpu.logical_cpus or None
    return int(kind)


def effective_threads(name: str, value: Optional[str], fp: Fingerprint) -> str:
    """What a thread-count variable means in environment ``fp``: the number it sets (``04`` is 4; for OpenMP's
    nested list ``4,2`` the list, spaces dropped), or, when unset, empty or not a number, what the library reads
    next (``THREAD_FALLBACKS``) or its default on this CPU; the value as written when the default is unknown."""
    text = "" if value is None else value.strip().replace(" ", "")
    if _INDEX.fullmatch(text) and int(text) > 0:
        return str(int(text))
    if re.fullmatch(r"[0-9]+(?:,[0-9]+)+", text):
        return ",".join(str(int(t)) for t in text.split(","))
    default = _default_threads(name, fp)
    return text if default is None else str(default)


def thread_meaning(name: str, value: Optional[str], fp: Fingerprint) -> Tuple[str, ...]:
    """What a thread variable changes: its own count and, for numexpr's pool size, the thread count numexpr starts
    with when nothing else sets it (``NUMEXPR_MAX_THREADS=64`` also starts 64 threads, not the capped default)."""
    if name != "NUMEXPR_MAX_THREADS":
        return (effective_threads(name, value, fp),)
    variables = dict(fp.env.variables)
    if value is None:
        variables.pop(name, None)
    else:
        variables[name] = value
    side = dataclasses.replace(fp, env=dataclasses.replace(fp.env, variables=variables))
    count = effective_threads("NUMEXPR_NUM_THREADS", variables.get("NUMEXPR_NUM_THREADS"), side)
    return (effective_threads(name, value, fp), count)


# --- JAX's platforms --------------------------------------------------------------------------------------------

#: JAX_PLATFORMS: the platforms JAX initialises, comma separated, names as written (``jax_platforms.split(",")``;
#: ``gpu`` stands for ``cuda`` and ``rocm``); the first is where a computation that names no device runs. Empty or
#: unset: every platform JAX has, a GPU first when there is one (jax/_src/xla_bridge.py ``backends``,
#: https://github.com/jax-ml/jax/blob/main/jax/_src/xla_bridge.py). Of the GPU-hiding variables the probe records,
#: this is the only one that hides the GPU from one framework: TensorFlow and PyTorch document no variable that
#: does (they honour CUDA_VISIBLE_DEVICES), and NVIDIA_VISIBLE_DEVICES=void/none hides it from every program.
JAX_GPU_PLATFORMS = frozenset(["cuda", "rocm", "gpu"])


def jax_first_platform(value: Optional[str]) -> str:
    """The platform JAX computes on by default: the first ``JAX_PLATFORMS`` names, or ``auto`` when it names none
    (unset or empty)."""
    return value.split(",")[0] if value else "auto"


def jax_on_gpu(value: Optional[str]) -> bool:
    """Whether JAX computes on a GPU by default, on a machine with one, under this ``JAX_PLATFORMS``."""
    first = jax_first_platform(value)
    return first == "auto" or first in JAX_GPU_PLATFORMS


# --- which library reads a variable -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Reader:
    """A library that reads a family of variables, and how to tell it is there."""

    library: str
    """For the message: ``TensorFlow``, ``Intel OpenMP``."""
    distributions: Tuple[str, ...] = ()
    """Canonical names; a name ending in ``-`` matches every distribution it starts (``tensorflow-``)."""
    native: FrozenSet[Tuple[str, str]] = frozenset()
    """(kind, vendor) of native libraries, shipped or loaded, that read the variables."""


_TF = Reader("TensorFlow", ("tensorflow", "tensorflow-", "tf-nightly", "intel-tensorflow"))
_JAX = Reader("JAX", ("jax", "jaxlib"))
_DEEPMD = Reader("DeePMD-kit", ("deepmd-kit", "deepmd-kit-"))
_MKL = Reader("MKL", ("mkl", "intel-openmp"), frozenset([("blas", "mkl"), ("lapack", "mkl")]))
#: Variable name or prefix (ending in ``_``) -> the library that reads it. The longest match wins.
READERS: Dict[str, Reader] = {
    "TF_": _TF,
    "TF_USE_LEGACY_KERAS": Reader("tf-keras / TensorFlow", ("tf-keras", "tensorflow", "tensorflow-")),
    # DeePMD-kit's, despite the prefix: TensorFlow reads TF_NUM_INTRAOP_THREADS / TF_NUM_INTEROP_THREADS
    "TF_INTRA_OP_PARALLELISM_THREADS": _DEEPMD,
    "TF_INTER_OP_PARALLELISM_THREADS": _DEEPMD,
    # LLVM's libomp descends from Intel's and reads the same KMP_* variables.
    "KMP_": Reader("Intel/LLVM OpenMP", ("intel-openmp",), frozenset([("openmp", "intel"), ("openmp", "llvm")])),
    "MKL_": _MKL,
    "XLA_FLAGS": Reader(
        "XLA (JAX, TensorFlow, torch_xla)", (*_JAX.distributions, *_TF.distributions, "torch-xla")
    ),
    "JAX_": _JAX,
    "NUMBA_": Reader("numba", ("numba",)),
    "NUMEXPR_": Reader("numexpr", ("numexpr",)),
    "OPENBLAS_": Reader("OpenBLAS", (), frozenset([("blas", "openblas"), ("lapack", "openblas")])),
    "GOTO_NUM_THREADS": Reader("OpenBLAS", (), frozenset([("blas", "openblas"), ("lapack", "openblas")])),
    "BLIS_": Reader("BLIS", ("blis",), frozenset([("blas", "blis")])),
    "TORCH_": Reader("PyTorch", ("torch",)),
    "PYTORCH_": Reader("PyTorch", ("torch",)),
    "ATEN_CPU_CAPABILITY": Reader("PyTorch", ("torch",)),
    "NPY_": Reader("numpy", ("numpy",)),
}


def reader(name: str) -> Optional[Reader]:
    """The library that reads variable ``name``, when the table knows it."""
    if name in READERS:
        return READERS[name]
    prefixes = [p for p in READERS if p.endswith("_") and name.startswith(p)]
    return READERS[max(prefixes, key=len)] if prefixes else None


def jax_installed(fp: Fingerprint) -> bool:
    """Whether JAX is in the environment (``jax`` or ``jaxlib``)."""
    return installed(_JAX, fp)


def installed(found: Reader, fp: Fingerprint) -> bool:
    """Whether the library is in the environment: one of its distributions, or one of its native libraries
    shipped or loaded."""
    for pkg in fp.packages:
        for d in found.distributions:
            if pkg.name == d or (d.endswith("-") and pkg.name.startswith(d)):
                return True
    return any((lib.kind, lib.vendor) in found.native for lib in (*fp.native.shipped, *fp.native.loaded))


# --- remedies ---------------------------------------------------------------------------------------------------


def fix(name: str, value: Optional[str]) -> str:
    """The shell command that restores a variable: ``unset X`` when the lockfile had none, else ``export X=...``
    quoted for a POSIX shell (an empty value stays set, and empty: for CUDA_VISIBLE_DEVICES that hides GPUs)."""
    if value is None:
        return f"unset {name}"
    return f"export {name}={shlex.quote(value)}"


def shown(value: Optional[str], limit: int = 60) -> str:
    """A value for a message: ``unset`` for a variable that is not set, the quoted value otherwise (so an empty
    value reads ``''``)."""
    if value is None:
        return "unset"
    return repr(value if len(value) <= limit else value[: limit - 3] + "...")
