"""The probe's output as one typed contract, and the pieces of reading that every producer of it shares.

Three producers fill ``ProbeOutput``: the probe itself (``envcheck.probe``, in-process or as source run by another
interpreter), the static reader of a filesystem tree (``envcheck.targets.rootfs``, for ``--root``, ``--pid``,
image archives and images without Python), and the targets that adjust what those return. ``envcheck.software``
consumes it. mypy checks both sides against these TypedDicts, so the producers cannot drift apart; JSON that comes
back from another process is checked against them at run time (``check_output``) before anything reads it.

Stdlib only and valid Python 3.8: this module is bundled into the probe's source (after tree.py, before probe.py)
that runs in other interpreters. ``check_output`` runs only in envcheck's own process.
"""

from __future__ import annotations

import re
import typing
from typing import Any, Callable, Dict, List, Mapping, Tuple, TypedDict, TypeVar

#: Section statuses a producer records (``envcheck.model`` names the rest).
OK = "ok"
UNAVAILABLE = "unavailable"


class SourceEntry(TypedDict):
    """Where one section came from: ``status`` (``ok``, ``unavailable``...) and how it was read, or why not."""

    status: str
    detail: str


class OsSection(TypedDict, total=False):
    """The ``os`` section (``model.OsInfo``). Empty when unreadable; a static read leaves out what a tree cannot
    tell (kernel release, page size, container), ``--pid`` adds them from /proc."""

    system: str
    release: str
    machine: str
    distro_id: str
    distro_version_id: str
    distro_name: str
    libc_family: str
    libc_version: str
    page_size: int
    container: str


class WheelTags(TypedDict):
    """The interpreter's most preferred wheel tag and its parts (``wheel_tags``)."""

    interpreter_tag: str
    abi_tag: str
    platform_tag: str
    best_tag: str


class PythonSection(TypedDict, total=False):
    """The ``python`` section (``model.PythonInfo``); empty when unreadable."""

    implementation: str
    version: str
    build: str
    compiler: str
    abiflags: str
    soabi: str
    cache_tag: str
    pointer_bits: int
    byteorder: str
    free_threaded: bool
    executable: str
    prefix: str
    base_prefix: str
    in_venv: bool
    markers: Dict[str, str]
    interpreter_tag: str
    abi_tag: str
    platform_tag: str
    best_tag: str


class DirectUrlEntry(TypedDict, total=False):
    """A direct_url.json reduced to its source (``model.DirectUrl``); empty fields are left out."""

    url: str
    kind: str
    vcs: str
    commit_id: str
    requested_revision: str
    archive_hash: str


class _PackageKeys(TypedDict):
    name: str
    version: str


class PackageEntry(_PackageKeys, total=False):
    """One installed distribution (``model.Package`` but ``tool``, which the snapshot decides)."""

    installer: str
    wheel_tags: List[str]
    requested: bool
    direct_url: DirectUrlEntry
    record_digest: str
    requires: List[str]
    shadowed: List[str]
    metadata_format: str
    editable_digest: str
    locations: List[str]
    modules: List[str]


class _NativeLibKeys(TypedDict):
    kind: str
    vendor: str
    path: str


class NativeLibEntry(_NativeLibKeys, total=False):
    """A BLAS, OpenMP or CUDA library the environment ships (``model.NativeLib`` but ``architecture``, known only
    for a loaded library)."""

    package: str
    version: str


class _BuildKeys(TypedDict):
    package: str
    source: str


class BuildEntry(_BuildKeys, total=False):
    """How numpy or torch was built, from its own files (``model.PackageBuild``)."""

    cuda: str
    simd_baseline: List[str]
    simd_dispatch: List[str]


class NativeSection(TypedDict, total=False):
    """The ``native`` section (``model.NativeInfo`` but ``loaded``, which only a process shows); empty when
    unreadable."""

    shipped: List[NativeLibEntry]
    builds: List[BuildEntry]


