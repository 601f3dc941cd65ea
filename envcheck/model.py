"""The fingerprint: frozen dataclasses, their plain-data form, and the content digest.

A fingerprint is what ``envcheck snapshot`` records and everything else compares against. Its plain-data form
(``to_data``) is what the lockfile (TOML) and ``show --format json`` hold; ``from_data`` is strict, so that a
tampered or hand-edited lockfile fails with the key that is wrong rather than with a traceback later.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Mapping, Optional, Tuple, TypeVar

from envcheck.errors import EnvcheckError

SCHEMA_VERSION = 1

#: Section statuses recorded in ``sources``.
OK = "ok"
UNAVAILABLE = "unavailable"
NOT_INSPECTED = "not inspected"
NONE_FOUND = "none found"
STATUSES = (OK, UNAVAILABLE, NOT_INSPECTED, NONE_FOUND)

SECTIONS = ("os", "python", "packages", "native", "cpu", "memory", "gpu", "env", "models")


class FingerprintDataError(EnvcheckError, ValueError):
    """Plain data does not describe a fingerprint (wrong type, unknown or missing key)."""


@dataclass(frozen=True)
class Source:
    """Where one section came from, and whether it could be read."""

    status: str = OK
    """One of ``STATUSES``."""
    detail: str = ""
    """How the section was read (``"NVML"``, ``"/proc/cpuinfo"``) or, when not ok, why not."""


@dataclass(frozen=True)
class OsInfo:
    system: str = ""
    release: str = ""
    """Kernel release (``uname -r``)."""
    machine: str = ""
    """Machine architecture as ``uname -m`` prints it."""
    distro_id: str = ""
    distro_version_id: str = ""
    distro_name: str = ""
    libc_family: str = ""
    """``glibc``, ``musl`` or empty when neither was found."""
    libc_version: str = ""
    page_size: Optional[int] = None
    container: str = ""
    """``docker``, ``podman``, ``kubernetes``, ``container`` (some other) or empty when not in a container."""


@dataclass(frozen=True)
class PythonInfo:
    implementation: str = ""
    version: str = ""
    """Full version, ``3.12.3``."""
    build: str = ""
    """``platform.python_build()`` joined: build number and date."""
    compiler: str = ""
    abiflags: str = ""
    soabi: str = ""
    cache_tag: str = ""
    pointer_bits: int = 0
    byteorder: str = ""
    free_threaded: bool = False
    executable: str = ""
    prefix: str = ""
    base_prefix: str = ""
    in_venv: bool = False
    interpreter_tag: str = ""
    """Wheel interpreter tag, ``cp312``."""
    abi_tag: str = ""
    """Most specific wheel ABI tag, ``cp312`` or ``cp313t``."""
    platform_tag: str = ""
    """Most specific wheel platform tag, ``manylinux_2_39_x86_64`` or ``musllinux_1_2_aarch64``."""
    best_tag: str = ""
    """The interpreter's most preferred wheel tag, ``cp312-cp312-manylinux_2_39_x86_64``."""
    markers: Dict[str, str] = field(default_factory=dict)
    """The PEP 508 marker environment, as ``pip inspect`` reports it."""


@dataclass(frozen=True)
class DirectUrl:
    """A distribution's direct_url.json (PEP 610), credentials stripped."""

    url: str = ""
    kind: str = ""
    """``editable``, ``dir``, ``vcs`` or ``archive``."""
    vcs: str = ""
    commit_id: str = ""
    requested_revision: str = ""
    archive_hash: str = ""


@dataclass(frozen=True)
class Package:
    name: str
    """Canonical name (PEP 503)."""
    version: str
    """Verbatim, local label kept: ``2.4.0+cu121``."""
    installer: str = ""
    wheel_tags: Tuple[str, ...] = ()
    requested: bool = False
    """A REQUESTED file is present: the user asked for it directly."""
    direct_url: Optional[DirectUrl] = None
    record_digest: str = ""
    """``sha256:`` of the RECORD file normalised to what the wheel decides (``probe.record_digest``): the same
    wheel installed anywhere, by any installer, gives the same digest. Empty when there is no RECORD."""
    requires: Tuple[str, ...] = ()
    """Requires-Dist, verbatim."""
    shadowed: Tuple[str, ...] = ()
    """Versions of other installations of this name later on the path, which this one hides."""
    tool: bool = False
    """Present only because envcheck itself is installed: envcheck and the part of its requirement closure that
    no other installed distribution requires and the user did not ask for (``envcheck.footprint``). Never
    reported missing: a serving environment without envcheck lacks them, and the model never used them."""
    metadata_format: str = "dist-info"
    """``dist-info`` or ``egg-info``."""
    editable_digest: str = ""
    """For an editable install (direct_url ``dir_info.editable``): ``sha256:`` over the project folder's files,
    bounded (``probe.editable_digest``), since no version pins that code. Empty otherwise."""
    locations: Tuple[str, ...] = ()
    """Only for a distribution that hides others (``shadowed``): the folder it was found in, then the folders of
    the copies it hides, in path order."""
    modules: Tuple[str, ...] = ()
    """The top-level modules it installs (top_level.txt, else its RECORD), as
    ``importlib.metadata.packages_distributions`` maps them: what ties a module a model file names to the
    distribution that provides it."""


@dataclass(frozen=True)
class NativeLib:
    """A BLAS/LAPACK, OpenMP or CUDA library, shipped by the environment or loaded in a process."""

    kind: str
    """``blas``, ``lapack``, ``openmp``, ``cudart``, ``cudnn``, ``nccl``, ``cublas``, ``cuda-driver``."""
    vendor: str
    """``openblas``, ``mkl``, ``blis``, ``reference``, ``gnu`` (libgomp), ``intel`` (libiomp), ``llvm``,
    ``nvidia``."""
    path: str
    """Relative to its site-packages folder when a package ships it, else absolute."""
    package: str = ""
    """The distribution that ships it, empty for a system library."""
    version: str = ""
    architecture: str = ""
    """Kernel set the library chose (OpenBLAS core name), when known."""


@dataclass(frozen=True)
class PackageBuild:
    """How an installed package's native code was built, as its own files state it (read as data, never
    imported or loaded)."""

    package: str
    source: str
    """The file it was read from, relative to the package's site-packages folder."""
    cuda: str = ""
    """The CUDA version the package was compiled with (``torch/version.py``); empty for a build without CUDA."""
    simd_baseline: Tuple[str, ...] = ()
    """SIMD features every code path assumes, in the package's own names (numpy's ``X86_V2``, ``SSE3``,
    ``ASIMD``): a CPU without one of them cannot import the package."""
    simd_dispatch: Tuple[str, ...] = ()
    """SIMD features the package carries extra kernels for, chosen at run time when the CPU has them."""


@dataclass(frozen=True)
class NativeInfo:
    shipped: Tuple[NativeLib, ...] = ()
    loaded: Tuple[NativeLib, ...] = ()
    """Only when the snapshot ran inside the inspected process (Python API) or read its /proc/PID/maps."""
    builds: Tuple[PackageBuild, ...] = ()
    """What numpy's and torch's own files say about their builds (SIMD baseline and dispatch, CUDA version)."""


@dataclass(frozen=True)
class CpuInfo:
    architecture: str = ""
    vendor: str = ""
    model_name: str = ""
    family: Optional[int] = None
    model: Optional[int] = None
    stepping: Optional[int] = None
    flags: Tuple[str, ...] = ()
    """Sorted instruction-set flags (/proc/cpuinfo ``flags`` or ``Features``)."""
    isa_level: str = ""
    """``x86-64-v1`` .. ``x86-64-v4``, or on aarch64 ``armv8.0-a`` .. ``armv9.0-a`` (``envcheck.isa``); empty on
    other architectures or when not even the first level's flags are present."""
    logical_cpus: int = 0
    physical_cores: int = 0
    affinity: str = ""
    """CPUs this process may use, as a list (``0-15``)."""
    affinity_count: int = 0
    cgroup_version: str = ""
    """``v1``, ``v2`` or empty when no cgroup was found."""
    cpu_quota_millicores: Optional[int] = None
    """cgroup CPU quota in thousandths of a CPU; None when unlimited."""