class EnvSelection(TypedDict):
    """The allow-listed variables that are set, and the secret-looking names left without their value."""

    variables: Dict[str, str]
    redacted: List[str]


class TimezoneEntry(TypedDict):
    """The effective timezone and the system's tzdata version."""

    timezone: str
    tzdata_version: str


class EnvSection(EnvSelection, TimezoneEntry):
    """The ``env`` section (``model.EnvInfo``)."""


class ProbeOutput(TypedDict):
    """Everything a producer reads, shaped like the fingerprint's software sections; ``sources`` has an entry per
    section (and ``files`` when a tree refused reads)."""

    probe: int
    sources: Dict[str, SourceEntry]
    os: OsSection
    python: PythonSection
    packages: List[PackageEntry]
    native: NativeSection
    env: EnvSection


# --- what the static reader shares with the probe ---------------------------------------------------------------

_IMPLEMENTATION_TAGS = {"cpython": "cp", "pypy": "pp"}
#: What a 32-bit interpreter on a 64-bit kernel runs as.
_ARCH_32 = {"x86_64": "i686", "aarch64": "armv7l"}


def wheel_tags(
    minor: str,
    soabi: str,
    machine: str,
    libc_family: str,
    libc_version: str,
    pointer_bits: int,
    implementation: str = "cpython",
    platform: str = "",
) -> WheelTags:
    """The most preferred wheel tag of an interpreter, as packaging.tags.sys_tags() lists it first.

    ``minor`` is ``3.12``; ``soabi`` the interpreter's SOABI (``cpython-312-x86_64-linux-gnu``, empty when
    unknown); ``machine`` the architecture (``x86_64``) and ``libc_family``/``libc_version`` its C library
    (``glibc``/``2.39``), which give a ``manylinux``/``musllinux`` tag; ``platform`` is the tag off Linux
    (``sysconfig.get_platform()`` normalised), empty on Linux."""
    major, _, minor_number = minor.partition(".")
    interpreter = _IMPLEMENTATION_TAGS.get(implementation, implementation) + major + minor_number
    parts = soabi.split("-")
    if implementation == "cpython":
        abi = "cp" + parts[1] if len(parts) > 1 and parts[0] == "cpython" else "cp" + major + minor_number
    else:
        abi = parts[0].replace(".", "_") if soabi else "none"
    plat = platform or linux_platform_tag(machine, pointer_bits, libc_family, libc_version)
    return {
        "interpreter_tag": interpreter,
        "abi_tag": abi,
        "platform_tag": plat,
        "best_tag": f"{interpreter}-{abi}-{plat}",
    }


def linux_platform_tag(machine: str, pointer_bits: int, libc_family: str, libc_version: str) -> str:
    """``manylinux_2_39_x86_64``, ``musllinux_1_2_aarch64``, or ``linux_ARCH`` when the C library is unknown."""
    arch = machine if pointer_bits != 32 else _ARCH_32.get(machine, machine)
    major_minor = re.match(r"(\d+)\.(\d+)", libc_version or "")
    if libc_family == "glibc" and major_minor:
        return f"manylinux_{major_minor.group(1)}_{major_minor.group(2)}_{arch}"
    if libc_family == "musl" and major_minor:
        return f"musllinux_{major_minor.group(1)}_{major_minor.group(2)}_{arch}"
    return "linux_" + arch


#: Debian's multiarch names where they are not the machine's own name with ``-linux-gnu``.
_TRIPLETS = {"i686": "i386-linux-gnu", "armv7l": "arm-linux-gnueabihf", "ppc64le": "powerpc64le-linux-gnu"}


def multiarch_triplet(machine: str) -> str:
    """Debian's multiarch folder name for a machine (``x86_64-linux-gnu``): where its system libraries live."""
    return _TRIPLETS.get(machine, machine + "-linux-gnu")