@dataclass(frozen=True)
class MemoryInfo:
    total_bytes: int = 0
    cgroup_limit_bytes: Optional[int] = None
    """None when unlimited."""


@dataclass(frozen=True)
class GpuDevice:
    index: int
    name: str
    architecture: str = ""
    compute_capability: str = ""
    """``9.0``."""
    memory_total_bytes: int = 0
    mig_mode: str = ""
    ecc: str = ""
    persistence: str = ""


@dataclass(frozen=True)
class CudaComponent:
    """A CUDA library version the installed packages ship (read from metadata, nothing imported)."""

    component: str
    """``cuda-runtime``, ``cudnn``, ``nccl``, ``cublas``."""
    version: str
    package: str
    """The distribution it was read from (``torch`` for a ``+cu130`` local version)."""


@dataclass(frozen=True)
class TorchRuntime:
    """What an already-imported torch says about itself (Python API inside the process only; nothing imported)."""

    version: str = ""
    cuda: str = ""
    cudnn: str = ""
    arch_list: Tuple[str, ...] = ()
    """``torch.cuda.get_arch_list()``: the GPU architectures the build carries kernels for (``sm_90``...)."""
    allow_tf32_matmul: Optional[bool] = None
    allow_tf32_cudnn: Optional[bool] = None
    float32_matmul_precision: str = ""


@dataclass(frozen=True)
class GpuInfo:
    driver_version: str = ""
    cuda_driver_version: str = ""
    """The highest CUDA version the driver supports, ``13.0``."""
    devices: Tuple[GpuDevice, ...] = ()
    cuda_shipped: Tuple[CudaComponent, ...] = ()
    torch: Optional[TorchRuntime] = None
    """Only when the snapshot ran inside a process that had imported torch."""


@dataclass(frozen=True)
class EnvInfo:
    variables: Dict[str, str] = field(default_factory=dict)
    """Allow-listed variables that are set, with their values."""
    redacted: Tuple[str, ...] = ()
    """Names that were asked for but look like secrets: present, value never written."""
    timezone: str = ""
    tzdata_version: str = ""


@dataclass(frozen=True)
class ModelWriter:
    """The library that wrote a model file, as the file itself says (scikit-learn's ``_sklearn_version`` in a
    pickle, xgboost's ``version``, an ONNX producer)."""

    package: str
    """Canonical distribution name (``scikit-learn``)."""
    version: str


@dataclass(frozen=True)
class ModelFile:
    path: str
    """As given, or relative to the directory given."""
    size: int
    sha256: str
    format: str = ""
    """What the file was read as (``pickle``, ``joblib``, ``torch``, ``onnx``...; ``envcheck.modelfiles``);
    empty when it was not read (a lockfile older than that reader)."""
    references: Tuple[str, ...] = ()
    """``module:qualname`` of each global a pickle stream names (never unpickled), sorted, bounded."""
    modules: Tuple[str, ...] = ()
    """The top-level modules of ``references``: what ties the file to the distributions that provide them."""
    written_by: Optional[ModelWriter] = None
    format_versions: Dict[str, str] = field(default_factory=dict)
    """Versions the format carries (``ir_version``, ``opset``, LightGBM's ``version``...)."""
    notes: Tuple[str, ...] = ()
    """What could not be read, and why (a cap reached, a truncated stream)."""


@dataclass(frozen=True)
class NumericsKernel:
    """One kernel of the numerics battery (``envcheck.numerics``) as it came out: enough to tell "bitwise equal"
    from "within N ULP" from "different, by this much" without the result itself."""

    name: str
    """What was computed, on which dtype and size (``numpy.matmul f32 257x257``)."""
    dtype: str = ""
    shape: Tuple[int, ...] = ()
    digest: str = ""
    """The first 16 hex digits of the sha256 of the result's bytes (C order)."""
    total: str = ""
    """The sum of the result, as a float's ``repr`` (exact; TOML floats are not used in the lockfile)."""
    max_abs: str = ""
    """The largest magnitude in the result, as a float's ``repr``."""
    sample: Tuple[str, ...] = ()
    """Up to 12 values at fixed, evenly spaced positions of the flattened result, as ``repr`` strings."""
    error: str = ""
    """``Type: message`` when the kernel raised; the other fields are then empty."""


@dataclass(frozen=True)
class OpenBlasRuntime:
    """An OpenBLAS the battery's child had loaded, as the library itself says (``openblas_get_corename``...)."""

    path: str
    """The library's file name."""
    core: str = ""
    """The kernel set it chose at run time (``SkylakeX``, ``Haswell``): ``OPENBLAS_CORETYPE`` or the CPU."""
    config: str = ""
    threads: str = ""


@dataclass(frozen=True)
class NumericsInfo:
    """What the opt-in numerics battery (``snapshot --numerics``) computed in the target's interpreter."""

    battery: int = 1
    """The battery's version: kernels are compared by name, so a newer battery still reads an older one."""
    python: str = ""
    versions: Dict[str, str] = field(default_factory=dict)
    """Versions of the libraries the battery ran (``numpy``, ``scipy``, ``torch``)."""
    openblas: Tuple[OpenBlasRuntime, ...] = ()
    kernels: Tuple[NumericsKernel, ...] = ()
    elapsed_ms: int = 0
    """How long the kernels took in the child (interpreter start and imports of numpy not included)."""
    how: str = ""
    """How the child ran (interpreter, network, limits)."""


@dataclass(frozen=True)
class GoldenFile:
    """One golden case (``envcheck.golden``) the lockfile is bound to: the file beside it, by digest and size."""

    name: str
    file: str
    """Relative to the lockfile's folder (``envcheck.golden/NAME.json``)."""
    sha256: str
    size: int


@dataclass(frozen=True)
class GoldenInfo:
    """The golden cases recorded with ``snapshot --golden`` (replayed by ``envcheck canary``)."""

    cases: Tuple[GoldenFile, ...] = ()


@dataclass(frozen=True)
class Meta:
    schema: int = SCHEMA_VERSION
    tool: str = ""
    created: str = ""
    """UTC, ISO 8601, seconds precision."""
    target: str = "local"
    """How the environment was read: ``local``, ``python:PATH``..."""
    model_paths: Optional[str] = None
    """What relative ``models`` paths are relative to: ``lockfile`` (its folder), or None, not written (the
    working directory of the snapshot, as older lockfiles and ``snapshot -o -`` record them)."""
    digest: str = ""
    """``sha256:`` over the canonical form of everything else."""


@dataclass(frozen=True)
class Fingerprint:
    meta: Meta = field(default_factory=Meta)
    sources: Dict[str, Source] = field(default_factory=dict)
    os: OsInfo = field(default_factory=OsInfo)
    python: PythonInfo = field(default_factory=PythonInfo)
    packages: Tuple[Package, ...] = ()
    native: NativeInfo = field(default_factory=NativeInfo)
    cpu: CpuInfo = field(default_factory=CpuInfo)
    memory: MemoryInfo = field(default_factory=MemoryInfo)
    gpu: GpuInfo = field(default_factory=GpuInfo)
    env: EnvInfo = field(default_factory=EnvInfo)
    models: Tuple[ModelFile, ...] = ()
    numerics: Optional[NumericsInfo] = None
    """Only with ``snapshot --numerics`` (None: not run; left out of the lockfile, so older ones still read)."""
    golden: Optional[GoldenInfo] = None
    """Only with ``snapshot --golden`` (None: none recorded; left out of the lockfile, so older ones read)."""

    def source(self, section: str) -> Source:
        return self.sources.get(section, Source(UNAVAILABLE, "not recorded"))

    def package(self, name: str) -> Optional[Package]:
        for pkg in self.packages:
            if pkg.name == name:
                return pkg
        return None


# --- plain data -------------------------------------------------------------------------------------------------

T = TypeVar("T")

#: A field without a default (``_defaults``).
_REQUIRED: Any = object()
#: Per dataclass: (field name, default) in field order; a factory's default is made once, here.
_DEFAULTS: Dict[type, Tuple[Tuple[str, Any], ...]] = {}
#: Values ``to_data`` returns as they are.
_PLAIN = frozenset((str, int, bool, float))