def env_section(selection: EnvSelection, timezone: TimezoneEntry) -> EnvSection:
    """The ``env`` section from the variables kept and the timezone."""
    return {
        "variables": selection["variables"],
        "redacted": selection["redacted"],
        "timezone": timezone["timezone"],
        "tzdata_version": timezone["tzdata_version"],
    }


M = TypeVar("M", bound=Mapping[str, object])


def drop_empty(entry: M, keep: Tuple[str, ...] = ()) -> M:
    """``entry`` without its empty values (but those of ``keep``): a field left out reads as its default."""
    return typing.cast(M, {k: v for k, v in entry.items() if v or k in keep})


def unavailable(e: BaseException) -> SourceEntry:
    """The source of a section whose reader raised ``e``."""
    return {"status": UNAVAILABLE, "detail": f"{type(e).__name__}: {e}"}


S = TypeVar("S")


def read_section(read: Callable[[], Tuple[S, SourceEntry]], empty: S) -> Tuple[S, SourceEntry]:
    """``read()``, a section's reader returning (value, source); when it raises, (``empty``, unavailable with
    the reason). A producer must report, not die: the caller shows why a section is missing."""
    try:
        return read()
    except Exception as e:  # any failure of one section's reader; the others still run
        return empty, unavailable(e)


# --- checking output from another process ----------------------------------------------------------------------


class ContractError(ValueError):
    """JSON that does not have the shape of ``ProbeOutput``; the message is one line naming the first key that
    is wrong."""


def check_output(data: Any) -> ProbeOutput:
    """``data`` (parsed JSON, from a process envcheck does not trust) as a ``ProbeOutput``, after checking every
    key and type against the contract: required keys present, no unknown keys, the right JSON types. Raises
    ``ContractError``."""
    _check(ProbeOutput, data, "")
    return typing.cast(ProbeOutput, data)


_JSON_TYPES = {str: "a string", int: "an integer", bool: "true or false"}


def _kind(value: Any) -> str:
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "null"
    return _JSON_TYPES.get(type(value), type(value).__name__)


def _at(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def _check(tp: Any, value: Any, where: str) -> None:
    if tp in _JSON_TYPES:
        ok = isinstance(value, tp) and (tp is bool or not isinstance(value, bool))
        if not ok:
            raise ContractError(f"{where}: expected {_JSON_TYPES[tp]}, got {_kind(value)}")
        return
    origin = typing.get_origin(tp)
    if origin is list:
        if not isinstance(value, list):
            raise ContractError(f"{where}: expected a list, got {_kind(value)}")
        (item,) = typing.get_args(tp)
        for i, v in enumerate(value):
            _check(item, v, f"{where}[{i}]")
        return
    if origin is dict:
        if not isinstance(value, dict):
            raise ContractError(f"{where}: expected an object, got {_kind(value)}")
        _, item = typing.get_args(tp)
        for k, v in value.items():
            _check(item, v, _at(where, _shown_key(k)))
        return
    _check_typed_dict(tp, value, where)


def _check_typed_dict(tp: Any, value: Any, where: str) -> None:
    if not isinstance(value, dict):
        raise ContractError("{}: expected an object, got {}".format(where or "the output", _kind(value)))
    hints = _hints(tp)
    for key in sorted(tp.__required_keys__):
        if key not in value:
            raise ContractError("{}: missing key {!r}".format(where or "the output", key))
    for key, v in value.items():
        if key not in hints:
            raise ContractError("{}: unknown key {!r}".format(where or "the output", _shown_key(key)))
        _check(hints[key], v, _at(where, key))


_HINTS = {}  # type: Dict[Any, Dict[str, Any]]


def _hints(tp: Any) -> Dict[str, Any]:
    if tp not in _HINTS:
        _HINTS[tp] = typing.get_type_hints(tp)
    return _HINTS[tp]


def _shown_key(key: str) -> str:
    """A key from untrusted JSON as a message may quote it: short, printable."""
    text = "".join(c if c.isprintable() else "?" for c in key[:40])
    return text + ("..." if len(key) > 40 else "")