def _defaults(cls: type) -> Optional[Tuple[Tuple[str, Any], ...]]:
    """The field table of a dataclass type, None for any other type (a dataclass *class* included)."""
    table = _DEFAULTS.get(cls)
    if table is None and dataclasses.is_dataclass(cls):
        table = _DEFAULTS[cls] = tuple(
            (
                f.name,
                f.default
                if f.default is not dataclasses.MISSING
                else f.default_factory()
                if f.default_factory is not dataclasses.MISSING
                else _REQUIRED,
            )
            for f in dataclasses.fields(cls)
        )
    return table


def to_data(obj: Any, *, omit_defaults: bool = False, compact_lists: bool = False) -> Any:
    """Turn a dataclass tree into dicts, lists, str, int and bool.

    ``None`` is always left out (TOML has no null). With ``omit_defaults`` a field equal to its default is left
    out too; with ``compact_lists`` only the items of lists are written so, which keeps a lockfile of hundreds of
    packages short while its singular sections show every field. ``from_data`` restores what was left out.
    """
    return _to_data(obj, omit_defaults, compact_lists)


def _to_data(obj: Any, omit: bool, compact: bool) -> Any:
    cls = type(obj)
    if cls in _PLAIN:
        return obj
    table = _defaults(cls)
    if table is not None:
        out: Dict[str, Any] = {}
        for name, default in table:
            value = getattr(obj, name)
            if value is None or (omit and default is not _REQUIRED and value == default):
                continue
            out[name] = value if type(value) in _PLAIN else _to_data(value, omit, compact)
        return out
    if isinstance(obj, tuple):
        omit = omit or compact
        return [v if type(v) in _PLAIN else _to_data(v, omit, compact) for v in obj]
    if isinstance(obj, dict):
        return {k: _to_data(obj[k], omit, compact) for k in sorted(obj)}
    return obj


def from_data(cls: type[T], data: Any, where: str = "") -> T:
    """Build ``cls`` from plain data, refusing unknown keys, missing required keys and wrong types."""
    try:
        return typing.cast(T, _plan(cls)(data))
    except _Unchecked:  # the checked conversion says what is wrong (or takes what the quick one did not)
        return typing.cast(T, _convert(cls, data, where or cls.__name__))


# Per dataclass: (field name, type, required) in field order. Computed once: get_type_hints is slow.
_FIELDS: Dict[type, Tuple[Tuple[str, Any, bool], ...]] = {}


def _fields(cls: type) -> Tuple[Tuple[str, Any, bool], ...]:
    if cls not in _FIELDS:
        hints = typing.get_type_hints(cls)
        _FIELDS[cls] = tuple(
            (f.name, hints[f.name], f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING)
            for f in dataclasses.fields(cls)
        )
    return _FIELDS[cls]


def _convert(tp: Any, data: Any, where: str) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is typing.Union:
        (inner,) = [a for a in args if a is not type(None)]
        return None if data is None else _convert(inner, data, where)
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        if not isinstance(data, Mapping):
            raise FingerprintDataError(f"{where}: expected a table, got {type(data).__name__}")
        fields = _fields(tp)
        kwargs = {}
        for name, hint, required in fields:
            if name in data:
                kwargs[name] = _convert(hint, data[name], f"{where}.{name}")
            elif required:
                raise FingerprintDataError(f"{where}: missing key {name!r}")
        if len(kwargs) != len(data):
            unknown = sorted(set(data) - {name for name, _, _ in fields})
            raise FingerprintDataError(f"{where}: unknown key {unknown[0]!r}")
        return tp(**kwargs)
    if origin is tuple:
        if not isinstance(data, (list, tuple)):
            raise FingerprintDataError(f"{where}: expected a list, got {type(data).__name__}")
        return tuple(_convert(args[0], item, f"{where}[{i}]") for i, item in enumerate(data))
    if origin in (dict, Dict):
        if not isinstance(data, Mapping):
            raise FingerprintDataError(f"{where}: expected a table, got {type(data).__name__}")
        return {str(k): _convert(args[1], v, f"{where}.{k}") for k, v in data.items()}
    if tp is bool:
        if not isinstance(data, bool):
            raise FingerprintDataError(f"{where}: expected true or false, got {data!r}")
        return data
    if tp is int:
        if isinstance(data, bool) or not isinstance(data, int):
            raise FingerprintDataError(f"{where}: expected an integer, got {data!r}")
        return data
    if tp is str:
        if not isinstance(data, str):
            raise FingerprintDataError(f"{where}: expected a string, got {data!r}")
        return data
    raise TypeError(f"unsupported type {tp!r} at {where}")  # a bug in the model, not bad input


# --- the quick conversion: a plan per type, made once; anything unexpected goes to ``_convert`` ------------------


class _Unchecked(Exception):
    """Data the quick conversion does not take as it is: ``_convert`` decides, and words the error."""


_Plan = Callable[[Any], Any]
_PLANS: Dict[Any, _Plan] = {}


def _plan(tp: Any) -> _Plan:
    plan = _PLANS.get(tp)
    if plan is None:
        plan = _PLANS[tp] = _make_plan(tp)
    return plan


def _make_plan(tp: Any) -> _Plan:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is typing.Union:
        (inner,) = [a for a in args if a is not type(None)]
        return _optional_plan(_plan(inner))
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return _dataclass_plan(tp)
    if origin is tuple:
        return _tuple_plan(args[0])
    if origin in (dict, Dict):
        return _dict_plan(args[1])
    if tp in (str, int, bool):
        return _scalar_plan(tp)
    return _unchecked


def _unchecked(data: Any) -> Any:
    raise _Unchecked


def _scalar_plan(tp: type) -> _Plan:
    def convert(data: Any) -> Any:
        if type(data) is not tp:  # bool is not int here; an int subclass goes the checked way
            raise _Unchecked
        return data

    return convert


def _optional_plan(inner: _Plan) -> _Plan:
    return lambda data: None if data is None else inner(data)


def _dataclass_plan(cls: type) -> _Plan:
    # Made whole before it is registered (the model holds no type inside itself), so that a thread that finds it
    # in _PLANS never finds it half made.
    steps = tuple(
        (name, hint if hint in (str, int, bool) else None, _plan(hint), required)
        for name, hint, required in _fields(cls)
    )

    def convert(data: Any) -> Any:
        if type(data) is not dict:
            raise _Unchecked
        kwargs = {}
        for name, scalar, plan, required in steps:
            if name in data:
                value = data[name]
                if scalar is None:
                    kwargs[name] = plan(value)
                elif type(value) is scalar:
                    kwargs[name] = value
                else:
                    raise _Unchecked
            elif required:
                raise _Unchecked
        if len(kwargs) != len(data):
            raise _Unchecked
        return cls(**kwargs)

    return convert


def _tuple_plan(item: Any) -> _Plan:
    if item in (str, int, bool):

        def scalars(data: Any) -> Any:
            if type(data) is not list and type(data) is not tuple:
                raise _Unchecked
            for value in data:
                if type(value) is not item:
                    raise _Unchecked
            return tuple(data)

        return scalars
    plan = _plan(item)

    def convert(data: Any) -> Any:
        if type(data) is not list and type(data) is not tuple:
            raise _Unchecked
        return tuple(map(plan, data))

    return convert


def _dict_plan(value_type: Any) -> _Plan:
    plan = _plan(value_type)

    def convert(data: Any) -> Any:
        if type(data) is not dict:
            raise _Unchecked
        out = {}
        for key, value in data.items():
            if type(key) is not str:
                raise _Unchecked
            out[key] = plan(value)
        return out

    return convert


# --- digest -----------------------------------------------------------------------------------------------------


def canonical_bytes(fp: Fingerprint) -> bytes:
    """The canonical form the digest covers: everything but the digest itself, as sorted compact JSON."""
    import json  # here, not at import: most commands that import the model never digest one

    data = to_data(dataclasses.replace(fp, meta=dataclasses.replace(fp.meta, digest="")), omit_defaults=True)
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def compute_digest(fp: Fingerprint) -> str:
    import hashlib

    return "sha256:" + hashlib.sha256(canonical_bytes(fp)).hexdigest()


def with_digest(fp: Fingerprint) -> Fingerprint:
    return dataclasses.replace(fp, meta=dataclasses.replace(fp.meta, digest=compute_digest(fp)))
